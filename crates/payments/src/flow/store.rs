//! All SQL of the payment flow (tables `pay_trades` and `pay_refunds`, migration 0005).

use sqlx::Row;
use sqlx::any::AnyRow;
use suanpan_core::db::{Conn, Dialect, insert_id, opt_text};
use suanpan_core::{sql, sql_insert};

use super::{PaymentStatus, Refund, RefundStatus, Trade};
use crate::provider::Provider;

type R<T> = Result<T, sqlx::Error>;

/// The columns [`trade`] reads, in its order.
macro_rules! trade_cols {
    () => {
        "id, system_name, owner_id, provider, out_trade_no, amount_fen, status, prepay_kind, prepay_handle, prepay_expires_at, transaction_id, payer, late, succeeded_at, created_at FROM pay_trades"
    };
}

/// The columns [`refund`] reads, in its order.
macro_rules! refund_cols {
    () => {
        "id, trade_id, system_name, owner_id, out_refund_no, refund_id, amount_fen, reason, status, owner_note, requested_by, last_error, created_at, settled_at FROM pay_refunds"
    };
}

/// A stored name parsed, or a decode error naming it (never a silent default).
fn stored<T>(parse: fn(&str) -> Option<T>, name: String) -> R<T> {
    parse(&name).ok_or_else(|| sqlx::Error::Decode(format!("unknown stored value {name:?}").into()))
}

fn trade(r: &AnyRow) -> R<Trade> {
    Ok(Trade {
        id: r.try_get(0)?,
        system: r.try_get(1)?,
        owner_id: r.try_get(2)?,
        provider: stored(Provider::parse, r.try_get(3)?)?,
        out_trade_no: r.try_get(4)?,
        amount_fen: r.try_get(5)?,
        status: stored(PaymentStatus::parse, r.try_get(6)?)?,
        prepay_kind: r.try_get(7)?,
        prepay_handle: opt_text(r, 8)?,
        prepay_expires_at: r.try_get(9)?,
        transaction_id: r.try_get(10)?,
        payer: r.try_get(11)?,
        late: r.try_get::<i64, _>(12)? != 0,
        succeeded_at: r.try_get(13)?,
        created_at: r.try_get(14)?,
    })
}

fn refund(r: &AnyRow) -> R<Refund> {
    Ok(Refund {
        id: r.try_get(0)?,
        trade_id: r.try_get(1)?,
        system: r.try_get(2)?,
        owner_id: r.try_get(3)?,
        out_refund_no: r.try_get(4)?,
        refund_id: r.try_get(5)?,
        amount_fen: r.try_get(6)?,
        reason: r.try_get(7)?,
        status: stored(RefundStatus::parse, r.try_get(8)?)?,
        owner_note: r.try_get(9)?,
        requested_by: r.try_get(10)?,
        last_error: r.try_get(11)?,
        created_at: r.try_get(12)?,
        settled_at: r.try_get(13)?,
    })
}

/// How to find a trade.
#[derive(Clone, Copy, Debug)]
pub enum TradeKey<'a> {
    /// By its owner: (system, owner id). One trade per owner.
    Owner(&'a str, i64),
    /// By our trade number.
    OutTradeNo(&'a str),
}

/// The trade found by `key`.
pub async fn trade_by<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    key: TradeKey<'_>,
) -> R<Option<Trade>> {
    let q = match key {
        TradeKey::Owner(system, id) => sqlx::query(sql!(
            d,
            concat!(
                "SELECT ",
                trade_cols!(),
                " WHERE system_name = ? AND owner_id = ?"
            )
        ))
        .bind(system.to_string())
        .bind(id),
        TradeKey::OutTradeNo(no) => sqlx::query(sql!(
            d,
            concat!("SELECT ", trade_cols!(), " WHERE out_trade_no = ?")
        ))
        .bind(no.to_string()),
    };
    q.fetch_optional(ex).await?.as_ref().map(trade).transpose()
}

/// What [`save_prepay`] records.
pub struct NewPrepay<'a> {
    /// Owning system.
    pub system: &'a str,
    /// Owner id within it.
    pub owner_id: i64,
    /// Provider.
    pub provider: Provider,
    /// Our trade number.
    pub out_trade_no: &'a str,
    /// Amount, fen.
    pub amount_fen: i64,
    /// `jsapi`, `qr` or `redirect`.
    pub kind: &'a str,
    /// The prepay id, QR text or URL.
    pub handle: &'a str,
    /// Until when the handle may be shown again (ms).
    pub expires_at: i64,
}

/// Records a prepay for its owner (first time) or refreshes the handle of the owner's unpaid
/// trade. A paid or closed trade is left alone.
pub async fn save_prepay(conn: &mut Conn, d: Dialect, p: &NewPrepay<'_>) -> R<()> {
    let now = suanpan_core::time::now_ms();
    let r = sqlx::query(sql!(d, "UPDATE pay_trades SET prepay_kind = ?, prepay_handle = ?, prepay_expires_at = ?, updated_at = ? WHERE system_name = ? AND owner_id = ? AND status = 'prepaid'"))
        .bind(p.kind)
        .bind(p.handle)
        .bind(p.expires_at)
        .bind(now)
        .bind(p.system)
        .bind(p.owner_id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 0 {
        let q = sql!(
            d,
            "{{INSERT_IGNORE}} INTO pay_trades (system_name, owner_id, provider, out_trade_no, amount_fen, status, prepay_kind, prepay_handle, prepay_expires_at, late, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'prepaid', ?, ?, ?, 0, ?, ?){{ON_CONFLICT_IGNORE}}"
        );
        sqlx::query(q)
            .bind(p.system)
            .bind(p.owner_id)
            .bind(p.provider.as_str())
            .bind(p.out_trade_no)
            .bind(p.amount_fen)
            .bind(p.kind)
            .bind(p.handle)
            .bind(p.expires_at)
            .bind(now)
            .bind(now)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Marks trade `id` succeeded unless it already is; returns whether this call did (the
/// exactly-once gate of notifications and reconciliation).
pub async fn mark_succeeded(
    conn: &mut Conn,
    d: Dialect,
    id: i64,
    transaction_id: &str,
    payer: Option<&str>,
) -> R<bool> {
    let now = suanpan_core::time::now_ms();
    let r = sqlx::query(sql!(
        d,
        "UPDATE pay_trades SET status = 'succeeded', transaction_id = ?, payer = ?, succeeded_at = ?, updated_at = ? WHERE id = ? AND status <> 'succeeded'"
    ))
    .bind(transaction_id)
    .bind(payer)
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Flags trade `id` as paid after its owner stopped wanting it.
pub async fn mark_late(conn: &mut Conn, d: Dialect, id: i64) -> R<()> {
    sqlx::query(sql!(d, "UPDATE pay_trades SET late = 1 WHERE id = ?"))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Trades still `prepaid` created at or before `before`, oldest first.
pub async fn stale_prepaid(
    pool: &sqlx::AnyPool,
    d: Dialect,
    before: i64,
    limit: i64,
) -> R<Vec<Trade>> {
    sqlx::query(sql!(
        d,
        concat!(
            "SELECT ",
            trade_cols!(),
            " WHERE status = 'prepaid' AND created_at <= ? ORDER BY created_at LIMIT ?"
        )
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(trade)
    .collect()
}

/// Marks a never-paid trade closed.
pub async fn close_trade(pool: &sqlx::AnyPool, d: Dialect, id: i64) -> R<()> {
    sqlx::query(sql!(
        d,
        "UPDATE pay_trades SET status = 'closed', updated_at = ? WHERE id = ? AND status = 'prepaid'"
    ))
    .bind(suanpan_core::time::now_ms())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// What [`insert_refund`] records.
pub struct NewRefund<'a> {
    /// The refunded trade.
    pub trade: &'a Trade,
    /// Our refund number.
    pub out_refund_no: &'a str,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Reason shown to the payer.
    pub reason: &'a str,
    /// The owner's note.
    pub owner_note: &'a str,
    /// Who asked.
    pub requested_by: &'a str,
}

/// Inserts a `pending` refund; returns its id.
pub async fn insert_refund(conn: &mut Conn, d: Dialect, r: &NewRefund<'_>) -> R<i64> {
    let now = suanpan_core::time::now_ms();
    let q = sqlx::query(sql_insert!(
        d,
        "INSERT INTO pay_refunds (trade_id, system_name, owner_id, out_refund_no, amount_fen, reason, status, owner_note, requested_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)"
    ))
    .bind(r.trade.id)
    .bind(r.trade.system.clone())
    .bind(r.trade.owner_id)
    .bind(r.out_refund_no)
    .bind(r.amount_fen)
    .bind(r.reason)
    .bind(r.owner_note)
    .bind(r.requested_by)
    .bind(now)
    .bind(now);
    insert_id(conn, d, q).await
}

/// Refunds of a trade, oldest first.
pub async fn refunds_of<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    trade_id: i64,
) -> R<Vec<Refund>> {
    sqlx::query(sql!(
        d,
        concat!("SELECT ", refund_cols!(), " WHERE trade_id = ? ORDER BY id")
    ))
    .bind(trade_id)
    .fetch_all(ex)
    .await?
    .iter()
    .map(refund)
    .collect()
}

/// A refund by number.
pub async fn refund_by_no<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    no: &str,
) -> R<Option<Refund>> {
    sqlx::query(sql!(
        d,
        concat!("SELECT ", refund_cols!(), " WHERE out_refund_no = ?")
    ))
    .bind(no)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(refund)
    .transpose()
}

/// Refunds in `status` created at or before `before`, oldest first.
pub async fn refunds_in(
    pool: &sqlx::AnyPool,
    d: Dialect,
    status: RefundStatus,
    before: i64,
    limit: i64,
) -> R<Vec<Refund>> {
    sqlx::query(sql!(
        d,
        concat!(
            "SELECT ",
            refund_cols!(),
            " WHERE status = ? AND created_at <= ? ORDER BY id LIMIT ?"
        )
    ))
    .bind(status.as_str())
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(refund)
    .collect()
}

/// Moves refund `id` to `to` if it is in one of `from`; returns whether this call did.
pub async fn refund_cas(
    conn: &mut Conn,
    d: Dialect,
    id: i64,
    from: &[RefundStatus],
    to: RefundStatus,
    refund_id: Option<&str>,
    error: Option<&str>,
) -> R<bool> {
    let now = suanpan_core::time::now_ms();
    let marks = vec!["?"; from.len()].join(", ");
    let settled = if to.is_final() {
        ", settled_at = ?"
    } else {
        ""
    };
    let q = d.prepare(&format!(
        "UPDATE pay_refunds SET status = ?, refund_id = COALESCE(?, refund_id), last_error = COALESCE(?, last_error), updated_at = ?{settled} WHERE id = ? AND status IN ({marks})"
    ));
    let mut q = sqlx::query(&q)
        .bind(to.as_str())
        .bind(refund_id)
        .bind(error)
        .bind(now);
    if to.is_final() {
        q = q.bind(now);
    }
    q = q.bind(id);
    for f in from {
        q = q.bind(f.as_str());
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Sum of a trade's refunds that are not `failed` (in flight or done), fen, and how many
/// refunds it has had.
pub async fn refund_totals(conn: &mut Conn, d: Dialect, trade_id: i64) -> R<(i64, i64)> {
    let r = sqlx::query(sql!(d, "SELECT CAST(COALESCE(SUM(CASE WHEN status <> 'failed' THEN amount_fen ELSE 0 END), 0) AS {{INT}}), COUNT(*) FROM pay_refunds WHERE trade_id = ?"))
        .bind(trade_id)
        .fetch_one(conn)
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}
