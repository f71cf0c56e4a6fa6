//! `/statistics/*` (beyond the contract; FR-047, FR-048): global operating data for admin and
//! finance — an overview, and the cross analyses operator × app, site × time and app ×
//! player count — each also as a CSV or XLSX file with `?format=csv|xlsx`; and
//! `/operators/me/usage-records/export` (FR-039): the operator's usage records as CSV or XLSX.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use suanpan_core::error::{AppError, ErrorKind};
use suanpan_core::http::ApiQuery;
use suanpan_documents::{Cell, Table, table};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::statistics::window;
use super::{AuthOperator, attachment, rfc3339_ms, success};
use crate::MrState;
use crate::auth::MrStaff;
use crate::domain::{Dimension, average, bucket_date, yuan};
use crate::envelope::{code, invalid_field};
use crate::store::insights::{self, PLAYER_BUCKETS};
use crate::store::stats::Totals;

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(get_overview))
        .routes(routes!(get_operator_app))
        .routes(routes!(get_site_trend))
        .routes(routes!(get_player_distribution))
        .routes(routes!(get_app_ranking))
        .routes(routes!(export_statistics))
        .routes(routes!(export_usage_records))
}

/// A window, an optional file format and, for the site trend, sites and bucket size.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct InsightQuery {
    /// From (RFC 3339, inclusive); default: the beginning.
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive); default: now and later.
    pub end_time: Option<String>,
    /// `csv` or `xlsx` for a file instead of JSON.
    pub format: Option<String>,
    /// Site trend: comma-separated site ids (default: all).
    pub site_id: Option<String>,
    /// Site trend: `day` (default), `week` or `month`.
    pub dimension: Option<String>,
}

/// A file of `tables` as `format` (`csv` or `xlsx`) named `name`; 400 for another format.
fn file(format: &str, name: &str, tables: &[Table]) -> Result<Response, AppError> {
    let failed = |e: suanpan_documents::DocError| {
        AppError::new(ErrorKind::Internal, code::INTERNAL_ERROR, e.to_string())
    };
    match format {
        "csv" => Ok(attachment(
            table::csv(tables).map_err(failed)?,
            "text/csv; charset=utf-8",
            &format!("{name}.csv"),
        )),
        "xlsx" => Ok(attachment(
            table::xlsx(tables).map_err(failed)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("{name}.xlsx"),
        )),
        _ => Err(invalid_field("format", "csv or xlsx")),
    }
}

fn totals_json(t: &Totals) -> Value {
    json!({"sessions": t.sessions, "players": t.players, "cost": yuan(t.cost), "avg_players_per_session": average(t.players, t.sessions)})
}

fn totals_cells(t: &Totals) -> [Cell; 3] {
    [
        Cell::Int(t.sessions),
        Cell::Int(t.players),
        Cell::Money(t.cost),
    ]
}

/// Operators (all, active in the window), sessions, players, consumption and recharges.
#[utoipa::path(get, path = "/statistics/overview", tag = "statistics", params(InsightQuery), responses((status = 200, description = "overview"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_overview(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let o = insights::overview(&s.core.db, from, to).await?;
    let mut data = totals_json(&o.totals);
    data["total_operators"] = json!(o.operators);
    data["active_operators"] = json!(o.active_operators);
    data["total_recharge"] = json!(yuan(o.recharged));
    Ok(success(StatusCode::OK, data))
}

/// Operator × app: each operator's sessions, players and cost per application.
#[utoipa::path(get, path = "/statistics/operator-app", tag = "statistics", params(InsightQuery), responses((status = 200, description = "rows of cells, or a file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_operator_app(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let cells = insights::operator_app(&s.core.db, from, to).await?;
    if let Some(f) = q.format.as_deref() {
        return file(f, "operator-app", &[operator_app_table(&cells)]);
    }
    let mut rows: Vec<Value> = Vec::new();
    for c in &cells {
        if rows
            .last()
            .is_none_or(|r| r["operator_id"] != c.row.0.as_str())
        {
            rows.push(json!({"operator_id": c.row.0, "operator_name": c.row.1, "apps": []}));
        }
        let mut cell = totals_json(&c.totals);
        cell["app_id"] = json!(c.col.0);
        cell["app_name"] = json!(c.col.1);
        if let Some(apps) = rows.last_mut().and_then(|r| r["apps"].as_array_mut()) {
            apps.push(cell);
        }
    }
    Ok(success(StatusCode::OK, json!({"rows": rows})))
}

/// Site × time: each chosen site's sessions, players and cost per day, ISO week or month.
#[utoipa::path(get, path = "/statistics/site-trend", tag = "statistics", params(InsightQuery), responses((status = 200, description = "series per site, or a file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_site_trend(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let dim = match q.dimension.as_deref() {
        None => Dimension::Day,
        Some(d) => {
            Dimension::parse(d).ok_or_else(|| invalid_field("dimension", "day, week or month"))?
        }
    };
    let sites: Vec<String> = q
        .site_id
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    if sites.len() > 50 {
        return Err(invalid_field("site_id", "at most 50 sites"));
    }
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let days = insights::site_days(&s.core.db, &sites, from, to).await?;
    let series = site_series(days, dim);
    if let Some(f) = q.format.as_deref() {
        let rows = series.iter().flat_map(|x| {
            x.points.iter().map(move |(date, t)| {
                let mut r = vec![
                    x.site_id.as_str().into(),
                    x.site_name.as_str().into(),
                    date.as_str().into(),
                ];
                r.extend(totals_cells(t));
                r
            })
        });
        let header = [
            "场地ID",
            "场地名称",
            "日期",
            "游戏场次",
            "玩家人次",
            "消费金额",
        ];
        let t = Table::new("场地×时间", &header, rows.collect());
        return file(f, "site-trend", &[t]);
    }
    let series: Vec<Value> = series
        .iter()
        .map(|x| {
            let points: Vec<Value> = x
                .points
                .iter()
                .map(|(date, t)| {
                    let mut p = totals_json(t);
                    p["date"] = json!(date);
                    p
                })
                .collect();
            json!({"site_id": x.site_id, "site_name": x.site_name, "points": points})
        })
        .collect();
    Ok(success(
        StatusCode::OK,
        json!({"dimension": dim.as_str(), "series": series}),
    ))
}

/// One site's totals per bucket date.
struct SiteSeries {
    site_id: String,
    site_name: String,
    points: Vec<(String, Totals)>,
}

/// Per-day rows (by site, then day) merged into buckets of `dim`, one series per site.
fn site_series(days: Vec<(String, String, i64, Totals)>, dim: Dimension) -> Vec<SiteSeries> {
    let mut series: Vec<SiteSeries> = Vec::new();
    for (site, name, day, t) in days {
        if series.last().is_none_or(|x| x.site_id != site) {
            series.push(SiteSeries {
                site_id: site,
                site_name: name,
                points: Vec::new(),
            });
        }
        let date = bucket_date(day, dim).format("%Y-%m-%d").to_string();
        let Some(points) = series.last_mut().map(|x| &mut x.points) else {
            continue;
        };
        match points.last_mut() {
            Some((d, acc)) if *d == date => {
                acc.sessions += t.sessions;
                acc.players += t.players;
                acc.cost += t.cost;
            }
            _ => points.push((date, t)),
        }
    }
    series
}

/// App × player count: sessions per application in the buckets 1, 2, 3-4, 5-8 and 9+.
#[utoipa::path(get, path = "/statistics/player-distribution", tag = "statistics", params(InsightQuery), responses((status = 200, description = "buckets per app, or a file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_player_distribution(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let cells = insights::player_distribution(&s.core.db, from, to).await?;
    let mut apps: Vec<(String, String, [i64; 5])> = Vec::new();
    for c in &cells {
        if apps.last().is_none_or(|a| a.0 != c.row.0) {
            apps.push((c.row.0.clone(), c.row.1.clone(), [0; 5]));
        }
        let slot = PLAYER_BUCKETS
            .iter()
            .position(|b| *b == c.col.0)
            .unwrap_or(4);
        if let Some(a) = apps.last_mut() {
            a.2[slot] += c.totals.sessions;
        }
    }
    if let Some(f) = q.format.as_deref() {
        let rows = apps.iter().map(|(id, name, counts)| {
            let mut r: Vec<Cell> = vec![id.as_str().into(), name.as_str().into()];
            r.extend(counts.iter().map(|n| Cell::Int(*n)));
            r
        });
        let mut header = vec!["应用ID", "应用名称"];
        let labels: Vec<String> = PLAYER_BUCKETS.iter().map(|b| format!("{b}人")).collect();
        header.extend(labels.iter().map(String::as_str));
        let t = Table::new("应用×玩家人数", &header, rows.collect());
        return file(f, "player-distribution", &[t]);
    }
    let apps: Vec<Value> = apps
        .iter()
        .map(|(id, name, counts)| {
            let by: serde_json::Map<String, Value> = PLAYER_BUCKETS.iter().zip(counts).map(|(b, n)| (b.to_string(), json!(n))).collect();
            json!({"app_id": id, "app_name": name, "sessions_by_players": by, "total_sessions": counts.iter().sum::<i64>()})
        })
        .collect();
    Ok(success(
        StatusCode::OK,
        json!({"buckets": PLAYER_BUCKETS, "apps": apps}),
    ))
}

/// Every application's sessions, players, average players per session and revenue across
/// all operators, most revenue first (US7-2).
#[utoipa::path(get, path = "/statistics/by-app", tag = "statistics", params(InsightQuery), responses((status = 200, description = "ranking, or a file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_app_ranking(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let apps = crate::store::reports::usage_by_app(&s.core.db, from, to).await?;
    if let Some(f) = q.format.as_deref() {
        return file(f, "by-app", &[app_table(apps)]);
    }
    let apps: Vec<Value> = apps
        .into_iter()
        .map(|(id, name, sessions, players, cost)| {
            let mut v = totals_json(&Totals {
                sessions,
                players,
                cost,
            });
            v["app_id"] = json!(id);
            v["app_name"] = json!(name);
            v
        })
        .collect();
    Ok(success(StatusCode::OK, json!({"apps": apps})))
}

/// The app ranking as a table (rows of [`crate::store::reports::usage_by_app`]).
fn app_table(apps: Vec<(String, String, i64, i64, i64)>) -> Table {
    let rows = apps.into_iter().map(|(id, name, sessions, players, cost)| {
        vec![
            id.into(),
            name.into(),
            Cell::Int(sessions),
            Cell::Int(players),
            Cell::Text(format!("{:.2}", average(players, sessions))),
            Cell::Money(cost),
        ]
    });
    let header = [
        "应用ID",
        "应用名称",
        "游戏场次",
        "玩家人次",
        "平均人数",
        "收入",
    ];
    Table::new("应用排行", &header, rows.collect())
}

/// Every global dimension in one file (US7-5): the overview, applications, operator × app,
/// site × day and app × player count, as CSV (tables one after another) or XLSX (one sheet
/// each); `format` required.
#[utoipa::path(get, path = "/statistics/export", tag = "statistics", params(InsightQuery), responses((status = 200, description = "the file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn export_statistics(
    State(s): State<MrState>,
    _who: MrStaff,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let format = q.format.clone().unwrap_or_default();
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let db = &s.core.db;
    let overview = overview_table(&insights::overview(db, from, to).await?);
    let operator_app = operator_app_table(&insights::operator_app(db, from, to).await?);
    let site_day = site_day_table(&insights::site_days(db, &[], from, to).await?);
    let players = bucket_table(&insights::player_distribution(db, from, to).await?);
    let apps = app_table(crate::store::reports::usage_by_app(db, from, to).await?);
    file(
        &format,
        "statistics",
        &[overview, apps, operator_app, site_day, players],
    )
}

fn overview_table(o: &insights::Overview) -> Table {
    let header = [
        "运营商数",
        "活跃运营商",
        "游戏场次",
        "玩家人次",
        "收入",
        "充值",
    ];
    let t = &o.totals;
    let row = vec![
        Cell::Int(o.operators),
        Cell::Int(o.active_operators),
        Cell::Int(t.sessions),
        Cell::Int(t.players),
        Cell::Money(t.cost),
        Cell::Money(o.recharged),
    ];
    Table::new("总览", &header, vec![row])
}

/// Cross-table cells as rows: the row's and column's key and name, then the totals.
fn cell_rows(cells: &[insights::Cell], with_col_name: bool) -> Vec<Vec<Cell>> {
    cells
        .iter()
        .map(|c| {
            let mut r: Vec<Cell> = vec![
                c.row.0.as_str().into(),
                c.row.1.as_str().into(),
                c.col.0.as_str().into(),
            ];
            if with_col_name {
                r.push(c.col.1.as_str().into());
            }
            r.extend(totals_cells(&c.totals));
            r
        })
        .collect()
}

fn operator_app_table(cells: &[insights::Cell]) -> Table {
    let header = [
        "运营商ID",
        "运营商名称",
        "应用ID",
        "应用名称",
        "游戏场次",
        "玩家人次",
        "收入",
    ];
    Table::new("运营商×应用", &header, cell_rows(cells, true))
}

fn bucket_table(cells: &[insights::Cell]) -> Table {
    let header = [
        "应用ID",
        "应用名称",
        "人数段",
        "游戏场次",
        "玩家人次",
        "收入",
    ];
    Table::new("应用×玩家人数（明细）", &header, cell_rows(cells, false))
}

fn site_day_table(days: &[(String, String, i64, Totals)]) -> Table {
    let header = ["场地ID", "场地名称", "日期", "游戏场次", "玩家人次", "收入"];
    let rows = days.iter().map(|(id, name, day, t)| {
        let date = bucket_date(*day, Dimension::Day)
            .format("%Y-%m-%d")
            .to_string();
        let mut r: Vec<Cell> = vec![id.as_str().into(), name.as_str().into(), date.into()];
        r.extend(totals_cells(t));
        r
    });
    Table::new("场地×日期", &header, rows.collect())
}

/// Most rows one export holds (FR-039 / NFR-004 plan for 100,000).
pub const EXPORT_MAX_ROWS: i64 = 100_000;

/// The operator's usage records in a window as CSV or XLSX (FR-039; `format` required).
/// Errors: 400 `INVALID_PARAMS` (format, window, more than 100,000 records: narrow the window).
#[utoipa::path(get, path = "/operators/me/usage-records/export", tag = "operator", params(InsightQuery), responses((status = 200, description = "the file"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn export_usage_records(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<InsightQuery>,
) -> Result<Response, AppError> {
    let format = q.format.as_deref().unwrap_or("");
    if !matches!(format, "csv" | "xlsx") {
        return Err(invalid_field("format", "csv or xlsx"));
    }
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let rows = crate::store::usage::in_window(
        &s.core.db,
        &op.operator_id,
        (from, to),
        EXPORT_MAX_ROWS + 1,
    )
    .await?;
    if rows.len() as i64 > EXPORT_MAX_ROWS {
        return Err(invalid_field(
            "end_time",
            "more than 100000 records: narrow the window",
        ));
    }
    let rows = rows.into_iter().map(|(u, site, app)| {
        vec![
            u.usage_id.into(),
            u.session_id.into(),
            site.into(),
            app.into(),
            Cell::Int(u.player_count),
            Cell::Money(u.unit_price_fen),
            Cell::Money(u.total_cost_fen),
            rfc3339_ms(u.created_at).into(),
        ]
    });
    let header = [
        "使用记录ID",
        "会话ID",
        "场地",
        "应用",
        "玩家人数",
        "单价",
        "消费金额",
        "时间",
    ];
    let t = Table::new("使用记录", &header, rows.collect());
    file(format, "usage-records", &[t])
}
