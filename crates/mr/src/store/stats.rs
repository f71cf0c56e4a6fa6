//! Usage statistics of an operator (contract `getConsumptionStatistics`, `getStatisticsByApp`,
//! `getStatisticsBySite`): sums over usage records in a time window, grouped in SQL.

use sqlx::Row;
use suanpan_core::db::{Db, text};
use suanpan_core::{AppError, sql};

/// Sessions, players and cost (fen) of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Authorizations.
    pub sessions: i64,
    /// Players.
    pub players: i64,
    /// Charged (fen).
    pub cost: i64,
}

fn totals(r: &sqlx::any::AnyRow, at: usize) -> Result<Totals, sqlx::Error> {
    Ok(Totals {
        sessions: r.try_get(at)?,
        players: r.try_get(at + 1)?,
        cost: r.try_get(at + 2)?,
    })
}

/// Per business day (Asia/Shanghai: days since 1970-01-01 at UTC+8, computed with an exact
/// division so that it is an integer on all three engines) in `[from, to)` (ms).
pub async fn daily(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Totals)>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}) AS day, CAST(COUNT(*) AS {{INT}}), CAST(SUM(player_count) AS {{INT}}), CAST(SUM(total_cost_fen) AS {{INT}}) FROM mr_usage_records WHERE operator_id = ? AND created_at >= ? AND created_at < ? GROUP BY CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}) ORDER BY day"))
        .bind(operator_id)
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, totals(r, 1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Per app `(app_id, app_name, totals)`, most cost first.
pub async fn by_app(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let d = db.dialect;
    let q = sql!(
        d,
        "SELECT u.app_id, a.app_name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) AS cost FROM mr_usage_records u JOIN mr_applications a ON a.app_id = u.app_id WHERE u.operator_id = ? AND u.created_at >= ? AND u.created_at < ? GROUP BY u.app_id, a.app_name ORDER BY cost DESC, u.app_id"
    );
    grouped(db, q, operator_id, from, to).await
}

/// Per site `(site_id, site_name, totals)`, most cost first.
pub async fn by_site(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let d = db.dialect;
    let q = sql!(
        d,
        "SELECT u.site_id, s.name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) AS cost FROM mr_usage_records u JOIN mr_sites s ON s.site_id = u.site_id WHERE u.operator_id = ? AND u.created_at >= ? AND u.created_at < ? GROUP BY u.site_id, s.name ORDER BY cost DESC, u.site_id"
    );
    grouped(db, q, operator_id, from, to).await
}

/// Runs a grouping query `q` (id, name, sessions, players, cost; bound to the operator and the
/// window `[from, to)`).
async fn grouped(
    db: &Db,
    q: &str,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let rows = sqlx::query(q)
        .bind(operator_id)
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    named(&rows)
}

fn named(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(String, String, Totals)>, AppError> {
    rows.iter()
        .map(|r| Ok((text(r, 0)?, text(r, 1)?, totals(r, 2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}
