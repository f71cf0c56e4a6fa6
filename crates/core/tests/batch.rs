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

/// Text that a careless literal would break: quotes, backslashes, placeholders, comments, SQL,
/// Chinese, emoji, and the empty string. Written through a one-round-trip batch (arguments as
/// literals) and read back with bound parameters, it must be byte for byte the same.
#[tokio::test]
async fn batch_literals_round_trip_any_text() {
    use sqlx::Row;
    let db = db().await;
    let d = db.dialect;
    let texts = [
        "",
        "it's",
        "''; DROP TABLE audit_log; --",
        "back\\slash \\x00 \\' $1 ? ?? $$ $tag$",
        "五常大米 5kg 🍚",
        "/* comment */ -- line",
        "\t\r\n tab and newlines",
    ];
    let mut tx = db.begin().await.unwrap();
    let mut b = Batch::new();
    for (i, t) in texts.iter().enumerate() {
        b.push(
            sql!(d, "INSERT INTO audit_log (actor_type, actor_id, actor_name, action, entity_type, entity_id, ip, before_json, after_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            vec![
                "system".into(),
                (*t).into(),
                "n".into(),
                "batch.literal".into(),
                "t".into(),
                i.to_string().into(),
                suanpan_core::db::Arg::NullText,
                suanpan_core::db::Arg::NullText,
                suanpan_core::db::Arg::NullText,
                (i as i64).into(),
            ],
        );
    }
    let r = b.execute(&mut tx, d).await.unwrap();
    assert_eq!(r.rows_affected, vec![1; texts.len()]);
    tx.commit().await.unwrap();
    for (i, t) in texts.iter().enumerate() {
        let row = sqlx::query(sql!(
            d,
            "SELECT actor_id FROM audit_log WHERE action = 'batch.literal' AND entity_id = ?"
        ))
        .bind(i.to_string())
        .fetch_one(db.reader())
        .await
        .unwrap();
        assert_eq!(row.try_get::<String, _>(0).unwrap(), *t, "text {i}");
    }
}

/// The SQLite writer's own connection ([`suanpan_core::db::direct`]) commits a batch only when
/// every guard held: a guard that changes no row rolls the whole batch back, an idempotency
/// claim that inserted nothing counts as no row, and text with a NUL is stored as sent.
#[tokio::test]
async fn the_direct_sqlite_connection_commits_only_when_every_guard_holds() {
    use suanpan_core::db::direct::DirectSqlite;
    let db = db().await;
    let Some(file) = db.sqlite_file() else {
        return; // PostgreSQL and MySQL have no direct connection.
    };
    let d = db.dialect;
    let mut direct = DirectSqlite::open(file).unwrap();
    let key = |k: &str| idempotency::Key {
        scope: "direct".into(),
        key: k.into(),
        hash: "h".into(),
    };
    let insert = "INSERT INTO audit_log (actor_type, actor_id, actor_name, action, entity_type, entity_id, created_at) VALUES ('t', '1', ?, 'a', 'x', '1', 0)";
    let mut b = Batch::new();
    key("k1").push_claim(&mut b, d);
    b.push(insert, vec!["nul\0inside".into()]);
    assert!(direct.write_all(&b).unwrap(), "first claim commits");
    let mut again = Batch::new();
    key("k1").push_claim(&mut again, d);
    again.push(insert, vec!["second".into()]);
    assert!(
        !direct.write_all(&again).unwrap(),
        "a taken key is a failed guard"
    );
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor_name FROM audit_log ORDER BY id")
        .fetch_all(db.reader())
        .await
        .unwrap();
    assert_eq!(
        actors,
        vec!["nul\0inside".to_string()],
        "the second batch left nothing"
    );
}

/// A point read sees what was committed just before, decodes NULLs and texts, and answers
/// `None` without a row — on SQLite through the calling thread's own connection, elsewhere
/// through the pool.
#[tokio::test]
async fn point_reads_see_committed_rows_with_their_nulls() {
    use suanpan_core::db::direct::{Kind, Val};
    let db = db().await;
    let d = db.dialect;
    let q = sql!(
        d,
        "SELECT scope, status_code, response_body, (SELECT NULL) FROM idempotency_keys WHERE scope = ? AND idem_key = ?"
    );
    let kinds = [Kind::Text, Kind::I64, Kind::Text, Kind::OptI64];
    let args = ["p".into(), "k".into()];
    assert_eq!(db.point_row(q, &args, &kinds).await.unwrap(), None);
    for status in [0i64, 201] {
        let mut tx = db.begin().await.unwrap();
        sqlx::query(sql!(d, "DELETE FROM idempotency_keys WHERE scope = 'p'"))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(sql!(d, "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_body, created_at) VALUES ('p', 'k', 'h', ?, '算盘', 1)"))
            .bind(status)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let row = db.point_row(q, &args, &kinds).await.unwrap().unwrap();
        assert_eq!(
            row,
            vec![
                Val::T("p".into()),
                Val::I(status),
                Val::T("算盘".into()),
                Val::Null
            ]
        );
        if let Some(file) = db.sqlite_file() {
            // The thread's own connection answers itself (no silent fallback to the pool).
            let direct = suanpan_core::db::direct::point_row(file, q, &args, &kinds).unwrap();
            assert_eq!(direct, Some(row));
        }
    }
}

/// The writer's own connection leaves checkpoints to its thread: a commit that leaves the WAL
/// far above SQLite's 1,000-page checkpoint threshold returns with the database file as it was,
/// and the thread copies the WAL into it within moments (the WAL never grows without end).
#[tokio::test]
async fn the_writer_connection_checkpoints_on_a_thread_of_its_own() {
    use suanpan_core::db::direct::DirectSqlite;
    let db = db().await;
    let Some(file) = db.sqlite_file() else {
        return; // PostgreSQL and MySQL have no direct connection.
    };
    let size = || std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
    let mut direct = DirectSqlite::open(file).unwrap();
    let insert = "INSERT INTO audit_log (actor_type, actor_id, actor_name, action, entity_type, entity_id, created_at) VALUES ('t', '1', ?, 'a', 'x', '1', 0)";
    let mut b = Batch::new();
    for i in 0..3_000 {
        b.push(insert, vec![format!("{i:>3000}").into()]);
    }
    let before = size();
    assert!(direct.write_all(&b).unwrap());
    let at_commit = size();
    assert!(
        at_commit < before + 4_000_000,
        "the commit itself did not checkpoint ~12 MB ({before} -> {at_commit} bytes)"
    );
    let mut grown = at_commit;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        grown = size();
        if grown > before + 9_000_000 {
            break;
        }
    }
    assert!(
        grown > before + 9_000_000,
        "the checkpoint thread copied the WAL into the database ({before} -> {grown} bytes)"
    );
}

/// A many-row read answers the rows in the query's order, at most `limit` of them, the same on
/// every engine (SQLite: the calling thread's connection).
#[tokio::test]
async fn row_reads_answer_in_order_up_to_their_limit() {
    use suanpan_core::db::direct::{Kind, Val};
    let db = db().await;
    let d = db.dialect;
    for k in ["c", "a", "b"] {
        sqlx::query(sql!(d, "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status_code, response_body, created_at) VALUES ('rows', ?, 'h', 200, '', 1)"))
            .bind(k)
            .execute(db.writer())
            .await
            .unwrap();
    }
    let q = sql!(
        d,
        "SELECT idem_key, status_code FROM idempotency_keys WHERE scope = ? ORDER BY idem_key"
    );
    let kinds = [Kind::Text, Kind::I64];
    let args = ["rows".into()];
    let keys = |rows: Vec<Vec<Val>>| rows.iter().map(|r| r[0].text()).collect::<Vec<_>>();
    let all = db.rows(q, &args, &kinds, usize::MAX).await.unwrap();
    assert_eq!(keys(all.clone()), ["a", "b", "c"]);
    assert!(all.iter().all(|r| r[1] == Val::I(200)));
    assert_eq!(
        keys(db.rows(q, &args, &kinds, 2).await.unwrap()),
        ["a", "b"]
    );
    assert!(
        db.rows(q, &["none".into()], &kinds, 5)
            .await
            .unwrap()
            .is_empty()
    );
}
