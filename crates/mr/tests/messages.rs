//! Messages (spec.md user stories 4 and 7): a price change notifies every authorized operator
//! and never touches past charges; announcements reach every active operator or the chosen ones;
//! reading is idempotent.

mod common;

use common::{Mr, now_secs, session};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn admin(mr: &Mr) -> String {
    common::staff(mr, "msgadmin", "admin", "mr").await
}

#[tokio::test]
async fn us4_a_price_change_applies_from_now_notifies_and_keeps_past_charges() {
    let mr = Mr::new().await;
    let admin = admin(&mr).await;
    let v = mr.venue(10_000).await;
    let ts = now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 2});
    assert_eq!(
        mr.authorize(&v, &body, &session(&v, ts), ts, false).await.0,
        StatusCode::OK
    );
    let (st, r) = mr
        .json(
            Method::PUT,
            &format!("/mr/v1/admin/applications/{}/price", v.app_id),
            Some(&admin),
            json!({"unit_price": "12.5"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        r["data"],
        json!({"app_id": v.app_id, "old_price": "10.00", "new_price": "12.50", "notified_operators_count": 1})
    );
    let (st, a) = mr.authorize(&v, &body, &session(&v, ts), ts, false).await;
    assert_eq!(
        (st, a["data"]["total_cost"].as_str()),
        (StatusCode::OK, Some("25.00"))
    );
    let (_, page) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/usage-records",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(
        page["items"][1]["unit_price"], "10.00",
        "the first charge keeps its price"
    );
    let (_, msgs) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/messages",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(
        (msgs["total"].as_i64(), msgs["unread_count"].as_i64()),
        (Some(1), Some(1)),
        "{msgs}"
    );
    assert_eq!(msgs["items"][0]["type"], "price_change");
    let id = msgs["items"][0]["message_id"].as_str().unwrap().to_string();
    let read = format!("/mr/v1/operators/me/messages/{id}/read");
    assert_eq!(
        mr.json(Method::PUT, &read, Some(&v.token), Value::Null)
            .await
            .0,
        StatusCode::OK
    );
    let (_, m1) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/messages",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(
        mr.json(Method::PUT, &read, Some(&v.token), Value::Null)
            .await
            .0,
        StatusCode::OK
    );
    let (_, m2) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/messages",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(
        m1["items"][0]["read_at"], m2["items"][0]["read_at"],
        "the first reading time stays"
    );
    assert_eq!(m2["unread_count"], 0);
    let (_, unread) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/messages?unread_only=true",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(unread["total"], 0);
    let w = mr.venue(0).await;
    let (st, e) = mr
        .json(Method::PUT, &read, Some(&w.token), Value::Null)
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE_NOT_FOUND")),
        "another operator's message"
    );
    let (st, e) = mr
        .json(
            Method::PUT,
            "/mr/v1/admin/applications/appnone/price",
            Some(&admin),
            json!({"unit_price": "1"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("APP_NOT_FOUND"))
    );
    let (st, e) = mr
        .json(
            Method::PUT,
            &format!("/mr/v1/admin/applications/{}", v.app_id),
            Some(&admin),
            json!({"min_players": 9}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "min above max: {e}"
    );
    let (st, u) = mr
        .json(
            Method::PUT,
            &format!("/mr/v1/admin/applications/{}", v.app_id),
            Some(&admin),
            json!({"max_players": 4}),
        )
        .await;
    assert_eq!(
        (st, u["data"]["max_players"].as_i64()),
        (StatusCode::OK, Some(4)),
        "{u}"
    );
    let (_, list) = mr
        .json(
            Method::GET,
            "/mr/v1/admin/applications?keyword=太空",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(list["total"], 2, "both venues' apps are named 太空探险");
    let (_, none) = mr
        .json(
            Method::GET,
            "/mr/v1/admin/applications?keyword=%25",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(none["total"], 0, "a % in the keyword is literal");
}

#[tokio::test]
async fn us7_announcements_reach_all_active_operators_or_the_chosen_ones() {
    let mr = Mr::new().await;
    let admin = admin(&mr).await;
    let v = mr.venue(0).await;
    let w = mr.venue(0).await;
    let (st, r) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/announcements",
            Some(&admin),
            json!({"title": "系统维护", "content": "本周六凌晨两点至四点系统维护。"}),
        )
        .await;
    assert_eq!(
        (st, r["data"]["recipients_count"].as_i64()),
        (StatusCode::CREATED, Some(2)),
        "{r}"
    );
    let (st, r) = mr
        .json(Method::POST, "/mr/v1/admin/announcements", Some(&admin), json!({"title": "专属通知", "content": "仅发送给一号店的通知内容。", "target_operators": [v.operator_id]}))
        .await;
    assert_eq!(
        (st, r["data"]["recipients_count"].as_i64()),
        (StatusCode::CREATED, Some(1))
    );
    let count = |t: String| {
        let mr = &mr;
        async move {
            mr.json(
                Method::GET,
                "/mr/v1/operators/me/messages",
                Some(&t),
                Value::Null,
            )
            .await
            .1["total"]
                .as_i64()
        }
    };
    assert_eq!(count(v.token.clone()).await, Some(2));
    assert_eq!(count(w.token.clone()).await, Some(1));
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/announcements",
            Some(&admin),
            json!({"title": "x", "content": "本周六凌晨两点至四点系统维护。"}),
        )
        .await;
    assert_eq!(
        (st, e["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("title"))
    );
    let (st, _) = mr
        .json(Method::POST, "/mr/v1/admin/announcements", Some(&admin), json!({"title": "通知", "content": "本周六凌晨两点至四点系统维护。", "target_operators": ["opnone"]}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

/// A charge that takes a trial operator's balance below 50.00 sends one `balance_low` message;
/// further charges below the line send no more.
#[tokio::test]
async fn a_low_balance_reminder_is_sent_once_per_crossing() {
    let mr = common::Mr::new().await;
    let v = mr.venue(6_000).await; // trial: reminded below 50.00; each game costs 10.00
    for _ in 0..3 {
        let ts = common::now_secs();
        let body = serde_json::json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 1});
        let (st, r) = mr
            .authorize(&v, &body, &common::session(&v, ts), ts, false)
            .await;
        assert_eq!(st, http::StatusCode::OK, "{r}");
    }
    assert_eq!(mr.balance(&v).await, "30.00");
    let (_, page) = mr
        .json(
            http::Method::GET,
            "/mr/v1/operators/me/messages",
            Some(&v.token),
            serde_json::Value::Null,
        )
        .await;
    let low: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "balance_low")
        .collect();
    assert_eq!(low.len(), 1, "{page}");
    assert!(low[0]["content"].as_str().unwrap().contains("40.00"));
}
