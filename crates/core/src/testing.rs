//! The one test-database helper every crate's tests use (feature `testing`): a fresh, empty
//! database per test — a new SQLite file by default, or a new database on the server named by
//! `SUANPAN_TEST_DATABASE_URL` (PostgreSQL or MySQL/MariaDB), so that `.ci/run` runs the same
//! suites on all three engines. Databases on a server are named `suanpan_t_*`; `.ci/run` drops
//! the ones earlier runs left.

use crate::db::migrate::{Migration, migrate};
use crate::db::{Db, DbOptions};

/// The server base URL of `SUANPAN_TEST_DATABASE_URL`, when set to a server (not SQLite).
pub fn server_url() -> Option<String> {
    std::env::var("SUANPAN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty() && !u.starts_with("sqlite"))
}

/// A new, empty database and its URL. Panics (it is for tests) when the server is unreachable.
pub async fn fresh_database_url() -> String {
    use sqlx::{Connection, Executor};
    let name = format!(
        "suanpan_t_{}",
        crate::ids::random_alnum(12).to_ascii_lowercase()
    );
    let Some(base) = server_url() else {
        let dir = std::env::temp_dir().join("suanpan-tests");
        std::fs::create_dir_all(&dir).expect("temp dir");
        return format!("sqlite://{}/{name}.db", dir.display());
    };
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach test database {base}: {e}"));
    let create = if base.starts_with("mysql") {
        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")
    } else {
        format!("CREATE DATABASE {name}")
    };
    c.execute(create.as_str()).await.expect("create database");
    let _ = c.close().await;
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let cut = head.rfind('/').expect("database URL has a path");
    format!("{}/{name}{query}", &head[..cut])
}

/// A fresh database with `migrations` applied.
pub async fn fresh_db(migrations: &[&[Migration]]) -> Db {
    let db = Db::connect(&fresh_database_url().await, &DbOptions::default())
        .await
        .expect("connect to the test database");
    migrate(&db, migrations).await.expect("migrate");
    db
}
