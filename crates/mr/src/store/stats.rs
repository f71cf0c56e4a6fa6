//! Usage statistics of an operator (contract `getConsumptionStatistics`, `getStatisticsByApp`,
//! `getStatisticsBySite`): sums over a time window, grouped in SQL — whole days from the daily
//! rollup `mr_usage_daily`, the partial first and last day from the usage records ([`plan`]).

use sqlx::Row;
use suanpan_core::db::direct::{Kind, Val};
use suanpan_core::db::{Arg, Db, text};
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

/// The totals of a rollup row's last three columns (sessions, players, cost).
fn rolled(v: &[Val]) -> Totals {
    Totals {
        sessions: v[0].i64(),
        players: v[1].i64(),
        cost: v[2].i64(),
    }
}

fn totals(r: &sqlx::any::AnyRow, at: usize) -> Result<Totals, sqlx::Error> {
    Ok(Totals {
        sessions: r.try_get(at)?,
        players: r.try_get(at + 1)?,
        cost: r.try_get(at + 2)?,
    })
}

/// How a window `[from, to)` (ms) is read: the whole business days `[first, end)` from the rollup
/// (`mr_usage_daily`), and the rest — the partial first and last day — from the raw records.
/// Nothing is written in the future, so `to` is clamped to two days from now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Whole days `[first, end)`, when there are any.
    pub days: Option<(i64, i64)>,
    /// Raw `[from, to)` ranges (ms).
    pub raw: Vec<(i64, i64)>,
}

/// The [`Plan`] of `[from, to)` at `now` (ms).
pub fn plan(from: i64, to: i64, now: i64) -> Plan {
    use crate::domain::{day_of_ms, day_start_ms};
    let from = from.max(0);
    let to = to.min(day_start_ms(day_of_ms(now) + 2));
    if from >= to {
        return Plan {
            days: None,
            raw: Vec::new(),
        };
    }
    // Nothing is recorded before the Unix epoch, so a window opening before 1970-01-02 (the
    // default "all time" opens at 0) is read as opening on business day 0: whole days only.
    let from = match from < day_start_ms(1) {
        true => day_start_ms(0),
        false => from,
    };
    let first = match day_start_ms(day_of_ms(from)) == from {
        true => day_of_ms(from),
        false => day_of_ms(from) + 1,
    };
    let end = day_of_ms(to);
    if first >= end {
        return Plan {
            days: None,
            raw: vec![(from, to)],
        };
    }
    let raw = [(from, day_start_ms(first)), (day_start_ms(end), to)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    Plan {
        days: Some((first, end)),
        raw,
    }
}

/// Adds `t` to the totals of `key` in `acc`.
fn add<K: Ord>(acc: &mut std::collections::BTreeMap<K, Totals>, key: K, t: Totals) {
    let e = acc.entry(key).or_default();
    e.sessions += t.sessions;
    e.players += t.players;
    e.cost += t.cost;
}

/// Per business day (Asia/Shanghai: days since 1970-01-01 at UTC+8, computed with an exact
/// division so that it is an integer on all three engines) in `[from, to)` (ms), in day order.
pub async fn daily(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Totals)>, AppError> {
    let d = db.dialect;
    let p = plan(from, to, suanpan_core::time::now_ms());
    let mut acc = std::collections::BTreeMap::new();
    if let Some((first, end)) = p.days {
        let q = sql!(
            d,
            "SELECT day, CAST(SUM(sessions) AS {{INT}}), CAST(SUM(players) AS {{INT}}), CAST(SUM(cost_fen) AS {{INT}}) FROM mr_usage_daily WHERE operator_id = ? AND day >= ? AND day < ? GROUP BY day"
        );
        let args = [Arg::from(operator_id), Arg::I(first), Arg::I(end)];
        for r in db.rows(q, &args, &[Kind::I64; 4], usize::MAX).await? {
            add(&mut acc, r[0].i64(), rolled(&r[1..]));
        }
    }
    for (a, b) in p.raw {
        let rows = sqlx::query(sql!(d, "SELECT CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}) AS day, CAST(COUNT(*) AS {{INT}}), CAST(SUM(player_count) AS {{INT}}), CAST(SUM(total_cost_fen) AS {{INT}}) FROM mr_usage_records WHERE operator_id = ? AND created_at >= ? AND created_at < ? GROUP BY CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}})"))
            .bind(operator_id)
            .bind(a)
            .bind(b)
            .fetch_all(db.reader())
            .await?;
        for r in &rows {
            add(&mut acc, r.try_get::<i64, _>(0)?, totals(r, 1)?);
        }
    }
    Ok(acc.into_iter().collect())
}

/// Per app `(app_id, app_name, totals)`, most cost first.
pub async fn by_app(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let d = db.dialect;
    let rollup = sql!(
        d,
        "SELECT u.app_id, a.app_name, CAST(SUM(u.sessions) AS {{INT}}), CAST(SUM(u.players) AS {{INT}}), CAST(SUM(u.cost_fen) AS {{INT}}) FROM mr_usage_daily u JOIN mr_applications a ON a.app_id = u.app_id WHERE u.operator_id = ? AND u.day >= ? AND u.day < ? GROUP BY u.app_id, a.app_name"
    );
    let raw = sql!(
        d,
        "SELECT u.app_id, a.app_name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) FROM mr_usage_records u JOIN mr_applications a ON a.app_id = u.app_id WHERE u.operator_id = ? AND u.created_at >= ? AND u.created_at < ? GROUP BY u.app_id, a.app_name"
    );
    combined(db, (rollup, raw), operator_id, from, to).await
}

/// Per site `(site_id, site_name, totals)`, most cost first.
pub async fn by_site(
    db: &Db,
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let d = db.dialect;
    let rollup = sql!(
        d,
        "SELECT u.site_id, s.name, CAST(SUM(u.sessions) AS {{INT}}), CAST(SUM(u.players) AS {{INT}}), CAST(SUM(u.cost_fen) AS {{INT}}) FROM mr_usage_daily u JOIN mr_sites s ON s.site_id = u.site_id WHERE u.operator_id = ? AND u.day >= ? AND u.day < ? GROUP BY u.site_id, s.name"
    );
    let raw = sql!(
        d,
        "SELECT u.site_id, s.name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) FROM mr_usage_records u JOIN mr_sites s ON s.site_id = u.site_id WHERE u.operator_id = ? AND u.created_at >= ? AND u.created_at < ? GROUP BY u.site_id, s.name"
    );
    combined(db, (rollup, raw), operator_id, from, to).await
}

/// Runs a grouping pair — `rollup` over whole days, `raw` over the edges of the window's
/// [`plan`] (id, name, sessions, players, cost) — and merges them, most cost first.
async fn combined(
    db: &Db,
    (rollup, raw): (&str, &str),
    operator_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, Totals)>, AppError> {
    let p = plan(from, to, suanpan_core::time::now_ms());
    let mut parts = Vec::new();
    if let Some((first, end)) = p.days {
        let args = [Arg::from(operator_id), Arg::I(first), Arg::I(end)];
        let kinds = [Kind::Text, Kind::Text, Kind::I64, Kind::I64, Kind::I64];
        for r in db.rows(rollup, &args, &kinds, usize::MAX).await? {
            parts.push((r[0].text(), r[1].text(), rolled(&r[2..])));
        }
    }
    for (a, b) in p.raw {
        parts.extend(grouped(db, raw, operator_id, a, b).await?);
    }
    let mut acc = std::collections::BTreeMap::new();
    for (id, name, t) in parts {
        add(&mut acc, (id, name), t);
    }
    let mut out: Vec<(String, String, Totals)> = acc
        .into_iter()
        .map(|((id, name), t)| (id, name, t))
        .collect();
    out.sort_by(|a, b| b.2.cost.cmp(&a.2.cost).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Runs a grouping query `q` (id, name, sessions, players, cost; bound to the operator and the
/// range `[from, to)`, in days or ms as `q` reads it).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::day_start_ms;

    #[test]
    fn a_window_reads_whole_days_from_the_rollup_and_the_edges_raw() {
        let now = day_start_ms(20_000) + 5_000;
        let whole = plan(day_start_ms(19_990), day_start_ms(19_995), now);
        assert_eq!(
            whole,
            Plan {
                days: Some((19_990, 19_995)),
                raw: vec![]
            }
        );
        let ragged = plan(day_start_ms(19_990) + 7, day_start_ms(19_995) + 9, now);
        assert_eq!(ragged.days, Some((19_991, 19_995)));
        assert_eq!(
            ragged.raw,
            vec![
                (day_start_ms(19_990) + 7, day_start_ms(19_991)),
                (day_start_ms(19_995), day_start_ms(19_995) + 9)
            ]
        );
        let short = plan(day_start_ms(19_990) + 7, day_start_ms(19_990) + 9, now);
        assert_eq!(
            short,
            Plan {
                days: None,
                raw: vec![(day_start_ms(19_990) + 7, day_start_ms(19_990) + 9)]
            }
        );
        let everything = plan(0, i64::MAX, now);
        assert_eq!(
            everything,
            Plan {
                days: Some((0, 20_002)),
                raw: vec![]
            },
            "all time is whole days (nothing before the epoch), and nothing is in the future"
        );
        assert_eq!(plan(-5, i64::MAX, now), everything);
        assert_eq!(
            plan(10, 10, now),
            Plan {
                days: None,
                raw: vec![]
            }
        );
    }
}
