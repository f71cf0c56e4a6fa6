//! `/operators/me/statistics/*`: the operator's consumption by time, app and site (contract
//! `getConsumptionStatistics`, `getStatisticsByApp`, `getStatisticsBySite`). Days are business
//! days in Asia/Shanghai; buckets without sessions are left out.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use suanpan_core::error::AppError;
use suanpan_core::http::ApiQuery;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AuthOperator, success};
use crate::MrState;
use crate::domain::{Dimension, average, buckets, yuan};
use crate::envelope::invalid_field;
use crate::store::stats;

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(get_consumption_statistics))
        .routes(routes!(get_statistics_by_app))
        .routes(routes!(get_statistics_by_site))
}

/// A time window and, for consumption, the bucket size.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatsQuery {
    /// From (RFC 3339, inclusive); default: the beginning.
    pub start_time: Option<String>,
    /// To (RFC 3339, exclusive); default: now and later.
    pub end_time: Option<String>,
    /// `day` (default), `week` or `month`.
    pub dimension: Option<String>,
}

/// The window in ms; 400 `INVALID_PARAMS` for a time that is not RFC 3339.
pub fn window(start: Option<&str>, end: Option<&str>) -> Result<(i64, i64), AppError> {
    let ms = |field: &str, t: Option<&str>, default: i64| match t {
        None => Ok(default),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|_| invalid_field(field, "an RFC 3339 date-time")),
    };
    Ok((ms("start_time", start, 0)?, ms("end_time", end, i64::MAX)?))
}

/// Sessions, players and cost per day, ISO week (dated by its Monday) or month (its first
/// day), with the window's summary.
#[utoipa::path(get, path = "/operators/me/statistics/consumption", tag = "operator", params(StatsQuery), responses((status = 200, description = "chart data"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_consumption_statistics(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, AppError> {
    let dim = match q.dimension.as_deref() {
        None => Dimension::Day,
        Some(t) => {
            Dimension::parse(t).ok_or_else(|| invalid_field("dimension", "day, week or month"))?
        }
    };
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let days: Vec<(i64, i64, i64, i64)> = stats::daily(&s.core.db, &op.operator_id, from, to)
        .await?
        .into_iter()
        .map(|(d, t)| (d, t.sessions, t.players, t.cost))
        .collect();
    let chart: Vec<_> = buckets(&days, dim)
        .into_iter()
        .map(|(date, sessions, players, cost)| json!({"date": date.to_string(), "total_sessions": sessions, "total_players": players, "total_cost": yuan(cost)}))
        .collect();
    let (sessions, players, cost) = days
        .iter()
        .fold((0, 0, 0), |a, d| (a.0 + d.1, a.1 + d.2, a.2 + d.3));
    Ok(success(
        StatusCode::OK,
        json!({
            "dimension": dim.as_str(),
            "chart_data": chart,
            "summary": {"total_sessions": sessions, "total_players": players, "total_cost": yuan(cost), "avg_players_per_session": average(players, sessions)},
        }),
    ))
}

/// Per application in the window, most cost first.
#[utoipa::path(get, path = "/operators/me/statistics/by-app", tag = "operator", params(StatsQuery), responses((status = 200, description = "per application"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_statistics_by_app(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let rows = stats::by_app(&s.core.db, &op.operator_id, from, to).await?;
    let apps: Vec<_> = rows
        .iter()
        .map(|(id, name, t)| json!({"app_id": id, "app_name": name, "total_sessions": t.sessions, "total_players": t.players, "avg_players_per_session": average(t.players, t.sessions), "total_cost": yuan(t.cost)}))
        .collect();
    Ok(success(StatusCode::OK, json!({"applications": apps})))
}

/// Per site in the window, most cost first.
#[utoipa::path(get, path = "/operators/me/statistics/by-site", tag = "operator", params(StatsQuery), responses((status = 200, description = "per site"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED")))]
pub async fn get_statistics_by_site(
    State(s): State<MrState>,
    AuthOperator(op): AuthOperator,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, AppError> {
    let (from, to) = window(q.start_time.as_deref(), q.end_time.as_deref())?;
    let rows = stats::by_site(&s.core.db, &op.operator_id, from, to).await?;
    let sites: Vec<_> = rows
        .iter()
        .map(|(id, name, t)| json!({"site_id": id, "site_name": name, "total_sessions": t.sessions, "total_players": t.players, "total_cost": yuan(t.cost)}))
        .collect();
    Ok(success(StatusCode::OK, json!({"sites": sites})))
}
