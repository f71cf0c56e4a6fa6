//! All of MR's SQL, one file per aggregate.

pub mod apps;
pub mod authlog;
pub mod finance;
pub mod insights;
pub mod invoices;
pub mod messages;
pub mod operators;
pub mod recharges;
pub mod refunds;
pub mod reports;
pub mod requests;
pub mod sites;
pub mod stats;
pub mod tokens;
pub mod usage;

use sqlx::Row;
use suanpan_core::AppError;
use suanpan_core::db::{Arg, Db, bind_all};

/// One page of a list: `select` (columns and joins, no `WHERE`) and `count_from` (the table
/// with its alias) filtered by `filter` with `args`, ordered by `order`, `(limit, offset)`;
/// returns the rows and the total count.
pub async fn page_rows(
    db: &Db,
    (select, count_from): (&str, &str),
    (filter, order): (&str, &str),
    mut args: Vec<Arg>,
    (limit, offset): (i64, i64),
) -> Result<(Vec<sqlx::any::AnyRow>, i64), AppError> {
    let d = db.dialect;
    let count = d.prepare(&format!("SELECT COUNT(*) FROM {count_from} WHERE {filter}"));
    let total: i64 = bind_all(sqlx::query(&count), &args)
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    args.extend([limit.into(), offset.into()]);
    let q = d.prepare(&format!(
        "{select} WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?"
    ));
    let rows = bind_all(sqlx::query(&q), &args)
        .fetch_all(db.reader())
        .await?;
    Ok((rows, total))
}
