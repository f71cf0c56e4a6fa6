//! The shoppers' address books.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use suanpan_core::db::{Conn, Dialect, insert_id};
use suanpan_core::{sql, sql_insert};

use super::*;

/// A shipping address.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct Address {
    /// Id.
    pub id: i64,
    /// Receiver's name.
    pub receiver: String,
    /// Receiver's phone.
    pub phone: String,
    /// 省.
    pub province: String,
    /// 市.
    pub city: String,
    /// 区/县.
    pub district: String,
    /// Street and number.
    pub detail: String,
    /// The shopper's default address.
    pub is_default: bool,
}

pub(super) fn address_row(r: &AnyRow) -> R<Address> {
    Ok(Address {
        id: r.try_get(0)?,
        receiver: r.try_get(1)?,
        phone: r.try_get(2)?,
        province: r.try_get(3)?,
        city: r.try_get(4)?,
        district: r.try_get(5)?,
        detail: r.try_get(6)?,
        is_default: r.try_get::<i64, _>(7)? != 0,
    })
}

/// The shopper's addresses, default first.
pub async fn addresses(pool: &sqlx::AnyPool, d: Dialect, user_id: i64) -> R<Vec<Address>> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id, receiver, phone, province, city, district, detail, is_default FROM addresses WHERE user_id = ? ORDER BY is_default DESC, id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(address_row).collect()
}

/// One address of the shopper (`None` if absent or someone else's); with `id = None` the default.
pub async fn address(
    conn: &mut Conn,
    d: Dialect,
    user_id: i64,
    id: Option<i64>,
) -> R<Option<Address>> {
    let r = match id {
        Some(id) => {
            sqlx::query(sql!(d, "SELECT id, receiver, phone, province, city, district, detail, is_default FROM addresses WHERE user_id = ? AND id = ?"))
                .bind(user_id)
                .bind(id)
                .fetch_optional(conn)
                .await?
        }
        None => {
            sqlx::query(sql!(
                d,
                "SELECT id, receiver, phone, province, city, district, detail, is_default FROM addresses WHERE user_id = ? AND is_default = 1"
            ))
            .bind(user_id)
            .fetch_optional(conn)
            .await?
        }
    };
    r.as_ref().map(address_row).transpose()
}

/// Inserts (`id = None`) or updates an address; returns its id (`None` if not the shopper's).
pub async fn save_address(
    conn: &mut Conn,
    d: Dialect,
    user_id: i64,
    id: Option<i64>,
    a: &Address,
) -> R<Option<i64>> {
    let now = suanpan_core::time::now_ms();
    if a.is_default {
        sqlx::query(sql!(
            d,
            "UPDATE addresses SET is_default = 0 WHERE user_id = ?"
        ))
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    match id {
        None => {
            let q = sqlx::query(sql_insert!(
                d,
                "INSERT INTO addresses (user_id, receiver, phone, province, city, district, detail, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(user_id);
            let q = bind_address(q, a, now).bind(now);
            Ok(Some(insert_id(conn, d, q).await?))
        }
        Some(id) => {
            let r = sqlx::query(sql!(
                d,
                "UPDATE addresses SET receiver = ?, phone = ?, province = ?, city = ?, district = ?, detail = ?, is_default = ?, updated_at = ? WHERE id = ? AND user_id = ?"
            ));
            let r = bind_address(r, a, now)
                .bind(id)
                .bind(user_id)
                .execute(conn)
                .await?;
            Ok((r.rows_affected() == 1).then_some(id))
        }
    }
}

/// Deletes an address of the shopper; false if absent.
pub async fn delete_address(conn: &mut Conn, d: Dialect, user_id: i64, id: i64) -> R<bool> {
    Ok(sqlx::query(sql!(
        d,
        "DELETE FROM addresses WHERE id = ? AND user_id = ?"
    ))
    .bind(id)
    .bind(user_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Number of addresses the shopper has.
pub async fn address_count(conn: &mut Conn, d: Dialect, user_id: i64) -> R<i64> {
    sqlx::query(sql!(d, "SELECT COUNT(*) FROM addresses WHERE user_id = ?"))
        .bind(user_id)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds an address's fields in column order (receiver … is_default), then `now` (the insert's
/// `created_at`, the update's `updated_at`).
fn bind_address<'q>(q: AnyQuery<'q>, a: &'q Address, now: i64) -> AnyQuery<'q> {
    q.bind(&a.receiver)
        .bind(&a.phone)
        .bind(&a.province)
        .bind(&a.city)
        .bind(&a.district)
        .bind(&a.detail)
        .bind(a.is_default as i64)
        .bind(now)
}
