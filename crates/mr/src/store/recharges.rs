//! Recharge orders (`mr_recharges`): one per `rechargeBalance` call, owner of one trade of the
//! payment flow (system `mr`, owner id = the row id).

use sqlx::Row;
use suanpan_core::db::{Db, Dialect, Tx, insert_id, opt_text, text};
use suanpan_core::{AppError, sql, sql_insert};

/// A recharge order.
#[derive(Clone, Debug)]
pub struct Recharge {
    /// Row id (the payment flow's owner id).
    pub id: i64,
    /// Public id, also the trade's `out_trade_no` (`ord_recharge_{yyyymmdd}_{8}`).
    pub order_id: String,
    /// Operator.
    pub operator_id: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// `wechat` or `alipay`.
    pub payment_method: String,
    /// `pending` or `paid` (a pending order past `expires_at` is expired).
    pub status: String,
    /// The QR code text (WeChat `code_url`, Alipay `qr_code`).
    pub qr_code_url: Option<String>,
    /// Until when the QR code can be paid (ms).
    pub expires_at: i64,
    /// When it was credited (ms).
    pub paid_at: Option<i64>,
    /// When made (ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, order_id, operator_id, amount_fen, payment_method, status, qr_code_url, expires_at, paid_at, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Recharge, sqlx::Error> {
    Ok(Recharge {
        id: r.try_get(0)?,
        order_id: text(r, 1)?,
        operator_id: text(r, 2)?,
        amount_fen: r.try_get(3)?,
        payment_method: text(r, 4)?,
        status: text(r, 5)?,
        qr_code_url: opt_text(r, 6)?,
        expires_at: r.try_get(7)?,
        paid_at: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

/// Inserts a `pending` order under the client's idempotency key (if any); returns its id, or
/// `None` when the operator already has an order under that key.
pub async fn insert(
    db: &Db,
    r: &Recharge,
    idem_key: Option<&str>,
) -> Result<Option<i64>, AppError> {
    let d = db.dialect;
    let mut conn = db.writer().acquire().await?;
    let q = sqlx::query(sql_insert!(d, "INSERT INTO mr_recharges (order_id, operator_id, amount_fen, payment_method, status, expires_at, idem_key, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)"))
        .bind(r.order_id.clone())
        .bind(r.operator_id.clone())
        .bind(r.amount_fen)
        .bind(r.payment_method.clone())
        .bind(r.expires_at)
        .bind(idem_key.map(str::to_string))
        .bind(r.created_at);
    match insert_id(&mut conn, d, q).await {
        Ok(id) => Ok(Some(id)),
        Err(e) if suanpan_core::db::is_unique_violation(&e) && idem_key.is_some() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The operator's order made under idempotency key `key`.
pub async fn by_idem_key(
    db: &Db,
    operator_id: &str,
    key: &str,
) -> Result<Option<Recharge>, AppError> {
    let q = db.dialect.prepare(&format!(
        "SELECT {COLUMNS} FROM mr_recharges WHERE operator_id = ? AND idem_key = ?"
    ));
    let row = sqlx::query(&q)
        .bind(operator_id)
        .bind(key)
        .fetch_optional(db.writer())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Keeps the QR code of a prepaid order.
pub async fn set_qr_code(db: &Db, id: i64, code: &str) -> Result<(), AppError> {
    sqlx::query(sql!(
        db.dialect,
        "UPDATE mr_recharges SET qr_code_url = ? WHERE id = ?"
    ))
    .bind(code)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The order with row id `id`, read inside `tx` (locked on PostgreSQL and MySQL).
pub async fn by_id_for_update(
    tx: &mut Tx,
    d: Dialect,
    id: i64,
) -> Result<Option<Recharge>, AppError> {
    let q = d.prepare(&format!(
        "SELECT {COLUMNS} FROM mr_recharges WHERE id = ?{}",
        d.for_update()
    ));
    let row = sqlx::query(&q).bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The order with row id `id`.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<Recharge>, AppError> {
    let q = db
        .dialect
        .prepare(&format!("SELECT {COLUMNS} FROM mr_recharges WHERE id = ?"));
    let row = sqlx::query(&q).bind(id).fetch_optional(db.reader()).await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Marks a pending order paid (inside the crediting transaction); false if it was already.
pub async fn mark_paid(tx: &mut Tx, d: Dialect, id: i64, now: i64) -> Result<bool, AppError> {
    let n = sqlx::query(sql!(
        d,
        "UPDATE mr_recharges SET status = 'paid', paid_at = ? WHERE id = ? AND status <> 'paid'"
    ))
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The row ids of the operator's paid recharges, newest first (what an approved refund is paid
/// back through), read inside `tx`.
pub async fn paid_of(tx: &mut Tx, d: Dialect, operator_id: &str) -> Result<Vec<i64>, AppError> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id FROM mr_recharges WHERE operator_id = ? AND status = 'paid' ORDER BY id DESC"
    ))
    .bind(operator_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The operator's order with public id `order_id`.
pub async fn by_order_id(
    db: &Db,
    operator_id: &str,
    order_id: &str,
) -> Result<Option<Recharge>, AppError> {
    let q = db.dialect.prepare(&format!(
        "SELECT {COLUMNS} FROM mr_recharges WHERE order_id = ? AND operator_id = ?"
    ));
    let row = sqlx::query(&q)
        .bind(order_id)
        .bind(operator_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}
