//! `/v1/categories`: the catalog's categories.

use axum::extract::State;
use suanpan_core::AppResult;
use suanpan_core::http::ApiJson;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::store::{self, Category};

/// All categories.
#[utoipa::path(get, path = "/v1/categories", tag = "catalog", responses((status = 200, body = [Category])))]
pub async fn list_categories(State(s): State<ShopState>) -> AppResult<ApiJson<Vec<Category>>> {
    Ok(ApiJson(
        store::list_categories(s.core.db.reader(), s.core.db.dialect).await?,
    ))
}

/// `/v1/categories` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(list_categories))
}
