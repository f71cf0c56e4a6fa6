//! Refresh tokens that rotate on use (OAuth 2.0 Security BCP, RFC 9700 §4.14: refresh token
//! rotation with reuse detection).
//!
//! Every refresh token is a JWT with a `jti` and a `fam` (family) claim, and a row in
//! `refresh_tokens`. Refreshing marks the presented token used and issues the next pair of the
//! same family, in one transaction; a token can be used once. Presenting a used (or revoked)
//! token again means it was copied: the whole family is revoked and the caller gets
//! `401 refresh_token_reused`, so the thief's and the victim's sessions both end and the user
//! logs in again. Logout revokes the family of the token it is given.

use crate::auth::{TokenPair, TokenService};
use crate::db::{Batch, Db, Dialect};
use crate::error::{AppError, ErrorKind};
use crate::sql;

fn unauthenticated(code: &'static str, message: &str) -> AppError {
    AppError::new(ErrorKind::Unauthenticated, code, message.to_string())
}

/// Adds the row of a newly issued refresh token to `b`.
fn push_issued(b: &mut Batch, d: Dialect, t: &Issued, now: i64) {
    b.push(
        sql!(d, "INSERT INTO refresh_tokens (jti, family, subject, kind, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
        vec![t.jti.clone().into(), t.family.clone().into(), t.subject.clone().into(), t.kind.clone().into(), t.expires_at_ms.into(), now.into()],
    );
}

/// The recorded facts of an issued refresh token.
struct Issued {
    jti: String,
    family: String,
    subject: String,
    kind: String,
    expires_at_ms: i64,
}

/// Issues a new pair (a new family) for `sub` of `kind` and records its refresh token.
pub async fn issue(
    db: &Db,
    tokens: &TokenService,
    sub: &str,
    kind: &str,
    role: Option<&str>,
) -> Result<TokenPair, AppError> {
    let family = crate::ids::random_alnum(24);
    issue_in_family(db, tokens, sub, kind, role, &family, None).await
}

async fn issue_in_family(
    db: &Db,
    tokens: &TokenService,
    sub: &str,
    kind: &str,
    role: Option<&str>,
    family: &str,
    used_jti: Option<&str>,
) -> Result<TokenPair, AppError> {
    let jti = crate::ids::random_alnum(24);
    let (pair, expires_at) = tokens.issue_with_id(sub, kind, role, &jti, family)?;
    let d = db.dialect;
    let issued = Issued {
        jti,
        family: family.to_string(),
        subject: sub.to_string(),
        kind: kind.to_string(),
        expires_at_ms: expires_at * 1000,
    };
    db.transaction(&(&issued, used_jti), |tx, &(issued, used_jti)| Box::pin(async move {
        let now = crate::time::now_ms();
        let mut b = Batch::new();
        if let Some(used) = used_jti {
            b.guard(
                sql!(d, "UPDATE refresh_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"),
                vec![now.into(), used.into(), now.into()],
            );
        }
        push_issued(&mut b, d, issued, now);
        if b.execute(tx, d).await?.failed_guard.is_some() {
            return Err(crate::db::rollback());
        }
        Ok(())
    })).await?;
    Ok(pair)
}

/// Exchanges a refresh token of one of `kinds` for the next pair of its family. Errors:
/// `invalid_token` / `token_expired` (401) for a bad token, `refresh_token_reused` (401, and
/// the family is revoked) for a token used before, `refresh_token_revoked` (401) after logout.
pub async fn rotate(
    db: &Db,
    tokens: &TokenService,
    refresh_token: &str,
    kinds: &[&str],
) -> Result<TokenPair, AppError> {
    let claims = kinds
        .iter()
        .map(|k| tokens.verify(refresh_token, k, "refresh"))
        .find(Result::is_ok)
        .unwrap_or_else(|| {
            tokens.verify(
                refresh_token,
                kinds.first().copied().unwrap_or(""),
                "refresh",
            )
        })?;
    let (Some(jti), Some(family)) = (claims.jti.as_deref(), claims.fam.as_deref()) else {
        return Err(unauthenticated(
            "invalid_token",
            "refresh token without an id; log in again",
        ));
    };
    match issue_in_family(
        db,
        tokens,
        &claims.sub,
        &claims.kind,
        claims.role.as_deref(),
        family,
        Some(jti),
    )
    .await
    {
        Err(e) if crate::db::is_rollback(&e) => Err(reused_or_revoked(db, jti, family).await?),
        other => other,
    }
}

/// Why a refresh token could not be used, revoking its family when it was used before.
async fn reused_or_revoked(db: &Db, jti: &str, family: &str) -> Result<AppError, AppError> {
    use sqlx::Row;
    let d = db.dialect;
    let row = sqlx::query(sql!(
        d,
        "SELECT used_at, revoked_at FROM refresh_tokens WHERE jti = ?"
    ))
    .bind(jti)
    .fetch_optional(db.writer())
    .await?;
    let Some(row) = row else {
        return Ok(unauthenticated(
            "invalid_token",
            "unknown refresh token; log in again",
        ));
    };
    let (used, revoked): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
    if revoked.is_some() {
        return Ok(unauthenticated(
            "refresh_token_revoked",
            "this session has ended; log in again",
        ));
    }
    if used.is_some() {
        revoke_family(db, family).await?;
        tracing::warn!(family, "refresh token reused: session family revoked");
        metrics::counter!("suanpan_refresh_token_reuse_total").increment(1);
        return Ok(unauthenticated(
            "refresh_token_reused",
            "this refresh token was already used; every session of it is revoked, log in again",
        ));
    }
    Ok(unauthenticated("token_expired", "refresh token expired"))
}

async fn revoke_family(db: &Db, family: &str) -> Result<u64, AppError> {
    let d = db.dialect;
    Ok(sqlx::query(sql!(
        d,
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL"
    ))
    .bind(crate::time::now_ms())
    .bind(family)
    .execute(db.writer())
    .await?
    .rows_affected())
}

/// Logout: revokes the family of `refresh_token` (every refresh token issued from the same
/// login). Idempotent. Errors: `invalid_token` (401) for a token that does not verify.
pub async fn revoke(
    db: &Db,
    tokens: &TokenService,
    refresh_token: &str,
    kinds: &[&str],
) -> Result<(), AppError> {
    let claims = kinds
        .iter()
        .map(|k| tokens.verify(refresh_token, k, "refresh"))
        .find(Result::is_ok)
        .unwrap_or_else(|| {
            tokens.verify(
                refresh_token,
                kinds.first().copied().unwrap_or(""),
                "refresh",
            )
        })?;
    let family = claims
        .fam
        .ok_or_else(|| unauthenticated("invalid_token", "refresh token without an id"))?;
    revoke_family(db, &family).await?;
    Ok(())
}

/// Deletes rows of refresh tokens that expired before `cutoff_ms`; returns how many.
pub async fn purge_expired(db: &Db, cutoff_ms: i64) -> Result<u64, sqlx::Error> {
    let d = db.dialect;
    Ok(
        sqlx::query(sql!(d, "DELETE FROM refresh_tokens WHERE expires_at < ?"))
            .bind(cutoff_ms)
            .execute(db.writer())
            .await?
            .rows_affected(),
    )
}
