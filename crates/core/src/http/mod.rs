//! HTTP plumbing shared by every system: extractors whose rejections are JSON errors with stable
//! codes, the middleware stack (request id, structured access logs, metrics, panics, body
//! limit), health and metrics endpoints, and JSON 404/405.

pub mod assemble;
pub mod envelope;
pub mod layers;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AppError, ErrorKind};

/// `Json<T>` whose rejections are API errors: `invalid_json` (400, syntax),
/// `invalid_body` (400, wrong shape or types), `invalid_string` (400, a NUL character in a
/// string), `unsupported_media_type` (415), `payload_too_large` (413).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(e.into()))?;
        if json_has_nul(&bytes) {
            return Err(invalid_string());
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

/// `invalid_string` (400): a string holds a character the databases cannot store (U+0000).
fn invalid_string() -> AppError {
    AppError::invalid(
        "invalid_string",
        "strings must not contain the NUL character (U+0000)",
    )
}

/// `application/json` or `application/*+json`, as `axum::Json` accepts.
fn json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    let sub = sub.to_ascii_lowercase();
    ty.eq_ignore_ascii_case("application") && (sub == "json" || sub.ends_with("+json"))
}

/// True when a JSON text holds a `\u0000` escape in a string (a raw NUL byte is a syntax
/// error anyway). Backslashes occur only inside strings, so a scan of escapes is exact.
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(&b"0000"[..]) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// True when a percent-encoded URI component decodes to a string with a NUL character.
fn uri_has_nul(s: &str) -> bool {
    s.contains("%00")
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(r: JsonRejection) -> AppError {
    match r {
        JsonRejection::JsonDataError(e) => AppError::invalid("invalid_body", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => AppError::invalid("invalid_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::new(
                ErrorKind::TooLarge,
                "payload_too_large",
                "request body too large",
            )
        }
        other => AppError::invalid("invalid_body", other.body_text()),
    }
}

/// `Path<T>` whose rejection is `invalid_path` (400), or `invalid_string` (400) for a NUL
/// character.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if uri_has_nul(parts.uri.path()) {
            return Err(invalid_string());
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| AppError::invalid("invalid_path", e.body_text()))
    }
}

/// `Query<T>` whose rejection is `invalid_query` (400), or `invalid_string` (400) for a NUL
/// character.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if uri_has_nul(parts.uri.query().unwrap_or_default()) {
            return Err(invalid_string());
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| AppError::invalid("invalid_query", e.body_text()))
    }
}

/// JSON 404 for unknown paths.
pub async fn not_found() -> AppError {
    AppError::not_found("not_found", "no such route")
}

/// JSON 405 for known paths with the wrong method.
pub async fn method_not_allowed() -> AppError {
    AppError::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Page parameters shared by list endpoints.
#[derive(Clone, Copy, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1).
    pub page: Option<i64>,
    /// Items per page, 1–100 (default 20).
    pub page_size: Option<i64>,
}

impl PageParams {
    /// `(limit, offset, page, page_size)` after clamping; `invalid_page` for a page below 1.
    pub fn resolve(self) -> Result<(i64, i64, i64, i64), AppError> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(20);
        if !(1..=100_000).contains(&page) || !(1..=100).contains(&size) {
            return Err(AppError::invalid(
                "invalid_page",
                "page must be >= 1 and page_size 1-100",
            ));
        }
        Ok((size, (page - 1) * size, page, size))
    }
}

/// A page of items.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: i64,
    /// Page size.
    pub page_size: i64,
    /// Total matching items.
    pub total: i64,
}
