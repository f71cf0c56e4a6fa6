//! `/v1/admin/users` and `/v1/admin/me`: back-office accounts.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use suanpan_core::AppResult;
use suanpan_core::auth::{self};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::ApiJson;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::auth::{AdminUser, Permission, Role, SYSTEM, ShopAdmin};

/// The calling admin.
#[utoipa::path(get, path = "/v1/admin/me", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminUser), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn admin_me(admin: ShopAdmin) -> ApiJson<AdminUser> {
    ApiJson(admin.admin)
}

/// `POST /v1/admin/users` body.
#[derive(Deserialize, ToSchema)]
pub struct CreateAdminRequest {
    /// 3–64 of `[A-Za-z0-9_.-]`.
    pub username: String,
    /// 8–256 characters.
    pub password: String,
    /// Role in the shop.
    pub role: Role,
}

/// Creates an admin with a shop role (role `admin` only). Audited in the same transaction.
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = CreateAdminRequest,
    responses((status = 201, body = AdminUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_admin(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiJson(req): ApiJson<CreateAdminRequest>,
) -> AppResult<(StatusCode, ApiJson<AdminUser>)> {
    admin.require(Permission::ManageAdmins)?;
    let actor = admin.actor();
    let role = req.role.as_str();
    let staff = auth::create_staff(
        &s.core.db,
        &req.username,
        &req.password,
        SYSTEM,
        role,
        Some(&actor),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AdminUser::new(&staff, req.role)),
    ))
}

/// `/v1/admin/users` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(admin_me))
        .routes(routes!(create_admin))
}
