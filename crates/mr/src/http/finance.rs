//! `/finance/*`: the finance console's API (role `finance`; others 403): dashboard, trends, top
//! customers, customer details, refund review, audit logs. Money is yuan strings; days are
//! Asia/Shanghai business days.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery};
use suanpan_core::time;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operators::page_window;
use super::{rfc3339_ms, success};
use crate::MrState;
use crate::auth::{MrStaff, Role};
use crate::domain::{Dimension, bucket_date, day_number, day_of_ms, day_start_ms, yuan};
use crate::envelope::{code, invalid_field};
use crate::service::refunds;
use crate::store::finance::{self, Flows};
use crate::store::operators;
use crate::store::refunds::{RefundRow, page};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(get_finance_dashboard))
        .routes(routes!(get_finance_trends))
        .routes(routes!(get_top_customers))
        .routes(routes!(get_customer_finance_details))
        .routes(routes!(get_refunds))
        .routes(routes!(get_refund_details))
        .routes(routes!(approve_refund))
        .routes(routes!(reject_refund))
        .routes(routes!(get_finance_audit_logs))
        .merge(super::invoices::finance_routes())
        .merge(super::reports::routes())
}

/// The signed-in finance account, or 403 `PERMISSION_DENIED`.
fn finance(who: &MrStaff) -> Result<(), AppError> {
    who.require(Role::Finance)
}

/// `[start, end)` in ms of business day `day`.
fn day_range(day: i64) -> (i64, i64) {
    (day_start_ms(day), day_start_ms(day + 1))
}

fn today() -> i64 {
    day_of_ms(time::now_ms())
}

fn date_of(day: i64) -> String {
    bucket_date(day, Dimension::Day)
        .format("%Y-%m-%d")
        .to_string()
}

/// Today's recharges, consumption, refunds and net income, with operator counts.
#[utoipa::path(get, path = "/finance/dashboard", tag = "finance", responses((status = 200, description = "today"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_finance_dashboard(
    State(s): State<MrState>,
    who: MrStaff,
) -> Result<Response, AppError> {
    finance(&who)?;
    let (from, to) = day_range(today());
    let flows = finance::daily_flows(&s.core.db, from, to).await?;
    let f = flows.first().map(|(_, f)| *f).unwrap_or_default();
    let (total, active) = finance::operator_counts(&s.core.db, from, to).await?;
    Ok(success(
        StatusCode::OK,
        json!({
            "today_recharge": yuan(f.recharge),
            "today_consumption": yuan(f.consumption),
            "today_refund": yuan(f.refund),
            "today_net_income": yuan(f.net()),
            "total_operators": total,
            "active_operators_today": active,
        }),
    ))
}

/// Query of the trends.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TrendsQuery {
    /// `YYYY-MM` (default: this month, Asia/Shanghai).
    pub month: Option<String>,
}

/// `(first day, day after the last)` of a `YYYY-MM` month as business day numbers.
fn month_days(month: &str) -> Option<(i64, i64)> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    if month.len() != 7 {
        return None;
    }
    let next = first.checked_add_months(chrono::Months::new(1))?;
    Some((day_number(first), day_number(next)))
}

/// Each day of a month with its recharges, consumption, refunds and net income, and the
/// month's sums (every day present, zero when quiet).
#[utoipa::path(get, path = "/finance/dashboard/trends", tag = "finance", params(TrendsQuery), responses((status = 200, description = "daily series"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_finance_trends(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<TrendsQuery>,
) -> Result<Response, AppError> {
    finance(&who)?;
    let month = q.month.unwrap_or_else(|| date_of(today())[..7].to_string());
    let (first, end) = month_days(&month).ok_or_else(|| invalid_field("month", "YYYY-MM"))?;
    let flows = finance::daily_flows(&s.core.db, day_range(first).0, day_range(end).0).await?;
    let mut sum = Flows::default();
    let chart: Vec<Value> = (first..end)
        .map(|day| {
            let f = flows.iter().find(|(d, _)| *d == day).map(|(_, f)| *f).unwrap_or_default();
            sum.recharge += f.recharge;
            sum.consumption += f.consumption;
            sum.refund += f.refund;
            json!({"date": date_of(day), "recharge": yuan(f.recharge), "consumption": yuan(f.consumption), "refund": yuan(f.refund), "net_income": yuan(f.net())})
        })
        .collect();
    Ok(success(
        StatusCode::OK,
        json!({
            "month": month,
            "chart_data": chart,
            "summary": {"total_recharge": yuan(sum.recharge), "total_consumption": yuan(sum.consumption), "total_refund": yuan(sum.refund), "total_net_income": yuan(sum.net())},
        }),
    ))
}

/// Query of the top customers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TopQuery {
    /// 1..100, default 10.
    pub limit: Option<i64>,
    /// From (RFC 3339, inclusive).
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive).
    pub end_time: Option<String>,
}

/// The operators with most consumption in a window, with their share of all consumption.
#[utoipa::path(get, path = "/finance/top-customers", tag = "finance", params(TopQuery), responses((status = 200, description = "ranking"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_top_customers(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<TopQuery>,
) -> Result<Response, AppError> {
    finance(&who)?;
    let limit = q.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(invalid_field("limit", "1 to 100"));
    }
    let window = super::statistics::window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let (rows, total) = finance::top_customers(&s.core.db, window, limit).await?;
    let customers: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let share = match total {
                0 => 0.0,
                t => (c.consumption as f64 * 10_000.0 / t as f64).round() / 100.0,
            };
            json!({"rank": i + 1, "operator_id": c.operator_id, "operator_name": c.name, "category": c.category, "total_consumption": yuan(c.consumption), "consumption_percentage": share, "total_sessions": c.sessions})
        })
        .collect();
    Ok(success(
        StatusCode::OK,
        json!({"customers": customers, "total_consumption": yuan(total)}),
    ))
}

/// An operator's money as finance sees it (contract `CustomerFinanceDetails`). Errors:
/// `OPERATOR_NOT_FOUND`.
pub async fn customer_details(s: &MrState, operator_id: &str) -> Result<Value, AppError> {
    let db = &s.core.db;
    let (op, _) = operators::by_id(db, operator_id)
        .await?
        .ok_or_else(|| AppError::not_found(code::OPERATOR_NOT_FOUND, "no such operator"))?;
    let (balance, recharged, consumed, _) = operators::balance(db, operator_id).await?;
    let (sessions, first, last) = finance::activity(db, operator_id).await?;
    Ok(json!({
        "operator_id": op.operator_id,
        "operator_name": op.name,
        "category": op.category,
        "current_balance": yuan(balance),
        "total_recharged": yuan(recharged),
        "total_consumed": yuan(consumed),
        "total_refunded": yuan(recharged - balance - consumed),
        "total_sessions": sessions,
        "first_transaction_at": rfc3339_ms(first.unwrap_or(op.created_at)),
        "last_transaction_at": last.map(rfc3339_ms),
    }))
}

/// One operator's balance, totals, sessions and first and last transaction.
#[utoipa::path(get, path = "/finance/customers/{operator_id}/details", tag = "finance", params(("operator_id" = String, Path)), responses((status = 200, description = "details"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "OPERATOR_NOT_FOUND")))]
pub async fn get_customer_finance_details(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(operator_id): ApiPath<String>,
) -> Result<Response, AppError> {
    finance(&who)?;
    Ok(success(
        StatusCode::OK,
        customer_details(&s, &operator_id).await?,
    ))
}

/// A refund request as finance sees it (contract `RefundRequestFinance`), with the operator's
/// balance now.
fn finance_view(r: &RefundRow) -> Value {
    json!({
        "refund_id": r.refund_id,
        "operator_id": r.operator_id,
        "operator_name": r.operator_name,
        "operator_category": r.operator_category,
        "requested_amount": yuan(r.requested_fen),
        "current_balance": yuan(r.balance_now_fen),
        "actual_refund_amount": r.actual_fen.map(yuan),
        "status": r.status,
        "reason": r.reason,
        "reject_reason": r.reject_reason,
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at.map(rfc3339_ms),
        "created_at": rfc3339_ms(r.created_at),
        "payout_status": r.payout_status,
        "offline_amount": yuan(r.offline_fen),
    })
}

/// Query of a review list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReviewQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// `pending` (default), `approved`, `rejected` or `all`.
    pub status: Option<String>,
}

/// The status filter of a review list (`None`: all). 400 for another value.
pub fn review_status(s: Option<&str>) -> Result<Option<&str>, AppError> {
    match s.unwrap_or("pending") {
        "all" => Ok(None),
        st @ ("pending" | "approved" | "rejected") => Ok(Some(st)),
        _ => Err(invalid_field(
            "status",
            "pending, approved, rejected or all",
        )),
    }
}

/// Refund requests to review, newest first (contract `Page<RefundRequestFinance>`).
#[utoipa::path(get, path = "/finance/refunds", tag = "finance", params(ReviewQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_refunds(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<axum::Json<Value>, AppError> {
    finance(&who)?;
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let status = review_status(q.status.as_deref())?;
    let (rows, total) = page(&s.core.db, None, status, (limit, offset)).await?;
    let items: Vec<Value> = rows.iter().map(finance_view).collect();
    Ok(axum::Json(
        json!({"page": page_no, "page_size": size, "total": total, "items": items}),
    ))
}

/// One refund request with the operator's finances.
#[utoipa::path(get, path = "/finance/refunds/{refund_id}", tag = "finance", params(("refund_id" = String, Path)), responses((status = 200, description = "the request"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "REFUND_NOT_FOUND")))]
pub async fn get_refund_details(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(refund_id): ApiPath<String>,
) -> Result<Response, AppError> {
    finance(&who)?;
    let r = crate::store::refunds::one(&s.core.db, &refund_id)
        .await?
        .ok_or_else(|| AppError::not_found(code::REFUND_NOT_FOUND, "no such refund request"))?;
    let mut v = finance_view(&r);
    v["operator_finance"] = customer_details(&s, &r.operator_id).await?;
    Ok(success(StatusCode::OK, v))
}

/// An approval's optional note.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ApproveBody {
    /// At most 200 characters.
    pub note: Option<String>,
}

/// The optional JSON body of an approval (absent, empty or `null`: no note).
pub fn optional_note(body: &[u8]) -> Result<Option<String>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<Option<ApproveBody>>(body)
        .map(|b| b.and_then(|b| b.note))
        .map_err(|e| invalid_field("body", &e.to_string()))
}

/// Approves a refund: the balance at approval is refunded (money back through the providers
/// of the operator's recharges; see `docs/mr.md`). Errors: 400 `INVALID_PARAMS` (reviewed
/// before, nothing to refund), 404 `REFUND_NOT_FOUND`.
#[utoipa::path(post, path = "/finance/refunds/{refund_id}/approve", tag = "finance", params(("refund_id" = String, Path)), request_body(content = ApproveBody, description = "optional"), responses((status = 200, description = "approved"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "REFUND_NOT_FOUND")))]
pub async fn approve_refund(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(refund_id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    finance(&who)?;
    let note = optional_note(&body)?;
    let actor = who.staff.actor();
    let (requested, actual, after) =
        refunds::approve(&s, &actor, &refund_id, note.as_deref()).await?;
    let body = json!({"success": true, "message": "退款已批准并处理", "data": {"refund_id": refund_id, "requested_amount": yuan(requested), "actual_refund_amount": yuan(actual), "balance_after": yuan(after)}});
    Ok(axum::response::IntoResponse::into_response(axum::Json(
        body,
    )))
}

/// A rejection's reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RejectBody {
    /// 10..200 characters.
    pub reason: String,
}

/// Rejects a refund request with a reason. Errors: 400 `INVALID_PARAMS`, 404.
#[utoipa::path(post, path = "/finance/refunds/{refund_id}/reject", tag = "finance", params(("refund_id" = String, Path)), request_body = RejectBody, responses((status = 200, description = "rejected"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "REFUND_NOT_FOUND")))]
pub async fn reject_refund(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(refund_id): ApiPath<String>,
    ApiJson(r): ApiJson<RejectBody>,
) -> Result<Response, AppError> {
    finance(&who)?;
    refunds::reject(&s, &who.staff.actor(), &refund_id, &r.reason).await?;
    let body = json!({"success": true, "message": "退款已拒绝"});
    Ok(axum::response::IntoResponse::into_response(axum::Json(
        body,
    )))
}

/// Query of the finance audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// From (RFC 3339, inclusive).
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive).
    pub end_time: Option<String>,
    /// `refund_approve`, `refund_reject`, `invoice_approve`, `report_generate` or `all`.
    pub operation_type: Option<String>,
    /// A finance account's id.
    pub finance_id: Option<String>,
}

/// Every finance action, newest first (written in the same transaction as the action).
#[utoipa::path(get, path = "/finance/audit-logs", tag = "finance", params(AuditQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_finance_audit_logs(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<Value>, AppError> {
    finance(&who)?;
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let action = match q.operation_type.as_deref() {
        None | Some("all") => None,
        Some(a) if finance::FINANCE_ACTIONS.contains(&a) => Some(a),
        Some(_) => return Err(invalid_field("operation_type", "a finance action or all")),
    };
    let window = super::statistics::window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let (rows, total) = finance::audit_page(
        &s.core.db,
        action,
        q.finance_id.as_deref(),
        window,
        (limit, offset),
    )
    .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let details = r
                .after_json
                .as_deref()
                .and_then(|j| serde_json::from_str::<Value>(j).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            json!({"log_id": format!("log_{}", r.id), "finance_id": r.actor_id, "finance_name": r.actor_name, "operation_type": r.action, "target_resource_id": r.entity_id, "operation_details": details, "ip_address": r.ip.clone().unwrap_or_default(), "created_at": rfc3339_ms(r.created_at)})
        })
        .collect();
    Ok(axum::Json(
        json!({"page": page_no, "page_size": size, "total": total, "items": items}),
    ))
}
