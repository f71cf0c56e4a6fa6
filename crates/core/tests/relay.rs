//! The outbox relay against a live NATS JetStream server. Ignored by default (it needs the
//! server); `.ci/run` runs it with `--ignored` and `SUANPAN_TEST_NATS_URL=nats://127.0.0.1:4222`.

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use suanpan_core::db::migrate::{MIGRATIONS, migrate};
use suanpan_core::db::{Db, DbOptions};
use suanpan_core::outbox::{self, DomainEvent, JetStreamPublisher, Publisher, Relay};

#[derive(Serialize, schemars::JsonSchema)]
struct Ping {
    n: i64,
}

impl DomainEvent for Ping {
    const EVENT_TYPE: &'static str = "Test.Ping";
    const AGGREGATE_TYPE: &'static str = "test";
    fn aggregate_id(&self) -> String {
        self.n.to_string()
    }
}

async fn db() -> Db {
    let dir = std::env::temp_dir().join("suanpan-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!(
        "sqlite://{}/relay-{}.db",
        dir.display(),
        suanpan_core::ids::random_alnum(10)
    );
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
    migrate(&db, &[MIGRATIONS]).await.unwrap();
    db
}

/// Fails the first `n` publishes, then delegates.
struct Flaky<P> {
    inner: P,
    fail: std::sync::atomic::AtomicI64,
}

impl<P: Publisher> Publisher for Flaky<P> {
    async fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        if self.fail.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            return Err("injected failure".into());
        }
        self.inner.publish(subject, msg_id, payload).await
    }
}

#[tokio::test]
#[ignore = "needs NATS JetStream: SUANPAN_TEST_NATS_URL"]
async fn relay_publishes_every_event_once_in_order_with_retry() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url =
        std::env::var("SUANPAN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let run = suanpan_core::ids::random_alnum(8);
    let prefix = format!("suanpantest.{run}");
    let stream = format!("SUANPAN_TEST_{run}");
    let publisher = JetStreamPublisher::connect(&url, &stream, &prefix)
        .await
        .expect("NATS JetStream must be reachable");
    let js = publisher.context().clone();

    let db = db().await;
    for n in 0..5 {
        let mut tx = db.begin().await.unwrap();
        let mut b = suanpan_core::db::Batch::new();
        outbox::push_enqueue(&mut b, db.dialect, &Ping { n }).unwrap();
        b.execute(&mut tx, db.dialect).await.unwrap();
        tx.commit().await.unwrap();
    }
    // A rolled-back transaction leaves no event.
    let mut tx = db.begin().await.unwrap();
    let mut b = suanpan_core::db::Batch::new();
    outbox::push_enqueue(&mut b, db.dialect, &Ping { n: 99 }).unwrap();
    b.execute(&mut tx, db.dialect).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(outbox::pending(&db).await.unwrap(), 5);

    let relay = Relay::new(
        db.clone(),
        Flaky {
            inner: publisher,
            fail: 1.into(),
        },
        prefix.clone(),
    );
    assert_eq!(
        relay.run_once().await.unwrap(),
        0,
        "the first attempt fails and stops the batch"
    );
    assert_eq!(outbox::pending(&db).await.unwrap(), 5);
    tokio::time::sleep(Duration::from_millis(1100)).await; // backoff of the first failure
    assert_eq!(relay.run_once().await.unwrap(), 5);
    assert_eq!(relay.run_once().await.unwrap(), 0);
    assert_eq!(outbox::pending(&db).await.unwrap(), 0);

    let stream = js.get_stream(&stream).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut msgs = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(Ok(m)) = msgs.next().await {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(m.subject.as_str(), format!("{prefix}.Test.Ping"));
        assert_eq!(v["event_type"], "Test.Ping");
        got.push(v["data"]["n"].as_i64().unwrap());
        m.ack().await.unwrap();
    }
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    let _ = js
        .delete_stream(stream.cached_info().config.name.as_str())
        .await;
}
