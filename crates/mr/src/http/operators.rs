//! `/operators/me/*`: the signed-in operator's profile, balance, sites, authorized apps and
//! usage records (contract `operator.yaml`).

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

use super::{AuthOperator, rfc3339_ms, success};
use crate::MrState;
use crate::domain::yuan;
use crate::envelope::invalid_field;
use crate::store::{apps, operators, sites, usage};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_operator_profile,
            update_operator_profile,
            deactivate_operator
        ))
        .routes(routes!(regenerate_api_key))
        .routes(routes!(update_operator_site, delete_operator_site))
        .routes(routes!(get_operator_balance))
        .routes(routes!(get_operator_sites, create_operator_site))
        .routes(routes!(get_authorized_apps))
        .routes(routes!(get_usage_records))
        .routes(routes!(get_transactions))
        .routes(routes!(get_messages))
        .routes(routes!(get_app_requests, request_app_authorization))
        .routes(routes!(mark_message_as_read))
}

/// The operator's profile (contract `OperatorProfile`).
#[utoipa::path(get, path = "/operators/me", tag = "operator", responses((status = 200, description = "profile"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_operator_profile(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
) -> Result<Response, AppError> {
    let (balance, ..) = operators::balance(&s.core.db, &op.operator_id).await?;
    Ok(success(StatusCode::OK, profile_json(&op, balance)))
}

/// Contract `OperatorProfile`.
fn profile_json(op: &operators::Operator, balance: i64) -> serde_json::Value {
    json!({
        "operator_id": op.operator_id, "username": op.username, "name": op.name, "phone": op.phone,
        "email": op.email, "category": op.category, "balance": yuan(balance),
        "created_at": rfc3339_ms(op.created_at), "updated_at": rfc3339_ms(op.updated_at),
    })
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
    check_site(Some(&n.name), Some(&n.address), n.description.as_deref())?;
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
    let (page, size, _, _) = page_window(q.page, q.page_size)?;
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

/// Contract `updateOperatorProfile`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProfileUpdate {
    /// 2..50 characters.
    pub name: Option<String>,
    /// `^1[3-9]\d{9}$`.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// Updates the operator's name, phone or e-mail. Errors: 400 `INVALID_PARAMS`.
#[utoipa::path(put, path = "/operators/me", tag = "operator", request_body = ProfileUpdate, responses((status = 200, description = "updated"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn update_operator_profile(
    State(s): State<MrState>,
    who: AuthOperator,
    ApiJson(u): ApiJson<ProfileUpdate>,
) -> Result<Response, AppError> {
    let field =
        |r: Result<(), (&'static str, &'static str)>| r.map_err(|(f, e)| invalid_field(f, e));
    if let Some(n) = &u.name {
        field(crate::domain::check_name(n))?;
    }
    if let Some(p) = &u.phone {
        field(crate::domain::check_phone(p))?;
    }
    if let Some(e) = &u.email {
        field(crate::domain::check_email(e))?;
    }
    let id = &who.0.operator_id;
    operators::update_profile(
        &s.core.db,
        id,
        [u.name.as_deref(), u.phone.as_deref(), u.email.as_deref()],
        time::now_ms(),
    )
    .await?;
    let (op, _) = operators::by_id(&s.core.db, id)
        .await?
        .ok_or_else(|| AppError::internal("operator vanished"))?;
    let (balance, ..) = operators::balance(&s.core.db, id).await?;
    Ok((StatusCode::OK, axum::Json(json!({"success": true, "message": "profile updated", "data": profile_json(&op, balance)}))).into_response())
}

/// The password that confirms a sensitive change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordConfirm {
    /// The account's password.
    #[serde(default)]
    pub password: String,
}

/// Replaces the operator's API key; the old one stops working at once; the new one is shown
/// here only. Errors: 401 `UNAUTHORIZED` (wrong password).
#[utoipa::path(post, path = "/operators/me/api-key/regenerate", tag = "operator", request_body = PasswordConfirm, responses((status = 200, description = "the new key"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn regenerate_api_key(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(p): ApiJson<PasswordConfirm>,
) -> Result<Response, AppError> {
    crate::service::operators::login(&s, &op.username, &p.password).await?;
    let actor = crate::service::operators::actor(&op);
    let (key, at) =
        crate::service::operators::new_key(&s, &op.operator_id, &actor, "api_key.regenerate")
            .await?;
    Ok(success(
        StatusCode::OK,
        json!({"api_key": key, "generated_at": rfc3339_ms(at)}),
    ))
}

/// Contract `updateOperatorSite`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SiteUpdate {
    /// 2..50 characters.
    pub name: Option<String>,
    /// 5..200 characters.
    pub address: Option<String>,
    /// At most 500 characters.
    pub description: Option<String>,
}

fn check_site(
    name: Option<&str>,
    address: Option<&str>,
    description: Option<&str>,
) -> Result<(), AppError> {
    let chars = |t: &str| t.chars().count();
    if name.is_some_and(|n| !(2..=50).contains(&chars(n))) {
        return Err(invalid_field("name", "2-50 characters"));
    }
    if address.is_some_and(|a| !(5..=200).contains(&chars(a))) {
        return Err(invalid_field("address", "5-200 characters"));
    }
    if description.is_some_and(|d| chars(d) > 500) {
        return Err(invalid_field("description", "at most 500 characters"));
    }
    Ok(())
}

fn site_missing() -> AppError {
    AppError::not_found(
        crate::envelope::code::SITE_NOT_FOUND,
        "no such site of this operator",
    )
}

/// Updates a site of the operator. Errors: 400 `INVALID_PARAMS`, 404 `SITE_NOT_FOUND` (another
/// operator's, deleted or unknown).
#[utoipa::path(put, path = "/operators/me/sites/{site_id}", tag = "operator", params(("site_id" = String, Path)), request_body = SiteUpdate, responses((status = 200, description = "updated"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "SITE_NOT_FOUND")))]
pub async fn update_operator_site(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiPath(site_id): ApiPath<String>,
    ApiJson(u): ApiJson<SiteUpdate>,
) -> Result<Response, AppError> {
    check_site(
        u.name.as_deref(),
        u.address.as_deref(),
        u.description.as_deref(),
    )?;
    if !sites::update(
        &s.core.db,
        &op.operator_id,
        &site_id,
        u.name.as_deref(),
        u.address.as_deref(),
        u.description.as_deref(),
        time::now_ms(),
    )
    .await?
    {
        return Err(site_missing());
    }
    let site = sites::one(&s.core.db, &op.operator_id, &site_id)
        .await?
        .ok_or_else(site_missing)?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "site updated", "data": site_json(&site)})),
    )
        .into_response())
}

/// Deletes a site logically: its history stays, authorizations there are refused. Errors: 404
/// `SITE_NOT_FOUND`.
#[utoipa::path(delete, path = "/operators/me/sites/{site_id}", tag = "operator", params(("site_id" = String, Path)), responses((status = 200, description = "deleted"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "SITE_NOT_FOUND")))]
pub async fn delete_operator_site(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiPath(site_id): ApiPath<String>,
) -> Result<Response, AppError> {
    if !sites::delete(&s.core.db, &op.operator_id, &site_id, time::now_ms()).await? {
        return Err(site_missing());
    }
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "site deleted"})),
    )
        .into_response())
}

/// Query of the transaction history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TransactionsQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// From (RFC 3339, inclusive).
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive).
    pub end_time: Option<String>,
    /// `recharge`, `consumption` or `all` (default: both). Beyond the contract, `refund` and
    /// `refund_reversal` list the balance's refund movements.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `(limit, offset)` of a page; 400 `INVALID_PARAMS` outside page ≥ 1, page_size 1..100.
pub fn page_window(page: Option<i64>, size: Option<i64>) -> Result<(i64, i64, i64, i64), AppError> {
    let (page, size) = (page.unwrap_or(1), size.unwrap_or(20));
    if page < 1 || !(1..=100).contains(&size) {
        return Err(invalid_field("page", "page ≥ 1, page_size 1-100"));
    }
    Ok((page, size, size, (page - 1).saturating_mul(size)))
}

/// The operator's recharges and consumptions, newest first (contract `Page<Transaction>`).
#[utoipa::path(get, path = "/operators/me/transactions", tag = "operator", params(TransactionsQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_transactions(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<TransactionsQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let (page, size, limit, offset) = page_window(q.page, q.page_size)?;
    let kind = match q.kind.as_deref() {
        None | Some("all") => None,
        Some(k @ ("recharge" | "consumption" | "refund" | "refund_reversal")) => Some(k),
        Some(_) => return Err(invalid_field("type", "recharge, consumption or all")),
    };
    let window = super::statistics::window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let (items, total) =
        usage::transactions(&s.core.db, &op.operator_id, kind, window, (limit, offset)).await?;
    let items: Vec<_> = items
        .iter()
        .map(|t| {
            let mut v = json!({"transaction_id": t.transaction_id, "type": t.kind, "amount": yuan(t.amount_fen), "balance_after": yuan(t.balance_after_fen), "created_at": rfc3339_ms(t.created_at)});
            if let Some(u) = &t.related_usage_id {
                v["related_usage_id"] = json!(u);
            }
            if let Some(m) = t.payment_method.as_deref().filter(|m| matches!(*m, "wechat" | "alipay")) {
                v["payment_method"] = json!(m);
            }
            v
        })
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}

/// Query of the message list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MessagesQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// Unread only (default false).
    #[serde(default)]
    pub unread_only: bool,
}

/// The operator's messages, newest first, with `unread_count` (contract `getMessages`).
#[utoipa::path(get, path = "/operators/me/messages", tag = "operator", params(MessagesQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_messages(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let (page, size, limit, offset) = page_window(q.page, q.page_size)?;
    let (items, total, unread) =
        crate::store::messages::page(&s.core.db, &op.operator_id, q.unread_only, limit, offset)
            .await?;
    let items: Vec<_> = items
        .iter()
        .map(|m| json!({
            "message_id": m.message_id, "type": m.kind, "title": m.title, "content": m.content,
            "is_read": m.read_at.is_some(), "read_at": m.read_at.map(rfc3339_ms), "created_at": rfc3339_ms(m.created_at),
        }))
        .collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "unread_count": unread, "items": items}),
    ))
}

/// Marks a message read; idempotent (the first reading time stays). Errors: 404
/// `RESOURCE_NOT_FOUND` (not this operator's message).
#[utoipa::path(put, path = "/operators/me/messages/{message_id}/read", tag = "operator", params(("message_id" = String, Path)), responses((status = 200, description = "read"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "RESOURCE_NOT_FOUND")))]
pub async fn mark_message_as_read(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiPath(message_id): ApiPath<String>,
) -> Result<Response, AppError> {
    if !crate::store::messages::mark_read(&s.core.db, &op.operator_id, &message_id, time::now_ms())
        .await?
    {
        return Err(AppError::not_found(
            crate::envelope::code::RESOURCE_NOT_FOUND,
            "no such message",
        ));
    }
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "marked as read"})),
    )
        .into_response())
}

/// Contract `deactivateOperator`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Deactivation {
    /// The account's password.
    #[serde(default)]
    pub password: String,
    /// Why (optional, audited).
    pub reason: Option<String>,
}

/// Deactivates the signed-in operator: logins answer 403 `ACCOUNT_DEACTIVATED` afterwards, its
/// tokens and API key stop working, the data stays, the remaining balance is forfeited (refund
/// first). Errors: 401 `UNAUTHORIZED` (wrong password).
#[utoipa::path(delete, path = "/operators/me", tag = "operator", request_body = Deactivation, responses((status = 200, description = "deactivated"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn deactivate_operator(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(d): ApiJson<Deactivation>,
) -> Result<Response, AppError> {
    if d.reason.as_deref().is_some_and(|r| r.chars().count() > 500) {
        return Err(invalid_field("reason", "at most 500 characters"));
    }
    crate::service::operators::deactivate(&s, &op, &d.password, d.reason.as_deref()).await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({"success": true, "message": "account deactivated"})),
    )
        .into_response())
}

/// Contract `AppRequest` (operator view) or `AppRequestAdmin` (`admin`: with the operator).
pub fn request_json(r: &crate::store::requests::Request, admin: bool) -> serde_json::Value {
    let mut v = json!({
        "request_id": r.request_id, "app_id": r.app_id, "app_name": r.app_name, "reason": r.reason,
        "status": r.status, "created_at": rfc3339_ms(r.created_at),
    });
    if admin {
        v["operator_id"] = json!(r.operator_id);
        v["operator_name"] = json!(r.operator_name);
        v["operator_category"] = json!(r.operator_category);
        v["reject_reason"] = json!(r.reject_reason);
        v["reviewed_by"] = json!(r.reviewed_by);
        v["reviewed_at"] = json!(r.reviewed_at.map(rfc3339_ms));
        return v;
    }
    if let Some(x) = &r.reject_reason {
        v["reject_reason"] = json!(x);
    }
    if let Some(x) = &r.reviewed_by {
        v["reviewed_by"] = json!(x);
    }
    if let Some(x) = r.reviewed_at {
        v["reviewed_at"] = json!(rfc3339_ms(x));
    }
    v
}

/// Query of a request list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestsQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// `pending`, `approved`, `rejected` or `all`.
    pub status: Option<String>,
}

/// The status filter of a request list (`None`: all); 400 for an unknown one.
pub fn request_status(
    s: Option<&str>,
    default: &'static str,
) -> Result<Option<&'static str>, AppError> {
    match s.unwrap_or(default) {
        "all" => Ok(None),
        "pending" => Ok(Some("pending")),
        "approved" => Ok(Some("approved")),
        "rejected" => Ok(Some("rejected")),
        _ => Err(invalid_field(
            "status",
            "pending, approved, rejected or all",
        )),
    }
}

/// The operator's app requests, newest first (status default `all`).
#[utoipa::path(get, path = "/operators/me/app-requests", tag = "operator", params(RequestsQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_app_requests(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<RequestsQuery>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let (page, size, limit, offset) = page_window(q.page, q.page_size)?;
    let status = request_status(q.status.as_deref(), "all")?;
    let (items, total) =
        crate::store::requests::page(&s.core.db, Some(&op.operator_id), status, limit, offset)
            .await?;
    let items: Vec<_> = items.iter().map(|r| request_json(r, false)).collect();
    Ok(axum::Json(
        json!({"page": page, "page_size": size, "total": total, "items": items}),
    ))
}

/// Contract `requestAppAuthorization`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRequest {
    /// The application.
    pub app_id: String,
    /// 10..500 characters.
    pub reason: String,
}

/// Asks to be authorized for an application. Errors: 400 `INVALID_PARAMS` (already authorized,
/// a request already pending, reason length), 404 `APP_NOT_FOUND`.
#[utoipa::path(post, path = "/operators/me/app-requests", tag = "operator", request_body = NewRequest, responses((status = 201, description = "pending"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "APP_NOT_FOUND")))]
pub async fn request_app_authorization(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(n): ApiJson<NewRequest>,
) -> Result<Response, AppError> {
    if !(10..=500).contains(&n.reason.chars().count()) {
        return Err(invalid_field("reason", "10-500 characters"));
    }
    let app = apps::by_id(&s.core.db, &n.app_id).await?.ok_or_else(|| {
        AppError::not_found(crate::envelope::code::APP_NOT_FOUND, "no such application")
    })?;
    let now = time::now_ms();
    if apps::authorized_apps(&s.core.db, &op.operator_id, now)
        .await?
        .iter()
        .any(|(a, ..)| a.app_id == n.app_id)
    {
        return Err(invalid_field("app_id", "already authorized"));
    }
    let id = format!(
        "req{}",
        suanpan_core::ids::random_alnum(12).to_ascii_lowercase()
    );
    if !crate::store::requests::insert(&s.core.db, &id, &op.operator_id, &n.app_id, &n.reason, now)
        .await?
    {
        return Err(invalid_field(
            "app_id",
            "a request for this application is pending",
        ));
    }
    // The answer is what was just written; no read back.
    let r = crate::store::requests::Request {
        request_id: id,
        operator_id: op.operator_id,
        operator_name: op.name,
        operator_category: op.category,
        app_id: app.app_id,
        app_name: app.app_name,
        reason: n.reason,
        status: "pending".into(),
        reject_reason: None,
        reviewed_by: None,
        reviewed_at: None,
        created_at: now,
    };
    Ok(success(StatusCode::CREATED, request_json(&r, false)))
}
