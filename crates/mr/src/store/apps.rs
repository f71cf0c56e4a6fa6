//! Applications (games) and their per-operator authorizations.

use sqlx::Row;
use suanpan_core::db::{Db, opt_text, text};
use suanpan_core::{AppError, sql};

/// An application's row.
#[derive(Clone, Debug)]
pub struct App {
    /// Public id.
    pub app_id: String,
    /// Name.
    pub app_name: String,
    /// Price per player (fen).
    pub unit_price_fen: i64,
    /// Fewest players.
    pub min_players: i64,
    /// Most players.
    pub max_players: i64,
    /// Optional description.
    pub description: Option<String>,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

/// Renews an inactive or expired authorization (binds: now, expires_at, operator, app, now).
const RENEW_AUTHORIZATION: &str = "UPDATE mr_authorizations SET authorized_at = ?, expires_at = ?, is_active = 1 WHERE operator_id = ? AND app_id = ? AND (is_active = 0 OR (expires_at IS NOT NULL AND expires_at <= ?))";

/// Creates a missing authorization (binds: operator, app, now, expires_at, now).
const INSERT_AUTHORIZATION: &str = "{{INSERT_IGNORE}} INTO mr_authorizations (operator_id, app_id, authorized_at, expires_at, is_active, created_at) VALUES (?, ?, ?, ?, 1, ?){{ON_CONFLICT_IGNORE}}";

/// Inserts an application.
pub async fn insert(db: &Db, a: &App) -> Result<(), AppError> {
    let d = db.dialect;
    sqlx::query(sql!(d, "INSERT INTO mr_applications (app_id, app_name, unit_price_fen, min_players, max_players, description, is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"))
        .bind(&a.app_id)
        .bind(&a.app_name)
        .bind(a.unit_price_fen)
        .bind(a.min_players)
        .bind(a.max_players)
        .bind(a.description.as_deref())
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// The application `app_id`.
pub async fn by_id(db: &Db, app_id: &str) -> Result<Option<App>, AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(d, "SELECT app_id, app_name, unit_price_fen, min_players, max_players, description, created_at, updated_at FROM mr_applications WHERE app_id = ?"))
        .bind(app_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(app_from_row).transpose()?)
}

/// An [`App`] from the first eight columns `app_id, app_name, unit_price_fen, min_players,
/// max_players, description, created_at, updated_at`.
fn app_from_row(r: &sqlx::any::AnyRow) -> Result<App, sqlx::Error> {
    Ok(App {
        app_id: text(r, 0)?,
        app_name: text(r, 1)?,
        unit_price_fen: r.try_get(2)?,
        min_players: r.try_get(3)?,
        max_players: r.try_get(4)?,
        description: opt_text(r, 5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

/// Authorizes `operator_id` for `app_id` until `expires_at` (ms; `None`: permanent), renewing
/// an earlier authorization. Returns false when an active, unexpired one exists already.
pub async fn authorize(
    db: &Db,
    operator_id: &str,
    app_id: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<bool, AppError> {
    let d = db.dialect;
    let renewed = sqlx::query(sql!(d, RENEW_AUTHORIZATION))
        .bind(now)
        .bind(expires_at)
        .bind(operator_id)
        .bind(app_id)
        .bind(now)
        .execute(db.writer())
        .await?
        .rows_affected();
    if renewed == 1 {
        return Ok(true);
    }
    let inserted = sqlx::query(sql!(d, INSERT_AUTHORIZATION))
        .bind(operator_id)
        .bind(app_id)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// Everything an authorization request needs, read in one query by the API key's index: the
/// key's operator, the session's stored answer (if any), the app (name, price, player range),
/// whether the operator's authorization for it is active and unexpired at `now`, and whether
/// `site_id` is the operator's and not deleted.
#[derive(Clone, Debug)]
pub struct AuthorizeFacts {
    /// The key's operator.
    pub operator_id: String,
    /// It must sign with version 2.
    pub require_signature_v2: bool,
    /// It was deactivated.
    pub is_deactivated: bool,
    /// Locked by the abuse guard (FR-056).
    pub is_locked: bool,
    /// The operator's category (its low-balance threshold).
    pub category: String,
    /// The session's idempotency row `(request_hash, status_code, response_body)`, if any.
    pub stored: Option<(String, i64, String)>,
    /// The app `(name, unit price in fen, min players, max players)`, if it exists.
    pub app: Option<(String, i64, i64, i64)>,
    /// An active, unexpired authorization.
    pub authorized: bool,
    /// The site is the operator's and usable.
    pub site_ok: bool,
}

/// Reads [`AuthorizeFacts`]; `None` when no operator has this key.
pub async fn authorize_facts(
    db: &Db,
    key_index: &str,
    key: &suanpan_core::idempotency::Key,
    app_id: &str,
    site_id: &str,
    now: i64,
) -> Result<Option<AuthorizeFacts>, AppError> {
    let d = db.dialect;
    let q = sql!(
        d,
        "SELECT o.operator_id, o.require_signature_v2, o.is_deactivated, k.request_hash, k.status_code, k.response_body, a.app_name, a.unit_price_fen, a.min_players, a.max_players, (SELECT COUNT(*) FROM mr_authorizations z WHERE z.operator_id = o.operator_id AND z.app_id = ? AND z.is_active = 1 AND (z.expires_at IS NULL OR z.expires_at > ?)), (SELECT COUNT(*) FROM mr_sites s WHERE s.site_id = ? AND s.operator_id = o.operator_id AND s.is_deleted = 0), o.locked_at, o.category FROM mr_operators o LEFT JOIN idempotency_keys k ON k.scope = ? AND k.idem_key = ? LEFT JOIN mr_applications a ON a.app_id = ? AND a.is_active = 1 WHERE o.api_key_hash = ?"
    );
    use suanpan_core::db::direct::Kind::{I64, OptI64, OptText, Text};
    let kinds = [
        Text, I64, I64, OptText, OptI64, OptText, OptText, OptI64, OptI64, OptI64, I64, I64,
        OptI64, Text,
    ];
    let args: Vec<suanpan_core::db::Arg> = vec![
        app_id.into(),
        now.into(),
        site_id.into(),
        key.scope.as_str().into(),
        key.key.as_str().into(),
        app_id.into(),
        key_index.into(),
    ];
    let Some(r) = db.point_row(q, &args, &kinds).await? else {
        return Ok(None);
    };
    let stored = match (r[3].opt_text(), r[4].opt_i64(), r[5].opt_text()) {
        (Some(h), Some(st), Some(b)) => Some((h, st, b)),
        _ => None,
    };
    let app = r[6]
        .opt_text()
        .map(|name| (name, r[7].i64(), r[8].i64(), r[9].i64()));
    Ok(Some(AuthorizeFacts {
        operator_id: r[0].text(),
        require_signature_v2: r[1].i64() != 0,
        is_deactivated: r[2].i64() != 0,
        stored,
        app,
        authorized: r[10].i64() > 0,
        site_ok: r[11].i64() > 0,
        is_locked: r[12].opt_i64().is_some(),
        category: r[13].text(),
    }))
}

/// The operator's active, unexpired authorizations with the app's current terms:
/// `(app, authorized_at, expires_at)`.
pub async fn authorized_apps(
    db: &Db,
    operator_id: &str,
    now: i64,
) -> Result<Vec<(App, i64, Option<i64>)>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT a.app_id, a.app_name, a.unit_price_fen, a.min_players, a.max_players, a.description, a.created_at, a.updated_at, z.authorized_at, z.expires_at FROM mr_authorizations z JOIN mr_applications a ON a.app_id = z.app_id WHERE z.operator_id = ? AND z.is_active = 1 AND (z.expires_at IS NULL OR z.expires_at > ?) ORDER BY z.id"))
        .bind(operator_id)
        .bind(now)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| Ok((app_from_row(r)?, r.try_get(8)?, r.try_get(9)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppError::from)
}

/// A page of applications whose name contains `keyword`, newest first, and the total.
pub async fn page(
    db: &Db,
    keyword: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<App>, i64), AppError> {
    let d = db.dialect;
    let like = suanpan_core::db::like_pattern(keyword);
    let rows = sqlx::query(sql!(d, "SELECT app_id, app_name, unit_price_fen, min_players, max_players, description, created_at, updated_at FROM mr_applications WHERE app_name LIKE ? ESCAPE '!' ORDER BY id DESC LIMIT ? OFFSET ?"))
        .bind(&like)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    let total: i64 = sqlx::query(sql!(
        d,
        "SELECT COUNT(*) FROM mr_applications WHERE app_name LIKE ? ESCAPE '!'"
    ))
    .bind(&like)
    .fetch_one(db.reader())
    .await?
    .try_get(0)?;
    Ok((
        rows.iter().map(app_from_row).collect::<Result<_, _>>()?,
        total,
    ))
}

/// Adds the update of the given terms to `b` (guard: the app exists; `min ≤ max` is checked
/// in SQL against the merged values).
pub fn push_update(
    b: &mut suanpan_core::db::Batch,
    d: suanpan_core::db::Dialect,
    app_id: &str,
    name: Option<&str>,
    players: (Option<i64>, Option<i64>),
    description: Option<&str>,
    now: i64,
) -> usize {
    use suanpan_core::db::Arg;
    let text = |v: Option<&str>| v.map_or(Arg::NullText, Arg::from);
    let int = |v: Option<i64>| v.map_or(Arg::Null, Arg::from);
    b.guard(
        sql!(d, "UPDATE mr_applications SET app_name = COALESCE(?, app_name), min_players = COALESCE(?, min_players), max_players = COALESCE(?, max_players), description = COALESCE(?, description), updated_at = ? WHERE app_id = ? AND COALESCE(?, min_players) <= COALESCE(?, max_players)"),
        vec![text(name), int(players.0), int(players.1), text(description), now.into(), app_id.into(), int(players.0), int(players.1)],
    )
}

/// Adds the change of an app's price to `b` (guard: the app exists). Past usage records keep
/// the price they were charged at.
pub fn push_price(
    b: &mut suanpan_core::db::Batch,
    d: suanpan_core::db::Dialect,
    app_id: &str,
    price_fen: i64,
    now: i64,
) -> usize {
    b.guard(
        sql!(
            d,
            "UPDATE mr_applications SET unit_price_fen = ?, updated_at = ? WHERE app_id = ?"
        ),
        vec![price_fen.into(), now.into(), app_id.into()],
    )
}

/// The operators holding an active, unexpired authorization for `app_id`.
pub async fn authorized_operators(
    db: &Db,
    app_id: &str,
    now: i64,
) -> Result<Vec<String>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT operator_id FROM mr_authorizations WHERE app_id = ? AND is_active = 1 AND (expires_at IS NULL OR expires_at > ?) ORDER BY id"))
        .bind(app_id)
        .bind(now)
        .fetch_all(db.reader())
        .await?;
    rows.iter()
        .map(|r| text(r, 0))
        .collect::<Result<_, _>>()
        .map_err(AppError::from)
}

/// Adds the authorization of `operator_id` for `app_id` until `expires_at` to `b`: renews an
/// inactive or expired one, creates a missing one, leaves an active one as it is.
pub fn push_authorize(
    b: &mut suanpan_core::db::Batch,
    d: suanpan_core::db::Dialect,
    operator_id: &str,
    app_id: &str,
    expires_at: Option<i64>,
    now: i64,
) {
    use suanpan_core::db::Arg;
    let exp = || expires_at.map_or(Arg::Null, Arg::from);
    b.push(
        sql!(d, RENEW_AUTHORIZATION),
        vec![
            now.into(),
            exp(),
            operator_id.into(),
            app_id.into(),
            now.into(),
        ],
    );
    b.push(
        sql!(d, INSERT_AUTHORIZATION),
        vec![
            operator_id.into(),
            app_id.into(),
            now.into(),
            exp(),
            now.into(),
        ],
    );
}
