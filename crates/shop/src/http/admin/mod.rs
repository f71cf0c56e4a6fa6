//! `/v1/admin/*`: the back office. Every route needs a back-office token with a shop role;
//! each handler names the permission it requires.

pub mod audit_logs;
pub mod auth;
pub mod categories;
pub mod orders;
pub mod products;
pub mod reports;
pub mod uploads;
pub mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::ShopState;

/// Every `/v1/admin/*` route.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(audit_logs::routes())
        .merge(products::routes())
        .merge(categories::routes())
        .merge(uploads::routes())
        .merge(orders::routes())
        .merge(reports::routes())
}
