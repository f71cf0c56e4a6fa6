//! Global operating data over all operators (FR-047) and the cross analyses of FR-048 —
//! operator × app, site × time, app × player-count — as grouped queries over the usage
//! records in a window `[from, to)` (ms).

use sqlx::Row;
use suanpan_core::db::{Arg, Db, bind_all, text};
use suanpan_core::{AppError, sql};

use super::stats::Totals;

/// Operators, sessions, players and money of a window (fen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overview {
    /// Operators not deactivated.
    pub operators: i64,
    /// Operators with a session in the window.
    pub active_operators: i64,
    /// Sessions, players and consumption.
    pub totals: Totals,
    /// Recharged in the window.
    pub recharged: i64,
}

/// The overview of `[from, to)`.
pub async fn overview(db: &Db, from: i64, to: i64) -> Result<Overview, AppError> {
    let d = db.dialect;
    let r = sqlx::query(sql!(d, "SELECT CAST((SELECT COUNT(*) FROM mr_operators WHERE is_deactivated = 0) AS {{INT}}), CAST(COUNT(DISTINCT u.operator_id) AS {{INT}}), CAST(COUNT(u.id) AS {{INT}}), CAST(COALESCE(SUM(u.player_count), 0) AS {{INT}}), CAST(COALESCE(SUM(u.total_cost_fen), 0) AS {{INT}}), CAST((SELECT COALESCE(SUM(t.amount_fen), 0) FROM mr_transactions t WHERE t.kind = 'recharge' AND t.created_at >= ? AND t.created_at < ?) AS {{INT}}) FROM mr_usage_records u WHERE u.created_at >= ? AND u.created_at < ?"))
        .bind(from)
        .bind(to)
        .bind(from)
        .bind(to)
        .fetch_one(db.reader())
        .await?;
    Ok(Overview {
        operators: r.try_get(0)?,
        active_operators: r.try_get(1)?,
        totals: Totals {
            sessions: r.try_get(2)?,
            players: r.try_get(3)?,
            cost: r.try_get(4)?,
        },
        recharged: r.try_get(5)?,
    })
}

/// One cell of a cross table: two keys with their names, and the totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Row key and name.
    pub row: (String, String),
    /// Column key and name.
    pub col: (String, String),
    /// Sessions, players, cost.
    pub totals: Totals,
}

fn cells(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Cell>, AppError> {
    rows.iter()
        .map(|r| {
            Ok(Cell {
                row: (text(r, 0)?, text(r, 1)?),
                col: (text(r, 2)?, text(r, 3)?),
                totals: Totals {
                    sessions: r.try_get(4)?,
                    players: r.try_get(5)?,
                    cost: r.try_get(6)?,
                },
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Operator × app: sessions, players and cost per pair with any session, by operator.
pub async fn operator_app(db: &Db, from: i64, to: i64) -> Result<Vec<Cell>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT u.operator_id, o.name, u.app_id, a.app_name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) FROM mr_usage_records u JOIN mr_operators o ON o.operator_id = u.operator_id JOIN mr_applications a ON a.app_id = u.app_id WHERE u.created_at >= ? AND u.created_at < ? GROUP BY u.operator_id, o.name, u.app_id, a.app_name ORDER BY u.operator_id, u.app_id"))
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    cells(&rows)
}

/// Site × business day for the sites `site_ids` (all sites when empty): `(site_id, site name,
/// day number (days since 1970-01-01 at UTC+8), totals)`, by site and day.
pub async fn site_days(
    db: &Db,
    site_ids: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64, Totals)>, AppError> {
    let d = db.dialect;
    let day = "CAST((u.created_at + 28800000 - (u.created_at + 28800000) % 86400000) / 86400000 AS {{INT}})";
    let only = match site_ids.len() {
        0 => String::new(),
        n => format!(" AND u.site_id IN ({})", vec!["?"; n].join(", ")),
    };
    let q = d.prepare(&[
        "SELECT u.site_id, s.name, ", day, ", CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) FROM mr_usage_records u JOIN mr_sites s ON s.site_id = u.site_id WHERE u.created_at >= ? AND u.created_at < ?", &only, " GROUP BY u.site_id, s.name, ", day, " ORDER BY u.site_id, ", day,
    ].concat());
    let mut args: Vec<Arg> = vec![from.into(), to.into()];
    args.extend(site_ids.iter().map(|s| Arg::from(s.as_str())));
    let rows = bind_all(sqlx::query(&q), &args)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            let totals = Totals {
                sessions: r.try_get(3)?,
                players: r.try_get(4)?,
                cost: r.try_get(5)?,
            };
            Ok((text(r, 0)?, text(r, 1)?, r.try_get(2)?, totals))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// The player-count buckets of FR-048 (US7.3's 2 / 3–4 / 5–8, completed with 1 and 9+).
pub const PLAYER_BUCKETS: [&str; 5] = ["1", "2", "3-4", "5-8", "9+"];

/// App × player-count bucket: sessions, players and cost per pair with any session.
pub async fn player_distribution(db: &Db, from: i64, to: i64) -> Result<Vec<Cell>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT u.app_id, a.app_name, CASE WHEN u.player_count <= 1 THEN '1' WHEN u.player_count = 2 THEN '2' WHEN u.player_count <= 4 THEN '3-4' WHEN u.player_count <= 8 THEN '5-8' ELSE '9+' END AS bucket, CASE WHEN u.player_count <= 1 THEN '1' WHEN u.player_count = 2 THEN '2' WHEN u.player_count <= 4 THEN '3-4' WHEN u.player_count <= 8 THEN '5-8' ELSE '9+' END, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) FROM mr_usage_records u JOIN mr_applications a ON a.app_id = u.app_id WHERE u.created_at >= ? AND u.created_at < ? GROUP BY u.app_id, a.app_name, CASE WHEN u.player_count <= 1 THEN '1' WHEN u.player_count = 2 THEN '2' WHEN u.player_count <= 4 THEN '3-4' WHEN u.player_count <= 8 THEN '5-8' ELSE '9+' END ORDER BY u.app_id"))
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    cells(&rows)
}
