//! `/v1/auth/*`, `/v1/admin/auth/login` and `/v1/admin/users`: refresh tokens rotate and detect
//! reuse, logout revokes, password logins are throttled per account and per address (429 +
//! Retry-After) and their failures are audited, accounts with no shop role are refused, roles
//! are enforced and admin writes audited; on the database named by `SUANPAN_TEST_DATABASE_URL`
//! (SQLite when unset).

mod common;

use common::{TestApp, assert_error};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_login() {
    let app = TestApp::new().await;
    let (_, login) = app.wechat_login("dora").await;
    let (s, second) = app.refresh(&login["refresh_token"]).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], login["refresh_token"]);
    // The first token was used: presenting it again is a theft signal.
    assert_error(
        app.refresh(&login["refresh_token"]).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    // ... which revoked the family, including the token the legitimate client holds.
    assert_error(
        app.refresh(&second["refresh_token"]).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_revoked",
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_its_successors() {
    let app = TestApp::new().await;
    app.admin_token().await;
    let (_, login) = app.admin_login("root", "root-password").await;
    let (s, next) = app.refresh(&login["refresh_token"]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.logout(&next["refresh_token"]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(&next["refresh_token"]).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_revoked",
    );
    // Logout twice is fine.
    let (s, _) = app.logout(&next["refresh_token"]).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        app.logout(&json!("garbage")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn password_guessing_is_throttled_and_audited() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await; // one successful login of `root` so far
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (s, _) = app.admin_login("root", "wrong-password").await;
        statuses.push(s);
    }
    // 10 attempts a minute per account: 1 success + 9 failures pass, then 429.
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        9
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        3
    );
    // A throttled answer says when to come back, and does not check the password at all: even
    // the right password is refused until then.
    let resp = app
        .raw(
            Method::POST,
            "/v1/admin/auth/login",
            Some(json!({"username": "root", "password": "root-password"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Other accounts are not locked out by the guessing at `root`.
    let (s, _) = app.admin_login("nobody", "whatever1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, logs) = app.audit_logs(&admin, "action=auth.login_failed").await;
    assert_eq!(logs.as_array().map(Vec::len), Some(10), "{logs}");
}

#[tokio::test]
async fn an_account_without_a_shop_role_cannot_use_the_shop_back_office() {
    let app = TestApp::new().await;
    suanpan_core::auth::create_staff(
        app.db(),
        "mr-finance",
        "mr-finance-pw",
        "mr",
        "finance",
        None,
    )
    .await
    .unwrap();
    assert_error(
        app.admin_login("mr-finance", "mr-finance-pw").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // A grant in every system (`*`) is a grant in the shop.
    suanpan_core::auth::create_staff(app.db(), "boss", "boss-password", "*", "finance", None)
        .await
        .unwrap();
    let token = app.login_admin("boss", "boss-password").await;
    let (s, v) = app.get("/v1/admin/me", Some(&token)).await;
    assert_eq!((s, v["role"].as_str()), (StatusCode::OK, Some("finance")));
}

#[tokio::test]
async fn roles_are_enforced_and_admin_writes_are_audited() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (s, v) = app
        .create_admin_user(&admin, "op1", "op1-password", "operator")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    app.create_admin_user(&admin, "fin1", "fin1-password", "finance")
        .await;
    assert_error(
        app.create_admin_user(&admin, "op1", "op1-password", "operator")
            .await,
        StatusCode::CONFLICT,
        "admin_exists",
    );
    let op = app.login_admin("op1", "op1-password").await;
    let fin = app.login_admin("fin1", "fin1-password").await;
    let p = app.product(&op, 100, 5).await;
    let (s, _) = app
        .create_product(&fin, json!({"name": "x", "price_fen": 1}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.audit_logs(&op, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .create_admin_user(&op, "x123", "x1234567", "admin")
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .update_product(&op, p, json!({"price_fen": 120, "on_shelf": false}))
        .await;
    assert_eq!(
        (s, v["price_fen"].as_i64(), v["on_shelf"].as_bool()),
        (StatusCode::OK, Some(120), Some(false))
    );
    let (s, _) = app.get_product(p).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "off-shelf products are hidden from shoppers"
    );
    let (s, v) = app
        .audit_logs(&fin, &format!("entity_type=product&entity_id={p}"))
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
