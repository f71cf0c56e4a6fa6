//! `/v1/products`, `/v1/categories`, `/v1/admin/products` and `/v1/admin/uploads`: the catalog
//! lists (filter, search, paginate) and product images (whose test begins with a check of
//! `/v1/auth/refresh`); on the database named by `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn catalog_lists_filter_search_and_paginate() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let rice = app.category(&admin, "大米", 1).await;
    let grain = app.category(&admin, "杂粮", 2).await;
    for (name, cat) in [
        ("五常大米 5kg", &rice),
        ("东北珍珠米 5kg", &rice),
        ("黑龙江小米 2.5kg", &grain),
    ] {
        let body = json!({"name": name, "price_fen": 1000, "stock": 1, "category_id": cat["id"]});
        let (s, _) = app.create_product(&admin, body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    app.create_product(
        &admin,
        json!({"name": "下架大米", "price_fen": 1000, "on_shelf": false}),
    )
    .await;
    let (_, v) = app.get("/v1/products?page_size=2", None).await;
    assert_eq!(
        (v["total"].as_i64(), v["items"].as_array().unwrap().len()),
        (Some(3), 2)
    );
    let (_, v) = app.get("/v1/products?page_size=2&page=2", None).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = app
        .get(&format!("/v1/products?category_id={}", rice["id"]), None)
        .await;
    assert_eq!(v["total"], 2);
    let (_, v) = app
        .get(&format!("/v1/products?q={}", "%E4%BA%94%E5%B8%B8"), None)
        .await; // 五常
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["name"], "五常大米 5kg");
    let (_, v) = app.get("/v1/products?q=%25", None).await;
    assert_eq!(v["total"], 0, "LIKE wildcards in keywords are literal");
    let (_, v) = app.get("/v1/admin/products", Some(&admin)).await;
    assert_eq!(v["total"], 4);
    let (_, v) = app.get("/v1/categories", None).await;
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn refresh_tokens_and_image_uploads() {
    let app = TestApp::new().await;
    let (_, login) = app.wechat_login("carol").await;
    let (s, fresh) = app.refresh(&login["refresh_token"]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.cart(fresh["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app.refresh(&login["access_token"]).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token")),
        "an access token is not a refresh token"
    );

    let admin = app.admin_token().await;
    let png: Vec<u8> = [
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..],
        b"not really a picture, but a PNG by its magic",
    ]
    .concat();
    let multipart = |bytes: &[u8]| {
        let mut body = b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rice.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n--XYZ--\r\n");
        http::Request::builder()
            .method(Method::POST)
            .uri("/v1/admin/uploads")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "multipart/form-data; boundary=XYZ")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let (s, v) = app.send(multipart(&png)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.ends_with(".png") && url.contains("/uploads/"));
    let (_, again) = app.send(multipart(&png)).await;
    assert_eq!(again["url"], url.as_str(), "content-addressed");
    let path = &url[url.find("/uploads/").unwrap()..];
    let (s, _, bytes) = app.get_bytes(path, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bytes, png);
    assert_error(
        app.send(multipart(b"#!/bin/sh\necho not an image")).await,
        StatusCode::BAD_REQUEST,
        "unsupported_image",
    );
    let (s, _) = app
        .create_product(
            &admin,
            json!({"name": "带图大米", "price_fen": 100, "images": [url]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

/// A stock receipt retried with the same `Idempotency-Key` moves stock once and answers the
/// first answer; the same key with another body is refused; without a key, each request moves.
#[tokio::test]
async fn stock_adjustments_honour_idempotency_keys() {
    let app = TestApp::new().await;
    let Seeded { admin, p, .. } = app.seed(100, 10).await;
    let path = format!("/v1/admin/products/{p}/stock");
    let adjust = |body: serde_json::Value, key: Option<&'static str>| {
        let (app, admin, path) = (&app, admin.clone(), path.clone());
        async move {
            let headers: Vec<(&str, &str)> =
                key.map(|k| ("idempotency-key", k)).into_iter().collect();
            app.call_with(Method::POST, &path, Some(&admin), Some(body), &headers)
                .await
        }
    };
    let (s1, first) = adjust(json!({"delta": 5}), Some("receipt-1")).await;
    assert_eq!(s1, StatusCode::OK, "{first}");
    assert_eq!(first["on_hand"], 15);
    let (s2, again) = adjust(json!({"delta": 5}), Some("receipt-1")).await;
    assert_eq!(
        (s2, &again),
        (StatusCode::OK, &first),
        "a repeat answers the first answer"
    );
    let (s3, other) = adjust(json!({"delta": 7}), Some("receipt-1")).await;
    assert_eq!(
        (s3, other["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    let (_, now) = app
        .get("/v1/admin/products?page_size=100", Some(&admin))
        .await;
    let on_hand = now["items"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == p))
        .map(|x| x["on_hand"].clone());
    assert_eq!(on_hand, Some(json!(15)), "moved once");
    for _ in 0..2 {
        assert_eq!(adjust(json!({"delta": 1}), None).await.0, StatusCode::OK);
    }
    let (_, last) = adjust(json!({"delta": 1}), Some("receipt-2")).await;
    assert_eq!(
        last["on_hand"], 18,
        "requests without a key each move stock"
    );
    let audits = app
        .get(
            "/v1/admin/audit-logs?action=product.stock_adjust",
            Some(&admin),
        )
        .await
        .1;
    assert_eq!(audits.as_array().map(Vec::len), Some(4), "{audits}");
}
