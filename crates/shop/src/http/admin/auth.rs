//! `/v1/admin/auth/login`: back-office login, throttled and audited.

use axum::extract::State;
use serde::Deserialize;
use suanpan_core::auth::{self, ClientIp};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::ApiJson;
use suanpan_core::{AppError, AppResult, refresh};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::auth::{Role, SYSTEM};
use crate::http::auth::LoginResponse;

/// `POST /v1/admin/auth/login` body.
#[derive(Deserialize, ToSchema)]
pub struct AdminLoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Admin login with username and password. Throttled per account and per client address
/// (`429 too_many_attempts` with `Retry-After`); failures are audited.
#[utoipa::path(post, path = "/v1/admin/auth/login", tag = "admin", request_body = AdminLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn admin_login(
    State(s): State<ShopState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AdminLoginRequest>,
) -> AppResult<ApiJson<LoginResponse>> {
    let core = &s.core;
    core.throttle.check(SYSTEM, &req.username, ip.as_deref())?;
    let (staff, grants) = match auth::login_staff(&core.db, &req.username, &req.password).await {
        Ok(x) => x,
        Err(e) => {
            auth::audit_login_failure(&core.db, SYSTEM, &req.username, ip).await;
            return Err(e);
        }
    };
    let role = Role::of(&grants)
        .ok_or_else(|| AppError::forbidden("this account has no role in the shop"))?;
    let id = staff.id.to_string();
    let tokens = refresh::issue(&core.db, &core.tokens, &id, "admin", Some(role.as_str())).await?;
    Ok(ApiJson(LoginResponse {
        tokens,
        user_id: staff.id,
        role: Some(role),
    }))
}

/// `/v1/admin/auth` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(admin_login))
}
