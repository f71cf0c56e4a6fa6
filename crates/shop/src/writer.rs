//! Group commit of orders on SQLite.
//!
//! SQLite has one writer at a time; with one transaction per order, throughput is bounded by
//! the commit (an fsync with `synchronous = FULL`) and by the round trips to the connection's
//! worker thread. The [`OrderWriter`] is a task that owns the write connection for a moment:
//! it takes every order waiting (up to [`MAX_GROUP`]), writes them in **one** transaction, one
//! statement batch (one round trip) per order, each inside a savepoint, and commits once. An
//! order whose stock or idempotency-key guard fails is rolled back to its savepoint without
//! touching the others. Acknowledgements are sent only after the commit, so an acknowledged
//! order is durable exactly as with one transaction per order.
//!
//! Order ids are assigned by the writer (it is the only writer of `orders` on SQLite); if
//! anything unexpected fails, the group is rolled back and its orders are written one by one
//! through [`place_in_transaction`](crate::service::place_in_transaction), which uses database-generated ids.

use sqlx::{Executor, Row};
use suanpan_core::db::{Batch, Db};
use suanpan_core::time::now_ms;
use suanpan_core::{AppError, AppResult, ErrorKind, idempotency};
use tokio::sync::{mpsc, oneshot};

use crate::service::{Placed, PreparedOrder, new_order, place_in_transaction, push_order_writes};
use crate::store;

/// Most orders in one group transaction.
pub const MAX_GROUP: usize = 256;

struct Job {
    order: PreparedOrder,
    reply: oneshot::Sender<AppResult<Placed>>,
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct OrderWriter {
    tx: mpsc::Sender<Job>,
}

impl OrderWriter {
    /// Starts the writer task for `db` (SQLite).
    pub fn spawn(db: Db) -> OrderWriter {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(db, rx));
        OrderWriter { tx }
    }

    /// Writes `order` in the next group; resolves after the group has committed.
    pub async fn place(&self, order: PreparedOrder) -> AppResult<Placed> {
        let (reply, rx) = oneshot::channel();
        let gone = || {
            AppError::new(
                ErrorKind::Unavailable,
                "database_unavailable",
                "order writer stopped",
            )
        };
        self.tx
            .send(Job { order, reply })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    let mut next_id: Option<i64> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        metrics::histogram!("suanpan_shop_order_group_size").record(jobs.len() as f64);
        let orders: Vec<&PreparedOrder> = jobs.iter().map(|j| &j.order).collect();
        let results = match group(&db, &orders, &mut next_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, orders = jobs.len(), "group commit failed; writing the orders one by one");
                next_id = None;
                let mut r = Vec::with_capacity(jobs.len());
                for o in &orders {
                    r.push(place_in_transaction(&db, o).await);
                }
                r
            }
        };
        for (job, r) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(r);
        }
    }
}

async fn first_free_id(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    let max: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM orders")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let seq: Option<i64> = sqlx::query("SELECT seq FROM sqlite_sequence WHERE name = 'orders'")
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(max.max(seq.unwrap_or(0)) + 1)
}

async fn group(
    db: &Db,
    orders: &[&PreparedOrder],
    next_id: &mut Option<i64>,
) -> AppResult<Vec<AppResult<Placed>>> {
    let d = db.dialect;
    let mut conn = db.writer().acquire().await?;
    conn.execute("BEGIN IMMEDIATE").await?;
    let body = async {
        let mut id = match *next_id {
            Some(i) => i,
            None => first_free_id(&mut conn).await?,
        };
        let mut out = Vec::with_capacity(orders.len());
        // How the previous order's savepoint ends, sent at the head of the next batch.
        let mut previous_ok: Option<bool> = None;
        for p in orders {
            let now = now_ms();
            let order_no = suanpan_core::ids::business_no("S");
            let mut b = Batch::new();
            end_savepoint(&mut b, previous_ok);
            b.push("SAVEPOINT o", vec![]);
            let claim = p
                .idem
                .as_ref()
                .map(|i| idempotency::push_claim(&mut b, d, &i.scope, &i.key, &i.hash));
            store::push_insert_order(&mut b, d, &new_order(p, &order_no, now), Some(id));
            let w = push_order_writes(&mut b, d, p, id, &order_no, now)?;
            let r = b.execute(&mut conn, d).await?;
            match r.failed_guard {
                None => {
                    out.push(Ok(Placed::Created(w.body)));
                    previous_ok = Some(true);
                    id += 1;
                }
                Some(g) if Some(g) == claim => {
                    out.push(Ok(Placed::KeyTaken));
                    previous_ok = Some(false);
                }
                Some(g) => {
                    out.push(Ok(w.insufficient(g)?));
                    previous_ok = Some(false);
                }
            }
        }
        let mut b = Batch::new();
        end_savepoint(&mut b, previous_ok);
        b.execute(&mut conn, d).await?;
        Ok::<_, AppError>((out, id))
    }
    .await;
    match body {
        Ok((out, id)) => {
            conn.execute("COMMIT").await?;
            *next_id = Some(id);
            Ok(out)
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e)
        }
    }
}

fn end_savepoint(b: &mut Batch, previous_ok: Option<bool>) {
    match previous_ok {
        Some(true) => {
            b.push("RELEASE SAVEPOINT o", vec![]);
        }
        Some(false) => {
            b.push("ROLLBACK TO SAVEPOINT o", vec![]);
            b.push("RELEASE SAVEPOINT o", vec![]);
        }
        None => {}
    }
}
