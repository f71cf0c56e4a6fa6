//! Operator accounts and `/operators/me/*` (contract `registerOperator`, `operatorLogin`,
//! `getOperatorProfile`, `getOperatorBalance`, sites; spec.md user story 1).

mod common;

use common::Mr;
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn reg(username: &str) -> Value {
    json!({"username": username, "password": "Passw0rdX", "name": "测试场馆", "phone": "13800138000", "email": "v@example.com"})
}

#[tokio::test]
async fn us1_1_registration_gives_a_trial_account_with_a_key_shown_once() {
    let mr = Mr::new().await;
    let (st, r) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/register",
            None,
            reg("venue_a"),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let d = &r["data"];
    assert_eq!(d["category"], "trial");
    assert_eq!(d["balance"], "0.00");
    assert_eq!(d["api_key"].as_str().unwrap().len(), 64);
    let id = d["operator_id"].as_str().unwrap();
    assert!(
        id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "no _ in operator ids: {id}"
    );
    let sealed: String = sqlx::query_scalar("SELECT api_key_sealed FROM mr_operators")
        .fetch_one(mr.state.core.db.reader())
        .await
        .unwrap();
    assert!(
        !sealed.contains(d["api_key"].as_str().unwrap()),
        "the key is not stored in clear"
    );
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/register",
            None,
            reg("venue_a"),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("USERNAME_EXISTS"))
    );
}

#[tokio::test]
async fn registration_rules_name_the_field() {
    let mr = Mr::new().await;
    for (field, value) in [
        ("username", json!("ab")),
        ("password", json!("password1")),
        ("phone", json!("12800138000")),
        ("email", json!("nobody")),
        ("name", json!("x")),
    ] {
        let mut body = reg("venue_b");
        body[field] = value;
        let (st, e) = mr
            .json(Method::POST, "/mr/v1/auth/operators/register", None, body)
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{field}: {e}");
        assert_eq!(e["error_code"], "INVALID_PARAMS");
        assert_eq!(e["details"]["field"], field);
    }
    let (st, e) = mr
        .call(
            Method::POST,
            "/mr/v1/auth/operators/register",
            &[],
            Some(b"{not json"),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "{e}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mr_operators")
        .fetch_one(mr.state.core.db.reader())
        .await
        .unwrap();
    assert_eq!(n, 0, "bad input changes nothing");
}

#[tokio::test]
async fn us1_2_login_profile_balance_and_sites() {
    let mr = Mr::new().await;
    let v = mr.venue(12_345).await;
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": "nobody", "password": "x"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (st, me) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["operator_id"], v.operator_id.as_str());
    assert_eq!(me["data"]["balance"], "123.45");
    let (st, b) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/balance",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["data"]["total_recharged"], "123.45");
    assert_eq!(b["data"]["total_consumed"], "0.00");
    assert!(
        b["data"]["last_transaction_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let (st, sites) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/sites",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(sites["data"]["sites"][0]["site_id"], v.site_id.as_str());
    let (st, apps) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/authorized-apps",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(apps["data"]["applications"][0]["unit_price"], "10.00");
    assert_eq!(apps["data"]["applications"][0]["expires_at"], Value::Null);
    let (st, e) = mr
        .json(Method::GET, "/mr/v1/operators/me", None, Value::Null)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/operators/me/sites",
            Some(&v.token),
            json!({"name": "x", "address": "北京市朝阳区"}),
        )
        .await;
    assert_eq!(
        (st, e["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
}

#[tokio::test]
async fn us1_3_profile_updates_key_regeneration_and_site_deletion() {
    let mr = Mr::new().await;
    let mut v = mr.venue(10_000).await;
    let (st, p) = mr
        .json(
            Method::PUT,
            "/mr/v1/operators/me",
            Some(&v.token),
            json!({"phone": "13911112222"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["data"]["phone"], "13911112222");
    assert_eq!(p["data"]["name"], "测试场馆", "fields not given stay");
    let (st, e) = mr
        .json(
            Method::PUT,
            "/mr/v1/operators/me",
            Some(&v.token),
            json!({"email": "bad"}),
        )
        .await;
    assert_eq!(
        (st, e["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("email"))
    );
    // A new key: the old one stops working at once.
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/operators/me/api-key/regenerate",
            Some(&v.token),
            json!({"password": "wrong"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (st, k) = mr
        .json(
            Method::POST,
            "/mr/v1/operators/me/api-key/regenerate",
            Some(&v.token),
            json!({"password": "Passw0rdX"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{k}");
    let ts = common::now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 1});
    let (st, e) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY")),
        "old key: {e}"
    );
    v.api_key = k["data"]["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        mr.authorize(&v, &body, &common::session(&v, ts), ts, false)
            .await
            .0,
        StatusCode::OK
    );
    // A deleted site keeps its history and refuses authorizations.
    let path = format!("/mr/v1/operators/me/sites/{}", v.site_id);
    let (st, u) = mr
        .json(
            Method::PUT,
            &path,
            Some(&v.token),
            json!({"name": "一号店（新）"}),
        )
        .await;
    assert_eq!(
        (st, u["data"]["name"].as_str()),
        (StatusCode::OK, Some("一号店（新）")),
        "{u}"
    );
    assert_eq!(
        mr.json(Method::DELETE, &path, Some(&v.token), Value::Null)
            .await
            .0,
        StatusCode::OK
    );
    let (st, e) = mr
        .json(Method::DELETE, &path, Some(&v.token), Value::Null)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("SITE_NOT_FOUND"))
    );
    let (st, e) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("SITE_NOT_FOUND")),
        "{e}"
    );
    let (_, sites) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/sites?include_deleted=true",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(sites["data"]["sites"][0]["is_deleted"], true);
    let (_, page) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/usage-records",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(page["total"], 1, "history kept");
}

#[tokio::test]
async fn us3_transactions_list_recharges_and_consumptions_newest_first() {
    let mr = Mr::new().await;
    let v = mr.venue(10_000).await;
    let ts = common::now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 2});
    let (st, a) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let list = |q: &str| {
        let path = format!("/mr/v1/operators/me/transactions{q}");
        let (mr, t) = (&mr, v.token.clone());
        async move { mr.json(Method::GET, &path, Some(&t), Value::Null).await }
    };
    let (st, all) = list("").await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"][0]["type"], "consumption");
    assert_eq!(all["items"][0]["amount"], "20.00");
    assert_eq!(all["items"][0]["balance_after"], "80.00");
    assert!(all["items"][0]["related_usage_id"].is_string());
    assert_eq!(all["items"][1]["type"], "recharge");
    assert_eq!(all["items"][1]["balance_after"], "100.00");
    assert!(
        all["items"][1].get("payment_method").is_none(),
        "manual credits name no provider"
    );
    let (_, r) = list("?type=recharge").await;
    assert_eq!(r["total"], 1);
    let (_, p) = list("?page=2&page_size=1").await;
    assert_eq!(
        (p["page"].as_i64(), p["items"][0]["type"].as_str()),
        (Some(2), Some("recharge"))
    );
    assert_eq!(list("?type=cash").await.0, StatusCode::BAD_REQUEST);
    let (_, refunds) = list("?type=refund").await;
    assert_eq!(refunds["total"], 0, "refund movements only when asked for");
    assert_eq!(list("?page_size=101").await.0, StatusCode::BAD_REQUEST);
    let (_, none) = list("?end_time=2020-01-01T00:00:00Z").await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn us1_4_deactivation_stops_tokens_and_keys_and_keeps_the_books_balanced() {
    let mr = Mr::new().await;
    let v = mr.venue(5_000).await;
    let (st, e) = mr
        .json(
            Method::DELETE,
            "/mr/v1/operators/me",
            Some(&v.token),
            json!({"password": "wrong"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (st, r) = mr
        .json(
            Method::DELETE,
            "/mr/v1/operators/me",
            Some(&v.token),
            json!({"password": "Passw0rdX", "reason": "门店关闭"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let (st, _) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the token stops working");
    let username: String = sqlx::query_scalar::<_, String>("SELECT username FROM mr_operators")
        .fetch_one(mr.state.core.db.reader())
        .await
        .unwrap();
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": username, "password": "Passw0rdX"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ACCOUNT_DEACTIVATED"))
    );
    let ts = common::now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 1});
    let (st, e) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY"))
    );
    let (bal, _, _, _) = suanpan_mr::store::operators::balance(&mr.state.core.db, &v.operator_id)
        .await
        .unwrap();
    assert_eq!(bal, 0, "the balance is zero");
    let report = suanpan_core::ledger::verify_db(&mr.state.core.db)
        .await
        .unwrap();
    assert!(
        report.ok(),
        "money is moved, not lost: {:?}",
        report.violations
    );
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'mr_operator.deactivate'",
    )
    .fetch_one(mr.state.core.db.reader())
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn logout_revokes_the_token_and_only_that_token() {
    let mr = common::Mr::new().await;
    let v = mr.venue(0).await;
    let me = "/mr/v1/operators/me";
    let logout = "/mr/v1/auth/operators/logout";
    let (st, _) = mr.json(Method::GET, me, Some(&v.token), Value::Null).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = mr
        .json(Method::POST, logout, Some(&v.token), Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let (st, e) = mr.json(Method::GET, me, Some(&v.token), Value::Null).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error_code"], "UNAUTHORIZED");
    let (st, _) = mr
        .json(Method::POST, logout, Some(&v.token), Value::Null)
        .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a revoked token cannot log out again"
    );
    let (st, _) = mr.json(Method::POST, logout, None, Value::Null).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
