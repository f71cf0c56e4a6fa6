//! Finance reports (`mr_reports`; contract `FinanceReport`) and the sums they are made of.

use sqlx::Row;
use suanpan_core::db::{Arg, Db, Dialect, Tx, opt_text, text};
use suanpan_core::{AppError, sql};

/// A report without its files.
#[derive(Clone, Debug)]
pub struct Report {
    /// Public id (`rpt_{yyyymmdd}_{8}`).
    pub report_id: String,
    /// `daily|weekly|monthly|custom`.
    pub report_type: String,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub start_date: String,
    /// Last day, inclusive.
    pub end_date: String,
    /// `pdf` or `excel`.
    pub format: String,
    /// The sections, comma-separated.
    pub sections: String,
    /// `generating|completed|failed`.
    pub status: String,
    /// Bytes of the file.
    pub file_size: Option<i64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// The finance account's id.
    pub created_by: String,
    /// When asked (ms).
    pub created_at: i64,
    /// When finished (ms).
    pub completed_at: Option<i64>,
}

const SELECT: &str = "SELECT report_id, report_type, start_date, end_date, format, sections, status, file_size, error_message, created_by, created_at, completed_at FROM mr_reports";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Report, sqlx::Error> {
    Ok(Report {
        report_id: text(r, 0)?,
        report_type: text(r, 1)?,
        start_date: text(r, 2)?,
        end_date: text(r, 3)?,
        format: text(r, 4)?,
        sections: text(r, 5)?,
        status: text(r, 6)?,
        file_size: r.try_get(7)?,
        error_message: opt_text(r, 8)?,
        created_by: text(r, 9)?,
        created_at: r.try_get(10)?,
        completed_at: r.try_get(11)?,
    })
}

/// Inserts a finished report with its file and CSV (inside `tx`, with its audit row).
pub async fn insert(
    tx: &mut Tx,
    d: Dialect,
    r: &Report,
    (content, csv): (&[u8], &[u8]),
) -> Result<(), AppError> {
    sqlx::query(sql!(d, "INSERT INTO mr_reports (report_id, report_type, start_date, end_date, format, sections, status, file_size, error_message, content, csv_content, created_by, created_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
        .bind(r.report_id.clone())
        .bind(r.report_type.clone())
        .bind(r.start_date.clone())
        .bind(r.end_date.clone())
        .bind(r.format.clone())
        .bind(r.sections.clone())
        .bind(r.status.clone())
        .bind(r.file_size)
        .bind(r.error_message.clone())
        .bind(content.to_vec())
        .bind(csv.to_vec())
        .bind(r.created_by.clone())
        .bind(r.created_at)
        .bind(r.completed_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A page of reports, newest first, of one type (`None`: all), and the total.
pub async fn page(
    db: &Db,
    report_type: Option<&str>,
    window: (i64, i64),
) -> Result<(Vec<Report>, i64), AppError> {
    let t = report_type.unwrap_or("");
    let args: Vec<Arg> = vec![t.into(), t.into()];
    let filter = "(? = '' OR report_type = ?)";
    let (rows, total) = super::page_rows(
        db,
        (SELECT, "mr_reports"),
        (filter, "id DESC"),
        args,
        window,
    )
    .await?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// `(format, file)` of a completed report: its PDF or XLSX, or its CSV when `csv`.
pub async fn file(
    db: &Db,
    report_id: &str,
    csv: bool,
) -> Result<Option<(String, Vec<u8>)>, AppError> {
    let q = match csv {
        true => sql!(
            db.dialect,
            "SELECT format, csv_content FROM mr_reports WHERE report_id = ? AND status = 'completed'"
        ),
        false => sql!(
            db.dialect,
            "SELECT format, content FROM mr_reports WHERE report_id = ? AND status = 'completed'"
        ),
    };
    let row = sqlx::query(q)
        .bind(report_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<Vec<u8>>, _>(1)?
            .map(|b| Ok::<_, sqlx::Error>((text(&r, 0)?, b)))
            .transpose()?,
        None => None,
    })
}

/// Per application across all operators in `[from, to)`: `(app_id, app_name, sessions,
/// players, cost fen)`, most cost first.
pub async fn usage_by_app(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64, i64, i64)>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT u.app_id, a.app_name, CAST(COUNT(*) AS {{INT}}), CAST(SUM(u.player_count) AS {{INT}}), CAST(SUM(u.total_cost_fen) AS {{INT}}) AS cost FROM mr_usage_records u JOIN mr_applications a ON a.app_id = u.app_id WHERE u.created_at >= ? AND u.created_at < ? GROUP BY u.app_id, a.app_name ORDER BY cost DESC, u.app_id"))
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                text(r, 0)?,
                text(r, 1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// Refund requests reviewed in `[from, to)`: `(refund_id, operator name, status, actual fen,
/// offline fen, reviewed at)`, oldest first.
pub async fn reviewed_refunds(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, String, i64, i64, i64)>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT r.refund_id, o.name, r.status, COALESCE(r.actual_fen, 0), r.offline_fen, r.reviewed_at FROM mr_refunds r JOIN mr_operators o ON o.operator_id = r.operator_id WHERE r.reviewed_at >= ? AND r.reviewed_at < ? ORDER BY r.reviewed_at, r.id"))
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                text(r, 0)?,
                text(r, 1)?,
                text(r, 2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}
