//! `/v1/payments/wechat/notify` and the payment jobs: notifications are verified before they
//! change anything, a late payment on a cancelled order is refunded, reconciliation settles a
//! payment whose notification was lost; on the database named by `SUANPAN_TEST_DATABASE_URL`
//! (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error, now};
use http::StatusCode;

#[tokio::test]
async fn late_payment_on_cancelled_order_is_recorded_and_refunded() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(2500, 5).await;
    let id = app.order_id(&alice, p, 2).await;
    let otn = app.prepay(&alice, id).await;
    // WeChat Pay unreachable when the order is cancelled: the close call cannot be made.
    app.cancel_offline(id).await.unwrap();
    assert_eq!(app.stock(p).await, (5, 5, 0));
    // The shopper pays anyway; WeChat Pay notifies.
    app.pay_at_simulator(&otn).await;
    let (_, v) = app.admin_order(&admin, id).await;
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
    // The payment flow's reconciliation job submits it; WeChat Pay notifies its success.
    app.state.payments.reconcile_refunds(0).await.unwrap();
    let ok = app
        .eventually(async || app.admin_order(&admin, id).await.1["refunded_fen"] == 5000)
        .await;
    assert!(ok, "late payment was not refunded");
    assert_eq!(app.events("Order.Refunded", id).await, 1);
    let (_, v) = app.admin_order(&admin, id).await;
    assert_eq!(
        (v["status"].as_str(), v["refunds"][0]["status"].as_str()),
        (Some("cancelled"), Some("succeeded"))
    );
}

#[tokio::test]
async fn notifications_that_fail_verification_change_nothing() {
    let app = TestApp::new().await;
    let Seeded { p, alice, .. } = app.seed(990, 5).await;
    let id = app.order_id(&alice, p, 1).await;
    let otn = app.prepay(&alice, id).await;
    let good = app.transaction(&otn, 990);

    // Tampered body: the signature no longer matches.
    let (h, mut body) = app.notify_request(&good, now());
    let last = body.len() - 2;
    body[last] = b' ';
    assert_error(
        app.post_notify(&h, &body).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
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
        assert_error(
            app.post_notify(&h, &b).await,
            StatusCode::UNAUTHORIZED,
            "stale_timestamp",
        );
    }
    // Correctly signed, but the amount is wrong.
    let (h, b) = app.notify_request(&app.transaction(&otn, 1), now());
    assert_error(
        app.post_notify(&h, &b).await,
        StatusCode::BAD_REQUEST,
        "amount_mismatch",
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

    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(v["status"], "pending_payment");
    assert_eq!(app.events("Payment.Succeeded", id).await, 0);
    assert_eq!(app.stock(p).await, (4, 5, 1));
    // The genuine one still works afterwards.
    let (h, b) = app.notify_request(&good, now());
    assert_eq!(app.post_notify(&h, &b).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get_order(&alice, id).await.1["status"], "paid");
}

#[tokio::test]
async fn reconciliation_settles_a_payment_whose_notification_was_lost() {
    let app = TestApp::new().await;
    let Seeded { p, alice, .. } = app.seed(300, 5).await;
    let id = app.order_id(&alice, p, 1).await;
    let otn = app.prepay(&alice, id).await;
    let reconcile = async || app.state.payments.reconcile_trades(0).await.unwrap();
    assert_eq!(reconcile().await, 0, "unpaid: nothing to settle");
    app.sim.mark_paid(&otn).unwrap(); // paid; the notification never arrives
    assert_eq!(reconcile().await, 1);
    assert_eq!(reconcile().await, 0);
    let (_, v) = app.get_order(&alice, id).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(app.events("Payment.Succeeded", id).await, 1);
}
