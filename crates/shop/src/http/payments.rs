//! `/v1/payments/*`: notifications from payment providers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use suanpan_core::AppResult;
use suanpan_core::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::service::{self};

/// WeChat Pay notification endpoint (payments and refunds). Verifies the signature and
/// timestamp, decrypts, checks the merchant and amount, applies exactly once, and answers 204.
/// Anything rejected answers 4xx with `{code, message}` and changes nothing.
#[utoipa::path(post, path = "/v1/payments/wechat/notify", tag = "payments", request_body(content = String, content_type = "application/json", description = "WeChat Pay notification (signed, encrypted resource)"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "invalid_signature, stale_timestamp")))]
pub async fn wechat_notify(
    State(s): State<ShopState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    service::payments::handle_notification(&s, &headers, &body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `/v1/payments` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(wechat_notify))
}
