//! The invariants users rely on, under concurrency: no overselling, one payment per order, one
//! order per idempotency key, and a payment racing a cancellation never leaving a paid order
//! cancelled or stock released twice; on the database named by `SUANPAN_TEST_DATABASE_URL`
//! (SQLite when unset).

mod common;

use common::{Seeded, TestApp, items, now};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_orders_for_stock_100_give_exactly_100_orders() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let admin = app.admin_token().await;
    let p = app.product(&admin, 5990, 100).await;
    let mut shoppers = Vec::new();
    for i in 0..50 {
        shoppers.push(app.quick_shopper(i).await);
    }
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (app, token) = (app.clone(), shoppers[i % 50].clone());
        tasks.push(tokio::spawn(async move {
            app.place_order(&token, items(p, 1), None).await
        }));
    }
    let (mut created, mut sold_out) = (0, 0);
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match (s, v["code"].as_str()) {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::CONFLICT, Some("insufficient_stock")) => sold_out += 1,
            other => panic!("unexpected answer {other:?}: {v}"),
        }
    }
    assert_eq!((created, sold_out), (100, 900));
    assert_eq!(app.stock(p).await, (0, 100, 100));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE id > ?", 0)
            .await,
        100
    );
    assert_eq!(
        app.transfers("kind = 'pending' AND status = 'pending'")
            .await,
        100
    );
    let (_, v) = app.get_product(p).await;
    assert_eq!(v["stock"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_copies_of_a_notification_pay_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let Seeded { admin, p, alice } = app.seed(1990, 10).await;
    let id = app.order_id(&alice, p, 2).await;
    let otn = app.prepay(&alice, id).await;
    app.sim.mark_paid(&otn).unwrap();
    let (headers, body) = app.notify_request(&app.transaction(&otn, 3980), now());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, h, b) = (app.clone(), headers.clone(), body.clone());
        tasks.push(tokio::spawn(async move { app.post_notify(&h, &b).await }));
    }
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    }
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(
        (v["status"].as_str(), v["paid_fen"].as_i64()),
        (Some("paid"), Some(3980))
    );
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);
    let (_, audits) = app
        .audit_logs(&admin, &format!("entity_id={id}&action=payment.succeeded"))
        .await;
    assert_eq!(audits.as_array().unwrap().len(), 1);
    assert_eq!(
        app.stock(p).await,
        (8, 8, 0),
        "stock committed exactly once"
    );
    assert_eq!(app.transfers("kind = 'capture'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_sent_at_once_gives_one_order() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let Seeded { p, alice, .. } = app.seed(100, 100).await;
    for round in 0..5 {
        let key = format!("double-tap-{round}");
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (app, alice, key) = (app.clone(), alice.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                app.place_order(&alice, items(p, 1), Some(&key)).await
            }));
        }
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            let (s, v) = t.await.unwrap();
            assert_eq!(s, StatusCode::CREATED, "{v}");
            ids.insert(v["id"].as_i64().unwrap());
        }
        assert_eq!(ids.len(), 1, "one order per key");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE id > ?", 0)
            .await,
        5
    );
    assert_eq!(app.stock(p).await, (95, 100, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payment_racing_cancellation_never_leaves_a_paid_order_cancelled() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let Seeded { admin, p, alice } = app.seed(700, 1000).await;
    let (mut paid, mut late) = (0, 0);
    for _ in 0..20 {
        let id = app.order_id(&alice, p, 3).await;
        let otn = app.prepay(&alice, id).await;
        app.sim.mark_paid(&otn).unwrap();
        let (h, b) = app.notify_request(&app.transaction(&otn, 2100), now());
        let notify = {
            let app = app.clone();
            tokio::spawn(async move { app.post_notify(&h, &b).await })
        };
        // The cancelling side cannot reach WeChat Pay (so it cannot close the trade first): the
        // hardest case, where only the database decides.
        let cancel = {
            let app = app.clone();
            tokio::spawn(async move { app.cancel_offline(id).await })
        };
        let (n, c) = (notify.await.unwrap(), cancel.await.unwrap());
        assert_eq!(n.0, StatusCode::NO_CONTENT, "{:?}", n.1);
        let (_, v) = app.admin_order(&admin, id).await;
        match v["status"].as_str().unwrap() {
            "paid" => {
                paid += 1;
                assert_eq!(c.unwrap_err().code, "illegal_transition");
                assert!(v["refunds"].as_array().unwrap().is_empty());
                assert_eq!(v["paid_fen"], 2100);
            }
            "cancelled" => {
                late += 1;
                assert!(c.is_ok());
                assert_eq!(v["payment"]["late"], true);
                assert_eq!(
                    v["refunds"][0]["amount_fen"], 2100,
                    "the late payment is refunded"
                );
            }
            other => panic!("order ended {other}"),
        }
        assert_eq!(app.events("Payment.Succeeded", id).await, 1);
    }
    // Every reservation was settled exactly once: committed for paid orders, released for the rest.
    let b = app.stock(p).await;
    assert_eq!(b.2, 0, "nothing left reserved");
    assert_eq!(
        b.1,
        1000 - 3 * paid,
        "stock left the shelf once per paid order ({paid} paid, {late} late)"
    );
    assert_eq!(
        app.transfers("kind = 'pending' AND status = 'pending'")
            .await,
        0
    );
    assert_eq!(app.transfers("kind IN ('capture', 'void')").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cart_adds_of_one_product_all_count() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let Seeded { p, alice, .. } = app.seed(100, 10).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, alice) = (app.clone(), alice.clone());
        tasks.push(tokio::spawn(
            async move { app.add_to_cart(&alice, p, 2).await },
        ));
    }
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (_, cart) = app.cart(&alice).await;
    assert_eq!(cart.as_array().unwrap().len(), 1);
    assert_eq!(cart[0]["quantity"], 40);
    // The cap holds too.
    app.add_to_cart(&alice, p, 999).await;
    let (_, cart) = app.cart(&alice).await;
    assert_eq!(cart[0]["quantity"], 999);
}
