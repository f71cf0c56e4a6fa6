//! Refund requests of the remaining balance (`mr_refunds`; contract `RefundRequest`,
//! `RefundRequestFinance`): `pending` → `approved` | `rejected`, each reviewed once.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, Tx, opt_text, text};
use suanpan_core::{AppError, sql};

/// A refund request with the operator's name and category (finance lists show them).
#[derive(Clone, Debug)]
pub struct RefundRow {
    /// Public id (`refund_{yyyymmdd}_{8}`).
    pub refund_id: String,
    /// Operator.
    pub operator_id: String,
    /// Operator's name.
    pub operator_name: String,
    /// Operator's category.
    pub operator_category: String,
    /// The balance when asked (fen).
    pub requested_fen: i64,
    /// The balance refunded at approval (fen).
    pub actual_fen: Option<i64>,
    /// The part no provider could take back, paid by hand (fen).
    pub offline_fen: i64,
    /// `pending|approved|rejected`.
    pub status: String,
    /// `none|processing|succeeded|partly_failed`.
    pub payout_status: String,
    /// Why.
    pub reason: String,
    /// Why not.
    pub reject_reason: Option<String>,
    /// Finance's note at approval.
    pub note: Option<String>,
    /// Reviewer's account id.
    pub reviewed_by: Option<String>,
    /// When reviewed (ms).
    pub reviewed_at: Option<i64>,
    /// When asked (ms).
    pub created_at: i64,
    /// The operator's balance when read (fen).
    pub balance_now_fen: i64,
}

/// The requests with their operator and the operator's balance now (one ledger row by key).
fn select(d: Dialect) -> String {
    format!(
        "SELECT r.refund_id, r.operator_id, o.name, o.category, r.requested_fen, r.actual_fen, r.offline_fen, r.status, r.payout_status, r.reason, r.reject_reason, r.note, r.reviewed_by, r.reviewed_at, r.created_at, COALESCE(b.balance - b.pending_out, 0) FROM mr_refunds r JOIN mr_operators o ON o.operator_id = r.operator_id LEFT JOIN ledger_accounts b ON b.account = {}",
        super::operators::concat_sql(d, "mr:operator:")
    )
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<RefundRow, sqlx::Error> {
    Ok(RefundRow {
        refund_id: text(r, 0)?,
        operator_id: text(r, 1)?,
        operator_name: text(r, 2)?,
        operator_category: text(r, 3)?,
        requested_fen: r.try_get(4)?,
        actual_fen: r.try_get(5)?,
        offline_fen: r.try_get(6)?,
        status: text(r, 7)?,
        payout_status: text(r, 8)?,
        reason: text(r, 9)?,
        reject_reason: opt_text(r, 10)?,
        note: opt_text(r, 11)?,
        reviewed_by: opt_text(r, 12)?,
        reviewed_at: r.try_get(13)?,
        created_at: r.try_get(14)?,
        balance_now_fen: r.try_get(15)?,
    })
}

/// Inserts a pending request unless the operator has one pending (false then).
pub async fn insert(
    db: &Db,
    refund_id: &str,
    operator_id: &str,
    requested_fen: i64,
    reason: &str,
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    let n = sqlx::query(sql!(d, "INSERT INTO mr_refunds (refund_id, operator_id, requested_fen, offline_fen, status, payout_status, reason, created_at) SELECT ?, ?, ?, 0, 'pending', 'none', ?, ? FROM mr_operators WHERE operator_id = ? AND NOT EXISTS (SELECT 1 FROM mr_refunds x WHERE x.operator_id = ? AND x.status = 'pending')"))
        .bind(refund_id)
        .bind(operator_id)
        .bind(requested_fen)
        .bind(reason)
        .bind(now)
        .bind(operator_id)
        .bind(operator_id)
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A page of requests, newest first, of one operator (`Some`) or all, of one status (`None`:
/// all), and the total.
pub async fn page(
    db: &Db,
    operator_id: Option<&str>,
    status: Option<&str>,
    window: (i64, i64),
) -> Result<(Vec<RefundRow>, i64), AppError> {
    let filter = "(? = '' OR r.operator_id = ?) AND (? = '' OR r.status = ?)";
    let (op, st) = (operator_id.unwrap_or(""), status.unwrap_or(""));
    let args: Vec<Arg> = vec![op.into(), op.into(), st.into(), st.into()];
    let (rows, total) = super::page_rows(
        db,
        (&select(db.dialect), "mr_refunds r"),
        (filter, "r.id DESC"),
        args,
        window,
    )
    .await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// One request by public id.
pub async fn one(db: &Db, refund_id: &str) -> Result<Option<RefundRow>, AppError> {
    let q = db
        .dialect
        .prepare(&format!("{} WHERE r.refund_id = ?", select(db.dialect)));
    let row = sqlx::query(&q)
        .bind(refund_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// `(operator_id, status, requested_fen)` of a request, read inside `tx` and locked
/// (PostgreSQL, MySQL).
pub async fn lock(
    tx: &mut Tx,
    d: Dialect,
    refund_id: &str,
) -> Result<Option<(String, String, i64)>, AppError> {
    let q = d.prepare(&format!(
        "SELECT operator_id, status, requested_fen FROM mr_refunds WHERE refund_id = ?{}",
        d.for_update()
    ));
    let row = sqlx::query(&q)
        .bind(refund_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match row {
        Some(r) => Some((text(&r, 0)?, text(&r, 1)?, r.try_get(2)?)),
        None => None,
    })
}

/// What an approval records.
pub struct Approval<'a> {
    /// The balance refunded (fen).
    pub actual_fen: i64,
    /// Paid by hand (fen).
    pub offline_fen: i64,
    /// `processing` while provider refunds run, else `succeeded`.
    pub payout_status: &'a str,
    /// Finance's note.
    pub note: Option<&'a str>,
}

/// Adds the approval of a pending request to `b` (a guard: still pending).
pub fn push_approve(
    b: &mut Batch,
    d: Dialect,
    refund_id: &str,
    a: &Approval<'_>,
    by: &str,
    now: i64,
) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_refunds SET status = 'approved', actual_fen = ?, offline_fen = ?, payout_status = ?, note = ?, reviewed_by = ?, reviewed_at = ? WHERE refund_id = ? AND status = 'pending'"),
        vec![a.actual_fen.into(), a.offline_fen.into(), a.payout_status.into(), a.note.into(), by.into(), now.into(), refund_id.into()],
    )
}

/// Adds the rejection of a pending request to `b` (a guard: still pending).
pub fn push_reject(
    b: &mut Batch,
    d: Dialect,
    refund_id: &str,
    reason: &str,
    by: &str,
    now: i64,
) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_refunds SET status = 'rejected', reject_reason = ?, reviewed_by = ?, reviewed_at = ? WHERE refund_id = ? AND status = 'pending'"),
        vec![reason.into(), by.into(), now.into(), refund_id.into()],
    )
}

/// Recomputes the payout status of `refund_id` from its provider refunds (the payment flow's
/// `pay_refunds` of system `mr` noted with it): `partly_failed` once one failed, `succeeded`
/// when all did, else `processing`.
pub async fn update_payout(tx: &mut Tx, d: Dialect, refund_id: &str) -> Result<(), AppError> {
    sqlx::query(sql!(d, "UPDATE mr_refunds SET payout_status = CASE WHEN EXISTS (SELECT 1 FROM pay_refunds p WHERE p.system_name = 'mr' AND p.owner_note = ? AND p.status = 'failed') THEN 'partly_failed' WHEN EXISTS (SELECT 1 FROM pay_refunds p WHERE p.system_name = 'mr' AND p.owner_note = ? AND p.status <> 'succeeded') THEN 'processing' ELSE 'succeeded' END WHERE refund_id = ?"))
        .bind(refund_id)
        .bind(refund_id)
        .bind(refund_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
