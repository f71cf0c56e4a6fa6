//! Identity: the principals every system may have, and the extractors that check them.
//!
//! | principal | token `kind` | who | where checked |
//! |---|---|---|---|
//! | mini-program user | `user` | a WeChat user keyed by openid (table `users`) | [`AuthUser`] |
//! | back-office account | `admin` | table `admin_users`, roles per system in `admin_roles` | [`AuthStaff`], wrapped by each system's role check |
//! | API client | none (signed requests) | a key that signs each request (HMAC) | [`crate::signing`] |
//! | legacy token | the legacy's own | a rewritten system's users | the system's crate |
//!
//! Tokens are HS256 JWTs ([`TokenService`]); refresh tokens are single-use and rotate
//! ([`crate::refresh`]); passwords are argon2id. Roles are strings here: each system parses its
//! own role names and owns its permission matrix.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::audit::Actor;
use crate::db::{Batch, Db, Dialect};
use crate::error::AppError;
use crate::sql;
use crate::state::CoreState;

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
    /// Token id (refresh tokens; see [`crate::refresh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Refresh-token family: every token issued from one login (see [`crate::refresh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
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
    /// Tokens whose signature this service verified, with their claims: a client presents the
    /// same access token on every request, and checking its HMAC and decoding its JSON again was
    /// ~8 % of an authenticated read's CPU (`docs/benchmarks.md`). A token's claims never
    /// change, so a hit skips only that work; expiry, kind and type are checked on every use.
    /// Emptied when it holds [`VERIFIED_CAP`] tokens.
    verified: Mutex<HashMap<Box<str>, Claims>>,
}

/// At most this many verified tokens are remembered (~4 MB).
const VERIFIED_CAP: usize = 10_000;

impl TokenService {
    /// A service with an HMAC `secret` (at least 32 bytes recommended) and lifetimes in seconds.
    pub fn new(secret: &[u8], access_ttl: i64, refresh_ttl: i64) -> Self {
        TokenService {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            access_ttl,
            refresh_ttl,
            verified: Mutex::new(HashMap::new()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn token(
        &self,
        sub: &str,
        kind: &str,
        typ: &str,
        role: Option<&str>,
        ttl: i64,
        ids: Option<(&str, &str)>,
    ) -> Result<(String, i64), AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.into(),
            kind: kind.into(),
            typ: typ.into(),
            role: role.map(Into::into),
            jti: ids.map(|(j, _)| j.to_string()),
            fam: ids.map(|(_, f)| f.to_string()),
            iat: now,
            exp: now + ttl,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map(|t| (t, now + ttl))
            .map_err(AppError::internal)
    }

    /// An access token for `sub` of `kind` (no refresh token: see [`crate::refresh::issue`]).
    pub fn access(&self, sub: &str, kind: &str, role: Option<&str>) -> Result<String, AppError> {
        Ok(self
            .token(sub, kind, "access", role, self.access_ttl, None)?
            .0)
    }

    /// An access + refresh pair whose refresh token carries `jti` and `family`; also returns the
    /// refresh token's expiry (Unix seconds). Record it with [`crate::refresh`].
    pub fn issue_with_id(
        &self,
        sub: &str,
        kind: &str,
        role: Option<&str>,
        jti: &str,
        family: &str,
    ) -> Result<(TokenPair, i64), AppError> {
        let (refresh_token, exp) = self.token(
            sub,
            kind,
            "refresh",
            role,
            self.refresh_ttl,
            Some((jti, family)),
        )?;
        Ok((
            TokenPair {
                access_token: self.access(sub, kind, role)?,
                refresh_token,
                token_type: "Bearer".into(),
                expires_in: self.access_ttl,
            },
            exp,
        ))
    }

    /// An unrecorded pair (tests and tools; servers issue through [`crate::refresh::issue`]).
    pub fn issue(&self, sub: &str, kind: &str, role: Option<&str>) -> Result<TokenPair, AppError> {
        Ok(self
            .issue_with_id(sub, kind, role, "unrecorded", "unrecorded")?
            .0)
    }

    /// Verifies signature, expiry (no leeway), kind and type. Errors: 401 `token_expired`, 401
    /// `invalid_token` (bad signature or shape, another kind or type).
    pub fn verify(&self, token: &str, kind: &str, typ: &str) -> Result<Claims, AppError> {
        let unauthenticated = |code: &'static str, m: String| {
            AppError::new(crate::error::ErrorKind::Unauthenticated, code, m)
        };
        let claims = match self.remembered(token) {
            Some(c) => c,
            None => self.decode(token)?,
        };
        if claims.exp < chrono::Utc::now().timestamp() {
            return Err(unauthenticated("token_expired", "token expired".into()));
        }
        if claims.kind != kind || claims.typ != typ {
            let m = format!("a {kind} {typ} token is required");
            return Err(unauthenticated("invalid_token", m));
        }
        Ok(claims)
    }

    fn remembered(&self, token: &str) -> Option<Claims> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.get(token).cloned()
    }

    /// Checks the signature and decodes the claims, and remembers them.
    fn decode(&self, token: &str) -> Result<Claims, AppError> {
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
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CAP {
            verified.clear();
        }
        verified.insert(token.into(), data.claims.clone());
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

/// A back-office account (table `admin_users`): shared by every system; what it may do in a
/// system is its role there ([`Grants`]), which the system interprets with its own permission
/// matrix.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Staff {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Disabled accounts cannot log in or use tokens.
    pub disabled: bool,
}

/// The roles of a back-office account: `(system, role)` pairs; the system `*` grants the role in
/// every system (what `suanpan admin create NAME --role R` without `--system` gives).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(pub Vec<(String, String)>);

impl Grants {
    /// The role in `system`: its own grant, else the `*` grant.
    pub fn role_in(&self, system: &str) -> Option<&str> {
        let find = |s: &str| {
            self.0
                .iter()
                .find(|(sys, _)| sys == s)
                .map(|(_, r)| r.as_str())
        };
        find(system).or_else(|| find(ANY_SYSTEM))
    }
}

/// The system name of a grant valid in every system.
pub const ANY_SYSTEM: &str = "*";

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

/// Checks a new password: 8–256 characters.
pub fn validate_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < 8 || password.len() > 256 {
        return Err(AppError::invalid(
            "weak_password",
            "password must be 8-256 characters",
        ));
    }
    Ok(())
}

/// Adds a back-office account with `role` in `system` (or [`ANY_SYSTEM`]) to `b`; the guard fails
/// when the username is taken. The id is generated by the database: read it back with
/// [`staff_by_name`] after the commit. The caller validates `role` for `system`.
pub fn push_create_staff(
    b: &mut Batch,
    d: Dialect,
    username: &str,
    password_hash: &str,
    system: &str,
    role: &str,
    now: i64,
) -> usize {
    let g = b.guard(
        sql!(d, "{{INSERT_IGNORE}} INTO admin_users (username, password_hash, role, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?){{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}"),
        vec![username.into(), password_hash.into(), role.into(), now.into(), now.into()],
    );
    b.push(
        sql!(d, "{{INSERT_IGNORE}} INTO admin_roles (admin_id, system_name, role, created_at) SELECT id, ?, ?, ? FROM admin_users WHERE username = ?{{ON_CONFLICT_IGNORE}}"),
        vec![system.into(), role.into(), now.into(), username.into()],
    );
    g
}

/// Creates a back-office account with `role` in `system` in its own transaction, with the
/// audit row of `by` (an admin acting over HTTP; `None` from the command line) in the same
/// transaction. Errors: `invalid_username`, `weak_password` (400), `admin_exists` (409).
pub async fn create_staff(
    db: &Db,
    username: &str,
    password: &str,
    system: &str,
    role: &str,
    by: Option<&Actor>,
) -> Result<Staff, AppError> {
    validate_username(username)?;
    validate_password(password)?;
    let hash = hash_password(password.to_string()).await?;
    let d = db.dialect;
    let now = crate::time::now_ms();
    let cx = (username, hash.as_str(), system, role, by);
    let created = db.transaction(&cx, |tx, &(username, hash, system, role, by)| Box::pin(async move {
        let mut b = Batch::new();
        push_create_staff(&mut b, d, username, hash, system, role, now);
        if b.execute(tx, d).await?.failed_guard.is_some() {
            return Err(crate::db::rollback());
        }
        let id: i64 = sqlx::query(sql!(d, "SELECT id FROM admin_users WHERE username = ?"))
            .bind(username)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        if let Some(actor) = by {
            let after = serde_json::json!({"id": id, "username": username, "system": system, "role": role});
            let mut b = Batch::new();
            crate::audit::push_record(
                &mut b,
                d,
                &crate::audit::Entry {
                    actor,
                    action: "admin_user.create",
                    entity_type: "admin_user",
                    entity_id: &id.to_string(),
                    before: None,
                    after: Some(&after),
                },
            );
            b.execute(tx, d).await?;
        }
        Ok(Staff {
            id,
            username: username.to_string(),
            disabled: false,
        })
    })).await;
    match created {
        Err(e) if crate::db::is_rollback(&e) => Err(AppError::conflict(
            "admin_exists",
            "an admin with this username exists",
        )),
        other => other,
    }
}

/// A failed password login, audited (action `auth.login_failed`, entity `admin_user` named by
/// the username tried) so that guessing shows in the audit log.
pub async fn audit_login_failure(db: &Db, system: &str, username: &str, ip: Option<String>) {
    let actor = Actor {
        kind: "anonymous",
        id: String::new(),
        name: username.chars().take(64).collect(),
        ip,
    };
    let after = serde_json::json!({ "system": system });
    let mut b = Batch::new();
    crate::audit::push_record(
        &mut b,
        db.dialect,
        &crate::audit::Entry {
            actor: &actor,
            action: "auth.login_failed",
            entity_type: "admin_user",
            entity_id: &actor.name,
            before: None,
            after: Some(&after),
        },
    );
    match db.writer().acquire().await {
        Ok(mut conn) => {
            if let Err(e) = b.execute(&mut conn, db.dialect).await {
                tracing::warn!(error = %e, "cannot audit a failed login");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot audit a failed login"),
    }
}

/// An account by username: `(staff, grants, password hash)`.
pub async fn staff_by_name(
    db: &Db,
    username: &str,
) -> Result<Option<(Staff, Grants, String)>, AppError> {
    let d = db.dialect;
    let q = sqlx::query(sql!(
        d,
        "SELECT id, username, disabled, password_hash FROM admin_users WHERE username = ?"
    ))
    .bind(username.to_string());
    staff_row(db, q).await
}

/// An account by id: `(staff, grants, password hash)`.
pub async fn staff_by_id(db: &Db, id: i64) -> Result<Option<(Staff, Grants, String)>, AppError> {
    let d = db.dialect;
    let q = sqlx::query(sql!(
        d,
        "SELECT id, username, disabled, password_hash FROM admin_users WHERE id = ?"
    ))
    .bind(id);
    staff_row(db, q).await
}

async fn staff_row<'q>(
    db: &Db,
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<Option<(Staff, Grants, String)>, AppError> {
    let d = db.dialect;
    let Some(r) = q.fetch_optional(db.reader()).await? else {
        return Ok(None);
    };
    let staff = Staff {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        disabled: r.try_get::<i64, _>(2)? != 0,
    };
    let rows = sqlx::query(sql!(
        d,
        "SELECT system_name, role FROM admin_roles WHERE admin_id = ? ORDER BY system_name"
    ))
    .bind(staff.id)
    .fetch_all(db.reader())
    .await?;
    let grants = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some((staff, Grants(grants), r.try_get(3)?)))
}

/// Checks a username and password; `invalid_credentials` (401) on any mismatch, the same
/// message and the same time whether the account exists or not. The caller throttles
/// ([`crate::throttle::LoginThrottle`]) and audits failures.
pub async fn login_staff(
    db: &Db,
    username: &str,
    password: &str,
) -> Result<(Staff, Grants), AppError> {
    let bad = || {
        AppError::new(
            crate::error::ErrorKind::Unauthenticated,
            "invalid_credentials",
            "wrong username or password",
        )
    };
    let found = staff_by_name(db, username).await?;
    let (staff, grants, hash) = match found {
        Some(x) => x,
        None => {
            // Spend the same time as a real check so that timing does not reveal usernames.
            let _ = verify_password(password.to_string(), DUMMY_HASH.to_string()).await;
            return Err(bad());
        }
    };
    if !verify_password(password.to_string(), hash).await || staff.disabled {
        return Err(bad());
    }
    Ok((staff, grants))
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

/// The token of an `Authorization: Bearer …` header. Errors: `unauthenticated` (401) when it
/// is missing or malformed.
pub fn bearer(parts: &Parts) -> Result<&str, AppError> {
    bearer_of(&parts.headers)
}

/// [`bearer`] over the headers alone (handlers that take `HeaderMap`).
pub fn bearer_of(headers: &http::HeaderMap) -> Result<&str, AppError> {
    let h = headers
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

/// The client's address (see [`client_ip`]), for handlers that need it without a principal
/// (logins, throttling).
#[derive(Clone, Debug)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp
where
    CoreState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let core = CoreState::from_ref(state);
        Ok(ClientIp(client_ip(parts, core.config.trust_proxy_headers)))
    }
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

/// A verified, enabled back-office account with its grants, loaded from the database on every
/// request (so disabling an account or changing a role takes effect at once). Systems wrap it in
/// their own extractor that resolves the role in that system and checks permissions.
#[derive(Clone, Debug)]
pub struct AuthStaff {
    /// The account.
    pub staff: Staff,
    /// Its roles.
    pub grants: Grants,
    /// Client IP if known.
    pub ip: Option<String>,
}

impl AuthStaff {
    /// As an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "admin",
            id: self.staff.id.to_string(),
            name: self.staff.username.clone(),
            ip: self.ip.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthStaff
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
        let (staff, grants, _) = staff_by_id(&core.db, id)
            .await?
            .ok_or_else(|| AppError::unauthenticated("admin no longer exists"))?;
        if staff.disabled {
            return Err(AppError::unauthenticated("admin is disabled"));
        }
        Ok(AuthStaff {
            staff,
            grants,
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

    /// A remembered token is checked for expiry, kind and type on every use, and a token that
    /// differs from a remembered one in any byte is verified afresh.
    #[test]
    fn remembered_tokens_still_expire_and_forgeries_are_not_remembered() {
        let t = TokenService::new(b"0123456789abcdef0123456789abcdef", 60, 120);
        let token = t.issue("7", "user", None).unwrap().access_token;
        assert_eq!(t.verify(&token, "user", "access").unwrap().sub, "7");
        assert_eq!(t.verify(&token, "user", "access").unwrap().sub, "7");
        let mut forged = token.clone();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(forged.len() - 1.., last);
        let code = |r: Result<Claims, AppError>| r.map(|_| "ok").unwrap_or_else(|e| e.code);
        assert_eq!(code(t.verify(&forged, "user", "access")), "invalid_token");
        assert_eq!(code(t.verify(&token, "user", "refresh")), "invalid_token");
        let now = chrono::Utc::now().timestamp();
        if let Some(c) = t.verified.lock().unwrap().get_mut(token.as_str()) {
            c.exp = now - 1;
        }
        assert_eq!(code(t.verify(&token, "user", "access")), "token_expired");
    }

    #[test]
    fn grants_prefer_the_systems_own_role() {
        let g = Grants(vec![
            ("*".into(), "admin".into()),
            ("mr".into(), "finance".into()),
        ]);
        assert_eq!(g.role_in("mr"), Some("finance"));
        assert_eq!(g.role_in("shop"), Some("admin"));
        assert_eq!(Grants::default().role_in("shop"), None);
    }

    #[tokio::test]
    async fn passwords_round_trip() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("wrong".into(), h).await);
        assert!(!verify_password("x".into(), DUMMY_HASH.into()).await);
    }
}
