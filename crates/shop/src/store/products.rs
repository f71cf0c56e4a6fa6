//! Products and categories (the catalog), with their stock from the ledger.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use suanpan_core::db::direct::{Kind, Val};
use suanpan_core::db::{Arg, Batch, Conn, Db, Dialect, bind_all, decode_any, insert_id, text};
use suanpan_core::time::rfc3339;
use suanpan_core::{sql, sql_insert};

use super::*;
use crate::domain::PricedProduct;

/// A product with its stock, as APIs show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    /// Id.
    pub id: i64,
    /// Name, e.g. `五常大米 5kg`.
    pub name: String,
    /// Description (plain text).
    pub description: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// Price, fen.
    pub price_fen: i64,
    /// Category id.
    pub category_id: Option<i64>,
    /// On shelf (sellable).
    pub on_shelf: bool,
    /// What can still be ordered (on hand − reserved).
    pub stock: i64,
    /// Physically on hand (admin views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_hand: Option<i64>,
    /// Reserved by unpaid orders (admin views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved: Option<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

macro_rules! product_cols {
    () => {
        "p.id, p.name, p.description, p.images, p.price_fen, p.category_id, p.on_shelf, COALESCE(b.balance, 0), COALESCE(b.pending_out, 0), p.created_at, p.updated_at FROM products p LEFT JOIN ledger_accounts b ON b.account = p.stock_account"
    };
}

/// How [`product_cols!`] decodes.
const PRODUCT_KINDS: [Kind; 11] = [
    Kind::I64,
    Kind::Text,
    Kind::OptText,
    Kind::OptText,
    Kind::I64,
    Kind::OptI64,
    Kind::I64,
    Kind::I64,
    Kind::I64,
    Kind::I64,
    Kind::I64,
];

pub(super) fn product_row(r: &AnyRow, admin: bool) -> R<ProductView> {
    Ok(product_of(&decode_any(r, &PRODUCT_KINDS)?, admin))
}

/// A product from the columns of [`product_cols!`]; stock counts only for `admin`.
fn product_of(r: &[Val], admin: bool) -> ProductView {
    let (on_hand, reserved) = (r[7].i64(), r[8].i64());
    ProductView {
        id: r[0].i64(),
        name: r[1].text(),
        description: r[2].text(),
        images: serde_json::from_str(&r[3].text()).unwrap_or_default(),
        price_fen: r[4].i64(),
        category_id: r[5].opt_i64(),
        on_shelf: r[6].i64() != 0,
        stock: on_hand - reserved,
        on_hand: admin.then_some(on_hand),
        reserved: admin.then_some(reserved),
        created_at: rfc3339(r[9].i64()),
        updated_at: rfc3339(r[10].i64()),
    }
}

/// One product on shelf, as shoppers see it: the catalogue's hot read, one point read on the
/// calling thread's own SQLite connection ([`Db::point_row`]; the pool elsewhere).
pub async fn shelf_product(db: &Db, id: i64) -> R<Option<ProductView>> {
    let q = sql!(
        db.dialect,
        concat!("SELECT ", product_cols!(), " WHERE p.id = ?")
    );
    let row = db.point_row(q, &[id.into()], &PRODUCT_KINDS).await?;
    Ok(row.map(|r| product_of(&r, false)).filter(|p| p.on_shelf))
}

/// One product as the back office sees it (on shelf or not, with its stock counts), through
/// `ex` (a transaction or a pool). Shoppers read [`shelf_product`].
pub async fn get_product<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    id: i64,
) -> R<Option<ProductView>> {
    let q = sql!(d, concat!("SELECT ", product_cols!(), " WHERE p.id = ?"));
    let row = sqlx::query(q).bind(id).fetch_optional(ex).await?;
    row.map(|r| product_row(&r, true)).transpose()
}

/// Filters for product lists.
#[derive(Clone, Debug, Default)]
pub struct ProductFilter {
    /// Only this category.
    pub category_id: Option<i64>,
    /// Name or description contains this.
    pub keyword: Option<String>,
    /// Include off-shelf products (admin).
    pub admin: bool,
    /// Only on-shelf (true) / off-shelf (false) (admin).
    pub on_shelf: Option<bool>,
}

/// A page of products, newest first, and the total count.
pub async fn list_products(
    pool: &sqlx::AnyPool,
    d: Dialect,
    f: &ProductFilter,
    limit: i64,
    offset: i64,
) -> R<(Vec<ProductView>, i64)> {
    let mut wh = String::from(" WHERE 1 = 1");
    let mut args = Vec::new();
    if !f.admin {
        wh.push_str(" AND p.on_shelf = 1");
    } else if let Some(s) = f.on_shelf {
        wh.push_str(" AND p.on_shelf = ?");
        args.push(Arg::I(s as i64));
    }
    if let Some(c) = f.category_id {
        wh.push_str(" AND p.category_id = ?");
        args.push(Arg::I(c));
    }
    if let Some(k) = f
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        wh.push_str(" AND (p.name LIKE ? ESCAPE '!' OR p.description LIKE ? ESCAPE '!')");
        let pat = suanpan_core::db::like_pattern(k);
        args.push(Arg::S(pat.clone()));
        args.push(Arg::S(pat));
    }
    let count_sql = d.prepare(&format!("SELECT COUNT(*) FROM products p{wh}"));
    let total: i64 = bind_all(sqlx::query(&count_sql), &args)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let mut page_args = args.clone();
    page_args.push(Arg::I(limit));
    page_args.push(Arg::I(offset));
    let list_sql = d.prepare(&format!(
        "SELECT {}{wh} ORDER BY p.id DESC LIMIT ? OFFSET ?",
        product_cols!()
    ));
    let rows = bind_all(sqlx::query(&list_sql), &page_args)
        .fetch_all(pool)
        .await?;
    let items = rows
        .iter()
        .map(|r| product_row(r, f.admin))
        .collect::<R<Vec<_>>>()?;
    Ok((items, total))
}

/// New product fields.
#[derive(Clone, Debug)]
pub struct NewProduct {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// Price, fen.
    pub price_fen: i64,
    /// Category.
    pub category_id: Option<i64>,
    /// On shelf.
    pub on_shelf: bool,
}

/// Inserts a product (without opening its stock account); returns `(id, stock_account)`.
pub async fn insert_product(conn: &mut Conn, d: Dialect, p: &NewProduct) -> R<(i64, String)> {
    let now = suanpan_core::time::now_ms();
    let q = sqlx::query(sql_insert!(
        d,
        "INSERT INTO products (name, description, images, price_fen, category_id, stock_account, on_shelf, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?)"
    ))
    .bind(&p.name)
    .bind(&p.description)
    .bind(serde_json::to_string(&p.images).unwrap_or_else(|_| "[]".into()))
    .bind(p.price_fen)
    .bind(p.category_id)
    .bind(p.on_shelf as i64)
    .bind(now)
    .bind(now);
    let id = insert_id(conn, d, q).await?;
    let account = format!("product:{id}");
    sqlx::query(sql!(
        d,
        "UPDATE products SET stock_account = ? WHERE id = ?"
    ))
    .bind(&account)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok((id, account))
}

/// Overwrites a product's editable fields.
pub async fn update_product(conn: &mut Conn, d: Dialect, id: i64, p: &NewProduct) -> R<bool> {
    let r = sqlx::query(sql!(
        d,
        "UPDATE products SET name = ?, description = ?, images = ?, price_fen = ?, category_id = ?, on_shelf = ?, updated_at = ? WHERE id = ?"
    ))
    .bind(&p.name)
    .bind(&p.description)
    .bind(serde_json::to_string(&p.images).unwrap_or_else(|_| "[]".into()))
    .bind(p.price_fen)
    .bind(p.category_id)
    .bind(p.on_shelf as i64)
    .bind(suanpan_core::time::now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The stock account of a product.
pub async fn stock_account(conn: &mut Conn, d: Dialect, id: i64) -> R<Option<String>> {
    let r = sqlx::query(sql!(d, "SELECT stock_account FROM products WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    r.map(|r| r.try_get(0)).transpose()
}

pub(super) fn priced_row(r: &AnyRow) -> R<PricedProduct> {
    let images = text(r, 2)?;
    let images: Vec<String> = serde_json::from_str(&images).unwrap_or_default();
    Ok(PricedProduct {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        image: images.into_iter().next().unwrap_or_default(),
        price_fen: r.try_get(3)?,
        on_shelf: r.try_get::<i64, _>(4)? != 0,
        stock_account: r.try_get(5)?,
    })
}

/// What checkout reads before writing: the products being bought (for pricing) and the
/// shopper's address (`address_id`, or the default one). One round trip on SQLite.
pub async fn checkout_reads(
    conn: &mut Conn,
    d: Dialect,
    ids: &[i64],
    user_id: i64,
    address_id: Option<i64>,
) -> R<(Vec<PricedProduct>, Option<Address>)> {
    let mut b = Batch::new();
    let args: Vec<Arg> = ids.iter().map(|i| Arg::I(*i)).collect();
    if ids.len() == 1 {
        b.push(sql!(d, "SELECT id, name, images, price_fen, on_shelf, stock_account FROM products WHERE id = ?"), args);
    } else {
        let marks = vec!["?"; ids.len().max(1)].join(", ");
        b.push(d.prepare(&format!("SELECT id, name, images, price_fen, on_shelf, stock_account FROM products WHERE id IN ({marks})")), args);
    }
    match address_id {
        Some(id) => b.push(
            sql!(d, "SELECT id, receiver, phone, province, city, district, detail, is_default FROM addresses WHERE user_id = ? AND id = ?"),
            vec![user_id.into(), id.into()],
        ),
        None => b.push(
            sql!(d, "SELECT id, receiver, phone, province, city, district, detail, is_default FROM addresses WHERE user_id = ? AND is_default = 1"),
            vec![user_id.into()],
        ),
    };
    let r = b.execute(conn, d).await?;
    let products = r
        .rows
        .first()
        .map(|rows| rows.iter().map(priced_row).collect::<R<Vec<_>>>())
        .transpose()?
        .unwrap_or_default();
    let address = r
        .rows
        .get(1)
        .and_then(|rows| rows.first())
        .map(address_row)
        .transpose()?;
    Ok((products, address))
}

/// A category.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Category {
    /// Id.
    pub id: i64,
    /// Name, e.g. `大米`.
    pub name: String,
    /// Sort key, ascending.
    pub sort: i64,
}

/// All categories by sort key.
pub async fn list_categories(pool: &sqlx::AnyPool, d: Dialect) -> R<Vec<Category>> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT id, name, sort FROM categories ORDER BY sort, id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Category {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                sort: r.try_get(2)?,
            })
        })
        .collect()
}

/// Inserts a category.
pub async fn insert_category(conn: &mut Conn, d: Dialect, name: &str, sort: i64) -> R<i64> {
    let q = sqlx::query(sql_insert!(
        d,
        "INSERT INTO categories (name, sort, created_at) VALUES (?, ?, ?)"
    ))
    .bind(name)
    .bind(sort)
    .bind(suanpan_core::time::now_ms());
    insert_id(conn, d, q).await
}

/// True if the category exists.
pub async fn category_exists(pool: &sqlx::AnyPool, d: Dialect, id: i64) -> R<bool> {
    Ok(
        sqlx::query(sql!(d, "SELECT id FROM categories WHERE id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}
