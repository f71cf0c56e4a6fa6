//! `/v1/cart`: the shopper's cart.

use axum::extract::State;
use serde::Deserialize;
use suanpan_core::AppResult;
use suanpan_core::auth::AuthUser;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::service::cart;
use crate::store::CartLine;

/// `POST /v1/cart/items` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddToCart {
    /// Product id.
    pub product_id: i64,
    /// Quantity to add (1 – `order_max_quantity`); the line is capped at that maximum.
    pub quantity: i64,
}

/// `PUT /v1/cart/items/{product_id}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetQuantity {
    /// New quantity (1 – `order_max_quantity`); use DELETE to remove.
    pub quantity: i64,
}

/// The cart with current prices and availability (prices are re-checked at checkout).
#[utoipa::path(get, path = "/v1/cart", tag = "cart", security(("bearer" = [])), responses((status = 200, body = [CartLine]), (status = 401, body = ErrorBody)))]
pub async fn get_cart(
    State(s): State<ShopState>,
    user: AuthUser,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    Ok(ApiJson(cart::cart(&s, &user).await?))
}

/// Adds a product to the cart (adding to an existing line).
#[utoipa::path(post, path = "/v1/cart/items", tag = "cart", security(("bearer" = [])), request_body = AddToCart,
    responses((status = 200, body = [CartLine]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_item(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiJson(req): ApiJson<AddToCart>,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    let lines = cart::put_line(&s, &user, req.product_id, req.quantity, true).await?;
    Ok(ApiJson(lines))
}

/// Sets a cart line's quantity.
#[utoipa::path(put, path = "/v1/cart/items/{product_id}", tag = "cart", security(("bearer" = [])), params(("product_id" = i64, Path)), request_body = SetQuantity,
    responses((status = 200, body = [CartLine]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_item(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(product_id): ApiPath<i64>,
    ApiJson(req): ApiJson<SetQuantity>,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    let lines = cart::put_line(&s, &user, product_id, req.quantity, false).await?;
    Ok(ApiJson(lines))
}

/// Removes a cart line (idempotent).
#[utoipa::path(delete, path = "/v1/cart/items/{product_id}", tag = "cart", security(("bearer" = [])), params(("product_id" = i64, Path)),
    responses((status = 200, body = [CartLine])))]
pub async fn remove_item(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(product_id): ApiPath<i64>,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    Ok(ApiJson(cart::remove_line(&s, &user, product_id).await?))
}

/// `/v1/cart` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
}
