//! `/operators/me/refunds`: the operator's refund requests (contract `getRefundRequests`,
//! `requestRefund`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operators::{PageQuery, page_window};
use super::{AuthOperator, rfc3339_ms};
use crate::MrState;
use crate::domain::yuan;
use crate::service::refunds;
use crate::store::refunds::{RefundRow, page};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new().routes(routes!(get_refund_requests, request_refund))
}

/// A request as the operator sees it (contract `RefundRequest`; absent fields are unset).
pub fn operator_view(r: &RefundRow) -> Value {
    let mut v = json!({
        "refund_id": r.refund_id,
        "requested_amount": yuan(r.requested_fen),
        "status": r.status,
        "reason": r.reason,
        "created_at": rfc3339_ms(r.created_at),
    });
    if let Some(a) = r.actual_fen {
        v["actual_refund_amount"] = json!(yuan(a));
    }
    if let Some(x) = &r.reject_reason {
        v["reject_reason"] = json!(x);
    }
    if let Some(x) = &r.reviewed_by {
        v["reviewed_by"] = json!(x);
    }
    if let Some(t) = r.reviewed_at {
        v["reviewed_at"] = json!(rfc3339_ms(t));
    }
    v
}

/// The operator's refund requests, newest first (contract `Page<RefundRequest>`).
#[utoipa::path(get, path = "/operators/me/refunds", tag = "operator", params(PageQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_refund_requests(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::Json<Value>, AppError> {
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let (items, total) = page(&s.core.db, Some(&op.operator_id), None, (limit, offset)).await?;
    let items: Vec<Value> = items.iter().map(operator_view).collect();
    Ok(axum::Json(
        json!({"page": page_no, "page_size": size, "total": total, "items": items}),
    ))
}

/// A refund request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRefund {
    /// Why, 10..500 characters.
    pub reason: String,
}

/// Asks for the whole current balance back, reviewed by finance (the balance at approval is
/// what is refunded). Errors: 400 `INVALID_PARAMS` (reason length, zero balance, a request
/// already pending), 401.
#[utoipa::path(post, path = "/operators/me/refunds", tag = "operator", request_body = NewRefund, responses((status = 201, description = "the request"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn request_refund(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiJson(r): ApiJson<NewRefund>,
) -> Result<Response, AppError> {
    let row = refunds::request(&s, &op.operator_id, &r.reason).await?;
    let body = json!({"success": true, "message": "退款申请已提交，等待财务审核", "data": operator_view(&row)});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}
