//! Identity: JWT access/refresh tokens (HS256), argon2id admin passwords, admin roles and their
//! permissions, shoppers identified by WeChat openid, and the extractors that check them on every
//! request ([`AuthUser`], [`AuthAdmin`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::audit::Actor;
use crate::db::{Db, Dialect, insert_id};
use crate::error::AppError;
use crate::state::CoreState;
use crate::{sql, sql_insert};

/// Claims of every token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user or admin id.
    pub sub: String,
    /// `user` (shopper) or `admin`.
    pub kind: String,
    /// `access` or `refresh`.
    pub typ: String,
    /// Admin role at issue time (informational; the database is checked on every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// A token pair as login endpoints return it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Token for `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
}

/// Issues and verifies tokens.
pub struct TokenService {
    enc: EncodingKey,
    dec: DecodingKey,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl TokenService {
    /// A service with an HMAC `secret` (at least 32 bytes recommended) and lifetimes in seconds.
    pub fn new(secret: &[u8], access_ttl: i64, refresh_ttl: i64) -> Self {
        TokenService {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
        }
    }

    fn token(
        &self,
        sub: &str,
        kind: &str,
        typ: &str,
        role: Option<&str>,
        ttl: i64,
    ) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.into(),
            kind: kind.into(),
            typ: typ.into(),
            role: role.map(Into::into),
            iat: now,
            exp: now + ttl,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(AppError::internal)
    }

    /// An access + refresh pair for `sub` of `kind` (`user` or `admin`).
    pub fn issue(&self, sub: &str, kind: &str, role: Option<&str>) -> Result<TokenPair, AppError> {
        Ok(TokenPair {
            access_token: self.token(sub, kind, "access", role, self.access_ttl)?,
            refresh_token: self.token(sub, kind, "refresh", role, self.refresh_ttl)?,
            token_type: "Bearer".into(),
            expires_in: self.access_ttl,
        })
    }

    /// Verifies signature, expiry (no leeway), kind and type.
    pub fn verify(&self, token: &str, kind: &str, typ: &str) -> Result<Claims, AppError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.dec, &v).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AppError::new(
                    crate::error::ErrorKind::Unauthenticated,
                    "token_expired",
                    "token expired",
                ),
                _ => AppError::new(
                    crate::error::ErrorKind::Unauthenticated,
                    "invalid_token",
                    "invalid token",
                ),
            })?;
        if data.claims.kind != kind || data.claims.typ != typ {
            return Err(AppError::new(
                crate::error::ErrorKind::Unauthenticated,
                "invalid_token",
                format!("a {kind} {typ} token is required"),
            ));
        }
        Ok(data.claims)
    }
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt =
            SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(AppError::internal)?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// Verifies a password against a PHC-format hash on a blocking thread.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

/// Admin roles (issue #2: admin, operator, finance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing admins.
    Admin,
    /// Catalog and order fulfilment.
    Operator,
    /// Refunds, reports, exports, audit.
    Finance,
}

/// What an admin route needs. The matrix is in `docs/api.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Create/edit products, categories, stock, uploads.
    ManageCatalog,
    /// Search and read orders.
    ViewOrders,
    /// Ship, cancel orders.
    FulfilOrders,
    /// Refund orders.
    Refund,
    /// Daily reports and CSV exports.
    ViewReports,
    /// Read the audit log.
    ViewAudit,
    /// Create admins.
    ManageAdmins,
}

impl Role {
    /// Parses `admin`, `operator` or `finance`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "finance" => Some(Role::Finance),
            _ => None,
        }
    }
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Finance => "finance",
        }
    }
    /// Whether this role holds `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(p, ManageCatalog | ViewOrders | FulfilOrders),
            Role::Finance => matches!(p, ViewOrders | Refund | ViewReports | ViewAudit),
        }
    }
}

/// An admin account.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled admins cannot log in or use tokens.
    pub disabled: bool,
}

/// Checks a username: 3–64 of `[A-Za-z0-9_.-]`.
pub fn validate_username(u: &str) -> Result<(), AppError> {
    if u.len() < 3
        || u.len() > 64
        || !u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(AppError::invalid(
            "invalid_username",
            "username must be 3-64 characters of A-Z, a-z, 0-9, _ . -",
        ));
    }
    Ok(())
}

/// Creates an admin; `admin_exists` (409) if the username is taken.
pub async fn create_admin(
    db: &Db,
    username: &str,
    password: &str,
    role: Role,
) -> Result<AdminUser, AppError> {
    validate_username(username)?;
    if password.chars().count() < 8 || password.len() > 256 {
        return Err(AppError::invalid(
            "weak_password",
            "password must be 8-256 characters",
        ));
    }
    let hash = hash_password(password.to_string()).await?;
    let d = db.dialect;
    let now = crate::time::now_ms();
    let mut conn = db.writer().acquire().await?;
    let q = sqlx::query(sql_insert!(
        d,
        "INSERT INTO admin_users (username, password_hash, role, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)"
    ))
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .bind(now)
    .bind(now);
    match insert_id(&mut conn, d, q).await {
        Ok(id) => Ok(AdminUser {
            id,
            username: username.into(),
            role,
            disabled: false,
        }),
        Err(e) if crate::db::is_unique_violation(&e) => Err(AppError::conflict(
            "admin_exists",
            "an admin with this username exists",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn admin_row(
    db: &Db,
    d: Dialect,
    by_name: Option<&str>,
    by_id: Option<i64>,
) -> Result<Option<(AdminUser, String)>, AppError> {
    let q = match (by_name, by_id) {
        (Some(n), _) => sqlx::query(sql!(
            d,
            "SELECT id, username, role, disabled, password_hash FROM admin_users WHERE username = ?"
        ))
        .bind(n.to_string()),
        (None, Some(id)) => sqlx::query(sql!(
            d,
            "SELECT id, username, role, disabled, password_hash FROM admin_users WHERE id = ?"
        ))
        .bind(id),
        _ => return Ok(None),
    };
    let Some(r) = q.fetch_optional(db.reader()).await? else {
        return Ok(None);
    };
    let role: String = r.try_get(2)?;
    let admin = AdminUser {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        role: Role::parse(&role)
            .ok_or_else(|| AppError::internal(format!("unknown role {role}")))?,
        disabled: r.try_get::<i64, _>(3)? != 0,
    };
    Ok(Some((admin, r.try_get(4)?)))
}

/// Checks a username and password; `invalid_credentials` (401) on any mismatch, the same
/// message whether the user exists or not.
pub async fn login_admin(db: &Db, username: &str, password: &str) -> Result<AdminUser, AppError> {
    let bad = || {
        AppError::new(
            crate::error::ErrorKind::Unauthenticated,
            "invalid_credentials",
            "wrong username or password",
        )
    };
    let found = admin_row(db, db.dialect, Some(username), None).await?;
    let (admin, hash) = match found {
        Some(x) => x,
        None => {
            // Spend the same time as a real check so that timing does not reveal usernames.
            let _ = verify_password(password.to_string(), DUMMY_HASH.to_string()).await;
            return Err(bad());
        }
    };
    if !verify_password(password.to_string(), hash).await || admin.disabled {
        return Err(bad());
    }
    Ok(admin)
}

const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2vFQkGcRqbq3G3zQdJ9Xc8Vw6wVxq3nBf7T1yq2m9XU";

/// A shopper, created on first WeChat login.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// WeChat openid for this mini-program.
    pub openid: String,
}

/// Finds or creates the shopper with `openid`.
pub async fn upsert_user(db: &Db, openid: &str, unionid: Option<&str>) -> Result<User, AppError> {
    let d = db.dialect;
    let now = crate::time::now_ms();
    let ins = sql!(
        d,
        "{{INSERT_IGNORE}} INTO users (openid, unionid, created_at, last_login_at) VALUES (?, ?, ?, ?){{ON_CONFLICT_IGNORE}}"
    );
    sqlx::query(ins)
        .bind(openid)
        .bind(unionid)
        .bind(now)
        .bind(now)
        .execute(db.writer())
        .await?;
    sqlx::query(sql!(
        d,
        "UPDATE users SET last_login_at = ? WHERE openid = ?"
    ))
    .bind(now)
    .bind(openid)
    .execute(db.writer())
    .await?;
    let r = sqlx::query(sql!(d, "SELECT id FROM users WHERE openid = ?"))
        .bind(openid)
        .fetch_one(db.writer())
        .await?;
    Ok(User {
        id: r.try_get(0)?,
        openid: openid.to_string(),
    })
}

fn bearer(parts: &Parts) -> Result<&str, AppError> {
    let h = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::unauthenticated("missing Authorization: Bearer token"))?;
    let s = h
        .to_str()
        .map_err(|_| AppError::unauthenticated("malformed Authorization header"))?;
    s.strip_prefix("Bearer ")
        .or_else(|| s.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| AppError::unauthenticated("Authorization must be a Bearer token"))
}

/// The client's IP: `X-Forwarded-For`'s first hop when `trust_proxy_headers`, else the socket peer.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<String> {
    if trust_proxy
        && let Some(v) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(first) = v.split(',').next()
    {
        return Some(first.trim().to_string());
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// A verified shopper (access token of kind `user`).
#[derive(Clone, Debug)]
pub struct AuthUser {
    /// The shopper's id.
    pub user_id: i64,
    /// Client IP if known.
    pub ip: Option<String>,
}

impl AuthUser {
    /// As an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "user",
            id: self.user_id.to_string(),
            name: format!("user:{}", self.user_id),
            ip: self.ip.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    CoreState: FromRef<S>,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let core = CoreState::from_ref(state);
        let claims = core.tokens.verify(bearer(parts)?, "user", "access")?;
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| AppError::unauthenticated("invalid token subject"))?;
        Ok(AuthUser {
            user_id,
            ip: client_ip(parts, core.config.trust_proxy_headers),
        })
    }
}

/// A verified, enabled admin, loaded from the database on every request (so disabling an admin
/// or changing a role takes effect at once). Handlers call [`AuthAdmin::require`].
#[derive(Clone, Debug)]
pub struct AuthAdmin {
    /// The admin.
    pub admin: AdminUser,
    /// Client IP if known.
    pub ip: Option<String>,
}

impl AuthAdmin {
    /// `forbidden` (403) unless the admin's role holds `p`.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.admin.role.allows(p) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "role {} may not do this",
                self.admin.role.as_str()
            )))
        }
    }
    /// As an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "admin",
            id: self.admin.id.to_string(),
            name: self.admin.username.clone(),
            ip: self.ip.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthAdmin
where
    CoreState: FromRef<S>,
{
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let core = CoreState::from_ref(state);
        let claims = core.tokens.verify(bearer(parts)?, "admin", "access")?;
        let id: i64 = claims
            .sub
            .parse()
            .map_err(|_| AppError::unauthenticated("invalid token subject"))?;
        let (admin, _) = admin_row(&core.db, core.db.dialect, None, Some(id))
            .await?
            .ok_or_else(|| AppError::unauthenticated("admin no longer exists"))?;
        if admin.disabled {
            return Err(AppError::unauthenticated("admin is disabled"));
        }
        Ok(AuthAdmin {
            admin,
            ip: client_ip(parts, core.config.trust_proxy_headers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_kind_type_and_signature() {
        let t = TokenService::new(b"0123456789abcdef0123456789abcdef", 60, 120);
        let pair = t.issue("7", "user", None).unwrap();
        assert_eq!(
            t.verify(&pair.access_token, "user", "access").unwrap().sub,
            "7"
        );
        assert_eq!(
            t.verify(&pair.refresh_token, "user", "access")
                .unwrap_err()
                .code,
            "invalid_token"
        );
        assert_eq!(
            t.verify(&pair.access_token, "admin", "access")
                .unwrap_err()
                .code,
            "invalid_token"
        );
        let other = TokenService::new(b"another-secret-another-secret-xx", 60, 120);
        assert_eq!(
            other
                .verify(&pair.access_token, "user", "access")
                .unwrap_err()
                .code,
            "invalid_token"
        );
        let expired = TokenService::new(b"0123456789abcdef0123456789abcdef", -10, -10)
            .issue("7", "user", None)
            .unwrap();
        assert_eq!(
            t.verify(&expired.access_token, "user", "access")
                .unwrap_err()
                .code,
            "token_expired"
        );
    }

    #[test]
    fn role_matrix() {
        assert!(Role::Admin.allows(Permission::ManageAdmins));
        assert!(Role::Operator.allows(Permission::FulfilOrders));
        assert!(!Role::Operator.allows(Permission::Refund));
        assert!(Role::Finance.allows(Permission::Refund));
        assert!(!Role::Finance.allows(Permission::ManageCatalog));
    }

    #[tokio::test]
    async fn passwords_round_trip() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("wrong".into(), h).await);
        assert!(!verify_password("x".into(), DUMMY_HASH.into()).await);
    }
}
