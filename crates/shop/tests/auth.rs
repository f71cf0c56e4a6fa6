//! `/v1/auth/*` and `/v1/admin/auth/login`: refresh tokens rotate and detect reuse, logout
//! revokes, password logins are throttled per account and per address (429 + Retry-After) and
//! their failures are audited, accounts with no shop role are refused.

mod common;

use common::TestApp;
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn refresh(app: &TestApp, token: &Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_login() {
    let app = TestApp::new().await;
    let (_, login) = app
        .call(
            Method::POST,
            "/v1/auth/wechat/login",
            None,
            Some(json!({"code": "dora"})),
        )
        .await;
    let (s, second) = refresh(&app, &login["refresh_token"]).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], login["refresh_token"]);
    // The first token was used: presenting it again is a theft signal.
    let (s, v) = refresh(&app, &login["refresh_token"]).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused"))
    );
    // ... which revoked the family, including the token the legitimate client holds.
    let (s, v) = refresh(&app, &second["refresh_token"]).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked"))
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_its_successors() {
    let app = TestApp::new().await;
    app.admin_token().await;
    let (_, login) = app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "root", "password": "root-password"})),
        )
        .await;
    let (s, next) = refresh(&app, &login["refresh_token"]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/auth/logout",
            None,
            Some(json!({"refresh_token": next["refresh_token"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = refresh(&app, &next["refresh_token"]).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked"))
    );
    // Logout twice is fine.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/auth/logout",
            None,
            Some(json!({"refresh_token": next["refresh_token"]})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/auth/logout",
            None,
            Some(json!({"refresh_token": "garbage"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
}

#[tokio::test]
async fn password_guessing_is_throttled_and_audited() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await; // one successful login of `root` so far
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (s, _) = app
            .call(
                Method::POST,
                "/v1/admin/auth/login",
                None,
                Some(json!({"username": "root", "password": "wrong-password"})),
            )
            .await;
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
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "whatever1"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, logs) = app
        .call(
            Method::GET,
            "/v1/admin/audit-logs?action=auth.login_failed",
            Some(&admin),
            None,
        )
        .await;
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
    let (s, v) = app
        .call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": "mr-finance", "password": "mr-finance-pw"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // A grant in every system (`*`) is a grant in the shop.
    suanpan_core::auth::create_staff(app.db(), "boss", "boss-password", "*", "finance", None)
        .await
        .unwrap();
    let token = app.login_admin("boss", "boss-password").await;
    let (s, v) = app
        .call(Method::GET, "/v1/admin/me", Some(&token), None)
        .await;
    assert_eq!((s, v["role"].as_str()), (StatusCode::OK, Some("finance")));
}
