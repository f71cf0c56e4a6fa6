//! The transactional outbox and its relay.
//!
//! A domain change and the events it causes commit together: [`push_enqueue`] adds the event's
//! row to the change's statement batch (its unit of work). The relay ([`Relay`]) reads unpublished
//! rows in id order and publishes each to NATS JetStream on the subject
//! `{prefix}.{event_type}` (e.g. `suanpan.events.Order.Created`) with the header
//! `Nats-Msg-Id: {event_id}`, waits for the stream's ack, then marks the row published.
//! Delivery is at least once: a crash between ack and mark republishes, and JetStream's
//! duplicate window drops the copy by `Nats-Msg-Id`; consumers should still dedupe on
//! `event_id`. A failed publish is retried with exponential backoff (1 s doubling, capped at
//! 5 min) and blocks later events, so per-relay order is kept.
//!
//! The wire format is [`Envelope`]; `docs/events/` holds a JSON Schema per event type, generated
//! from the Rust types by `suanpan schemas`.

use std::future::Future;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::{Batch, Db, Dialect};
use crate::sql;

/// A domain event: its payload type names its event type and aggregate.
pub trait DomainEvent: Serialize + JsonSchema {
    /// e.g. `Order.Created`.
    const EVENT_TYPE: &'static str;
    /// e.g. `order`.
    const AGGREGATE_TYPE: &'static str;
    /// The aggregate's id.
    fn aggregate_id(&self) -> String;
}

/// What is published for every event.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<T> {
    /// Unique id (UUID v4 form); the `Nats-Msg-Id` header carries it too.
    pub event_id: String,
    /// e.g. `Order.Created`.
    pub event_type: String,
    /// Schema version of `data`; additive changes keep it, breaking changes bump it.
    pub version: u32,
    /// When the change committed, RFC 3339 in UTC+08:00.
    pub occurred_at: String,
    /// e.g. `order`.
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The event's payload.
    pub data: T,
}

/// Adds the outbox row for `event` to `b` (to run in the change's transaction); returns the
/// event id.
pub fn push_enqueue<E: DomainEvent>(
    b: &mut Batch,
    d: Dialect,
    event: &E,
) -> Result<String, serde_json::Error> {
    let now = crate::time::now_ms();
    let env = Envelope {
        event_id: crate::ids::event_id(),
        event_type: E::EVENT_TYPE.to_string(),
        version: 1,
        occurred_at: crate::time::rfc3339(now),
        aggregate_type: E::AGGREGATE_TYPE.to_string(),
        aggregate_id: event.aggregate_id(),
        data: event,
    };
    let payload = serde_json::to_string(&env)?;
    b.push(
        sql!(
            d,
            "INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, payload, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
        ),
        vec![env.event_id.clone().into(), E::EVENT_TYPE.into(), E::AGGREGATE_TYPE.into(), env.aggregate_id.clone().into(), payload.into(), now.into(), now.into()],
    );
    metrics::counter!("suanpan_events_enqueued_total", "event_type" => E::EVENT_TYPE).increment(1);
    Ok(env.event_id)
}

/// Writes `event` through [`push_enqueue`] on `conn` (inside the caller's transaction), for
/// workflows that are not a single batch; returns its event id.
pub async fn enqueue<E: DomainEvent>(
    conn: &mut crate::db::Conn,
    d: Dialect,
    event: &E,
) -> Result<String, sqlx::Error> {
    let mut b = Batch::new();
    let id = push_enqueue(&mut b, d, event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    b.execute(conn, d).await?;
    Ok(id)
}

/// An outbox row.
#[derive(Clone, Debug)]
pub struct OutboxRecord {
    /// Row id (publication order).
    pub id: i64,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// The envelope JSON.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// Where the relay publishes.
pub trait Publisher: Send + Sync {
    /// Publishes one message and waits for the broker's acknowledgement.
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Publishes to a NATS JetStream stream.
#[derive(Clone)]
pub struct JetStreamPublisher {
    js: async_nats::jetstream::Context,
}

impl JetStreamPublisher {
    /// Connects and makes sure `stream` exists and captures `{subject_prefix}.>` (file storage,
    /// 2-minute duplicate window).
    pub async fn connect(url: &str, stream: &str, subject_prefix: &str) -> Result<Self, String> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to NATS at {url}: {e}"))?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![format!("{subject_prefix}.>")],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create JetStream stream {stream}: {e}"))?;
        Ok(JetStreamPublisher { js })
    }

    /// The JetStream context (for tests and consumers).
    pub fn context(&self) -> &async_nats::jetstream::Context {
        &self.js
    }
}

impl Publisher for JetStreamPublisher {
    async fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id.as_str());
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(10), ack)
            .await
            .map_err(|_| "timed out waiting for the JetStream ack".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Backoff after `attempts` failures: 1 s, 2 s, 4 s, … capped at 5 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 20) as u32;
    (1000i64 << exp).min(300_000)
}

/// Moves outbox rows to a [`Publisher`].
pub struct Relay<P> {
    db: Db,
    publisher: P,
    subject_prefix: String,
    batch: i64,
}

impl<P: Publisher> Relay<P> {
    /// A relay publishing under `subject_prefix`.
    pub fn new(db: Db, publisher: P, subject_prefix: impl Into<String>) -> Self {
        Relay {
            db,
            publisher,
            subject_prefix: subject_prefix.into(),
            batch: 100,
        }
    }

    /// Publishes every due row, in order, stopping at the first failure. Returns how many were
    /// published.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let d = self.db.dialect;
        let now = crate::time::now_ms();
        let rows = sqlx::query(sql!(
            d,
            "SELECT id, event_id, event_type, payload, attempts FROM outbox WHERE published_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?"
        ))
        .bind(now)
        .bind(self.batch)
        .fetch_all(self.db.reader())
        .await?;
        let mut published = 0;
        for r in rows {
            let rec = OutboxRecord {
                id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                event_type: r.try_get(2)?,
                payload: crate::db::text(&r, 3)?,
                attempts: r.try_get(4)?,
            };
            let subject = format!("{}.{}", self.subject_prefix, rec.event_type);
            match self
                .publisher
                .publish(subject, rec.event_id.clone(), rec.payload.into_bytes())
                .await
            {
                Ok(()) => {
                    sqlx::query(sql!(
                        d,
                        "UPDATE outbox SET published_at = ?, last_error = NULL WHERE id = ?"
                    ))
                    .bind(crate::time::now_ms())
                    .bind(rec.id)
                    .execute(self.db.writer())
                    .await?;
                    metrics::counter!("suanpan_events_published_total").increment(1);
                    published += 1;
                }
                Err(e) => {
                    let attempts = rec.attempts + 1;
                    tracing::warn!(event_id = %rec.event_id, attempts, error = %e, "outbox publish failed");
                    let msg: String = e.chars().take(480).collect();
                    sqlx::query(sql!(d, "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?"))
                        .bind(attempts)
                        .bind(crate::time::now_ms() + backoff_ms(attempts - 1))
                        .bind(msg)
                        .bind(rec.id)
                        .execute(self.db.writer())
                        .await?;
                    metrics::counter!("suanpan_events_publish_failures_total").increment(1);
                    break;
                }
            }
        }
        Ok(published)
    }

    /// Runs until `shutdown` resolves, polling every `interval` when idle.
    pub async fn run(self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let n = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay could not read the outbox");
                    0
                }
            };
            if n as i64 >= self.batch {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Counts unpublished rows (for `/metrics` and tests).
pub async fn pending(db: &Db) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(db.reader())
        .await?;
    row.try_get::<i64, _>(0)
}

/// Unpublished rows and the creation time (Unix ms) of the oldest of them (for `/metrics`).
pub async fn backlog(db: &Db) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row =
        sqlx::query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE published_at IS NULL")
            .fetch_one(db.reader())
            .await?;
    Ok((row.try_get::<i64, _>(0)?, row.try_get::<Option<i64>, _>(1)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(super::backoff_ms(0), 1000);
        assert_eq!(super::backoff_ms(3), 8000);
        assert_eq!(super::backoff_ms(30), 300_000);
    }
}
