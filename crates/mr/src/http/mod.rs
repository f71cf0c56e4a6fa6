//! MR's HTTP handlers, one file per path prefix: `auth` (`/auth/*`), `operators`
//! (`/operators/me/*`), `statistics` (`/operators/me/statistics/*`), `admin` (`/admin/*`). Paths here are relative to `/mr/v1`.

pub mod admin;
pub mod auth;
pub mod finance;
pub mod insights;
pub mod invoices;
pub mod operators;
pub mod payments;
pub mod recharge;
pub mod refunds;
pub mod reports;
pub mod statistics;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use suanpan_core::error::{AppError, ErrorKind};
use utoipa_axum::router::OpenApiRouter;

use crate::MrState;
use crate::envelope::code;

/// Every route.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(operators::routes())
        .merge(statistics::routes())
        .merge(recharge::routes())
        .merge(refunds::routes())
        .merge(invoices::routes())
        .merge(payments::routes())
        .merge(admin::routes())
        .merge(finance::routes())
        .merge(insights::routes())
}

/// A time as the contract writes it: RFC 3339, UTC, milliseconds (`2025-01-15T12:30:00.000Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `{"success": true, "data": …}` with `status`.
pub fn success(status: StatusCode, data: serde_json::Value) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"success": true, "data": data})),
    )
        .into_response()
}

/// A file download: `bytes` with `Content-Type: mime` and
/// `Content-Disposition: attachment; filename="{filename}"`.
pub fn attachment(bytes: Vec<u8>, mime: &'static str, filename: &str) -> Response {
    use http::{HeaderValue, header};
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// JWT kind of operator tokens.
pub const OPERATOR_TOKEN: &str = "mr_operator";

/// A signed-in, active operator (bearer JWT of kind [`OPERATOR_TOKEN`], not logged out). Any
/// other token, a revoked one, a deactivated account: 401 `UNAUTHORIZED` (operator operations
/// document no 403).
#[derive(Clone, Debug)]
pub struct AuthOperator(pub crate::store::operators::Operator);

impl<S: Send + Sync> FromRequestParts<S> for AuthOperator
where
    MrState: FromRef<S>,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let s = MrState::from_ref(state);
        let unauthorized =
            |m: &str| AppError::new(ErrorKind::Unauthenticated, code::UNAUTHORIZED, m);
        let token = suanpan_core::auth::bearer(parts).map_err(|e| unauthorized(&e.message))?;
        let claims = s
            .core
            .tokens
            .verify(token, OPERATOR_TOKEN, "access")
            .map_err(|e| unauthorized(&e.message))?;
        let hash = crate::store::tokens::token_hash(token);
        let found = crate::store::operators::for_request(&s.core.db, &claims.sub, &hash).await?;
        match found {
            Some((_, true)) => Err(unauthorized("this token was logged out")),
            Some((op, false)) if !op.is_deactivated => Ok(AuthOperator(op)),
            _ => Err(unauthorized("the account is not active")),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The contract's example shape, milliseconds always written, `Z` for UTC.
    #[test]
    fn times_are_written_as_the_contract_writes_them() {
        assert_eq!(
            super::rfc3339_ms(1_736_944_200_000),
            "2025-01-15T12:30:00.000Z"
        );
        assert_eq!(
            super::rfc3339_ms(1_736_944_200_007),
            "2025-01-15T12:30:00.007Z"
        );
        assert_eq!(super::rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
