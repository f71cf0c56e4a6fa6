//! FR-057, the authorization audit: every authorization request with what it named, its
//! answer, its time and its client address. Charged sessions are the usage records (with
//! `client_ip`); every other answer (refused, or a replay) is an `mr_auth_events` row. The reader
//! unites both.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, opt_text, text};
use suanpan_core::{AppError, sql};

/// One answered authorization request that charged nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthEvent {
    /// The key's operator, when the key was known.
    pub operator_id: Option<String>,
    /// `X-Session-ID` as sent.
    pub session_id: Option<String>,
    /// The body's site.
    pub site_id: Option<String>,
    /// The body's app.
    pub app_id: Option<String>,
    /// The body's players.
    pub player_count: Option<i64>,
    /// HTTP status of the answer.
    pub status: i64,
    /// The answer's `error_code`, or `replayed`.
    pub result: String,
    /// Client address.
    pub client_ip: Option<String>,
    /// When (ms).
    pub created_at: i64,
}

/// Adds the insert of `e` to `b`.
pub fn push_event(b: &mut Batch, d: Dialect, e: &AuthEvent) {
    b.push(
        sql!(d, "INSERT INTO mr_auth_events (operator_id, session_id, site_id, app_id, player_count, status, result, client_ip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        vec![
            e.operator_id.clone().into(),
            e.session_id.clone().into(),
            e.site_id.clone().into(),
            e.app_id.clone().into(),
            e.player_count.into(),
            e.status.into(),
            e.result.clone().into(),
            e.client_ip.clone().into(),
            e.created_at.into(),
        ],
    );
}

/// A filter of the audit reader.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    /// One operator.
    pub operator_id: Option<&'a str>,
    /// `authorized`, `replayed`, or an error code.
    pub result: Option<&'a str>,
    /// `[from, to)` in ms.
    pub window: (i64, i64),
}

/// A page of the audit, newest first: charged sessions (`authorized`, 200) and the rest.
pub async fn page(
    db: &Db,
    f: &Filter<'_>,
    window: (i64, i64),
) -> Result<(Vec<AuthEvent>, i64), AppError> {
    let union = "(SELECT operator_id, session_id, site_id, app_id, player_count, 200 AS status, 'authorized' AS result, client_ip, created_at FROM mr_usage_records UNION ALL SELECT operator_id, session_id, site_id, app_id, player_count, status, result, client_ip, created_at FROM mr_auth_events) t";
    let select = format!(
        "SELECT operator_id, session_id, site_id, app_id, player_count, status, result, client_ip, created_at FROM {union}"
    );
    let filter = "(? = '' OR operator_id = ?) AND (? = '' OR result = ?) AND created_at >= ? AND created_at < ?";
    let (op, r) = (f.operator_id.unwrap_or(""), f.result.unwrap_or(""));
    let args: Vec<Arg> = vec![
        op.into(),
        op.into(),
        r.into(),
        r.into(),
        f.window.0.into(),
        f.window.1.into(),
    ];
    let (rows, total) = super::page_rows(
        db,
        (&select, union),
        (filter, "created_at DESC"),
        args,
        window,
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AuthEvent {
                operator_id: opt_text(r, 0)?,
                session_id: opt_text(r, 1)?,
                site_id: opt_text(r, 2)?,
                app_id: opt_text(r, 3)?,
                player_count: r.try_get(4)?,
                status: r.try_get(5)?,
                result: text(r, 6)?,
                client_ip: opt_text(r, 7)?,
                created_at: r.try_get(8)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}
