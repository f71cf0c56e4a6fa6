//! `/v1/orders` and `/v1/admin/orders/{id}/*`: the order lifecycle (pay, ship, confirm), cancel,
//! the payment timeout, idempotency keys and pooled connections; on the database named by
//! `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error, items};
use http::{Method, StatusCode};
use serde_json::json;
use suanpan_shop::jobs;

#[tokio::test]
async fn order_pay_ship_complete_flow() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 5990, 10).await;
    let (s, v) = app.get_product(p).await;
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
    let url = app.pay_at_simulator(&otn).await;
    assert!(url.ends_with("/v1/payments/wechat/notify"));
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(v["paid_fen"], 11980);
    assert_eq!(app.stock(p).await, (8, 8, 0));
    assert_eq!(app.events("Order.Created", id).await, 1);
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);

    // Other shoppers cannot see it.
    let bob = app.shopper("bob").await;
    assert_error(
        app.get_order(&bob, id).await,
        StatusCode::NOT_FOUND,
        "order_not_found",
    );

    // Completing before shipping is illegal.
    assert_error(
        app.order_action(&alice, id, "confirm").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
    let ship = json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890"});
    let (s, v) = app.admin_order_action(&admin, id, "ship", Some(ship)).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("shipped")));
    let (s, v) = app.order_action(&alice, id, "confirm").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    // A paid order cannot be cancelled.
    assert_error(
        app.order_action(&alice, id, "cancel").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
}

#[tokio::test]
async fn cancel_releases_stock_exactly_once() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(100, 5).await;
    let id = app.order_id(&alice, p, 3).await;
    app.prepay(&alice, id).await;
    assert_eq!(app.stock(p).await, (2, 5, 3));
    let (s, v) = app.order_action(&alice, id, "cancel").await;
    assert_eq!(
        (s, v["status"].as_str(), v["cancel_reason"].as_str()),
        (StatusCode::OK, Some("cancelled"), Some("shopper"))
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
    for _ in 0..3 {
        assert_error(
            app.order_action(&alice, id, "cancel").await,
            StatusCode::CONFLICT,
            "illegal_transition",
        );
    }
    assert_error(
        app.admin_order_action(&admin, id, "cancel", None).await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
    assert_eq!(app.events("Order.Cancelled", id).await, 1);
    // The cancel closed the WeChat Pay order: paying it now is impossible.
    let order_no = app.get_order(&alice, id).await.1["order_no"].clone();
    assert!(app.sim.mark_paid(order_no.as_str().unwrap()).is_none());
    assert_error(
        app.order_action(&alice, id, "pay").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
}

#[tokio::test]
async fn unpaid_orders_time_out_and_release_stock() {
    let app = TestApp::with(|_, c| c.order_payment_timeout_secs = 0).await;
    let Seeded { p, alice, .. } = app.seed(100, 5).await;
    let id = app.order_id(&alice, p, 2).await;
    assert_error(
        app.order_action(&alice, id, "pay").await,
        StatusCode::CONFLICT,
        "order_expired",
    );
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 1);
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 0);
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(
        (v["status"].as_str(), v["cancel_reason"].as_str()),
        (Some("cancelled"), Some("timeout"))
    );
    assert_eq!(app.stock(p).await, (5, 5, 0));
}

#[tokio::test]
async fn timeout_job_applies_a_payment_it_finds_instead_of_cancelling() {
    let app = TestApp::with(|_, c| c.order_payment_timeout_secs = 9).await;
    let Seeded { p, alice, .. } = app.seed(100, 5).await;
    let id = app.order_id(&alice, p, 1).await;
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap(); // paid, but the notification is lost
    tokio::time::sleep(std::time::Duration::from_millis(9100)).await;
    assert_eq!(jobs::cancel_expired(&app.state).await.unwrap(), 0);
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.stock(p).await, (4, 4, 0));
}

#[tokio::test]
async fn cancelling_an_order_paid_at_wechat_applies_the_payment() {
    let app = TestApp::new().await;
    let Seeded { p, alice, .. } = app.seed(100, 5).await;
    let id = app.order_id(&alice, p, 1).await;
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap();
    assert_error(
        app.order_action(&alice, id, "cancel").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.stock(p).await, (4, 4, 0));
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_a_different_body() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(100, 10).await;
    let k = Some("order-7f3a9c");
    let (s1, v1) = app.place_order(&alice, items(p, 1), k).await;
    let (s2, v2) = app.place_order(&alice, items(p, 1), k).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(v1, v2);
    assert_eq!(app.stock(p).await, (9, 10, 1));
    assert_error(
        app.place_order(&alice, items(p, 2), k).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // Keys are per shopper: Bob's identical key is a new order.
    let bob = app.shopper("bob").await;
    let (s, v) = app.place_order(&bob, items(p, 1), k).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(v["id"], v1["id"]);
    assert_error(
        app.place_order(&bob, json!({"items": []}), Some("bad key"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
    // A failed request does not burn its key.
    let k2 = Some("retry-me");
    let (s, _) = app.place_order(&alice, items(p, 50), k2).await;
    assert_eq!(s, StatusCode::CONFLICT);
    app.call(
        Method::POST,
        &format!("/v1/admin/products/{p}/stock"),
        Some(&admin),
        Some(json!({"delta": 100})),
    )
    .await;
    let (s, _) = app.place_order(&alice, items(p, 50), k2).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn a_corrupt_stored_idempotency_status_is_an_internal_error_not_a_200() {
    let app = TestApp::new().await;
    let Seeded { p, alice, .. } = app.seed(100, 10).await;
    let k = Some("order-corrupt");
    let (s, _) = app.place_order(&alice, items(p, 1), k).await;
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
        let (s, v) = app.place_order(&alice, items(p, 1), k).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")),
            "stored status {bad}"
        );
    }
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
    let (s, _) = app.add_address(&alice, "张三").await;
    assert_eq!(s, StatusCode::CREATED);
    for _ in 0..3 {
        assert!(app.order(&bob, p, 1).await["address"].is_null());
    }
    for _ in 0..3 {
        assert_eq!(app.order(&alice, p, 1).await["address"]["receiver"], "张三");
        assert!(app.order(&bob, p, 1).await["address"].is_null());
    }
}
