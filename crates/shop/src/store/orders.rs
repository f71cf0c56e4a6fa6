//! Orders, their lines and status changes.

use sqlx::Row;
use sqlx::any::AnyRow;
use suanpan_core::db::{Arg, Batch, Conn, Dialect, bind_all, opt_text};
use suanpan_core::sql;

use super::*;
use crate::domain::{OrderStatus, PricedLine};

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

pub(super) fn order_row(r: &AnyRow) -> R<OrderRow> {
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

/// Adds the insert of order `id` (assigned by the group-commit writer,
/// [`suanpan_core::writer::UnitCtx::next_id`]) to `b`; returns its index.
pub fn push_insert_order(b: &mut Batch, d: Dialect, o: &NewOrder<'_>, id: i64) -> usize {
    b.push(
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

/// An order's money counter that moves without a status change.
#[derive(Clone, Copy, Debug)]
pub enum Money {
    /// `paid_fen`: money received on an order that was no longer payable (late payment).
    LatePaid,
    /// `refunded_fen`: a late payment's refund of a cancelled order.
    Refunded,
}

/// Adds `amount` fen to order `id`'s counter `m`.
pub async fn add_money(conn: &mut Conn, d: Dialect, id: i64, m: Money, amount: i64) -> R<()> {
    let q = match m {
        Money::LatePaid => sql!(
            d,
            "UPDATE orders SET paid_fen = paid_fen + ?, updated_at = ? WHERE id = ?"
        ),
        Money::Refunded => sql!(
            d,
            "UPDATE orders SET refunded_fen = refunded_fen + ?, updated_at = ? WHERE id = ?"
        ),
    };
    sqlx::query(q)
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

pub(super) fn order_where(f: &OrderFilter) -> (String, Vec<Arg>) {
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
