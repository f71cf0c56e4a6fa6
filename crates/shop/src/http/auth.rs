//! `/v1/auth/*`: shopper login through WeChat, token refresh (shoppers and back office), logout.
//! Mechanisms (tokens, refresh rotation, audit) are the core's; this file decides the shop's
//! paths.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use suanpan_core::auth::{self, TokenPair};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::ApiJson;
use suanpan_core::{AppResult, refresh};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::auth::Role;

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

/// `/v1/auth` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(wechat_login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
}
