//! Recharges through the payment flow (issue #6 "Money"; contract `rechargeBalance`): WeChat
//! Pay Native and Alipay precreate against their simulators, notifications delivered by the
//! simulators to the URL MR named in its prepay request. On SQLite, PostgreSQL and MariaDB.

mod common;

use common::{Mr, Venue};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const RECHARGE: &str = "/mr/v1/operators/me/recharge";

async fn recharge(mr: &Mr, v: &Venue, amount: &str, method: &str) -> (StatusCode, Value) {
    let body = json!({"amount": amount, "payment_method": method});
    mr.json(Method::POST, RECHARGE, Some(&v.token), body).await
}

async fn recharges_in_history(mr: &Mr, v: &Venue) -> Vec<Value> {
    let path = "/mr/v1/operators/me/transactions?type=recharge";
    let (st, page) = mr
        .json(Method::GET, path, Some(&v.token), Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK);
    page["items"].as_array().unwrap().clone()
}

async fn ledger_balances(mr: &Mr) {
    let report = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

#[tokio::test]
async fn fifty_duplicate_wechat_notifications_credit_once() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (st, r) = recharge(&mr, &v, "500.00", "wechat").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    assert!(
        r["data"]["qr_code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://")
    );
    assert_eq!(r["data"]["amount"], "500.00");
    let (tx, url) = pay.wechat.mark_paid(&order).unwrap();
    assert_eq!(
        url,
        format!("{}/mr/v1/payments/wechat/notify", pay.base_url)
    );
    let body = pay.wechat.transaction_notification(&tx);
    let sends = (0..50).map(|_| pay.wechat.deliver(&url, body.clone()));
    for status in futures::future::join_all(sends).await {
        assert_eq!(status, Ok(204));
    }
    assert_eq!(mr.balance(&v).await, "500.00");
    let history = recharges_in_history(&mr, &v).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["payment_method"], "wechat");
    ledger_balances(&mr).await;
}

#[tokio::test]
async fn fifty_duplicate_alipay_notifications_credit_once() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (st, r) = recharge(&mr, &v, "88.8", "alipay").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    let t = pay.alipay.mark_paid(&order).unwrap();
    assert_eq!(
        t.notify_url,
        format!("{}/mr/v1/payments/alipay/notify", pay.base_url)
    );
    let params = pay.alipay.notification_params(&t);
    let sends = (0..50).map(|_| pay.alipay.deliver(&t.notify_url, &params));
    for answer in futures::future::join_all(sends).await {
        assert_eq!(answer, Ok(1));
    }
    assert_eq!(mr.balance(&v).await, "88.80");
    assert_eq!(recharges_in_history(&mr, &v).await.len(), 1);
    ledger_balances(&mr).await;
}

#[tokio::test]
async fn forged_stale_and_wrong_amount_notifications_credit_nothing() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (_, r) = recharge(&mr, &v, "100.00", "wechat").await;
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    let (tx, url) = pay.wechat.mark_paid(&order).unwrap();
    let http = reqwest::Client::new();
    let post = |headers: http::HeaderMap, body: Vec<u8>| {
        http.post(&url).headers(headers).body(body).send()
    };
    let body = pay.wechat.transaction_notification(&tx);
    let now = chrono::Utc::now().timestamp();
    // Stale: signed ten minutes ago.
    let stale = post(pay.wechat.signed_headers_at(&body, now - 600), body.clone());
    assert_eq!(stale.await.unwrap().status(), 401);
    // Forged: the body changed after signing.
    let mut forged = body.clone();
    forged.extend_from_slice(b" ");
    let headers = pay.wechat.signed_headers(&body);
    assert_eq!(post(headers, forged).await.unwrap().status(), 401);
    // Genuinely signed, but for another amount than the order's.
    let mut cheap = tx.clone();
    if let Some(a) = cheap.amount.as_mut() {
        a.total = 1;
        a.payer_total = Some(1);
    }
    let cheap = pay.wechat.transaction_notification(&cheap);
    let answer = post(pay.wechat.signed_headers(&cheap), cheap)
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    // Alipay: a tampered amount breaks the signature; the answer is `fail`.
    let (_, r) = recharge(&mr, &v, "100.00", "alipay").await;
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    let t = pay.alipay.mark_paid(&order).unwrap();
    let mut params = pay.alipay.notification_params(&t);
    for (k, val) in params.iter_mut() {
        if k == "total_amount" {
            *val = "0.01".into();
        }
    }
    let text = http
        .post(&t.notify_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(suanpan_payments::alipay::client::form_encode(&params))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "fail");
    assert_eq!(mr.balance(&v).await, "0.00");
    assert!(recharges_in_history(&mr, &v).await.is_empty());
}

#[tokio::test]
async fn amounts_and_methods_follow_the_contract_and_a_key_replays_the_order() {
    let mr = Mr::with_payments().await;
    let v = mr.venue(0).await;
    for (amount, method) in [
        ("9.99", "wechat"),
        ("10000.01", "alipay"),
        ("50", "cash"),
        ("1e3", "wechat"),
    ] {
        let (st, e) = recharge(&mr, &v, amount, method).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{amount} {method}: {e}");
        assert_eq!(e["error_code"], "INVALID_PARAMS");
    }
    let (st, _) = mr
        .json(
            Method::POST,
            RECHARGE,
            None,
            json!({"amount": "10", "payment_method": "wechat"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let keyed = |amount: &str| {
        let body =
            serde_json::to_vec(&json!({"amount": amount, "payment_method": "alipay"})).unwrap();
        let headers = vec![
            ("authorization", format!("Bearer {}", v.token)),
            ("idempotency-key", "recharge-1".to_string()),
        ];
        (body, headers)
    };
    let (b1, h1) = keyed("10");
    let (st, first) = mr.call(Method::POST, RECHARGE, &h1, Some(&b1)).await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let (st, again) = mr.call(Method::POST, RECHARGE, &h1, Some(&b1)).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(first["data"]["order_id"], again["data"]["order_id"]);
    assert_eq!(first["data"]["qr_code_url"], again["data"]["qr_code_url"]);
    let (b2, h2) = keyed("20");
    let (st, e) = mr.call(Method::POST, RECHARGE, &h2, Some(&b2)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}

#[tokio::test]
async fn a_lost_notification_is_settled_by_reconciliation() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (_, r) = recharge(&mr, &v, "66.00", "wechat").await;
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    pay.wechat.mark_paid(&order).unwrap();
    assert_eq!(mr.balance(&v).await, "0.00");
    mr.state.payments.reconcile(0, 0).await.unwrap();
    assert_eq!(mr.balance(&v).await, "66.00");
    mr.state.payments.reconcile(0, 0).await.unwrap();
    assert_eq!(recharges_in_history(&mr, &v).await.len(), 1);
}

#[tokio::test]
async fn without_a_configured_provider_recharge_is_payment_failed() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let (st, e) = recharge(&mr, &v, "10", "wechat").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["error_code"], "PAYMENT_FAILED");
}
