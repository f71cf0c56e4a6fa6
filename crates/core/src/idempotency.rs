//! Idempotency keys for client-retried writes (`Idempotency-Key` header, as in the IETF draft
//! `draft-ietf-httpapi-idempotency-key-header` and Stripe's API).
//!
//! Protocol, per [`Key`] (`scope` names the operation and the caller, e.g. `orders:user:42`):
//! 1. [`begin`]: a key completed before replays its stored response without any work.
//! 2. Inside the write's own unit of work, [`Key::push_claim`] inserts the key with the request's
//!    hash as a guard. A concurrent request with the same key blocks on the unique index until
//!    the first commits (PostgreSQL, MySQL) or is serialised behind it (SQLite), then finds the
//!    key taken: its guard fails and it rolls back.
//! 3. The write stores its response with [`Key::push_complete`] in the same unit, so a key exists
//!    exactly when its response does. A failed write rolls back the key too: a retry runs again.
//! 4. A request whose claim failed calls [`replay`]: the same body replays the stored response; a
//!    different body is `idempotency_key_reused` (422).
//!
//! Keys are kept 24 hours ([`purge_older_than`]).

use aws_lc_rs::digest;
use sqlx::Row;

use crate::db::{Batch, Db, Dialect};
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

/// An `Idempotency-Key` in force for one request: the operation and caller (`scope`, e.g.
/// `orders:user:42`), the client's key, and the hash of the request it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Operation and caller.
    pub scope: String,
    /// The client's key (checked by [`validate_key`]).
    pub key: String,
    /// [`request_hash`] of the request (scope and body).
    pub hash: String,
}

impl Key {
    /// The key of an optional `Idempotency-Key` header for `scope`, hashing `body` (the typed
    /// request serialised, so JSON formatting does not matter). Errors:
    /// `invalid_idempotency_key` (400).
    pub fn from_header(
        headers: &http::HeaderMap,
        scope: String,
        body: &[u8],
    ) -> Result<Option<Key>, AppError> {
        let Some(v) = headers.get("idempotency-key") else {
            return Ok(None);
        };
        let key = v.to_str().map_err(|_| {
            AppError::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
        })?;
        validate_key(key)?;
        Ok(Some(Key {
            hash: request_hash(&[scope.as_bytes(), body]),
            scope,
            key: key.to_string(),
        }))
    }

    /// Adds the claim of this key to `b` as a guard: the guard fails when the key is taken
    /// (then roll back and [`replay`]). The row has no response yet (status 0) until
    /// [`Key::push_complete`].
    pub fn push_claim(&self, b: &mut Batch, d: Dialect) -> usize {
        self.push_claim_answered(b, d, 0, "")
    }

    /// Adds the claim of this key together with its stored response to `b`, as one guarded
    /// insert: for a unit that knows its answer before it writes (the guard fails when the key
    /// is taken: roll back and [`replay`]). Same row as [`Key::push_claim`] followed by
    /// [`Key::push_complete`], one statement instead of two.
    pub fn push_claim_answered(&self, b: &mut Batch, d: Dialect, status: u16, body: &str) -> usize {
        let q = sql!(
            d,
            "{{INSERT_IGNORE}} INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_body, created_at) VALUES (?, ?, ?, ?, ?, ?){{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}"
        );
        b.guard(
            q,
            vec![
                self.scope.clone().into(),
                self.key.clone().into(),
                self.hash.clone().into(),
                i64::from(status).into(),
                body.into(),
                crate::time::now_ms().into(),
            ],
        )
    }

    /// Adds the stored response of a claimed key to `b` (same unit of work as the write).
    pub fn push_complete(&self, b: &mut Batch, d: Dialect, status: u16, body: &str) {
        b.push(
            sql!(d, "UPDATE idempotency_keys SET status_code = ?, response_body = ? WHERE scope = ? AND idem_key = ?"),
            vec![i64::from(status).into(), body.into(), self.scope.clone().into(), self.key.clone().into()],
        );
    }
}

/// A stored response to replay; kept as text so that a replay is byte-identical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// HTTP status of the first response.
    pub status: u16,
    /// Its JSON body.
    pub body: String,
}

impl axum::response::IntoResponse for Stored {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

/// Step 1 of the protocol, before any work: the stored response when `key` was completed
/// before (`Ok(Some)`), `Ok(None)` to go on. Errors: `idempotency_key_reused` (422) for another
/// body, `idempotency_key_in_flight` (409) while the first request runs.
pub async fn begin(db: &Db, key: &Key) -> Result<Option<Stored>, AppError> {
    lookup(db, key).await
}

/// Step 3, after the claim's guard failed and the work was rolled back: the first request's
/// response. Errors as [`begin`]; a key that vanished (purged) is `idempotency_key_in_flight`.
pub async fn replay(db: &Db, key: &Key) -> Result<Stored, AppError> {
    lookup(db, key).await?.ok_or_else(|| {
        AppError::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed",
        )
    })
}

/// The stored body of `key`'s first request whatever its request hash (a system that answers
/// a reused key with the first answer's data, like MR's `SESSION_DUPLICATE`); `None` when the
/// key is unknown or not completed.
pub async fn stored_body(db: &Db, key: &Key) -> Result<Option<String>, AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(d, "SELECT response_body FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND status_code > 0"))
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.map(|r| crate::db::text(&r, 0)).transpose()?)
}

async fn lookup(db: &Db, key: &Key) -> Result<Option<Stored>, AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(d, "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = ? AND idem_key = ?"))
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_optional(db.reader())
        .await?;
    let found = match row {
        Some(r) => Some((
            crate::db::text(&r, 0)?,
            r.try_get(1)?,
            crate::db::text(&r, 2)?,
        )),
        None => None,
    };
    interpret(key, found)
}

/// What a key's stored row means for a new request with `key`, the row read as
/// `(request_hash, status_code, response_body)` (`None`: no row) — for systems that read it
/// together with their own data in one query. `Ok(Some)`: replay it; `Ok(None)`: go on.
/// Errors: `idempotency_key_reused` (422) for another body, `idempotency_key_in_flight` (409)
/// while the first request runs, `internal` for a corrupt status.
pub fn interpret(
    key: &Key,
    row: Option<(String, i64, String)>,
) -> Result<Option<Stored>, AppError> {
    let Some((stored_hash, status, body)) = row else {
        return Ok(None);
    };
    if stored_hash != key.hash {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    if status == 0 {
        return Err(AppError::conflict(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed",
        ));
    }
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            AppError::internal(format!("stored idempotent response has status {status}"))
        })?;
    Ok(Some(Stored { status, body }))
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
