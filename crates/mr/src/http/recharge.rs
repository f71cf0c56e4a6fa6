//! `/operators/me/recharge`: opens a recharge paid by QR code (contract `rechargeBalance`).

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use suanpan_core::error::AppError;
use suanpan_core::http::ApiJson;
use suanpan_payments::Provider;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AuthOperator, rfc3339_ms, success};
use crate::MrState;
use crate::domain::{check_recharge, yuan};
use crate::envelope::invalid_field;
use crate::service::recharge;

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(recharge_balance))
        .routes(routes!(get_recharge))
}

/// A recharge request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RechargeRequest {
    /// Yuan, `^\d+(\.\d{1,2})?$`, 10.00 to 10000.00.
    pub amount: String,
    /// `wechat` (WeChat Pay Native) or `alipay` (`alipay.trade.precreate`).
    pub payment_method: String,
}

/// Opens a recharge: the answer's `qr_code_url` is the text of the QR code to show (WeChat Pay
/// `code_url`, Alipay `qr_code`), payable for 15 minutes; the balance is credited once when the
/// provider reports the payment. An optional `Idempotency-Key` header makes a retry answer the
/// same order. Errors: 400 `INVALID_PARAMS` (amount outside 10–10000 yuan, unknown method),
/// 401, 422 (the key reused with another body), 502/503 `PAYMENT_FAILED`.
#[utoipa::path(post, path = "/operators/me/recharge", tag = "operator", request_body = RechargeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry answer the same order")),
    responses((status = 201, description = "order with its QR code"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 502, description = "PAYMENT_FAILED: the provider refused or is unreachable"), (status = 503, description = "PAYMENT_FAILED: the method is not configured")))]
pub async fn recharge_balance(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    headers: HeaderMap,
    ApiJson(r): ApiJson<RechargeRequest>,
) -> Result<Response, AppError> {
    let amount = check_recharge(&r.amount).map_err(|e| invalid_field("amount", e))?;
    let provider = Provider::parse(&r.payment_method)
        .ok_or_else(|| invalid_field("payment_method", "wechat or alipay"))?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().unwrap_or_default();
            suanpan_core::idempotency::validate_key(k)?;
            if k.len() > 64 {
                return Err(invalid_field("Idempotency-Key", "at most 64 characters"));
            }
            Some(k)
        }
    };
    let order = recharge::recharge(&s, &op, amount, provider, key).await?;
    Ok(success(
        StatusCode::CREATED,
        json!({
            "order_id": order.order_id,
            "amount": yuan(order.amount_fen),
            "payment_method": order.payment_method,
            "qr_code_url": order.qr_code_url,
            "expires_at": rfc3339_ms(order.expires_at),
        }),
    ))
}

/// One recharge order and where it stands (beyond the contract; US2-5): `succeeded` once
/// credited, `failed` when the provider closed it unpaid or its QR code expired (a payment that
/// still arrives is credited and turns it `succeeded`), else `pending`. Errors: 401, 404
/// `RESOURCE_NOT_FOUND`.
#[utoipa::path(get, path = "/operators/me/recharges/{order_id}", tag = "operator", params(("order_id" = String, Path)), responses((status = 200, description = "the order"), (status = 401, description = "UNAUTHORIZED"), (status = 404, description = "RESOURCE_NOT_FOUND")))]
pub async fn get_recharge(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    suanpan_core::http::ApiPath(order_id): suanpan_core::http::ApiPath<String>,
) -> Result<Response, AppError> {
    let r = crate::store::recharges::by_order_id(&s.core.db, &op.operator_id, &order_id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                crate::envelope::code::RESOURCE_NOT_FOUND,
                "no such recharge order",
            )
        })?;
    let trade = s.payments.trade_of(crate::SYSTEM, r.id).await?;
    let closed = trade.is_some_and(|t| t.status == suanpan_payments::flow::PaymentStatus::Closed);
    let status = match r.status.as_str() {
        "paid" => "succeeded",
        _ if closed || r.expires_at < suanpan_core::time::now_ms() => "failed",
        _ => "pending",
    };
    Ok(success(
        StatusCode::OK,
        json!({
            "order_id": r.order_id,
            "amount": yuan(r.amount_fen),
            "payment_method": r.payment_method,
            "status": status,
            "qr_code_url": r.qr_code_url,
            "expires_at": rfc3339_ms(r.expires_at),
            "paid_at": r.paid_at.map(rfc3339_ms),
            "created_at": rfc3339_ms(r.created_at),
        }),
    ))
}
