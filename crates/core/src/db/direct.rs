//! The SQLite group writer's own connection: `rusqlite`, called on the writer's thread.
//!
//! Through the pool, every statement of a batch is a message to the connection's worker thread
//! and back (sqlx's SQLite driver runs each connection on a thread of its own), and a batch sent
//! as one text is parsed anew each time: measured on a group of ~33 orders (~200 statements),
//! 7–10 ms of the writer's ~13 ms per group went there (`docs/benchmarks.md`). This connection
//! keeps each statement prepared (by its SQL text, placeholders bound) and runs a whole group on
//! the calling thread, so the writer calls it only from its own thread
//! ([`GroupWriter`](crate::writer::GroupWriter) runs the SQLite lane on one).
//!
//! It opens the same file with the same pragmas as the pools ([`Db::connect`](super::Db::connect)),
//! so durability is unchanged: `synchronous` as configured, WAL, one fsync per commit.

use rusqlite::types::Null;

use super::{Arg, Batch};

/// How many prepared statements the connection keeps.
const STATEMENT_CACHE: usize = 256;

/// Where a [`DirectSqlite`] connects: the SQLite file and the pragmas every connection runs.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    pub(super) path: String,
    pub(super) pragmas: &'static str,
}

/// How often the checkpointer of a [`DirectSqlite`] copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL frames (pages of 4 KiB) above which the checkpointer empties the log ([`checkpoint`]):
/// 1 GiB. Emptying it holds up the writer for tens of milliseconds (30–56 ms measured under
/// full load), so it is a bound on disk use under a load that never pauses, not a routine.
const RESTART_ABOVE_FRAMES: i64 = 262_144;

/// How long a restarting checkpoint may wait for the writer and for readers of the log; it
/// blocks new write transactions while it waits, so it gives up soon and retries next time.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

impl SqliteFile {
    /// The database file's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The group writer's own SQLite connection.
///
/// Its commits never checkpoint: a thread of its own (`sqlite-checkpoint`) runs [`checkpoint`]
/// every 100 ms while the connection lives. SQLite's default runs a checkpoint inside
/// the commit that finds the WAL above 1,000 pages, so one group in every few paid for copying
/// and syncing ~4 MB before its answers went out (a tail-latency spike every few groups, and
/// ~7 % of the writer thread's time under a steady load; `docs/benchmarks.md`). A passive
/// checkpoint waits for no reader and no writer; the other connections keep SQLite's default.
pub struct DirectSqlite {
    conn: rusqlite::Connection,
    _checkpointer: Option<Checkpointer>,
}

/// Stops its checkpoint thread when dropped.
struct Checkpointer(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts the checkpoint thread of `file`; `None` if the thread or its connection cannot be
/// had (then the writer keeps SQLite's own checkpoints).
fn checkpointer(file: &SqliteFile) -> Option<Checkpointer> {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let conn = rusqlite::Connection::open(&file.path).ok()?;
    conn.execute_batch(file.pragmas).ok()?;
    conn.busy_timeout(RESTART_WAIT).ok()?;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while !flag.load(Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = checkpoint(&conn, RESTART_ABOVE_FRAMES) {
                    tracing::debug!(error = %e, "checkpoint failed; the next one retries");
                }
            }
        })
        .ok()?;
    Some(Checkpointer(stop))
}

/// One round of the checkpointer: a passive checkpoint (copies what no reader still needs,
/// waits for nobody); then, if the log holds more than `restart_above` frames, a truncating one.
/// Returns whether the log was truncated.
///
/// Why: under a load that never pauses some reader always holds a snapshot that ends before
/// the latest commit, so passive checkpoints never finish the log, SQLite never restarts it,
/// and it grows without bound (1 GB after 30 s of authorizations at full speed;
/// `docs/benchmarks.md`). `wal_checkpoint(TRUNCATE)` copies the rest, waits up to
/// [`RESTART_WAIT`] for readers to leave the log (new writers wait meanwhile) and empties the
/// file. `PRAGMA journal_size_limit = 0` (every connection) empties it too whenever SQLite
/// restarts the log on its own: a restarted log is otherwise overwritten in place, and on a host
/// whose page cache had dropped those pages every overwritten 4 KiB block was first read back
/// from disk (a frame is 4 KiB + 24 bytes, so every write is partial), which slowed the writer
/// by a fifth. An emptied log is only ever appended to.
pub fn checkpoint(conn: &rusqlite::Connection, restart_above: i64) -> rusqlite::Result<bool> {
    let frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames <= restart_above {
        return Ok(false);
    }
    let t = std::time::Instant::now();
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    let took_us = t.elapsed().as_micros() as u64;
    tracing::debug!(frames, busy, took_us, "truncating WAL checkpoint");
    Ok(busy == 0)
}

impl DirectSqlite {
    /// Opens `file` with its pragmas, and its checkpoint thread. Errors: the driver's (file
    /// missing or unreadable).
    pub fn open(file: &SqliteFile) -> Result<DirectSqlite, rusqlite::Error> {
        let conn = rusqlite::Connection::open(&file.path)?;
        conn.execute_batch(file.pragmas)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpointer = checkpointer(file);
        if checkpointer.is_some() {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
        }
        Ok(DirectSqlite {
            conn,
            _checkpointer: checkpointer,
        })
    }

    /// Runs every statement of `batch` in one `BEGIN IMMEDIATE … COMMIT` transaction. Returns
    /// `Ok(true)` when every guard changed exactly one row and the transaction committed;
    /// `Ok(false)` when a guard failed (the transaction is rolled back, nothing is written).
    /// Errors: the driver's, after a rollback (nothing is written either).
    pub fn write_all(&mut self, batch: &Batch) -> Result<bool, rusqlite::Error> {
        self.begin()?;
        self.finish(batch)
    }

    /// Opens the group's transaction (`BEGIN IMMEDIATE`: the write lock is held from here, so
    /// what [`query_i64`](Self::query_i64) reads stays true until [`finish`](Self::finish)).
    pub fn begin(&mut self) -> Result<(), rusqlite::Error> {
        self.conn.execute_batch("BEGIN IMMEDIATE")
    }

    /// The first column of the first row of `sql` (with `?` placeholders), inside the open
    /// transaction; `None` without a row.
    pub fn query_i64(&mut self, sql: &str, args: &[Arg]) -> Result<Option<i64>, rusqlite::Error> {
        let mut st = self.conn.prepare_cached(sql)?;
        bind(&mut st, args)?;
        let mut rows = st.raw_query();
        match rows.next()? {
            Some(row) => row.get(0).map(Some),
            None => Ok(None),
        }
    }

    /// Runs `batch` in the transaction opened by [`begin`](Self::begin) and commits when every
    /// guard held (`Ok(true)`); otherwise rolls back (`Ok(false)`, or the driver's error).
    pub fn finish(&mut self, batch: &Batch) -> Result<bool, rusqlite::Error> {
        let held = self.run(batch).and_then(|held| {
            if held {
                self.conn.execute_batch("COMMIT")?;
            }
            Ok(held)
        });
        if !matches!(held, Ok(true)) {
            self.rollback();
        }
        held
    }

    /// Rolls the open transaction back, if one is open.
    pub fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Executes the statements in order; false at the first guard that changed no row or more
    /// than one.
    fn run(&mut self, batch: &Batch) -> Result<bool, rusqlite::Error> {
        for (sql, args, guard) in &batch.stmts {
            let mut st = self.conn.prepare_cached(sql)?;
            bind(&mut st, args)?;
            let changed = if st.readonly() || sql.contains(" RETURNING ") {
                let mut rows = st.raw_query();
                let mut n = 0u64;
                while rows.next()?.is_some() {
                    n += 1;
                }
                n
            } else {
                st.raw_execute()? as u64
            };
            if *guard && changed != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn bind(st: &mut rusqlite::CachedStatement<'_>, args: &[Arg]) -> Result<(), rusqlite::Error> {
    for (i, a) in args.iter().enumerate() {
        match a {
            Arg::I(v) => st.raw_bind_parameter(i + 1, v)?,
            Arg::S(s) => st.raw_bind_parameter(i + 1, s.as_str())?,
            Arg::Null | Arg::NullText => st.raw_bind_parameter(i + 1, Null)?,
        }
    }
    Ok(())
}

/// What a column of a point read holds ([`Db::point_row`](super::Db::point_row)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An integer.
    I64,
    /// An integer or NULL.
    OptI64,
    /// Text.
    Text,
    /// Text or NULL.
    OptText,
}

/// One value of a point read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// An integer.
    I(i64),
    /// Text.
    T(String),
    /// NULL.
    Null,
}

impl Val {
    /// The integer (0 for NULL or text).
    pub fn i64(&self) -> i64 {
        match self {
            Val::I(v) => *v,
            _ => 0,
        }
    }

    /// The integer, or `None` for NULL.
    pub fn opt_i64(&self) -> Option<i64> {
        match self {
            Val::I(v) => Some(*v),
            _ => None,
        }
    }

    /// The text (empty for NULL).
    pub fn text(&self) -> String {
        match self {
            Val::T(s) => s.clone(),
            Val::I(v) => v.to_string(),
            Val::Null => String::new(),
        }
    }

    /// The text, or `None` for NULL.
    pub fn opt_text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            v => Some(v.text()),
        }
    }
}

thread_local! {
    /// Read-only connections of this thread, by database file (a point read runs on the calling
    /// thread: no hop to sqlx's connection thread).
    static READERS: std::cell::RefCell<Vec<(String, rusqlite::Connection)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Most files a thread keeps a reader for (tests open many databases).
const READERS_PER_THREAD: usize = 4;

/// Runs a one-row read of `sql` on this thread's read-only connection to `file`: the row
/// decoded by `kinds`, `None` without a row ([`rows`] with a limit of one).
pub fn point_row(
    file: &SqliteFile,
    sql: &str,
    args: &[Arg],
    kinds: &[Kind],
) -> Result<Option<Vec<Val>>, rusqlite::Error> {
    Ok(rows(file, sql, args, kinds, 1)?.into_iter().next())
}

/// Runs a read of `sql` on this thread's read-only connection to `file` (opened on first use):
/// at most `limit` rows, each decoded by `kinds`. A read waits at most 50 ms for a lock (WAL
/// readers rarely wait); errors are the driver's, and the caller falls back to the pool.
pub fn rows(
    file: &SqliteFile,
    sql: &str,
    args: &[Arg],
    kinds: &[Kind],
    limit: usize,
) -> Result<Vec<Vec<Val>>, rusqlite::Error> {
    READERS.with(|cell| {
        let mut readers = cell.borrow_mut();
        let at = match readers.iter().position(|(p, _)| *p == file.path) {
            Some(i) => i,
            None => {
                let conn = rusqlite::Connection::open(&file.path)?;
                conn.execute_batch(file.pragmas)?;
                conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 50;")?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                if readers.len() >= READERS_PER_THREAD {
                    readers.remove(0);
                }
                readers.push((file.path.clone(), conn));
                readers.len() - 1
            }
        };
        let conn = &readers[at].1;
        let mut st = conn.prepare_cached(sql)?;
        bind(&mut st, args)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows.next()? else { break };
            out.push(decode(row, kinds)?);
        }
        Ok(out)
    })
}

/// One row's columns, decoded by `kinds`.
fn decode(row: &rusqlite::Row<'_>, kinds: &[Kind]) -> Result<Vec<Val>, rusqlite::Error> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(match k {
                Kind::I64 | Kind::OptI64 => row.get::<_, Option<i64>>(i)?.map_or(Val::Null, Val::I),
                Kind::Text | Kind::OptText => {
                    row.get::<_, Option<String>>(i)?.map_or(Val::Null, Val::T)
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_len(path: &std::path::Path) -> u64 {
        let wal = format!("{}-wal", path.display());
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    /// The checkpointer empties a long log once no reader needs it, and gives up (nothing
    /// truncated, writers free again within [`RESTART_WAIT`]) while one still does.
    #[test]
    fn a_long_log_is_truncated_once_readers_leave_it() {
        let dir =
            std::env::temp_dir().join(format!("suanpan-ckpt-{}", crate::ids::random_alnum(12)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let open = || {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
                .unwrap();
            c
        };
        let (writer, mut reader, ckpt) = (open(), open(), open());
        ckpt.busy_timeout(RESTART_WAIT).unwrap();
        writer
            .execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('first');")
            .unwrap();
        // A reader holds a snapshot while 400 more pages are written after it.
        let tx = reader.transaction().unwrap();
        let n: i64 = tx
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        for i in 0..400 {
            writer
                .execute("INSERT INTO t VALUES (?)", [format!("{i:>4000}")])
                .unwrap();
        }
        let long = wal_len(&path);
        assert!(long > 400 * 4096, "{long}");
        let started = std::time::Instant::now();
        assert!(
            !checkpoint(&ckpt, 100).unwrap(),
            "a reader still needs the log"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(wal_len(&path), long);
        writer
            .execute("INSERT INTO t VALUES ('while busy')", [])
            .unwrap();
        drop(tx);
        assert!(checkpoint(&ckpt, 100).unwrap());
        assert_eq!(wal_len(&path), 0, "the log was emptied");
        // Nothing was lost, and a short log is left alone.
        let n: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 402);
        writer
            .execute("INSERT INTO t VALUES ('after')", [])
            .unwrap();
        assert!(!checkpoint(&ckpt, 100).unwrap());
        assert!(wal_len(&path) > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
