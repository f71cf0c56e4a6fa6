//! `/v1/admin/products`: products for the back office (off shelf too), stock adjustments.

use crate::auth::{Permission, ShopAdmin};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery, Page};
use suanpan_core::{AppError, AppResult};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::http::products::{ProductQuery, list};
use crate::http::{created, idem};
use crate::service::catalog::{self, StockChange};
use crate::store::{self, NewProduct, ProductView};

/// `POST /v1/admin/products` body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateProduct {
    /// 1–200 characters.
    pub name: String,
    /// Price in fen, 1 – 10,000,000,000.
    pub price_fen: i64,
    /// Initial stock on hand, 0 – 1,000,000,000.
    #[serde(default)]
    pub stock: i64,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub description: String,
    /// Up to 9 image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Category id.
    pub category_id: Option<i64>,
    /// On shelf (default true).
    pub on_shelf: Option<bool>,
}

/// `PATCH /v1/admin/products/{id}` body: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProduct {
    /// Name.
    pub name: Option<String>,
    /// Price, fen.
    pub price_fen: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// Images.
    pub images: Option<Vec<String>>,
    /// Category id.
    pub category_id: Option<i64>,
    /// On shelf.
    pub on_shelf: Option<bool>,
}

/// `POST /v1/admin/products/{id}/stock` body: exactly one of `delta` or `on_hand`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AdjustStock {
    /// Change on hand by this (receipt > 0, write-off < 0).
    pub delta: Option<i64>,
    /// Set on hand to this (a stock count).
    pub on_hand: Option<i64>,
}

async fn admin_product(s: &ShopState, id: i64) -> AppResult<ProductView> {
    store::get_product(s.core.db.writer(), s.core.db.dialect, id)
        .await?
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product"))
}

/// Creates a product with its initial stock (on shelf unless `on_shelf: false`). Audited.
#[utoipa::path(post, path = "/v1/admin/products", tag = "admin", security(("bearer" = [])), request_body = CreateProduct,
    responses((status = 201, body = ProductView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_product(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiJson(req): ApiJson<CreateProduct>,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let p = NewProduct {
        name: req.name.trim().to_string(),
        description: req.description,
        images: req.images,
        price_fen: req.price_fen,
        category_id: req.category_id,
        on_shelf: req.on_shelf.unwrap_or(true),
    };
    let id = catalog::create_product(&s, &admin.actor(), &p, req.stock).await?;
    Ok(created(admin_product(&s, id).await?))
}

/// Changes a product's fields (price changes apply to orders placed afterwards). Audited.
#[utoipa::path(patch, path = "/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = UpdateProduct,
    responses((status = 200, body = ProductView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_product(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateProduct>,
) -> AppResult<ApiJson<ProductView>> {
    admin.require(Permission::ManageCatalog)?;
    let before = admin_product(&s, id).await?;
    let p = NewProduct {
        name: req
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(before.name.clone()),
        description: req.description.unwrap_or(before.description.clone()),
        images: req.images.unwrap_or(before.images.clone()),
        price_fen: req.price_fen.unwrap_or(before.price_fen),
        category_id: req.category_id.or(before.category_id),
        on_shelf: req.on_shelf.unwrap_or(before.on_shelf),
    };
    let b = serde_json::to_value(&before).map_err(AppError::internal)?;
    catalog::update_product(&s, &admin.actor(), id, &b, &p).await?;
    Ok(ApiJson(admin_product(&s, id).await?))
}

/// Adjusts stock on hand through the ledger (never below what unpaid orders reserve). Audited.
/// With an `Idempotency-Key` header a repeat answers the first answer and moves nothing.
#[utoipa::path(post, path = "/v1/admin/products/{id}/stock", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters; kept 24 h")), request_body = AdjustStock,
    responses((status = 200, body = ProductView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn adjust_stock(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AdjustStock>,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let idem = idem(&headers, format!("stock:product:{id}"), &req)?;
    let change = match (req.delta, req.on_hand) {
        (Some(x), None) => StockChange::Delta(x),
        (None, Some(h)) => StockChange::OnHand(h),
        // Neither or both: `Delta(0)` is refused with the same `invalid_stock`.
        _ => StockChange::Delta(0),
    };
    let stored = catalog::adjust_stock(&s, &admin.actor(), id, change, idem).await?;
    Ok(stored.into_response())
}

/// All products, including off shelf, with on hand and reserved.
#[utoipa::path(get, path = "/v1/admin/products", tag = "admin", security(("bearer" = [])), params(ProductQuery),
    responses((status = 200, body = inline(Page<ProductView>)), (status = 403, body = ErrorBody)))]
pub async fn admin_list_products(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> AppResult<ApiJson<Page<ProductView>>> {
    admin.require(Permission::ManageCatalog)?;
    Ok(ApiJson(list(&s, q, true).await?))
}

/// `/v1/admin/products` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, admin_list_products))
        .routes(routes!(update_product))
        .routes(routes!(adjust_stock))
}
