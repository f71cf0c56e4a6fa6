//! The shop's HTTP API. Handlers are thin: parse, authorise, call [`crate::service`] or
//! [`crate::store`], shape the answer. Every route is described in the OpenAPI document
//! (`/openapi.json`, `docs/openapi.json`).

pub mod admin;
pub mod catalog;
pub mod orders;
pub mod shopper;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use suanpan_core::AppError;
use suanpan_core::idempotency;
use utoipa_axum::router::OpenApiRouter;

use crate::ShopState;
use crate::service::{Idem, Stored};

/// All shop routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .merge(catalog::routes())
        .merge(shopper::routes())
        .merge(orders::routes())
        .merge(admin::routes())
}

/// Reads an optional `Idempotency-Key` header into an [`Idem`] for `scope`, hashing the typed
/// request (so formatting differences in the JSON do not matter).
pub fn idem<T: serde::Serialize>(
    headers: &HeaderMap,
    scope: String,
    req: &T,
) -> Result<Option<Idem>, AppError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().map_err(|_| {
        AppError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key must be visible ASCII",
        )
    })?;
    idempotency::validate_key(key)?;
    let body = serde_json::to_vec(req).map_err(AppError::internal)?;
    Ok(Some(Idem {
        hash: idempotency::request_hash(&[scope.as_bytes(), &body]),
        scope,
        key: key.to_string(),
    }))
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

/// `201 Created` with a JSON body.
pub fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, axum::Json(v)).into_response()
}
