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

#[tokio::test]
async fn concurrent_units_commit_in_groups_and_guards_fail_alone() {
    let db = db().await;
    let w: GroupWriter<Take> = GroupWriter::spawn(db.clone(), 4, "test");
    let w = Arc::new(w);
    // 300 units of 1 against stock 100, submitted at once: exactly 100 succeed.
    let mut tasks = Vec::new();
    for i in 0..300 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(Take {
                label: format!("u{i}"),
                qty: 1,
            })
            .await
        }));
    }
    let mut ok = Vec::new();
    let mut short = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Ok(id) => ok.push(id),
            Err(_) => short += 1,
        }
    }
    assert_eq!(ok.len(), 100);
    assert_eq!(short, 200);
    ok.sort();
    ok.dedup();
    assert_eq!(ok.len(), 100, "ids are distinct");
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wt_items").await, 100);
    // Every answered id is a row of its own label.
    for id in ok.iter().take(5) {
        let n = count(
            &db,
            &format!("SELECT COUNT(*) FROM wt_items WHERE id = {id}"),
        )
        .await;
        assert_eq!(n, 1);
    }
}

#[tokio::test]
async fn a_unit_that_errors_fails_the_group_and_its_neighbours_still_commit() {
    let db = db().await;
    let w: GroupWriter<Take> = GroupWriter::spawn(db.clone(), 2, "test");
    let w = Arc::new(w);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let w = w.clone();
        // A label longer than the column errors on PostgreSQL and MySQL (strict mode); SQLite
        // stores it. Either way no other unit may be lost.
        let label = if i == 7 {
            "x".repeat(100)
        } else {
            format!("n{i}")
        };
        tasks.push(tokio::spawn(async move {
            w.submit(Take { label, qty: 2 }).await
        }));
    }
    let mut committed = 0;
    for t in tasks {
        if let Ok(Ok(_)) = t.await.unwrap() {
            committed += 1;
        }
    }
    let rows = count(&db, "SELECT COUNT(*) FROM wt_items").await;
    assert_eq!(rows, committed);
    assert_eq!(
        count(&db, "SELECT qty FROM wt_stock").await,
        100 - 2 * committed
    );
    assert!(committed >= 19);
}

/// With every guard holding, groups go in one round trip (the writer assigns the ids on every
/// engine), and the answers are the same as unit by unit: distinct ids, each a row of its own
/// label, stock taken once per unit.
#[tokio::test]
async fn groups_without_a_failed_guard_go_in_one_round_trip() {
    let db = db().await;
    let w = Arc::new(GroupWriter::<Take>::spawn(db.clone(), 2, "test"));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(Take {
                label: format!("o{i}"),
                qty: 1,
            })
            .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 36);
    for (i, id) in ids.iter().enumerate().take(8) {
        let n = count(
            &db,
            &format!("SELECT COUNT(*) FROM wt_items WHERE id = {id}"),
        )
        .await;
        assert_eq!(n, 1, "id {i}");
    }
    let stats = w.stats();
    assert_eq!(stats.by_unit, 0, "{stats:?}");
    assert!(stats.optimistic + stats.by_unit >= 1);
    // Now a group where guards fail: it falls back, and still takes no more than there is.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(Take {
                label: format!("p{i}"),
                qty: 1,
            })
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 36);
    assert_eq!(count(&db, "SELECT qty FROM wt_stock").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wt_items").await, 100);
}
