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

fn hold(id: &str, amount: i64) -> ledger::Op {
    ledger::Op::Hold {
        id: id.into(),
        debit: "a".into(),
        credit: "a:sold".into(),
        unit: ledger::STOCK_UNIT.into(),
        amount,
        expires_at: None,
        reference: id.into(),
    }
}

#[tokio::test]
async fn hold_guard_fails_without_stock_and_verify_stays_clean() {
    let db = db().await;
    let d = db.dialect;
    let mut tx = db.begin().await.unwrap();
    ledger::open_stock_account(&mut tx, d, "a", 3, "t")
        .await
        .unwrap();
    let mut b = Batch::new();
    ledger::push(&mut b, d, &hold("r1", 2), 1).unwrap();
    let p2 = ledger::push(&mut b, d, &hold("r2", 2), 1).unwrap();
    let failed = b.execute(&mut tx, d).await.unwrap().failed_guard;
    assert_eq!(failed, p2.funds);
    tx.rollback().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    ledger::open_stock_account(&mut tx, d, "a", 3, "t")
        .await
        .unwrap();
    ledger::execute(&mut tx, d, &hold("r1", 2), 1)
        .await
        .unwrap();
    assert!(matches!(
        ledger::execute(&mut tx, d, &hold("r2", 2), 1).await,
        Err(ledger::LedgerError::Insufficient { available: 1, .. })
    ));
    assert_eq!(
        ledger::close_ref(&mut tx, d, "r1", true, 2).await.unwrap(),
        1
    );
    assert_eq!(
        ledger::close_ref(&mut tx, d, "r1", false, 2).await.unwrap(),
        0
    );
    let a = ledger::account(&mut tx, d, "a").await.unwrap();
    assert_eq!((a.balance, a.pending_out), (1, 0));
    let report = ledger::verify(&mut tx, d).await.unwrap();
    assert!(report.ok(), "{report}");
    tx.commit().await.unwrap();
}
