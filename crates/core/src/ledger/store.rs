//! The ledger's SQL: one write path ([`push`] into a caller's [`Batch`]), the explanation of a
//! failed guard ([`resolve`]), and reads.

use sqlx::Row;

use super::model::{op_id, validate};
use super::{Account, Applied, Kind, LedgerError, Model, Op, Status, Transfer};
use crate::db::{Arg, Batch, Conn, Dialect};
use crate::sql;

/// The unit of stock quantities.
pub const STOCK_UNIT: &str = "pcs";
/// The clearing account received stock comes from and written-off stock goes to. It may go
/// below zero: `−balance` is all stock that ever entered, net.
pub const STOCK_RECEIPTS: &str = "stock:receipts";

/// The account that receives what is sold from the stock account `account`
/// (`product:42` → `product:42:sold`): the credit side of order holds.
pub fn sold_account(account: &str) -> String {
    format!("{account}:sold")
}

/// The guards an operation pushed into a batch. When [`BatchResult::failed_guard`] is one of
/// them, roll back (the batch's other statements may have run) and call [`resolve`] for the
/// error.
///
/// [`BatchResult::failed_guard`]: crate::db::BatchResult::failed_guard
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Every guard of the operation, in batch order.
    pub guards: Vec<usize>,
    /// For transfers and holds: the guard on the debit account's funds, which fails with
    /// [`LedgerError::Insufficient`] ([`insufficient`] reads the balance for the error).
    pub funds: Option<usize>,
}

impl Pushed {
    /// True when `failed` is one of this operation's guards.
    pub fn owns(&self, failed: usize) -> bool {
        self.guards.contains(&failed)
    }
}

const INSERT_ACCOUNT: &str = "{{INSERT_IGNORE}} INTO ledger_accounts (account, unit, non_negative, balance, pending_out, pending_in, created_at, updated_at) VALUES (?, ?, ?, 0, 0, 0, ?, ?){{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}";
const INSERT_TRANSFER: &str = "{{INSERT_IGNORE}} INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, status, expires_at, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, CASE WHEN ? = 'pending' THEN 'pending' END, ?, ?, ?){{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}";
const DEBIT_POSTED: &str = "UPDATE ledger_accounts SET balance = balance - ?, updated_at = ? WHERE account = ? AND unit = ? AND (non_negative = 0 OR balance - pending_out >= ?)";
const DEBIT_PENDING: &str = "UPDATE ledger_accounts SET pending_out = pending_out + ?, updated_at = ? WHERE account = ? AND unit = ? AND (non_negative = 0 OR balance - pending_out >= ?)";
const CREDIT_POSTED: &str = "UPDATE ledger_accounts SET balance = balance + ?, updated_at = ? WHERE account = ? AND unit = ?";
const CREDIT_PENDING: &str = "UPDATE ledger_accounts SET pending_in = pending_in + ?, updated_at = ? WHERE account = ? AND unit = ?";

/// Adds the statements of `op` to `b` (which the caller runs in its transaction with its own
/// writes) and returns their guards. `now` (Unix ms) stamps the rows. Errors: the static checks
/// of [`Model::apply`] only ([`LedgerError::Invalid`], [`LedgerError::SameAccount`]); every
/// other refusal is a failed guard, explained by [`resolve`].
///
/// Statements: an insert of the transfer row keyed by its id (guard: the id is new), then
/// guarded updates of the two accounts in key order (the same lock order everywhere). A
/// closer inserts its row from the hold's (`INSERT … SELECT`; the unique `pending_id` admits one
/// closer per hold), moves the hold from `pending` (guard; capture: amount ≤ the hold's;
/// expiry: due), then releases the hold on both accounts and posts the captured amount.
pub fn push(b: &mut Batch, d: Dialect, op: &Op, now: i64) -> Result<Pushed, LedgerError> {
    validate(op)?;
    Ok(match op {
        Op::Open {
            account,
            unit,
            non_negative,
        } => {
            let args = vec![
                account.as_str().into(),
                unit.as_str().into(),
                i64::from(*non_negative).into(),
                now.into(),
                now.into(),
            ];
            let g = b.guard(sql!(d, INSERT_ACCOUNT), args);
            Pushed {
                guards: vec![g],
                funds: None,
            }
        }
        Op::Transfer { .. } | Op::Hold { .. } => push_transfer(b, d, op, now),
        _ => push_close(b, d, op, now),
    })
}

fn push_transfer(b: &mut Batch, d: Dialect, op: &Op, now: i64) -> Pushed {
    let Some(t) = super::model::row_of(op, None) else {
        return Pushed {
            guards: vec![],
            funds: None,
        };
    };
    let pending = t.kind == Kind::Pending;
    let row = vec![
        t.id.as_str().into(),
        t.kind.as_str().into(),
        t.debit.as_str().into(),
        t.credit.as_str().into(),
        t.unit.as_str().into(),
        t.amount.into(),
        // Bound as the kind, never as NULL: PostgreSQL caches the parameter types.
        t.kind.as_str().into(),
        t.expires_at.into(),
        t.reference.as_str().into(),
        now.into(),
    ];
    let mut guards = vec![b.guard(sql!(d, INSERT_TRANSFER), row)];
    let debit = |b: &mut Batch| {
        let args = vec![
            t.amount.into(),
            now.into(),
            t.debit.as_str().into(),
            t.unit.as_str().into(),
            t.amount.into(),
        ];
        match pending {
            true => b.guard(sql!(d, DEBIT_PENDING), args),
            false => b.guard(sql!(d, DEBIT_POSTED), args),
        }
    };
    let credit = |b: &mut Batch| {
        let args = vec![
            t.amount.into(),
            now.into(),
            t.credit.as_str().into(),
            t.unit.as_str().into(),
        ];
        match pending {
            true => b.guard(sql!(d, CREDIT_PENDING), args),
            false => b.guard(sql!(d, CREDIT_POSTED), args),
        }
    };
    let funds = if t.debit < t.credit {
        let f = debit(b);
        guards.extend([f, credit(b)]);
        f
    } else {
        guards.push(credit(b));
        let f = debit(b);
        guards.push(f);
        f
    };
    Pushed {
        guards,
        funds: Some(funds),
    }
}

fn push_close(b: &mut Batch, d: Dialect, op: &Op, now: i64) -> Pushed {
    let (id, pending_id, amount, kind) = match op {
        Op::Capture {
            id,
            pending_id,
            amount,
        } => (id, pending_id, *amount, Kind::Capture),
        Op::Void { id, pending_id } => (id, pending_id, 0, Kind::Void),
        Op::Expire { id, pending_id, .. } => (id, pending_id, 0, Kind::Expire),
        _ => {
            return Pushed {
                guards: vec![],
                funds: None,
            };
        }
    };
    let p = pending_id.as_str();
    let insert = match kind {
        Kind::Capture => b.guard(
            sql!(d, "{{INSERT_IGNORE}} INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, pending_id, ref, created_at) SELECT ?, 'capture', debit_account, credit_account, unit, ?, id, ref, ? FROM ledger_transfers WHERE id = ? AND kind = 'pending'{{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}"),
            vec![id.as_str().into(), amount.into(), now.into(), p.into()],
        ),
        _ => b.guard(
            sql!(d, "{{INSERT_IGNORE}} INTO ledger_transfers (id, kind, debit_account, credit_account, unit, amount, pending_id, ref, created_at) SELECT ?, ?, debit_account, credit_account, unit, amount, id, ref, ? FROM ledger_transfers WHERE id = ? AND kind = 'pending'{{ON_CONFLICT_IGNORE}}{{RETURNING_ONE}}"),
            vec![id.as_str().into(), kind.as_str().into(), now.into(), p.into()],
        ),
    };
    let hold = match op {
        Op::Capture { .. } => b.guard(
            sql!(d, "UPDATE ledger_transfers SET status = 'posted', captured = ?, closed_at = ? WHERE id = ? AND kind = 'pending' AND status = 'pending' AND amount >= ?"),
            vec![amount.into(), now.into(), p.into(), amount.into()],
        ),
        Op::Expire { now: clock, .. } => b.guard(
            sql!(d, "UPDATE ledger_transfers SET status = 'expired', closed_at = ? WHERE id = ? AND kind = 'pending' AND status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?"),
            vec![now.into(), p.into(), (*clock).into()],
        ),
        _ => b.guard(
            sql!(d, "UPDATE ledger_transfers SET status = 'voided', closed_at = ? WHERE id = ? AND kind = 'pending' AND status = 'pending'"),
            vec![now.into(), p.into()],
        ),
    };
    let args = || -> Vec<Arg> { vec![amount.into(), p.into(), now.into(), p.into(), p.into()] };
    // On SQLite every statement of a batch runs even after a failed guard, so this one must not
    // break the CHECK constraint for an over-capture: it changes no row instead.
    let mut da = args();
    da.extend([amount.into(), p.into()]);
    let debit = b.guard(
        sql!(d, "UPDATE ledger_accounts SET balance = balance - ?, pending_out = pending_out - (SELECT amount FROM ledger_transfers WHERE id = ? AND kind = 'pending'), updated_at = ? WHERE account = (SELECT debit_account FROM ledger_transfers WHERE id = ? AND kind = 'pending') AND pending_out >= (SELECT amount FROM ledger_transfers WHERE id = ? AND kind = 'pending') AND (non_negative = 0 OR balance - pending_out - ? + (SELECT amount FROM ledger_transfers WHERE id = ? AND kind = 'pending') >= 0)"),
        da,
    );
    let ca = args();
    let credit = b.guard(
        sql!(d, "UPDATE ledger_accounts SET balance = balance + ?, pending_in = pending_in - (SELECT amount FROM ledger_transfers WHERE id = ? AND kind = 'pending'), updated_at = ? WHERE account = (SELECT credit_account FROM ledger_transfers WHERE id = ? AND kind = 'pending') AND pending_in >= (SELECT amount FROM ledger_transfers WHERE id = ? AND kind = 'pending')"),
        ca,
    );
    Pushed {
        guards: vec![insert, hold, debit, credit],
        funds: None,
    }
}

/// The outcome of `op` after one of its guards failed and the caller rolled back: loads the
/// rows `op` touches into a [`Model`] and applies the rules there. `Ok(Applied::Already)` for an
/// idempotent replay, the rule's error otherwise, [`LedgerError::Raced`] when the rows now allow
/// `op` (a concurrent change; retry).
pub async fn resolve(conn: &mut Conn, d: Dialect, op: &Op) -> Result<Applied, LedgerError> {
    validate(op)?;
    let mut m = Model::default();
    let mut keys: Vec<String> = Vec::new();
    match op {
        Op::Open { account, .. } => keys.push(account.clone()),
        Op::Transfer { debit, credit, .. } | Op::Hold { debit, credit, .. } => {
            keys.extend([debit.clone(), credit.clone()])
        }
        Op::Capture { pending_id, .. }
        | Op::Void { pending_id, .. }
        | Op::Expire { pending_id, .. } => {
            if let Some(h) = transfer(conn, d, pending_id).await? {
                keys.extend([h.debit.clone(), h.credit.clone()]);
                m.transfers.insert(h.id.clone(), h);
            }
        }
    }
    if !matches!(op, Op::Open { .. })
        && let Some(t) = transfer(conn, d, op_id(op)).await?
    {
        m.transfers.insert(t.id.clone(), t);
    }
    for k in keys {
        match account(conn, d, &k).await {
            Ok(a) => {
                m.accounts.insert(k, a);
            }
            Err(LedgerError::UnknownAccount(_)) => {}
            Err(e) => return Err(e),
        }
    }
    match m.apply(op)? {
        Applied::Already => Ok(Applied::Already),
        Applied::Now => Err(LedgerError::Raced),
    }
}

/// Applies one operation inside the caller's transaction, in a savepoint: the same [`push`]
/// path as a batch, rolled back to the savepoint and explained by [`resolve`] when a guard
/// fails. `now` stamps the rows (Unix ms).
pub async fn execute(
    conn: &mut Conn,
    d: Dialect,
    op: &Op,
    now: i64,
) -> Result<Applied, LedgerError> {
    let mut b = Batch::new();
    b.push("SAVEPOINT ledger_op", vec![]);
    push(&mut b, d, op, now)?;
    let failed = b.execute(&mut *conn, d).await?.failed_guard;
    if failed.is_some() {
        sqlx::query("ROLLBACK TO SAVEPOINT ledger_op")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT ledger_op")
        .execute(&mut *conn)
        .await?;
    match failed {
        None => Ok(Applied::Now),
        Some(_) => resolve(conn, d, op).await,
    }
}

fn account_of(r: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        account: r.try_get(0)?,
        unit: r.try_get(1)?,
        non_negative: r.try_get::<i64, _>(2)? != 0,
        balance: r.try_get(3)?,
        pending_out: r.try_get(4)?,
        pending_in: r.try_get(5)?,
    })
}

/// The account `key`, or [`LedgerError::UnknownAccount`].
pub async fn account(conn: &mut Conn, d: Dialect, key: &str) -> Result<Account, LedgerError> {
    let row = sqlx::query(sql!(
        d,
        "SELECT account, unit, non_negative, balance, pending_out, pending_in FROM ledger_accounts WHERE account = ?"
    ))
    .bind(key)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| LedgerError::UnknownAccount(key.to_string()))?;
    Ok(account_of(&row)?)
}

/// Every account, in key order (for `verify`, reports and tests).
pub async fn accounts(conn: &mut Conn, d: Dialect) -> Result<Vec<Account>, LedgerError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT account, unit, non_negative, balance, pending_out, pending_in FROM ledger_accounts ORDER BY account"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(account_of).collect::<Result<_, _>>()?)
}

fn transfer_of(r: &sqlx::any::AnyRow) -> Result<Transfer, sqlx::Error> {
    let kind: String = r.try_get(1)?;
    let status: Option<String> = r.try_get(7)?;
    let bad = |s: &str| sqlx::Error::Decode(format!("unknown ledger value {s:?}").into());
    Ok(Transfer {
        id: r.try_get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| bad(&kind))?,
        debit: r.try_get(2)?,
        credit: r.try_get(3)?,
        unit: r.try_get(4)?,
        amount: r.try_get(5)?,
        pending_id: r.try_get(6)?,
        status: match status {
            Some(s) => Some(Status::parse(&s).ok_or_else(|| bad(&s))?),
            None => None,
        },
        captured: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        reference: r.try_get(10)?,
    })
}

/// The transfer `id`, if any.
pub async fn transfer(
    conn: &mut Conn,
    d: Dialect,
    id: &str,
) -> Result<Option<Transfer>, LedgerError> {
    let row = sqlx::query(sql!(
        d,
        "SELECT id, kind, debit_account, credit_account, unit, amount, pending_id, status, captured, expires_at, ref FROM ledger_transfers WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(transfer_of).transpose()?)
}

/// Every transfer of a business reference, holds first by debit account (the lock order), then
/// the rest by id.
pub async fn transfers_of_ref(
    conn: &mut Conn,
    d: Dialect,
    reference: &str,
) -> Result<Vec<Transfer>, LedgerError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id, kind, debit_account, credit_account, unit, amount, pending_id, status, captured, expires_at, ref FROM ledger_transfers WHERE ref = ? ORDER BY debit_account, id"
    ))
    .bind(reference)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(transfer_of).collect::<Result<_, _>>()?)
}

/// The error for a transfer or hold of `requested` from `key` whose funds guard failed: reads
/// the account ([`LedgerError::Insufficient`] with its unit and available amount, or
/// [`LedgerError::UnknownAccount`]).
pub async fn insufficient(conn: &mut Conn, d: Dialect, key: &str, requested: i64) -> LedgerError {
    match account(conn, d, key).await {
        Ok(a) => LedgerError::Insufficient {
            available: a.available(),
            account: a.account,
            unit: a.unit,
            requested,
        },
        Err(e) => e,
    }
}

/// Closes every open hold of `reference` in lock order: captures its whole amount
/// (`capture = true`, ids `<hold>:capture`) or voids it (`<hold>:void`). Returns how many this
/// call closed; holds closed meanwhile by someone else are skipped.
pub async fn close_ref(
    conn: &mut Conn,
    d: Dialect,
    reference: &str,
    capture: bool,
    now: i64,
) -> Result<u32, LedgerError> {
    let mut n = 0;
    for h in transfers_of_ref(conn, d, reference).await? {
        if h.kind != Kind::Pending || h.status != Some(Status::Pending) {
            continue;
        }
        let op = if capture {
            Op::Capture {
                id: format!("{}:capture", h.id),
                pending_id: h.id.clone(),
                amount: h.amount,
            }
        } else {
            Op::Void {
                id: format!("{}:void", h.id),
                pending_id: h.id.clone(),
            }
        };
        match execute(conn, d, &op, now).await {
            Ok(Applied::Now) => n += 1,
            Ok(Applied::Already) | Err(LedgerError::PendingClosed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Expires up to `limit` open holds whose `expires_at ≤ now` (ids `<hold>:expire`), oldest
/// deadline first. Returns how many this call expired.
pub async fn expire_due(
    conn: &mut Conn,
    d: Dialect,
    now: i64,
    limit: i64,
) -> Result<u32, LedgerError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id FROM ledger_transfers WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for r in rows {
        let p: String = r.try_get(0)?;
        let op = Op::Expire {
            id: format!("{p}:expire"),
            pending_id: p,
            now,
        };
        match execute(conn, d, &op, now).await {
            Ok(Applied::Now) => n += 1,
            Ok(Applied::Already) | Err(LedgerError::PendingClosed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Opens the stock account `key` (unit [`STOCK_UNIT`], non-negative), its [`sold_account`], and
/// (if missing) [`STOCK_RECEIPTS`]; receives `initial ≥ 0` from the receipts account with the
/// transfer id `reference`. Idempotent.
pub async fn open_stock_account(
    conn: &mut Conn,
    d: Dialect,
    key: &str,
    initial: i64,
    reference: &str,
) -> Result<(), LedgerError> {
    if initial < 0 {
        return Err(LedgerError::Invalid("initial stock must not be negative"));
    }
    let now = crate::time::now_ms();
    let open = |account: &str, non_negative| Op::Open {
        account: account.to_string(),
        unit: STOCK_UNIT.to_string(),
        non_negative,
    };
    for op in [
        open(STOCK_RECEIPTS, false),
        open(key, true),
        open(&sold_account(key), true),
    ] {
        execute(conn, d, &op, now).await?;
    }
    if initial > 0 {
        let op = Op::Transfer {
            id: reference.to_string(),
            debit: STOCK_RECEIPTS.to_string(),
            credit: key.to_string(),
            unit: STOCK_UNIT.to_string(),
            amount: initial,
            reference: reference.to_string(),
        };
        execute(conn, d, &op, now).await?;
    }
    Ok(())
}
