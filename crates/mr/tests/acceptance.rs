//! The acceptance scenarios of seed 004's spec.md (user stories 1–8 × 5; the "37" is a
//! miscount, see `docs/mr/acceptance-scenarios.md`), one test each, named after it. Each checks
//! the scenario's Given / When / Then through the HTTP API; other files test the same areas in
//! more depth. On SQLite, PostgreSQL and MariaDB.

mod common;

use common::{Mr, Venue, staff};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const AUTHORIZE: &str = common::AUTHORIZE;

async fn post(mr: &Mr, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    mr.json(Method::POST, path, Some(token), body).await
}

async fn put(mr: &Mr, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    mr.json(Method::PUT, path, Some(token), body).await
}

async fn ledger_ok(mr: &Mr) {
    let r = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(r.ok(), "{r:?}");
}

/// `v` playing at a second site of its operator, 上海门店, added through the site API.
async fn shanghai_site(mr: &Mr, v: &Venue) -> Venue {
    let (st, sh) = post(
        mr,
        "/mr/v1/operators/me/sites",
        &v.token,
        json!({"name": "上海门店", "address": "上海市浦东新区"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{sh}");
    Venue {
        site_id: sh["data"]["site_id"].as_str().unwrap().to_string(),
        ..v.clone()
    }
}

/// An operator whose only app is 太空探险 at 10.00 for 2–8 players, with `balance_fen`.
async fn space_venue(mr: &Mr, balance_fen: i64) -> (Venue, String) {
    let v = mr.venue(balance_fen).await;
    let app = mr.app("太空探险", 1_000, 2, 8).await;
    mr.grant(&v.operator_id, &app, None).await;
    (v, app)
}

// User story 1: game authorization and real-time billing.

#[tokio::test]
async fn us1_1_authorized_app_with_enough_balance_charges_players_times_price() {
    let mr = Mr::new().await;
    let (v, app) = space_venue(&mr, 50_000).await;
    let (st, r) = mr.play(&v, &app, 5).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let d = &r["data"];
    assert_eq!(
        (
            d["unit_price"].as_str(),
            d["total_cost"].as_str(),
            d["balance_after"].as_str()
        ),
        (Some("10.00"), Some("50.00"), Some("450.00"))
    );
    assert_eq!(
        (d["player_count"].as_i64(), d["app_name"].as_str()),
        (Some(5), Some("太空探险"))
    );
    assert_eq!(d["authorization_token"].as_str().unwrap().len(), 36);
    assert!(d["authorized_at"].is_string() && d["session_id"].is_string());
    assert_eq!(mr.balance(&v).await, "450.00");
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(
        (u["total"].as_i64(), u["items"][0]["total_cost"].as_str()),
        (Some(1), Some("50.00"))
    );
    let (_, t) = mr
        .get(
            "/mr/v1/operators/me/transactions?type=consumption",
            &v.token,
        )
        .await;
    assert_eq!(
        (t["total"].as_i64(), t["items"][0]["amount"].as_str()),
        (Some(1), Some("50.00"))
    );
    ledger_ok(&mr).await;
}

#[tokio::test]
async fn us1_2_balance_below_cost_is_refused_with_insufficient_balance() {
    let mr = Mr::new().await;
    let (v, app) = space_venue(&mr, 3_000).await;
    let (st, e) = mr.play(&v, &app, 5).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("INSUFFICIENT_BALANCE"))
    );
    assert_eq!(
        e["details"],
        json!({"current_balance": "30.00", "required_amount": "50.00", "shortage": "20.00"})
    );
    assert_eq!(mr.balance(&v).await, "30.00");
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(u["total"], 0);
}

#[tokio::test]
async fn us1_3_unauthorized_app_is_refused_with_app_not_authorized() {
    let mr = Mr::new().await;
    let v = mr.venue(50_000).await;
    let other = mr.app("星际战争", 1_500, 2, 6).await;
    let (st, e) = mr.play(&v, &other, 2).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("APP_NOT_AUTHORIZED"))
    );
    assert_eq!(
        (
            e["details"]["app_id"].as_str(),
            e["details"]["app_name"].as_str()
        ),
        (Some(other.as_str()), Some("星际战争"))
    );
    let expired = mr.app("僵尸围城", 1_000, 1, 8).await;
    mr.grant(
        &v.operator_id,
        &expired,
        Some(suanpan_core::time::now_ms() - 1_000),
    )
    .await;
    let (st, e) = mr.play(&v, &expired, 2).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("APP_NOT_AUTHORIZED"))
    );
    assert_eq!(mr.balance(&v).await, "500.00");
}

#[tokio::test]
async fn us1_4_player_count_outside_app_range_is_refused() {
    let mr = Mr::new().await;
    let (v, app) = space_venue(&mr, 50_000).await;
    for n in [1, 9] {
        let (st, e) = mr.play(&v, &app, n).await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("PLAYER_COUNT_OUT_OF_RANGE"))
        );
        assert_eq!(
            e["details"],
            json!({"min_players": 2, "max_players": 8, "requested_players": n})
        );
    }
    for n in [0, 101] {
        let (st, e) = mr.play(&v, &app, n).await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
        );
    }
    assert_eq!(mr.balance(&v).await, "500.00");
}

#[tokio::test]
async fn us1_5_repeated_session_id_returns_first_authorization_without_charging() {
    let mr = Mr::new().await;
    let (v, app) = space_venue(&mr, 50_000).await;
    let ts = common::now_secs();
    let sid = common::session(&v, ts);
    let body = json!({"app_id": app, "site_id": v.site_id, "player_count": 3});
    let (st, first) = mr.authorize(&v, &body, &sid, ts, false).await;
    assert_eq!(st, StatusCode::OK);
    let again = (0..20).map(|_| mr.authorize(&v, &body, &sid, ts, false));
    for (st, r) in futures::future::join_all(again).await {
        assert_eq!(st, StatusCode::OK);
        assert_eq!(r["data"], first["data"], "field for field");
    }
    assert_eq!(mr.balance(&v).await, "470.00");
    let other = json!({"app_id": app, "site_id": v.site_id, "player_count": 4});
    let (st, _) = mr.authorize(&v, &other, &sid, ts, false).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(u["total"], 1);
}

// User story 2: operator account and money.

#[tokio::test]
async fn us2_1_registration_creates_account_with_64_char_api_key_and_zero_balance() {
    let mr = Mr::new().await;
    let reg = json!({"username": "xingkong01", "password": "Passw0rdX", "name": "星空娱乐", "phone": "13800138000", "email": "a@example.com"});
    let (st, r) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/register",
            None,
            reg.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let key = r["data"]["api_key"].as_str().unwrap();
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        (
            r["data"]["balance"].as_str(),
            r["data"]["category"].as_str()
        ),
        (Some("0.00"), Some("trial"))
    );
    assert!(
        r["data"]["operator_id"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    );
    let (st, login) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": "xingkong01", "password": "Passw0rdX"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, me) = mr
        .get(
            "/mr/v1/operators/me",
            login["data"]["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(me["data"]["name"], "星空娱乐");
    let (st, e) = mr
        .json(Method::POST, "/mr/v1/auth/operators/register", None, reg)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("USERNAME_EXISTS"))
    );
}

#[tokio::test]
async fn us2_2_wechat_recharge_of_100_credits_balance_and_lists_transaction() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (st, r) = post(
        &mr,
        "/mr/v1/operators/me/recharge",
        &v.token,
        json!({"amount": "100.00", "payment_method": "wechat"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert!(
        r["data"]["qr_code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://")
    );
    let expires =
        suanpan_core::time::parse_rfc3339(r["data"]["expires_at"].as_str().unwrap()).unwrap();
    let left = expires - suanpan_core::time::now_ms();
    assert!((14 * 60_000..=15 * 60_000).contains(&left), "{left}");
    let order = r["data"]["order_id"].as_str().unwrap();
    let (tx, url) = pay.wechat.mark_paid(order).unwrap();
    let n = pay.wechat.transaction_notification(&tx);
    for _ in 0..51 {
        assert_eq!(pay.wechat.deliver(&url, n.clone()).await, Ok(204));
    }
    assert_eq!(mr.balance(&v).await, "100.00");
    let (_, t) = mr
        .get("/mr/v1/operators/me/transactions?type=recharge", &v.token)
        .await;
    assert_eq!(t["total"], 1);
    assert_eq!(
        t["items"][0],
        json!({"transaction_id": t["items"][0]["transaction_id"], "type": "recharge", "amount": "100.00", "balance_after": "100.00", "created_at": t["items"][0]["created_at"], "payment_method": "wechat"})
    );
    for amount in ["9.99", "10000.01"] {
        let (st, e) = post(
            &mr,
            "/mr/v1/operators/me/recharge",
            &v.token,
            json!({"amount": amount, "payment_method": "wechat"}),
        )
        .await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
        );
    }
}

#[tokio::test]
async fn us2_3_approved_refund_returns_remaining_50_and_account_stays_usable() {
    let mr = Mr::with_payments().await;
    let v = mr.venue(0).await;
    let order = mr.paid_recharge(&v, "100.00", "wechat").await;
    assert_eq!(mr.play(&v, &v.app_id, 5).await.0, StatusCode::OK);
    let (st, r) = post(
        &mr,
        "/mr/v1/operators/me/refunds",
        &v.token,
        json!({"reason": "业务调整，不再继续使用"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(
        (
            r["data"]["requested_amount"].as_str(),
            r["data"]["status"].as_str()
        ),
        (Some("50.00"), Some("pending"))
    );
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let approve = format!(
        "/mr/v1/finance/refunds/{}/approve",
        r["data"]["refund_id"].as_str().unwrap()
    );
    let (st, a) = post(&mr, &approve, &fin, Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(
        (
            a["data"]["actual_refund_amount"].as_str(),
            a["data"]["balance_after"].as_str()
        ),
        (Some("50.00"), Some("0.00"))
    );
    assert_eq!(mr.balance(&v).await, "0.00");
    let recharge =
        suanpan_mr::store::recharges::by_order_id(&mr.state.core.db, &v.operator_id, &order)
            .await
            .unwrap()
            .unwrap();
    let trade = mr
        .state
        .payments
        .trade_of("mr", recharge.id)
        .await
        .unwrap()
        .unwrap();
    let refunds = mr.state.payments.refunds_of(trade.id).await.unwrap();
    assert_eq!(
        refunds.iter().map(|r| r.amount_fen).collect::<Vec<_>>(),
        [5_000],
        "a provider refund of 50.00"
    );
    let (st, _) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": me_username(&mr, &v).await, "password": "Passw0rdX"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "the account stays usable");
    mr.paid_recharge(&v, "20.00", "alipay").await;
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
    let (st, e) = post(&mr, &approve, &fin, Value::Null).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
    );
}

async fn me_username(mr: &Mr, v: &Venue) -> String {
    let (_, me) = mr.get("/mr/v1/operators/me", &v.token).await;
    me["data"]["username"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn us2_4_approved_invoice_offers_pdf_download() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let ask = |amount: &str| json!({"amount": amount, "invoice_title": "北京星空娱乐有限公司", "tax_id": "91110000123456789X"});
    let (st, e) = post(&mr, "/mr/v1/operators/me/invoices", &v.token, ask("100.01")).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "above the total recharged"
    );
    let (st, r) = post(&mr, "/mr/v1/operators/me/invoices", &v.token, ask("100.00")).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let id = r["data"]["invoice_id"].as_str().unwrap();
    let (st, a) = post(
        &mr,
        &format!("/mr/v1/finance/invoices/{id}/approve"),
        &fin,
        Value::Null,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let url = a["data"]["pdf_url"].as_str().unwrap();
    assert!(
        url.starts_with("http://") || url.starts_with("https://"),
        "absolute: {url}"
    );
    let (_, list) = mr.get("/mr/v1/operators/me/invoices", &v.token).await;
    assert_eq!(
        (
            list["items"][0]["status"].as_str(),
            list["items"][0]["pdf_url"].as_str()
        ),
        (Some("approved"), Some(url))
    );
    let path = &url[url.find("/mr/v1/").unwrap()..];
    let (st, ct, pdf) = mr.download(path, &v.token).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/FontFile2") && text.contains("/ToUnicode"),
        "a CJK font subset with its text map"
    );
}

#[tokio::test]
async fn us2_5_failed_payment_leaves_balance_unchanged_and_marks_recharge_failed() {
    let mr = Mr::with_payments().await;
    let pay = mr.pay.as_ref().unwrap();
    let v = mr.venue(0).await;
    let (_, r) = post(
        &mr,
        "/mr/v1/operators/me/recharge",
        &v.token,
        json!({"amount": "100.00", "payment_method": "alipay"}),
    )
    .await;
    let order = r["data"]["order_id"].as_str().unwrap().to_string();
    let status_path = format!("/mr/v1/operators/me/recharges/{order}");
    let (_, s) = mr.get(&status_path, &v.token).await;
    assert_eq!(s["data"]["status"], "pending");
    let mut t = pay.alipay.trade(&order).unwrap();
    t.status = "TRADE_CLOSED".into();
    let params = pay.alipay.notification_params(&t);
    assert_eq!(pay.alipay.deliver(&t.notify_url, &params).await, Ok(1));
    let (_, s) = mr.get(&status_path, &v.token).await;
    assert_eq!(s["data"]["status"], "failed", "{s}");
    assert_eq!(mr.balance(&v).await, "0.00");
    let (_, tx) = mr
        .get("/mr/v1/operators/me/transactions?type=recharge", &v.token)
        .await;
    assert_eq!(tx["total"], 0);
}

// User story 3: sites and app authorization.

#[tokio::test]
async fn us3_1_created_site_appears_in_site_list() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let (st, s) = post(
        &mr,
        "/mr/v1/operators/me/sites",
        &v.token,
        json!({"name": "北京门店", "address": "北京朝阳区"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    assert_eq!(s["data"]["is_deleted"], false);
    let (_, list) = mr.get("/mr/v1/operators/me/sites", &v.token).await;
    let names: Vec<&str> = list["data"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"北京门店"), "{list}");
}

#[tokio::test]
async fn us3_2_headset_server_credentials_and_site_are_accepted() {
    let mr = Mr::new().await;
    let v = mr.venue(1_000).await;
    let w = mr.venue(0).await;
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
    let foreign = Venue {
        site_id: w.site_id.clone(),
        ..v.clone()
    };
    let (st, e) = mr.play(&foreign, &v.app_id, 1).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("SITE_NOT_FOUND"))
    );
    let unknown = Venue {
        api_key: "k".repeat(64),
        ..v.clone()
    };
    let (st, e) = mr.play(&unknown, &v.app_id, 1).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY"))
    );
    let ts = common::now_secs();
    let raw =
        serde_json::to_vec(&json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 8}))
            .unwrap();
    let headers = common::signed(&v, &raw, &common::session(&v, ts), ts, false);
    let tampered =
        serde_json::to_vec(&json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 9}))
            .unwrap();
    let (st, e) = mr
        .call(Method::POST, AUTHORIZE, &headers, Some(&tampered))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_SIGNATURE")),
        "even though the balance would not cover it"
    );
}

#[tokio::test]
async fn us3_3_authorized_apps_list_shows_price_range_and_permanence() {
    let mr = Mr::new().await;
    let (v, app) = space_venue(&mr, 0).await;
    let (_, list) = mr
        .get("/mr/v1/operators/me/authorized-apps", &v.token)
        .await;
    let items = list["data"]["applications"].as_array().unwrap().clone();
    let e = items.iter().find(|a| a["app_id"] == app.as_str()).unwrap();
    assert_eq!(
        (
            e["unit_price"].as_str(),
            e["min_players"].as_i64(),
            e["max_players"].as_i64()
        ),
        (Some("10.00"), Some(2), Some(8))
    );
    assert!(
        e["expires_at"].is_null() && e["authorized_at"].is_string(),
        "{e}"
    );
}

#[tokio::test]
async fn us3_4_app_request_is_submitted_as_pending() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let app = mr.app("星际战争", 1_500, 2, 6).await;
    let (st, r) = post(
        &mr,
        "/mr/v1/operators/me/app-requests",
        &v.token,
        json!({"app_id": app, "reason": "门店新开业需要这款游戏"}),
    )
    .await;
    assert_eq!(
        (st, r["data"]["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{r}"
    );
    let (_, mine) = mr
        .get("/mr/v1/operators/me/app-requests?status=pending", &v.token)
        .await;
    assert_eq!(mine["total"], 1);
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (_, all) = mr.get("/mr/v1/admin/app-requests", &admin).await;
    assert_eq!(all["items"][0]["operator_name"], "测试场馆");
    let (st, e) = post(
        &mr,
        "/mr/v1/operators/me/app-requests",
        &v.token,
        json!({"app_id": v.app_id, "reason": "想要继续使用这款游戏"}),
    )
    .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
    );
    let (st, e) = post(
        &mr,
        "/mr/v1/operators/me/app-requests",
        &v.token,
        json!({"app_id": "appnone", "reason": "想要开通这款新游戏体验"}),
    )
    .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("APP_NOT_FOUND"))
    );
}

#[tokio::test]
async fn us3_5_deleted_site_is_hidden_but_history_kept() {
    let mr = Mr::new().await;
    let v = mr.venue(1_000).await;
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
    let site = format!("/mr/v1/operators/me/sites/{}", v.site_id);
    let (st, _) = mr
        .json(Method::DELETE, &site, Some(&v.token), Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, list) = mr.get("/mr/v1/operators/me/sites", &v.token).await;
    assert!(!list.to_string().contains(&v.site_id), "{list}");
    let (_, all) = mr
        .get("/mr/v1/operators/me/sites?include_deleted=true", &v.token)
        .await;
    assert!(
        all.to_string().contains(&v.site_id) && all.to_string().contains("\"is_deleted\":true"),
        "{all}"
    );
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(u["items"][0]["site_name"], "一号店");
    let (st, e) = mr.play(&v, &v.app_id, 1).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("SITE_NOT_FOUND"))
    );
    let (st, _) = put(&mr, &site, &v.token, json!({"name": "新名字"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = mr
        .json(Method::DELETE, &site, Some(&v.token), Value::Null)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

// User story 4: usage records and statistics.

#[tokio::test]
async fn us4_1_usage_records_list_each_game_with_full_detail() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    for n in [1, 2, 3] {
        assert_eq!(mr.play(&v, &v.app_id, n).await.0, StatusCode::OK);
    }
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(u["total"], 3);
    let first = &u["items"][0];
    for field in [
        "created_at",
        "site_id",
        "site_name",
        "app_id",
        "app_name",
        "player_count",
        "unit_price",
        "total_cost",
        "session_id",
    ] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert_eq!(first["player_count"], 3, "newest first");
}

#[tokio::test]
async fn us4_2_site_statistics_rank_beijing_above_shanghai() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    let shanghai = shanghai_site(&mr, &v).await;
    for _ in 0..5 {
        assert_eq!(mr.play(&v, &v.app_id, 2).await.0, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_eq!(mr.play(&shanghai, &v.app_id, 2).await.0, StatusCode::OK);
    }
    let (_, s) = mr
        .get("/mr/v1/operators/me/statistics/by-site", &v.token)
        .await;
    let sites = s["data"]["sites"].as_array().unwrap();
    assert_eq!(
        (
            sites[0]["total_sessions"].as_i64(),
            sites[1]["total_sessions"].as_i64()
        ),
        (Some(5), Some(3))
    );
    assert_eq!(
        (
            sites[0]["total_cost"].as_str(),
            sites[1]["total_cost"].as_str()
        ),
        (Some("100.00"), Some("60.00"))
    );
}

#[tokio::test]
async fn us4_3_monthly_view_shows_daily_consumption_trend() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    // Ten games on three past days (the clock cannot move, so each charge's records are written
    // as the charge writes them: usage record, daily rollup, transaction).
    let day = 86_400_000;
    let base =
        suanpan_core::time::china_day_range(chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap())
            .0
            + 3_600_000;
    let db = &mr.state.core.db;
    for (i, at) in [
        (0, base),
        (1, base),
        (2, base),
        (3, base + day),
        (4, base + day),
        (5, base + 2 * day),
        (6, base + 2 * day),
        (7, base + 2 * day),
        (8, base + 2 * day),
        (9, base + 2 * day),
    ] {
        let usage = suanpan_mr::store::usage::Usage {
            usage_id: format!("u{i}"),
            session_id: format!("s{i}"),
            operator_id: v.operator_id.clone(),
            site_id: v.site_id.clone(),
            app_id: v.app_id.clone(),
            player_count: 2,
            unit_price_fen: 1_000,
            total_cost_fen: 2_000,
            authorization_token: "t".into(),
            created_at: at,
            client_ip: None,
        };
        let mut b = suanpan_core::db::Batch::new();
        suanpan_mr::store::usage::push_charge(&mut b, db.dialect, 1_000 + i, &usage, 0);
        let mut tx = db.begin().await.unwrap();
        b.execute(&mut tx, db.dialect).await.unwrap();
        tx.commit().await.unwrap();
    }
    let path = "/mr/v1/operators/me/statistics/consumption?dimension=day&start_time=2026-11-01T00:00:00%2B08:00&end_time=2026-12-01T00:00:00%2B08:00";
    let (st, c) = mr.get(path, &v.token).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let points: Vec<(String, i64, i64, String)> = c["data"]["chart_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["date"].as_str().unwrap().to_string(),
                p["total_sessions"].as_i64().unwrap(),
                p["total_players"].as_i64().unwrap(),
                p["total_cost"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        points,
        [
            ("2026-11-03".to_string(), 3, 6, "60.00".to_string()),
            ("2026-11-04".into(), 2, 4, "40.00".into()),
            ("2026-11-05".into(), 5, 10, "100.00".into())
        ]
    );
}

#[tokio::test]
async fn us4_4_usage_export_downloads_excel_with_every_record() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    for _ in 0..3 {
        assert_eq!(mr.play(&v, &v.app_id, 2).await.0, StatusCode::OK);
    }
    let (st, ct, xlsx) = mr
        .download(
            "/mr/v1/operators/me/usage-records/export?format=xlsx",
            &v.token,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.contains("spreadsheetml") && xlsx.starts_with(b"PK"));
    let (_, _, csv) = mr
        .download(
            "/mr/v1/operators/me/usage-records/export?format=csv",
            &v.token,
        )
        .await;
    assert!(csv.starts_with(&[0xEF, 0xBB, 0xBF]));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert_eq!(
        text.matches("一号店,太空探险").count(),
        3,
        "every record, Chinese intact: {text}"
    );
}

#[tokio::test]
async fn us4_5_app_statistics_show_sessions_players_average_and_cost() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    for n in [2, 3, 5] {
        assert_eq!(mr.play(&v, &v.app_id, n).await.0, StatusCode::OK);
    }
    let (_, s) = mr
        .get("/mr/v1/operators/me/statistics/by-app", &v.token)
        .await;
    let a = &s["data"]["applications"][0];
    assert_eq!(
        (
            a["total_sessions"].as_i64(),
            a["total_players"].as_i64(),
            a["total_cost"].as_str()
        ),
        (Some(3), Some(10), Some("100.00"))
    );
    assert_eq!(a["avg_players_per_session"], 3.33);
}

// User story 5: the admin.

#[tokio::test]
async fn us5_1_admin_creates_operator_with_api_key_and_category() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let body = json!({"username": "newvenue1", "password": "Passw0rdX", "name": "新场馆", "phone": "13900139000", "email": "n@example.com", "category": "normal"});
    let (st, r) = post(&mr, "/mr/v1/admin/operators", &admin, body.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["data"]["api_key"].as_str().unwrap().len(),
            r["data"]["category"].as_str(),
            r["data"]["balance"].as_str()
        ),
        (64, Some("normal"), Some("0.00"))
    );
    let (st, _) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": "newvenue1", "password": "Passw0rdX"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let v = mr.venue(0).await;
    // An operator's token is no back-office token at all: 401 (the spec's 403 is for a
    // back-office account of another role, tested in admin.rs).
    let (st, e) = post(&mr, "/mr/v1/admin/operators", &v.token, body).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
}

#[tokio::test]
async fn us5_2_approved_app_request_lets_operator_authorize_at_once() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let app = mr.app("太空探险二", 1_000, 2, 8).await;
    let (_, r) = post(
        &mr,
        "/mr/v1/operators/me/app-requests",
        &v.token,
        json!({"app_id": app, "reason": "门店新开业需要这款游戏"}),
    )
    .await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let approve = format!(
        "/mr/v1/admin/app-requests/{}/approve",
        r["data"]["request_id"].as_str().unwrap()
    );
    let (st, a) = post(&mr, &approve, &admin, json!({"expires_at": null})).await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let (_, mine) = mr.get("/mr/v1/operators/me/app-requests", &v.token).await;
    assert_eq!(mine["items"][0]["status"], "approved");
    assert!(
        mine["items"][0]["reviewed_by"].is_string() && mine["items"][0]["reviewed_at"].is_string()
    );
    assert_eq!(mr.play(&v, &app, 2).await.0, StatusCode::OK);
    let (st, _) = post(&mr, &approve, &admin, json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn us5_3_price_change_applies_to_new_games_and_keeps_history() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, r) = put(
        &mr,
        &format!("/mr/v1/admin/applications/{}/price", v.app_id),
        &admin,
        json!({"unit_price": "12.00"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (
            r["data"]["old_price"].as_str(),
            r["data"]["new_price"].as_str(),
            r["data"]["notified_operators_count"].as_i64()
        ),
        (Some("10.00"), Some("12.00"), Some(1))
    );
    let (_, a) = mr.play(&v, &v.app_id, 1).await;
    assert_eq!(a["data"]["unit_price"], "12.00");
    let (_, u) = mr.get("/mr/v1/operators/me/usage-records", &v.token).await;
    assert_eq!(u["items"][1]["unit_price"], "10.00");
}

#[tokio::test]
async fn us5_4_forced_api_key_reset_invalidates_old_key() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let reset = format!("/mr/v1/admin/operators/{}/api-key/reset", v.operator_id);
    let (st, r) = post(
        &mr,
        &reset,
        &admin,
        json!({"reason": "密钥疑似泄露，强制重置"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let new_key = r["data"]["api_key"].as_str().unwrap().to_string();
    assert!(new_key.len() == 64 && new_key != v.api_key);
    let (st, e) = mr.play(&v, &v.app_id, 1).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY"))
    );
    let renewed = Venue {
        api_key: new_key.clone(),
        ..v.clone()
    };
    assert_eq!(mr.play(&renewed, &v.app_id, 1).await.0, StatusCode::OK);
    let (_, k) = mr
        .get(
            &format!("/mr/v1/admin/operators/{}/api-key", v.operator_id),
            &admin,
        )
        .await;
    assert_eq!(k["data"]["api_key"], new_key.as_str());
}

#[tokio::test]
async fn us5_5_admin_upgrades_operator_category_to_vip() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, _) = put(
        &mr,
        &format!("/mr/v1/admin/operators/{}/category", v.operator_id),
        &admin,
        json!({"category": "vip", "reason": "月消费达标升级"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, d) = mr
        .get(&format!("/mr/v1/admin/operators/{}", v.operator_id), &admin)
        .await;
    assert_eq!(d["data"]["category"], "vip");
    let (_, l) = mr.get("/mr/v1/admin/operators?category=vip", &admin).await;
    assert_eq!(l["items"][0]["operator_id"], v.operator_id.as_str());
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (_, t) = mr.get("/mr/v1/finance/top-customers", &fin).await;
    assert_eq!(t["data"]["customers"][0]["category"], "vip");
}

// User story 6: finance.

#[tokio::test]
async fn us6_1_finance_dashboard_shows_today_totals_and_month_trend() {
    let mr = Mr::new().await;
    let a = mr.venue(60_000).await;
    let _b = mr.venue(40_000).await; // recharges today: 600.00 + 400.00
    for n in [8, 8, 8, 8, 8, 8, 2] {
        assert_eq!(mr.play(&a, &a.app_id, n).await.0, StatusCode::OK); // 500.00 consumed
    }
    let (_, r) = post(
        &mr,
        "/mr/v1/operators/me/refunds",
        &a.token,
        json!({"reason": "业务调整，不再继续使用"}),
    )
    .await;
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let approve = format!(
        "/mr/v1/finance/refunds/{}/approve",
        r["data"]["refund_id"].as_str().unwrap()
    );
    let (_, ok) = post(&mr, &approve, &fin, Value::Null).await;
    assert_eq!(ok["data"]["actual_refund_amount"], "100.00");
    let (_, d) = mr.get("/mr/v1/finance/dashboard", &fin).await;
    let d = &d["data"];
    assert_eq!(
        (
            d["today_recharge"].as_str(),
            d["today_consumption"].as_str(),
            d["today_refund"].as_str()
        ),
        (Some("1000.00"), Some("500.00"), Some("100.00"))
    );
    assert_eq!(
        d["today_net_income"], "900.00",
        "recharge − refund (the YAML's rule)"
    );
    assert_eq!(
        (
            d["total_operators"].as_i64(),
            d["active_operators_today"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let (_, t) = mr.get("/mr/v1/finance/dashboard/trends", &fin).await;
    let today = t["data"]["chart_data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["recharge"] != "0.00")
        .unwrap()
        .clone();
    assert_eq!(
        (
            today["consumption"].as_str(),
            today["refund"].as_str(),
            today["net_income"].as_str()
        ),
        (Some("500.00"), Some("100.00"), Some("900.00"))
    );
    assert_eq!(t["data"]["summary"]["total_net_income"], "900.00");
}

#[tokio::test]
async fn us6_2_top_customers_rank_top_10_by_consumption_with_share() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let mut venues = Vec::new();
    for i in 0..12 {
        let v = mr.venue(100_000).await;
        for _ in 0..=i {
            assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK);
        }
        if i % 4 == 0 {
            put(
                &mr,
                &format!("/mr/v1/admin/operators/{}/category", v.operator_id),
                &admin,
                json!({"category": "vip"}),
            )
            .await;
        }
        venues.push(v);
    }
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (_, t) = mr.get("/mr/v1/finance/top-customers", &fin).await;
    let rows = t["data"]["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["rank"], i + 1);
        assert_eq!(
            r["operator_id"],
            venues[11 - i].operator_id.as_str(),
            "most consumption first"
        );
    }
    assert_eq!(rows[3]["category"], "vip", "the 9th venue (index 8) is vip");
    assert_eq!(t["data"]["total_consumption"], "780.00");
    assert_eq!(rows[0]["consumption_percentage"], 15.38);
}

#[tokio::test]
async fn us6_3_refund_review_shows_operator_finances_and_approval_zeroes_balance() {
    let mr = Mr::new().await;
    let v = mr.venue(50_000).await;
    for _ in 0..5 {
        assert_eq!(mr.play(&v, &v.app_id, 8).await.0, StatusCode::OK); // 400.00
    }
    let (_, r) = post(
        &mr,
        "/mr/v1/operators/me/refunds",
        &v.token,
        json!({"reason": "业务调整，不再继续使用"}),
    )
    .await;
    assert_eq!(r["data"]["requested_amount"], "100.00");
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let id = r["data"]["refund_id"].as_str().unwrap();
    let (_, d) = mr.get(&format!("/mr/v1/finance/refunds/{id}"), &fin).await;
    let f = &d["data"]["operator_finance"];
    assert_eq!(
        (
            f["total_recharged"].as_str(),
            f["total_consumed"].as_str(),
            f["current_balance"].as_str()
        ),
        (Some("500.00"), Some("400.00"), Some("100.00"))
    );
    assert_eq!(mr.play(&v, &v.app_id, 3).await.0, StatusCode::OK); // 30.00 during review
    let (_, a) = post(
        &mr,
        &format!("/mr/v1/finance/refunds/{id}/approve"),
        &fin,
        Value::Null,
    )
    .await;
    assert_eq!(
        (
            a["data"]["actual_refund_amount"].as_str(),
            a["data"]["balance_after"].as_str()
        ),
        (Some("70.00"), Some("0.00"))
    );
    ledger_ok(&mr).await;
}

#[tokio::test]
async fn us6_4_monthly_pdf_report_contains_income_customers_and_usage() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    assert_eq!(mr.play(&v, &v.app_id, 2).await.0, StatusCode::OK);
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let month = suanpan_core::time::china_today()
        .format("%Y-%m")
        .to_string();
    let (y, m): (i32, u32) = (month[..4].parse().unwrap(), month[5..].parse().unwrap());
    let last = chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .unwrap()
        .checked_add_months(chrono::Months::new(1))
        .unwrap()
        .pred_opt()
        .unwrap();
    let body = |format: &str| json!({"report_type": "monthly", "start_date": format!("{month}-01"), "end_date": last.format("%Y-%m-%d").to_string(), "format": format, "include_sections": ["income_summary", "top_customers", "usage_statistics"]});
    let (st, r) = post(&mr, "/mr/v1/finance/reports/generate", &fin, body("pdf")).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert!(matches!(
        r["data"]["status"].as_str(),
        Some("generating" | "completed")
    ));
    let (_, list) = mr.get("/mr/v1/finance/reports", &fin).await;
    assert_eq!(list["items"][0]["status"], "completed");
    let id = r["data"]["report_id"].as_str().unwrap();
    let (st, ct, pdf) = mr
        .download(&format!("/mr/v1/finance/reports/{id}/download"), &fin)
        .await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF"));
    let (_, _, csv) = mr
        .download(
            &format!("/mr/v1/finance/reports/{id}/download?format=csv"),
            &fin,
        )
        .await;
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(
        text.contains("收入汇总") && text.contains("TOP客户") && text.contains("应用使用统计"),
        "the three sections: {text}"
    );
    let (st, r) = post(&mr, "/mr/v1/finance/reports/generate", &fin, body("excel")).await;
    assert_eq!(st, StatusCode::CREATED);
    let id = r["data"]["report_id"].as_str().unwrap();
    let (_, _, xlsx) = mr
        .download(&format!("/mr/v1/finance/reports/{id}/download"), &fin)
        .await;
    assert!(xlsx.starts_with(b"PK"));
    let (st, e) = mr
        .get("/mr/v1/finance/reports/rpt_none/download", &fin)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("REPORT_NOT_READY"))
    );
}

#[tokio::test]
async fn us6_5_refund_approval_is_in_audit_log_with_operator_amount_and_ip() {
    let mr = Mr::with(|core, s| {
        core.trust_proxy_headers = true;
        s.rate_limits = "off".into();
    })
    .await;
    let v = mr.venue(10_000).await;
    let (_, r) = post(
        &mr,
        "/mr/v1/operators/me/refunds",
        &v.token,
        json!({"reason": "业务调整，不再继续使用"}),
    )
    .await;
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let id = r["data"]["refund_id"].as_str().unwrap();
    let headers = [
        ("authorization", format!("Bearer {fin}")),
        ("x-forwarded-for", "192.168.1.100".to_string()),
    ];
    let (st, _) = mr
        .call(
            Method::POST,
            &format!("/mr/v1/finance/refunds/{id}/approve"),
            &headers,
            Some(b"{}"),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = mr
        .call(
            Method::POST,
            &format!("/mr/v1/finance/refunds/{id}/approve"),
            &headers,
            Some(b"{}"),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "a failed approval leaves no entry"
    );
    let (_, logs) = mr
        .get(
            "/mr/v1/finance/audit-logs?operation_type=refund_approve",
            &fin,
        )
        .await;
    assert_eq!(logs["total"], 1);
    let e = &logs["items"][0];
    assert_eq!(
        (
            e["finance_name"].as_str(),
            e["target_resource_id"].as_str(),
            e["ip_address"].as_str()
        ),
        (Some("fin"), Some(id), Some("192.168.1.100"))
    );
    assert!(e["finance_id"].is_string() && e["created_at"].is_string());
    assert_eq!(
        (
            e["operation_details"]["operator_id"].as_str(),
            e["operation_details"]["refund_amount"].as_str()
        ),
        (Some(v.operator_id.as_str()), Some("100.00"))
    );
}

// User story 7: global statistics (beyond the contract: FR-047, FR-048).

#[tokio::test]
async fn us7_1_global_dashboard_shows_operators_sessions_players_revenue() {
    let mr = Mr::new().await;
    let a = mr.venue(10_000).await;
    let b = mr.venue(10_000).await;
    for (v, n) in [(&a, 2), (&a, 3), (&b, 4)] {
        assert_eq!(mr.play(v, &v.app_id, n).await.0, StatusCode::OK);
    }
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (_, o) = mr.get("/mr/v1/statistics/overview", &fin).await;
    let d = &o["data"];
    assert_eq!(
        (
            d["total_operators"].as_i64(),
            d["sessions"].as_i64(),
            d["players"].as_i64(),
            d["cost"].as_str()
        ),
        (Some(2), Some(3), Some(9), Some("90.00"))
    );
}

#[tokio::test]
async fn us7_2_global_app_ranking_shows_sessions_players_average_and_revenue() {
    let mr = Mr::new().await;
    let a = mr.venue(100_000).await;
    let b = mr.venue(100_000).await;
    let war = mr.app("星际战争", 2_000, 1, 8).await;
    mr.grant(&b.operator_id, &war, None).await;
    for (v, app, n) in [
        (&a, a.app_id.clone(), 2),
        (&b, war.clone(), 3),
        (&b, war.clone(), 5),
    ] {
        assert_eq!(mr.play(v, &app, n).await.0, StatusCode::OK);
    }
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (_, r) = mr.get("/mr/v1/statistics/by-app", &admin).await;
    let apps = r["data"]["apps"].as_array().unwrap();
    assert_eq!(apps[0]["app_id"], war.as_str(), "most revenue first");
    assert_eq!(
        (
            apps[0]["sessions"].as_i64(),
            apps[0]["players"].as_i64(),
            apps[0]["cost"].as_str()
        ),
        (Some(2), Some(8), Some("160.00"))
    );
    assert_eq!(apps[0]["avg_players_per_session"], 4.0);
    assert_eq!(apps[1]["cost"], "20.00");
}

#[tokio::test]
async fn us7_3_player_count_distribution_buckets_sessions() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    for n in [2, 3, 4, 5, 8] {
        assert_eq!(mr.play(&v, &v.app_id, n).await.0, StatusCode::OK);
    }
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (_, d) = mr.get("/mr/v1/statistics/player-distribution", &fin).await;
    let by = &d["data"]["apps"][0]["sessions_by_players"];
    assert_eq!(by, &json!({"1": 0, "2": 1, "3-4": 2, "5-8": 2, "9+": 0}));
    let total: i64 = by
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(
        total,
        d["data"]["apps"][0]["total_sessions"].as_i64().unwrap(),
        "the buckets add up to 100 %"
    );
}

#[tokio::test]
async fn us7_4_selected_sites_compare_over_time() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    let other = shanghai_site(&mr, &v).await;
    assert_eq!(mr.play(&v, &v.app_id, 2).await.0, StatusCode::OK);
    assert_eq!(mr.play(&other, &v.app_id, 3).await.0, StatusCode::OK);
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let path = format!(
        "/mr/v1/statistics/site-trend?site_id={},{}&dimension=day",
        v.site_id, other.site_id
    );
    let (_, t) = mr.get(&path, &admin).await;
    let series = t["data"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "one series per site");
    assert_eq!(
        series[0]["points"][0]["date"], series[1]["points"][0]["date"],
        "aligned on the same dates"
    );
}

#[tokio::test]
async fn us7_5_global_csv_export_holds_every_dimension() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    assert_eq!(mr.play(&v, &v.app_id, 2).await.0, StatusCode::OK);
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (st, ct, csv) = mr
        .download("/mr/v1/statistics/export?format=csv", &fin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.starts_with("text/csv") && csv.starts_with(&[0xEF, 0xBB, 0xBF]));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    for section in [
        "总览",
        "应用排行",
        "运营商×应用",
        "场地×日期",
        "应用×玩家人数",
    ] {
        assert!(text.contains(section), "{section} in {text}");
    }
    assert!(text.contains("测试场馆") && text.contains("一号店") && text.contains("太空探险"));
    let (st, _, xlsx) = mr
        .download("/mr/v1/statistics/export?format=xlsx", &fin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(xlsx.starts_with(b"PK"));
}

// User story 8: messages.

#[tokio::test]
async fn us8_1_announcement_shows_as_one_unread_message() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let _w = mr.venue(0).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, r) = post(&mr, "/mr/v1/admin/announcements", &admin, json!({"title": "春节假期运营时间调整", "content": "春节期间客服时间调整为每天十点至十八点。", "target_operators": []})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert!(r["data"]["announcement_id"].is_string());
    assert_eq!(r["data"]["recipients_count"], 2);
    let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
    assert_eq!(m["unread_count"], 1);
    assert_eq!(
        (
            m["items"][0]["type"].as_str(),
            m["items"][0]["is_read"].as_bool()
        ),
        (Some("system"), Some(false))
    );
}

#[tokio::test]
async fn us8_2_balance_below_threshold_sends_low_balance_reminder() {
    let mr = Mr::new().await;
    let v = mr.venue(12_000).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    put(
        &mr,
        &format!("/mr/v1/admin/operators/{}/category", v.operator_id),
        &admin,
        json!({"category": "normal"}),
    )
    .await;
    let low = |m: &Value| {
        m["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["type"] == "balance_low")
            .count()
    };
    assert_eq!(mr.play(&v, &v.app_id, 3).await.0, StatusCode::OK); // 120.00 → 90.00
    let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
    assert_eq!(low(&m), 1);
    assert_eq!(mr.play(&v, &v.app_id, 1).await.0, StatusCode::OK); // 80.00: no second one
    let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
    assert_eq!(low(&m), 1);
    suanpan_mr::service::operators::credit(&mr.state, &v.operator_id, 5_000, "manual", "top-up")
        .await
        .unwrap(); // 130.00
    assert_eq!(mr.play(&v, &v.app_id, 4).await.0, StatusCode::OK); // 90.00: a new crossing
    let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
    assert_eq!(low(&m), 2);
}

#[tokio::test]
async fn us8_3_price_change_notifies_every_authorized_operator() {
    let mr = Mr::new().await;
    let app = mr.app("太空探险", 1_000, 1, 8).await;
    let mut authorized = Vec::new();
    for _ in 0..3 {
        let v = mr.venue(0).await;
        mr.grant(&v.operator_id, &app, None).await;
        authorized.push(v);
    }
    let outsider = mr.venue(0).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (_, r) = put(
        &mr,
        &format!("/mr/v1/admin/applications/{app}/price"),
        &admin,
        json!({"unit_price": "12.00"}),
    )
    .await;
    assert_eq!(r["data"]["notified_operators_count"], 3);
    for v in &authorized {
        let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
        let change = m["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["type"] == "price_change")
            .unwrap()
            .clone();
        let text = change.to_string();
        assert!(text.contains("10.00") && text.contains("12.00"), "{text}");
    }
    let (_, m) = mr
        .get("/mr/v1/operators/me/messages", &outsider.token)
        .await;
    assert!(!m.to_string().contains("price_change"));
}

/// Five `system` messages to `v` (an announcement each).
async fn five_messages(mr: &Mr, admin: &str, v: &Venue) {
    for i in 0..5 {
        let body = json!({"title": format!("公告{i}"), "content": "这是一条测试公告的正文内容。", "target_operators": [v.operator_id]});
        assert_eq!(
            post(mr, "/mr/v1/admin/announcements", admin, body).await.0,
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn us8_4_reading_one_of_five_unread_messages_leaves_four() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let w = mr.venue(0).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    five_messages(&mr, &admin, &v).await;
    let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
    assert_eq!(m["unread_count"], 5);
    let id = m["items"][2]["message_id"].as_str().unwrap().to_string();
    let read = format!("/mr/v1/operators/me/messages/{id}/read");
    for _ in 0..2 {
        let (st, _) = put(&mr, &read, &v.token, Value::Null).await;
        assert_eq!(st, StatusCode::OK);
        let (_, m) = mr.get("/mr/v1/operators/me/messages", &v.token).await;
        assert_eq!(m["unread_count"], 4);
        let one = m["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["message_id"] == id.as_str())
            .unwrap()
            .clone();
        assert!(one["is_read"] == true && one["read_at"].is_string());
    }
    let (st, _) = put(&mr, &read, &w.token, Value::Null).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn us8_5_message_history_is_newest_first_with_read_flags() {
    let mr = Mr::new().await;
    let v = mr.venue(0).await;
    let admin = staff(&mr, "adm", "admin", "mr").await;
    five_messages(&mr, &admin, &v).await;
    put(
        &mr,
        &format!("/mr/v1/admin/applications/{}/price", v.app_id),
        &admin,
        json!({"unit_price": "11.00"}),
    )
    .await;
    let (_, m) = mr
        .get("/mr/v1/operators/me/messages?page_size=3", &v.token)
        .await;
    assert_eq!(
        (
            m["total"].as_i64(),
            m["page"].as_i64(),
            m["page_size"].as_i64()
        ),
        (Some(6), Some(1), Some(3))
    );
    assert_eq!(m["items"][0]["type"], "price_change", "newest first");
    let id = m["items"][1]["message_id"].as_str().unwrap().to_string();
    put(
        &mr,
        &format!("/mr/v1/operators/me/messages/{id}/read"),
        &v.token,
        Value::Null,
    )
    .await;
    let (_, all) = mr
        .get("/mr/v1/operators/me/messages?unread_only=false", &v.token)
        .await;
    let times: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let read: Vec<bool> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["is_read"].as_bool().unwrap())
        .collect();
    assert_eq!(read.iter().filter(|r| **r).count(), 1);
    let (_, unread) = mr
        .get("/mr/v1/operators/me/messages?unread_only=true", &v.token)
        .await;
    assert_eq!(unread["total"], 5);
}
