//! Invoice requests (`mr_invoices`; contract `Invoice`, `InvoiceRequestFinance`):
//! `pending` → `approved` (with its PDF) | `rejected`, each reviewed once.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, Tx, opt_text, text};
use suanpan_core::{AppError, sql};

/// An invoice request with the operator's name and category.
#[derive(Clone, Debug)]
pub struct InvoiceRow {
    /// Public id (`inv_{yyyymmdd}_{8}`).
    pub invoice_id: String,
    /// Operator.
    pub operator_id: String,
    /// Operator's name.
    pub operator_name: String,
    /// Operator's category.
    pub operator_category: String,
    /// Amount (fen).
    pub amount_fen: i64,
    /// 发票抬头.
    pub invoice_title: String,
    /// 纳税人识别号.
    pub tax_id: String,
    /// Where to send it.
    pub email: Option<String>,
    /// `pending|approved|rejected`.
    pub status: String,
    /// Why not.
    pub reject_reason: Option<String>,
    /// Reviewer's account id.
    pub reviewed_by: Option<String>,
    /// When reviewed (ms).
    pub reviewed_at: Option<i64>,
    /// When asked (ms).
    pub created_at: i64,
}

const SELECT: &str = "SELECT i.invoice_id, i.operator_id, o.name, o.category, i.amount_fen, i.invoice_title, i.tax_id, i.email, i.status, i.reject_reason, i.reviewed_by, i.reviewed_at, i.created_at FROM mr_invoices i JOIN mr_operators o ON o.operator_id = i.operator_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<InvoiceRow, sqlx::Error> {
    Ok(InvoiceRow {
        invoice_id: text(r, 0)?,
        operator_id: text(r, 1)?,
        operator_name: text(r, 2)?,
        operator_category: text(r, 3)?,
        amount_fen: r.try_get(4)?,
        invoice_title: text(r, 5)?,
        tax_id: text(r, 6)?,
        email: opt_text(r, 7)?,
        status: text(r, 8)?,
        reject_reason: opt_text(r, 9)?,
        reviewed_by: opt_text(r, 10)?,
        reviewed_at: r.try_get(11)?,
        created_at: r.try_get(12)?,
    })
}

/// What the operator may still invoice, read inside `tx` with the operator's row locked (so
/// two requests cannot both take the same room): recharged minus invoices pending or approved
/// (fen). `None` for an unknown operator.
pub async fn room(tx: &mut Tx, d: Dialect, operator_id: &str) -> Result<Option<i64>, AppError> {
    let lock = d.prepare(&format!(
        "SELECT operator_id FROM mr_operators WHERE operator_id = ?{}",
        d.for_update()
    ));
    if sqlx::query(&lock)
        .bind(operator_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let row = sqlx::query(sql!(d, "SELECT CAST(COALESCE((SELECT SUM(t.amount_fen) FROM mr_transactions t WHERE t.operator_id = ? AND t.kind = 'recharge'), 0) - COALESCE((SELECT SUM(i.amount_fen) FROM mr_invoices i WHERE i.operator_id = ? AND i.status <> 'rejected'), 0) AS {{INT}})"))
        .bind(operator_id)
        .bind(operator_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(row.try_get(0)?))
}

/// Inserts a pending request (inside the transaction of [`room`]).
pub async fn insert(tx: &mut Tx, d: Dialect, i: &InvoiceRow) -> Result<(), AppError> {
    sqlx::query(sql!(d, "INSERT INTO mr_invoices (invoice_id, operator_id, amount_fen, invoice_title, tax_id, email, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)"))
        .bind(i.invoice_id.clone())
        .bind(i.operator_id.clone())
        .bind(i.amount_fen)
        .bind(i.invoice_title.clone())
        .bind(i.tax_id.clone())
        .bind(i.email.clone())
        .bind(i.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A page of requests, newest first, of one operator (`Some`) or all, of one status (`None`:
/// all), and the total.
pub async fn page(
    db: &Db,
    operator_id: Option<&str>,
    status: Option<&str>,
    window: (i64, i64),
) -> Result<(Vec<InvoiceRow>, i64), AppError> {
    let filter = "(? = '' OR i.operator_id = ?) AND (? = '' OR i.status = ?)";
    let (op, st) = (operator_id.unwrap_or(""), status.unwrap_or(""));
    let args: Vec<Arg> = vec![op.into(), op.into(), st.into(), st.into()];
    let (rows, total) = super::page_rows(
        db,
        (SELECT, "mr_invoices i"),
        (filter, "i.id DESC"),
        args,
        window,
    )
    .await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// One request by public id.
pub async fn one(db: &Db, invoice_id: &str) -> Result<Option<InvoiceRow>, AppError> {
    let q = db
        .dialect
        .prepare(&format!("{SELECT} WHERE i.invoice_id = ?"));
    let row = sqlx::query(&q)
        .bind(invoice_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Approves a pending request keeping its PDF (inside `tx`); false when it was not pending.
pub async fn approve(
    tx: &mut Tx,
    d: Dialect,
    invoice_id: &str,
    pdf: &[u8],
    note: Option<&str>,
    (by, now): (&str, i64),
) -> Result<bool, AppError> {
    let n = sqlx::query(sql!(d, "UPDATE mr_invoices SET status = 'approved', pdf = ?, note = ?, reviewed_by = ?, reviewed_at = ? WHERE invoice_id = ? AND status = 'pending'"))
        .bind(pdf.to_vec())
        .bind(note.map(str::to_string))
        .bind(by)
        .bind(now)
        .bind(invoice_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Adds the rejection of a pending request to `b` (a guard: still pending).
pub fn push_reject(
    b: &mut Batch,
    d: Dialect,
    invoice_id: &str,
    reason: &str,
    by: &str,
    now: i64,
) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_invoices SET status = 'rejected', reject_reason = ?, reviewed_by = ?, reviewed_at = ? WHERE invoice_id = ? AND status = 'pending'"),
        vec![reason.into(), by.into(), now.into(), invoice_id.into()],
    )
}

/// The PDF of an approved invoice of `operator_id` (`None`: any operator).
pub async fn pdf(
    db: &Db,
    invoice_id: &str,
    operator_id: Option<&str>,
) -> Result<Option<Vec<u8>>, AppError> {
    let op = operator_id.unwrap_or("");
    let row = sqlx::query(sql!(db.dialect, "SELECT pdf FROM mr_invoices WHERE invoice_id = ? AND (? = '' OR operator_id = ?) AND status = 'approved'"))
        .bind(invoice_id)
        .bind(op)
        .bind(op)
        .fetch_optional(db.reader())
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<Vec<u8>>, _>(0)?,
        None => None,
    })
}
