//! `/operators/me/*`: the signed-in operator's profile, balance, sites, authorized apps and
//! usage records (contract `operator.yaml`).

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiQuery};
use suanpan_core::time;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AuthOperator, rfc3339_ms, success};
use crate::MrState;
use crate::domain::yuan;
use crate::envelope::invalid_field;
use crate::store::{apps, operators, sites, usage};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(get_operator_profile))
        .routes(routes!(get_operator_balance))
        .routes(routes!(get_operator_sites, create_operator_site))
        .routes(routes!(get_authorized_apps))
        .routes(routes!(get_usage_records))
}

/// The operator's profile (contract `OperatorProfile`).
#[utoipa::path(get, path = "/operators/me", tag = "operator", responses((status = 200, description = "profile"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_operator_profile(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
) -> Result<Response, AppError> {
    let (balance, ..) = operators::balance(&s.core.db, &op.operator_id).await?;
    Ok(success(
        StatusCode::OK,
        json!({
            "operator_id": op.operator_id, "username": op.username, "name": op.name, "phone": op.phone,
            "email": op.email, "category": op.category, "balance": yuan(balance),
            "created_at": rfc3339_ms(op.created_at), "updated_at": rfc3339_ms(op.updated_at),
        }),
    ))
}

/// Balance, totals and the last transaction's time (the account's creation when there is none;
/// the contract requires the field).
#[utoipa::path(get, path = "/operators/me/balance", tag = "operator", responses((status = 200, description = "balance"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_operator_balance(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
) -> Result<Response, AppError> {
    let (balance, recharged, consumed, last) =
        operators::balance(&s.core.db, &op.operator_id).await?;
    Ok(success(
        StatusCode::OK,
        json!({
            "balance": yuan(balance), "total_recharged": yuan(recharged), "total_consumed": yuan(consumed),
            "last_transaction_at": rfc3339_ms(last.unwrap_or(op.created_at)),
        }),
    ))
}

/// Query of the site list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SitesQuery {
    /// Include logically deleted sites.
    #[serde(default)]
    pub include_deleted: bool,
}

fn site_json(x: &sites::Site) -> serde_json::Value {
    let mut v = json!({
        "site_id": x.site_id, "name": x.name, "address": x.address, "is_deleted": x.is_deleted,
        "created_at": rfc3339_ms(x.created_at), "updated_at": rfc3339_ms(x.updated_at),
    });
    if let Some(d) = &x.description {
        v["description"] = json!(d);
    }
    v
}

/// The operator's sites (not paginated).
#[utoipa::path(get, path = "/operators/me/sites", tag = "operator", params(SitesQuery), responses((status = 200, description = "sites"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_operator_sites(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<SitesQuery>,
) -> Result<Response, AppError> {
    let list = sites::of_operator(&s.core.db, &op.operator_id, q.include_deleted).await?;
    Ok(success(
        StatusCode::OK,
        json!({"sites": list.iter().map(site_json).collect::<Vec<_>>()}),
    ))
}

/// A new site.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSite {
    /// 2..50 characters.
    pub name: String,
    /// 5..200 characters.
    pub address: String,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// Creates a site. Errors: 400 `INVALID_PARAMS` (`details.field`).
#[utoipa::path(post, path = "/operators/me/sites", tag = "operator", request_body = NewSite, responses((status = 201, description = "created"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn create_operator_site(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(n): ApiJson<NewSite>,
) -> Result<Response, AppError> {
    let chars = |t: &str| t.chars().count();
    if !(2..=50).contains(&chars(&n.name)) {
        return Err(invalid_field("name", "2-50 characters"));
    }
    if !(5..=200).contains(&chars(&n.address)) {
        return Err(invalid_field("address", "5-200 characters"));
    }
    if n.description.as_deref().is_some_and(|d| chars(d) > 500) {
        return Err(invalid_field("description", "at most 500 characters"));
    }
    let now = time::now_ms();
    let site = sites::Site {
        site_id: format!(
            "site{}",
            suanpan_core::ids::random_alnum(12).to_ascii_lowercase()
        ),
        operator_id: op.operator_id,
        name: n.name,
        address: n.address,
        description: n.description,
        is_deleted: false,
        created_at: now,
        updated_at: now,
    };
    sites::insert(&s.core.db, &site).await?;
    Ok(success(StatusCode::CREATED, site_json(&site)))
}

/// The applications the operator may authorize now, at their current terms.
#[utoipa::path(get, path = "/operators/me/authorized-apps", tag = "operator", responses((status = 200, description = "applications"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_authorized_apps(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
) -> Result<Response, AppError> {
    let list = apps::authorized_apps(&s.core.db, &op.operator_id, time::now_ms()).await?;
    let items: Vec<_> = list
        .iter()
        .map(|(a, at, exp)| {
            json!({
                "app_id": a.app_id, "app_name": a.app_name, "unit_price": yuan(a.unit_price_fen),
                "min_players": a.min_players, "max_players": a.max_players,
                "authorized_at": rfc3339_ms(*at), "expires_at": exp.map(rfc3339_ms),
            })
        })
        .collect();
    Ok(success(StatusCode::OK, json!({"applications": items})))
}

/// Page query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
}

/// The operator's usage records, newest first (contract `Page<UsageRecord>`, not wrapped).
#[utoipa::path(get, path = "/operators/me/usage-records", tag = "operator", params(PageQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_usage_records(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let page = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(20);
    if page < 1 || !(1..=100).contains(&size) {
        return Err(invalid_field("page", "page ≥ 1, page_size 1-100"));
    }
    let (items, total) = usage::page_of(
        &s.core.db,
        &op.operator_id,
        size,
        (page - 1).saturating_mul(size),
    )
    .await?;
    let items: Vec<_> = items
        .iter()
        .map(|(u, site, app)| json!({
            "usage_id": u.usage_id, "session_id": u.session_id, "site_id": u.site_id, "site_name": site,
            "app_id": u.app_id, "app_name": app, "player_count": u.player_count,
            "unit_price": yuan(u.unit_price_fen), "total_cost": yuan(u.total_cost_fen),
            "created_at": rfc3339_ms(u.created_at), "game_duration": null,
        }))
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}
