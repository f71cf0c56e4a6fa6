//! `/admin/*`: the admin console's operators, applications and authorizations (contract
//! `admin.yaml`). Every route needs the MR `admin` role (403 `PERMISSION_DENIED` otherwise).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery};
use suanpan_core::time;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{rfc3339_ms, success};
use crate::MrState;
use crate::auth::{MrStaff, Role};
use crate::domain::{self, Category, parse_yuan, yuan};
use crate::envelope::{code, invalid_field};
use crate::service::operators::{self, Registration};
use crate::store::{apps, operators as op_store};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(create_operator, get_operators))
        .routes(routes!(get_operator_details, update_operator))
        .routes(routes!(update_operator_category))
        .routes(routes!(create_application, get_applications))
        .routes(routes!(update_application))
        .routes(routes!(update_application_price))
        .routes(routes!(create_announcement))
        .routes(routes!(admin_get_app_requests))
        .routes(routes!(approve_app_request))
        .routes(routes!(reject_app_request))
        .routes(routes!(create_authorization))
        .routes(routes!(get_operator_api_key))
        .routes(routes!(reset_operator_api_key))
        .routes(routes!(unlock_operator))
        .routes(routes!(get_auth_logs))
}

/// Contract `createOperator`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewOperator {
    /// `^[a-zA-Z0-9_]{3,20}$`.
    pub username: String,
    /// 8..32, upper, lower and digit.
    pub password: String,
    /// 2..50 characters.
    pub name: String,
    /// `^1[3-9]\d{9}$`.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// `trial|normal|vip`.
    pub category: String,
    /// Money (`"100.00"`), default 0; credited from the `manual` clearing account.
    pub initial_balance: Option<String>,
}

/// Creates an operator with an API key (shown once) and an optional opening balance.
/// Errors: 400 `INVALID_PARAMS`, 400 `USERNAME_EXISTS`, 401, 403.
#[utoipa::path(post, path = "/admin/operators", tag = "admin", request_body = NewOperator,
    responses((status = 201, description = "created"), (status = 400, description = "INVALID_PARAMS, USERNAME_EXISTS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn create_operator(
    State(s): State<MrState>,
    who: MrStaff,
    ApiJson(n): ApiJson<NewOperator>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let category = Category::parse(&n.category)
        .ok_or_else(|| invalid_field("category", "trial, normal or vip"))?;
    let opening = match n.initial_balance.as_deref() {
        None => 0,
        Some(t) => parse_yuan(t)
            .filter(|f| *f <= 9_999_999_999)
            .ok_or_else(|| invalid_field("initial_balance", "money, at most 99999999.99"))?,
    };
    let reg = Registration {
        username: n.username,
        password: n.password,
        name: n.name,
        phone: n.phone,
        email: n.email,
        category,
    };
    let (op, key) = operators::register(&s, reg).await?;
    let balance = match opening {
        0 => 0,
        f => {
            operators::credit(
                &s,
                &op.operator_id,
                f,
                "manual",
                &format!("opening-{}", op.operator_id),
            )
            .await?
        }
    };
    Ok(success(
        StatusCode::CREATED,
        json!({
            "operator_id": op.operator_id, "username": op.username, "api_key": key, "category": op.category,
            "balance": yuan(balance), "created_at": rfc3339_ms(op.created_at),
        }),
    ))
}

/// Contract `createApplication`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApplication {
    /// 2..50 characters.
    pub app_name: String,
    /// Money per player, > 0.
    pub unit_price: String,
    /// ≥ 1.
    pub min_players: i64,
    /// min..100.
    pub max_players: i64,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// Creates an application (the server makes its `app_id`). Errors: 400 `INVALID_PARAMS`.
#[utoipa::path(post, path = "/admin/applications", tag = "admin", request_body = NewApplication,
    responses((status = 201, description = "created"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn create_application(
    State(s): State<MrState>,
    who: MrStaff,
    ApiJson(n): ApiJson<NewApplication>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    if !(2..=50).contains(&n.app_name.chars().count()) {
        return Err(invalid_field("app_name", "2-50 characters"));
    }
    let price = parse_yuan(&n.unit_price)
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid_field("unit_price", "money above 0"))?;
    let (lo, hi) = domain::PLAYER_COUNT_RANGE;
    if n.min_players < lo || n.max_players < n.min_players || n.max_players > hi {
        return Err(invalid_field(
            "max_players",
            "1 ≤ min_players ≤ max_players ≤ 100",
        ));
    }
    if n.description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(invalid_field("description", "at most 500 characters"));
    }
    let now = time::now_ms();
    let app = apps::App {
        app_id: format!(
            "app{}",
            suanpan_core::ids::random_alnum(12).to_ascii_lowercase()
        ),
        app_name: n.app_name,
        unit_price_fen: price,
        min_players: n.min_players,
        max_players: n.max_players,
        description: n.description,
        created_at: now,
        updated_at: now,
    };
    apps::insert(&s.core.db, &app).await?;
    let mut v = json!({
        "app_id": app.app_id, "app_name": app.app_name, "unit_price": yuan(app.unit_price_fen),
        "min_players": app.min_players, "max_players": app.max_players,
        "created_at": rfc3339_ms(now), "updated_at": rfc3339_ms(now),
    });
    if let Some(d) = &app.description {
        v["description"] = json!(d);
    }
    Ok(success(StatusCode::CREATED, v))
}

/// Contract `createAuthorization`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAuthorization {
    /// Operator.
    pub operator_id: String,
    /// Application.
    pub app_id: String,
    /// RFC 3339, in the future; absent or null: permanent.
    pub expires_at: Option<String>,
    /// At most 200 characters.
    pub note: Option<String>,
}

/// Authorizes an operator for an application (an expired authorization is renewed). Errors:
/// 400 `INVALID_PARAMS` (already authorized, past `expires_at`), 404 `RESOURCE_NOT_FOUND`.
#[utoipa::path(post, path = "/admin/authorizations", tag = "admin", request_body = NewAuthorization,
    responses((status = 201, description = "authorized"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "RESOURCE_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn create_authorization(
    State(s): State<MrState>,
    who: MrStaff,
    ApiJson(n): ApiJson<NewAuthorization>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let now = time::now_ms();
    let expires_at = future_time(n.expires_at.as_deref(), now)?;
    if n.note.as_deref().is_some_and(|t| t.chars().count() > 200) {
        return Err(invalid_field("note", "at most 200 characters"));
    }
    let missing =
        || AppError::not_found(code::RESOURCE_NOT_FOUND, "no such operator or application");
    op_store::by_id(&s.core.db, &n.operator_id)
        .await?
        .ok_or_else(missing)?;
    apps::by_id(&s.core.db, &n.app_id)
        .await?
        .ok_or_else(missing)?;
    if !apps::authorize(&s.core.db, &n.operator_id, &n.app_id, expires_at, now).await? {
        return Err(invalid_field("app_id", "already authorized"));
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"success": true, "message": "authorized"})),
    )
        .into_response())
}

fn operator_missing() -> AppError {
    AppError::not_found(code::OPERATOR_NOT_FOUND, "no such operator")
}

/// An operator's current API key in clear, for support (contract `getOperatorApiKey`); every
/// read is audited (`api_key.view`) before the key is shown. Errors: 404 `OPERATOR_NOT_FOUND`.
#[utoipa::path(get, path = "/admin/operators/{operator_id}/api-key", tag = "admin", params(("operator_id" = String, Path)),
    responses((status = 200, description = "the key"), (status = 404, description = "OPERATOR_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_operator_api_key(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let (op, _) = op_store::by_id(&s.core.db, &operator_id)
        .await?
        .ok_or_else(operator_missing)?;
    let key = s.seal.open(&op.api_key_sealed).ok_or_else(|| {
        AppError::internal("an API key does not open under the configured seal key")
    })?;
    audit(&s, &who, "api_key.view", &operator_id).await?;
    Ok(success(
        StatusCode::OK,
        json!({"api_key": key, "generated_at": rfc3339_ms(op.api_key_generated_at)}),
    ))
}

/// Contract `resetOperatorApiKey`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct KeyReset {
    /// 10..200 characters.
    pub reason: String,
}

/// Replaces an operator's API key (the old one stops working at once), audited
/// (`api_key.reset`). Errors: 400 `INVALID_PARAMS`, 404 `OPERATOR_NOT_FOUND`.
#[utoipa::path(post, path = "/admin/operators/{operator_id}/api-key/reset", tag = "admin", params(("operator_id" = String, Path)), request_body = KeyReset,
    responses((status = 200, description = "the new key"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "OPERATOR_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn reset_operator_api_key(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
    ApiJson(r): ApiJson<KeyReset>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    if !(10..=200).contains(&r.reason.chars().count()) {
        return Err(invalid_field("reason", "10-200 characters"));
    }
    let (key, at) =
        operators::new_key(&s, &operator_id, &who.staff.actor(), "api_key.reset").await?;
    Ok(success(
        StatusCode::OK,
        json!({"api_key": key, "generated_at": rfc3339_ms(at)}),
    ))
}

/// Query of the admin's operator list (contract `getOperators`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OperatorsQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// `created_at` (default), `balance`, `total_consumed`, `username` or `name`.
    pub sort_by: Option<String>,
    /// `asc` or `desc` (default).
    pub sort_order: Option<String>,
    /// `trial`, `normal`, `vip` or `all` (default).
    pub category: Option<String>,
    /// Part of the username, name, phone or e-mail.
    pub keyword: Option<String>,
    /// Deactivated accounts too (default false).
    #[serde(default)]
    pub include_deactivated: bool,
}

/// Operators with their balances, newest first by default (contract `Page<OperatorSummary>`).
/// Errors: 400 `INVALID_PARAMS` (an unknown sort, order or category).
#[utoipa::path(get, path = "/admin/operators", tag = "admin", params(OperatorsQuery),
    responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_operators(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<OperatorsQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    who.require(Role::Admin)?;
    let (page, size, limit, offset) = super::operators::page_window(q.page, q.page_size)?;
    let sort_by = q.sort_by.as_deref().unwrap_or("created_at");
    if ![
        "created_at",
        "balance",
        "total_consumed",
        "username",
        "name",
    ]
    .contains(&sort_by)
    {
        return Err(invalid_field(
            "sort_by",
            "created_at, balance, total_consumed, username or name",
        ));
    }
    let ascending = match q.sort_order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(invalid_field("sort_order", "asc or desc")),
    };
    let category = match q.category.as_deref() {
        None | Some("all") => None,
        Some(c) => Some(
            Category::parse(c)
                .ok_or_else(|| invalid_field("category", "trial, normal, vip or all"))?
                .as_str(),
        ),
    };
    let filter = op_store::ListFilter {
        category,
        keyword: q.keyword.as_deref().filter(|k| !k.is_empty()),
        include_deactivated: q.include_deactivated,
        sort_by,
        ascending,
    };
    let (items, total) = op_store::list(&s.core.db, &filter, limit, offset).await?;
    let items: Vec<_> = items
        .iter()
        .map(|(o, balance, consumed)| json!({
            "operator_id": o.operator_id, "username": o.username, "name": o.name, "category": o.category,
            "balance": yuan(*balance), "total_consumed": yuan(*consumed), "is_deactivated": o.is_deactivated,
            "created_at": rfc3339_ms(o.created_at), "phone": o.phone, "email": o.email,
        }))
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}

/// Contract `OperatorDetails` of `operator_id`.
async fn details(s: &MrState, operator_id: &str) -> Result<serde_json::Value, AppError> {
    let (o, _) = op_store::by_id(&s.core.db, operator_id)
        .await?
        .ok_or_else(operator_missing)?;
    let (balance, recharged, consumed, last) = op_store::balance(&s.core.db, operator_id).await?;
    let (sessions, apps, sites) = op_store::counts(&s.core.db, operator_id, time::now_ms()).await?;
    let last = last.filter(|at| *at > o.created_at).map(rfc3339_ms);
    Ok(json!({
        "operator_id": o.operator_id, "username": o.username, "name": o.name, "category": o.category,
        "balance": yuan(balance), "total_consumed": yuan(consumed), "is_deactivated": o.is_deactivated,
        "created_at": rfc3339_ms(o.created_at), "phone": o.phone, "email": o.email,
        "total_recharged": yuan(recharged), "total_sessions": sessions, "last_transaction_at": last,
        "authorized_apps_count": apps, "sites_count": sites, "updated_at": rfc3339_ms(o.updated_at),
        "locked_at": o.locked_at.map(rfc3339_ms),
        "lock_reason": op_store::lock_reason(&s.core.db, operator_id).await?,
    }))
}

/// Unlocks an operator that FR-056's guard locked (beyond the contract, which names no route;
/// only an admin unlocks). Audited `mr_operator.unlock`. Errors: 404 `OPERATOR_NOT_FOUND` for
/// an unknown operator or one that is not locked.
#[utoipa::path(post, path = "/admin/operators/{operator_id}/unlock", tag = "admin", params(("operator_id" = String, Path)),
    responses((status = 200, description = "unlocked"), (status = 404, description = "OPERATOR_NOT_FOUND (or not locked)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn unlock_operator(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let now = time::now_ms();
    audited(
        &s,
        &who,
        "mr_operator.unlock",
        operator_target(&operator_id),
        |b, d| op_store::push_unlock(b, d, &operator_id, now),
    )
    .await?;
    Ok(axum::Json(json!({"success": true, "message": "账户已解锁"})).into_response())
}

/// One operator with its totals and counts (contract `getOperatorDetails`). Errors: 404
/// `OPERATOR_NOT_FOUND`.
#[utoipa::path(get, path = "/admin/operators/{operator_id}", tag = "admin", params(("operator_id" = String, Path)),
    responses((status = 200, description = "details"), (status = 404, description = "OPERATOR_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_operator_details(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    Ok(success(StatusCode::OK, details(&s, &operator_id).await?))
}

/// Contract `updateOperator`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OperatorUpdate {
    /// 2..50 characters.
    pub name: Option<String>,
    /// `^1[3-9]\d{9}$`.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// Updates an operator's name, phone or e-mail, audited (`mr_operator.update`). Errors: 400
/// `INVALID_PARAMS`, 404 `OPERATOR_NOT_FOUND`.
#[utoipa::path(put, path = "/admin/operators/{operator_id}", tag = "admin", params(("operator_id" = String, Path)), request_body = OperatorUpdate,
    responses((status = 200, description = "updated"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "OPERATOR_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn update_operator(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
    ApiJson(u): ApiJson<OperatorUpdate>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let field =
        |r: Result<(), (&'static str, &'static str)>| r.map_err(|(f, e)| invalid_field(f, e));
    if let Some(n) = &u.name {
        field(domain::check_name(n))?;
    }
    if let Some(p) = &u.phone {
        field(domain::check_phone(p))?;
    }
    if let Some(e) = &u.email {
        field(domain::check_email(e))?;
    }
    let fields = [u.name.as_deref(), u.phone.as_deref(), u.email.as_deref()];
    let now = time::now_ms();
    audited(
        &s,
        &who,
        "mr_operator.update",
        operator_target(&operator_id),
        |b, d| op_store::push_update_profile(b, d, &operator_id, fields, now),
    )
    .await?;
    let d = details(&s, &operator_id).await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "operator updated", "data": d})),
    )
        .into_response())
}

/// Contract `updateOperatorCategory`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CategoryChange {
    /// `trial|normal|vip`.
    pub category: String,
    /// At most 200 characters.
    pub reason: Option<String>,
}

/// Changes an operator's category, audited (`mr_operator.category`). Errors: 400, 404.
#[utoipa::path(put, path = "/admin/operators/{operator_id}/category", tag = "admin", params(("operator_id" = String, Path)), request_body = CategoryChange,
    responses((status = 200, description = "changed"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "OPERATOR_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn update_operator_category(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
    ApiJson(c): ApiJson<CategoryChange>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let category = Category::parse(&c.category)
        .ok_or_else(|| invalid_field("category", "trial, normal or vip"))?;
    if c.reason.as_deref().is_some_and(|r| r.chars().count() > 200) {
        return Err(invalid_field("reason", "at most 200 characters"));
    }
    let now = time::now_ms();
    audited(
        &s,
        &who,
        "mr_operator.category",
        operator_target(&operator_id),
        |b, d| op_store::push_set_category(b, d, &operator_id, category.as_str(), now),
    )
    .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "category updated"})),
    )
        .into_response())
}

/// What an audited admin action acts on: the audit's entity type and id, and the error when
/// the action's guard finds no such entity.
struct Target<'a> {
    kind: &'static str,
    id: &'a str,
    missing: fn() -> AppError,
}

fn operator_target(id: &str) -> Target<'_> {
    Target {
        kind: "mr_operator",
        id,
        missing: operator_missing,
    }
}

/// Runs an admin action and its audit row in one transaction: `action_sql` adds the action's
/// statements to the batch and returns its guard (the entity exists, else `target.missing` and
/// nothing is written).
async fn audited<F>(
    s: &MrState,
    who: &MrStaff,
    action: &str,
    target: Target<'_>,
    action_sql: F,
) -> Result<(), AppError>
where
    F: Fn(&mut suanpan_core::db::Batch, suanpan_core::db::Dialect) -> usize + Sync,
{
    let actor = who.staff.actor();
    let d = s.core.db.dialect;
    let cx = (&actor, action, &target, &action_sql);
    s.core
        .db
        .transaction(&cx, move |tx, &(actor, action, target, action_sql)| {
            Box::pin(async move {
                let mut b = suanpan_core::db::Batch::new();
                let guard = action_sql(&mut b, d);
                suanpan_core::audit::push_record(
                    &mut b,
                    d,
                    &suanpan_core::audit::Entry::new(actor, action, target.kind, target.id),
                );
                if b.execute(tx, d).await?.failed_guard == Some(guard) {
                    return Err((target.missing)());
                }
                Ok(())
            })
        })
        .await
}

/// Writes one audit row of an admin action on an operator (a read: nothing else changes).
async fn audit(
    s: &MrState,
    who: &MrStaff,
    action: &str,
    operator_id: &str,
) -> Result<(), AppError> {
    audited(s, who, action, operator_target(operator_id), |_, _| {
        usize::MAX
    })
    .await
}

fn app_missing() -> AppError {
    AppError::not_found(code::APP_NOT_FOUND, "no such application")
}

fn app_json(a: &apps::App) -> serde_json::Value {
    let mut v = json!({
        "app_id": a.app_id, "app_name": a.app_name, "unit_price": yuan(a.unit_price_fen),
        "min_players": a.min_players, "max_players": a.max_players,
        "created_at": rfc3339_ms(a.created_at), "updated_at": rfc3339_ms(a.updated_at),
    });
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    v
}

/// Query of the application list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AppsQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// Part of the name.
    pub keyword: Option<String>,
}

/// Applications, newest first (contract `Page<Application>`).
#[utoipa::path(get, path = "/admin/applications", tag = "admin", params(AppsQuery),
    responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_applications(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<AppsQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    who.require(Role::Admin)?;
    let (page, size, limit, offset) = super::operators::page_window(q.page, q.page_size)?;
    let (items, total) = apps::page(
        &s.core.db,
        q.keyword.as_deref().unwrap_or(""),
        limit,
        offset,
    )
    .await?;
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items.iter().map(app_json).collect::<Vec<_>>()}),
    ))
}

/// Contract `updateApplication` (the price has its own operation).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AppUpdate {
    /// 2..50 characters.
    pub app_name: Option<String>,
    /// ≥ 1.
    pub min_players: Option<i64>,
    /// ≤ 100.
    pub max_players: Option<i64>,
    /// At most 500 characters.
    pub description: Option<String>,
}

/// Updates an application's name, player range or description, audited. Errors: 400
/// `INVALID_PARAMS` (also a range with min above max), 404 `APP_NOT_FOUND`.
#[utoipa::path(put, path = "/admin/applications/{app_id}", tag = "admin", params(("app_id" = String, Path)), request_body = AppUpdate,
    responses((status = 200, description = "updated"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "APP_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn update_application(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(app_id): ApiPath<String>,
    ApiJson(u): ApiJson<AppUpdate>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    if u.app_name
        .as_deref()
        .is_some_and(|n| !(2..=50).contains(&n.chars().count()))
    {
        return Err(invalid_field("app_name", "2-50 characters"));
    }
    let (lo, hi) = domain::PLAYER_COUNT_RANGE;
    if u.min_players.is_some_and(|m| m < lo)
        || u.max_players.is_some_and(|m| !(lo..=hi).contains(&m))
    {
        return Err(invalid_field(
            "max_players",
            "1 ≤ min_players ≤ max_players ≤ 100",
        ));
    }
    if u.description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(invalid_field("description", "at most 500 characters"));
    }
    let before = apps::by_id(&s.core.db, &app_id)
        .await?
        .ok_or_else(app_missing)?;
    if u.min_players.unwrap_or(before.min_players) > u.max_players.unwrap_or(before.max_players) {
        return Err(invalid_field(
            "min_players",
            "min_players may not exceed max_players",
        ));
    }
    let now = time::now_ms();
    let target = Target {
        kind: "mr_application",
        id: &app_id,
        missing: app_missing,
    };
    audited(&s, &who, "mr_application.update", target, |b, d| {
        apps::push_update(
            b,
            d,
            &app_id,
            u.app_name.as_deref(),
            (u.min_players, u.max_players),
            u.description.as_deref(),
            now,
        )
    })
    .await?;
    let after = apps::by_id(&s.core.db, &app_id)
        .await?
        .ok_or_else(app_missing)?;
    Ok((
        StatusCode::OK,
        axum::Json(
            json!({"success": true, "message": "application updated", "data": app_json(&after)}),
        ),
    )
        .into_response())
}

/// Contract `updateApplicationPrice`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PriceChange {
    /// Money per player, > 0.
    pub unit_price: String,
    /// At most 200 characters.
    pub reason: Option<String>,
}

/// Changes an application's price from now on (past charges keep theirs); every operator
/// authorized for it gets a `price_change` message; audited; all in one transaction. Errors:
/// 400 `INVALID_PARAMS`, 404 `APP_NOT_FOUND`.
#[utoipa::path(put, path = "/admin/applications/{app_id}/price", tag = "admin", params(("app_id" = String, Path)), request_body = PriceChange,
    responses((status = 200, description = "changed"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "APP_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn update_application_price(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(app_id): ApiPath<String>,
    ApiJson(p): ApiJson<PriceChange>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let price = parse_yuan(&p.unit_price)
        .filter(|v| *v > 0)
        .ok_or_else(|| invalid_field("unit_price", "money above 0"))?;
    if p.reason.as_deref().is_some_and(|r| r.chars().count() > 200) {
        return Err(invalid_field("reason", "at most 200 characters"));
    }
    let before = apps::by_id(&s.core.db, &app_id)
        .await?
        .ok_or_else(app_missing)?;
    let now = time::now_ms();
    let notified = apps::authorized_operators(&s.core.db, &app_id, now).await?;
    let title = format!("应用「{}」价格调整", before.app_name);
    let content = format!(
        "「{}」每人价格由 ¥{} 调整为 ¥{}，即时生效；已完成的游戏按原价计费。",
        before.app_name,
        yuan(before.unit_price_fen),
        yuan(price)
    );
    let target = Target {
        kind: "mr_application",
        id: &app_id,
        missing: app_missing,
    };
    audited(&s, &who, "mr_application.price", target, |b, d| {
        let guard = apps::push_price(b, d, &app_id, price, now);
        crate::store::messages::push_send(b, d, &notified, "price_change", &title, &content, now);
        guard
    })
    .await?;
    Ok((StatusCode::OK, axum::Json(json!({"success": true, "message": "price updated", "data": {
        "app_id": app_id, "old_price": yuan(before.unit_price_fen), "new_price": yuan(price), "notified_operators_count": notified.len(),
    }}))).into_response())
}

/// Contract `createAnnouncement`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Announcement {
    /// 2..100 characters.
    pub title: String,
    /// 10..2000 characters.
    pub content: String,
    /// Operator ids; empty or absent: every active operator.
    #[serde(default)]
    pub target_operators: Vec<String>,
}

/// Sends an announcement as a `system` message to the chosen or all active operators, audited.
/// Errors: 400 `INVALID_PARAMS` (lengths, an unknown operator id).
#[utoipa::path(post, path = "/admin/announcements", tag = "admin", request_body = Announcement,
    responses((status = 201, description = "sent"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn create_announcement(
    State(s): State<MrState>,
    who: MrStaff,
    ApiJson(a): ApiJson<Announcement>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    if !(2..=100).contains(&a.title.chars().count()) {
        return Err(invalid_field("title", "2-100 characters"));
    }
    if !(10..=2000).contains(&a.content.chars().count()) {
        return Err(invalid_field("content", "10-2000 characters"));
    }
    let active = op_store::active_ids(&s.core.db).await?;
    let to: Vec<String> = if a.target_operators.is_empty() {
        active
    } else {
        if let Some(bad) = a.target_operators.iter().find(|t| !active.contains(t)) {
            return Err(invalid_field(
                "target_operators",
                &format!("no active operator {bad}"),
            ));
        }
        a.target_operators.clone()
    };
    let id = format!(
        "ann{}",
        suanpan_core::ids::random_alnum(12).to_ascii_lowercase()
    );
    let now = time::now_ms();
    let target = Target {
        kind: "mr_announcement",
        id: &id,
        missing: operator_missing,
    };
    audited(&s, &who, "mr_announcement.create", target, |b, d| {
        crate::store::messages::push_send(b, d, &to, "system", &a.title, &a.content, now);
        usize::MAX
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"success": true, "message": "announcement sent", "data": {"announcement_id": id, "recipients_count": to.len()}}))).into_response())
}

/// App requests of every operator, newest first (status default `pending`).
#[utoipa::path(get, path = "/admin/app-requests", tag = "admin", params(super::operators::RequestsQuery),
    responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn admin_get_app_requests(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<super::operators::RequestsQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    who.require(Role::Admin)?;
    let (page, size, limit, offset) = super::operators::page_window(q.page, q.page_size)?;
    let status = super::operators::request_status(q.status.as_deref(), "pending")?;
    let (items, total) =
        crate::store::requests::page(&s.core.db, None, status, limit, offset).await?;
    let items: Vec<_> = items
        .iter()
        .map(|r| super::operators::request_json(r, true))
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}

fn request_missing() -> AppError {
    AppError::not_found(code::RESOURCE_NOT_FOUND, "no such app request")
}

fn not_pending() -> AppError {
    invalid_field("request_id", "the request is no longer pending")
}

/// Contract `approveAppRequest`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// RFC 3339 in the future; absent or null: permanent.
    pub expires_at: Option<String>,
    /// At most 200 characters.
    pub note: Option<String>,
}

/// Approves a pending request: the authorization is active at once; audited; one transaction.
/// Errors: 400 (not pending, a past `expires_at`), 404 `RESOURCE_NOT_FOUND`.
#[utoipa::path(post, path = "/admin/app-requests/{request_id}/approve", tag = "admin", params(("request_id" = String, Path)), request_body = Approval,
    responses((status = 200, description = "approved"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "RESOURCE_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn approve_app_request(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(request_id): ApiPath<String>,
    ApiJson(a): ApiJson<Approval>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    let now = time::now_ms();
    let expires_at = future_time(a.expires_at.as_deref(), now)?;
    if a.note.as_deref().is_some_and(|t| t.chars().count() > 200) {
        return Err(invalid_field("note", "at most 200 characters"));
    }
    let (operator_id, app_id, _) = crate::store::requests::one(&s.core.db, &request_id)
        .await?
        .ok_or_else(request_missing)?;
    let admin_id = who.staff.staff.id.to_string();
    let target = Target {
        kind: "mr_app_request",
        id: &request_id,
        missing: not_pending,
    };
    audited(&s, &who, "mr_app_request.approve", target, |b, d| {
        let g = crate::store::requests::push_review(b, d, &request_id, true, None, &admin_id, now);
        apps::push_authorize(b, d, &operator_id, &app_id, expires_at, now);
        g
    })
    .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "approved"})),
    )
        .into_response())
}

/// Contract `rejectAppRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// 10..200 characters.
    pub reason: String,
}

/// Rejects a pending request with a reason; audited. Errors: 400, 404 `RESOURCE_NOT_FOUND`.
#[utoipa::path(post, path = "/admin/app-requests/{request_id}/reject", tag = "admin", params(("request_id" = String, Path)), request_body = Rejection,
    responses((status = 200, description = "rejected"), (status = 400, description = "INVALID_PARAMS"), (status = 404, description = "RESOURCE_NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn reject_app_request(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(request_id): ApiPath<String>,
    ApiJson(r): ApiJson<Rejection>,
) -> Result<Response, AppError> {
    who.require(Role::Admin)?;
    if !(10..=200).contains(&r.reason.chars().count()) {
        return Err(invalid_field("reason", "10-200 characters"));
    }
    crate::store::requests::one(&s.core.db, &request_id)
        .await?
        .ok_or_else(request_missing)?;
    let (admin_id, now) = (who.staff.staff.id.to_string(), time::now_ms());
    let target = Target {
        kind: "mr_app_request",
        id: &request_id,
        missing: not_pending,
    };
    audited(&s, &who, "mr_app_request.reject", target, |b, d| {
        crate::store::requests::push_review(
            b,
            d,
            &request_id,
            false,
            Some(&r.reason),
            &admin_id,
            now,
        )
    })
    .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "rejected"})),
    )
        .into_response())
}

/// An optional RFC 3339 time that must be in the future (ms); 400 `INVALID_PARAMS` otherwise.
fn future_time(t: Option<&str>, now: i64) -> Result<Option<i64>, AppError> {
    t.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .ok()
            .filter(|ms| *ms > now)
            .ok_or_else(|| invalid_field("expires_at", "an RFC 3339 time in the future"))
    })
    .transpose()
}

/// Query of the authorization audit.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuthLogQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// One operator.
    pub operator_id: Option<String>,
    /// `authorized`, `replayed`, an error code (e.g. `INSUFFICIENT_BALANCE`), or `all`.
    pub result: Option<String>,
    /// From (RFC 3339, inclusive).
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive).
    pub end_time: Option<String>,
}

/// Every authorization request, newest first (FR-057; beyond the contract): operator, session,
/// site, app, players, the answer's status and `result` (`authorized`, `replayed` or the error
/// code), client address and time.
#[utoipa::path(get, path = "/admin/auth-logs", tag = "admin", params(AuthLogQuery),
    responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_auth_logs(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<AuthLogQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    who.require(Role::Admin)?;
    let (page, size, limit, offset) = super::operators::page_window(q.page, q.page_size)?;
    let window = super::statistics::window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let f = crate::store::authlog::Filter {
        operator_id: q.operator_id.as_deref(),
        result: q.result.as_deref().filter(|r| *r != "all"),
        window,
    };
    let (rows, total) = crate::store::authlog::page(&s.core.db, &f, (limit, offset)).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|e| json!({"operator_id": e.operator_id, "session_id": e.session_id, "site_id": e.site_id, "app_id": e.app_id, "player_count": e.player_count, "status": e.status, "result": e.result, "ip_address": e.client_ip, "created_at": rfc3339_ms(e.created_at)}))
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}
