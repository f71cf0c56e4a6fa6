//! The one error type every HTTP handler returns, and the one mapping from an error's
//! [`ErrorKind`] to an HTTP status.
//!
//! Domain crates define their own `thiserror` enums and convert into [`AppError`] by giving each
//! variant a kind and a stable `code` (each system documents its codes). The body's *shape* is
//! the router's choice ([`ErrorEnvelope`]): the default is `{"code": "...", "message": "..."}`
//! (the shop); the MR contract answers `{"error_code", "message", "details"}`; a legacy rewrite
//! answers its legacy envelope. Clients branch on `code`, never on `message`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The class of an error; [`ErrorKind::status`] is the only place statuses are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or violates a validation rule (400).
    Invalid,
    /// No or bad credentials (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// The addressed resource does not exist (404).
    NotFound,
    /// The method is not allowed on this path (405).
    MethodNotAllowed,
    /// The request conflicts with the current state: illegal transition, no stock, reused key (409).
    Conflict,
    /// The body is larger than allowed (413).
    TooLarge,
    /// The body's media type is not accepted (415).
    UnsupportedMediaType,
    /// Well-formed but semantically rejected (422).
    Unprocessable,
    /// Payment required: a prepaid balance does not cover the charge (402).
    PaymentRequired,
    /// Too many requests; the error's `details.retry_after_secs` becomes `Retry-After` (429).
    TooManyRequests,
    /// An upstream service (WeChat, WeChat Pay) failed or answered something we cannot use (502).
    Upstream,
    /// A dependency of ours (database, broker) is unavailable or overloaded; retry later (503).
    Unavailable,
    /// A bug. Logged with detail; the client sees a generic message (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error as the API reports it: a kind (→ status), a stable code and a human message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    /// Decides the HTTP status.
    pub kind: ErrorKind,
    /// Stable machine-readable code, e.g. `insufficient_stock`.
    pub code: &'static str,
    /// Human-readable explanation (may change between releases).
    pub message: String,
    /// Structured detail for envelopes that carry it (e.g. `{"required": "10.00"}`).
    pub details: Option<serde_json::Value>,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl AppError {
    /// Builds an error of any kind.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// The same error with `details` attached.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
    /// 400 with the given code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }
    /// 404 with the given code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }
    /// 409 with the given code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }
    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthenticated", message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", message)
    }
    /// 502 with the given code.
    pub fn upstream(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Upstream, code, message)
    }
    /// 500 `internal`; the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorKind::Internal, "internal", "internal error")
    }
}

impl From<sqlx::Error> for AppError {
    /// Pool exhaustion and I/O: `database_unavailable` (503). A deadlock, serialization failure
    /// or lock timeout: `transaction_conflict` (503), which [`crate::db::Db::transaction`] and
    /// the group writer retry, wherever in the transaction it struck. Anything else: internal.
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_retryable(&e) {
            return AppError::new(
                ErrorKind::Unavailable,
                crate::db::TX_CONFLICT,
                "concurrent update, retry",
            );
        }
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::new(
                    ErrorKind::Unavailable,
                    "database_unavailable",
                    "database is busy or unavailable, retry later",
                )
            }
            _ => AppError::internal(e),
        }
    }
}

impl IntoResponse for AppError {
    /// The default envelope (`{code, message}`), with the error itself in the response's
    /// extensions so that a router's [`ErrorEnvelope`] can render it in its own shape.
    fn into_response(self) -> Response {
        let status = self.kind.status();
        metrics::counter!("suanpan_http_errors_total", "status" => status.as_str().to_owned(), "code" => self.code).increment(1);
        if status.is_server_error() {
            metrics::counter!("suanpan_errors_total", "code" => self.code).increment(1);
        }
        let mut resp = (status, Json(DefaultEnvelope.body(&self))).into_response();
        retry_after(&self, &mut resp);
        resp.extensions_mut()
            .insert(RenderedError(std::sync::Arc::new(self)));
        resp
    }
}

/// Sets `Retry-After` from `details.retry_after_secs` (429 and 503 answers that carry it).
pub fn retry_after(e: &AppError, resp: &mut Response) {
    if let Some(secs) = e
        .details
        .as_ref()
        .and_then(|d| d.get("retry_after_secs"))
        .and_then(|v| v.as_u64())
    {
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
}

/// The error behind an error response, kept in its extensions for [`ErrorEnvelope`]s.
#[derive(Clone, Debug)]
pub struct RenderedError(pub std::sync::Arc<AppError>);

/// How a router shapes error bodies. One per system; the status always comes from
/// [`ErrorKind::status`]. Installed with [`crate::http::layers::envelope`].
pub trait ErrorEnvelope: Clone + Send + Sync + 'static {
    /// The JSON body for `e`.
    fn body(&self, e: &AppError) -> serde_json::Value;
    /// The whole response for `e` (override for non-JSON envelopes).
    fn response(&self, e: &AppError) -> Response {
        (e.kind.status(), Json(self.body(e))).into_response()
    }
}

/// `{"code": "...", "message": "..."}`: the shop's envelope and the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultEnvelope;

impl ErrorEnvelope for DefaultEnvelope {
    fn body(&self, e: &AppError) -> serde_json::Value {
        serde_json::json!({"code": e.code, "message": e.message})
    }
}

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;
