//! The shop's storage layer: every SQL statement of the shop lives here, parameterised, in the
//! portable dialect of [`suanpan_core::db`]. Functions take a pool for reads outside a
//! transaction or a connection inside the caller's transaction.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use suanpan_core::db::{Arg, Batch, Conn, Dialect, bind_all, insert_id, opt_text, text};
use suanpan_core::time::rfc3339;
use suanpan_core::{sql, sql_insert};

use crate::domain::{OrderStatus, PaymentStatus, PricedLine, PricedProduct, RefundStatus};

type R<T> = Result<T, sqlx::Error>;

// ---------------------------------------------------------------- catalog

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

fn product_row(r: &AnyRow, admin: bool) -> R<ProductView> {
    let images = text(r, 3)?;
    let on_hand: i64 = r.try_get(7)?;
    let reserved: i64 = r.try_get(8)?;
    Ok(ProductView {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: text(r, 2)?,
        images: serde_json::from_str(&images).unwrap_or_default(),
        price_fen: r.try_get(4)?,
        category_id: r.try_get(5)?,
        on_shelf: r.try_get::<i64, _>(6)? != 0,
        stock: on_hand - reserved,
        on_hand: admin.then_some(on_hand),
        reserved: admin.then_some(reserved),
        created_at: rfc3339(r.try_get(9)?),
        updated_at: rfc3339(r.try_get(10)?),
    })
}

/// One product; off-shelf products only when `admin`.
pub async fn get_product(
    pool: &sqlx::AnyPool,
    d: Dialect,
    id: i64,
    admin: bool,
) -> R<Option<ProductView>> {
    let q = sql!(d, concat!("SELECT ", product_cols!(), " WHERE p.id = ?"));
    let row = sqlx::query(q).bind(id).fetch_optional(pool).await?;
    match row {
        Some(r) => {
            let p = product_row(&r, admin)?;
            Ok((admin || p.on_shelf).then_some(p))
        }
        None => Ok(None),
    }
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

fn priced_row(r: &AnyRow) -> R<PricedProduct> {
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

// ---------------------------------------------------------------- cart

/// A cart line with the product's current price and stock.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CartLine {
    /// Product id.
    pub product_id: i64,
    /// Name.
    pub name: String,
    /// First image.
    pub image: String,
    /// Current unit price, fen.
    pub price_fen: i64,
    /// Quantity in the cart.
    pub quantity: i64,
    /// Whether it can be bought now (on shelf and enough stock).
    pub available: bool,
    /// Current stock.
    pub stock: i64,
}

/// The shopper's cart, oldest line first.
pub async fn cart(pool: &sqlx::AnyPool, d: Dialect, user_id: i64) -> R<Vec<CartLine>> {
    let rows = sqlx::query(sql!(
        d,
        "SELECT c.product_id, p.name, p.images, p.price_fen, c.quantity, p.on_shelf, COALESCE(b.balance - b.pending_out, 0) FROM cart_items c JOIN products p ON p.id = c.product_id LEFT JOIN ledger_accounts b ON b.account = p.stock_account WHERE c.user_id = ? ORDER BY c.added_at, c.product_id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let images = text(r, 2)?;
            let images: Vec<String> = serde_json::from_str(&images).unwrap_or_default();
            let quantity: i64 = r.try_get(4)?;
            let stock: i64 = r.try_get(6)?;
            Ok(CartLine {
                product_id: r.try_get(0)?,
                name: r.try_get(1)?,
                image: images.into_iter().next().unwrap_or_default(),
                price_fen: r.try_get(3)?,
                quantity,
                available: r.try_get::<i64, _>(5)? != 0 && stock >= quantity,
                stock,
            })
        })
        .collect()
}

/// Sets a cart line's quantity (`add = false`) or adds to it (`add = true`), never above `max`;
/// the line is created if absent. Safe under concurrent calls for the same line: the row is
/// created with an insert that ignores duplicates, then changed by one atomic `UPDATE`.
pub async fn upsert_cart_line(
    conn: &mut Conn,
    d: Dialect,
    user_id: i64,
    product_id: i64,
    quantity: i64,
    add: bool,
    max: i64,
) -> R<()> {
    let mut b = Batch::new();
    let ins = sql!(
        d,
        "{{INSERT_IGNORE}} INTO cart_items (user_id, product_id, quantity, added_at) VALUES (?, ?, 0, ?){{ON_CONFLICT_IGNORE}}"
    );
    b.push(
        ins,
        vec![
            user_id.into(),
            product_id.into(),
            suanpan_core::time::now_ms().into(),
        ],
    );
    let base = if add { 1 } else { 0 };
    b.push(
        sql!(d, "UPDATE cart_items SET quantity = CASE WHEN quantity * ? + ? > ? THEN ? ELSE quantity * ? + ? END WHERE user_id = ? AND product_id = ?"),
        vec![base.into(), quantity.into(), max.into(), max.into(), base.into(), quantity.into(), user_id.into(), product_id.into()],
    );
    b.execute(conn, d).await?;
    Ok(())
}

// ---------------------------------------------------------------- addresses

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

fn address_row(r: &AnyRow) -> R<Address> {
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
            .bind(user_id)
            .bind(&a.receiver)
            .bind(&a.phone)
            .bind(&a.province)
            .bind(&a.city)
            .bind(&a.district)
            .bind(&a.detail)
            .bind(a.is_default as i64)
            .bind(now)
            .bind(now);
            Ok(Some(insert_id(conn, d, q).await?))
        }
        Some(id) => {
            let r = sqlx::query(sql!(
                d,
                "UPDATE addresses SET receiver = ?, phone = ?, province = ?, city = ?, district = ?, detail = ?, is_default = ?, updated_at = ? WHERE id = ? AND user_id = ?"
            ))
            .bind(&a.receiver)
            .bind(&a.phone)
            .bind(&a.province)
            .bind(&a.city)
            .bind(&a.district)
            .bind(&a.detail)
            .bind(a.is_default as i64)
            .bind(now)
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

// ---------------------------------------------------------------- orders

/// An order row.
#[derive(Clone, Debug)]
pub struct OrderRow {
    /// Id.
    pub id: i64,
    /// Order number (= `out_trade_no`).
    pub order_no: String,
    /// Shopper.
    pub user_id: i64,
    /// Status.
    pub status: OrderStatus,
    /// Total, fen.
    pub total_fen: i64,
    /// Paid, fen.
    pub paid_fen: i64,
    /// Refunded, fen.
    pub refunded_fen: i64,
    /// Address snapshot JSON.
    pub address_json: Option<String>,
    /// Shopper's remark.
    pub remark: String,
    /// Why cancelled.
    pub cancel_reason: Option<String>,
    /// Carrier.
    pub carrier: Option<String>,
    /// Tracking number.
    pub tracking_no: Option<String>,
    /// Payment deadline (ms).
    pub expires_at: i64,
    /// Times (ms).
    pub paid_at: Option<i64>,
    /// Shipped time.
    pub shipped_at: Option<i64>,
    /// Completed time.
    pub completed_at: Option<i64>,
    /// Cancelled time.
    pub cancelled_at: Option<i64>,
    /// Created time.
    pub created_at: i64,
}

macro_rules! order_cols {
    () => {
        "id, order_no, user_id, status, total_fen, paid_fen, refunded_fen, address_json, remark, cancel_reason, carrier, tracking_no, expires_at, paid_at, shipped_at, completed_at, cancelled_at, created_at FROM orders"
    };
}

fn order_row(r: &AnyRow) -> R<OrderRow> {
    let status: String = r.try_get(3)?;
    Ok(OrderRow {
        id: r.try_get(0)?,
        order_no: r.try_get(1)?,
        user_id: r.try_get(2)?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown order status {status}").into()))?,
        total_fen: r.try_get(4)?,
        paid_fen: r.try_get(5)?,
        refunded_fen: r.try_get(6)?,
        address_json: opt_text(r, 7)?,
        remark: r.try_get(8)?,
        cancel_reason: r.try_get(9)?,
        carrier: r.try_get(10)?,
        tracking_no: r.try_get(11)?,
        expires_at: r.try_get(12)?,
        paid_at: r.try_get(13)?,
        shipped_at: r.try_get(14)?,
        completed_at: r.try_get(15)?,
        cancelled_at: r.try_get(16)?,
        created_at: r.try_get(17)?,
    })
}

/// An order by id.
pub async fn order<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    id: i64,
) -> R<Option<OrderRow>> {
    sqlx::query(sql!(d, concat!("SELECT ", order_cols!(), " WHERE id = ?")))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(order_row)
        .transpose()
}

/// An order by id, row-locked until the transaction ends (PostgreSQL, MySQL).
pub async fn order_for_update(conn: &mut Conn, d: Dialect, id: i64) -> R<Option<OrderRow>> {
    let q = sql!(
        d,
        concat!("SELECT ", order_cols!(), " WHERE id = ?{{FOR_UPDATE}}")
    );
    sqlx::query(q)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(order_row)
        .transpose()
}

/// An order by number.
pub async fn order_by_no<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    order_no: &str,
) -> R<Option<OrderRow>> {
    sqlx::query(sql!(
        d,
        concat!("SELECT ", order_cols!(), " WHERE order_no = ?")
    ))
    .bind(order_no)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(order_row)
    .transpose()
}

/// A new order.
pub struct NewOrder<'a> {
    /// Number.
    pub order_no: &'a str,
    /// Shopper.
    pub user_id: i64,
    /// Total, fen.
    pub total_fen: i64,
    /// Number of units.
    pub item_count: i64,
    /// Address snapshot.
    pub address_json: Option<String>,
    /// Remark.
    pub remark: &'a str,
    /// Payment deadline.
    pub expires_at: i64,
    /// Now.
    pub now: i64,
}

/// Adds the insert of an order to `b`; returns its index. With `id = None` the database
/// generates the id (read it with
/// [`BatchResult::inserted_id`](suanpan_core::db::BatchResult::inserted_id)); the SQLite
/// group-commit writer, the only writer of its database, assigns ids itself.
pub fn push_insert_order(b: &mut Batch, d: Dialect, o: &NewOrder<'_>, id: Option<i64>) -> usize {
    if let Some(id) = id {
        return b.push(
            sql!(
                d,
                "INSERT INTO orders (id, order_no, user_id, status, total_fen, paid_fen, refunded_fen, item_count, address_json, remark, expires_at, created_at, updated_at) VALUES (?, ?, ?, 'pending_payment', ?, 0, 0, ?, ?, ?, ?, ?, ?)"
            ),
            vec![
                id.into(),
                o.order_no.into(),
                o.user_id.into(),
                o.total_fen.into(),
                o.item_count.into(),
                o.address_json.clone().into(),
                o.remark.into(),
                o.expires_at.into(),
                o.now.into(),
                o.now.into(),
            ],
        );
    }
    b.push(
        sql_insert!(
            d,
            "INSERT INTO orders (order_no, user_id, status, total_fen, paid_fen, refunded_fen, item_count, address_json, remark, expires_at, created_at, updated_at) VALUES (?, ?, 'pending_payment', ?, 0, 0, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            o.order_no.into(),
            o.user_id.into(),
            o.total_fen.into(),
            o.item_count.into(),
            o.address_json.clone().into(),
            o.remark.into(),
            o.expires_at.into(),
            o.now.into(),
            o.now.into(),
        ],
    )
}

/// Adds the inserts of an order's lines to `b`.
pub fn push_order_items(b: &mut Batch, d: Dialect, order_id: i64, lines: &[PricedLine]) {
    for l in lines {
        b.push(
            sql!(d, "INSERT INTO order_items (order_id, product_id, name, image, unit_price_fen, quantity, line_total_fen) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            vec![
                order_id.into(),
                l.product_id.into(),
                l.name.clone().into(),
                l.image.clone().into(),
                l.unit_price_fen.into(),
                l.quantity.into(),
                l.line_total_fen.into(),
            ],
        );
    }
}

/// Adds the removal of cart lines to `b`.
pub fn push_remove_cart_items(b: &mut Batch, d: Dialect, user_id: i64, product_ids: &[i64]) {
    for id in product_ids {
        b.push(
            sql!(
                d,
                "DELETE FROM cart_items WHERE user_id = ? AND product_id = ?"
            ),
            vec![user_id.into(), (*id).into()],
        );
    }
}

/// The lines of an order.
pub async fn order_items<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    order_id: i64,
) -> R<Vec<PricedLine>> {
    let rows = sqlx::query(sql!(d, "SELECT product_id, name, image, unit_price_fen, quantity, line_total_fen FROM order_items WHERE order_id = ? ORDER BY id"))
        .bind(order_id)
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PricedLine {
                product_id: r.try_get(0)?,
                name: r.try_get(1)?,
                image: r.try_get(2)?,
                unit_price_fen: r.try_get(3)?,
                quantity: r.try_get(4)?,
                line_total_fen: r.try_get(5)?,
            })
        })
        .collect()
}

/// The lines of several orders (one query), by order id.
pub async fn items_of_orders(
    pool: &sqlx::AnyPool,
    d: Dialect,
    order_ids: &[i64],
) -> R<std::collections::HashMap<i64, Vec<PricedLine>>> {
    let mut out: std::collections::HashMap<i64, Vec<PricedLine>> = std::collections::HashMap::new();
    if order_ids.is_empty() {
        return Ok(out);
    }
    let marks = vec!["?"; order_ids.len()].join(", ");
    let q = d.prepare(&format!(
        "SELECT order_id, product_id, name, image, unit_price_fen, quantity, line_total_fen FROM order_items WHERE order_id IN ({marks}) ORDER BY id"
    ));
    let args: Vec<Arg> = order_ids.iter().map(|i| Arg::I(*i)).collect();
    for r in bind_all(sqlx::query(&q), &args).fetch_all(pool).await? {
        out.entry(r.try_get(0)?).or_default().push(PricedLine {
            product_id: r.try_get(1)?,
            name: r.try_get(2)?,
            image: r.try_get(3)?,
            unit_price_fen: r.try_get(4)?,
            quantity: r.try_get(5)?,
            line_total_fen: r.try_get(6)?,
        });
    }
    Ok(out)
}

/// What a status change writes besides the status.
#[derive(Clone, Debug, Default)]
pub struct StatusFields {
    /// Sets `paid_fen` and `paid_at`.
    pub paid: Option<i64>,
    /// Sets `cancel_reason` and `cancelled_at`.
    pub cancel_reason: Option<String>,
    /// Sets `carrier`, `tracking_no`, `shipped_at`.
    pub shipment: Option<(String, String)>,
    /// Sets `completed_at`.
    pub completed: bool,
    /// Adds to `refunded_fen`.
    pub refunded_add: Option<i64>,
}

/// Compare-and-set of an order's status: changes it only if it is still `from`. Returns whether
/// this call changed it. This guard is what makes racing writers (a payment notification and
/// the timeout job) safe: exactly one of them wins.
pub async fn cas_status(
    conn: &mut Conn,
    d: Dialect,
    id: i64,
    from: OrderStatus,
    to: OrderStatus,
    f: &StatusFields,
) -> R<bool> {
    let now = suanpan_core::time::now_ms();
    let mut set = String::from("status = ?, updated_at = ?");
    let mut args = vec![Arg::S(to.as_str().into()), Arg::I(now)];
    if let Some(p) = f.paid {
        set.push_str(", paid_fen = ?, paid_at = ?");
        args.extend([Arg::I(p), Arg::I(now)]);
    }
    if let Some(r) = &f.cancel_reason {
        set.push_str(", cancel_reason = ?, cancelled_at = ?");
        args.extend([Arg::S(r.clone()), Arg::I(now)]);
    }
    if let Some((c, t)) = &f.shipment {
        set.push_str(", carrier = ?, tracking_no = ?, shipped_at = ?");
        args.extend([Arg::S(c.clone()), Arg::S(t.clone()), Arg::I(now)]);
    }
    if f.completed {
        set.push_str(", completed_at = ?");
        args.push(Arg::I(now));
    }
    if let Some(a) = f.refunded_add {
        set.push_str(", refunded_fen = refunded_fen + ?");
        args.push(Arg::I(a));
    }
    args.extend([Arg::I(id), Arg::S(from.as_str().into())]);
    let q = d.prepare(&format!(
        "UPDATE orders SET {set} WHERE id = ? AND status = ?"
    ));
    Ok(bind_all(sqlx::query(&q), &args)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Records money received on an order that was no longer payable (late payment).
pub async fn add_late_paid(conn: &mut Conn, d: Dialect, id: i64, amount: i64) -> R<()> {
    sqlx::query(sql!(
        d,
        "UPDATE orders SET paid_fen = paid_fen + ?, updated_at = ? WHERE id = ?"
    ))
    .bind(amount)
    .bind(suanpan_core::time::now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds to `refunded_fen` without a status change (late-payment refunds of cancelled orders).
pub async fn add_refunded(conn: &mut Conn, d: Dialect, id: i64, amount: i64) -> R<()> {
    sqlx::query(sql!(
        d,
        "UPDATE orders SET refunded_fen = refunded_fen + ?, updated_at = ? WHERE id = ?"
    ))
    .bind(amount)
    .bind(suanpan_core::time::now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Order search filters (admin and "my orders").
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    /// Only this shopper.
    pub user_id: Option<i64>,
    /// Only this status.
    pub status: Option<OrderStatus>,
    /// Exact order number.
    pub order_no: Option<String>,
    /// Created at or after (ms).
    pub from: Option<i64>,
    /// Created before (ms).
    pub to: Option<i64>,
}

fn order_where(f: &OrderFilter) -> (String, Vec<Arg>) {
    let mut wh = String::from(" WHERE 1 = 1");
    let mut args = Vec::new();
    if let Some(u) = f.user_id {
        wh.push_str(" AND user_id = ?");
        args.push(Arg::I(u));
    }
    if let Some(s) = f.status {
        wh.push_str(" AND status = ?");
        args.push(Arg::S(s.as_str().into()));
    }
    if let Some(n) = &f.order_no {
        wh.push_str(" AND order_no = ?");
        args.push(Arg::S(n.clone()));
    }
    if let Some(t) = f.from {
        wh.push_str(" AND created_at >= ?");
        args.push(Arg::I(t));
    }
    if let Some(t) = f.to {
        wh.push_str(" AND created_at < ?");
        args.push(Arg::I(t));
    }
    (wh, args)
}

/// A page of orders, newest first, and the total.
pub async fn search_orders(
    pool: &sqlx::AnyPool,
    d: Dialect,
    f: &OrderFilter,
    limit: i64,
    offset: i64,
) -> R<(Vec<OrderRow>, i64)> {
    let (wh, mut args) = order_where(f);
    let total: i64 = bind_all(
        sqlx::query(&d.prepare(&format!("SELECT COUNT(*) FROM orders{wh}"))),
        &args,
    )
    .fetch_one(pool)
    .await?
    .try_get(0)?;
    args.extend([Arg::I(limit), Arg::I(offset)]);
    let q = d.prepare(&format!(
        "SELECT {}{wh} ORDER BY id DESC LIMIT ? OFFSET ?",
        order_cols!()
    ));
    let rows = bind_all(sqlx::query(&q), &args).fetch_all(pool).await?;
    Ok((rows.iter().map(order_row).collect::<R<_>>()?, total))
}

/// Orders matching `f` with id above `after_id`, ascending (keyset pages for exports).
pub async fn orders_after(
    pool: &sqlx::AnyPool,
    d: Dialect,
    f: &OrderFilter,
    after_id: i64,
    limit: i64,
) -> R<Vec<OrderRow>> {
    let (wh, mut args) = order_where(f);
    args.extend([Arg::I(after_id), Arg::I(limit)]);
    let q = d.prepare(&format!(
        "SELECT {}{wh} AND id > ? ORDER BY id LIMIT ?",
        order_cols!()
    ));
    bind_all(sqlx::query(&q), &args)
        .fetch_all(pool)
        .await?
        .iter()
        .map(order_row)
        .collect()
}

/// Unpaid orders past their deadline (oldest first).
pub async fn expired_orders(
    pool: &sqlx::AnyPool,
    d: Dialect,
    now: i64,
    limit: i64,
) -> R<Vec<(i64, String)>> {
    let rows = sqlx::query(sql!(d, "SELECT id, order_no FROM orders WHERE status = 'pending_payment' AND expires_at <= ? ORDER BY expires_at LIMIT ?"))
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

// ---------------------------------------------------------------- payments

/// A payment row (one per order; `out_trade_no` = order number).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentRow {
    /// Id.
    pub id: i64,
    /// Order.
    pub order_id: i64,
    /// Our trade number.
    pub out_trade_no: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// State.
    pub status: PaymentStatus,
    /// WeChat's prepay id.
    #[serde(skip)]
    pub prepay_id: Option<String>,
    /// Prepay expiry (ms).
    #[serde(skip)]
    pub prepay_expires_at: Option<i64>,
    /// WeChat's transaction id.
    pub transaction_id: Option<String>,
    /// Paid after the order was cancelled (refunded automatically).
    pub late: bool,
    /// Created (ms).
    #[serde(skip)]
    pub created_at: i64,
}

macro_rules! payment_cols {
    () => {
        "id, order_id, out_trade_no, amount_fen, status, prepay_id, prepay_expires_at, transaction_id, late, created_at FROM payments"
    };
}

fn payment_row(r: &AnyRow) -> R<PaymentRow> {
    Ok(PaymentRow {
        id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        out_trade_no: r.try_get(2)?,
        amount_fen: r.try_get(3)?,
        status: stored(PaymentStatus::parse, r.try_get(4)?)?,
        prepay_id: r.try_get(5)?,
        prepay_expires_at: r.try_get(6)?,
        transaction_id: r.try_get(7)?,
        late: r.try_get::<i64, _>(8)? != 0,
        created_at: r.try_get(9)?,
    })
}

/// A stored status name parsed, or a decode error naming it (never a silent default).
fn stored<T>(parse: fn(&str) -> Option<T>, name: String) -> R<T> {
    parse(&name)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown stored status {name:?}").into()))
}

/// How to find a payment.
#[derive(Clone, Copy, Debug)]
pub enum PaymentKey<'a> {
    /// By its order (one payment per order).
    Order(i64),
    /// By our trade number.
    OutTradeNo(&'a str),
}

/// The payment found by `key`.
pub async fn payment_by<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    key: PaymentKey<'_>,
) -> R<Option<PaymentRow>> {
    let q = match key {
        PaymentKey::Order(id) => sqlx::query(sql!(
            d,
            concat!("SELECT ", payment_cols!(), " WHERE order_id = ?")
        ))
        .bind(id),
        PaymentKey::OutTradeNo(no) => sqlx::query(sql!(
            d,
            concat!("SELECT ", payment_cols!(), " WHERE out_trade_no = ?")
        ))
        .bind(no.to_string()),
    };
    q.fetch_optional(ex)
        .await?
        .as_ref()
        .map(payment_row)
        .transpose()
}

/// Records a prepay for an order (first time) or refreshes its prepay id.
pub async fn save_prepay(
    conn: &mut Conn,
    d: Dialect,
    order_id: i64,
    out_trade_no: &str,
    amount: i64,
    prepay_id: &str,
    expires_at: i64,
) -> R<()> {
    let now = suanpan_core::time::now_ms();
    let r = sqlx::query(sql!(d, "UPDATE payments SET prepay_id = ?, prepay_expires_at = ?, updated_at = ? WHERE order_id = ? AND status = 'prepaid'"))
        .bind(prepay_id)
        .bind(expires_at)
        .bind(now)
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 0 {
        let q = sql!(
            d,
            "{{INSERT_IGNORE}} INTO payments (order_id, out_trade_no, amount_fen, status, prepay_id, prepay_expires_at, late, created_at, updated_at) VALUES (?, ?, ?, 'prepaid', ?, ?, 0, ?, ?){{ON_CONFLICT_IGNORE}}"
        );
        sqlx::query(q)
            .bind(order_id)
            .bind(out_trade_no)
            .bind(amount)
            .bind(prepay_id)
            .bind(expires_at)
            .bind(now)
            .bind(now)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Marks a payment succeeded if it is not already; returns whether this call did (the
/// exactly-once gate for payment notifications and reconciliation).
pub async fn mark_payment_succeeded(
    conn: &mut Conn,
    d: Dialect,
    id: i64,
    transaction_id: &str,
    payer_openid: Option<&str>,
    late: bool,
) -> R<bool> {
    let now = suanpan_core::time::now_ms();
    let r = sqlx::query(sql!(
        d,
        "UPDATE payments SET status = 'succeeded', transaction_id = ?, payer_openid = ?, late = ?, succeeded_at = ?, updated_at = ? WHERE id = ? AND status <> 'succeeded'"
    ))
    .bind(transaction_id)
    .bind(payer_openid)
    .bind(late as i64)
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Payments still `prepaid` created at or before `before` (for reconciliation), oldest first.
pub async fn stale_prepaid(
    pool: &sqlx::AnyPool,
    d: Dialect,
    before: i64,
    limit: i64,
) -> R<Vec<PaymentRow>> {
    sqlx::query(sql!(
        d,
        concat!(
            "SELECT ",
            payment_cols!(),
            " WHERE status = 'prepaid' AND created_at <= ? ORDER BY created_at LIMIT ?"
        )
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(payment_row)
    .collect()
}

/// Marks a never-paid payment closed (its order was cancelled and WeChat Pay closed it).
pub async fn close_payment(pool: &sqlx::AnyPool, d: Dialect, id: i64) -> R<()> {
    sqlx::query(sql!(
        d,
        "UPDATE payments SET status = 'closed', updated_at = ? WHERE id = ? AND status = 'prepaid'"
    ))
    .bind(suanpan_core::time::now_ms())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The openid of a shopper.
pub async fn user_openid(pool: &sqlx::AnyPool, d: Dialect, user_id: i64) -> R<Option<String>> {
    let r = sqlx::query(sql!(d, "SELECT openid FROM users WHERE id = ?"))
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    r.map(|r| r.try_get(0)).transpose()
}

// ---------------------------------------------------------------- refunds

/// A refund row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RefundRow {
    /// Id.
    pub id: i64,
    /// Order.
    pub order_id: i64,
    /// Our refund number (idempotency key at WeChat Pay).
    pub out_refund_no: String,
    /// WeChat's refund id.
    pub refund_id: Option<String>,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Reason.
    pub reason: String,
    /// State.
    pub status: RefundStatus,
    /// Order status before the refund (restored if it fails).
    pub prev_order_status: String,
    /// Who asked.
    pub requested_by: String,
    /// Last error from WeChat Pay.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Created (ms).
    #[serde(skip)]
    pub created_ms: i64,
}

macro_rules! refund_cols {
    () => {
        "id, order_id, out_refund_no, refund_id, amount_fen, reason, status, prev_order_status, requested_by, last_error, created_at FROM refunds"
    };
}

fn refund_row(r: &AnyRow) -> R<RefundRow> {
    let created: i64 = r.try_get(10)?;
    Ok(RefundRow {
        id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        out_refund_no: r.try_get(2)?,
        refund_id: r.try_get(3)?,
        amount_fen: r.try_get(4)?,
        reason: r.try_get(5)?,
        status: stored(RefundStatus::parse, r.try_get(6)?)?,
        prev_order_status: r.try_get(7)?,
        requested_by: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: rfc3339(created),
        created_ms: created,
    })
}

/// Inserts a `pending` refund; returns the id.
#[allow(clippy::too_many_arguments)]
pub async fn insert_refund(
    conn: &mut Conn,
    d: Dialect,
    order_id: i64,
    out_refund_no: &str,
    amount: i64,
    reason: &str,
    prev: &str,
    by: &str,
) -> R<i64> {
    let now = suanpan_core::time::now_ms();
    let q = sqlx::query(sql_insert!(
        d,
        "INSERT INTO refunds (order_id, out_refund_no, amount_fen, reason, status, prev_order_status, requested_by, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)"
    ))
    .bind(order_id)
    .bind(out_refund_no)
    .bind(amount)
    .bind(reason)
    .bind(prev)
    .bind(by)
    .bind(now)
    .bind(now);
    insert_id(conn, d, q).await
}

/// Refunds of an order, oldest first.
pub async fn refunds_of<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    order_id: i64,
) -> R<Vec<RefundRow>> {
    sqlx::query(sql!(
        d,
        concat!("SELECT ", refund_cols!(), " WHERE order_id = ? ORDER BY id")
    ))
    .bind(order_id)
    .fetch_all(ex)
    .await?
    .iter()
    .map(refund_row)
    .collect()
}

/// A refund by number.
pub async fn refund_by_no<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    d: Dialect,
    no: &str,
) -> R<Option<RefundRow>> {
    sqlx::query(sql!(
        d,
        concat!("SELECT ", refund_cols!(), " WHERE out_refund_no = ?")
    ))
    .bind(no)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(refund_row)
    .transpose()
}

/// Refunds in `status` created at or before `before`, oldest first.
pub async fn refunds_in(
    pool: &sqlx::AnyPool,
    d: Dialect,
    status: RefundStatus,
    before: i64,
    limit: i64,
) -> R<Vec<RefundRow>> {
    sqlx::query(sql!(
        d,
        concat!(
            "SELECT ",
            refund_cols!(),
            " WHERE status = ? AND created_at <= ? ORDER BY id LIMIT ?"
        )
    ))
    .bind(status.as_str())
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(refund_row)
    .collect()
}

/// Moves a refund to `to` if it is in one of `from`; returns whether this call did.
pub async fn refund_cas(
    conn: &mut Conn,
    d: Dialect,
    id: i64,
    from: &[RefundStatus],
    to: RefundStatus,
    refund_id: Option<&str>,
    error: Option<&str>,
) -> R<bool> {
    let now = suanpan_core::time::now_ms();
    let marks = vec!["?"; from.len()].join(", ");
    let settled = if to.is_final() {
        ", settled_at = ?"
    } else {
        ""
    };
    let q = d.prepare(&format!(
        "UPDATE refunds SET status = ?, refund_id = COALESCE(?, refund_id), last_error = COALESCE(?, last_error), updated_at = ?{settled} WHERE id = ? AND status IN ({marks})"
    ));
    let mut q = sqlx::query(&q)
        .bind(to.as_str())
        .bind(refund_id)
        .bind(error)
        .bind(now);
    if !settled.is_empty() {
        q = q.bind(now);
    }
    q = q.bind(id);
    for f in from {
        q = q.bind(f.as_str());
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Sum of refunds of an order that are not `failed`, fen.
pub async fn refunds_committed(conn: &mut Conn, d: Dialect, order_id: i64) -> R<i64> {
    sqlx::query(sql!(d, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS {{INT}}) FROM refunds WHERE order_id = ? AND status <> 'failed'"))
        .bind(order_id)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

/// Number of refunds an order has had.
pub async fn refund_count(conn: &mut Conn, d: Dialect, order_id: i64) -> R<i64> {
    sqlx::query(sql!(d, "SELECT COUNT(*) FROM refunds WHERE order_id = ?"))
        .bind(order_id)
        .fetch_one(conn)
        .await?
        .try_get(0)
}

// ---------------------------------------------------------------- reports

/// The daily report (UTC+08:00 calendar day).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DailyReport {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Orders created that day.
    pub orders_created: i64,
    /// Orders paid that day.
    pub orders_paid: i64,
    /// Orders cancelled that day.
    pub orders_cancelled: i64,
    /// Gross merchandise value: amount paid that day, fen.
    pub gmv_fen: i64,
    /// Refunds that succeeded that day, fen.
    pub refunds_fen: i64,
    /// Payment attempts (prepays) started that day.
    pub payments_started: i64,
    /// Of those, how many succeeded.
    pub payments_succeeded: i64,
    /// `payments_succeeded / payments_started`, or null with no attempts.
    pub payment_success_rate: Option<f64>,
}

/// Computes the report for `[start, end)` (ms).
pub async fn daily_report(
    pool: &sqlx::AnyPool,
    d: Dialect,
    date: &str,
    start: i64,
    end: i64,
) -> R<DailyReport> {
    let one = |q: &'static str| async move {
        sqlx::query(q)
            .bind(start)
            .bind(end)
            .fetch_one(pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
    };
    let orders_created = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ?"
    ))
    .await?;
    let orders_paid = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE paid_at >= ? AND paid_at < ?"
    ))
    .await?;
    let gmv_fen = one(sql!(d, "SELECT CAST(COALESCE(SUM(paid_fen), 0) AS {{INT}}) FROM orders WHERE paid_at >= ? AND paid_at < ?")).await?;
    let orders_cancelled = one(sql!(
        d,
        "SELECT COUNT(*) FROM orders WHERE cancelled_at >= ? AND cancelled_at < ?"
    ))
    .await?;
    let refunds_fen =
        one(sql!(d, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS {{INT}}) FROM refunds WHERE status = 'succeeded' AND settled_at >= ? AND settled_at < ?")).await?;
    let payments_started = one(sql!(
        d,
        "SELECT COUNT(*) FROM payments WHERE created_at >= ? AND created_at < ?"
    ))
    .await?;
    let payments_succeeded = one(sql!(d, "SELECT COUNT(*) FROM payments WHERE status = 'succeeded' AND created_at >= ? AND created_at < ?")).await?;
    Ok(DailyReport {
        date: date.to_string(),
        orders_created,
        orders_paid,
        orders_cancelled,
        gmv_fen,
        refunds_fen,
        payments_started,
        payments_succeeded,
        payment_success_rate: (payments_started > 0)
            .then(|| payments_succeeded as f64 / payments_started as f64),
    })
}
