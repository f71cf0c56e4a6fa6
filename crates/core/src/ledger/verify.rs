//! `verify`: every invariant of a database's ledger, checked from its rows (`suanpan ledger
//! verify`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sqlx::Row;

use super::{LedgerError, store};
use crate::db::{Conn, Dialect};
use crate::sql;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What it is about: an account key, a transfer id, or `unit:<unit>`.
    pub subject: String,
    /// Which invariant, e.g. `balance = Σ posted credits − Σ posted debits`.
    pub what: &'static str,
    /// The value the invariant requires.
    pub expected: i64,
    /// The value found.
    pub found: i64,
}

/// What [`verify`] checked and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Accounts checked.
    pub accounts: usize,
    /// Units checked, with their number of accounts.
    pub units: BTreeMap<String, usize>,
    /// Every violation found; empty when the ledger is sound.
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    /// True when no invariant is broken.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn push(&mut self, subject: impl Into<String>, what: &'static str, expected: i64, found: i64) {
        self.violations.push(Violation {
            subject: subject.into(),
            what,
            expected,
            found,
        });
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger: {} accounts in {} units",
            self.accounts,
            self.units.len()
        )?;
        for (u, n) in &self.units {
            writeln!(f, "  unit {u}: {n} accounts")?;
        }
        if self.ok() {
            return writeln!(f, "ok: every invariant holds");
        }
        writeln!(f, "{} violations:", self.violations.len())?;
        for v in &self.violations {
            writeln!(
                f,
                "  {}: {} (expected {}, found {})",
                v.subject, v.what, v.expected, v.found
            )?;
        }
        Ok(())
    }
}

/// Checks every invariant of the ledger in the database behind `conn` (run it in a transaction
/// or on a quiet database for a consistent snapshot):
///
/// 1. per unit, `Σ balance = 0` and `Σ pending_out = Σ pending_in` (conservation);
/// 2. per account, `balance = Σ posted and captured credits − debits`, `pending_out` /
///    `pending_in` = Σ open holds debiting / crediting it (the transfers reproduce it);
/// 3. a non-negative account has `balance − pending_out ≥ 0`; no pending sum is negative;
/// 4. every transfer names existing accounts of its unit and a known kind; every hold has a
///    known status and exactly as many closers as it is closed (0 or 1); every capture, void and
///    expiry refers to a hold with the same accounts and unit, whose status matches it, whose
///    captured amount is the capture's (at most the hold) and whose amount a void or expiry
///    releases.
///
/// Memory: one entry per account.
pub async fn verify(conn: &mut Conn, d: Dialect) -> Result<VerifyReport, LedgerError> {
    let mut r = VerifyReport::default();
    let accounts = store::accounts(conn, d).await?;
    r.accounts = accounts.len();
    conservation(conn, d, &mut r).await?;
    let mut expected: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for (i, q) in [
        sql!(d, "SELECT credit_account, CAST(SUM(amount) AS {{INT}}) FROM ledger_transfers WHERE kind IN ('posted', 'capture') GROUP BY credit_account"),
        sql!(d, "SELECT debit_account, CAST(0 - SUM(amount) AS {{INT}}) FROM ledger_transfers WHERE kind IN ('posted', 'capture') GROUP BY debit_account"),
        sql!(d, "SELECT debit_account, CAST(SUM(amount) AS {{INT}}) FROM ledger_transfers WHERE kind = 'pending' AND status = 'pending' GROUP BY debit_account"),
        sql!(d, "SELECT credit_account, CAST(SUM(amount) AS {{INT}}) FROM ledger_transfers WHERE kind = 'pending' AND status = 'pending' GROUP BY credit_account"),
    ]
    .into_iter()
    .enumerate()
    {
        for row in sqlx::query(q).fetch_all(&mut *conn).await? {
            let e = expected.entry(row.try_get(0)?).or_default();
            e[i.saturating_sub(1)] += row.try_get::<i64, _>(1)?;
        }
    }
    for a in &accounts {
        let e = expected.remove(&a.account).unwrap_or_default();
        let checks = [
            (
                "balance = Σ posted credits − Σ posted debits",
                e[0],
                a.balance,
            ),
            (
                "pending_out = Σ open holds debiting it",
                e[1],
                a.pending_out,
            ),
            ("pending_in = Σ open holds crediting it", e[2], a.pending_in),
        ];
        for (what, want, found) in checks {
            if want != found {
                r.push(&a.account, what, want, found);
            }
        }
        if a.non_negative && a.available() < 0 {
            r.push(
                &a.account,
                "non-negative account: balance − pending_out ≥ 0",
                0,
                a.available(),
            );
        }
        if a.pending_out < 0 || a.pending_in < 0 {
            r.push(
                &a.account,
                "pending sums ≥ 0",
                0,
                a.pending_out.min(a.pending_in),
            );
        }
    }
    for (k, e) in expected {
        r.push(k, "transfers name an account that does not exist", 0, e[0]);
    }
    transfers(conn, d, &mut r).await?;
    Ok(r)
}

async fn conservation(
    conn: &mut Conn,
    d: Dialect,
    r: &mut VerifyReport,
) -> Result<(), LedgerError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT unit, COUNT(*), CAST(SUM(balance) AS {{INT}}), CAST(SUM(pending_out) AS {{INT}}), CAST(SUM(pending_in) AS {{INT}}) FROM ledger_accounts GROUP BY unit ORDER BY unit"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let unit: String = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        let (sum, out, inn): (i64, i64, i64) = (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        if sum != 0 {
            r.push(format!("unit:{unit}"), "Σ balances of a unit = 0", 0, sum);
        }
        if out != inn {
            r.push(
                format!("unit:{unit}"),
                "Σ pending_out = Σ pending_in",
                out,
                inn,
            );
        }
        r.units.insert(unit, usize::try_from(n).unwrap_or_default());
    }
    Ok(())
}

/// `(invariant, query)`: each query returns `(transfer id, expected, found)` per violation.
fn transfer_checks(d: Dialect) -> [(&'static str, &'static str); 6] {
    [
        (
            "transfer accounts exist and count its unit",
            sql!(
                d,
                "SELECT t.id, CAST(0 AS {{INT}}), t.amount FROM ledger_transfers t LEFT JOIN ledger_accounts a ON a.account = t.debit_account LEFT JOIN ledger_accounts c ON c.account = t.credit_account WHERE a.account IS NULL OR c.account IS NULL OR a.unit <> t.unit OR c.unit <> t.unit OR t.debit_account = t.credit_account"
            ),
        ),
        (
            "known kind, positive amount, pending_id only on closers",
            sql!(
                d,
                "SELECT id, CAST(0 AS {{INT}}), amount FROM ledger_transfers WHERE kind NOT IN ('posted', 'pending', 'capture', 'void', 'expire') OR amount <= 0 OR (kind IN ('posted', 'pending') AND pending_id IS NOT NULL) OR (kind IN ('capture', 'void', 'expire') AND pending_id IS NULL) OR (kind = 'pending' AND (status IS NULL OR status NOT IN ('pending', 'posted', 'voided', 'expired')))"
            ),
        ),
        (
            "a closed hold has exactly one closer",
            sql!(
                d,
                "SELECT p.id, CAST(1 AS {{INT}}), CAST(0 AS {{INT}}) FROM ledger_transfers p WHERE p.kind = 'pending' AND p.status <> 'pending' AND NOT EXISTS (SELECT 1 FROM ledger_transfers c WHERE c.pending_id = p.id)"
            ),
        ),
        (
            "an open hold has no closer",
            sql!(
                d,
                "SELECT p.id, CAST(0 AS {{INT}}), CAST(1 AS {{INT}}) FROM ledger_transfers p WHERE p.kind = 'pending' AND p.status = 'pending' AND EXISTS (SELECT 1 FROM ledger_transfers c WHERE c.pending_id = p.id)"
            ),
        ),
        (
            "a closer refers to a hold with its accounts, unit and amount",
            sql!(
                d,
                "SELECT c.id, COALESCE(p.amount, 0), c.amount FROM ledger_transfers c LEFT JOIN ledger_transfers p ON p.id = c.pending_id WHERE c.kind IN ('capture', 'void', 'expire') AND (p.id IS NULL OR p.kind <> 'pending' OR p.debit_account <> c.debit_account OR p.credit_account <> c.credit_account OR p.unit <> c.unit OR c.amount > p.amount OR (c.kind <> 'capture' AND c.amount <> p.amount))"
            ),
        ),
        (
            "the hold's status and captured amount match its closer",
            sql!(
                d,
                "SELECT c.id, c.amount, COALESCE(p.captured, 0) FROM ledger_transfers c JOIN ledger_transfers p ON p.id = c.pending_id WHERE (c.kind = 'capture' AND (p.status <> 'posted' OR p.captured IS NULL OR p.captured <> c.amount)) OR (c.kind = 'void' AND p.status <> 'voided') OR (c.kind = 'expire' AND p.status <> 'expired')"
            ),
        ),
    ]
}

async fn transfers(conn: &mut Conn, d: Dialect, r: &mut VerifyReport) -> Result<(), LedgerError> {
    for (what, q) in transfer_checks(d) {
        for row in sqlx::query(q).fetch_all(&mut *conn).await? {
            let id: String = row.try_get(0)?;
            r.push(id, what, row.try_get(1)?, row.try_get(2)?);
        }
    }
    Ok(())
}

/// [`verify`] on one consistent snapshot of `db`: a read-only transaction (`REPEATABLE READ` on
/// PostgreSQL and MySQL; SQLite's write transaction is serial), rolled back afterwards.
pub async fn verify_db(db: &crate::db::Db) -> Result<VerifyReport, LedgerError> {
    let mut tx = db.begin().await?;
    if db.dialect == Dialect::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let r = verify(&mut tx, db.dialect).await;
    tx.rollback().await?;
    r
}
