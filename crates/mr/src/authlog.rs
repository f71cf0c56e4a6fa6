//! The writer of FR-057's authorization events ([`crate::store::authlog`]): answers that charged
//! nothing are queued and written in batches (up to 500 rows per transaction) by one task, off
//! the request path; a full queue (10,000) makes requests wait rather than lose rows. Rows still
//! queued when the process dies are lost (at most one batch interval's worth).

use suanpan_core::db::{Batch, Db};
use tokio::sync::{mpsc, oneshot};

use crate::store::authlog::{AuthEvent, push_event};

enum Msg {
    Event(AuthEvent),
    Flush(oneshot::Sender<()>),
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct AuthLog {
    tx: mpsc::Sender<Msg>,
}

impl AuthLog {
    /// Starts the writer over `db`.
    pub fn spawn(db: Db) -> AuthLog {
        let (tx, rx) = mpsc::channel(10_000);
        tokio::spawn(run(db, rx));
        AuthLog { tx }
    }

    /// Queues `e` (waits while the queue is full).
    pub async fn record(&self, e: AuthEvent) {
        if self.tx.send(Msg::Event(e)).await.is_err() {
            tracing::error!("the authorization audit writer has stopped");
        }
    }

    /// Returns once everything queued before has been written (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Event(e) => events.push(e),
                Msg::Flush(f) => flushes.push(f),
            }
            if events.len() < 500 {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() {
            write(&db, &events).await;
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

async fn write(db: &Db, events: &[AuthEvent]) {
    let d = db.dialect;
    for attempt in 1..=3 {
        let r = db
            .transaction(&events, move |tx, events| {
                Box::pin(async move {
                    let mut b = Batch::new();
                    for e in events.iter() {
                        push_event(&mut b, d, e);
                    }
                    b.execute(tx, d).await?;
                    Ok(())
                })
            })
            .await;
        match r {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, rows = events.len(), "authorization audit write failed");
                tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
            }
        }
    }
    tracing::error!(
        rows = events.len(),
        "authorization audit rows lost after three attempts"
    );
    metrics::counter!("mr_auth_audit_lost_total").increment(events.len() as u64);
}
