//! The shop's HTTP API, one file per path prefix (`products.rs` serves `/v1/products`,
//! `admin/orders.rs` serves `/v1/admin/orders`). Handlers are thin: parse, authorise, call
//! [`crate::service`] (writes) or [`crate::store`] (reads), shape the answer; no transaction is
//! opened here. Every route is described in the OpenAPI document
//! (`/openapi.json`, `docs/openapi.json`).

pub mod addresses;
pub mod admin;
pub mod auth;
pub mod cart;
pub mod categories;
pub mod orders;
pub mod payments;
pub mod products;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use suanpan_core::AppError;
use suanpan_core::idempotency::Key;
use utoipa_axum::router::OpenApiRouter;

use crate::ShopState;

/// All shop routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(products::routes())
        .merge(categories::routes())
        .merge(cart::routes())
        .merge(addresses::routes())
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(admin::routes())
}

/// Reads an optional `Idempotency-Key` header into a [`Key`] for `scope`, hashing the typed
/// request (so formatting differences in the JSON do not matter).
pub fn idem<T: serde::Serialize>(
    headers: &HeaderMap,
    scope: String,
    req: &T,
) -> Result<Option<Key>, AppError> {
    let body = serde_json::to_vec(req).map_err(AppError::internal)?;
    Key::from_header(headers, scope, &body)
}

/// `201 Created` with a JSON body.
pub fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, axum::Json(v)).into_response()
}
