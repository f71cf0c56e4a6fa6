//! The group-commit write path on the configured database (SQLite by default): every unit is
//! answered after its group commits, a unit whose guard fails leaves no trace and does not
//! disturb its neighbours, writer-assigned ids never collide, and many concurrent submitters
//! all get exactly their own answer.

use std::sync::Arc;

use suanpan_core::db::migrate::{MIGRATIONS, Migration};
use suanpan_core::db::{Batch, Db};
use suanpan_core::writer::{GroupWriter, Step, Unit, UnitCtx};
use suanpan_core::{AppError, sql};

const TEST_TABLES: &[Migration] = &[Migration {
    version: 9001,
    name: "writer_test",
    sql: "CREATE TABLE wt_items (id {{PK}}, label VARCHAR(64) NOT NULL){{TABLE}};\nCREATE TABLE wt_stock (name VARCHAR(16) NOT NULL PRIMARY KEY, qty BIGINT NOT NULL){{TABLE}};\nINSERT INTO wt_stock (name, qty) VALUES ('s', 100);",
}];

/// Takes `qty` from the stock (guarded) and inserts one labelled item.
struct Take {
    label: String,
    qty: i64,
}

impl Unit for Take {
    type Output = Result<i64, &'static str>;

    async fn write(&self, ctx: &mut UnitCtx<'_>) -> Result<Step<Self::Output>, AppError> {
        let d = ctx.dialect;
        let mut b = Batch::new();
        let g = b.guard(
            sql!(
                d,
                "UPDATE wt_stock SET qty = qty - ? WHERE name = 's' AND qty >= ?"
            ),
            vec![self.qty.into(), self.qty.into()],
        );
        let id = ctx.next_id("wt_items").await?;
        b.push(
            sql!(d, "INSERT INTO wt_items (id, label) VALUES (?, ?)"),
            vec![id.into(), self.label.clone().into()],
        );
        let r = ctx.execute(b).await?;
        if r.failed_guard == Some(g) {
            return Ok(Step::Rollback(Err("short")));
        }
        Ok(Step::Commit(Ok(id)))
    }
}

async fn db() -> Db {
    suanpan_core::testing::fresh_db(&[MIGRATIONS, TEST_TABLES]).await
}

async fn count(db: &Db, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sql)
        .fetch_one(db.reader())
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

type Answer = Result<Result<i64, &'static str>, AppError>;

/// Submits every `(label, qty)` unit at once, each from its own task; the answers with their
/// labels, in submission order.
async fn submit_all(
    w: &Arc<GroupWriter<Take>>,
    units: Vec<(String, i64)>,
) -> Vec<(String, Answer)> {
    let tasks: Vec<_> = units
        .into_iter()
        .map(|(label, qty)| {
            let w = w.clone();
            tokio::spawn(async move {
                let answer = w
                    .submit(Take {
                        label: label.clone(),
                        qty,
                    })
                    .await;
                (label, answer)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The ids of the units that committed, after checking that each is the row of its own label
/// and that no two units got the same id.
async fn own_rows(db: &Db, answers: &[(String, Answer)]) -> Vec<i64> {
    let mut ids = Vec::new();
    for (label, a) in answers {
        if let Ok(Ok(id)) = a {
            let q = format!("SELECT COUNT(*) FROM wt_items WHERE id = {id} AND label = '{label}'");
            assert_eq!(count(db, &q).await, 1, "unit {label} answered id {id}");
            ids.push(*id);
        }
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids are distinct");
    ids
}

fn labelled(prefix: &str, n: usize, qty: i64) -> Vec<(String, i64)> {
    (0..n).map(|i| (format!("{prefix}{i}"), qty)).collect()
}

#[tokio::test]
async fn concurrent_units_commit_in_groups_and_guards_fail_alone() {
    let db = db().await;
    let w = Arc::new(GroupWriter::<Take>::spawn(db.clone(), 4, "test"));
    // 300 units of 1 against stock 100, submitted at once: exactly 100 succeed.
    let answers = submit_all(&w, labelled("u", 300, 1)).await;
    let short = answers
        .iter()
        .filter(|(_, a)| matches!(a, Ok(Err("short"))))
        .count();
    assert_eq!(own_rows(&db, &answers).await.len(), 100);
    assert_eq!(short, 200);
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wt_items").await, 100);
}

#[tokio::test]
async fn a_unit_that_errors_fails_the_group_and_its_neighbours_still_commit() {
    let db = db().await;
    let w = Arc::new(GroupWriter::<Take>::spawn(db.clone(), 2, "test"));
    // A label longer than the column errors on PostgreSQL and MySQL (strict mode); SQLite
    // stores it. Either way no other unit may be lost.
    let mut units = labelled("n", 20, 2);
    units[7].0 = "x".repeat(100);
    let answers = submit_all(&w, units).await;
    let committed = own_rows(&db, &answers).await.len() as i64;
    let rows = count(&db, "SELECT COUNT(*) FROM wt_items").await;
    assert_eq!(rows, committed);
    assert_eq!(
        count(&db, "SELECT qty FROM wt_stock").await,
        100 - 2 * committed
    );
    assert!(committed >= 19);
}

/// With every guard holding, groups go in one round trip (the writer assigns the ids on every
/// engine), and the answers are the same as unit by unit: distinct ids, each the row of its own
/// label, stock taken once per unit.
#[tokio::test]
async fn groups_without_a_failed_guard_go_in_one_round_trip() {
    let db = db().await;
    let w = Arc::new(GroupWriter::<Take>::spawn(db.clone(), 2, "test"));
    let answers = submit_all(&w, labelled("o", 64, 1)).await;
    assert!(answers.iter().all(|(_, a)| matches!(a, Ok(Ok(_)))));
    assert_eq!(own_rows(&db, &answers).await.len(), 64);
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 36);
    let stats = w.stats();
    assert_eq!(stats.by_unit, 0, "{stats:?}");
    assert!(stats.optimistic >= 1);
    // Now groups where guards fail: they fall back, and still take no more than there is.
    let answers = submit_all(&w, labelled("p", 40, 1)).await;
    assert_eq!(own_rows(&db, &answers).await.len(), 36);
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wt_items").await, 100);
}
