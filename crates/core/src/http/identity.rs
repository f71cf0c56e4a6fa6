//! Identity routes: shopper login through WeChat, token refresh, admin login, admin accounts and
//! the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, AuditFilter, AuditRecord};
use crate::auth::{self, AdminUser, AuthAdmin, Permission, Role, TokenPair};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::http::{ApiJson, ApiQuery};
use crate::state::CoreState;

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
    State(core): State<CoreState>,
    ApiJson(req): ApiJson<WechatLoginRequest>,
) -> AppResult<ApiJson<LoginResponse>> {
    let session = core.wechat.code2session(&req.code).await?;
    let user = auth::upsert_user(&core.db, &session.openid, session.unionid.as_deref()).await?;
    let tokens = core.tokens.issue(&user.id.to_string(), "user", None)?;
    Ok(ApiJson(LoginResponse {
        tokens,
        user_id: user.id,
        role: None,
    }))
}

/// `POST /v1/auth/refresh` body.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// A refresh token from a login.
    pub refresh_token: String,
}

/// Exchanges a refresh token (shopper or admin) for a new pair.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(core): State<CoreState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> AppResult<ApiJson<TokenPair>> {
    let claims = core
        .tokens
        .verify(&req.refresh_token, "user", "refresh")
        .or_else(|_| core.tokens.verify(&req.refresh_token, "admin", "refresh"))?;
    Ok(ApiJson(core.tokens.issue(
        &claims.sub,
        &claims.kind,
        claims.role.as_deref(),
    )?))
}

/// `POST /v1/admin/auth/login` body.
#[derive(Deserialize, ToSchema)]
pub struct AdminLoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Admin login with username and password.
#[utoipa::path(post, path = "/v1/admin/auth/login", tag = "admin", request_body = AdminLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody)))]
pub async fn admin_login(
    State(core): State<CoreState>,
    ApiJson(req): ApiJson<AdminLoginRequest>,
) -> AppResult<ApiJson<LoginResponse>> {
    let admin = auth::login_admin(&core.db, &req.username, &req.password).await?;
    let tokens = core
        .tokens
        .issue(&admin.id.to_string(), "admin", Some(admin.role.as_str()))?;
    Ok(ApiJson(LoginResponse {
        tokens,
        user_id: admin.id,
        role: Some(admin.role),
    }))
}

/// The calling admin.
#[utoipa::path(get, path = "/v1/admin/me", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AdminUser), (status = 401, body = ErrorBody)))]
pub async fn admin_me(admin: AuthAdmin) -> ApiJson<AdminUser> {
    ApiJson(admin.admin)
}

/// `POST /v1/admin/users` body.
#[derive(Deserialize, ToSchema)]
pub struct CreateAdminRequest {
    /// 3–64 of `[A-Za-z0-9_.-]`.
    pub username: String,
    /// 8–256 characters.
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Creates an admin (role `admin` only). Audited.
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])), request_body = CreateAdminRequest,
    responses((status = 201, body = AdminUser), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_admin(
    State(core): State<CoreState>,
    admin: AuthAdmin,
    ApiJson(req): ApiJson<CreateAdminRequest>,
) -> AppResult<(StatusCode, ApiJson<AdminUser>)> {
    admin.require(Permission::ManageAdmins)?;
    let created = auth::create_admin(&core.db, &req.username, &req.password, req.role).await?;
    let mut conn = core.db.writer().acquire().await?;
    let after = serde_json::to_value(&created).map_err(AppError::internal)?;
    audit::record(
        &mut conn,
        core.db.dialect,
        &admin.actor(),
        "admin_user.create",
        "admin_user",
        &created.id.to_string(),
        None,
        Some(&after),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// Audit log, newest first (roles admin, finance).
#[utoipa::path(get, path = "/v1/admin/audit-logs", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = [AuditRecord]), (status = 403, body = ErrorBody)))]
pub async fn audit_logs(
    State(core): State<CoreState>,
    admin: AuthAdmin,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> AppResult<ApiJson<Vec<AuditRecord>>> {
    admin.require(Permission::ViewAudit)?;
    Ok(ApiJson(
        audit::query(core.db.reader(), core.db.dialect, &f).await?,
    ))
}

/// The identity routes.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    CoreState: axum::extract::FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(wechat_login))
        .routes(routes!(refresh))
        .routes(routes!(admin_login))
        .routes(routes!(admin_me))
        .routes(routes!(create_admin))
        .routes(routes!(audit_logs))
}
