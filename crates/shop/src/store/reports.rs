//! The daily report.

use serde::Serialize;
use sqlx::Row;
use suanpan_core::db::Dialect;
use suanpan_core::sql;

use super::*;

/// The daily report (UTC+08:00 calendar day).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DailyReport {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Orders created that day.
    pub orders_created: i64,
    /// Orders paid that day.
    pub orders_paid: i64,
    /// Orders cancelled that day.
    pub orders_cancelled: i64,
    /// Gross merchandise value: amount paid that day, fen.
    pub gmv_fen: i64,
    /// Refunds that succeeded that day, fen.
    pub refunds_fen: i64,
    /// Payment attempts (prepays) started that day.
    pub payments_started: i64,
    /// Of those, how many succeeded.
    pub payments_succeeded: i64,
    /// `payments_succeeded / payments_started`, or null with no attempts.
    pub payment_success_rate: Option<f64>,
}

/// Computes the report for `[start, end)` (ms).
pub async fn daily_report(
    pool: &sqlx::AnyPool,
    d: Dialect,
    date: &str,
    start: i64,
    end: i64,
) -> R<DailyReport> {
    let one = |q: &'static str| async move {
        sqlx::query(q)
            .bind(start)
            .bind(end)
            .fetch_one(pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
    };
    let orders_created = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ?"
    ))
    .await?;
    let orders_paid = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE paid_at >= ? AND paid_at < ?"
    ))
    .await?;
    let gmv_fen = one(sql!(d, "SELECT CAST(COALESCE(SUM(paid_fen), 0) AS {{INT}}) FROM orders WHERE paid_at >= ? AND paid_at < ?")).await?;
    let orders_cancelled = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE cancelled_at >= ? AND cancelled_at < ?"
    ))
    .await?;
    let refunds_fen =
        one(sql!(d, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS {{INT}}) FROM pay_refunds WHERE system_name = 'shop' AND status = 'succeeded' AND settled_at >= ? AND settled_at < ?")).await?;
    let payments_started = one(sql!(
        d,
        "SELECT COUNT(*) FROM pay_trades WHERE system_name = 'shop' AND created_at >= ? AND created_at < ?"
    ))
    .await?;
    let payments_succeeded = one(sql!(d, "SELECT COUNT(*) FROM pay_trades WHERE system_name = 'shop' AND status = 'succeeded' AND created_at >= ? AND created_at < ?")).await?;
    Ok(DailyReport {
        date: date.to_string(),
        orders_created,
        orders_paid,
        orders_cancelled,
        gmv_fen,
        refunds_fen,
        payments_started,
        payments_succeeded,
        payment_success_rate: (payments_started > 0)
            .then(|| payments_succeeded as f64 / payments_started as f64),
    })
}
