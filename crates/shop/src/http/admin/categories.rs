//! `/v1/admin/categories`: creating categories.

use crate::auth::{Permission, ShopAdmin};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use suanpan_core::AppResult;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::ApiJson;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::http::created;
use crate::service::catalog::{self};
use crate::store::Category;

/// `POST /v1/admin/categories` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCategory {
    /// 1–64 characters.
    pub name: String,
    /// Sort key (ascending).
    #[serde(default)]
    pub sort: i64,
}

/// Creates a category. Audited.
#[utoipa::path(post, path = "/v1/admin/categories", tag = "admin", security(("bearer" = [])), request_body = CreateCategory,
    responses((status = 201, body = Category), (status = 400, body = ErrorBody)))]
pub async fn create_category(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiJson(req): ApiJson<CreateCategory>,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let name = req.name.trim().to_string();
    let id = catalog::create_category(&s, &admin.actor(), &name, req.sort).await?;
    Ok(created(Category {
        id,
        name,
        sort: req.sort,
    }))
}

/// `/v1/admin/categories` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(create_category))
}
