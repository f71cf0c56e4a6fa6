//! Storage: one connection type for SQLite, PostgreSQL and MySQL/MariaDB, chosen at runtime from
//! the URL (`sqlite://…`, `postgres://…`, `mysql://…`).
//!
//! All SQL in Suanpan is written once with `?` placeholders and the portable subset of SQL the
//! three engines share; [`sql!`](crate::sql) rewrites placeholders to `$n` for PostgreSQL (once
//! per call site). Where the engines differ (upserts, row locks) [`Dialect`] gives the fragment.
//!
//! SQLite runs in WAL mode with one writer connection and a pool of readers: writers never see
//! "database is locked", readers never block the writer. Write transactions on SQLite start with
//! `BEGIN IMMEDIATE`. PostgreSQL and MySQL use one pool for both.
//!
//! Durability: on SQLite `synchronous` defaults to `FULL` (every commit is fsynced); `NORMAL`
//! keeps every commit across a process crash (`kill -9`) but may lose the last commits on power
//! loss (config key `sqlite_synchronous`).

pub mod migrate;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use sqlx::AnyConnection as Conn;

/// A transaction on the write pool.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The SQL engine behind a [`Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35+ (embedded, the default).
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
    /// MySQL 8 or MariaDB 10.6+.
    MySql,
}

impl Dialect {
    /// The dialect of a database URL, or `None` for an unsupported scheme.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            _ => None,
        }
    }

    /// `INSERT` that silently skips a row whose unique key exists (check `rows_affected`).
    pub fn insert_ignore(self) -> &'static str {
        match self {
            Dialect::MySql => "INSERT IGNORE",
            _ => "INSERT",
        }
    }

    /// Suffix for [`Dialect::insert_ignore`] statements.
    pub fn on_conflict_ignore(self) -> &'static str {
        match self {
            Dialect::MySql => "",
            _ => " ON CONFLICT DO NOTHING",
        }
    }

    /// Suffix that locks the selected rows until the transaction ends. Empty on SQLite, where
    /// the single writer connection already serialises write transactions.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            _ => " FOR UPDATE",
        }
    }

    /// The SQL text for this dialect: `{{INT}}` becomes the 64-bit integer type usable in
    /// `CAST` (`BIGINT`, MySQL `SIGNED`), and placeholders are rewritten.
    pub fn prepare(self, sql: &str) -> String {
        let int = match self {
            Dialect::MySql => "SIGNED",
            _ => "BIGINT",
        };
        self.rewrite(&sql.replace("{{INT}}", int)).into_owned()
    }

    /// Rewrites `?` placeholders for this dialect (`$1, $2, …` on PostgreSQL). Question marks
    /// inside single-quoted literals are left alone.
    pub fn rewrite(self, sql: &str) -> Cow<'_, str> {
        if self != Dialect::Postgres || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        let mut in_str = false;
        for c in sql.chars() {
            match c {
                '\'' => {
                    in_str = !in_str;
                    out.push(c);
                }
                '?' if !in_str => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                _ => out.push(c),
            }
        }
        Cow::Owned(out)
    }
}

/// A `&'static str` of SQL for the given dialect, prepared once per call site and dialect by
/// [`Dialect::prepare`] (placeholders, and the `{{INT}}` cast type).
///
/// ```ignore
/// sqlx::query(sql!(db.dialect, "SELECT id FROM products WHERE id = ?")).bind(id)
/// ```
#[macro_export]
macro_rules! sql {
    ($dialect:expr, $q:expr) => {{
        static CACHE: [std::sync::OnceLock<String>; 3] = [
            std::sync::OnceLock::new(),
            std::sync::OnceLock::new(),
            std::sync::OnceLock::new(),
        ];
        let d: $crate::db::Dialect = $dialect;
        CACHE[d as usize].get_or_init(|| d.prepare($q)).as_str()
    }};
}

/// Connection settings beyond the URL.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Pool size (readers on SQLite; the whole pool elsewhere).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before `database_unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite `synchronous` pragma: `FULL` (default) or `NORMAL`.
    pub sqlite_synchronous: String,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_synchronous: "FULL".into(),
        }
    }
}

/// Errors opening a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL's scheme is not sqlite, postgres or mysql.
    #[error("unsupported database URL scheme in {0:?} (use sqlite://, postgres:// or mysql://)")]
    UnsupportedUrl(String),
    /// A setting has an unusable value.
    #[error("invalid database option: {0}")]
    InvalidOption(String),
    /// The driver failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// The SQLite file's directory could not be created.
    #[error("cannot create the database directory: {0}")]
    Io(#[from] std::io::Error),
}

/// A database handle: a read pool, a write pool and the dialect. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    /// The engine; pass it to [`sql!`](crate::sql) and the [`Dialect`] helpers.
    pub dialect: Dialect,
    read: AnyPool,
    write: AnyPool,
}

impl Db {
    /// Opens pools for `url`. For SQLite the file (and its directory) is created if missing.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| DbError::UnsupportedUrl(redact(url)))?;
        match dialect {
            Dialect::Sqlite => {
                let sync = opts.sqlite_synchronous.to_ascii_uppercase();
                if !["FULL", "NORMAL", "EXTRA"].contains(&sync.as_str()) {
                    return Err(DbError::InvalidOption(format!(
                        "sqlite_synchronous must be FULL, NORMAL or EXTRA, not {sync:?}"
                    )));
                }
                let url = sqlite_url_with_create(url)?;
                let connect = AnyConnectOptions::from_str(&url)?;
                let pragmas: &'static str = Box::leak(
                    format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
                    )
                    .into_boxed_str(),
                );
                let base = || {
                    AnyPoolOptions::new()
                        .acquire_timeout(opts.acquire_timeout)
                        .after_connect(move |c, _| {
                            Box::pin(async move {
                                c.execute(pragmas).await?;
                                Ok(())
                            })
                        })
                };
                let write = base()
                    .max_connections(1)
                    .min_connections(1)
                    .connect_with(connect.clone())
                    .await?;
                let read = base()
                    .max_connections(opts.max_connections.max(1))
                    .connect_with(connect)
                    .await?;
                Ok(Db {
                    dialect,
                    read,
                    write,
                })
            }
            _ => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect(url)
                    .await?;
                Ok(Db {
                    dialect,
                    read: pool.clone(),
                    write: pool,
                })
            }
        }
    }

    /// The pool for reads that need no transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes outside a transaction (single statements).
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            _ => self.write.begin().await,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// True if `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// True if `e` is a deadlock, serialization failure or lock timeout that a retry of the whole
/// transaction may cure (PostgreSQL 40001/40P01/55P03, MySQL 1213/1205, SQLite BUSY/LOCKED).
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            matches!(
                code.as_ref(),
                "40001" | "40P01" | "55P03" | "1213" | "1205" | "5" | "6" | "517" | "261" | "262"
            ) || d.message().contains("database is locked")
                || d.message().contains("Deadlock found")
        }
        _ => false,
    }
}

/// Removes a password from a URL for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn sqlite_url_with_create(url: &str) -> Result<String, DbError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path.contains(":memory:") {
        return Err(DbError::InvalidOption(
            "in-memory SQLite is not supported: give a file path".into(),
        ));
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Runs a write transaction, retrying it (up to 5 attempts, with a short backoff) when the
/// database reports a deadlock or serialization failure. The body is an expression of type
/// `Result<T, AppError>` that may use `$tx` (a `&mut Tx` via the binding) and `?`.
///
/// ```ignore
/// let order = with_tx!(db, tx => { create_order(&mut tx, …).await });
/// ```
#[macro_export]
macro_rules! with_tx {
    ($db:expr, $tx:ident => $body:expr) => {{
        let mut __attempt = 0u32;
        loop {
            __attempt += 1;
            let mut $tx = match $db.begin().await {
                Ok(t) => t,
                Err(e) => break Err($crate::error::AppError::from(e)),
            };
            let __r: Result<_, $crate::error::AppError> = async { $body }.await;
            let __r = match __r {
                Ok(v) => match $tx.commit().await {
                    Ok(()) => Ok(v),
                    Err(e) => Err($crate::db::tx_error(e)),
                },
                Err(e) => {
                    drop($tx);
                    Err(e)
                }
            };
            match __r {
                Err(e) if e.code == $crate::db::TX_CONFLICT && __attempt < 5 => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(__attempt)))
                        .await;
                    continue;
                }
                other => break other,
            }
        }
    }};
}

/// The error code of a transaction that lost a deadlock or serialization race; [`with_tx!`]
/// retries it, and it reaches a client (503) only after five failures.
pub const TX_CONFLICT: &str = "transaction_conflict";

/// Maps a driver error inside a transaction: retryable races become [`TX_CONFLICT`].
pub fn tx_error(e: sqlx::Error) -> crate::error::AppError {
    if is_retryable(&e) {
        crate::error::AppError::new(
            crate::error::ErrorKind::Unavailable,
            TX_CONFLICT,
            "concurrent update, retry",
        )
    } else {
        crate::error::AppError::from(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_placeholders_for_postgres_only() {
        let q = "SELECT a FROM t WHERE a = ? AND b = '?' AND c = ?";
        assert_eq!(
            Dialect::Postgres.rewrite(q),
            "SELECT a FROM t WHERE a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(Dialect::Sqlite.rewrite(q), q);
        assert_eq!(Dialect::MySql.rewrite(q), q);
    }

    #[test]
    fn dialect_from_url_and_redaction() {
        assert_eq!(
            Dialect::from_url("postgres://u:p@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::from_url("mysql://root@127.0.0.1/test"),
            Some(Dialect::MySql)
        );
        assert_eq!(
            Dialect::from_url("sqlite://data/x.db"),
            Some(Dialect::Sqlite)
        );
        assert_eq!(Dialect::from_url("redis://x"), None);
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}

/// Like [`sql!`](crate::sql) for an `INSERT` whose generated `id` [`insert_id`] will read:
/// appends `RETURNING id` on PostgreSQL and SQLite (MySQL reports `LAST_INSERT_ID()` instead).
#[macro_export]
macro_rules! sql_insert {
    ($dialect:expr, $q:expr) => {{
        static CACHE: [std::sync::OnceLock<String>; 3] = [
            std::sync::OnceLock::new(),
            std::sync::OnceLock::new(),
            std::sync::OnceLock::new(),
        ];
        let d: $crate::db::Dialect = $dialect;
        CACHE[d as usize]
            .get_or_init(|| match d {
                $crate::db::Dialect::MySql => d.prepare($q),
                _ => format!("{} RETURNING id", d.prepare($q)),
            })
            .as_str()
    }};
}

/// Runs an `INSERT` built with [`sql_insert!`](crate::sql_insert) and returns the new row's id.
pub async fn insert_id<'q>(
    conn: &mut Conn,
    dialect: Dialect,
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<i64, sqlx::Error> {
    use sqlx::Row;
    match dialect {
        Dialect::Postgres | Dialect::Sqlite => q.fetch_one(conn).await?.try_get::<i64, _>(0),
        Dialect::MySql => {
            q.execute(conn).await?.last_insert_id().ok_or_else(|| {
                sqlx::Error::Protocol("the driver returned no last insert id".into())
            })
        }
    }
}

/// A bind value for statements whose `WHERE` clause is assembled at run time (search filters).
#[derive(Clone, Debug)]
pub enum Arg {
    /// An integer.
    I(i64),
    /// A string.
    S(String),
}

/// Binds `args` in order.
pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::I(v) => q.bind(*v),
            Arg::S(v) => q.bind(v.as_str()),
        };
    }
    q
}

/// `%text%` for a `LIKE ? ESCAPE '!'` search, with `%`, `_` and `!` in `text` escaped by `!`
/// (`!` rather than a backslash, which MySQL string literals treat specially).
pub fn like_pattern(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            s.push('!');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// Reads a long-text column (`{{CLOB}}`). MySQL sends `TEXT` columns with the `BLOB` wire type,
/// which the `Any` driver will not decode as a string; this accepts both and checks UTF-8.
pub fn text(row: &sqlx::any::AnyRow, idx: usize) -> Result<String, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<String, _>(idx) {
        Ok(s) => Ok(s),
        Err(_) => String::from_utf8(row.try_get::<Vec<u8>, _>(idx)?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e))),
    }
}

/// [`text`] for a nullable column.
pub fn opt_text(row: &sqlx::any::AnyRow, idx: usize) -> Result<Option<String>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<String>, _>(idx) {
        Ok(s) => Ok(s),
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(idx)?
            .map(|b| String::from_utf8(b).map_err(|e| sqlx::Error::Decode(Box::new(e))))
            .transpose(),
    }
}
