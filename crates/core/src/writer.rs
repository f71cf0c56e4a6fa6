//! The group-commit write path: one mechanism for every system's hot writes (the shop's orders,
//! MR's game authorizations).
//!
//! A system describes one workflow's writes as a [`Unit`] and submits it to a [`GroupWriter`].
//! A writer *lane* takes every unit waiting (up to [`MAX_GROUP`]), writes them in **one**
//! transaction, each inside a savepoint, and commits once; a unit whose guard fails (stock
//! short, key taken, balance too low) rolls back to its savepoint without touching the others.
//! Each unit is answered only after its group has committed, so an acknowledged write is as
//! durable as with one transaction per request. Savepoint control rides in the same round trip
//! as the unit's first statement batch ([`UnitCtx::execute`]).
//!
//! - SQLite has one writer: one lane, one fsync per group, and ids may be assigned by the
//!   writer ([`UnitCtx::next_id`]) so that a unit needs a single round trip.
//! - PostgreSQL and MySQL run several lanes (connections) at once. The writer assigns ids there
//!   too: drawn in blocks from the table's own sequence on PostgreSQL, from the `id_blocks`
//!   table on MySQL (which has no sequences).
//!
//! **One round trip per group.** Since the writer assigns ids, a lane
//! first writes the group *optimistically*: every unit's statements go in one batch, without
//! savepoints, as if every guard held, and one round trip writes them all. If every guard held
//! (the usual case), the group commits and each unit gets the answer it computed. If one failed,
//! or a unit needs to read or roll back, the optimistic attempt is rolled back whole and the
//! group is written again unit by unit as described above, so the answers are the same either
//! way; only the number of round trips differs.
//!
//! If a group fails for any other reason (a deadlock between lanes, a driver error), it is
//! rolled back whole and each of its units runs alone in its own transaction
//! ([`Db::transaction`], which retries deadlocks), so one bad unit cannot fail its neighbours.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use sqlx::{Executor, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::db::direct::DirectSqlite;
use crate::db::{Arg, Batch, BatchResult, Conn, Db, Dialect};
use crate::error::{AppError, ErrorKind};

/// Most units in one group transaction.
pub const MAX_GROUP: usize = 256;

/// How a unit ended.
#[derive(Debug)]
pub enum Step<T> {
    /// Keep the unit's writes; answer `T` after the commit.
    Commit(T),
    /// Undo the unit's writes (a guard failed); answer `T` anyway.
    Rollback(T),
}

/// One workflow's writes. `write` may run more than once (alone after a failed group), so it
/// must derive everything it writes from `self`.
pub trait Unit: Send + Sync + 'static {
    /// What the submitter gets back.
    type Output: Send + 'static;
    /// Writes the unit through `ctx`. `Err` fails the group, which then runs each unit alone.
    fn write(
        &self,
        ctx: &mut UnitCtx<'_>,
    ) -> impl Future<Output = Result<Step<Self::Output>, AppError>> + Send;
}

/// What a unit writes with: the connection inside the group's transaction, its dialect, and
/// the lane's writer-assigned ids.
pub struct UnitCtx<'a> {
    conn: &'a mut Conn,
    /// The engine.
    pub dialect: Dialect,
    prefix: Vec<&'static str>,
    ids: &'a mut IdAlloc,
    /// The optimistic group's batch: statements are collected here instead of being sent.
    deferred: Option<&'a mut Batch>,
    /// SQLite's optimistic group: the writer's own connection, its transaction open.
    direct: Option<&'a mut DirectSqlite>,
    /// The optimistic group's shared values ([`UnitCtx::memo`]).
    memo: Option<&'a mut HashMap<String, i64>>,
}

/// Why an optimistic group gives up (it is then written unit by unit).
const NOT_OPTIMISTIC: &str = "unit cannot be written optimistically";

impl UnitCtx<'_> {
    /// Runs `b` (after any pending savepoint control) and returns its result, indices as pushed.
    /// In an optimistic group the statements are only collected, and the result is what they
    /// give when every guard holds (one row changed each, no rows returned).
    pub async fn execute(&mut self, b: Batch) -> Result<BatchResult, sqlx::Error> {
        if let Some(all) = self.deferred.as_deref_mut() {
            let n = b.len();
            all.append(b);
            return Ok(BatchResult {
                rows_affected: vec![1; n],
                rows: (0..n).map(|_| Vec::new()).collect(),
                last_insert_ids: vec![None; n],
                failed_guard: None,
            });
        }
        let pre = std::mem::take(&mut self.prefix);
        b.with_prefix(&pre).execute(self.conn, self.dialect).await
    }

    /// One integer read inside the group's transaction (`sql` with `?` placeholders, prepared
    /// for the dialect by [`sql!`](crate::sql)); `None` without a row. Allowed in an optimistic
    /// group too, where it does **not** see the writes of the group's earlier units (they are
    /// not sent yet): carry what they changed in [`memo`](Self::memo). Take row locks in `sql`
    /// ([`Dialect::for_update`]) where another transaction could change the value before the
    /// group commits (SQLite's writer holds the write lock for the whole group).
    pub async fn read_i64(&mut self, sql: &str, args: Vec<Arg>) -> Result<Option<i64>, AppError> {
        if self.deferred.is_some() {
            if let Some(direct) = self.direct.as_deref_mut() {
                return direct
                    .query_i64(sql, &args)
                    .map_err(|e| AppError::internal(format!("writer read: {e}")));
            }
        } else if !self.prefix.is_empty() {
            self.execute(Batch::new()).await?;
        }
        let row = crate::db::bind_all(sqlx::query(sql), &args)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    /// Values the units of one optimistic group share, such as a running balance that later
    /// units must see although the earlier units' writes are not sent yet: empty at the start of
    /// each group. `None` when the group is written unit by unit (then [`read_i64`](Self::read_i64)
    /// sees every earlier unit's writes).
    pub fn memo(&mut self) -> Option<&mut HashMap<String, i64>> {
        self.memo.as_deref_mut()
    }

    /// The connection, for reads inside the unit (flushes pending savepoint control first).
    /// A unit that reads is not written optimistically.
    pub async fn conn(&mut self) -> Result<&mut Conn, sqlx::Error> {
        if self.deferred.is_some() {
            return Err(sqlx::Error::Protocol(NOT_OPTIMISTIC.into()));
        }
        if !self.prefix.is_empty() {
            self.execute(Batch::new()).await?;
        }
        Ok(self.conn)
    }

    /// The id the next row of `table` gets, assigned by the writer, so that a unit knows its
    /// ids before anything is sent. On SQLite the writer is the table's only writer and counts
    /// from its largest id (an id is taken only if the unit commits); on PostgreSQL ids are
    /// drawn in blocks from the table's sequence, on MySQL from the `id_blocks` table (a
    /// rolled-back unit leaves a gap, as a failed insert would). Every row of such a table must
    /// come through the writer.
    pub async fn next_id(&mut self, table: &'static str) -> Result<i64, sqlx::Error> {
        let ids = &mut *self.ids;
        if self.dialect != Dialect::Sqlite {
            if ids.drawn.get(table).is_none_or(|b| b.is_empty()) {
                let block = draw_block(self.conn, ids.pool.as_ref(), self.dialect, table).await?;
                ids.drawn.insert(table, block);
            }
            return ids
                .drawn
                .get_mut(table)
                .and_then(|b| b.pop_front())
                .ok_or_else(|| sqlx::Error::Protocol(format!("no id drawn for {table}")));
        }
        let next = match ids.next.get(table) {
            Some(n) => *n + ids.taken.get(table).copied().unwrap_or(0),
            None => {
                let n = first_free_id(self.conn, table).await?;
                ids.next.insert(table, n);
                n
            }
        };
        *ids.taken.entry(table).or_insert(0) += 1;
        Ok(next)
    }
}

/// The writer-assigned ids of one lane: on SQLite the next free id per table and what the
/// current unit took; on PostgreSQL and MySQL the ids drawn for each table and not yet used.
#[derive(Default)]
pub struct IdAlloc {
    next: HashMap<&'static str, i64>,
    taken: HashMap<&'static str, i64>,
    drawn: HashMap<&'static str, VecDeque<i64>>,
    /// MySQL: the pool whose own connections draw blocks from `id_blocks`, outside the group's
    /// transaction.
    pool: Option<sqlx::AnyPool>,
}

impl IdAlloc {
    /// The allocator of a lane writing to `db`.
    pub fn for_db(db: &Db) -> IdAlloc {
        IdAlloc {
            pool: (db.dialect == Dialect::MySql).then(|| db.writer().clone()),
            ..IdAlloc::default()
        }
    }

    /// A unit ended: the SQLite ids it took are used if it committed, free again if not.
    fn end_unit(&mut self, committed: bool) {
        for (t, n) in self.taken.drain() {
            if committed && let Some(v) = self.next.get_mut(t) {
                *v += n;
            }
        }
    }

    /// A transaction was rolled back whole: SQLite counts afresh from the tables (drawn blocks
    /// stay: their ids were never written).
    fn forget_counts(&mut self) {
        self.next.clear();
        self.taken.clear();
    }
}

/// How many ids a PostgreSQL or MySQL lane draws at once.
const ID_BLOCK: i64 = 128;

/// A block of [`ID_BLOCK`] fresh ids of `table`. PostgreSQL: from the table's sequence
/// (`nextval`, untouched by any rollback), on the lane's connection. MySQL, which has no
/// sequences: from `id_blocks`, on a connection of its own (its own short transaction, so the
/// row is never held by a group); the row starts at the table's largest id + 1 (read without
/// locking), and the block is taken with `LAST_INSERT_ID(expr)`, atomic per row, so lanes and
/// processes never share an id.
async fn draw_block(
    conn: &mut Conn,
    pool: Option<&sqlx::AnyPool>,
    d: Dialect,
    table: &'static str,
) -> Result<VecDeque<i64>, sqlx::Error> {
    if d == Dialect::Postgres {
        let q = format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, {ID_BLOCK})"
        );
        let rows = sqlx::query(&q).fetch_all(&mut *conn).await?;
        return rows.iter().map(|r| r.try_get::<i64, _>(0)).collect();
    }
    let pool = pool.ok_or_else(|| sqlx::Error::Protocol("no pool for id blocks".into()))?;
    let mut c = pool.acquire().await?;
    let max: i64 = sqlx::query(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    sqlx::query("INSERT IGNORE INTO id_blocks (name, next_id) VALUES (?, ?)")
        .bind(table)
        .bind(max + 1)
        .execute(&mut *c)
        .await?;
    let end = sqlx::query(&format!(
        "UPDATE id_blocks SET next_id = LAST_INSERT_ID(next_id + {ID_BLOCK}) WHERE name = ?"
    ))
    .bind(table)
    .execute(&mut *c)
    .await?
    .last_insert_id()
    .ok_or_else(|| sqlx::Error::Protocol("no block end from id_blocks".into()))?;
    Ok((end - ID_BLOCK..end).collect())
}

async fn first_free_id(conn: &mut Conn, table: &str) -> Result<i64, sqlx::Error> {
    let max: i64 = sqlx::query(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let seq: Option<i64> = sqlx::query("SELECT seq FROM sqlite_sequence WHERE name = ?")
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(max.max(seq.unwrap_or(0)) + 1)
}

struct Job<U: Unit> {
    unit: U,
    reply: oneshot::Sender<Result<U::Output, AppError>>,
}

/// Handle to the lanes writing units of type `U`. Cheap to clone.
pub struct GroupWriter<U: Unit> {
    tx: mpsc::Sender<Job<U>>,
    stats: Arc<Counters>,
}

/// Groups written so far, by how ([`GroupWriter::stats`]; also the metric
/// `suanpan_writer_groups_total{writer, mode}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Written in one round trip, every guard holding.
    pub optimistic: u64,
    /// Written unit by unit, each in a savepoint (a guard failed or a unit read).
    pub by_unit: u64,
}

#[derive(Default)]
struct Counters {
    optimistic: std::sync::atomic::AtomicU64,
    by_unit: std::sync::atomic::AtomicU64,
}

impl<U: Unit> Clone for GroupWriter<U> {
    fn clone(&self) -> Self {
        GroupWriter {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<U: Unit> GroupWriter<U> {
    /// Starts the lanes for `db`: one on SQLite, `lanes` (at least 1) elsewhere. `name` labels
    /// the group-size metric.
    pub fn spawn(db: Db, lanes: usize, name: &'static str) -> GroupWriter<U> {
        let (tx, rx) = mpsc::channel(4096);
        let rx = Arc::new(Mutex::new(rx));
        let lanes = if db.dialect == Dialect::Sqlite {
            1
        } else {
            lanes.max(1)
        };
        let stats = Arc::new(Counters::default());
        if db.dialect == Dialect::Sqlite {
            spawn_sqlite_lane(db, rx, name, stats.clone());
            return GroupWriter { tx, stats };
        }
        for _ in 0..lanes {
            tokio::spawn(lane(db.clone(), rx.clone(), name, stats.clone(), None));
        }
        GroupWriter { tx, stats }
    }

    /// How the groups so far were written.
    pub fn stats(&self) -> GroupStats {
        use std::sync::atomic::Ordering::Relaxed;
        GroupStats {
            optimistic: self.stats.optimistic.load(Relaxed),
            by_unit: self.stats.by_unit.load(Relaxed),
        }
    }

    /// Writes `unit` in the next group; resolves after the group has committed (or after the
    /// unit ran alone). Errors: the unit's, or `database_unavailable` (503) when stopped.
    pub async fn submit(&self, unit: U) -> Result<U::Output, AppError> {
        let (reply, rx) = oneshot::channel();
        let gone = || {
            AppError::new(
                ErrorKind::Unavailable,
                "database_unavailable",
                "writer stopped",
            )
        };
        self.tx
            .send(Job { unit, reply })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// The SQLite lane runs on a thread of its own with its own connection ([`DirectSqlite`]): a
/// group is written by blocking calls on that thread, never waiting behind the requests' tasks
/// for a turn on the runtime between its steps. If the thread or the connection cannot be had,
/// the lane runs as a task through the pool (slower, same results).
fn spawn_sqlite_lane<U: Unit>(
    db: Db,
    rx: Arc<Mutex<mpsc::Receiver<Job<U>>>>,
    name: &'static str,
    stats: Arc<Counters>,
) {
    let direct = match db.sqlite_file().map(DirectSqlite::open) {
        Some(Ok(c)) => c,
        other => {
            if let Some(Err(e)) = other {
                tracing::warn!(error = %e, writer = name, "no direct SQLite connection for the writer");
            }
            tokio::spawn(lane(db, rx, name, stats, None));
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let (db2, rx2, stats2) = (db.clone(), rx.clone(), stats.clone());
    let started = runtime.and_then(|rt| {
        std::thread::Builder::new()
            .name(format!("writer-{name}"))
            .spawn(move || rt.block_on(lane(db2, rx2, name, stats2, Some(direct))))
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, writer = name, "no writer thread; the writer runs as a task");
        tokio::spawn(lane(db, rx, name, stats, None));
    }
}

async fn lane<U: Unit>(
    db: Db,
    rx: Arc<Mutex<mpsc::Receiver<Job<U>>>>,
    name: &'static str,
    stats: Arc<Counters>,
    mut direct: Option<DirectSqlite>,
) {
    let mut ids = IdAlloc::for_db(&db);
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            jobs
        };
        metrics::histogram!("suanpan_writer_group_size", "writer" => name)
            .record(jobs.len() as f64);
        let units: Vec<&U> = jobs.iter().map(|j| &j.unit).collect();
        let grouped = write_group(&db, &units, &mut ids, name, &stats, direct.as_mut()).await;
        let results = match grouped {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, units = jobs.len(), writer = name, "group commit failed; writing the units one by one");
                ids.forget_counts();
                let mut r = Vec::with_capacity(units.len());
                for u in &units {
                    r.push(alone(&db, *u, &mut ids).await);
                }
                r
            }
        };
        for (job, r) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(r);
        }
    }
}

/// Writes a group: optimistically, and unit by unit if that gives up. A connection per group, given back after it: a lane must not keep one from the
/// requests' reads (a small pool would starve; measured: no faster either).
async fn write_group<U: Unit>(
    db: &Db,
    units: &[&U],
    ids: &mut IdAlloc,
    name: &'static str,
    stats: &Counters,
    direct: Option<&mut DirectSqlite>,
) -> Result<Vec<Result<U::Output, AppError>>, AppError> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut conn = db.writer().acquire().await?;
    let d = db.dialect;
    if let Some(r) = optimistic(&mut conn, d, units, ids, direct).await {
        stats.optimistic.fetch_add(1, Relaxed);
        metrics::counter!("suanpan_writer_groups_total", "writer" => name, "mode" => "optimistic")
            .increment(1);
        return Ok(r);
    }
    stats.by_unit.fetch_add(1, Relaxed);
    metrics::counter!("suanpan_writer_groups_total", "writer" => name, "mode" => "by_unit")
        .increment(1);
    group(&mut conn, d, units, ids).await
}

/// Writes `units` in one transaction and one round trip, as if every guard held. Returns the
/// answers if every guard did and the group committed; `None` (everything rolled back, the
/// lane's id counters reset) when the group must be written unit by unit instead.
async fn optimistic<U: Unit>(
    conn: &mut Conn,
    d: Dialect,
    units: &[&U],
    ids: &mut IdAlloc,
    mut direct: Option<&mut DirectSqlite>,
) -> Option<Vec<Result<U::Output, AppError>>> {
    match direct.as_deref_mut() {
        Some(x) => x.begin().ok()?,
        None => conn.execute(d.begin()).await.map(|_| ()).ok()?,
    }
    let mut all = Batch::new();
    let mut memo = HashMap::new();
    let mut out = Vec::with_capacity(units.len());
    let mut held = true;
    for u in units {
        let before = all.len();
        let mut ctx = UnitCtx {
            conn: &mut *conn,
            dialect: d,
            prefix: Vec::new(),
            ids: &mut *ids,
            deferred: Some(&mut all),
            direct: direct.as_deref_mut(),
            memo: Some(&mut memo),
        };
        match u.write(&mut ctx).await {
            Ok(Step::Commit(v)) => {
                ids.end_unit(true);
                out.push(Ok(v));
            }
            // A refusal that wrote nothing (a balance too low, read in the transaction) needs
            // no savepoint: answer it and go on.
            Ok(Step::Rollback(v)) if all.len() == before => {
                ids.end_unit(false);
                out.push(Ok(v));
            }
            _ => {
                held = false;
                break;
            }
        }
    }
    if let Some(direct) = direct {
        // One blocking call on the writer's own thread: every statement, COMMIT.
        if held && matches!(direct.finish(&all), Ok(true)) {
            return Some(out);
        }
        direct.rollback();
        ids.forget_counts();
        return None;
    }
    if held {
        held = matches!(all.execute(&mut *conn, d).await, Ok(r) if r.failed_guard.is_none());
    }
    if held && conn.execute("COMMIT").await.is_ok() {
        return Some(out);
    }
    let _ = conn.execute("ROLLBACK").await;
    ids.forget_counts();
    None
}

async fn group<U: Unit>(
    conn: &mut Conn,
    d: Dialect,
    units: &[&U],
    ids: &mut IdAlloc,
) -> Result<Vec<Result<U::Output, AppError>>, AppError> {
    conn.execute(d.begin()).await?;
    let body = async {
        let mut out = Vec::with_capacity(units.len());
        let mut pending: Vec<&'static str> = Vec::new();
        for u in units {
            pending.push("SAVEPOINT u");
            let mut ctx = UnitCtx {
                conn: &mut *conn,
                dialect: d,
                prefix: std::mem::take(&mut pending),
                ids: &mut *ids,
                deferred: None,
                direct: None,
                memo: None,
            };
            let step = u.write(&mut ctx).await?;
            let unsent = std::mem::take(&mut ctx.prefix);
            let committed = matches!(step, Step::Commit(_));
            ids.end_unit(committed);
            if unsent.last() == Some(&"SAVEPOINT u") {
                // The unit wrote nothing: its savepoint was never opened.
                pending = unsent[..unsent.len() - 1].to_vec();
            } else if committed {
                pending.push("RELEASE SAVEPOINT u");
            } else {
                pending.extend(["ROLLBACK TO SAVEPOINT u", "RELEASE SAVEPOINT u"]);
            }
            out.push(Ok(match step {
                Step::Commit(v) | Step::Rollback(v) => v,
            }));
        }
        if !pending.is_empty() {
            Batch::new()
                .with_prefix(&pending)
                .execute(&mut *conn, d)
                .await?;
        }
        Ok::<_, AppError>(out)
    }
    .await;
    match body {
        Ok(out) => {
            conn.execute("COMMIT").await?;
            Ok(out)
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Runs one unit in its own transaction, retrying a lost deadlock or serialization race up to
/// five times (as [`Db::transaction`] does; written out here because the unit's future must stay
/// `Send` for the writer's lanes). `ids`: the lane's allocator, so that ids stay the writer's.
pub async fn alone<U: Unit>(db: &Db, unit: &U, ids: &mut IdAlloc) -> Result<U::Output, AppError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let r = alone_once(db, unit, ids).await;
        match r {
            Err(e) if e.code == crate::db::TX_CONFLICT && attempt < 5 => {
                tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

async fn alone_once<U: Unit>(db: &Db, unit: &U, ids: &mut IdAlloc) -> Result<U::Output, AppError> {
    let mut tx = db.begin().await?;
    let mut ctx = UnitCtx {
        conn: &mut tx,
        dialect: db.dialect,
        prefix: Vec::new(),
        ids: &mut *ids,
        deferred: None,
        direct: None,
        memo: None,
    };
    let step = unit.write(&mut ctx).await;
    let (out, committed) = match step {
        Ok(Step::Commit(v)) => (tx.commit().await.map(|()| v).map_err(AppError::from), true),
        Ok(Step::Rollback(v)) => (
            tx.rollback().await.map(|()| v).map_err(AppError::from),
            false,
        ),
        Err(e) => (Err(e), false),
    };
    ids.end_unit(committed && out.is_ok());
    out
}
