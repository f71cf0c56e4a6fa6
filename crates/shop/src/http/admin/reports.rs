//! `/v1/admin/reports`: the daily report.

use crate::auth::{Permission, ShopAdmin};
use axum::extract::State;
use serde::Deserialize;
use suanpan_core::AppResult;
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiQuery};
use suanpan_core::time::china_day_range;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::store::{self, DailyReport};

/// Report parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Day (`YYYY-MM-DD`, UTC+08:00); today if absent.
    pub date: Option<chrono::NaiveDate>,
}

/// Daily report: orders, GMV, refunds and payment success rate for one day.
#[utoipa::path(get, path = "/v1/admin/reports/daily", tag = "admin", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = DailyReport), (status = 403, body = ErrorBody)))]
pub async fn daily(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> AppResult<ApiJson<DailyReport>> {
    admin.require(Permission::ViewReports)?;
    let day = q.date.unwrap_or_else(suanpan_core::time::china_today);
    let (start, end) = china_day_range(day);
    let db = &s.core.db;
    Ok(ApiJson(
        store::daily_report(
            db.reader(),
            db.dialect,
            &day.format("%Y-%m-%d").to_string(),
            start,
            end,
        )
        .await?,
    ))
}

/// `/v1/admin/reports` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(daily))
}
