//! App requests (spec.md user story 4): an operator asks for an application, an admin approves
//! (the authorization is active at once) or rejects with a reason; each review once.

mod common;

use common::{Mr, now_secs, session};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn us4_2_request_approve_and_play_or_reject_with_a_reason() {
    let mr = Mr::new().await;
    let admin = common::staff(&mr, "reqadmin", "admin", "mr").await;
    let v = mr.venue(10_000).await;
    let (_, app) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/applications",
            Some(&admin),
            json!({"app_name": "深海探秘", "unit_price": "8", "min_players": 1, "max_players": 4}),
        )
        .await;
    let app_id = app["data"]["app_id"].as_str().unwrap().to_string();
    let ask = |app: &str, reason: &str| {
        let (mr, t, body) = (
            &mr,
            v.token.clone(),
            json!({"app_id": app, "reason": reason}),
        );
        async move {
            mr.json(
                Method::POST,
                "/mr/v1/operators/me/app-requests",
                Some(&t),
                body,
            )
            .await
        }
    };
    let (st, e) = ask(&v.app_id, "想要继续使用这款游戏").await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "already authorized"
    );
    let (st, e) = ask("appnone", "想要开通这款新游戏体验").await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("APP_NOT_FOUND"))
    );
    let (st, r) = ask(&app_id, "门店新开业需要这款游戏").await;
    assert_eq!(
        (st, r["data"]["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{r}"
    );
    let (st, _) = ask(&app_id, "门店新开业需要这款游戏").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "one pending request per app");
    let (_, pending) = mr
        .json(
            Method::GET,
            "/mr/v1/admin/app-requests",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["items"][0]["operator_id"], v.operator_id.as_str());
    assert_eq!(pending["items"][0]["reviewed_at"], Value::Null);
    let id = r["data"]["request_id"].as_str().unwrap().to_string();
    let approve = format!("/mr/v1/admin/app-requests/{id}/approve");
    let (st, e) = mr
        .json(
            Method::POST,
            &approve,
            Some(&admin),
            json!({"expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a past expiry: {e}");
    assert_eq!(
        mr.json(Method::POST, &approve, Some(&admin), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (st, e) = mr
        .json(Method::POST, &approve, Some(&admin), json!({}))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "reviewed once"
    );
    let ts = now_secs();
    let body = json!({"app_id": app_id, "site_id": v.site_id, "player_count": 2});
    let (st, a) = mr.authorize(&v, &body, &session(&v, ts), ts, false).await;
    assert_eq!(
        (st, a["data"]["total_cost"].as_str()),
        (StatusCode::OK, Some("16.00")),
        "{a}"
    );
    // A second app, rejected with a reason the operator sees.
    let (_, app2) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/applications",
            Some(&admin),
            json!({"app_name": "末日求生", "unit_price": "9", "min_players": 1, "max_players": 4}),
        )
        .await;
    let (_, r2) = ask(
        app2["data"]["app_id"].as_str().unwrap(),
        "希望增加一款射击类游戏",
    )
    .await;
    let reject = format!(
        "/mr/v1/admin/app-requests/{}/reject",
        r2["data"]["request_id"].as_str().unwrap()
    );
    assert_eq!(
        mr.json(
            Method::POST,
            &reject,
            Some(&admin),
            json!({"reason": "short"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        mr.json(
            Method::POST,
            &reject,
            Some(&admin),
            json!({"reason": "该游戏暂不对试用客户开放"})
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, mine) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/app-requests?status=rejected",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(mine["total"], 1);
    assert_eq!(
        mine["items"][0]["reject_reason"],
        "该游戏暂不对试用客户开放"
    );
    let (_, all) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/app-requests",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(all["total"], 2);
    assert_eq!(
        mr.json(
            Method::POST,
            "/mr/v1/admin/app-requests/reqnone/reject",
            Some(&admin),
            json!({"reason": "该游戏暂不对试用客户开放"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity_type = 'mr_app_request' ORDER BY id",
    )
    .fetch_all(mr.state.core.db.reader())
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec![
            "mr_app_request.approve".to_string(),
            "mr_app_request.reject".to_string()
        ]
    );
}
