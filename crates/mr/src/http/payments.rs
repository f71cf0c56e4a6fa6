//! `/payments/*`: MR's notification routes, named in its own prepay and refund requests
//! (beyond the contract, which leaves the provider side out). Each verifies and applies the
//! notification through the core payment flow, exactly once, and answers as the provider
//! expects: WeChat Pay `204` (or `{"code":"FAIL","message"}` with a 4xx/5xx status, so that it
//! redelivers), Alipay the text `success` (or `fail`).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use suanpan_payments::Provider;
use suanpan_payments::provider::NotifyAnswer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::MrState;

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(wechat_notify))
        .routes(routes!(alipay_notify))
}

/// Applies a notification of `provider` and answers it. A rejected one (forged, stale, another
/// merchant, wrong amount, unknown trade) changes nothing and is answered with its 4xx status;
/// an outage with 503, so that the provider sends it again.
async fn notify(s: &MrState, provider: Provider, headers: &HeaderMap, body: &[u8]) -> Response {
    match s
        .payments
        .handle_notification(provider, headers, body)
        .await
    {
        Ok(()) => provider.ack().into_response(),
        Err(e) => {
            let status = e.kind.status().as_u16();
            tracing::warn!(provider = provider.as_str(), code = e.code, status, message = %e.message, "MR payment notification not applied");
            let mut answer: NotifyAnswer = provider.nack(&e.message);
            if provider == Provider::Wechat {
                answer.status = status;
            }
            answer.into_response()
        }
    }
}

/// WeChat Pay notifications of MR's recharges and refunds (signed, encrypted resource).
#[utoipa::path(post, path = "/payments/wechat/notify", tag = "payments", request_body(content = String, content_type = "application/json"),
    responses((status = 204, description = "applied (or applied before)"), (status = 400, description = "malformed, wrong amount"), (status = 401, description = "bad signature, stale timestamp"), (status = 404, description = "unknown trade"), (status = 503, description = "not configured or an outage: send again")))]
pub async fn wechat_notify(State(s): State<MrState>, headers: HeaderMap, body: Bytes) -> Response {
    notify(&s, Provider::Wechat, &headers, &body).await
}

/// Alipay asynchronous notifications of MR's recharges (form-encoded, RSA2-signed).
#[utoipa::path(post, path = "/payments/alipay/notify", tag = "payments", request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`success`, or `fail` when not applied (Alipay sends it again)")))]
pub async fn alipay_notify(State(s): State<MrState>, headers: HeaderMap, body: Bytes) -> Response {
    notify(&s, Provider::Alipay, &headers, &body).await
}
