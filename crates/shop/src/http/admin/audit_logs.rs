//! `/v1/admin/audit-logs`: the audit log.

use axum::extract::State;
use suanpan_core::AppResult;
use suanpan_core::audit::{self, AuditFilter, AuditRecord};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ShopState;
use crate::auth::{Permission, ShopAdmin};

/// Audit log, newest first (roles admin, finance).
#[utoipa::path(get, path = "/v1/admin/audit-logs", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, body = [AuditRecord]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_logs(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> AppResult<ApiJson<Vec<AuditRecord>>> {
    admin.require(Permission::ViewAudit)?;
    let db = &s.core.db;
    Ok(ApiJson(audit::query(db.reader(), db.dialect, &f).await?))
}

/// `/v1/admin/audit-logs` routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new().routes(routes!(audit_logs))
}
