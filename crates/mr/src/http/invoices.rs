//! `/operators/me/invoices` (contract `getInvoices`, `requestInvoice`; the PDF download beyond
//! the contract) and `/finance/invoices` (`financeGetInvoices`, `approveInvoice`; rejection and
//! the PDF download beyond the contract).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::finance::{ApproveBody, RejectBody, ReviewQuery, optional_note, review_status};
use super::operators::{PageQuery, page_window};
use super::{AuthOperator, rfc3339_ms};
use crate::MrState;
use crate::auth::{MrStaff, Role};
use crate::domain::yuan;
use crate::envelope::code;
use crate::service::invoices::{self, NewInvoice};
use crate::store::invoices::{InvoiceRow, page, pdf};

/// The operator's routes.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(get_invoices, request_invoice))
        .routes(routes!(download_my_invoice))
}

/// Finance's routes.
pub fn finance_routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(finance_get_invoices))
        .routes(routes!(approve_invoice))
        .routes(routes!(reject_invoice))
        .routes(routes!(download_invoice))
}

/// An invoice as the operator sees it (contract `Invoice`; absent fields are unset).
fn operator_view(s: &MrState, r: &InvoiceRow) -> Value {
    let mut v = json!({
        "invoice_id": r.invoice_id,
        "amount": yuan(r.amount_fen),
        "invoice_title": r.invoice_title,
        "tax_id": r.tax_id,
        "status": r.status,
        "created_at": rfc3339_ms(r.created_at),
    });
    if let Some(e) = &r.email {
        v["email"] = json!(e);
    }
    if r.status == "approved" {
        v["pdf_url"] = json!(invoices::pdf_url(s, &r.invoice_id));
    }
    if let Some(x) = &r.reviewed_by {
        v["reviewed_by"] = json!(x);
    }
    if let Some(t) = r.reviewed_at {
        v["reviewed_at"] = json!(rfc3339_ms(t));
    }
    v
}

/// An invoice as finance sees it (contract `InvoiceRequestFinance`).
fn finance_view(s: &MrState, r: &InvoiceRow) -> Value {
    json!({
        "invoice_id": r.invoice_id,
        "operator_id": r.operator_id,
        "operator_name": r.operator_name,
        "operator_category": r.operator_category,
        "amount": yuan(r.amount_fen),
        "invoice_title": r.invoice_title,
        "tax_id": r.tax_id,
        "email": r.email,
        "status": r.status,
        "pdf_url": (r.status == "approved").then(|| invoices::pdf_url(s, &r.invoice_id)),
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at.map(rfc3339_ms),
        "created_at": rfc3339_ms(r.created_at),
        "reject_reason": r.reject_reason,
    })
}

fn page_body(page_no: i64, size: i64, total: i64, items: Vec<Value>) -> axum::Json<Value> {
    axum::Json(json!({"page": page_no, "page_size": size, "total": total, "items": items}))
}

/// The operator's invoice requests, newest first (contract `Page<Invoice>`).
#[utoipa::path(get, path = "/operators/me/invoices", tag = "operator", params(PageQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_invoices(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::Json<Value>, AppError> {
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let (rows, total) = page(&s.core.db, Some(&op.operator_id), None, (limit, offset)).await?;
    let items = rows.iter().map(|r| operator_view(&s, r)).collect();
    Ok(page_body(page_no, size, total, items))
}

/// An invoice request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InvoiceRequest {
    /// Yuan; at most what was recharged and not yet invoiced.
    pub amount: String,
    /// 发票抬头.
    pub invoice_title: String,
    /// 纳税人识别号, `^[A-Z0-9]{15,20}$`.
    pub tax_id: String,
    /// Where to send it (optional).
    pub email: Option<String>,
}

/// Asks for an invoice, reviewed by finance. Errors: 400 `INVALID_PARAMS` (a field, or more
/// than was recharged and not yet invoiced), 401.
#[utoipa::path(post, path = "/operators/me/invoices", tag = "operator", request_body = InvoiceRequest, responses((status = 201, description = "the request"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn request_invoice(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(r): ApiJson<InvoiceRequest>,
) -> Result<Response, AppError> {
    let n = NewInvoice {
        amount: &r.amount,
        invoice_title: &r.invoice_title,
        tax_id: &r.tax_id,
        email: r.email.as_deref(),
    };
    let row = invoices::request(&s, &op.operator_id, &n).await?;
    let body = json!({"success": true, "message": "发票申请已提交，等待财务审核", "data": operator_view(&s, &row)});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn no_pdf() -> AppError {
    AppError::not_found(code::INVOICE_NOT_FOUND, "no approved invoice with this id")
}

/// The PDF of one of the operator's approved invoices. Errors: 401, 404 `INVOICE_NOT_FOUND`.
#[utoipa::path(get, path = "/operators/me/invoices/{invoice_id}/pdf", tag = "operator", params(("invoice_id" = String, Path)), responses((status = 200, description = "the PDF", content_type = "application/pdf"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "INVOICE_NOT_FOUND")))]
pub async fn download_my_invoice(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiPath(invoice_id): ApiPath<String>,
) -> Result<Response, AppError> {
    let bytes = pdf(&s.core.db, &invoice_id, Some(&op.operator_id))
        .await?
        .ok_or_else(no_pdf)?;
    Ok(super::attachment(
        bytes,
        "application/pdf",
        &format!("{invoice_id}.pdf"),
    ))
}

/// Invoice requests to review, newest first (contract `Page<InvoiceRequestFinance>`).
#[utoipa::path(get, path = "/finance/invoices", tag = "finance", params(ReviewQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn finance_get_invoices(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<axum::Json<Value>, AppError> {
    who.require(Role::Finance)?;
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let status = review_status(q.status.as_deref())?;
    let (rows, total) = page(&s.core.db, None, status, (limit, offset)).await?;
    let items = rows.iter().map(|r| finance_view(&s, r)).collect();
    Ok(page_body(page_no, size, total, items))
}

/// Approves an invoice request: the PDF is rendered and kept. Errors: 400 `INVALID_PARAMS`
/// (reviewed before), 404 `INVOICE_NOT_FOUND`.
#[utoipa::path(post, path = "/finance/invoices/{invoice_id}/approve", tag = "finance", params(("invoice_id" = String, Path)), request_body(content = ApproveBody, description = "optional"), responses((status = 200, description = "approved, with the PDF's URL"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "INVOICE_NOT_FOUND")))]
pub async fn approve_invoice(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(invoice_id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    who.require(Role::Finance)?;
    let note = optional_note(&body)?;
    let url = invoices::approve(&s, &who.staff.actor(), &invoice_id, note.as_deref()).await?;
    let body = json!({"success": true, "message": "发票已批准并生成", "data": {"invoice_id": invoice_id, "pdf_url": url}});
    Ok(axum::Json(body).into_response())
}

/// Rejects an invoice request with a reason (beyond the contract). Errors: 400, 404.
#[utoipa::path(post, path = "/finance/invoices/{invoice_id}/reject", tag = "finance", params(("invoice_id" = String, Path)), request_body = RejectBody, responses((status = 200, description = "rejected"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "INVOICE_NOT_FOUND")))]
pub async fn reject_invoice(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(invoice_id): ApiPath<String>,
    ApiJson(r): ApiJson<RejectBody>,
) -> Result<Response, AppError> {
    who.require(Role::Finance)?;
    invoices::reject(&s, &who.staff.actor(), &invoice_id, &r.reason).await?;
    Ok(axum::Json(json!({"success": true, "message": "发票申请已拒绝"})).into_response())
}

/// The PDF of any approved invoice (finance). Errors: 401, 403, 404 `INVOICE_NOT_FOUND`.
#[utoipa::path(get, path = "/finance/invoices/{invoice_id}/pdf", tag = "finance", params(("invoice_id" = String, Path)), responses((status = 200, description = "the PDF", content_type = "application/pdf"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "INVOICE_NOT_FOUND")))]
pub async fn download_invoice(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(invoice_id): ApiPath<String>,
) -> Result<Response, AppError> {
    who.require(Role::Finance)?;
    let bytes = pdf(&s.core.db, &invoice_id, None)
        .await?
        .ok_or_else(no_pdf)?;
    Ok(super::attachment(
        bytes,
        "application/pdf",
        &format!("{invoice_id}.pdf"),
    ))
}
