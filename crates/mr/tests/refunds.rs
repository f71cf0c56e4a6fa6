//! Refunds of the remaining balance (contract `requestRefund`, `getRefunds`, `approveRefund`,
//! `rejectRefund`): the balance at approval is refunded, through the providers of the
//! operator's recharges, newest first; each review once and audited. On SQLite, PostgreSQL
//! and MariaDB.

mod common;

use common::{Mr, Venue, now_secs, session, staff};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const REASON: &str = "业务调整，不再继续使用本平台";

async fn play(mr: &Mr, v: &Venue, players: i64) {
    let ts = now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": players});
    let (st, r) = mr.authorize(v, &body, &session(v, ts), ts, false).await;
    assert_eq!(st, StatusCode::OK, "{r}");
}

async fn ask(mr: &Mr, v: &Venue, reason: &str) -> (StatusCode, Value) {
    mr.json(
        Method::POST,
        "/mr/v1/operators/me/refunds",
        Some(&v.token),
        json!({"reason": reason}),
    )
    .await
}

#[tokio::test]
async fn approval_refunds_the_balance_at_review_through_the_providers_newest_first() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    mr.paid_recharge(&v, "300.00", "wechat").await;
    mr.paid_recharge(&v, "200.00", "alipay").await;
    play(&mr, &v, 2).await;
    let (st, r) = ask(&mr, &v, REASON).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["data"]["requested_amount"], "480.00");
    assert_eq!(r["data"]["status"], "pending");
    let refund_id = r["data"]["refund_id"].as_str().unwrap().to_string();
    play(&mr, &v, 1).await; // consumption during review is not refunded
    let fin = staff(&mr, "fin1", "finance", "mr").await;
    let (st, list) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/refunds",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["current_balance"], "470.00");
    let approve = format!("/mr/v1/finance/refunds/{refund_id}/approve");
    let (st, a) = mr
        .json(
            Method::POST,
            &approve,
            Some(&fin),
            json!({"note": "余额已退回"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(a["data"]["requested_amount"], "480.00");
    assert_eq!(a["data"]["actual_refund_amount"], "470.00");
    assert_eq!(a["data"]["balance_after"], "0.00");
    assert_eq!(mr.balance(&v).await, "0.00");
    // Newest first: the whole Alipay recharge (200.00), then 270.00 of the WeChat one.
    let alipay_refunded: i64 = pay
        .alipay
        .trade(&alipay_order(&mr, &v).await)
        .unwrap()
        .refunds
        .iter()
        .map(|(_, f)| f)
        .sum();
    assert_eq!(alipay_refunded, 20_000);
    let (st, again) = mr
        .json(Method::POST, &approve, Some(&fin), Value::Null)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["error_code"], "INVALID_PARAMS");
    let detail = format!("/mr/v1/finance/refunds/{refund_id}");
    let (st, d) = mr.json(Method::GET, &detail, Some(&fin), Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["data"]["operator_finance"]["total_refunded"], "470.00");
    assert_eq!(d["data"]["operator_finance"]["total_consumed"], "30.00");
    let (st, logs) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/audit-logs",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(logs["total"], 1, "{logs}");
    assert_eq!(logs["items"][0]["operation_type"], "refund_approve");
    assert_eq!(logs["items"][0]["target_resource_id"], refund_id.as_str());
    let report = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

/// The order id of the operator's Alipay recharge.
async fn alipay_order(mr: &Mr, v: &Venue) -> String {
    let path = "/mr/v1/operators/me/transactions?type=recharge";
    let (_, page) = mr
        .json(Method::GET, path, Some(&v.token), Value::Null)
        .await;
    let items = page["items"].as_array().unwrap();
    let t = items
        .iter()
        .find(|t| t["payment_method"] == "alipay")
        .unwrap();
    t["transaction_id"]
        .as_str()
        .unwrap()
        .trim_start_matches("txn")
        .to_string()
}

#[tokio::test]
async fn requests_and_reviews_are_checked_and_happen_once() {
    let mr = Mr::new().await;
    let empty = mr.venue(0).await;
    let (st, e) = ask(&mr, &empty, REASON).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
    );
    let v = mr.venue(5_000).await;
    let (st, _) = ask(&mr, &v, "太短").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, r) = ask(&mr, &v, REASON).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, _) = ask(&mr, &v, REASON).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "one pending request at a time");
    let refund_id = r["data"]["refund_id"].as_str().unwrap();
    let reject = format!("/mr/v1/finance/refunds/{refund_id}/reject");
    let admin = staff(&mr, "adm1", "admin", "mr").await;
    let (st, _) = mr
        .json(
            Method::POST,
            &reject,
            Some(&admin),
            json!({"reason": "退款原因不符合公司政策"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = mr
        .json(
            Method::POST,
            &reject,
            Some(&v.token),
            json!({"reason": "退款原因不符合公司政策"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let fin = staff(&mr, "fin2", "finance", "mr").await;
    let (st, _) = mr
        .json(Method::POST, &reject, Some(&fin), json!({"reason": "太短"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, ok) = mr
        .json(
            Method::POST,
            &reject,
            Some(&fin),
            json!({"reason": "退款原因不符合公司政策"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ok}");
    let (st, _) = mr
        .json(
            Method::POST,
            &reject,
            Some(&fin),
            json!({"reason": "退款原因不符合公司政策"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "reviewed once");
    let (st, mine) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/refunds",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(mine["items"][0]["status"], "rejected");
    assert_eq!(mine["items"][0]["reject_reason"], "退款原因不符合公司政策");
    assert_eq!(
        mr.balance(&v).await,
        "50.00",
        "a rejection changes no money"
    );
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/finance/refunds/refund_x/approve",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("REFUND_NOT_FOUND"))
    );
}

#[tokio::test]
async fn concurrent_approvals_refund_once() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let (_, r) = ask(&mr, &v, REASON).await;
    let refund_id = r["data"]["refund_id"].as_str().unwrap().to_string();
    let fin = staff(&mr, "fin3", "finance", "mr").await;
    let path = format!("/mr/v1/finance/refunds/{refund_id}/approve");
    let calls = (0..8).map(|_| mr.json(Method::POST, &path, Some(&fin), Value::Null));
    let answers = futures::future::join_all(calls).await;
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(st, _)| *st == StatusCode::OK || *st == StatusCode::BAD_REQUEST)
    );
    assert_eq!(mr.balance(&v).await, "0.00");
    let report = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}
