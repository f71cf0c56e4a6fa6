//! Operators' app requests (contract `AppRequest`, `AppRequestAdmin`): `pending` → `approved`
//! (the authorization becomes active in the same transaction) or `rejected`.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, opt_text, text};
use suanpan_core::{AppError, sql};

/// A request with the names the lists show.
#[derive(Clone, Debug)]
pub struct Request {
    /// Public id.
    pub request_id: String,
    /// Operator.
    pub operator_id: String,
    /// Operator's name.
    pub operator_name: String,
    /// Operator's category.
    pub operator_category: String,
    /// App.
    pub app_id: String,
    /// App's name.
    pub app_name: String,
    /// Why.
    pub reason: String,
    /// `pending|approved|rejected`.
    pub status: String,
    /// Why not.
    pub reject_reason: Option<String>,
    /// The reviewing admin's id.
    pub reviewed_by: Option<String>,
    /// When reviewed (ms).
    pub reviewed_at: Option<i64>,
    /// When made (ms).
    pub created_at: i64,
}

/// Inserts a pending request unless the operator has one pending for the app (false then).
pub async fn insert(
    db: &Db,
    request_id: &str,
    operator_id: &str,
    app_id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    let n = sqlx::query(sql!(d, "INSERT INTO mr_app_requests (request_id, operator_id, app_id, reason, status, created_at) SELECT ?, ?, ?, ?, 'pending', ? FROM mr_operators WHERE operator_id = ? AND NOT EXISTS (SELECT 1 FROM mr_app_requests r WHERE r.operator_id = ? AND r.app_id = ? AND r.status = 'pending')"))
        .bind(request_id)
        .bind(operator_id)
        .bind(app_id)
        .bind(reason)
        .bind(now)
        .bind(operator_id)
        .bind(operator_id)
        .bind(app_id)
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A page of requests, newest first, of one operator (`Some`) or all, of one status (`None`:
/// all), and the total.
pub async fn page(
    db: &Db,
    operator_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Request>, i64), AppError> {
    let filter = "(? = '' OR r.operator_id = ?) AND (? = '' OR r.status = ?)";
    let (op, st) = (operator_id.unwrap_or(""), status.unwrap_or(""));
    let args: Vec<Arg> = vec![op.into(), op.into(), st.into(), st.into()];
    let select = "SELECT r.request_id, r.operator_id, o.name, o.category, r.app_id, a.app_name, r.reason, r.status, r.reject_reason, r.reviewed_by, r.reviewed_at, r.created_at FROM mr_app_requests r JOIN mr_operators o ON o.operator_id = r.operator_id JOIN mr_applications a ON a.app_id = r.app_id";
    let (rows, total) = super::page_rows(
        db,
        (select, "mr_app_requests r"),
        (filter, "r.id DESC"),
        args,
        (limit, offset),
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Request {
                request_id: text(r, 0)?,
                operator_id: text(r, 1)?,
                operator_name: text(r, 2)?,
                operator_category: text(r, 3)?,
                app_id: text(r, 4)?,
                app_name: text(r, 5)?,
                reason: text(r, 6)?,
                status: text(r, 7)?,
                reject_reason: opt_text(r, 8)?,
                reviewed_by: opt_text(r, 9)?,
                reviewed_at: r.try_get(10)?,
                created_at: r.try_get(11)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}

/// `(operator_id, app_id, status)` of a request.
pub async fn one(db: &Db, request_id: &str) -> Result<Option<(String, String, String)>, AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(
        d,
        "SELECT operator_id, app_id, status FROM mr_app_requests WHERE request_id = ?"
    ))
    .bind(request_id)
    .fetch_optional(db.reader())
    .await?;
    Ok(match row {
        Some(r) => Some((text(&r, 0)?, text(&r, 1)?, text(&r, 2)?)),
        None => None,
    })
}

/// Adds the review of a pending request to `b` (a guard: it is still pending).
pub fn push_review(
    b: &mut Batch,
    d: Dialect,
    request_id: &str,
    approved: bool,
    reject_reason: Option<&str>,
    admin_id: &str,
    now: i64,
) -> usize {
    let status = if approved { "approved" } else { "rejected" };
    b.guard(
        sql!(d, "UPDATE mr_app_requests SET status = ?, reject_reason = ?, reviewed_by = ?, reviewed_at = ? WHERE request_id = ? AND status = 'pending'"),
        vec![status.into(), reject_reason.map_or(Arg::NullText, Arg::from), admin_id.into(), now.into(), request_id.into()],
    )
}
