//! The shopper's cart and address book.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use suanpan_core::auth::AuthUser;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath};
use suanpan_core::{AppError, AppResult};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::created;
use crate::ShopState;
use crate::store::{self, Address, CartLine};

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

async fn cart_view(s: &ShopState, user: &AuthUser) -> AppResult<ApiJson<Vec<CartLine>>> {
    Ok(ApiJson(
        store::cart(s.core.db.reader(), s.core.db.dialect, user.user_id).await?,
    ))
}

fn check_quantity(s: &ShopState, q: i64) -> AppResult<()> {
    if q <= 0 || q > s.settings.order_max_quantity {
        return Err(AppError::invalid(
            "invalid_quantity",
            format!("quantity must be 1-{}", s.settings.order_max_quantity),
        ));
    }
    Ok(())
}

async fn sellable(s: &ShopState, product_id: i64) -> AppResult<()> {
    store::get_product(s.core.db.reader(), s.core.db.dialect, product_id, false)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product on sale"))
}

/// The cart with current prices and availability (prices are re-checked at checkout).
#[utoipa::path(get, path = "/v1/cart", tag = "cart", security(("bearer" = [])), responses((status = 200, body = [CartLine]), (status = 401, body = ErrorBody)))]
pub async fn get_cart(
    State(s): State<ShopState>,
    user: AuthUser,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    cart_view(&s, &user).await
}

/// Adds a product to the cart (adding to an existing line).
#[utoipa::path(post, path = "/v1/cart/items", tag = "cart", security(("bearer" = [])), request_body = AddToCart,
    responses((status = 200, body = [CartLine]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_item(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiJson(req): ApiJson<AddToCart>,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    check_quantity(&s, req.quantity)?;
    sellable(&s, req.product_id).await?;
    let db = &s.core.db;
    let d = db.dialect;
    let max = s.settings.order_max_quantity;
    let mut conn = db.writer().acquire().await?;
    store::upsert_cart_line(
        &mut conn,
        d,
        user.user_id,
        req.product_id,
        req.quantity,
        true,
        max,
    )
    .await?;
    drop(conn);
    cart_view(&s, &user).await
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
    check_quantity(&s, req.quantity)?;
    sellable(&s, product_id).await?;
    let db = &s.core.db;
    let mut conn = db.writer().acquire().await?;
    store::upsert_cart_line(
        &mut conn,
        db.dialect,
        user.user_id,
        product_id,
        req.quantity,
        false,
        s.settings.order_max_quantity,
    )
    .await?;
    drop(conn);
    cart_view(&s, &user).await
}

/// Removes a cart line (idempotent).
#[utoipa::path(delete, path = "/v1/cart/items/{product_id}", tag = "cart", security(("bearer" = [])), params(("product_id" = i64, Path)),
    responses((status = 200, body = [CartLine])))]
pub async fn remove_item(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(product_id): ApiPath<i64>,
) -> AppResult<ApiJson<Vec<CartLine>>> {
    let db = &s.core.db;
    let mut conn = db.writer().acquire().await?;
    let mut b = suanpan_core::db::Batch::new();
    store::push_remove_cart_items(&mut b, db.dialect, user.user_id, &[product_id]);
    b.execute(&mut conn, db.dialect).await?;
    drop(conn);
    cart_view(&s, &user).await
}

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

fn to_address(a: AddressInput) -> AppResult<Address> {
    let bad = |m: &str| AppError::invalid("invalid_address", m.to_string());
    let len = |s: &str, max: usize| !s.trim().is_empty() && s.trim().chars().count() <= max;
    if !len(&a.receiver, 32)
        || !len(&a.province, 32)
        || !len(&a.city, 32)
        || !len(&a.district, 32)
        || !len(&a.detail, 120)
    {
        return Err(bad(
            "receiver, province, city, district and detail are required and short",
        ));
    }
    let p = a.phone.trim();
    if p.len() < 7 || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(bad("phone must be 7-20 digits or '-'"));
    }
    Ok(Address {
        id: 0,
        receiver: a.receiver.trim().into(),
        phone: p.into(),
        province: a.province.trim().into(),
        city: a.city.trim().into(),
        district: a.district.trim().into(),
        detail: a.detail.trim().into(),
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

async fn save(
    s: &ShopState,
    user: &AuthUser,
    id: Option<i64>,
    a: AddressInput,
) -> AppResult<Address> {
    let input = to_address(a)?;
    let db = &s.core.db;
    let d = db.dialect;
    suanpan_core::with_tx!(db, tx => {
        let mut addr = input.clone();
        if id.is_none() {
            if store::address_count(&mut tx, d, user.user_id).await? >= 50 {
                return Err(AppError::conflict("too_many_addresses", "at most 50 addresses"));
            }
            if store::address(&mut tx, d, user.user_id, None).await?.is_none() {
                addr.is_default = true;
            }
        }
        let saved = store::save_address(&mut tx, d, user.user_id, id, &addr).await?.ok_or_else(|| AppError::not_found("address_not_found", "no such address"))?;
        addr.id = saved;
        Ok(addr)
    })
}

/// Adds an address.
#[utoipa::path(post, path = "/v1/addresses", tag = "addresses", security(("bearer" = [])), request_body = AddressInput,
    responses((status = 201, body = Address), (status = 400, body = ErrorBody)))]
pub async fn create_address(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiJson(a): ApiJson<AddressInput>,
) -> AppResult<Response> {
    Ok(created(save(&s, &user, None, a).await?))
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
    Ok(ApiJson(save(&s, &user, Some(id), a).await?))
}

/// Deletes an address.
#[utoipa::path(delete, path = "/v1/addresses/{id}", tag = "addresses", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_address(
    State(s): State<ShopState>,
    user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Response> {
    let db = &s.core.db;
    let mut conn = db.writer().acquire().await?;
    if !store::delete_address(&mut conn, db.dialect, user.user_id, id).await? {
        return Err(AppError::not_found("address_not_found", "no such address"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Cart and address routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
        .routes(routes!(list_addresses, create_address))
        .routes(routes!(update_address, delete_address))
}
