//! Operator access tokens revoked by logout (`mr_revoked_tokens`), by SHA-256 of the token,
//! kept until the token would have expired anyway.

use suanpan_core::db::Db;
use suanpan_core::{AppError, sql};

/// Hex SHA-256 of a bearer token (what is stored; the token itself never is).
pub fn token_hash(token: &str) -> String {
    suanpan_core::idempotency::request_hash(&[token.as_bytes()])
}

/// Revokes the token with hash `hash` until `expires_at` (ms); revoking twice is a no-op. Drops
/// revocations of tokens that have expired since.
pub async fn revoke(db: &Db, hash: &str, expires_at: i64, now: i64) -> Result<(), AppError> {
    let d = db.dialect;
    sqlx::query(sql!(
        d,
        "DELETE FROM mr_revoked_tokens WHERE expires_at < ?"
    ))
    .bind(now)
    .execute(db.writer())
    .await?;
    sqlx::query(sql!(d, "{{INSERT_IGNORE}} INTO mr_revoked_tokens (token_hash, expires_at) VALUES (?, ?){{ON_CONFLICT_IGNORE}}"))
        .bind(hash)
        .bind(expires_at)
        .execute(db.writer())
        .await?;
    Ok(())
}
