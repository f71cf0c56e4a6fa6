//! Statement batches on the configured database (SQLite by default): guards, generated ids and
//! the idempotency claim behave the same whether the batch is one round trip or many.

use suanpan_core::db::migrate::MIGRATIONS;
use suanpan_core::db::{Batch, Db};
use suanpan_core::{idempotency, ledger, sql};

async fn db() -> Db {
    suanpan_core::testing::fresh_db(&[MIGRATIONS]).await
}

#[tokio::test]
async fn claim_guard_detects_a_taken_key_inside_a_batch() {
    let db = db().await;
    let d = db.dialect;
    for round in 0..2 {
        let mut tx = db.begin().await.unwrap();
        let mut b = Batch::new();
        let key = idempotency::Key {
            scope: "s".into(),
            key: "k".into(),
            hash: "h".into(),
        };
        let g = key.push_claim(&mut b, d);
        b.push(
            sql!(
                d,
                "UPDATE idempotency_keys SET status_code = 201 WHERE scope = 's'"
            ),
            vec![],
        );
        let r = b.execute(&mut tx, d).await.unwrap();
        assert_eq!(
            r.failed_guard == Some(g),
            round == 1,
            "round {round}: {:?}",
            r.rows_affected
        );
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn reserve_guard_fails_without_stock_and_journal_balances() {
    let db = db().await;
    let d = db.dialect;
    let mut tx = db.begin().await.unwrap();
    ledger::open_account(&mut tx, d, "a", 3, "t").await.unwrap();
    ledger::reserve(&mut tx, d, "a", 2, "r1").await.unwrap();
    assert!(matches!(
        ledger::reserve(&mut tx, d, "a", 2, "r2").await,
        Err(ledger::LedgerError::Insufficient { available: 1, .. })
    ));
    tx.rollback().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    ledger::open_account(&mut tx, d, "a", 3, "t").await.unwrap();
    ledger::reserve(&mut tx, d, "a", 2, "r1").await.unwrap();
    assert_eq!(ledger::settle_ref(&mut tx, d, "r1", true).await.unwrap(), 1);
    assert_eq!(
        ledger::settle_ref(&mut tx, d, "r1", false).await.unwrap(),
        0
    );
    let (b, j) = ledger::verify_account(&mut tx, d, "a").await.unwrap();
    assert_eq!(b, j);
    assert_eq!((b.on_hand, b.reserved), (1, 0));
    tx.commit().await.unwrap();
}
