//! `/admin/*` and the back-office logins (contract `adminLogin`, `financeLogin`,
//! `createOperator`, `createApplication`, `createAuthorization`).

mod common;

use common::{Mr, now_secs};
use http::{Method, StatusCode};
use serde_json::json;

use common::staff;

#[tokio::test]
async fn an_admin_sets_up_an_operator_who_can_then_authorize_games() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "mradmin", "admin", "mr").await;
    let (st, op) = mr
        .json(Method::POST, "/mr/v1/admin/operators", Some(&admin), json!({"username": "venue_c", "password": "Passw0rdX", "name": "三号店", "phone": "13900139000", "email": "c@example.com", "category": "vip", "initial_balance": "500"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{op}");
    assert_eq!(op["data"]["balance"], "500.00");
    assert_eq!(op["data"]["category"], "vip");
    let (st, app) = mr
        .json(Method::POST, "/mr/v1/admin/applications", Some(&admin), json!({"app_name": "丧尸围城", "unit_price": "15.5", "min_players": 2, "max_players": 6}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{app}");
    assert_eq!(app["data"]["unit_price"], "15.50");
    let grant = json!({"operator_id": op["data"]["operator_id"], "app_id": app["data"]["app_id"]});
    let (st, r) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/authorizations",
            Some(&admin),
            grant.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/authorizations",
            Some(&admin),
            grant,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
        "already authorized"
    );
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/authorizations",
            Some(&admin),
            json!({"operator_id": "opnone", "app_id": app["data"]["app_id"]}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RESOURCE_NOT_FOUND"))
    );
    // The operator signs in, adds a site and plays: 3 × 15.50 from 500.00.
    let (_, login) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/operators/login",
            None,
            json!({"username": "venue_c", "password": "Passw0rdX"}),
        )
        .await;
    let token = login["data"]["access_token"].as_str().unwrap().to_string();
    let (_, site) = mr
        .json(
            Method::POST,
            "/mr/v1/operators/me/sites",
            Some(&token),
            json!({"name": "三号店", "address": "上海市浦东新区某路3号"}),
        )
        .await;
    let v = common::Venue {
        operator_id: op["data"]["operator_id"].as_str().unwrap().into(),
        api_key: op["data"]["api_key"].as_str().unwrap().into(),
        site_id: site["data"]["site_id"].as_str().unwrap().into(),
        app_id: app["data"]["app_id"].as_str().unwrap().into(),
        token,
    };
    let ts = now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 3});
    let (st, r) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["data"]["balance_after"], "453.50");
}

#[tokio::test]
async fn roles_are_checked_per_system() {
    let mr = Mr::new().await;
    let finance = staff(&mr, "mrfin", "finance", "mr").await;
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/admin/applications",
            Some(&finance),
            json!({"app_name": "xx", "unit_price": "1", "min_players": 1, "max_players": 2}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PERMISSION_DENIED"))
    );
    suanpan_core::auth::create_staff(
        &mr.state.core.db,
        "shoponly",
        "Staff-pass-123",
        "shop",
        "admin",
        None,
    )
    .await
    .unwrap();
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/auth/admin/login",
            None,
            json!({"username": "shoponly", "password": "Staff-pass-123"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")),
        "no MR role"
    );
    let (st, e) = mr
        .json(Method::POST, "/mr/v1/admin/applications", None, json!({}))
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
}

#[tokio::test]
async fn an_admin_reads_and_resets_an_operators_key_and_both_are_audited() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "keyadmin", "admin", "mr").await;
    let mut v = mr.venue(10_000).await;
    let path = format!("/mr/v1/admin/operators/{}/api-key", v.operator_id);
    let (st, k) = mr
        .json(Method::GET, &path, Some(&admin), serde_json::Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK, "{k}");
    assert_eq!(
        k["data"]["api_key"],
        v.api_key.as_str(),
        "the key opens from its sealed form"
    );
    let (st, e) = mr
        .json(
            Method::POST,
            &format!("{path}/reset"),
            Some(&admin),
            json!({"reason": "short"}),
        )
        .await;
    assert_eq!(
        (st, e["details"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let (st, r) = mr
        .json(
            Method::POST,
            &format!("{path}/reset"),
            Some(&admin),
            json!({"reason": "the venue reported a leaked key"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let ts = now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 1});
    let (st, _) = mr
        .authorize(&v, &body, &common::session(&v, ts), ts, false)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the old key is dead");
    v.api_key = r["data"]["api_key"].as_str().unwrap().to_string();
    assert_eq!(
        mr.authorize(&v, &body, &common::session(&v, ts), ts, false)
            .await
            .0,
        StatusCode::OK
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity_type = 'mr_operator' ORDER BY id",
    )
    .fetch_all(mr.state.core.db.reader())
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec!["api_key.view".to_string(), "api_key.reset".to_string()]
    );
    let (st, e) = mr
        .json(
            Method::GET,
            "/mr/v1/admin/operators/opnone/api-key",
            Some(&admin),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("OPERATOR_NOT_FOUND"))
    );
}

#[tokio::test]
async fn us7_the_admin_lists_operators_with_balances_filters_and_sorting() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "listadmin", "admin", "mr").await;
    let rich = mr.venue(90_000).await;
    let poor = mr.venue(1_000).await;
    let _mid = mr.venue(50_000).await;
    let ts = now_secs();
    let body = json!({"app_id": rich.app_id, "site_id": rich.site_id, "player_count": 3});
    assert_eq!(
        mr.authorize(&rich, &body, &common::session(&rich, ts), ts, false)
            .await
            .0,
        StatusCode::OK
    );
    let list = |q: &str| {
        let path = format!("/mr/v1/admin/operators{q}");
        let (mr, t) = (&mr, admin.clone());
        async move {
            mr.json(Method::GET, &path, Some(&t), serde_json::Value::Null)
                .await
        }
    };
    let (st, all) = list("?sort_by=balance&sort_order=asc").await;
    assert_eq!(st, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][0]["operator_id"], poor.operator_id.as_str());
    assert_eq!(all["items"][0]["balance"], "10.00");
    let (_, top) = list("?sort_by=total_consumed").await;
    assert_eq!(top["items"][0]["operator_id"], rich.operator_id.as_str());
    assert_eq!(top["items"][0]["total_consumed"], "30.00");
    assert_eq!(top["items"][0]["balance"], "870.00");
    let username = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me",
            Some(&poor.token),
            serde_json::Value::Null,
        )
        .await
        .1["data"]["username"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, found) = list(&format!("?keyword={username}")).await;
    assert_eq!(found["total"], 1);
    let (_, none) = list("?keyword=%25_").await;
    assert_eq!(
        none["total"], 0,
        "LIKE wildcards in the keyword are literal"
    );
    let (_, vip) = list("?category=vip").await;
    assert_eq!(vip["total"], 0);
    assert_eq!(
        list("?sort_by=password_hash").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(list("?category=gold").await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn us7_operator_details_updates_and_category_are_audited_with_the_change() {
    let mr = Mr::new().await;
    let admin = staff(&mr, "detadmin", "admin", "mr").await;
    let v = mr.venue(10_000).await;
    let path = format!("/mr/v1/admin/operators/{}", v.operator_id);
    let (st, d) = mr
        .json(Method::GET, &path, Some(&admin), serde_json::Value::Null)
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(
        (
            d["data"]["sites_count"].as_i64(),
            d["data"]["authorized_apps_count"].as_i64(),
            d["data"]["total_sessions"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(d["data"]["total_recharged"], "100.00");
    assert!(d["data"]["last_transaction_at"].is_string());
    let (st, u) = mr
        .json(
            Method::PUT,
            &path,
            Some(&admin),
            json!({"name": "改名后的场馆"}),
        )
        .await;
    assert_eq!(
        (st, u["data"]["name"].as_str()),
        (StatusCode::OK, Some("改名后的场馆")),
        "{u}"
    );
    let (st, _) = mr
        .json(
            Method::PUT,
            &format!("{path}/category"),
            Some(&admin),
            json!({"category": "vip", "reason": "大客户"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, d) = mr
        .json(Method::GET, &path, Some(&admin), serde_json::Value::Null)
        .await;
    assert_eq!(d["data"]["category"], "vip");
    let (st, e) = mr
        .json(
            Method::PUT,
            "/mr/v1/admin/operators/opnone/category",
            Some(&admin),
            json!({"category": "vip"}),
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("OPERATOR_NOT_FOUND"))
    );
    let (st, _) = mr
        .json(Method::PUT, &path, Some(&admin), json!({"phone": "123"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity_type = 'mr_operator' ORDER BY id",
    )
    .fetch_all(mr.state.core.db.reader())
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec![
            "mr_operator.update".to_string(),
            "mr_operator.category".to_string()
        ],
        "refused changes leave no audit row"
    );
}
