//! Messages to operators (contract `Message`): kinds `system` (announcements), `price_change`,
//! `balance_low`, `authorization`.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, text};
use suanpan_core::{AppError, sql};

/// A message's row.
#[derive(Clone, Debug)]
pub struct Message {
    /// Public id.
    pub message_id: String,
    /// `system|price_change|balance_low|authorization`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Body.
    pub content: String,
    /// When it was read (ms).
    pub read_at: Option<i64>,
    /// When it was sent (ms).
    pub created_at: i64,
}

/// Adds one message per operator in `to` to `b` (one statement each).
pub fn push_send(
    b: &mut Batch,
    d: Dialect,
    to: &[String],
    kind: &str,
    title: &str,
    content: &str,
    now: i64,
) {
    for op in to {
        let id = format!(
            "msg{}",
            suanpan_core::ids::random_alnum(14).to_ascii_lowercase()
        );
        let args: Vec<Arg> = vec![
            id.into(),
            op.as_str().into(),
            kind.into(),
            title.into(),
            content.into(),
            now.into(),
        ];
        b.push(
            sql!(d, "INSERT INTO mr_messages (message_id, operator_id, kind, title, content, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
            args,
        );
    }
}

/// A page of the operator's messages, newest first, with the total and the unread count.
pub async fn page(
    db: &Db,
    operator_id: &str,
    unread_only: bool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Message>, i64, i64), AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT message_id, kind, title, content, read_at, created_at FROM mr_messages WHERE operator_id = ? AND (? = 0 OR read_at IS NULL) ORDER BY id DESC LIMIT ? OFFSET ?"))
        .bind(operator_id)
        .bind(i64::from(unread_only))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    let counts = sqlx::query(sql!(d, "SELECT CAST(COUNT(*) AS {{INT}}), CAST(COALESCE(SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), 0) AS {{INT}}) FROM mr_messages WHERE operator_id = ?"))
        .bind(operator_id)
        .fetch_one(db.reader())
        .await?;
    let (all, unread): (i64, i64) = (counts.try_get(0)?, counts.try_get(1)?);
    let items = rows
        .iter()
        .map(|r| {
            Ok(Message {
                message_id: text(r, 0)?,
                kind: text(r, 1)?,
                title: text(r, 2)?,
                content: text(r, 3)?,
                read_at: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, if unread_only { unread } else { all }, unread))
}

/// Marks the operator's message read (once: a second call keeps the first time). False when
/// the operator has no such message.
pub async fn mark_read(
    db: &Db,
    operator_id: &str,
    message_id: &str,
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    sqlx::query(sql!(d, "UPDATE mr_messages SET read_at = ? WHERE message_id = ? AND operator_id = ? AND read_at IS NULL"))
        .bind(now)
        .bind(message_id)
        .bind(operator_id)
        .execute(db.writer())
        .await?;
    let found: i64 = sqlx::query(sql!(
        d,
        "SELECT COUNT(*) FROM mr_messages WHERE message_id = ? AND operator_id = ?"
    ))
    .bind(message_id)
    .bind(operator_id)
    .fetch_one(db.reader())
    .await?
    .try_get(0)?;
    Ok(found > 0)
}
