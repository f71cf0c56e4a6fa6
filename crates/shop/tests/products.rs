//! `/v1/products`, `/v1/categories`, `/v1/admin/products` and `/v1/admin/uploads`: the catalog
//! lists (filter, search, paginate) and product images (whose test begins with a check of
//! `/v1/auth/refresh`); on the database named by `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{TestApp, assert_error};
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
