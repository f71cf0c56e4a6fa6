//! `/v1/admin/orders/{id}/refunds`: partial then full refunds, replayed by idempotency key, never
//! more than was paid; on the database named by `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error};
use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn refunds_partial_then_full_never_exceed_what_was_paid() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(1000, 10).await;
    let id = app.order_id(&alice, p, 3).await;
    app.pay(&alice, id, 3000).await;
    assert_error(
        app.refund(
            &admin,
            id,
            json!({"amount_fen": 3001, "reason": "多退"}),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "refund_exceeds_paid",
    );
    let one_bag = json!({"amount_fen": 1000, "reason": "少发一袋"});
    let (s, v) = app.refund(&admin, id, one_bag.clone(), Some("rf-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s2, v2) = app.refund(&admin, id, one_bag, Some("rf-1")).await;
    assert_eq!(
        (s2, &v2),
        (StatusCode::CREATED, &v),
        "a retried refund request replays"
    );
    // While it is with WeChat Pay, a second refund is refused.
    let (s, v) = app
        .refund(&admin, id, json!({"amount_fen": 100, "reason": "x"}), None)
        .await;
    if s != StatusCode::CREATED {
        assert_eq!(v["code"], "illegal_transition");
    }
    let settled = app
        .eventually(async || app.admin_order(&admin, id).await.1["status"] == "refunded")
        .await;
    assert!(settled);
    let (_, v) = app.admin_order(&admin, id).await;
    let first = v["refunded_fen"].as_i64().unwrap();
    assert!(first == 1000 || first == 1100, "{v}");
    let (s, v) = app
        .refund(&admin, id, json!({"reason": "整单退"}), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["amount_fen"], 3000 - first);
    let done = app
        .eventually(async || app.admin_order(&admin, id).await.1["refunded_fen"] == 3000)
        .await;
    assert!(done);
    assert_error(
        app.refund(&admin, id, json!({"amount_fen": 1, "reason": "x"}), None)
            .await,
        StatusCode::CONFLICT,
        "refund_exceeds_paid",
    );
    let fin_events = app.events("Order.Refunded", id).await;
    assert!(fin_events == 2 || fin_events == 3);
    let (_, finance) = app
        .audit_logs(&admin, &format!("entity_id={id}&action=refund.succeeded"))
        .await;
    assert_eq!(finance.as_array().unwrap().len() as i64, fin_events);
}
