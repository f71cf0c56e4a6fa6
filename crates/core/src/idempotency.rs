//! Idempotency keys for client-retried writes (`Idempotency-Key` header, as in the IETF draft
//! `draft-ietf-httpapi-idempotency-key-header` and Stripe's API).
//!
//! Protocol, per `(scope, key)` where the scope names the operation and the caller
//! (e.g. `orders:user:42`):
//! 1. Inside the write's own transaction, [`claim`] inserts the key with the request's hash.
//!    A concurrent request with the same key blocks on the unique index until the first commits
//!    (PostgreSQL, MySQL) or is serialised behind it (SQLite), then finds the key taken.
//! 2. The write stores its response with [`complete`] in the same transaction, so a key exists
//!    exactly when its response does. A failed write rolls back the key too: a retry runs again.
//! 3. A caller that finds the key taken rolls back and calls [`lookup`]: the same body replays
//!    the stored response; a different body is `idempotency_key_reused` (422).
//!
//! Keys are kept 24 hours ([`purge_older_than`]).

use aws_lc_rs::digest;
use sqlx::Row;

use crate::db::{Conn, Dialect};
use crate::error::{AppError, ErrorKind};
use crate::sql;

/// How long keys are kept, in milliseconds.
pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

/// Checks a client-supplied key: 1–255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), AppError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(AppError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Hex SHA-256 over the parts (each length-prefixed, so part boundaries matter).
pub fn request_hash(parts: &[&[u8]]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    hex::encode(ctx.finish().as_ref())
}

/// Result of [`claim`].
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key; do the work and [`complete`] it.
    Claimed,
    /// Another request has (or had) the key; roll back and [`lookup`].
    Taken,
}

/// Adds the claim of a key to `b` as a guard: the guard fails when the key is taken.
pub fn push_claim(
    b: &mut crate::db::Batch,
    d: Dialect,
    scope: &str,
    key: &str,
    hash: &str,
) -> usize {
    let q = sql!(
        d,
        "{{INSERT_IGNORE}} INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_body, created_at) VALUES (?, ?, ?, 0, '', ?){{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}"
    );
    b.guard(
        q,
        vec![
            scope.into(),
            key.into(),
            hash.into(),
            crate::time::now_ms().into(),
        ],
    )
}

/// Adds the completion of a claimed key to `b`.
pub fn push_complete(
    b: &mut crate::db::Batch,
    d: Dialect,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) {
    b.push(
        sql!(d, "UPDATE idempotency_keys SET status_code = ?, response_body = ? WHERE scope = ? AND idem_key = ?"),
        vec![i64::from(status).into(), body.into(), scope.into(), key.into()],
    );
}

/// Inserts the key inside the caller's transaction.
pub async fn claim(
    conn: &mut Conn,
    d: Dialect,
    scope: &str,
    key: &str,
    hash: &str,
) -> Result<Claim, sqlx::Error> {
    let mut b = crate::db::Batch::new();
    push_claim(&mut b, d, scope, key, hash);
    Ok(if b.execute(conn, d).await?.failed_guard.is_none() {
        Claim::Claimed
    } else {
        Claim::Taken
    })
}

/// Stores the response for a claimed key (same transaction as the write).
pub async fn complete(
    conn: &mut Conn,
    d: Dialect,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql!(d, "UPDATE idempotency_keys SET status_code = ?, response_body = ? WHERE scope = ? AND idem_key = ?"))
        .bind(i64::from(status))
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored response to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status of the first response.
    pub status: u16,
    /// Its JSON body.
    pub body: String,
}

/// Looks a key up outside any transaction: `Ok(Some)` to replay, `Ok(None)` if absent,
/// `idempotency_key_reused` (422) if the body differs, `idempotency_key_in_flight` (409) if the
/// first request has not finished.
pub async fn lookup(
    pool: &sqlx::AnyPool,
    d: Dialect,
    scope: &str,
    key: &str,
    hash: &str,
) -> Result<Option<Stored>, AppError> {
    let row = sqlx::query(sql!(d, "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = ? AND idem_key = ?"))
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_hash: String = row.try_get(0)?;
    if stored_hash != hash {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    let status: i64 = row.try_get(1)?;
    if status == 0 {
        return Err(AppError::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed",
        ));
    }
    let Some(status) = u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
    else {
        return Err(AppError::internal(format!(
            "idempotency key {scope}/{key} has a corrupt stored status {status}"
        )));
    };
    Ok(Some(Stored {
        status,
        body: crate::db::text(&row, 2)?,
    }))
}

/// Deletes keys created before `cutoff_ms`; returns how many.
pub async fn purge_older_than(
    pool: &sqlx::AnyPool,
    d: Dialect,
    cutoff_ms: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query(sql!(d, "DELETE FROM idempotency_keys WHERE created_at < ?"))
            .bind(cutoff_ms)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_parts_and_keys_are_checked() {
        assert_ne!(request_hash(&[b"ab", b"c"]), request_hash(&[b"a", b"bc"]));
        assert_eq!(request_hash(&[b"x"]).len(), 64);
        assert!(validate_key("order-7f3a").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }
}
