//! Shoppers.

use sqlx::Row;
use suanpan_core::db::Dialect;
use suanpan_core::sql;

use super::*;

/// The openid of a shopper.
pub async fn user_openid(pool: &sqlx::AnyPool, d: Dialect, user_id: i64) -> R<Option<String>> {
    let r = sqlx::query(sql!(d, "SELECT openid FROM users WHERE id = ?"))
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    r.map(|r| r.try_get(0)).transpose()
}
