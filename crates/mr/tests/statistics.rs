//! `/operators/me/statistics/*` (spec.md user story 5): sums by business day (Asia/Shanghai),
//! ISO week and month, by app and by site, over the operator's own usage only.

mod common;

use common::{Mr, now_secs, session};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn us5_1_consumption_by_day_app_and_site() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    let other = mr.venue(100_000).await;
    let ts = now_secs();
    for (venue, players) in [(&v, 2), (&v, 3), (&v, 4), (&other, 8)] {
        let body =
            json!({"app_id": venue.app_id, "site_id": venue.site_id, "player_count": players});
        let (st, r) = mr
            .authorize(venue, &body, &session(venue, ts), ts, false)
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    // Move one session to 2025-01-15 23:30 in Shanghai (15:30 UTC), another to 00:30 the next day.
    let db = mr.state.core.db.writer();
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM mr_usage_records WHERE operator_id = '{}' ORDER BY id",
        v.operator_id
    ))
    .fetch_all(db)
    .await
    .unwrap();
    for (id, t) in [
        (ids[0], "2025-01-15T15:30:00Z"),
        (ids[1], "2025-01-15T16:30:00Z"),
    ] {
        sqlx::query(&format!(
            "UPDATE mr_usage_records SET created_at = {} WHERE id = {id}",
            at(t)
        ))
        .execute(db)
        .await
        .unwrap();
    }
    let get = |q: String| {
        let (mr, token) = (&mr, v.token.clone());
        async move { mr.json(Method::GET, &q, Some(&token), Value::Null).await }
    };
    let (st, day) = get("/mr/v1/operators/me/statistics/consumption?start_time=2025-01-01T00:00:00Z&end_time=2025-02-01T00:00:00Z".into()).await;
    assert_eq!(st, StatusCode::OK, "{day}");
    let dates: Vec<&str> = day["data"]["chart_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, vec!["2025-01-15", "2025-01-16"], "Shanghai days");
    assert_eq!(
        day["data"]["summary"],
        json!({"total_sessions": 2, "total_players": 5, "total_cost": "50.00", "avg_players_per_session": 2.5})
    );
    let (_, week) = get("/mr/v1/operators/me/statistics/consumption?dimension=week&start_time=2025-01-01T00:00:00Z&end_time=2025-02-01T00:00:00Z".into()).await;
    assert_eq!(
        week["data"]["chart_data"],
        json!([{"date": "2025-01-13", "total_sessions": 2, "total_players": 5, "total_cost": "50.00"}])
    );
    let (_, all) = get("/mr/v1/operators/me/statistics/consumption?dimension=month".into()).await;
    assert_eq!(
        all["data"]["summary"]["total_sessions"], 3,
        "the other operator's session is not counted"
    );
    let (_, apps) = get("/mr/v1/operators/me/statistics/by-app".into()).await;
    assert_eq!(apps["data"]["applications"][0]["total_players"], 9);
    assert_eq!(
        apps["data"]["applications"][0]["avg_players_per_session"],
        3.0
    );
    let (_, sites) = get("/mr/v1/operators/me/statistics/by-site".into()).await;
    assert_eq!(sites["data"]["sites"][0]["total_cost"], "90.00");
    let (st, e) = get("/mr/v1/operators/me/statistics/consumption?dimension=year".into()).await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
    );
    let (st, _) = get("/mr/v1/operators/me/statistics/by-site?start_time=yesterday".into()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
