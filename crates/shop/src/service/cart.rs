//! The shopper's cart: lines keyed by product, quantities capped at `order_max_quantity`
//! (seed 001, 购物车). Single statements, so no transaction is needed.

use suanpan_core::auth::AuthUser;
use suanpan_core::{AppError, AppResult};

use crate::ShopState;
use crate::store::{self, CartLine};

/// The cart with current prices and availability (prices are re-checked at checkout).
pub async fn cart(s: &ShopState, user: &AuthUser) -> AppResult<Vec<CartLine>> {
    Ok(store::cart(s.core.db.reader(), s.core.db.dialect, user.user_id).await?)
}

fn check_quantity(s: &ShopState, q: i64) -> AppResult<()> {
    if q <= 0 || q > s.settings.order_max_quantity {
        return Err(AppError::invalid(
            "invalid_quantity",
            format!("quantity must be 1-{}", s.settings.order_max_quantity),
        ));
    }
    Ok(())
}

async fn sellable(s: &ShopState, product_id: i64) -> AppResult<()> {
    store::shelf_product(&s.core.db, product_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product on sale"))
}

/// Adds `quantity` of a product on shelf to the cart (`add`: onto an existing line, capped at
/// the maximum) or sets the line to it (`!add`). Returns the cart. Errors: `invalid_quantity`
/// (400), `product_not_found` (404).
pub async fn put_line(
    s: &ShopState,
    user: &AuthUser,
    product_id: i64,
    quantity: i64,
    add: bool,
) -> AppResult<Vec<CartLine>> {
    check_quantity(s, quantity)?;
    sellable(s, product_id).await?;
    let db = &s.core.db;
    let max = s.settings.order_max_quantity;
    let mut conn = db.writer().acquire().await?;
    store::upsert_cart_line(
        &mut conn,
        db.dialect,
        user.user_id,
        product_id,
        quantity,
        add,
        max,
    )
    .await?;
    drop(conn);
    cart(s, user).await
}

/// Removes a cart line (idempotent) and returns the cart.
pub async fn remove_line(
    s: &ShopState,
    user: &AuthUser,
    product_id: i64,
) -> AppResult<Vec<CartLine>> {
    let db = &s.core.db;
    let mut conn = db.writer().acquire().await?;
    let mut b = suanpan_core::db::Batch::new();
    store::push_remove_cart_items(&mut b, db.dialect, user.user_id, &[product_id]);
    b.execute(&mut conn, db.dialect).await?;
    drop(conn);
    cart(s, user).await
}
