//! The quantity ledger: one core for every scarce quantity in Suanpan — shop stock now; prepaid
//! balances, points and ticket quotas later. A quantity never goes below zero, under any
//! concurrency, on any of the three databases.
//!
//! Model (the rules are plain functions on [`Balance`]; the SQL mirrors them with guarded
//! `UPDATE … WHERE` statements and a `CHECK` constraint as the last line of defence):
//!
//! - An **account** (`VARCHAR(100)`, e.g. `product:42`) has `on_hand` and `reserved`;
//!   `available = on_hand − reserved`, and `0 ≤ reserved ≤ on_hand` always holds.
//! - A **reservation** holds `quantity` of an account for a reference (e.g. `order:7`). It is
//!   settled exactly once: **committed** (the quantity leaves: `on_hand −= q, reserved −= q`) or
//!   **released** (`reserved −= q`). Settling an already-settled reservation changes nothing and
//!   reports [`Settled::Already`].
//! - The **journal** is append-only: every movement writes a row with its `on_hand_delta` and
//!   `reserved_delta`, so for each account `Σ on_hand_delta = on_hand` and
//!   `Σ reserved_delta = reserved` ([`verify_account`]).
//!
//! All functions take a connection inside the caller's transaction, so a movement commits or
//! rolls back together with the business change that caused it (an order, a cancellation).

use serde::Serialize;
use sqlx::Row;

use crate::db::{Batch, Conn, Dialect};
use crate::error::{AppError, ErrorKind};
use crate::sql;

/// An account's quantities. `available()` is what can still be reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Physically present (or credited) quantity.
    pub on_hand: i64,
    /// Held by reservations not yet settled.
    pub reserved: i64,
}

/// One change to a balance; the journal's `kind` column names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Movement {
    /// `on_hand += delta` (receipt when positive, write-off when negative). Journal kind `adjust`.
    Adjust(i64),
    /// `reserved += q`, needs `available ≥ q`. Kind `reserve`.
    Reserve(i64),
    /// `on_hand −= q, reserved −= q`. Kind `commit`.
    Commit(i64),
    /// `reserved −= q`. Kind `release`.
    Release(i64),
}

impl Movement {
    /// The journal kind.
    pub fn kind(self) -> &'static str {
        match self {
            Movement::Adjust(_) => "adjust",
            Movement::Reserve(_) => "reserve",
            Movement::Commit(_) => "commit",
            Movement::Release(_) => "release",
        }
    }
    /// `(on_hand_delta, reserved_delta)`.
    pub fn deltas(self) -> (i64, i64) {
        match self {
            Movement::Adjust(d) => (d, 0),
            Movement::Reserve(q) => (0, q),
            Movement::Commit(q) => (-q, -q),
            Movement::Release(q) => (0, -q),
        }
    }
}

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A reservation quantity must be positive; an adjustment non-zero.
    #[error("quantity must be positive")]
    InvalidQuantity,
    /// Not enough available quantity.
    #[error("insufficient quantity on {account}: {available} available, {requested} requested")]
    Insufficient {
        /// The account.
        account: String,
        /// What was available.
        available: i64,
        /// What was asked for.
        requested: i64,
    },
    /// An adjustment would take `on_hand` below `reserved` or below zero.
    #[error("adjustment would leave {account} below its reserved quantity")]
    BelowReserved {
        /// The account.
        account: String,
    },
    /// No such account.
    #[error("unknown ledger account {0}")]
    UnknownAccount(String),
    /// No such reservation.
    #[error("unknown reservation {0}")]
    UnknownReservation(i64),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<LedgerError> for AppError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InvalidQuantity => AppError::invalid("invalid_quantity", e.to_string()),
            LedgerError::Insufficient { .. } => {
                AppError::conflict("insufficient_stock", e.to_string())
            }
            LedgerError::BelowReserved { .. } => {
                AppError::conflict("stock_below_reserved", e.to_string())
            }
            LedgerError::UnknownAccount(_) | LedgerError::UnknownReservation(_) => {
                AppError::new(ErrorKind::NotFound, "not_found", e.to_string())
            }
            LedgerError::Db(e) => crate::db::tx_error(e),
        }
    }
}

impl Balance {
    /// `on_hand − reserved`.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The balance after `m`, or why `m` is not allowed. This is the rule the SQL guards enforce.
    pub fn apply(self, account: &str, m: Movement) -> Result<Balance, LedgerError> {
        match m {
            Movement::Adjust(0) => Err(LedgerError::InvalidQuantity),
            Movement::Reserve(q) | Movement::Commit(q) | Movement::Release(q) if q <= 0 => {
                Err(LedgerError::InvalidQuantity)
            }
            Movement::Reserve(q) if self.available() < q => Err(LedgerError::Insufficient {
                account: account.to_string(),
                available: self.available(),
                requested: q,
            }),
            Movement::Adjust(d) if self.on_hand + d < self.reserved => {
                Err(LedgerError::BelowReserved {
                    account: account.to_string(),
                })
            }
            Movement::Commit(q) | Movement::Release(q) if self.reserved < q => {
                Err(LedgerError::UnknownAccount(account.to_string()))
            }
            m => {
                let (dh, dr) = m.deltas();
                Ok(Balance {
                    on_hand: self.on_hand + dh,
                    reserved: self.reserved + dr,
                })
            }
        }
    }
}

/// How a settle call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// This call settled it.
    Now,
    /// It had been settled before; nothing changed.
    Already,
}

async fn journal(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
    m: Movement,
    reservation: Option<i64>,
    reference: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (dh, dr) = m.deltas();
    sqlx::query(sql!(
        d,
        "INSERT INTO ledger_journal (account, kind, on_hand_delta, reserved_delta, reservation_id, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(account)
    .bind(m.kind())
    .bind(dh)
    .bind(dr)
    .bind(reservation)
    .bind(reference)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates an account with `on_hand` (journaled as an `adjust` when non-zero).
pub async fn open_account(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
    on_hand: i64,
    reference: &str,
) -> Result<(), LedgerError> {
    if on_hand < 0 {
        return Err(LedgerError::InvalidQuantity);
    }
    let now = crate::time::now_ms();
    sqlx::query(sql!(d, "INSERT INTO ledger_balances (account, on_hand, reserved, created_at, updated_at) VALUES (?, ?, 0, ?, ?)"))
        .bind(account)
        .bind(on_hand)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if on_hand > 0 {
        journal(
            conn,
            d,
            account,
            Movement::Adjust(on_hand),
            None,
            reference,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The current balance of `account`.
pub async fn balance(conn: &mut Conn, d: Dialect, account: &str) -> Result<Balance, LedgerError> {
    let row = sqlx::query(sql!(
        d,
        "SELECT on_hand, reserved FROM ledger_balances WHERE account = ?"
    ))
    .bind(account)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))?;
    Ok(Balance {
        on_hand: row.try_get(0)?,
        reserved: row.try_get(1)?,
    })
}

/// Adds a reservation of `quantity` of `account` for `reference` to `b` (guarded update,
/// reservation row, journal row); returns the index of the guard, which fails when not enough
/// is available. Callers run the batch in their transaction and turn a failed guard into
/// [`insufficient`]. Quantities must already be positive.
pub fn push_reserve(
    b: &mut Batch,
    d: Dialect,
    account: &str,
    quantity: i64,
    reference: &str,
    now: i64,
) -> usize {
    let g = b.guard(
        sql!(d, "UPDATE ledger_balances SET reserved = reserved + ?, updated_at = ? WHERE account = ? AND on_hand - reserved >= ?"),
        vec![quantity.into(), now.into(), account.into(), quantity.into()],
    );
    b.push(
        sql!(d, "INSERT INTO ledger_reservations (account, quantity, status, ref, created_at) VALUES (?, ?, 'held', ?, ?)"),
        vec![account.into(), quantity.into(), reference.into(), now.into()],
    );
    b.push(
        sql!(
            d,
            "INSERT INTO ledger_journal (account, kind, on_hand_delta, reserved_delta, reservation_id, ref, created_at) VALUES (?, 'reserve', 0, ?, {{LAST_ID}}, ?, ?)"
        ),
        vec![account.into(), quantity.into(), reference.into(), now.into()],
    );
    g
}

/// The error for a reservation of `requested` that did not fit (reads the current balance).
pub async fn insufficient(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
    requested: i64,
) -> LedgerError {
    match balance(conn, d, account).await {
        Ok(b) => LedgerError::Insufficient {
            account: account.to_string(),
            available: b.available(),
            requested,
        },
        Err(e) => e,
    }
}

/// Reserves `quantity` of `account` for `reference`. Fails with [`LedgerError::Insufficient`]
/// (changing nothing) when not enough is available.
pub async fn reserve(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
    quantity: i64,
    reference: &str,
) -> Result<(), LedgerError> {
    if quantity <= 0 {
        return Err(LedgerError::InvalidQuantity);
    }
    let mut b = Batch::new();
    push_reserve(
        &mut b,
        d,
        account,
        quantity,
        reference,
        crate::time::now_ms(),
    );
    if b.execute(conn, d).await?.failed_guard.is_some() {
        return Err(insufficient(conn, d, account, quantity).await);
    }
    Ok(())
}

/// Commits (`commit = true`) or releases one reservation, exactly once.
pub async fn settle(
    conn: &mut Conn,
    d: Dialect,
    reservation_id: i64,
    commit: bool,
) -> Result<Settled, LedgerError> {
    let row = sqlx::query(sql!(
        d,
        "SELECT account, quantity, ref FROM ledger_reservations WHERE id = ?"
    ))
    .bind(reservation_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(LedgerError::UnknownReservation(reservation_id))?;
    let (account, quantity, reference): (String, i64, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let now = crate::time::now_ms();
    let status = if commit { "committed" } else { "released" };
    let r = sqlx::query(sql!(
        d,
        "UPDATE ledger_reservations SET status = ?, settled_at = ? WHERE id = ? AND status = 'held'"
    ))
    .bind(status)
    .bind(now)
    .bind(reservation_id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(Settled::Already);
    }
    let (m, r) = if commit {
        let q = sql!(
            d,
            "UPDATE ledger_balances SET on_hand = on_hand - ?, reserved = reserved - ?, updated_at = ? WHERE account = ? AND reserved >= ?"
        );
        (
            Movement::Commit(quantity),
            sqlx::query(q).bind(quantity).bind(quantity),
        )
    } else {
        let q = sql!(
            d,
            "UPDATE ledger_balances SET reserved = reserved - ?, updated_at = ? WHERE account = ? AND reserved >= ?"
        );
        (Movement::Release(quantity), sqlx::query(q).bind(quantity))
    };
    let r = r
        .bind(now)
        .bind(&account)
        .bind(quantity)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() != 1 {
        return Err(LedgerError::UnknownAccount(account));
    }
    journal(conn, d, &account, m, Some(reservation_id), &reference, now).await?;
    Ok(Settled::Now)
}

/// Settles every held reservation of `reference` (in account order, so concurrent settlers lock
/// rows in the same order). Returns how many this call settled (0 if all were settled before).
pub async fn settle_ref(
    conn: &mut Conn,
    d: Dialect,
    reference: &str,
    commit: bool,
) -> Result<u32, LedgerError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id FROM ledger_reservations WHERE ref = ? AND status = 'held' ORDER BY account, id"
    ))
    .bind(reference)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for row in rows {
        if settle(conn, d, row.try_get(0)?, commit).await? == Settled::Now {
            n += 1;
        }
    }
    Ok(n)
}

/// Changes `on_hand` by `delta` (receipt or write-off); refuses to go below `reserved`.
pub async fn adjust(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
    delta: i64,
    reference: &str,
) -> Result<Balance, LedgerError> {
    if delta == 0 {
        return balance(conn, d, account).await;
    }
    let now = crate::time::now_ms();
    let r = sqlx::query(sql!(d, "UPDATE ledger_balances SET on_hand = on_hand + ?, updated_at = ? WHERE account = ? AND on_hand + ? >= reserved"))
        .bind(delta)
        .bind(now)
        .bind(account)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() != 1 {
        balance(conn, d, account).await?;
        return Err(LedgerError::BelowReserved {
            account: account.to_string(),
        });
    }
    journal(
        conn,
        d,
        account,
        Movement::Adjust(delta),
        None,
        reference,
        now,
    )
    .await?;
    balance(conn, d, account).await
}

/// Checks the journal invariant for `account`: returns the balance and the journal sums
/// `(Σ on_hand_delta, Σ reserved_delta)`, which must be equal to it.
pub async fn verify_account(
    conn: &mut Conn,
    d: Dialect,
    account: &str,
) -> Result<(Balance, Balance), LedgerError> {
    let b = balance(conn, d, account).await?;
    let row = sqlx::query(sql!(
        d,
        "SELECT CAST(COALESCE(SUM(on_hand_delta), 0) AS {{INT}}), CAST(COALESCE(SUM(reserved_delta), 0) AS {{INT}}) FROM ledger_journal WHERE account = ?"
    ))
    .bind(account)
    .fetch_one(conn)
    .await?;
    Ok((
        b,
        Balance {
            on_hand: row.try_get(0)?,
            reserved: row.try_get(1)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let b = Balance {
            on_hand: 10,
            reserved: 0,
        };
        let b = b.apply("a", Movement::Reserve(7)).unwrap();
        assert_eq!(b.available(), 3);
        assert!(matches!(
            b.apply("a", Movement::Reserve(4)),
            Err(LedgerError::Insufficient { available: 3, .. })
        ));
        assert!(matches!(
            b.apply("a", Movement::Reserve(0)),
            Err(LedgerError::InvalidQuantity)
        ));
        assert!(matches!(
            b.apply("a", Movement::Adjust(-4)),
            Err(LedgerError::BelowReserved { .. })
        ));
        let b = b.apply("a", Movement::Commit(5)).unwrap();
        assert_eq!(
            b,
            Balance {
                on_hand: 5,
                reserved: 2
            }
        );
        let b = b.apply("a", Movement::Release(2)).unwrap();
        assert_eq!(
            b,
            Balance {
                on_hand: 5,
                reserved: 0
            }
        );
    }

    #[test]
    fn deltas_sum_to_the_balance() {
        let moves = [
            Movement::Adjust(100),
            Movement::Reserve(30),
            Movement::Commit(20),
            Movement::Release(10),
            Movement::Adjust(-5),
        ];
        let mut b = Balance::default();
        let (mut h, mut r) = (0, 0);
        for m in moves {
            b = b.apply("a", m).unwrap();
            let (dh, dr) = m.deltas();
            h += dh;
            r += dr;
        }
        assert_eq!(
            b,
            Balance {
                on_hand: h,
                reserved: r
            }
        );
        assert_eq!(
            b,
            Balance {
                on_hand: 75,
                reserved: 0
            }
        );
    }
}
