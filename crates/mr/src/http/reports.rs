//! `/finance/reports*`: generate, list and download finance reports (contract
//! `generateFinanceReport`, `getFinanceReports`, `downloadFinanceReport`; finance only).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use suanpan_core::error::AppError;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operators::page_window;
use super::rfc3339_ms;
use crate::MrState;
use crate::auth::{MrStaff, Role};
use crate::envelope::{code, invalid_field};
use crate::service::reports::{self, ReportRequest};
use crate::store::reports::{Report, file, page};

/// The routes of this prefix.
pub fn routes() -> OpenApiRouter<MrState> {
    OpenApiRouter::new()
        .routes(routes!(generate_finance_report))
        .routes(routes!(get_finance_reports))
        .routes(routes!(download_finance_report))
}

/// A report request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GenerateBody {
    /// `daily`, `weekly`, `monthly` or `custom`.
    pub report_type: String,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub start_date: String,
    /// Last day, inclusive; at most 366 days after the first.
    pub end_date: String,
    /// `pdf` or `excel` (XLSX).
    pub format: String,
    /// Some of `income_summary`, `top_customers`, `usage_statistics`, `refund_summary`
    /// (default: all).
    pub include_sections: Option<Vec<String>>,
}

fn download_url(s: &MrState, id: &str) -> String {
    format!(
        "{}/mr/v1/finance/reports/{id}/download",
        s.core.config.public_base_url.trim_end_matches('/')
    )
}

fn view(s: &MrState, r: &Report) -> Value {
    json!({
        "report_id": r.report_id,
        "report_type": r.report_type,
        "start_date": r.start_date,
        "end_date": r.end_date,
        "format": r.format,
        "status": r.status,
        "file_size": r.file_size,
        "download_url": (r.status == "completed").then(|| download_url(s, &r.report_id)),
        "error_message": r.error_message,
        "created_by": r.created_by,
        "created_at": rfc3339_ms(r.created_at),
        "completed_at": r.completed_at.map(rfc3339_ms),
    })
}

/// Generates a report now (it is `completed` in the answer; `estimated_time` 0). Errors: 400
/// `INVALID_PARAMS`, 401, 403.
#[utoipa::path(post, path = "/finance/reports/generate", tag = "finance", request_body = GenerateBody, responses((status = 201, description = "generated"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn generate_finance_report(
    State(s): State<MrState>,
    who: MrStaff,
    ApiJson(b): ApiJson<GenerateBody>,
) -> Result<Response, AppError> {
    who.require(Role::Finance)?;
    let req = ReportRequest {
        report_type: b.report_type,
        start_date: b.start_date,
        end_date: b.end_date,
        format: b.format,
        include_sections: b.include_sections,
    };
    let r = reports::generate(&s, &who.staff.actor(), &req).await?;
    let body = json!({"success": true, "message": "报表已生成", "data": {"report_id": r.report_id, "status": r.status, "estimated_time": 0, "download_url": download_url(&s, &r.report_id)}});
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Query of the report list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportsQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// 1..100, default 20.
    pub page_size: Option<i64>,
    /// `daily`, `weekly`, `monthly`, `custom` or `all` (default).
    pub report_type: Option<String>,
}

/// The reports generated, newest first (contract `Page<FinanceReport>`).
#[utoipa::path(get, path = "/finance/reports", tag = "finance", params(ReportsQuery), responses((status = 200, description = "page"), (status = 400, description = "INVALID_PARAMS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED")))]
pub async fn get_finance_reports(
    State(s): State<MrState>,
    who: MrStaff,
    ApiQuery(q): ApiQuery<ReportsQuery>,
) -> Result<axum::Json<Value>, AppError> {
    who.require(Role::Finance)?;
    let (page_no, size, limit, offset) = page_window(q.page, q.page_size)?;
    let kind = match q.report_type.as_deref() {
        None | Some("all") => None,
        Some(k @ ("daily" | "weekly" | "monthly" | "custom")) => Some(k),
        Some(_) => {
            return Err(invalid_field(
                "report_type",
                "daily, weekly, monthly, custom or all",
            ));
        }
    };
    let (rows, total) = page(&s.core.db, kind, (limit, offset)).await?;
    let items: Vec<Value> = rows.iter().map(|r| view(&s, r)).collect();
    Ok(axum::Json(
        json!({"page": page_no, "page_size": size, "total": total, "items": items}),
    ))
}

/// Query of a download.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DownloadQuery {
    /// Beyond the contract: `csv` for the same tables as CSV (UTF-8 with a byte-order mark, as
    /// Excel reads Chinese); absent: the report's own PDF or XLSX.
    pub format: Option<String>,
}

/// The report's file: PDF or XLSX as generated, or `?format=csv`. Errors: 404
/// `REPORT_NOT_READY` (unknown or not completed), 400 for another `format`.
#[utoipa::path(get, path = "/finance/reports/{report_id}/download", tag = "finance", params(("report_id" = String, Path), DownloadQuery),
    responses((status = 200, description = "the file", content(("application/pdf"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "PERMISSION_DENIED"), (status = 404, description = "REPORT_NOT_READY")))]
pub async fn download_finance_report(
    State(s): State<MrState>,
    who: MrStaff,
    ApiPath(report_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DownloadQuery>,
) -> Result<Response, AppError> {
    who.require(Role::Finance)?;
    let csv = match q.format.as_deref() {
        None => false,
        Some("csv") => true,
        Some(_) => {
            return Err(invalid_field(
                "format",
                "csv, or none for the report's own file",
            ));
        }
    };
    let (format, bytes) = file(&s.core.db, &report_id, csv).await?.ok_or_else(|| {
        AppError::not_found(
            code::REPORT_NOT_READY,
            "报表尚未生成完成或不存在 (no such completed report)",
        )
    })?;
    let (mime, ext) = match (csv, format.as_str()) {
        (true, _) => ("text/csv; charset=utf-8", "csv"),
        (false, "pdf") => ("application/pdf", "pdf"),
        _ => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    Ok(super::attachment(
        bytes,
        mime,
        &format!("{report_id}.{ext}"),
    ))
}
