//! Bad input on every kind of route (body, query, path, headers, both logins): a 4xx with a
//! stable code, and nothing changed; on the database named by `SUANPAN_TEST_DATABASE_URL`
//! (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error, items};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_stable_code_and_changes_nothing() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(100, 3).await;
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut b = http::Request::builder()
            .method(Method::POST)
            .uri("/v1/orders")
            .header("authorization", format!("Bearer {alice}"));
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(axum::body::Body::from(body)).unwrap()
    };
    let cases: Vec<(http::Request<axum::body::Body>, StatusCode, &str)> = vec![
        (raw("{\"items\": [", Some("application/json")), StatusCode::BAD_REQUEST, "invalid_json"),
        (raw("{\"items\": \"x\"}", Some("application/json")), StatusCode::BAD_REQUEST, "invalid_body"),
        (raw("{\"items\": [{\"product_id\": 1.5, \"quantity\": 1}]}", Some("application/json")), StatusCode::BAD_REQUEST, "invalid_body"),
        (raw("{\"items\": [{\"product_id\": 1, \"quantity\": 99999999999999999999}]}", Some("application/json")), StatusCode::BAD_REQUEST, "invalid_body"),
        (raw("{}", None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (raw("{}", Some("application/json")), StatusCode::BAD_REQUEST, "empty_order"),
        (raw(Box::leak(format!("{{\"items\": [{{\"product_id\": 1, \"quantity\": 1}}], \"remark\": \"{}\"}}", "x".repeat(70_000)).into_boxed_str()), Some("application/json")), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (req, status, code) in cases {
        assert_error(app.send(req).await, status, code);
    }
    for (body, status, code) in [
        (items(p, 0), StatusCode::BAD_REQUEST, "invalid_quantity"),
        (items(p, -1), StatusCode::BAD_REQUEST, "invalid_quantity"),
        (items(999999, 1), StatusCode::NOT_FOUND, "product_not_found"),
        (items(-5, 1), StatusCode::NOT_FOUND, "product_not_found"),
        (items(p, 4), StatusCode::CONFLICT, "insufficient_stock"),
    ] {
        assert_error(app.place_order(&alice, body, None).await, status, code);
    }
    let forged = format!("{}x", alice);
    for (method, path, token, status, code) in [
        (
            Method::GET,
            "/v1/orders",
            None,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            Method::GET,
            "/v1/orders",
            Some(forged.as_str()),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            Method::GET,
            "/v1/admin/orders",
            Some(alice.as_str()),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            Method::GET,
            "/v1/orders/abc",
            Some(alice.as_str()),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::GET,
            "/v1/products?page=0",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_page",
        ),
        (
            Method::GET,
            "/v1/products?page=x",
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::DELETE,
            "/v1/products",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/nowhere",
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let (s, v) = app.call(method, path, token, None).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{path}: {v}");
    }
    for (wechat_code, code) in [
        ("", "invalid_code"),
        ("invalid-code", "wechat_code_invalid"),
    ] {
        let (s, v) = app.wechat_login(wechat_code).await;
        assert!(s.is_client_error());
        assert_eq!(v["code"], code);
    }
    assert_error(
        app.admin_login("root", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    for body in [
        json!({"name": "", "price_fen": 1}),
        json!({"name": "x", "price_fen": 0}),
        json!({"name": "x", "price_fen": 1, "stock": -1}),
    ] {
        let (s, _) = app.create_product(&admin, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    // Nothing above changed anything.
    assert_eq!(app.stock(p).await, (3, 3, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE id > ?", 0)
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM products WHERE id > ?", 0)
            .await,
        1
    );
}

#[tokio::test]
async fn nul_characters_in_any_string_are_invalid_string() {
    // PostgreSQL TEXT cannot store U+0000; every database answers the same 400.
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let alice = app.shopper("alice").await;
    let bad = |answer| assert_error(answer, StatusCode::BAD_REQUEST, "invalid_string");
    // Query.
    bad(app.get("/v1/products?q=%00", None).await);
    bad(app.get("/v1/products?q=rice%00x", None).await);
    bad(app.get("/v1/admin/orders?order_no=%00", Some(&admin)).await);
    // Path.
    bad(app.get("/v1/products/1%00", None).await);
    // JSON bodies, including both logins.
    bad(app.admin_login("ro\u{0}ot", "x").await);
    bad(app.wechat_login("\u{0}").await);
    bad(app.add_address(&alice, "张\u{0}三").await);
    // An escaped backslash followed by `u0000` is ordinary text, not a NUL.
    let (s, v) = app.admin_login("\\u0000", "x").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (_, v) = app.get("/v1/addresses", Some(&alice)).await;
    assert_eq!(v, json!([]));
}
