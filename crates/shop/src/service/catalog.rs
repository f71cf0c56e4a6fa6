//! Catalog workflows of the back office: products with their stock account, stock adjustments
//! through the ledger, categories. Each is one transaction with its audit row.

use serde_json::json;
use suanpan_core::audit::{self, Actor};
use suanpan_core::{AppError, AppResult, ledger};

use crate::ShopState;
use crate::domain;
use crate::store::{self, NewProduct};

fn product_not_found() -> AppError {
    AppError::not_found("product_not_found", "no such product")
}

/// Checks `p` ([`domain::check_product`]) and that its category exists
/// (`category_not_found`, 404).
pub async fn validate_product(s: &ShopState, p: &NewProduct) -> AppResult<()> {
    domain::check_product(&p.name, p.price_fen, &p.description, &p.images)?;
    if let Some(c) = p.category_id
        && !store::category_exists(s.core.db.reader(), s.core.db.dialect, c).await?
    {
        return Err(AppError::not_found(
            "category_not_found",
            "no such category",
        ));
    }
    Ok(())
}

/// Creates product `p` with `stock` units on hand (0 – 1,000,000,000, else `invalid_stock`)
/// opened on its ledger account, audited. Returns the product id.
pub async fn create_product(
    s: &ShopState,
    actor: &Actor,
    p: &NewProduct,
    stock: i64,
) -> AppResult<i64> {
    validate_product(s, p).await?;
    domain::check_stock_level(stock)?;
    let d = s.core.db.dialect;
    s.core
        .db
        .transaction(&(p, actor), |tx, &(p, actor)| {
            Box::pin(async move {
                let (id, account) = store::insert_product(tx, d, p).await?;
                let reference = format!("product:{id}:create");
                ledger::open_stock_account(tx, d, &account, stock, &reference).await?;
                let after = json!({"name": p.name, "price_fen": p.price_fen, "stock": stock,
                    "on_shelf": p.on_shelf, "category_id": p.category_id});
                let id_str = id.to_string();
                let entry =
                    audit::Entry::new(actor, "product.create", "product", &id_str).after(&after);
                audit::record(tx, d, &entry).await?;
                Ok(id)
            })
        })
        .await
}

/// Replaces product `id`'s fields with `p` (`before` is what the caller read, for the audit
/// row). Price changes apply to orders placed afterwards.
pub async fn update_product(
    s: &ShopState,
    actor: &Actor,
    id: i64,
    before: &serde_json::Value,
    p: &NewProduct,
) -> AppResult<()> {
    validate_product(s, p).await?;
    let d = s.core.db.dialect;
    s.core
        .db
        .transaction(&(p, actor, before), |tx, &(p, actor, before)| {
            Box::pin(async move {
                store::update_product(tx, d, id, p).await?;
                let after = json!({"name": p.name, "price_fen": p.price_fen, "on_shelf": p.on_shelf,
                    "category_id": p.category_id, "images": p.images});
                let id_str = id.to_string();
                let entry = audit::Entry::new(actor, "product.update", "product", &id_str)
                    .before(before)
                    .after(&after);
                audit::record(tx, d, &entry).await?;
                Ok(())
            })
        })
        .await
}

pub use crate::domain::StockChange;

/// Adjusts product `id`'s stock on hand through the ledger: a receipt comes from the stock
/// clearing account, a write-off goes back to it, and a write-off must leave what unpaid orders
/// reserve (`stock_below_reserved`, 409). `adjustment_id` is the ledger transfer id's tail:
/// the same id twice applies once (the caller passes the `Idempotency-Key` or a fresh id).
/// Audited. Errors: `product_not_found` (404), `invalid_stock` (400).
pub async fn adjust_stock(
    s: &ShopState,
    actor: &Actor,
    id: i64,
    change: StockChange,
    adjustment_id: &str,
) -> AppResult<()> {
    let d = s.core.db.dialect;
    s.core
        .db
        .transaction(&(actor, adjustment_id), |tx, &(actor, adjustment_id)| {
            Box::pin(async move {
                let account = store::stock_account(tx, d, id)
                    .await?
                    .ok_or_else(product_not_found)?;
                let before = ledger::account(tx, d, &account).await?;
                let delta = domain::stock_delta(change, before.balance)?;
                let reference = format!("product:{id}:adjust:{}", actor.id);
                let (debit, credit) = if delta > 0 {
                    (ledger::STOCK_RECEIPTS, account.as_str())
                } else {
                    (account.as_str(), ledger::STOCK_RECEIPTS)
                };
                let op = ledger::Op::Transfer {
                    id: format!("product:{id}:adjust:{adjustment_id}"),
                    debit: debit.into(),
                    credit: credit.into(),
                    unit: ledger::STOCK_UNIT.into(),
                    amount: delta.abs(),
                    reference,
                };
                if delta != 0 {
                    ledger::execute(tx, d, &op, suanpan_core::time::now_ms())
                        .await
                        .map_err(|e| e.into_app("stock_below_reserved"))?;
                }
                let after = ledger::account(tx, d, &account).await?;
                let stock =
                    |a: &ledger::Account| json!({"on_hand": a.balance, "reserved": a.pending_out});
                let (b, a) = (stock(&before), stock(&after));
                let id_str = id.to_string();
                let entry = audit::Entry::new(actor, "product.stock_adjust", "product", &id_str)
                    .before(&b)
                    .after(&a);
                audit::record(tx, d, &entry).await?;
                Ok(())
            })
        })
        .await
}

/// Creates category `name` (1–64 characters after trimming, else `invalid_name`), audited.
/// Returns its id.
pub async fn create_category(
    s: &ShopState,
    actor: &Actor,
    name: &str,
    sort: i64,
) -> AppResult<i64> {
    domain::check_category_name(name)?;
    let d = s.core.db.dialect;
    s.core
        .db
        .transaction(&(name, actor), |tx, &(name, actor)| {
            Box::pin(async move {
                let id = store::insert_category(tx, d, name, sort).await?;
                let (id_str, after) = (id.to_string(), json!({"name": name}));
                let entry =
                    audit::Entry::new(actor, "category.create", "category", &id_str).after(&after);
                audit::record(tx, d, &entry).await?;
                Ok(id)
            })
        })
        .await
}
