//! End-to-end behaviour of the shop through its HTTP API, on the database named by
//! `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{TestApp, now};
use http::{Method, StatusCode};
use serde_json::json;
use suanpan_shop::jobs;

#[tokio::test]
async fn order_pay_ship_complete_flow() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 5990, 10).await;
    let (s, v) = app
        .call(Method::GET, &format!("/v1/products/{p}"), None, None)
        .await;
    assert_eq!(
        (s, v["stock"].as_i64(), v["price_fen"].as_i64()),
        (StatusCode::OK, Some(10), Some(5990))
    );

    let alice = app.shopper("alice").await;
    let o = app.order(&alice, p, 2).await;
    let id = o["id"].as_i64().unwrap();
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["total_fen"], 11980);
    assert_eq!(app.stock(p).await, (8, 10, 2));

    let otn = app.prepay(&alice, id).await;
    assert_eq!(otn, o["order_no"].as_str().unwrap());
    // A second pay call reuses the prepay.
    assert_eq!(app.prepay(&alice, id).await, otn);
    // The payer pays at the simulator, which posts a signed, encrypted notification to our server.
    let (t, url) = app.sim.mark_paid(&otn).expect("prepay exists");
    assert!(url.ends_with("/v1/payments/wechat/notify"));
    assert_eq!(
        app.sim
            .deliver(&url, app.sim.transaction_notification(&t))
            .await,
        Ok(204)
    );
    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(v["status"], "paid");
    assert_eq!(v["paid_fen"], 11980);
    assert_eq!(app.stock(p).await, (8, 8, 0));
    assert_eq!(app.events("Order.Created", id).await, 1);
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);

    // Other shoppers cannot see it.
    let bob = app.shopper("bob").await;
    let (s, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&bob), None)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("order_not_found"))
    );

    // Completing before shipping is illegal.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/confirm"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/admin/orders/{id}/ship"),
            Some(&admin),
            Some(json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890"})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("shipped")));
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/confirm"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    // A paid order cannot be cancelled.
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
}

#[tokio::test]
async fn cancel_releases_stock_exactly_once() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 3).await["id"].as_i64().unwrap();
    app.prepay(&alice, id).await;
    assert_eq!(app.stock(p).await, (2, 5, 3));
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str(), v["cancel_reason"].as_str()),
        (StatusCode::OK, Some("cancelled"), Some("shopper"))
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
    for _ in 0..3 {
        let (s, v) = app
            .call(
                Method::POST,
                &format!("/v1/orders/{id}/cancel"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("illegal_transition"))
        );
    }
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/admin/orders/{id}/cancel"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
    assert_eq!(app.events("Order.Cancelled", id).await, 1);
    // The cancel closed the WeChat Pay order: paying it now is impossible.
    assert!(
        app.sim
            .mark_paid(
                app.call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
                    .await
                    .1["order_no"]
                    .as_str()
                    .unwrap()
            )
            .is_none()
    );
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/pay"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
}

#[tokio::test]
async fn unpaid_orders_time_out_and_release_stock() {
    let app = TestApp::with(|_, c| c.order_payment_timeout_secs = 0).await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 2).await["id"].as_i64().unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/pay"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("order_expired"))
    );
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 1);
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 0);
    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(
        (v["status"].as_str(), v["cancel_reason"].as_str()),
        (Some("cancelled"), Some("timeout"))
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
}

#[tokio::test]
async fn timeout_job_applies_a_payment_it_finds_instead_of_cancelling() {
    let app = TestApp::with(|_, c| c.order_payment_timeout_secs = 9).await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 1).await["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap(); // paid, but the notification is lost
    tokio::time::sleep(std::time::Duration::from_millis(9100)).await;
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 0);
    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.stock(p).await, (4, 4, 0));
}

#[tokio::test]
async fn cancelling_an_order_paid_at_wechat_applies_the_payment() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 1).await["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap();
    let (s, v) = app
        .call(
            Method::POST,
            &format!("/v1/orders/{id}/cancel"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.stock(p).await, (4, 4, 0));
}

#[tokio::test]
async fn late_payment_on_cancelled_order_is_recorded_and_refunded() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 2500, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 2).await["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    // WeChat Pay unreachable when the order is cancelled: the close call cannot be made.
    let offline = suanpan_shop::ShopState {
        pay: None,
        ..app.state.clone()
    };
    suanpan_shop::service::cancel_order(
        &offline,
        id,
        None,
        &suanpan_core::audit::Actor::system("order-timeout"),
        "timeout",
    )
    .await
    .unwrap();
    assert_eq!(app.stock(p).await, (5, 5, 0));
    // The shopper pays anyway; WeChat Pay notifies.
    let (t, url) = app.sim.mark_paid(&otn).unwrap();
    assert_eq!(
        app.sim
            .deliver(&url, app.sim.transaction_notification(&t))
            .await,
        Ok(204)
    );
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/v1/admin/orders/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        v["status"], "cancelled",
        "a late payment never revives a cancelled order"
    );
    assert_eq!(v["paid_fen"], 5000);
    assert_eq!(v["payment"]["late"], true);
    assert_eq!(v["refunds"][0]["amount_fen"], 5000);
    assert_eq!(
        app.stock(p).await,
        (5, 5, 0),
        "stock is released once and not committed"
    );
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);
    assert_eq!(
        v["refunds"][0]["status"], "pending",
        "the notification only queues the refund: no outbound call while WeChat Pay waits"
    );
    // The payments job submits it; WeChat Pay notifies its success.
    suanpan_shop::jobs::reconcile_refunds_older_than(&app.state, 0)
        .await
        .unwrap();
    let ok = app
        .eventually(async || {
            app.call(
                Method::GET,
                &format!("/v1/admin/orders/{id}"),
                Some(&admin),
                None,
            )
            .await
            .1["refunded_fen"]
                == 5000
        })
        .await;
    assert!(ok, "late payment was not refunded");
    assert_eq!(app.events("Order.Refunded", id).await, 1);
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/v1/admin/orders/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (v["status"].as_str(), v["refunds"][0]["status"].as_str()),
        (Some("cancelled"), Some("succeeded"))
    );
}

#[tokio::test]
async fn notifications_that_fail_verification_change_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 990, 5).await;
    let alice = app.shopper("alice").await;
    let o = app.order(&alice, p, 1).await;
    let id = o["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    let good = app.transaction(&otn, 990);

    // Tampered body: the signature no longer matches.
    let (h, mut body) = app.notify_request(&good, now());
    let last = body.len() - 2;
    body[last] = b' ';
    let (s, v) = app.post_notify(&h, &body).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
    );
    // Signed by someone else's key.
    let (mut h2, body2) = app.notify_request(&good, now());
    h2.insert(
        "Wechatpay-Serial",
        "PUB_KEY_ID_SOMEONE_ELSE".parse().unwrap(),
    );
    assert_eq!(
        app.post_notify(&h2, &body2).await.1["code"],
        "invalid_signature"
    );
    // Missing signature header.
    let (mut h3, body3) = app.notify_request(&good, now());
    h3.remove("Wechatpay-Signature");
    assert_eq!(
        app.post_notify(&h3, &body3).await.1["code"],
        "invalid_signature"
    );
    // Stale and future timestamps (more than 5 minutes off).
    for ts in [now() - 301, now() + 301] {
        let (h, b) = app.notify_request(&good, ts);
        let (s, v) = app.post_notify(&h, &b).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("stale_timestamp"))
        );
    }
    // Correctly signed, but the amount is wrong.
    let (h, b) = app.notify_request(&app.transaction(&otn, 1), now());
    let (s, v) = app.post_notify(&h, &b).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount_mismatch"))
    );
    // Correctly signed, but for another merchant.
    let mut other = good.clone();
    other.mchid = "1999999999".into();
    let (h, b) = app.notify_request(&other, now());
    assert_eq!(app.post_notify(&h, &b).await.1["code"], "merchant_mismatch");
    // Unknown trade.
    let (h, b) = app.notify_request(&app.transaction("S00000000000000000000000", 990), now());
    assert_eq!(
        app.post_notify(&h, &b).await.1["code"],
        "unknown_out_trade_no"
    );
    // Garbage.
    let (s, _) = app.post_notify(&http::HeaderMap::new(), b"not json").await;
    assert!(s.is_client_error());

    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(v["status"], "pending_payment");
    assert_eq!(app.events("Payment.Succeeded", id).await, 0);
    assert_eq!(app.stock(p).await, (4, 5, 1));
    // The genuine one still works afterwards.
    let (h, b) = app.notify_request(&good, now());
    assert_eq!(app.post_notify(&h, &b).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
            .await
            .1["status"],
        "paid"
    );
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_a_different_body() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let alice = app.shopper("alice").await;
    let body = json!({"items": [{"product_id": p, "quantity": 1}]});
    let k = [("idempotency-key", "order-7f3a9c")];
    let (s1, v1) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(body.clone()),
            &k,
        )
        .await;
    let (s2, v2) = app
        .call_with(Method::POST, "/v1/orders", Some(&alice), Some(body), &k)
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(v1, v2);
    assert_eq!(app.stock(p).await, (9, 10, 1));
    let (s, v) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"items": [{"product_id": p, "quantity": 2}]})),
            &k,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    // Keys are per shopper: Bob's identical key is a new order.
    let bob = app.shopper("bob").await;
    let (s, v) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&bob),
            Some(json!({"items": [{"product_id": p, "quantity": 1}]})),
            &k,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(v["id"], v1["id"]);
    let (s, v) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&bob),
            Some(json!({"items": []})),
            &[("idempotency-key", "bad key")],
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key"))
    );
    // A failed request does not burn its key.
    let k2 = [("idempotency-key", "retry-me")];
    let (s, _) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"items": [{"product_id": p, "quantity": 50}]})),
            &k2,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    app.call(
        Method::POST,
        &format!("/v1/admin/products/{p}/stock"),
        Some(&admin),
        Some(json!({"delta": 100})),
    )
    .await;
    let (s, _) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"items": [{"product_id": p, "quantity": 50}]})),
            &k2,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn a_corrupt_stored_idempotency_status_is_an_internal_error_not_a_200() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let alice = app.shopper("alice").await;
    let body = json!({"items": [{"product_id": p, "quantity": 1}]});
    let k = [("idempotency-key", "order-corrupt")];
    let (s, _) = app
        .call_with(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(body.clone()),
            &k,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let d = app.db().dialect;
    for bad in [70000_i64, 99, -1, 600] {
        sqlx::query(&d.prepare(
            "UPDATE idempotency_keys SET status_code = ? WHERE idem_key = 'order-corrupt'",
        ))
        .bind(bad)
        .execute(app.db().writer())
        .await
        .unwrap();
        let (s, v) = app
            .call_with(
                Method::POST,
                "/v1/orders",
                Some(&alice),
                Some(body.clone()),
                &k,
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")),
            "stored status {bad}"
        );
    }
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_stable_code_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 3).await;
    let alice = app.shopper("alice").await;
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
        let (s, v) = app.send(req).await;
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{v}");
    }
    for (items, status, code) in [
        (
            json!([{"product_id": p, "quantity": 0}]),
            StatusCode::BAD_REQUEST,
            "invalid_quantity",
        ),
        (
            json!([{"product_id": p, "quantity": -1}]),
            StatusCode::BAD_REQUEST,
            "invalid_quantity",
        ),
        (
            json!([{"product_id": 999999, "quantity": 1}]),
            StatusCode::NOT_FOUND,
            "product_not_found",
        ),
        (
            json!([{"product_id": -5, "quantity": 1}]),
            StatusCode::NOT_FOUND,
            "product_not_found",
        ),
        (
            json!([{"product_id": p, "quantity": 4}]),
            StatusCode::CONFLICT,
            "insufficient_stock",
        ),
    ] {
        let (s, v) = app
            .call(
                Method::POST,
                "/v1/orders",
                Some(&alice),
                Some(json!({"items": items})),
            )
            .await;
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{v}");
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
    for (body, code) in [
        (json!({"code": ""}), "invalid_code"),
        (json!({"code": "invalid-code"}), "wechat_code_invalid"),
    ] {
        let (s, v) = app
            .call(Method::POST, "/v1/auth/wechat/login", None, Some(body))
            .await;
        assert!(s.is_client_error());
        assert_eq!(v["code"], code);
    }
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "root", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    for body in [
        json!({"name": "", "price_fen": 1}),
        json!({"name": "x", "price_fen": 0}),
        json!({"name": "x", "price_fen": 1, "stock": -1}),
    ] {
        let (s, _) = app
            .call(Method::POST, "/v1/admin/products", Some(&admin), Some(body))
            .await;
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
    let bad = |(s, v): (StatusCode, serde_json::Value)| {
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_string")),
            "{v}"
        );
    };
    // Query.
    bad(app
        .call(Method::GET, "/v1/products?q=%00", None, None)
        .await);
    bad(app
        .call(Method::GET, "/v1/products?q=rice%00x", None, None)
        .await);
    bad(app
        .call(
            Method::GET,
            "/v1/admin/orders?order_no=%00",
            Some(&admin),
            None,
        )
        .await);
    // Path.
    bad(app.call(Method::GET, "/v1/products/1%00", None, None).await);
    // JSON bodies, including both logins.
    bad(app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "ro\u{0}ot", "password": "x"})),
        )
        .await);
    bad(app
        .call(
            Method::POST,
            "/v1/auth/wechat/login",
            None,
            Some(json!({"code": "\u{0}"})),
        )
        .await);
    let addr = json!({"receiver": "张\u{0}三", "phone": "13800138000", "province": "黑龙江省", "city": "哈尔滨市", "district": "南岗区", "detail": "西大直街 92 号"});
    bad(app
        .call(Method::POST, "/v1/addresses", Some(&alice), Some(addr))
        .await);
    // An escaped backslash followed by `u0000` is ordinary text, not a NUL.
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "\\u0000", "password": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (_, v) = app
        .call(Method::GET, "/v1/addresses", Some(&alice), None)
        .await;
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn roles_are_enforced_and_admin_writes_are_audited() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/users",
            Some(&admin),
            Some(json!({"username": "op1", "password": "op1-password", "role": "operator"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    app.call(
        Method::POST,
        "/v1/admin/users",
        Some(&admin),
        Some(json!({"username": "fin1", "password": "fin1-password", "role": "finance"})),
    )
    .await;
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/users",
            Some(&admin),
            Some(json!({"username": "op1", "password": "op1-password", "role": "operator"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("admin_exists"))
    );
    let op = app.login_admin("op1", "op1-password").await;
    let fin = app.login_admin("fin1", "fin1-password").await;
    let p = app.product(&op, 100, 5).await;
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/admin/products",
            Some(&fin),
            Some(json!({"name": "x", "price_fen": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(Method::GET, "/v1/admin/audit-logs", Some(&op), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/admin/users",
            Some(&op),
            Some(json!({"username": "x123", "password": "x1234567", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .call(
            Method::PATCH,
            &format!("/v1/admin/products/{p}"),
            Some(&op),
            Some(json!({"price_fen": 120, "on_shelf": false})),
        )
        .await;
    assert_eq!(
        (s, v["price_fen"].as_i64(), v["on_shelf"].as_bool()),
        (StatusCode::OK, Some(120), Some(false))
    );
    let (s, _) = app
        .call(Method::GET, &format!("/v1/products/{p}"), None, None)
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "off-shelf products are hidden from shoppers"
    );
    let (s, v) = app
        .call(
            Method::GET,
            &format!("/v1/admin/audit-logs?entity_type=product&entity_id={p}"),
            Some(&fin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["product.update", "product.create"]);
    assert_eq!(v[0]["actor_name"], "op1");
    assert_eq!(v[0]["before"]["price_fen"], 100);
    assert_eq!(v[0]["after"]["price_fen"], 120);
}

#[tokio::test]
async fn catalog_lists_filter_search_and_paginate() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (_, rice) = app
        .call(
            Method::POST,
            "/v1/admin/categories",
            Some(&admin),
            Some(json!({"name": "大米", "sort": 1})),
        )
        .await;
    let (_, grain) = app
        .call(
            Method::POST,
            "/v1/admin/categories",
            Some(&admin),
            Some(json!({"name": "杂粮", "sort": 2})),
        )
        .await;
    for (name, cat) in [
        ("五常大米 5kg", &rice),
        ("东北珍珠米 5kg", &rice),
        ("黑龙江小米 2.5kg", &grain),
    ] {
        let (s, _) = app
            .call(
                Method::POST,
                "/v1/admin/products",
                Some(&admin),
                Some(
                    json!({"name": name, "price_fen": 1000, "stock": 1, "category_id": cat["id"]}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    app.call(
        Method::POST,
        "/v1/admin/products",
        Some(&admin),
        Some(json!({"name": "下架大米", "price_fen": 1000, "on_shelf": false})),
    )
    .await;
    let (_, v) = app
        .call(Method::GET, "/v1/products?page_size=2", None, None)
        .await;
    assert_eq!(
        (v["total"].as_i64(), v["items"].as_array().unwrap().len()),
        (Some(3), 2)
    );
    let (_, v) = app
        .call(Method::GET, "/v1/products?page_size=2&page=2", None, None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/v1/products?category_id={}", rice["id"]),
            None,
            None,
        )
        .await;
    assert_eq!(v["total"], 2);
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/v1/products?q={}", "%E4%BA%94%E5%B8%B8"),
            None,
            None,
        )
        .await; // 五常
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["name"], "五常大米 5kg");
    let (_, v) = app
        .call(Method::GET, "/v1/products?q=%25", None, None)
        .await;
    assert_eq!(v["total"], 0, "LIKE wildcards in keywords are literal");
    let (_, v) = app
        .call(Method::GET, "/v1/admin/products", Some(&admin), None)
        .await;
    assert_eq!(v["total"], 4);
    let (_, v) = app.call(Method::GET, "/v1/categories", None, None).await;
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cart_checkout_uses_current_prices_and_default_address() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p1 = app.product(&admin, 1000, 10).await;
    let p2 = app.product(&admin, 500, 10).await;
    let alice = app.shopper("alice").await;
    app.call(
        Method::POST,
        "/v1/cart/items",
        Some(&alice),
        Some(json!({"product_id": p1, "quantity": 2})),
    )
    .await;
    app.call(
        Method::POST,
        "/v1/cart/items",
        Some(&alice),
        Some(json!({"product_id": p1, "quantity": 1})),
    )
    .await;
    let (s, cart) = app
        .call(
            Method::POST,
            "/v1/cart/items",
            Some(&alice),
            Some(json!({"product_id": p2, "quantity": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cart[0]["quantity"], 3);
    let (_, cart) = app
        .call(
            Method::PUT,
            &format!("/v1/cart/items/{p2}"),
            Some(&alice),
            Some(json!({"quantity": 4})),
        )
        .await;
    assert_eq!(cart[1]["quantity"], 4);
    let addr = json!({"receiver": "张三", "phone": "13800138000", "province": "黑龙江省", "city": "哈尔滨市", "district": "南岗区", "detail": "西大直街 92 号"});
    let (s, a) = app
        .call(Method::POST, "/v1/addresses", Some(&alice), Some(addr))
        .await;
    assert_eq!(
        (s, a["is_default"].as_bool()),
        (StatusCode::CREATED, Some(true))
    );
    app.call(
        Method::PATCH,
        &format!("/v1/admin/products/{p1}"),
        Some(&admin),
        Some(json!({"price_fen": 1100})),
    )
    .await;
    let (s, o) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"from_cart": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["total_fen"], 3 * 1100 + 4 * 500);
    assert_eq!(o["address"]["receiver"], "张三");
    let (_, cart) = app.call(Method::GET, "/v1/cart", Some(&alice), None).await;
    assert_eq!(cart, json!([]));
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"from_cart": true})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("empty_order"))
    );
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&alice),
            Some(json!({"items": [{"product_id": p1, "quantity": 1}], "address_id": 99999})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("address_not_found"))
    );
}

#[tokio::test]
async fn orders_with_and_without_address_share_pooled_connections() {
    // PostgreSQL fixes a prepared statement's parameter types on a connection's first use: a
    // NULL address bound as an integer broke every later order with an address on it. The
    // smallest pool (two connections on a server): the orders without an address come first.
    let app = TestApp::with(|c, _| c.db_max_connections = 1).await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 100).await;
    let bob = app.shopper("bob").await;
    let alice = app.shopper("alice").await;
    let addr = json!({"receiver": "张三", "phone": "13800138000", "province": "黑龙江省", "city": "哈尔滨市", "district": "南岗区", "detail": "西大直街 92 号"});
    let (s, _) = app
        .call(Method::POST, "/v1/addresses", Some(&alice), Some(addr))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for _ in 0..3 {
        assert!(app.order(&bob, p, 1).await["address"].is_null());
    }
    for _ in 0..3 {
        assert_eq!(app.order(&alice, p, 1).await["address"]["receiver"], "张三");
        assert!(app.order(&bob, p, 1).await["address"].is_null());
    }
}

#[tokio::test]
async fn refunds_partial_then_full_never_exceed_what_was_paid() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 1000, 10).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 3).await["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    let (h, b) = app.notify_request(&app.transaction(&otn, 3000), now());
    app.sim.mark_paid(&otn).unwrap();
    assert_eq!(app.post_notify(&h, &b).await.0, StatusCode::NO_CONTENT);
    let path = format!("/v1/admin/orders/{id}/refunds");
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"amount_fen": 3001, "reason": "多退"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("refund_exceeds_paid"))
    );
    let (s, v) = app
        .call_with(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"amount_fen": 1000, "reason": "少发一袋"})),
            &[("idempotency-key", "rf-1")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s2, v2) = app
        .call_with(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"amount_fen": 1000, "reason": "少发一袋"})),
            &[("idempotency-key", "rf-1")],
        )
        .await;
    assert_eq!(
        (s2, &v2),
        (StatusCode::CREATED, &v),
        "a retried refund request replays"
    );
    // While it is with WeChat Pay, a second refund is refused.
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"amount_fen": 100, "reason": "x"})),
        )
        .await;
    if s != StatusCode::CREATED {
        assert_eq!(v["code"], "illegal_transition");
    }
    let settled = app
        .eventually(async || {
            app.call(
                Method::GET,
                &format!("/v1/admin/orders/{id}"),
                Some(&admin),
                None,
            )
            .await
            .1["status"]
                == "refunded"
        })
        .await;
    assert!(settled);
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/v1/admin/orders/{id}"),
            Some(&admin),
            None,
        )
        .await;
    let first = v["refunded_fen"].as_i64().unwrap();
    assert!(first == 1000 || first == 1100, "{v}");
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"reason": "整单退"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["amount_fen"], 3000 - first);
    let done = app
        .eventually(async || {
            app.call(
                Method::GET,
                &format!("/v1/admin/orders/{id}"),
                Some(&admin),
                None,
            )
            .await
            .1["refunded_fen"]
                == 3000
        })
        .await;
    assert!(done);
    let (s, v) = app
        .call(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"amount_fen": 1, "reason": "x"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("refund_exceeds_paid"))
    );
    let fin_events = app.events("Order.Refunded", id).await;
    assert!(fin_events == 2 || fin_events == 3);
    let finance = app
        .call(
            Method::GET,
            &format!("/v1/admin/audit-logs?entity_id={id}&action=refund.succeeded"),
            Some(&admin),
            None,
        )
        .await
        .1;
    assert_eq!(finance.as_array().unwrap().len() as i64, fin_events);
}

#[tokio::test]
async fn csv_export_opens_in_excel_and_report_counts_the_day() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 5990, 10).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 2).await["id"].as_i64().unwrap();
    app.order(&alice, p, 1).await;
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap();
    let (h, b) = app.notify_request(&app.transaction(&otn, 11980), now());
    app.post_notify(&h, &b).await;
    let req = http::Request::builder()
        .uri("/v1/admin/orders/export.csv")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "UTF-8 BOM for Excel");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("订单号,状态"));
    assert_eq!(lines.len(), 3);
    assert!(text.contains("已支付") && text.contains("五常大米 5kg×2") && text.contains("119.80"));
    let (s, v) = app
        .call(Method::GET, "/v1/admin/reports/daily", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            v["orders_created"].as_i64(),
            v["orders_paid"].as_i64(),
            v["gmv_fen"].as_i64()
        ),
        (Some(2), Some(1), Some(11980))
    );
    assert_eq!(v["payment_success_rate"], 1.0);
    let (_, v) = app
        .call(
            Method::GET,
            "/v1/admin/reports/daily?date=2001-01-01",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (
            v["orders_created"].as_i64(),
            v["payment_success_rate"].is_null()
        ),
        (Some(0), true)
    );
    let (_, v) = app
        .call(
            Method::GET,
            "/v1/admin/orders?status=paid",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(v["total"], 1);
}

async fn export_csv(app: &TestApp, admin: &str) -> (StatusCode, Vec<u8>) {
    let req = http::Request::builder()
        .uri("/v1/admin/orders/export.csv")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn csv_export_escapes_formulas_and_keeps_plain_rows_byte_for_byte() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/products",
            Some(&admin),
            Some(json!({"name": "@SUM(A1)", "price_fen": 200, "stock": 10})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let evil = v["id"].as_i64().unwrap();
    let alice = app.shopper("alice").await;
    let plain = app.order(&alice, p, 1).await;
    let addr = json!({"receiver": "=HYPERLINK(\"http://x.cn\",\"a\")", "phone": "13800138000", "province": "黑龙江省", "city": "哈尔滨市", "district": "南岗区", "detail": "西大直街 92 号"});
    let (s, _) = app
        .call(Method::POST, "/v1/addresses", Some(&alice), Some(addr))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    app.order(&alice, evil, 1).await;
    let (s, bytes) = export_csv(&app, &admin).await;
    assert_eq!(s, StatusCode::OK);
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The order without an address: unchanged format.
    assert_eq!(
        lines[1],
        format!(
            "{},待支付,{},,{},五常大米 5kg×1,1,1.00,0.00,0.00,,,,,",
            plain["order_no"].as_str().unwrap(),
            plain["created_at"].as_str().unwrap(),
            plain["user_id"]
        )
    );
    assert!(
        lines[2].contains(",'@SUM(A1)×1,")
            && lines[2].contains(",\"'=HYPERLINK(\"\"http://x.cn\"\",\"\"a\"\")\",13800138000,"),
        "{}",
        lines[2]
    );
    assert!(!text.contains(",=") && !text.contains(",@"), "{text}");
}

#[tokio::test]
async fn csv_export_fails_with_a_json_error_when_the_database_fails() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let alice = app.shopper("alice").await;
    app.order(&alice, p, 1).await;
    sqlx::query("DROP TABLE order_items")
        .execute(app.db().writer())
        .await
        .unwrap();
    let (s, bytes) = export_csv(&app, &admin).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("internal"))
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_generated_jwt_secret_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A fresh data directory: the secret is created 0600.
    let mut dir = String::new();
    let app = TestApp::with(|c, _| dir = c.data_dir.clone()).await;
    let path = std::path::Path::new(&dir).join("jwt.secret");
    assert_eq!(mode(&path), 0o600);
    drop(app);
    // A world-readable secret left by an older version is restricted when it is loaded.
    let old = "x".repeat(48);
    std::fs::write(&path, &old).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _app = TestApp::with(|c, _| c.data_dir = dir.clone()).await;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
}

#[tokio::test]
async fn metrics_show_the_outbox_backlog() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let alice = app.shopper("alice").await;
    app.order(&alice, p, 1).await;
    let (s, v) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = v.as_str().unwrap_or_default();
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    // Gauges are process-wide and other tests run in parallel: only the shape is certain.
    assert!(gauge("suanpan_outbox_backlog") >= 0.0);
    assert!(gauge("suanpan_outbox_oldest_age_seconds") >= 0.0);
}

#[tokio::test]
async fn ops_endpoints_and_generated_docs_are_current() {
    let app = TestApp::new().await;
    let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, v) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/v1/admin/auth/login",
        "/v1/admin/products",
        "/v1/products/{id}",
        "/v1/auth/wechat/login",
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/pay",
        "/v1/payments/wechat/notify",
    ] {
        assert!(v["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    let docs = format!("{}/../../docs", env!("CARGO_MANIFEST_DIR"));
    let on_disk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{docs}/openapi.json")).expect("docs/openapi.json"),
    )
    .unwrap();
    assert_eq!(
        on_disk,
        serde_json::to_value(suanpan_shop::app::openapi()).unwrap(),
        "docs/openapi.json is stale: run `suanpan schemas`"
    );
    for (name, schema) in suanpan_shop::events::schemas() {
        let f: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{docs}/events/{name}.json"))
                .expect("event schema file"),
        )
        .unwrap();
        assert_eq!(
            f, schema,
            "docs/events/{name}.json is stale: run `suanpan schemas`"
        );
    }
}

#[tokio::test]
async fn openapi_document_is_valid_and_describes_every_parameter_and_status() {
    let app = TestApp::new().await;
    let (s, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    // It parses as an OpenAPI 3.1 document.
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    serde_json::from_value::<utoipa::openapi::OpenApi>(doc.clone()).expect("OpenAPI model");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    // Every `$ref` resolves.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.to_string());
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        if !schemas.contains_key(name) {
            problems.push(format!("unresolved $ref {r}"));
        }
    }
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: std::collections::BTreeSet<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(methods.contains(&method.as_str()), "{method} {path}");
            let at = format!("{} {path}", method.to_uppercase());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = std::collections::BTreeSet::new();
            for p in &params {
                let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                if !["query", "header", "path", "cookie"].contains(&place) {
                    problems.push(format!("{at}: parameter {name} in {place}"));
                }
                if place == "path" {
                    in_path.insert(name);
                    if p["required"] != true {
                        problems.push(format!("{at}: path parameter {name} not required"));
                    }
                } else if p["required"] == true {
                    problems.push(format!(
                        "{at}: optional {place} parameter {name} marked required"
                    ));
                }
            }
            if in_path != template {
                problems.push(format!(
                    "{at}: path parameters {in_path:?}, template {template:?}"
                ));
            }
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            if !responses.keys().any(|k| k.starts_with('2')) {
                problems.push(format!("{at}: no success response"));
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let needs: Vec<(&str, bool)> = vec![
                ("400", !params.is_empty() || op.get("requestBody").is_some()),
                ("401", secured),
                (
                    "403",
                    secured && path.starts_with("/v1/admin/") && path != "/v1/admin/me",
                ),
                (
                    "404",
                    !(template.is_empty() || method == "delete" && path.starts_with("/v1/cart/")),
                ),
                (
                    "415",
                    op["requestBody"]["content"]
                        .get("application/json")
                        .is_some(),
                ),
            ];
            for (status, needed) in needs {
                if needed && !has(status) {
                    problems.push(format!("{at}: status {status} not documented"));
                }
            }
            for (status, r) in responses {
                if !status.starts_with('2') && r["content"]["application/json"].is_null() {
                    problems.push(format!("{at}: {status} has no JSON error body"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The list filters are query parameters.
    let q = &doc["paths"]["/v1/products"]["get"]["parameters"];
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "q" && p["in"] == "query" && p["required"] != true),
        "{q}"
    );
}

#[tokio::test]
async fn reconciliation_settles_a_payment_whose_notification_was_lost() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 300, 5).await;
    let alice = app.shopper("alice").await;
    let id = app.order(&alice, p, 1).await["id"].as_i64().unwrap();
    let otn = app.prepay(&alice, id).await;
    assert_eq!(
        jobs::reconcile_payments_older_than(&app.state, 0)
            .await
            .unwrap(),
        0,
        "unpaid: nothing to settle"
    );
    app.sim.mark_paid(&otn).unwrap(); // paid; the notification never arrives
    assert_eq!(
        jobs::reconcile_payments_older_than(&app.state, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        jobs::reconcile_payments_older_than(&app.state, 0)
            .await
            .unwrap(),
        0
    );
    let (_, v) = app
        .call(Method::GET, &format!("/v1/orders/{id}"), Some(&alice), None)
        .await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);
}

#[tokio::test]
async fn refresh_tokens_and_image_uploads() {
    let app = TestApp::new().await;
    let (_, login) = app
        .call(
            Method::POST,
            "/v1/auth/wechat/login",
            None,
            Some(json!({"code": "carol"})),
        )
        .await;
    let (s, fresh) = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": login["refresh_token"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/cart",
            fresh["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": login["access_token"]})),
        )
        .await;
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
    let resp = tower::ServiceExt::oneshot(
        app.router.clone(),
        http::Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
        png
    );
    let (s, v) = app.send(multipart(b"#!/bin/sh\necho not an image")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_image"))
    );
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/admin/products",
            Some(&admin),
            Some(json!({"name": "带图大米", "price_fen": 100, "images": [url]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}
