//! `/v1/addresses`: the shopper's address book.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use suanpan_core::AppResult;
use suanpan_core::auth::AuthUser;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::created;
use crate::ShopState;
use crate::service::addresses;
use crate::store::{self, Address};

/// An address as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddressInput {
    /// Receiver, 1–32 characters.
    pub receiver: String,
    /// Phone: 11-digit mainland mobile or a landline (digits and `-`, 7–20).
    pub phone: String,
    /// 省.
    pub province: String,
    /// 市.
    pub city: String,
    /// 区/县.
    pub district: String,
    /// Street and number, 1–120 characters.
    pub detail: String,
    /// Make it the default (the first address always is).
    #[serde(default)]
    pub is_default: bool,
}

/// The wire form to the checked address ([`crate::domain::check_address`]).
fn to_address(a: AddressInput) -> AppResult<Address> {
    crate::domain::check_address(&Address {
        id: 0,
        receiver: a.receiver,
        phone: a.phone,
        province: a.province,
        city: a.city,
        district: a.district,
        detail: a.detail,
        is_default: a.is_default,
    })
}

/// The shopper's addresses, default first.
#[utoipa::path(get, path = "/v1/addresses", tag = "addresses", security(("bearer" = [])), responses((status = 200, body = [Address])))]
pub async fn list_addresses(
    State(s): State<ShopState>,
    user: AuthUser,
) -> AppResult<ApiJson<Vec<Address>>> {
    Ok(ApiJson(
        store::addresses(s.core.db.reader(), s.core.db.dialect, user.user_id).await?,
    ))
}

/// Adds an address.
#[utoipa::path(post, path = "/v1/addresses", tag = "addresses", security(("bearer" = [])), request_body = AddressInput,
    responses((status = 201, body = Address), (status = 400, body = ErrorBody)))]
pub async fn create_address(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiJson(a): ApiJson<AddressInput>,
) -> AppResult<Response> {
    let addr = addresses::save(&s, &user, None, &to_address(a)?).await?;
    Ok(created(addr))
}

/// Replaces an address.
#[utoipa::path(put, path = "/v1/addresses/{id}", tag = "addresses", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AddressInput,
    responses((status = 200, body = Address), (status = 404, body = ErrorBody)))]
pub async fn update_address(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(a): ApiJson<AddressInput>,
) -> AppResult<ApiJson<Address>> {
    Ok(ApiJson(
        addresses::save(&s, &user, Some(id), &to_address(a)?).await?,
    ))
}

/// Deletes an address.
#[utoipa::path(delete, path = "/v1/addresses/{id}", tag = "addresses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_address(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Response> {
    addresses::delete(&s, &user, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `/v1/addresses` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(list_addresses, create_address))
        .routes(routes!(update_address, delete_address))
}
