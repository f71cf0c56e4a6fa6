//! Order workflows: place (on the core's group-commit write path), read, cancel (closing the
//! unpaid trade at its provider first), ship, confirm receipt. Each change is one transaction
//! with its ledger movements, outbox event and audit row.

use serde::Serialize;
use serde_json::{Value, json};
use suanpan_core::audit::{self, Actor};
use suanpan_core::auth::AuthUser;
use suanpan_core::db::Batch;
use suanpan_core::idempotency::{self, Key, Stored};
use suanpan_core::ledger;
use suanpan_core::outbox;
use suanpan_core::time::{now_ms, rfc3339};
use suanpan_core::writer::{Step, Unit, UnitCtx};
use suanpan_core::{AppError, AppResult};

use crate::ShopState;
use crate::auth::SYSTEM;
use crate::domain::{
    self, LineRequest, OrderAction, OrderLimits, OrderStatus, PricedLine, illegal, transition,
};
use crate::events::{EventLine, OrderCancelled, OrderCreated};
use crate::store::{self, OrderRow, StatusFields};
use suanpan_payments::flow::CloseOutcome;

/// An order as the API shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: i64,
    /// Order number; also the WeChat Pay `out_trade_no`.
    pub order_no: String,
    /// Shopper id.
    pub user_id: i64,
    /// Status.
    pub status: OrderStatus,
    /// Total, fen.
    pub total_fen: i64,
    /// Paid, fen.
    pub paid_fen: i64,
    /// Refunded so far, fen.
    pub refunded_fen: i64,
    /// Lines with prices at order time.
    pub items: Vec<PricedLine>,
    /// Shipping address snapshot.
    #[schema(value_type = Option<Object>)]
    pub address: Option<Value>,
    /// Shopper's remark.
    pub remark: String,
    /// Why it was cancelled (`shopper`, `admin`, `timeout`).
    pub cancel_reason: Option<String>,
    /// Carrier.
    pub carrier: Option<String>,
    /// Tracking number.
    pub tracking_no: Option<String>,
    /// Payment deadline, RFC 3339.
    pub expires_at: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub paid_at: Option<String>,
    /// RFC 3339.
    pub shipped_at: Option<String>,
    /// RFC 3339.
    pub completed_at: Option<String>,
    /// RFC 3339.
    pub cancelled_at: Option<String>,
}

/// Builds the API view of an order.
pub fn view(o: &OrderRow, items: Vec<PricedLine>) -> OrderView {
    OrderView {
        id: o.id,
        order_no: o.order_no.clone(),
        user_id: o.user_id,
        status: o.status,
        total_fen: o.total_fen,
        paid_fen: o.paid_fen,
        refunded_fen: o.refunded_fen,
        items,
        address: o
            .address_json
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok()),
        remark: o.remark.clone(),
        cancel_reason: o.cancel_reason.clone(),
        carrier: o.carrier.clone(),
        tracking_no: o.tracking_no.clone(),
        expires_at: rfc3339(o.expires_at),
        created_at: rfc3339(o.created_at),
        paid_at: o.paid_at.map(rfc3339),
        shipped_at: o.shipped_at.map(rfc3339),
        completed_at: o.completed_at.map(rfc3339),
        cancelled_at: o.cancelled_at.map(rfc3339),
    }
}

pub(crate) fn order_ref(id: i64) -> String {
    format!("order:{id}")
}

pub(crate) fn summary(o: &OrderRow) -> Value {
    json!({"status": o.status, "paid_fen": o.paid_fen, "refunded_fen": o.refunded_fen})
}

/// What `POST /v1/orders` asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateOrder {
    /// Explicit lines (ignored when `from_cart`).
    pub items: Vec<LineRequest>,
    /// Order the shopper's whole cart, then remove those lines from it.
    pub from_cart: bool,
    /// Address to ship to; default address if absent.
    pub address_id: Option<i64>,
    /// Remark, ≤ 200 characters.
    pub remark: String,
}

/// An order validated and priced, ready to be written (owned, so it can travel to the
/// SQLite group-commit writer).
#[derive(Clone, Debug)]
pub struct PreparedOrder {
    /// Shopper.
    pub user_id: i64,
    /// Normalised lines, in product-id order.
    pub lines: Vec<LineRequest>,
    /// Stock account of each line.
    pub accounts: Vec<String>,
    /// Priced lines.
    pub priced: Vec<PricedLine>,
    /// Total, fen.
    pub total: i64,
    /// Units.
    pub item_count: i64,
    /// Address snapshot JSON.
    pub address: Option<String>,
    /// Remark.
    pub remark: String,
    /// Remove these products from the cart.
    pub from_cart: bool,
    /// Payment timeout, seconds.
    pub timeout_secs: i64,
    /// Idempotency key in force.
    pub idem: Option<Key>,
}

/// How writing a prepared order ended.
#[derive(Debug)]
pub enum Placed {
    /// Written; the response body.
    Created(String),
    /// The idempotency key was taken by an earlier request: replay its response.
    KeyTaken,
    /// Not enough stock on `account` for `requested`.
    Insufficient {
        /// The account.
        account: String,
        /// The quantity asked.
        requested: i64,
    },
}

/// The writes of an order pushed into a batch: the reservation guards and the response body.
pub struct OrderWrites {
    /// `(guard index in the batch, stock account, quantity)` per line.
    pub guards: Vec<(usize, String, i64)>,
    /// The `201` response body.
    pub body: String,
}

impl OrderWrites {
    /// The outcome when the guard at `failed` did not hold.
    pub fn insufficient(&self, failed: usize) -> AppResult<Placed> {
        self.guards
            .iter()
            .find(|(i, _, _)| *i == failed)
            .map(|(_, account, q)| Placed::Insufficient {
                account: account.clone(),
                requested: *q,
            })
            .ok_or_else(|| AppError::internal("unknown guard"))
    }
}

/// Adds every write of a placed order after the order row (lines, stock reservations,
/// `Order.Created`, cart cleanup, the stored idempotent response) to `b`. Returns the
/// reservation guards and the response body.
pub fn push_order_writes(
    b: &mut Batch,
    d: suanpan_core::db::Dialect,
    p: &PreparedOrder,
    id: i64,
    order_no: &str,
    now: i64,
) -> AppResult<OrderWrites> {
    let expires_at = now + p.timeout_secs * 1000;
    store::push_order_items(b, d, id, &p.priced);
    let mut guards = Vec::with_capacity(p.lines.len());
    for (line, account) in p.lines.iter().zip(&p.accounts) {
        let hold = ledger::Op::Hold {
            id: format!("{}:{account}", order_ref(id)),
            debit: account.clone(),
            credit: ledger::sold_account(account),
            unit: ledger::STOCK_UNIT.to_string(),
            amount: line.quantity,
            expires_at: Some(expires_at),
            reference: order_ref(id),
        };
        let pushed = ledger::push(b, d, &hold, now)?;
        let funds = pushed
            .funds
            .ok_or_else(|| AppError::internal("hold without a funds guard"))?;
        guards.push((funds, account.clone(), line.quantity));
    }
    let ev = OrderCreated {
        order_id: id,
        order_no: order_no.to_string(),
        user_id: p.user_id,
        total_fen: p.total,
        items: p
            .priced
            .iter()
            .map(|l| EventLine {
                product_id: l.product_id,
                quantity: l.quantity,
                unit_price_fen: l.unit_price_fen,
            })
            .collect(),
        expires_at: rfc3339(expires_at),
    };
    outbox::push_enqueue(b, d, &ev).map_err(AppError::internal)?;
    if p.from_cart {
        let ids: Vec<i64> = p.lines.iter().map(|l| l.product_id).collect();
        store::push_remove_cart_items(b, d, p.user_id, &ids);
    }
    let row = OrderRow {
        id,
        order_no: order_no.to_string(),
        user_id: p.user_id,
        status: OrderStatus::PendingPayment,
        total_fen: p.total,
        paid_fen: 0,
        refunded_fen: 0,
        address_json: p.address.clone(),
        remark: p.remark.clone(),
        cancel_reason: None,
        carrier: None,
        tracking_no: None,
        expires_at,
        paid_at: None,
        shipped_at: None,
        completed_at: None,
        cancelled_at: None,
        created_at: now,
    };
    let body = serde_json::to_string(&view(&row, p.priced.clone())).map_err(AppError::internal)?;
    if let Some(i) = &p.idem {
        i.push_complete(b, d, 201, &body);
    }
    Ok(OrderWrites { guards, body })
}

/// The new order's row.
pub fn new_order<'a>(p: &'a PreparedOrder, order_no: &'a str, now: i64) -> store::NewOrder<'a> {
    store::NewOrder {
        order_no,
        user_id: p.user_id,
        total_fen: p.total,
        item_count: p.item_count,
        address_json: p.address.clone(),
        remark: &p.remark,
        expires_at: now + p.timeout_secs * 1000,
        now,
    }
}

/// Places an order: prices lines at current prices, reserves stock, writes `Order.Created`.
/// Errors: see [`domain::normalize_lines`] and [`domain::price`]; `insufficient_stock` (409),
/// `address_not_found` (404), `idempotency_key_reused` (422).
///
/// The write is one unit of work ([`PlaceOrder`]) on the core's group-commit path: one group
/// transaction for every order waiting, a savepoint each.
pub async fn create_order(
    s: &ShopState,
    user: &AuthUser,
    req: CreateOrder,
    idem: Option<Key>,
) -> AppResult<Stored> {
    let db = &s.core.db;
    let d = db.dialect;
    let cfg = &s.settings;
    if req.remark.chars().count() > 200 {
        return Err(AppError::invalid(
            "invalid_remark",
            "remark must be at most 200 characters",
        ));
    }
    if let Some(i) = &idem
        && let Some(st) = idempotency::begin(db, i).await?
    {
        return Ok(st);
    }
    let requested = if req.from_cart {
        store::cart(db.reader(), d, user.user_id)
            .await?
            .iter()
            .map(|c| LineRequest {
                product_id: c.product_id,
                quantity: c.quantity,
            })
            .collect()
    } else {
        req.items.clone()
    };
    let lines = domain::normalize_lines(
        &requested,
        OrderLimits {
            max_lines: cfg.order_max_lines,
            max_quantity: cfg.order_max_quantity,
        },
    )?;
    let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let (products, address) = {
        let mut conn = db.reader().acquire().await?;
        store::checkout_reads(&mut conn, d, &ids, user.user_id, req.address_id).await?
    };
    if req.address_id.is_some() && address.is_none() {
        return Err(AppError::not_found("address_not_found", "no such address"));
    }
    // The address is snapshotted into the order.
    let address = address
        .map(|a| serde_json::to_string(&a))
        .transpose()
        .map_err(AppError::internal)?;
    let (priced, total) = domain::price(&lines, &products)?;
    let accounts: Vec<String> = lines
        .iter()
        .map(|l| {
            products
                .iter()
                .find(|p| p.id == l.product_id)
                .map(|p| p.stock_account.clone())
                .unwrap_or_default()
        })
        .collect();
    let item_count: i64 = lines.iter().map(|l| l.quantity).sum();
    let p = PreparedOrder {
        user_id: user.user_id,
        lines,
        accounts,
        priced,
        total,
        item_count,
        address,
        remark: req.remark,
        from_cart: req.from_cart,
        timeout_secs: cfg.order_payment_timeout_secs,
        idem,
    };
    let idem = p.idem.clone();
    match s.orders.submit(PlaceOrder(p)).await? {
        Placed::Created(body) => {
            metrics::counter!("suanpan_shop_orders_created_total").increment(1);
            Ok(Stored { status: 201, body })
        }
        Placed::KeyTaken => match &idem {
            Some(i) => idempotency::replay(db, i).await,
            None => Err(AppError::internal("idempotency claim without a key")),
        },
        Placed::Insufficient { account, requested } => {
            let mut conn = db.reader().acquire().await?;
            Err(ledger::insufficient(&mut conn, d, &account, requested)
                .await
                .into_app("insufficient_stock"))
        }
    }
}

/// The writes of one order as a unit of the group-commit path, in one batch: claim the key,
/// insert the order (with its writer-assigned id), its lines, the stock reservations (guards),
/// `Order.Created`, the cart cleanup and the stored response.
pub struct PlaceOrder(pub PreparedOrder);

impl Unit for PlaceOrder {
    type Output = Placed;

    async fn write(&self, ctx: &mut UnitCtx<'_>) -> AppResult<Step<Placed>> {
        let (p, d) = (&self.0, ctx.dialect);
        let now = now_ms();
        let order_no = suanpan_core::ids::business_no("S");
        let mut b = Batch::new();
        let claim = p.idem.as_ref().map(|i| i.push_claim(&mut b, d));
        let id = ctx.next_id("orders").await?;
        store::push_insert_order(&mut b, d, &new_order(p, &order_no, now), id);
        let w = push_order_writes(&mut b, d, p, id, &order_no, now)?;
        let r = ctx.execute(b).await?;
        Ok(match r.failed_guard {
            None => {
                tracing::debug!(order_id = id, "order written");
                Step::Commit(Placed::Created(w.body))
            }
            Some(g) if Some(g) == claim => Step::Rollback(Placed::KeyTaken),
            Some(g) => Step::Rollback(w.insufficient(g)?),
        })
    }
}

/// An order with its lines; `order_not_found` (404) if absent or (with `owner`) someone else's.
pub async fn get_order(s: &ShopState, id: i64, owner: Option<i64>) -> AppResult<OrderView> {
    let db = &s.core.db;
    let o = store::order(db.reader(), db.dialect, id)
        .await?
        .filter(|o| owner.is_none_or(|u| o.user_id == u))
        .ok_or_else(order_not_found)?;
    let items = store::order_items(db.reader(), db.dialect, id).await?;
    Ok(view(&o, items))
}

/// A page of orders matching `f`, newest first, with their lines (two queries).
pub async fn order_page(
    s: &ShopState,
    f: &store::OrderFilter,
    page: suanpan_core::http::PageParams,
) -> AppResult<suanpan_core::http::Page<OrderView>> {
    let (limit, offset, page, page_size) = page.resolve()?;
    let db = &s.core.db;
    let (rows, total) = store::search_orders(db.reader(), db.dialect, f, limit, offset).await?;
    let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
    let mut lines = store::items_of_orders(db.reader(), db.dialect, &ids).await?;
    let items = rows
        .iter()
        .map(|o| view(o, lines.remove(&o.id).unwrap_or_default()))
        .collect();
    Ok(suanpan_core::http::Page {
        items,
        page,
        page_size,
        total,
    })
}

pub(crate) fn order_not_found() -> AppError {
    AppError::not_found("order_not_found", "no such order")
}

/// Cancels an unpaid order and releases its stock, exactly once. Closes the WeChat Pay order
/// first when a prepay exists, so it can no longer be paid; if WeChat Pay reports it paid
/// meanwhile, the payment is applied instead and the cancel fails with `illegal_transition`.
/// `owner` restricts to a shopper's own orders.
pub async fn cancel_order(
    s: &ShopState,
    id: i64,
    owner: Option<i64>,
    actor: &Actor,
    reason: &str,
) -> AppResult<OrderView> {
    let db = &s.core.db;
    let d = db.dialect;
    let o = store::order(db.reader(), d, id)
        .await?
        .filter(|o| owner.is_none_or(|u| o.user_id == u))
        .ok_or_else(order_not_found)?;
    transition(o.status, OrderAction::Cancel)?;
    if let CloseOutcome::Paid(_) = s.payments.close_unpaid(SYSTEM, id).await? {
        return Err(illegal(OrderStatus::Paid, OrderAction::Cancel));
    }
    let cx = (&o.order_no, actor, reason);
    s.core
        .db
        .transaction(&cx, move |tx, &(order_no, actor, reason)| {
            Box::pin(async move {
                let o = store::order_for_update(tx, d, id)
                    .await?
                    .ok_or_else(order_not_found)?;
                let fields = StatusFields {
                    cancel_reason: Some(reason.to_string()),
                    ..Default::default()
                };
                let (from, to) = (OrderStatus::PendingPayment, OrderStatus::Cancelled);
                if !store::cas_status(tx, d, id, from, to, &fields).await? {
                    return Err(illegal(o.status, OrderAction::Cancel));
                }
                ledger::close_ref(tx, d, &order_ref(id), false, now_ms()).await?;
                let ev = OrderCancelled {
                    order_id: id,
                    order_no: order_no.clone(),
                    reason: reason.to_string(),
                };
                outbox::enqueue(tx, d, &ev).await?;
                let after = json!({"status": OrderStatus::Cancelled, "cancel_reason": reason});
                let (id_str, before) = (id.to_string(), summary(&o));
                let entry = audit::Entry::new(actor, "order.cancel", "order", &id_str)
                    .before(&before)
                    .after(&after);
                audit::record(tx, d, &entry).await?;
                Ok(())
            })
        })
        .await?;
    metrics::counter!("suanpan_shop_orders_cancelled_total", "reason" => reason.to_string())
        .increment(1);
    get_order(s, id, None).await
}

/// `paid → shipped` (admin), with carrier and tracking number.
pub async fn ship_order(
    s: &ShopState,
    id: i64,
    actor: &Actor,
    carrier: &str,
    tracking_no: &str,
) -> AppResult<OrderView> {
    if carrier.trim().is_empty()
        || carrier.chars().count() > 64
        || tracking_no.trim().is_empty()
        || tracking_no.chars().count() > 64
    {
        return Err(AppError::invalid(
            "invalid_shipment",
            "carrier and tracking_no are required, at most 64 characters",
        ));
    }
    simple_transition(
        s,
        id,
        None,
        actor,
        OrderAction::Ship,
        StatusFields {
            shipment: Some((carrier.trim().into(), tracking_no.trim().into())),
            ..Default::default()
        },
    )
    .await
}

/// `shipped → completed` (shopper confirms receipt).
pub async fn confirm_order(s: &ShopState, id: i64, user: &AuthUser) -> AppResult<OrderView> {
    simple_transition(
        s,
        id,
        Some(user.user_id),
        &user.actor(),
        OrderAction::Complete,
        StatusFields {
            completed: true,
            ..Default::default()
        },
    )
    .await
}

async fn simple_transition(
    s: &ShopState,
    id: i64,
    owner: Option<i64>,
    actor: &Actor,
    action: OrderAction,
    fields: StatusFields,
) -> AppResult<OrderView> {
    let db = &s.core.db;
    let d = db.dialect;
    let action_name = format!("order.{}", action.name());
    let cx = (actor, &fields, action_name.as_str());
    db.transaction(&cx, move |tx, &(actor, fields, action_name)| {
        Box::pin(async move {
            let o = store::order_for_update(tx, d, id)
                .await?
                .filter(|o| owner.is_none_or(|u| o.user_id == u))
                .ok_or_else(order_not_found)?;
            let to = transition(o.status, action)?;
            if !store::cas_status(tx, d, id, o.status, to, fields).await? {
                return Err(illegal(o.status, action));
            }
            let (id_str, before, after) = (id.to_string(), summary(&o), json!({"status": to}));
            let entry = audit::Entry::new(actor, action_name, "order", &id_str)
                .before(&before)
                .after(&after);
            audit::record(tx, d, &entry).await?;
            Ok(())
        })
    })
    .await?;
    get_order(s, id, None).await
}
