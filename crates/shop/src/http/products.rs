//! `/v1/products`: the public catalog (products on shelf, with what can still be ordered).

use axum::extract::State;
use serde::Deserialize;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery, Page, PageParams};
use suanpan_core::{AppError, AppResult};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::store::{self, ProductFilter, ProductView};

/// Public list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only this category.
    pub category_id: Option<i64>,
    /// Keyword in name or description.
    pub q: Option<String>,
    /// Page (1-based).
    pub page: Option<i64>,
    /// Page size (1–100).
    pub page_size: Option<i64>,
    /// Admin only: `true` on shelf, `false` off shelf.
    pub on_shelf: Option<bool>,
}

pub(crate) async fn list(
    s: &ShopState,
    q: ProductQuery,
    admin: bool,
) -> AppResult<Page<ProductView>> {
    let (limit, offset, page, page_size) = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .resolve()?;
    if q.q.as_ref().is_some_and(|k| k.chars().count() > 50) {
        return Err(AppError::invalid(
            "invalid_query",
            "keyword must be at most 50 characters",
        ));
    }
    let f = ProductFilter {
        category_id: q.category_id,
        keyword: q.q,
        admin,
        on_shelf: q.on_shelf.filter(|_| admin),
    };
    let (items, total) =
        store::list_products(s.core.db.reader(), s.core.db.dialect, &f, limit, offset).await?;
    Ok(Page {
        items,
        page,
        page_size,
        total,
    })
}

/// Products on shelf, newest first, with pagination, category filter and keyword search.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = inline(Page<ProductView>)), (status = 400, body = ErrorBody)))]
pub async fn list_products(
    State(s): State<ShopState>,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> AppResult<ApiJson<Page<ProductView>>> {
    Ok(ApiJson(list(&s, q, false).await?))
}

/// One product on shelf; `stock` is what can still be ordered.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)))]
pub async fn get_product(
    State(s): State<ShopState>,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<ProductView>> {
    store::shelf_product(&s.core.db, id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product"))
}

/// `/v1/products` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
}
