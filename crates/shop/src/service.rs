//! The shop's workflows. Each one validates with [`crate::domain`], then makes its whole change
//! — order row, stock ledger movements, outbox event, audit row, idempotency record — in one
//! database transaction ([`Db::transaction`](suanpan_core::db::Db::transaction)), and talks to WeChat Pay only outside transactions.

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
use suanpan_core::{AppError, AppResult, ErrorKind};
use suanpan_payments::PayError;
use suanpan_payments::wechatpay::client::{PrepayRequest, RefundRequest};
use suanpan_payments::wechatpay::{Refund, Transaction, WechatPayClient};

use crate::ShopState;
use crate::domain::{
    self, LineRequest, OrderAction, OrderLimits, OrderStatus, PaymentStatus, PricedLine,
    RefundStatus, illegal, transition,
};
use crate::events::{EventLine, OrderCancelled, OrderCreated, OrderRefunded, PaymentSucceeded};
use crate::store::{self, OrderRow, StatusFields};

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

fn order_ref(id: i64) -> String {
    format!("order:{id}")
}

fn summary(o: &OrderRow) -> Value {
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

/// The writes of one order as a unit of the group-commit path: claim the key, insert the order
/// (with a writer-assigned id on SQLite: one round trip; else the database's id: two), its lines,
/// the stock reservations (guards), `Order.Created`, the cart cleanup and the stored response.
pub struct PlaceOrder(pub PreparedOrder);

impl Unit for PlaceOrder {
    type Output = Placed;

    async fn write(&self, ctx: &mut UnitCtx<'_>) -> AppResult<Step<Placed>> {
        let (p, d) = (&self.0, ctx.dialect);
        let now = now_ms();
        let order_no = suanpan_core::ids::business_no("S");
        let mut b = Batch::new();
        let claim = p.idem.as_ref().map(|i| i.push_claim(&mut b, d));
        let given = ctx.next_id("orders").await?;
        let ins = store::push_insert_order(&mut b, d, &new_order(p, &order_no, now), given);
        let (id, w, r) = match given {
            Some(id) => {
                let w = push_order_writes(&mut b, d, p, id, &order_no, now)?;
                (id, w, ctx.execute(b).await?)
            }
            None => {
                let r = ctx.execute(b).await?;
                if r.failed_guard.is_some() {
                    return Ok(Step::Rollback(Placed::KeyTaken));
                }
                let id = r.inserted_id(ins)?;
                let mut b = Batch::new();
                let w = push_order_writes(&mut b, d, p, id, &order_no, now)?;
                (id, w, ctx.execute(b).await?)
            }
        };
        Ok(match r.failed_guard {
            None => {
                tracing::debug!(order_id = id, "order written");
                Step::Commit(Placed::Created(w.body))
            }
            Some(g) if given.is_some() && Some(g) == claim => Step::Rollback(Placed::KeyTaken),
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

fn order_not_found() -> AppError {
    AppError::not_found("order_not_found", "no such order")
}

fn pay_client(s: &ShopState) -> AppResult<&WechatPayClient> {
    s.pay.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorKind::Unavailable,
            "payment_not_configured",
            "WeChat Pay is not configured",
        )
    })
}

/// `POST /v1/orders/{id}/pay` answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PayResponse {
    /// Our trade number (the order number).
    pub out_trade_no: String,
    /// Pass to `wx.requestPayment`.
    pub pay_params: suanpan_payments::wechatpay::client::PayParams,
}

/// Starts (or resumes) payment of an order through a JSAPI prepay. Errors:
/// `illegal_transition` (409, not payable), `order_expired` (409), `payment_not_configured`
/// (503), `payment_provider_*` (502).
pub async fn pay_order(s: &ShopState, user: &AuthUser, id: i64) -> AppResult<PayResponse> {
    let client = pay_client(s)?;
    let db = &s.core.db;
    let d = db.dialect;
    let o = store::order(db.reader(), d, id)
        .await?
        .filter(|o| o.user_id == user.user_id)
        .ok_or_else(order_not_found)?;
    transition(o.status, OrderAction::Pay)?;
    let now = now_ms();
    if o.expires_at <= now + 5_000 {
        return Err(AppError::conflict(
            "order_expired",
            "the payment deadline has passed",
        ));
    }
    if let Some(p) = store::payment_by(db.reader(), d, store::PaymentKey::Order(id)).await?
        && let (Some(prepay), Some(exp)) = (&p.prepay_id, p.prepay_expires_at)
        && p.status == PaymentStatus::Prepaid
        && exp > now + 60_000
    {
        return Ok(PayResponse {
            out_trade_no: p.out_trade_no,
            pay_params: client.pay_params(prepay)?,
        });
    }
    let openid = store::user_openid(db.reader(), d, user.user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("unknown shopper"))?;
    let items = store::order_items(db.reader(), d, id).await?;
    let mut description: String = items
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if description.chars().count() > 100 {
        description = description.chars().take(100).collect();
    }
    let prepay_id = client
        .jsapi_prepay(&PrepayRequest {
            description,
            out_trade_no: o.order_no.clone(),
            amount_fen: o.total_fen,
            payer_openid: openid,
            time_expire: Some(rfc3339(o.expires_at)),
        })
        .await?;
    let mut conn = db.writer().acquire().await?;
    store::save_prepay(
        &mut conn,
        d,
        id,
        &o.order_no,
        o.total_fen,
        &prepay_id,
        o.expires_at.min(now + 2 * 3600 * 1000),
    )
    .await?;
    drop(conn);
    Ok(PayResponse {
        out_trade_no: o.order_no,
        pay_params: client.pay_params(&prepay_id)?,
    })
}

/// What applying a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The order is now paid.
    Paid,
    /// Already applied before: nothing changed.
    Duplicate,
    /// Not a success state (`NOTPAY`, `CLOSED`…): nothing to apply.
    NotPaid,
    /// The order had been cancelled: the payment is recorded and refunded automatically
    /// under this `out_refund_no`.
    Late(String),
}

/// Applies a WeChat Pay transaction (from a verified notification or an order query), exactly
/// once however many times and however concurrently it arrives. Checks mchid, appid and amount
/// ([`domain::check_transaction`]); `unknown_out_trade_no` (404) for a trade we never started.
pub async fn apply_transaction(s: &ShopState, t: &Transaction) -> AppResult<PaymentOutcome> {
    let client = pay_client(s)?;
    if t.trade_state != "SUCCESS" {
        return Ok(PaymentOutcome::NotPaid);
    }
    let db = &s.core.db;
    let d = db.dialect;
    let payment = store::payment_by(
        db.reader(),
        d,
        store::PaymentKey::OutTradeNo(&t.out_trade_no),
    )
    .await?
    .ok_or_else(|| {
        AppError::not_found("unknown_out_trade_no", "no payment with this out_trade_no")
    })?;
    let cfg = client.config();
    if let Err(e) = domain::check_transaction(
        &cfg.mchid,
        &cfg.appid,
        payment.amount_fen,
        &t.mchid,
        &t.appid,
        t.amount.as_ref().map(|a| a.total),
    ) {
        tracing::error!(out_trade_no = %t.out_trade_no, code = e.code, "rejected WeChat Pay transaction");
        return Err(e);
    }
    let txid = t
        .transaction_id
        .clone()
        .filter(|x| !x.is_empty())
        .ok_or_else(|| AppError::invalid("invalid_notification", "transaction_id missing"))?;
    let openid = t.payer.as_ref().and_then(|p| p.openid.clone());
    let actor = Actor::system("wechatpay");
    let outcome = suanpan_core::with_tx!(db, tx => {
        let o = store::order_for_update(&mut tx, d, payment.order_id).await?.ok_or_else(order_not_found)?;
        let late = o.status != OrderStatus::PendingPayment;
        if !store::mark_payment_succeeded(&mut tx, d, payment.id, &txid, openid.as_deref(), late).await? {
            return Ok(PaymentOutcome::Duplicate);
        }
        let ev = PaymentSucceeded { order_id: o.id, order_no: o.order_no.clone(), out_trade_no: payment.out_trade_no.clone(), transaction_id: txid.clone(), amount_fen: payment.amount_fen, late };
        outbox::enqueue(&mut tx, d, &ev).await?;
        if !late {
            let fields = StatusFields { paid: Some(payment.amount_fen), ..Default::default() };
            if !store::cas_status(&mut tx, d, o.id, OrderStatus::PendingPayment, OrderStatus::Paid, &fields).await? {
                return Err(AppError::internal("order changed under a row lock"));
            }
            ledger::close_ref(&mut tx, d, &order_ref(o.id), true, now_ms()).await?;
            let after = json!({"status": OrderStatus::Paid, "paid_fen": payment.amount_fen, "transaction_id": txid});
            audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "payment.succeeded", entity_type: "order", entity_id: &o.id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
            Ok(PaymentOutcome::Paid)
        } else {
            store::add_late_paid(&mut tx, d, o.id, payment.amount_fen).await?;
            let n = store::refund_count(&mut tx, d, o.id).await?;
            let out_refund_no = format!("{}R{}", o.order_no, n + 1);
            store::insert_refund(&mut tx, d, o.id, &out_refund_no, payment.amount_fen, "订单已取消，自动退款", o.status.as_str(), "system:late-payment").await?;
            let after = json!({"status": o.status, "late_payment_fen": payment.amount_fen, "transaction_id": txid, "auto_refund": out_refund_no});
            audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "payment.late", entity_type: "order", entity_id: &o.id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
            Ok(PaymentOutcome::Late(out_refund_no))
        }
    })?;
    match &outcome {
        PaymentOutcome::Paid => {
            metrics::counter!("suanpan_shop_payments_succeeded_total").increment(1)
        }
        PaymentOutcome::Late(no) => {
            // The refund is queued (`pending`); the payments job submits it. A notification is
            // answered without waiting on an outbound call (WeChat Pay expects an answer in 5 s).
            metrics::counter!("suanpan_shop_late_payments_total").increment(1);
            tracing::warn!(out_trade_no = %t.out_trade_no, out_refund_no = %no, "payment arrived for a cancelled order; refund queued");
        }
        _ => {}
    }
    Ok(outcome)
}

/// Handles a notification posted by WeChat Pay: verify → decrypt → apply. Unknown event types
/// are acknowledged and ignored.
pub async fn handle_notification(
    s: &ShopState,
    headers: &http::HeaderMap,
    body: &[u8],
) -> AppResult<()> {
    let client = pay_client(s)?;
    let (n, plain) = client.open_notification(headers, body)?;
    match n.event_type.as_str() {
        "TRANSACTION.SUCCESS" => {
            let t: Transaction = serde_json::from_slice(&plain)
                .map_err(|e| AppError::invalid("invalid_notification", e.to_string()))?;
            apply_transaction(s, &t).await.map(|_| ())
        }
        e if e.starts_with("REFUND.") => {
            let r: Refund = serde_json::from_slice(&plain)
                .map_err(|e| AppError::invalid("invalid_notification", e.to_string()))?;
            apply_refund(s, &r).await
        }
        other => {
            tracing::info!(event_type = other, "ignored WeChat Pay notification");
            Ok(())
        }
    }
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
    if let (Some(client), Some(p)) = (
        s.pay.as_deref(),
        store::payment_by(db.reader(), d, store::PaymentKey::Order(id)).await?,
    ) && p.status == PaymentStatus::Prepaid
    {
        match client.close_order(&p.out_trade_no).await {
            Ok(()) => {}
            Err(e) if matches!(e.api_code(), Some("ORDERPAID" | "ORDER_PAID")) => {
                if let Ok(t) = client.query_order(&p.out_trade_no).await {
                    apply_transaction(s, &t).await?;
                }
                return Err(illegal(OrderStatus::Paid, OrderAction::Cancel));
            }
            Err(e) => {
                tracing::warn!(error = %e, order_id = id, "could not close the WeChat Pay order; a late payment would be refunded")
            }
        }
    }
    suanpan_core::with_tx!(db, tx => {
        let o = store::order_for_update(&mut tx, d, id).await?.ok_or_else(order_not_found)?;
        let fields = StatusFields { cancel_reason: Some(reason.to_string()), ..Default::default() };
        if !store::cas_status(&mut tx, d, id, OrderStatus::PendingPayment, OrderStatus::Cancelled, &fields).await? {
            return Err(illegal(o.status, OrderAction::Cancel));
        }
        ledger::close_ref(&mut tx, d, &order_ref(id), false, now_ms()).await?;
        outbox::enqueue(&mut tx, d, &OrderCancelled { order_id: id, order_no: o.order_no.clone(), reason: reason.to_string() }).await?;
        let after = json!({"status": OrderStatus::Cancelled, "cancel_reason": reason});
        audit::record(&mut tx, d, &audit::Entry { actor, action: "order.cancel", entity_type: "order", entity_id: &id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
        Ok(())
    })?;
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
    suanpan_core::with_tx!(db, tx => {
        let o = store::order_for_update(&mut tx, d, id).await?.filter(|o| owner.is_none_or(|u| o.user_id == u)).ok_or_else(order_not_found)?;
        let to = transition(o.status, action)?;
        if !store::cas_status(&mut tx, d, id, o.status, to, &fields).await? {
            return Err(illegal(o.status, action));
        }
        let after = json!({"status": to});
        audit::record(&mut tx, d, &audit::Entry { actor, action: &format!("order.{}", action.name()), entity_type: "order", entity_id: &id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
        Ok(())
    })?;
    get_order(s, id, None).await
}

/// Starts a refund (admin): `paid|shipped|completed|refunded → refunding`, a `pending` refund
/// row keyed by a new `out_refund_no`, then submits it to WeChat Pay. `amount_fen` defaults to
/// everything not yet refunded. Errors: `illegal_transition`, `refund_exceeds_paid`,
/// `invalid_amount`, `invalid_reason`.
pub async fn request_refund(
    s: &ShopState,
    id: i64,
    amount_fen: Option<i64>,
    reason: &str,
    actor: &Actor,
    idem: Option<Key>,
) -> AppResult<Stored> {
    // Refunds go through WeChat Pay: refuse before changing anything when it is not configured.
    pay_client(s)?;
    if reason.trim().is_empty() || reason.chars().count() > 80 {
        return Err(AppError::invalid(
            "invalid_reason",
            "reason is required, at most 80 characters",
        ));
    }
    let db = &s.core.db;
    let d = db.dialect;
    if let Some(i) = &idem
        && let Some(st) = idempotency::begin(db, i).await?
    {
        return Ok(st);
    }
    let created = suanpan_core::with_tx!(db, tx => {
        if let Some(i) = &idem {
            let mut b = Batch::new();
            i.push_claim(&mut b, d);
            if b.execute(&mut tx, d).await?.failed_guard.is_some() {
                return Err(suanpan_core::db::rollback());
            }
        }
        let o = store::order_for_update(&mut tx, d, id).await?.ok_or_else(order_not_found)?;
        let to = transition(o.status, OrderAction::RequestRefund)?;
        let committed = store::refunds_committed(&mut tx, d, id).await?;
        let amount = amount_fen.unwrap_or(o.paid_fen - committed);
        domain::check_refund(amount, o.paid_fen, committed)?;
        let n = store::refund_count(&mut tx, d, id).await?;
        let out_refund_no = format!("{}R{}", o.order_no, n + 1);
        if !store::cas_status(&mut tx, d, id, o.status, to, &StatusFields::default()).await? {
            return Err(illegal(o.status, OrderAction::RequestRefund));
        }
        store::insert_refund(&mut tx, d, id, &out_refund_no, amount, reason.trim(), o.status.as_str(), &format!("{}:{}", actor.kind, actor.name)).await?;
        let refund = store::refund_by_no(&mut *tx, d, &out_refund_no).await?.ok_or_else(|| AppError::internal("refund vanished"))?;
        let after = json!({"status": to, "refund": {"out_refund_no": out_refund_no, "amount_fen": amount, "reason": reason}});
        audit::record(&mut tx, d, &audit::Entry { actor, action: "order.refund", entity_type: "order", entity_id: &id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
        let body = serde_json::to_string(&refund).map_err(AppError::internal)?;
        if let Some(i) = &idem {
            let mut b = Batch::new();
            i.push_complete(&mut b, d, 201, &body);
            b.execute(&mut tx, d).await?;
        }
        Ok(Some((out_refund_no, body)))
    });
    match (created, idem) {
        (Ok(Some((no, body))), _) => {
            if let Err(e) = submit_refund(s, &no).await {
                tracing::warn!(error = %e, out_refund_no = %no, "refund not yet accepted by WeChat Pay; reconciliation will retry");
            }
            Ok(Stored { status: 201, body })
        }
        (Err(e), Some(i)) if suanpan_core::db::is_rollback(&e) => idempotency::replay(db, &i).await,
        (Err(e), _) => Err(e),
        (Ok(None), _) => Err(AppError::internal("refund without a result")),
    }
}

/// Sends a `pending` refund to WeChat Pay (safe to repeat: WeChat Pay dedupes on
/// `out_refund_no`) and applies the answer. A 4xx answer fails the refund (the order returns to
/// its previous status); a transport error or 5xx leaves it `pending` for the next attempt.
pub async fn submit_refund(s: &ShopState, out_refund_no: &str) -> AppResult<()> {
    let client = pay_client(s)?;
    let db = &s.core.db;
    let d = db.dialect;
    let r = store::refund_by_no(db.reader(), d, out_refund_no)
        .await?
        .ok_or_else(|| AppError::not_found("refund_not_found", "no such refund"))?;
    if r.status != RefundStatus::Pending {
        return Ok(());
    }
    let o = store::order(db.reader(), d, r.order_id)
        .await?
        .ok_or_else(order_not_found)?;
    let req = RefundRequest {
        out_trade_no: o.order_no.clone(),
        out_refund_no: r.out_refund_no.clone(),
        reason: r.reason.clone(),
        refund_fen: r.amount_fen,
        total_fen: o.total_fen,
    };
    match client.refund(&req).await {
        Ok(answer) => apply_refund(s, &answer).await,
        Err(PayError::Api {
            status,
            code,
            message,
        }) if (400..500).contains(&status) => {
            fail_refund(s, &r, None, &format!("{code}: {message}")).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Applies a refund result (API answer, query, or `REFUND.*` notification) exactly once.
pub async fn apply_refund(s: &ShopState, answer: &Refund) -> AppResult<()> {
    let db = &s.core.db;
    let d = db.dialect;
    let r = store::refund_by_no(db.reader(), d, &answer.out_refund_no)
        .await?
        .ok_or_else(|| {
            AppError::not_found("unknown_out_refund_no", "no refund with this out_refund_no")
        })?;
    if answer.amount.refund != r.amount_fen {
        tracing::error!(out_refund_no = %r.out_refund_no, "refund amount mismatch");
        return Err(AppError::invalid(
            "amount_mismatch",
            "refund amount does not match",
        ));
    }
    match answer.status.as_str() {
        "SUCCESS" => {
            let actor = Actor::system("wechatpay");
            suanpan_core::with_tx!(db, tx => {
                if !store::refund_cas(&mut tx, d, r.id, &[RefundStatus::Pending, RefundStatus::Processing], RefundStatus::Succeeded, answer.refund_id.as_deref(), None).await? {
                    return Ok(());
                }
                let o = store::order_for_update(&mut tx, d, r.order_id).await?.ok_or_else(order_not_found)?;
                if r.prev_order_status == OrderStatus::Cancelled.as_str() {
                    store::add_refunded(&mut tx, d, o.id, r.amount_fen).await?;
                } else {
                    let to = transition(o.status, OrderAction::RefundSucceeded)?;
                    let fields = StatusFields { refunded_add: Some(r.amount_fen), ..Default::default() };
                    if !store::cas_status(&mut tx, d, o.id, o.status, to, &fields).await? {
                        return Err(illegal(o.status, OrderAction::RefundSucceeded));
                    }
                }
                let refunded_total = o.refunded_fen + r.amount_fen;
                let ev = OrderRefunded { order_id: o.id, order_no: o.order_no.clone(), out_refund_no: r.out_refund_no.clone(), refund_fen: r.amount_fen, refunded_total_fen: refunded_total, full: refunded_total >= o.paid_fen };
                outbox::enqueue(&mut tx, d, &ev).await?;
                let after = json!({"refunded_fen": refunded_total, "out_refund_no": r.out_refund_no, "refund_id": answer.refund_id});
                audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "refund.succeeded", entity_type: "order", entity_id: &o.id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
                Ok(())
            })?;
            metrics::counter!("suanpan_shop_refunds_succeeded_total").increment(1);
            Ok(())
        }
        "CLOSED" | "ABNORMAL" => {
            fail_refund(s, &r, answer.refund_id.as_deref(), &answer.status).await
        }
        _ => {
            let mut conn = db.writer().acquire().await?;
            store::refund_cas(
                &mut conn,
                d,
                r.id,
                &[RefundStatus::Pending],
                RefundStatus::Processing,
                answer.refund_id.as_deref(),
                None,
            )
            .await?;
            Ok(())
        }
    }
}

/// Marks refund `r` failed (the provider refused it, or closed it as `refund_id`) and returns
/// the order to its status before the refund.
async fn fail_refund(
    s: &ShopState,
    r: &store::RefundRow,
    refund_id: Option<&str>,
    error: &str,
) -> AppResult<()> {
    let db = &s.core.db;
    let d = db.dialect;
    let actor = Actor::system("wechatpay");
    suanpan_core::with_tx!(db, tx => {
        if !store::refund_cas(&mut tx, d, r.id, &[RefundStatus::Pending, RefundStatus::Processing], RefundStatus::Failed, refund_id, Some(error)).await? {
            return Ok(());
        }
        let o = store::order_for_update(&mut tx, d, r.order_id).await?.ok_or_else(order_not_found)?;
        if let Some(prev) = OrderStatus::parse(&r.prev_order_status).filter(|p| *p != OrderStatus::Cancelled) {
            let to = transition(o.status, OrderAction::RefundFailed(prev))?;
            store::cas_status(&mut tx, d, o.id, o.status, to, &StatusFields::default()).await?;
        }
        let after = json!({"out_refund_no": r.out_refund_no, "error": error});
        audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "refund.failed", entity_type: "order", entity_id: &o.id.to_string(), before: Some(&summary(&o)), after: Some(&after) }).await?;
        Ok(())
    })?;
    metrics::counter!("suanpan_shop_refunds_failed_total").increment(1);
    Ok(())
}
