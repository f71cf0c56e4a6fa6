//! `/v1/auth/*` (shopper login, token refresh, logout) and the back office's own account routes
//! (`/v1/admin/auth/login`, `/v1/admin/me`, `/v1/admin/users`, `/v1/admin/audit-logs`).
//! Mechanisms (tokens, refresh rotation, throttling, audit) are the core's; this file decides
//! the shop's paths and roles.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use suanpan_core::audit::{self, AuditFilter, AuditRecord};
use suanpan_core::auth::{self, ClientIp, TokenPair};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiQuery};
use suanpan_core::{AppError, AppResult, refresh};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::auth::{AdminUser, Permission, Role, SYSTEM, ShopAdmin};

/// `POST /v1/auth/wechat/login` body.
#[derive(Deserialize, ToSchema)]
pub struct WechatLoginRequest {
    /// The code from `wx.login()`.
    pub code: String,
}

/// Login answer: tokens plus who logged in.
#[derive(serde::Serialize, ToSchema)]
pub struct LoginResponse {
    /// Tokens.
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// The shopper's or admin's id.
    pub user_id: i64,
    /// Admin role (admin logins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Shopper login: exchanges a `wx.login()` code for tokens, creating the shopper on first login.
#[utoipa::path(post, path = "/v1/auth/wechat/login", tag = "auth", request_body = WechatLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn wechat_login(
    State(s): State<ShopState>,
    ApiJson(req): ApiJson<WechatLoginRequest>,
) -> AppResult<ApiJson<LoginResponse>> {
    let session = s.wechat.code2session(&req.code).await?;
    let core = &s.core;
    let user = auth::upsert_user(&core.db, &session.openid, session.unionid.as_deref()).await?;
    let tokens = refresh::issue(&core.db, &core.tokens, &user.id.to_string(), "user", None).await?;
    Ok(ApiJson(LoginResponse {
        tokens,
        user_id: user.id,
        role: None,
    }))
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout` body.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// A refresh token from a login or an earlier refresh.
    pub refresh_token: String,
}

/// Exchanges a refresh token (shopper or admin) for a new pair. Each refresh token works once:
/// presenting a used one again revokes every token of its login (`refresh_token_reused`).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn refresh_tokens(
    State(s): State<ShopState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> AppResult<ApiJson<TokenPair>> {
    let core = &s.core;
    Ok(ApiJson(
        refresh::rotate(
            &core.db,
            &core.tokens,
            &req.refresh_token,
            &["user", "admin"],
        )
        .await?,
    ))
}

/// Logout: revokes the refresh token and every token refreshed from the same login. Access
/// tokens already issued stay valid until they expire (`expires_in`).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(s): State<ShopState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> AppResult<StatusCode> {
    let core = &s.core;
    refresh::revoke(
        &core.db,
        &core.tokens,
        &req.refresh_token,
        &["user", "admin"],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

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

/// Audit log, newest first (roles admin, finance).
#[utoipa::path(get, path = "/v1/admin/audit-logs", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = [AuditRecord]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_logs(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> AppResult<ApiJson<Vec<AuditRecord>>> {
    admin.require(Permission::ViewAudit)?;
    let db = &s.core.db;
    Ok(ApiJson(audit::query(db.reader(), db.dialect, &f).await?))
}

/// The identity routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(wechat_login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
        .routes(routes!(admin_login))
        .routes(routes!(admin_me))
        .routes(routes!(create_admin))
        .routes(routes!(audit_logs))
}
