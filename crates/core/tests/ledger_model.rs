//! The ledger's SQL against its pure model (`Model::apply`), on the configured database
//! (SQLite by default; PostgreSQL or MySQL when `SUANPAN_TEST_DATABASE_URL` names one).
//!
//! - `sql_matches_the_model_step_by_step`: random opens, transfers, holds, captures (partial and
//!   over), voids, expiries and expiry sweeps, with repeated ids and insufficient funds; after
//!   every step the outcome (applied, replayed or the exact error) and every balance must be
//!   equal. `SUANPAN_LEDGER_PROPTEST_OPS` sets the number of operations (default 10,000).
//! - `concurrent_operations_keep_every_invariant`: tasks applying random operations at once;
//!   afterwards `verify` must be clean and every id applied at most once.
//! - `verify_reports_a_corrupted_database`, `migration_carries_old_stock_over`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use suanpan_core::db::migrate::{MIGRATIONS, migrate};
use suanpan_core::db::{Db, DbOptions, is_retryable};
use suanpan_core::ledger::{self, Applied, LedgerError, Model, Op};

async fn db_with(migrations: &[suanpan_core::db::migrate::Migration]) -> Db {
    let url = suanpan_core::testing::fresh_database_url().await;
    let opts = DbOptions {
        max_connections: 8,
        // Commits are not fsynced (WAL keeps them across a crash of the process): speed only.
        sqlite_synchronous: "NORMAL".into(),
        ..Default::default()
    };
    let db = Db::connect(&url, &opts).await.unwrap();
    migrate(&db, &[migrations]).await.unwrap();
    db
}

fn total_ops() -> usize {
    std::env::var("SUANPAN_LEDGER_PROPTEST_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

const UNITS: [&str; 2] = ["pcs", "fen"];
const NAMES: [&str; 4] = ["clear", "a", "b", "c"];
const ACCOUNTS: usize = UNITS.len() * NAMES.len();

/// An operation over small index spaces, so that ids and accounts collide often.
#[derive(Clone, Debug)]
enum Step {
    Open(usize, bool),
    Transfer(usize, usize, usize, usize, i64),
    Hold(usize, usize, usize, usize, i64, Option<i64>),
    Capture(usize, usize, i64),
    Void(usize, usize),
    Expire(usize, usize, i64),
    ExpireDue(i64),
}

fn step(ids: usize) -> impl Strategy<Value = Step> {
    let acct = 0..ACCOUNTS;
    let unit = prop_oneof![9 => Just(usize::MAX), 1 => 0..UNITS.len()];
    prop_oneof![
        1 => (acct.clone(), any::<bool>()).prop_map(|(a, f)| Step::Open(a, f)),
        4 => (0..ids, acct.clone(), acct.clone(), unit.clone(), 0i64..=30)
            .prop_map(|(i, d, c, u, n)| Step::Transfer(i, d, c, u, n)),
        4 => (0..ids, acct.clone(), acct, unit, 0i64..=30, proptest::option::of(0i64..60))
            .prop_map(|(i, d, c, u, n, e)| Step::Hold(i, d, c, u, n, e)),
        3 => (0..ids, 0..ids, 0i64..=30).prop_map(|(i, p, n)| Step::Capture(i, p, n)),
        1 => (0..ids, 0..ids).prop_map(|(i, p)| Step::Void(i, p)),
        1 => (0..ids, 0..ids, 0i64..60).prop_map(|(i, p, t)| Step::Expire(i, p, t)),
        1 => (0i64..60).prop_map(Step::ExpireDue),
    ]
}

struct Names(String);

impl Names {
    fn account(&self, i: usize) -> String {
        format!(
            "{}{}:{}",
            self.0,
            UNITS[i / NAMES.len()],
            NAMES[i % NAMES.len()]
        )
    }
    fn id(&self, i: usize) -> String {
        format!("{}t{i}", self.0)
    }
    fn unit(&self, u: usize, debit: usize) -> String {
        UNITS[if u == usize::MAX {
            debit / NAMES.len()
        } else {
            u
        }]
        .to_string()
    }
    fn op(&self, s: &Step) -> Option<Op> {
        Some(match *s {
            Step::Open(a, f) => Op::Open {
                account: self.account(a),
                unit: UNITS[a / NAMES.len()].into(),
                non_negative: f,
            },
            Step::Transfer(i, d, c, u, amount) => Op::Transfer {
                id: self.id(i),
                debit: self.account(d),
                credit: self.account(c),
                unit: self.unit(u, d),
                amount,
                reference: self.0.clone(),
            },
            Step::Hold(i, d, c, u, amount, expires_at) => Op::Hold {
                id: self.id(i),
                debit: self.account(d),
                credit: self.account(c),
                unit: self.unit(u, d),
                amount,
                expires_at,
                reference: self.0.clone(),
            },
            Step::Capture(i, p, amount) => Op::Capture {
                id: self.id(i),
                pending_id: self.id(p),
                amount,
            },
            Step::Void(i, p) => Op::Void {
                id: self.id(i),
                pending_id: self.id(p),
            },
            Step::Expire(i, p, now) => Op::Expire {
                id: self.id(i),
                pending_id: self.id(p),
                now,
            },
            Step::ExpireDue(_) => return None,
        })
    }
    /// Opens every account (the clearing ones may go negative) and funds the others.
    fn setup(&self) -> Vec<Op> {
        let mut ops: Vec<Op> = (0..ACCOUNTS)
            .map(|a| Op::Open {
                account: self.account(a),
                unit: UNITS[a / NAMES.len()].into(),
                non_negative: a % NAMES.len() != 0,
            })
            .collect();
        for a in (0..ACCOUNTS).filter(|a| a % NAMES.len() != 0) {
            ops.push(Op::Transfer {
                id: format!("{}fund{a}", self.0),
                debit: self.account(a - a % NAMES.len()),
                credit: self.account(a),
                unit: UNITS[a / NAMES.len()].into(),
                amount: 40,
                reference: self.0.clone(),
            });
        }
        ops
    }
}

/// Applies `op` in its own transaction.
async fn sql_apply(db: &Db, op: &Op, now: i64) -> Result<Applied, LedgerError> {
    let mut tx = db.begin().await?;
    let r = ledger::execute(&mut tx, db.dialect, op, now).await;
    tx.commit().await?;
    r
}

fn outcome(r: &Result<Applied, LedgerError>) -> String {
    format!("{r:?}")
}

async fn compare_accounts(db: &Db, m: &Model, prefix: &str) -> Result<(), TestCaseError> {
    let mut c = db.reader().acquire().await.map_err(fail)?;
    let all = ledger::accounts(&mut c, db.dialect).await.map_err(fail)?;
    let mine: Vec<_> = all
        .into_iter()
        .filter(|a| a.account.starts_with(prefix))
        .collect();
    let model: Vec<_> = m.accounts.values().cloned().collect();
    prop_assert_eq!(mine, model);
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

async fn run_case(db: &Db, case: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let names = Names(format!("c{case}:"));
    let mut m = Model::default();
    for op in names.setup() {
        let (a, b) = (m.apply(&op), sql_apply(db, &op, 1).await);
        prop_assert_eq!(outcome(&a), outcome(&b));
    }
    for (n, s) in steps.iter().enumerate() {
        match (names.op(s), s) {
            (Some(op), _) => {
                let want = outcome(&m.apply(&op));
                let got = outcome(&sql_apply(db, &op, n as i64).await);
                prop_assert_eq!(want, got, "step {} {:?}", n, op);
            }
            (None, Step::ExpireDue(now)) => {
                m.expire_due(*now);
                let mut tx = db.begin().await.map_err(fail)?;
                ledger::expire_due(&mut tx, db.dialect, *now, 10_000)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
            }
            (None, _) => {}
        }
        compare_accounts(db, &m, &names.0).await?;
    }
    Ok(())
}

#[test]
fn sql_matches_the_model_step_by_step() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(db_with(MIGRATIONS));
    let per_case = 200;
    let cases = total_ops().div_ceil(per_case).max(1);
    let mut runner = TestRunner::new(Config {
        cases: cases as u32,
        failure_persistence: None,
        ..Config::default()
    });
    let case = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let strategy = proptest::collection::vec(step(per_case / 4), per_case);
    let result = runner.run(&strategy, |steps| {
        let n = case.fetch_add(1, Ordering::Relaxed);
        rt.block_on(run_case(&db, n, &steps))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let report = rt.block_on(ledger::verify_db(&db)).unwrap();
    assert!(report.ok(), "{report}");
    eprintln!(
        "ledger model: {} cases x {per_case} operations on {:?} in {:?}",
        case.load(Ordering::Relaxed),
        db.dialect,
        started.elapsed()
    );
}

/// Applies `op` in its own transaction, retrying deadlocks and lost races like `with_tx!`.
async fn apply_retrying(db: &Db, op: &Op, now: i64) -> Result<Applied, LedgerError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = match db.begin().await {
            Ok(mut tx) => match ledger::execute(&mut tx, db.dialect, op, now).await {
                Ok(a) => tx.commit().await.map(|_| a).map_err(LedgerError::from),
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        match r {
            Err(LedgerError::Db(e)) if is_retryable(&e) && attempt < 50 => {}
            Err(LedgerError::Raced) if attempt < 50 => {}
            other => return other,
        }
        tokio::time::sleep(std::time::Duration::from_millis(attempt)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_operations_keep_every_invariant() {
    use rand::{Rng, SeedableRng};
    let db = db_with(MIGRATIONS).await;
    let names = Arc::new(Names("k:".into()));
    for op in names.setup() {
        assert_eq!(apply_retrying(&db, &op, 1).await.unwrap(), Applied::Now);
    }
    let tasks = 8;
    let per_task = (total_ops() / 20).max(100);
    let applied = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (db, names, applied) = (db.clone(), names.clone(), applied.clone());
        handles.push(tokio::spawn(async move {
            // Tasks t and t + 4 run the same sequence: the same ids race each other.
            let seed = [(t % 4) as u8 + 1; 32];
            let mut rng = rand::rngs::StdRng::seed_from_u64(t);
            let mut runner = TestRunner::new_with_rng(
                Config::default(),
                proptest::test_runner::TestRng::from_seed(
                    proptest::test_runner::RngAlgorithm::ChaCha,
                    &seed,
                ),
            );
            let strategy = step(40);
            for n in 0..per_task {
                let s = strategy.new_tree(&mut runner).unwrap().current();
                let now = rng.random_range(0..60);
                let Some(op) = names.op(&s) else {
                    let mut tx = db.begin().await.unwrap();
                    let _ = ledger::expire_due(&mut tx, db.dialect, now, 100).await;
                    let _ = tx.commit().await;
                    continue;
                };
                match apply_retrying(&db, &op, n as i64).await {
                    Ok(Applied::Now) if !matches!(op, Op::Open { .. }) => {
                        applied.lock().unwrap().push(id_of(&op));
                    }
                    Ok(_) => {}
                    Err(LedgerError::Db(e)) => panic!("{op:?}: {e}"),
                    Err(_) => {}
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let report = ledger::verify_db(&db).await.unwrap();
    assert!(report.ok(), "{report}");
    let mut ids = applied.lock().unwrap().clone();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id was applied twice");
    let mut c = db.reader().acquire().await.unwrap();
    let rows: i64 = sqlx::query_scalar(&db.dialect.prepare(
        "SELECT COUNT(*) FROM ledger_transfers WHERE id LIKE 'k:t%' AND id NOT LIKE '%:expire'",
    ))
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(
        rows as usize, n,
        "every applied operation left exactly one row"
    );
}

fn id_of(op: &Op) -> String {
    match op {
        Op::Open { account, .. } => account.clone(),
        Op::Transfer { id, .. }
        | Op::Hold { id, .. }
        | Op::Capture { id, .. }
        | Op::Void { id, .. }
        | Op::Expire { id, .. } => id.clone(),
    }
}

#[tokio::test]
async fn verify_reports_a_corrupted_database() {
    let db = db_with(MIGRATIONS).await;
    let d = db.dialect;
    let mut tx = db.begin().await.unwrap();
    ledger::open_stock_account(&mut tx, d, "product:1", 10, "product:1:create")
        .await
        .unwrap();
    let hold = Op::Hold {
        id: "order:1:product:1".into(),
        debit: "product:1".into(),
        credit: ledger::sold_account("product:1"),
        unit: ledger::STOCK_UNIT.into(),
        amount: 3,
        expires_at: Some(5),
        reference: "order:1".into(),
    };
    ledger::execute(&mut tx, d, &hold, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert!(ledger::verify_db(&db).await.unwrap().ok());
    sqlx::query(
        &d.prepare("UPDATE ledger_accounts SET balance = balance + 5 WHERE account = 'product:1'"),
    )
    .execute(db.writer())
    .await
    .unwrap();
    sqlx::query(
        &d.prepare("UPDATE ledger_transfers SET status = 'voided' WHERE id = 'order:1:product:1'"),
    )
    .execute(db.writer())
    .await
    .unwrap();
    let report = ledger::verify_db(&db).await.unwrap();
    let found: Vec<(&str, &str, i64, i64)> = report
        .violations
        .iter()
        .map(|v| (v.subject.as_str(), v.what, v.expected, v.found))
        .collect();
    for want in [
        ("unit:pcs", "Σ balances of a unit = 0", 0, 5),
        (
            "product:1",
            "balance = Σ posted credits − Σ posted debits",
            10,
            15,
        ),
        ("product:1", "pending_out = Σ open holds debiting it", 0, 3),
        (
            "order:1:product:1",
            "a closed hold has exactly one closer",
            1,
            0,
        ),
    ] {
        assert!(found.contains(&want), "{want:?} missing from {report}");
    }
    assert!(!report.ok());
}

#[tokio::test]
async fn migration_carries_old_stock_over() {
    let db = db_with(&MIGRATIONS[..1]).await;
    let d = db.dialect;
    for q in [
        "INSERT INTO ledger_balances (account, on_hand, reserved, created_at, updated_at) VALUES ('product:1', 7, 2, 1, 1)",
        "INSERT INTO ledger_reservations (account, quantity, status, ref, created_at, settled_at) VALUES ('product:1', 2, 'held', 'order:3', 3, NULL)",
        "INSERT INTO ledger_reservations (account, quantity, status, ref, created_at, settled_at) VALUES ('product:1', 3, 'committed', 'order:1', 1, 2)",
        "INSERT INTO ledger_reservations (account, quantity, status, ref, created_at, settled_at) VALUES ('product:1', 1, 'released', 'order:2', 2, 3)",
        "INSERT INTO ledger_journal (account, kind, on_hand_delta, reserved_delta, reservation_id, ref, created_at) VALUES ('product:1', 'adjust', 12, 0, NULL, 'product:1:create', 1)",
        "INSERT INTO ledger_journal (account, kind, on_hand_delta, reserved_delta, reservation_id, ref, created_at) VALUES ('product:1', 'adjust', -2, 0, NULL, 'product:1:adjust:1', 2)",
    ] {
        sqlx::query(q).execute(db.writer()).await.unwrap();
    }
    migrate(&db, &[MIGRATIONS]).await.unwrap();
    let report = ledger::verify_db(&db).await.unwrap();
    assert!(report.ok(), "{report}");
    let mut tx = db.begin().await.unwrap();
    let a = ledger::account(&mut tx, d, "product:1").await.unwrap();
    assert_eq!((a.balance, a.pending_out, a.available()), (7, 2, 5));
    let sold = ledger::account(&mut tx, d, "product:1:sold").await.unwrap();
    assert_eq!((sold.balance, sold.pending_in), (3, 2));
    assert_eq!(
        ledger::close_ref(&mut tx, d, "order:3", true, 9)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert!(ledger::verify_db(&db).await.unwrap().ok());
}
