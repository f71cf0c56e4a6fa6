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
    for (venue, players) in [(&v, 4), (&other, 8)] {
        let body =
            json!({"app_id": venue.app_id, "site_id": venue.site_id, "player_count": players});
        let (st, r) = mr
            .authorize(venue, &body, &session(venue, ts), ts, false)
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    // Two sessions in the past, written as a charge writes them (usage record, daily rollup,
    // transaction): 2025-01-15 23:30 in Shanghai (15:30 UTC) and 00:30 the next day.
    let db = &mr.state.core.db;
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    for (i, players, t) in [
        (1, 2, "2025-01-15T15:30:00Z"),
        (2, 3, "2025-01-15T16:30:00Z"),
    ] {
        let usage = suanpan_mr::store::usage::Usage {
            usage_id: format!("past{i}"),
            session_id: format!("past{i}"),
            operator_id: v.operator_id.clone(),
            site_id: v.site_id.clone(),
            app_id: v.app_id.clone(),
            player_count: players,
            unit_price_fen: 1_000,
            total_cost_fen: players * 1_000,
            authorization_token: "t".into(),
            created_at: at(t),
            client_ip: None,
        };
        let mut b = suanpan_core::db::Batch::new();
        suanpan_mr::store::usage::push_charge(&mut b, db.dialect, 10_000 + i, &usage, 0);
        let mut tx = db.begin().await.unwrap();
        b.execute(&mut tx, db.dialect).await.unwrap();
        tx.commit().await.unwrap();
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

/// FR-047/FR-048 (beyond the contract): the overview and the three cross analyses add up, for
/// admin and finance; FR-039: the operator's usage export.
#[tokio::test]
async fn global_overview_cross_analyses_and_usage_export() {
    let mr = Mr::new().await;
    let a = mr.venue(100_000).await;
    let b = mr.venue(100_000).await;
    for (v, players) in [(&a, 1), (&a, 3), (&a, 3), (&b, 6)] {
        let ts = common::now_secs();
        let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": players});
        let (st, r) = mr
            .authorize(v, &body, &common::session(v, ts), ts, false)
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    let fin = common::staff(&mr, "fin", "finance", "mr").await;
    let admin = common::staff(&mr, "adm", "admin", "mr").await;
    let mr = &mr;
    let get = |path: &'static str, token: &str| {
        let token = token.to_string();
        async move { mr.json(Method::GET, path, Some(&token), Value::Null).await }
    };
    let (st, o) = get("/mr/v1/statistics/overview", &fin).await;
    assert_eq!(st, StatusCode::OK, "{o}");
    assert_eq!(o["data"]["sessions"], 4);
    assert_eq!(o["data"]["players"], 13);
    assert_eq!(o["data"]["cost"], "130.00");
    assert_eq!(o["data"]["total_recharge"], "2000.00");
    assert_eq!(o["data"]["active_operators"], 2);
    let (st, x) = get("/mr/v1/statistics/operator-app", &admin).await;
    assert_eq!(st, StatusCode::OK, "{x}");
    let rows = x["data"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let ra = rows
        .iter()
        .find(|r| r["operator_id"] == a.operator_id.as_str())
        .unwrap();
    assert_eq!(ra["apps"][0]["sessions"], 3);
    assert_eq!(ra["apps"][0]["avg_players_per_session"], 2.33);
    let (st, p) = get("/mr/v1/statistics/player-distribution", &fin).await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let pa = p["data"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["app_id"] == a.app_id.as_str())
        .unwrap();
    assert_eq!(
        pa["sessions_by_players"],
        json!({"1": 1, "2": 0, "3-4": 2, "5-8": 0, "9+": 0})
    );
    let path = format!(
        "/mr/v1/statistics/site-trend?site_id={}&dimension=month",
        a.site_id
    );
    let (st, t) = mr.json(Method::GET, &path, Some(&fin), Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_eq!(t["data"]["series"].as_array().unwrap().len(), 1);
    assert_eq!(t["data"]["series"][0]["points"][0]["cost"], "70.00");
    let (st, ct, csv) = mr
        .download("/mr/v1/statistics/operator-app?format=csv", &fin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    assert!(String::from_utf8_lossy(&csv).contains("运营商ID,运营商名称,应用ID"));
    let (st, _, xlsx) = mr
        .download("/mr/v1/statistics/player-distribution?format=xlsx", &admin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(xlsx.starts_with(b"PK"));
    let (st, _) = get("/mr/v1/statistics/overview", &a.token).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, csv) = mr
        .download(
            "/mr/v1/operators/me/usage-records/export?format=csv",
            &a.token,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert_eq!(
        text.lines().count(),
        2 + 3,
        "title, header and three sessions: {text}"
    );
    let (st, _, _) = mr
        .download(
            "/mr/v1/operators/me/usage-records/export?format=pdf",
            &a.token,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}
