//! Cart lines.

use serde::Serialize;
use sqlx::Row;
use suanpan_core::db::{Batch, Conn, Dialect, text};
use suanpan_core::sql;

use super::*;

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
