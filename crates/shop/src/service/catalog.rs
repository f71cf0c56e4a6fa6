//! Catalog workflows of the back office: products with their stock account, stock adjustments
//! through the ledger, categories. Each is one transaction with its audit row.

use serde_json::json;
use suanpan_core::audit::{self, Actor};
use suanpan_core::db::{Batch, Dialect, Tx};
use suanpan_core::idempotency::{self, Key, Stored};
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
/// reserve (`stock_below_reserved`, 409). Audited. Answers the product as admins see it (200).
/// With an `Idempotency-Key` (`idem`) a repeat answers the first answer and moves nothing (the
/// key is also the ledger transfer's id); the same key with another body is
/// `idempotency_key_reused` (422). Errors: `product_not_found` (404), `invalid_stock` (400).
pub async fn adjust_stock(
    s: &ShopState,
    actor: &Actor,
    id: i64,
    change: StockChange,
    idem: Option<Key>,
) -> AppResult<Stored> {
    let db = &s.core.db;
    if let Some(i) = &idem
        && let Some(st) = idempotency::begin(db, i).await?
    {
        return Ok(st);
    }
    let d = db.dialect;
    let adjustment = match &idem {
        Some(i) => format!("key:{}", i.key),
        None => suanpan_core::ids::random_alnum(12),
    };
    let cx = (actor, adjustment.as_str(), idem.as_ref());
    let done = db
        .transaction(&cx, move |tx, &(actor, adjustment, idem)| {
            Box::pin(adjust(tx, d, actor, id, change, adjustment, idem))
        })
        .await;
    match (done, idem) {
        (Ok(body), _) => Ok(Stored { status: 200, body }),
        (Err(e), Some(i)) if suanpan_core::db::is_rollback(&e) => idempotency::replay(db, &i).await,
        (Err(e), _) => Err(e),
    }
}

/// The transaction of [`adjust_stock`]; returns the answer's body.
async fn adjust(
    tx: &mut Tx,
    d: Dialect,
    actor: &Actor,
    id: i64,
    change: StockChange,
    adjustment: &str,
    idem: Option<&Key>,
) -> AppResult<String> {
    if let Some(i) = idem {
        let mut b = Batch::new();
        i.push_claim(&mut b, d);
        if b.execute(tx, d).await?.failed_guard.is_some() {
            return Err(suanpan_core::db::rollback());
        }
    }
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
        id: format!("product:{id}:adjust:{adjustment}"),
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
    let stock = |a: &ledger::Account| json!({"on_hand": a.balance, "reserved": a.pending_out});
    let (b, a, id_str) = (stock(&before), stock(&after), id.to_string());
    let entry = audit::Entry::new(actor, "product.stock_adjust", "product", &id_str);
    audit::record(tx, d, &entry.before(&b).after(&a)).await?;
    let view = store::get_product(&mut **tx, d, id)
        .await?
        .ok_or_else(product_not_found)?;
    let body = serde_json::to_string(&view).map_err(AppError::internal)?;
    if let Some(i) = idem {
        let mut b = Batch::new();
        i.push_complete(&mut b, d, 200, &body);
        b.execute(tx, d).await?;
    }
    Ok(body)
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
