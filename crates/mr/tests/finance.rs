//! The finance console's figures (contract `getFinanceDashboard`, `getFinanceTrends`,
//! `getTopCustomers`, `getCustomerFinanceDetails`): sums of what happened, by Asia/Shanghai
//! day, only for the finance role.

mod common;

use common::{Mr, now_secs, session, staff};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn dashboard_trends_and_rankings_add_up() {
    let mr = Mr::new().await;
    let a = mr.venue(100_000).await;
    let b = mr.venue(50_000).await;
    for (v, players) in [(&a, 3), (&a, 2), (&b, 1)] {
        let ts = now_secs();
        let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": players});
        let (st, r) = mr.authorize(v, &body, &session(v, ts), ts, false).await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let get = |path: &'static str| mr.json(Method::GET, path, Some(&fin), Value::Null);
    let (st, d) = get("/mr/v1/finance/dashboard").await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["data"]["today_recharge"], "1500.00");
    assert_eq!(d["data"]["today_consumption"], "60.00");
    assert_eq!(d["data"]["today_refund"], "0.00");
    assert_eq!(d["data"]["today_net_income"], "1500.00");
    assert_eq!(d["data"]["total_operators"], 2);
    assert_eq!(d["data"]["active_operators_today"], 2);
    let (st, t) = get("/mr/v1/finance/dashboard/trends").await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let days = t["data"]["chart_data"].as_array().unwrap();
    assert!((28..=31).contains(&days.len()));
    assert_eq!(t["data"]["summary"]["total_consumption"], "60.00");
    let busy: Vec<&Value> = days.iter().filter(|d| d["consumption"] != "0.00").collect();
    assert_eq!(busy.len(), 1);
    let (st, top) = get("/mr/v1/finance/top-customers?limit=1").await;
    assert_eq!(st, StatusCode::OK, "{top}");
    let first = &top["data"]["customers"][0];
    assert_eq!(first["operator_id"], a.operator_id.as_str());
    assert_eq!(first["total_consumption"], "50.00");
    assert_eq!(first["total_sessions"], 2);
    assert_eq!(first["consumption_percentage"], 83.33);
    assert_eq!(top["data"]["total_consumption"], "60.00");
    let path = format!("/mr/v1/finance/customers/{}/details", b.operator_id);
    let (st, c) = mr.json(Method::GET, &path, Some(&fin), Value::Null).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["data"]["current_balance"], "490.00");
    assert_eq!(c["data"]["total_recharged"], "500.00");
    assert_eq!(c["data"]["total_sessions"], 1);
    for bad in [
        "/mr/v1/finance/dashboard/trends?month=2025-13",
        "/mr/v1/finance/top-customers?limit=0",
    ] {
        let (st, e) = get(bad).await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
            "{bad}"
        );
    }
    let (st, e) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/customers/opnobody/details",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("OPERATOR_NOT_FOUND"))
    );
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, _) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/dashboard",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/dashboard",
            Some(&a.token),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
