//! Operators (venue owners) and their API keys.

use sqlx::Row;
use suanpan_core::db::{Arg, Batch, Db, Dialect, bind_all, text};
use suanpan_core::{AppError, sql};

/// An operator's row.
#[derive(Clone, Debug)]
pub struct Operator {
    /// Public id (letters and digits).
    pub operator_id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Mobile number.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// `trial|normal|vip`.
    pub category: String,
    /// The API key, sealed ([`crate::apikey::KeySeal`]).
    pub api_key_sealed: String,
    /// When the key was issued (ms).
    pub api_key_generated_at: i64,
    /// True when the operator must sign with version 2.
    pub require_signature_v2: bool,
    /// Logically deleted.
    pub is_deactivated: bool,
    /// When the abuse guard locked it (FR-056; ms), until an admin unlocks it.
    pub locked_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "operator_id, username, name, phone, email, category, api_key_sealed, api_key_generated_at, require_signature_v2, is_deactivated, created_at, updated_at, locked_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Operator, sqlx::Error> {
    Ok(Operator {
        operator_id: text(r, 0)?,
        username: text(r, 1)?,
        name: text(r, 2)?,
        phone: text(r, 3)?,
        email: text(r, 4)?,
        category: text(r, 5)?,
        api_key_sealed: text(r, 6)?,
        api_key_generated_at: r.try_get(7)?,
        require_signature_v2: r.try_get::<i64, _>(8)? != 0,
        is_deactivated: r.try_get::<i64, _>(9)? != 0,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
        locked_at: r.try_get(12)?,
    })
}

async fn one(db: &Db, filter: &str, arg: &str) -> Result<Option<(Operator, String)>, AppError> {
    let q = db.dialect.prepare(&format!(
        "SELECT {COLUMNS}, password_hash FROM mr_operators WHERE {filter} = ?"
    ));
    let row = sqlx::query(&q)
        .bind(arg)
        .fetch_optional(db.reader())
        .await?;
    Ok(match row {
        Some(r) => Some((from_row(&r)?, text(&r, 13)?)),
        None => None,
    })
}

/// The operator named `username`, with its password hash.
pub async fn by_username(db: &Db, username: &str) -> Result<Option<(Operator, String)>, AppError> {
    one(db, "username", username).await
}

/// The operator `operator_id`, with its password hash.
pub async fn by_id(db: &Db, operator_id: &str) -> Result<Option<(Operator, String)>, AppError> {
    one(db, "operator_id", operator_id).await
}

/// Adds the insert of a new operator to `b` (with its key's index and sealed key).
pub fn push_insert(b: &mut Batch, d: Dialect, o: &Operator, password_hash: &str, key_index: &str) {
    let args: Vec<Arg> = vec![
        o.operator_id.clone().into(),
        o.username.clone().into(),
        password_hash.into(),
        o.name.clone().into(),
        o.phone.clone().into(),
        o.email.clone().into(),
        o.category.clone().into(),
        key_index.into(),
        o.api_key_sealed.clone().into(),
        o.api_key_generated_at.into(),
        i64::from(o.require_signature_v2).into(),
        o.created_at.into(),
        o.updated_at.into(),
    ];
    b.guard(
        sql!(
            d,
            "INSERT INTO mr_operators (operator_id, username, password_hash, name, phone, email, category, api_key_hash, api_key_sealed, api_key_generated_at, require_signature_v2, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        args,
    );
}

/// Balance, total recharged, total consumed (fen) and the last transaction's time (ms; the
/// account's opening when it has none) of an operator: three ledger rows by key, one point
/// read. Recharged is what came in: balance + consumed + refunded out.
pub async fn balance(db: &Db, operator_id: &str) -> Result<(i64, i64, i64, Option<i64>), AppError> {
    use suanpan_core::db::direct::Kind;
    let d = db.dialect;
    let q = sql!(
        d,
        "SELECT b.balance - b.pending_out, b.updated_at, COALESCE((SELECT r.balance FROM ledger_accounts r WHERE r.account = ?), 0), COALESCE((SELECT f.balance FROM ledger_accounts f WHERE f.account = ?), 0) FROM ledger_accounts b WHERE b.account = ?"
    );
    let args: Vec<Arg> = vec![
        crate::domain::revenue_account(operator_id).into(),
        crate::domain::refunds_account(operator_id).into(),
        crate::domain::balance_account(operator_id).into(),
    ];
    let kinds = [Kind::I64, Kind::I64, Kind::I64, Kind::I64];
    let Some(r) = db.point_row(q, &args, &kinds).await? else {
        return Ok((0, 0, 0, None));
    };
    let (balance, consumed, refunded) = (r[0].i64(), r[2].i64(), r[3].i64());
    Ok((
        balance,
        balance + consumed + refunded,
        consumed,
        Some(r[1].i64()),
    ))
}

/// The operator `operator_id` for an authenticated request, and whether the presented token
/// (by its hash) was logged out: one point read.
pub async fn for_request(
    db: &Db,
    operator_id: &str,
    token_hash: &str,
) -> Result<Option<(Operator, bool)>, AppError> {
    use suanpan_core::db::direct::Kind::{I64, OptI64, Text};
    let q = db.dialect.prepare(&format!(
        "SELECT {COLUMNS}, (SELECT COUNT(*) FROM mr_revoked_tokens t WHERE t.token_hash = ?) FROM mr_operators WHERE operator_id = ?"
    ));
    let kinds = [
        Text, Text, Text, Text, Text, Text, Text, I64, I64, I64, I64, I64, OptI64, I64,
    ];
    let args: Vec<Arg> = vec![token_hash.into(), operator_id.into()];
    let Some(r) = db.point_row(&q, &args, &kinds).await? else {
        return Ok(None);
    };
    let op = Operator {
        operator_id: r[0].text(),
        username: r[1].text(),
        name: r[2].text(),
        phone: r[3].text(),
        email: r[4].text(),
        category: r[5].text(),
        api_key_sealed: r[6].text(),
        api_key_generated_at: r[7].i64(),
        require_signature_v2: r[8].i64() != 0,
        is_deactivated: r[9].i64() != 0,
        created_at: r[10].i64(),
        updated_at: r[11].i64(),
        locked_at: r[12].opt_i64(),
    };
    Ok(Some((op, r[13].i64() > 0)))
}

/// Adds the replacement of an operator's API key to `b` (a guard: the operator exists).
pub fn push_new_key(
    b: &mut Batch,
    d: Dialect,
    operator_id: &str,
    index: &str,
    sealed: &str,
    now: i64,
) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_operators SET api_key_hash = ?, api_key_sealed = ?, api_key_generated_at = ?, updated_at = ? WHERE operator_id = ?"),
        vec![index.into(), sealed.into(), now.into(), now.into(), operator_id.into()],
    )
}

/// Updates the profile fields given (name, phone, e-mail); false when the operator does not
/// exist.
pub async fn update_profile(
    db: &Db,
    operator_id: &str,
    fields: [Option<&str>; 3],
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    let mut b = Batch::new();
    push_update_profile(&mut b, d, operator_id, fields, now);
    let mut conn = db.writer().acquire().await?;
    Ok(b.execute(&mut conn, d).await?.failed_guard.is_none())
}

/// An operator as the admin's list shows it: the row, its balance and its total consumption.
pub type Summary = (Operator, i64, i64);

/// Filters of the admin's operator list.
#[derive(Clone, Debug, Default)]
pub struct ListFilter<'a> {
    /// One category, or all.
    pub category: Option<&'a str>,
    /// Part of the username, name, phone or e-mail.
    pub keyword: Option<&'a str>,
    /// Deactivated accounts too.
    pub include_deactivated: bool,
    /// `created_at`, `balance`, `total_consumed`, `username` or `name` (checked by the caller).
    pub sort_by: &'a str,
    /// Ascending.
    pub ascending: bool,
}

/// A page of operators with balances (two ledger rows each, joined by key), and the total.
pub async fn list(
    db: &Db,
    f: &ListFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Summary>, i64), AppError> {
    let d = db.dialect;
    let order = match f.sort_by {
        "balance" => "bal",
        "total_consumed" => "consumed",
        "username" => "o.username",
        "name" => "o.name",
        _ => "o.created_at",
    };
    let dir = if f.ascending { "ASC" } else { "DESC" };
    let filter = "(? = '' OR o.category = ?) AND (? = 1 OR o.is_deactivated = 0) AND (? = '' OR o.username LIKE ? ESCAPE '!' OR o.name LIKE ? ESCAPE '!' OR o.phone LIKE ? ESCAPE '!' OR o.email LIKE ? ESCAPE '!')";
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let q = d.prepare(&format!("SELECT {cols}, o.password_hash, COALESCE(b.balance - b.pending_out, 0) AS bal, COALESCE(r.balance, 0) AS consumed FROM mr_operators o LEFT JOIN ledger_accounts b ON b.account = {} LEFT JOIN ledger_accounts r ON r.account = {} WHERE {filter} ORDER BY {order} {dir}, o.id {dir} LIMIT ? OFFSET ?", concat_sql(d, "mr:operator:"), concat_sql(d, "mr:revenue:")));
    let (cat, kw) = (f.category.unwrap_or(""), f.keyword.unwrap_or(""));
    let like = suanpan_core::db::like_pattern(kw);
    let mut args: Vec<Arg> = vec![
        cat.into(),
        cat.into(),
        i64::from(f.include_deactivated).into(),
        kw.into(),
    ];
    args.extend(std::iter::repeat_n(like.as_str().into(), 4));
    let total: i64 = bind_all(
        sqlx::query(&d.prepare(&format!(
            "SELECT COUNT(*) FROM mr_operators o WHERE {filter}"
        ))),
        &args,
    )
    .fetch_one(db.reader())
    .await?
    .try_get(0)?;
    args.extend([limit.into(), offset.into()]);
    let rows = bind_all(sqlx::query(&q), &args)
        .fetch_all(db.reader())
        .await?;
    let items = rows
        .iter()
        .map(|r| Ok((from_row(r)?, r.try_get(14)?, r.try_get(15)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}

/// `'{prefix}' || o.operator_id` in the dialect (MySQL has `CONCAT`).
pub(crate) fn concat_sql(d: Dialect, prefix: &str) -> String {
    match d {
        Dialect::MySql => format!("CONCAT('{prefix}', o.operator_id)"),
        _ => format!("'{prefix}' || o.operator_id"),
    }
}

/// Counts for the admin's operator details: `(sessions, active authorizations at now, live
/// sites)`.
pub async fn counts(db: &Db, operator_id: &str, now: i64) -> Result<(i64, i64, i64), AppError> {
    let d = db.dialect;
    let r = sqlx::query(sql!(d, "SELECT (SELECT COUNT(*) FROM mr_usage_records WHERE operator_id = ?), (SELECT COUNT(*) FROM mr_authorizations WHERE operator_id = ? AND is_active = 1 AND (expires_at IS NULL OR expires_at > ?)), (SELECT COUNT(*) FROM mr_sites WHERE operator_id = ? AND is_deleted = 0)"))
        .bind(operator_id)
        .bind(operator_id)
        .bind(now)
        .bind(operator_id)
        .fetch_one(db.reader())
        .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

/// Adds the change of an operator's category to `b` (a guard: the operator exists).
pub fn push_set_category(
    b: &mut Batch,
    d: Dialect,
    operator_id: &str,
    category: &str,
    now: i64,
) -> usize {
    b.guard(
        sql!(
            d,
            "UPDATE mr_operators SET category = ?, updated_at = ? WHERE operator_id = ?"
        ),
        vec![category.into(), now.into(), operator_id.into()],
    )
}

/// Adds the update of the profile fields given to `b` (a guard: the operator exists).
pub fn push_update_profile(
    b: &mut Batch,
    d: Dialect,
    operator_id: &str,
    fields: [Option<&str>; 3],
    now: i64,
) -> usize {
    let arg = |v: Option<&str>| v.map_or(Arg::NullText, Arg::from);
    b.guard(
        sql!(d, "UPDATE mr_operators SET name = COALESCE(?, name), phone = COALESCE(?, phone), email = COALESCE(?, email), updated_at = ? WHERE operator_id = ?"),
        vec![arg(fields[0]), arg(fields[1]), arg(fields[2]), now.into(), operator_id.into()],
    )
}

/// The ids of every operator that is not deactivated, oldest first.
pub async fn active_ids(db: &Db) -> Result<Vec<String>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(
        d,
        "SELECT operator_id FROM mr_operators WHERE is_deactivated = 0 ORDER BY id"
    ))
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| text(r, 0))
        .collect::<Result<_, _>>()
        .map_err(AppError::from)
}

/// Adds the logical deletion of an operator to `b` (a guard: it exists and is active).
pub fn push_deactivate(b: &mut Batch, d: Dialect, operator_id: &str, now: i64) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_operators SET is_deactivated = 1, updated_at = ? WHERE operator_id = ? AND is_deactivated = 0"),
        vec![now.into(), operator_id.into()],
    )
}

/// Locks the operators behind the API key indexes `key_indexes` (FR-056) that are active and
/// not locked yet; returns their ids.
pub async fn lock_by_keys(
    tx: &mut suanpan_core::db::Tx,
    d: Dialect,
    key_indexes: &[String],
    reason: &str,
    now: i64,
) -> Result<Vec<String>, AppError> {
    let mut locked = Vec::new();
    for k in key_indexes {
        let row = sqlx::query(sql!(d, "SELECT operator_id FROM mr_operators WHERE api_key_hash = ? AND is_deactivated = 0 AND locked_at IS NULL"))
            .bind(k)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(r) = row else { continue };
        let id = text(&r, 0)?;
        let n = sqlx::query(sql!(d, "UPDATE mr_operators SET locked_at = ?, lock_reason = ?, updated_at = ? WHERE operator_id = ? AND locked_at IS NULL"))
            .bind(now)
            .bind(reason)
            .bind(now)
            .bind(&id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if n == 1 {
            locked.push(id);
        }
    }
    Ok(locked)
}

/// Adds an admin's unlock of a locked operator to `b` (a guard: it is locked).
pub fn push_unlock(b: &mut Batch, d: Dialect, operator_id: &str, now: i64) -> usize {
    b.guard(
        sql!(d, "UPDATE mr_operators SET locked_at = NULL, lock_reason = NULL, updated_at = ? WHERE operator_id = ? AND locked_at IS NOT NULL"),
        vec![now.into(), operator_id.into()],
    )
}

/// Why an operator was locked (`None`: not locked or unknown).
pub async fn lock_reason(db: &Db, operator_id: &str) -> Result<Option<String>, AppError> {
    let row = sqlx::query(sql!(
        db.dialect,
        "SELECT lock_reason FROM mr_operators WHERE operator_id = ?"
    ))
    .bind(operator_id)
    .fetch_optional(db.reader())
    .await?;
    Ok(match row {
        Some(r) => suanpan_core::db::opt_text(&r, 0)?,
        None => None,
    })
}
