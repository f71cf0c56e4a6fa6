//! The shop on the payment flow ([`suanpan_payments::flow`]): paying an order through a WeChat
//! Pay JSAPI prepay, what a payment and a refund mean to an order ([`ShopPayments`], the shop's
//! [`PaymentOwner`]), and admin refunds. The flow owns trades, refunds, notifications and
//! reconciliation; this file owns the order's side of each, in the flow's transactions.

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::json;
use suanpan_core::audit::{self, Actor};
use suanpan_core::auth::AuthUser;
use suanpan_core::db::{Batch, Db, Dialect, Tx, TxBody};
use suanpan_core::idempotency::{self, Key, Stored};
use suanpan_core::time::{now_ms, rfc3339};
use suanpan_core::{AppError, AppResult, ErrorKind, ledger, outbox};
use suanpan_payments::Payments;
use suanpan_payments::flow::{
    PaymentOwner, PaymentStatus, Refund, RefundOutcome, RefundStatus, Settlement, Trade,
};
use suanpan_payments::provider::{PrepayAnswer, PrepayRequest, Provider, Scene};
use suanpan_payments::wechatpay::client::PayParams;

use super::orders::{order_not_found, order_ref, summary};
use crate::ShopState;
use crate::auth::SYSTEM;
use crate::domain::{OrderAction, OrderStatus, illegal, transition};
use crate::events::{OrderRefunded, PaymentSucceeded};
use crate::store::{self, OrderRow, StatusFields};

/// An order's payment as the admin API shows it (a trade of the payment flow).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentRow {
    /// Id.
    pub id: i64,
    /// Order.
    pub order_id: i64,
    /// Our trade number (the order number).
    pub out_trade_no: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// State.
    pub status: PaymentStatus,
    /// WeChat's transaction id.
    pub transaction_id: Option<String>,
    /// Paid after the order was cancelled (refunded automatically).
    pub late: bool,
}

impl From<Trade> for PaymentRow {
    fn from(t: Trade) -> Self {
        PaymentRow {
            id: t.id,
            order_id: t.owner_id,
            out_trade_no: t.out_trade_no,
            amount_fen: t.amount_fen,
            status: t.status,
            transaction_id: t.transaction_id,
            late: t.late,
        }
    }
}

/// A refund as the admin API shows it.
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
}

impl From<Refund> for RefundRow {
    fn from(r: Refund) -> Self {
        RefundRow {
            id: r.id,
            order_id: r.owner_id,
            out_refund_no: r.out_refund_no,
            refund_id: r.refund_id,
            amount_fen: r.amount_fen,
            reason: r.reason,
            status: r.status,
            prev_order_status: r.owner_note,
            requested_by: r.requested_by,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// An order's payment and refunds (admin order detail).
pub async fn payment_of(s: &ShopState, id: i64) -> AppResult<(Option<PaymentRow>, Vec<RefundRow>)> {
    let Some(t) = s.payments.trade_of(SYSTEM, id).await? else {
        return Ok((None, Vec::new()));
    };
    let refunds = s.payments.refunds_of(t.id).await?;
    Ok((
        Some(t.into()),
        refunds.into_iter().map(Into::into).collect(),
    ))
}

fn wechat_configured(s: &ShopState) -> AppResult<()> {
    if s.payments.has(Provider::Wechat) {
        return Ok(());
    }
    Err(AppError::new(
        ErrorKind::Unavailable,
        "payment_not_configured",
        "WeChat Pay is not configured",
    ))
}

/// `POST /v1/orders/{id}/pay` answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PayResponse {
    /// Our trade number (the order number).
    pub out_trade_no: String,
    /// Pass to `wx.requestPayment`.
    pub pay_params: PayParams,
}

/// Starts (or resumes) payment of an order through a WeChat Pay JSAPI prepay whose
/// `out_trade_no` is the order number, valid until the order's payment deadline (at most two
/// hours). Errors: `payment_not_configured` (503), `order_not_found` (404),
/// `illegal_transition` (409, not payable), `order_expired` (409), `payment_provider_*` (502).
pub async fn pay_order(s: &ShopState, user: &AuthUser, id: i64) -> AppResult<PayResponse> {
    wechat_configured(s)?;
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
    let openid = store::user_openid(db.reader(), d, user.user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("unknown shopper"))?;
    let items = store::order_items(db.reader(), d, id).await?;
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let req = PrepayRequest {
        out_trade_no: o.order_no.clone(),
        amount_fen: o.total_fen,
        description: names.join(",").chars().take(100).collect(),
        scene: Scene::Jsapi { openid },
        expires_at_unix: Some(o.expires_at / 1000),
        notify_url: None,
    };
    let show_until = o.expires_at.min(now + 2 * 3600 * 1000);
    match s
        .payments
        .prepay(SYSTEM, id, Provider::Wechat, &req, show_until)
        .await?
    {
        PrepayAnswer::JsapiParams(pay_params) => Ok(PayResponse {
            out_trade_no: o.order_no,
            pay_params,
        }),
        _ => Err(AppError::internal("a JSAPI prepay answered another kind")),
    }
}

/// Handles a notification posted by WeChat Pay: verify → decrypt → apply, through the payment
/// flow (it may concern any system's trade). Event types the flow does not handle are
/// acknowledged and ignored.
pub async fn handle_notification(
    s: &ShopState,
    headers: &http::HeaderMap,
    body: &[u8],
) -> AppResult<()> {
    wechat_configured(s)?;
    s.payments
        .handle_notification(Provider::Wechat, headers, body)
        .await
}

/// Starts a refund (admin): `paid|shipped|completed|refunded → refunding` and a `pending`
/// refund of the flow in one transaction, then submits it to WeChat Pay (reconciliation
/// resubmits it if that fails). `amount_fen` defaults to everything not yet refunded. Answers
/// the refund (201), or the stored answer of an `Idempotency-Key` seen before. Errors:
/// `payment_not_configured` (503), `invalid_reason` (400), `order_not_found` (404),
/// `illegal_transition` (409), `refund_exceeds_paid` (409), `invalid_amount` (400),
/// `idempotency_key_reused` (422).
pub async fn request_refund(
    s: &ShopState,
    id: i64,
    amount_fen: Option<i64>,
    reason: &str,
    actor: &Actor,
    idem: Option<Key>,
) -> AppResult<Stored> {
    wechat_configured(s)?;
    if reason.trim().is_empty() || reason.chars().count() > 80 {
        return Err(AppError::invalid(
            "invalid_reason",
            "reason is required, at most 80 characters",
        ));
    }
    let db = &s.core.db;
    if let Some(i) = &idem
        && let Some(st) = idempotency::begin(db, i).await?
    {
        return Ok(st);
    }
    let d = db.dialect;
    let cx = (idem.as_ref(), reason.trim(), actor);
    let created = db
        .transaction(&cx, move |tx, &(idem, reason, actor)| {
            Box::pin(open_refund(tx, d, id, amount_fen, reason, actor, idem))
        })
        .await;
    match (created, idem) {
        (Ok((no, body)), _) => {
            if let Err(e) = s.payments.submit_refund(&no).await {
                tracing::warn!(error = %e, out_refund_no = %no, "refund not yet accepted by WeChat Pay; reconciliation will retry");
            }
            Ok(Stored { status: 201, body })
        }
        (Err(e), Some(i)) if suanpan_core::db::is_rollback(&e) => idempotency::replay(db, &i).await,
        (Err(e), _) => Err(e),
    }
}

/// The transaction of [`request_refund`]: claims the key, moves the order to `refunding`,
/// opens the refund, audits, stores the answer. Returns `(out_refund_no, answer body)`.
async fn open_refund(
    tx: &mut Tx,
    d: Dialect,
    id: i64,
    amount_fen: Option<i64>,
    reason: &str,
    actor: &Actor,
    idem: Option<&Key>,
) -> AppResult<(String, String)> {
    if let Some(i) = idem {
        let mut b = Batch::new();
        i.push_claim(&mut b, d);
        if b.execute(tx, d).await?.failed_guard.is_some() {
            return Err(suanpan_core::db::rollback());
        }
    }
    let o = store::order_for_update(tx, d, id)
        .await?
        .ok_or_else(order_not_found)?;
    let to = transition(o.status, OrderAction::RequestRefund)?;
    let by = format!("{}:{}", actor.kind, actor.name);
    let note = o.status.as_str();
    let refund = Payments::open_refund(tx, d, SYSTEM, id, amount_fen, reason, note, &by).await?;
    if !store::cas_status(tx, d, id, o.status, to, &StatusFields::default()).await? {
        return Err(illegal(o.status, OrderAction::RequestRefund));
    }
    let refund_json = json!({"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen, "reason": reason});
    let (id_str, before, after) = (
        id.to_string(),
        summary(&o),
        json!({"status": to, "refund": refund_json}),
    );
    let entry = audit::Entry::new(actor, "order.refund", "order", &id_str)
        .before(&before)
        .after(&after);
    audit::record(tx, d, &entry).await?;
    let no = refund.out_refund_no.clone();
    let body = serde_json::to_string(&RefundRow::from(refund)).map_err(AppError::internal)?;
    if let Some(i) = idem {
        let mut b = Batch::new();
        i.push_complete(&mut b, d, 201, &body);
        b.execute(tx, d).await?;
    }
    Ok((no, body))
}

/// What a payment and a refund mean to a shop order: the shop's [`PaymentOwner`].
pub struct ShopPayments {
    db: Db,
}

impl ShopPayments {
    /// The owner hooks over the shop's database.
    pub fn new(db: Db) -> Self {
        ShopPayments { db }
    }
}

impl PaymentOwner for ShopPayments {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn on_paid<'t>(&'t self, tx: &'t mut Tx, trade: &'t Trade) -> TxBody<'t, Settlement> {
        Box::pin(order_paid(tx, self.db.dialect, trade))
    }

    fn on_refund<'t>(
        &'t self,
        tx: &'t mut Tx,
        refund: &'t Refund,
        outcome: &'t RefundOutcome,
    ) -> TxBody<'t, ()> {
        Box::pin(order_refund_settled(tx, self.db.dialect, refund, outcome))
    }

    fn abandoned(&self, owner_id: i64) -> BoxFuture<'_, Result<bool, AppError>> {
        Box::pin(async move {
            let o = store::order(self.db.reader(), self.db.dialect, owner_id).await?;
            Ok(o.is_some_and(|o| o.status == OrderStatus::Cancelled))
        })
    }
}

/// A trade of order `trade.owner_id` succeeded: the order becomes `paid` (its stock hold is
/// captured), or, when it was cancelled meanwhile, keeps its status, records the money as
/// late and lets the flow refund it. `Payment.Succeeded` either way; audited.
async fn order_paid(tx: &mut Tx, d: Dialect, trade: &Trade) -> AppResult<Settlement> {
    let o = store::order_for_update(tx, d, trade.owner_id)
        .await?
        .ok_or_else(order_not_found)?;
    let late = o.status != OrderStatus::PendingPayment;
    let txid = trade.transaction_id.clone().unwrap_or_default();
    let ev = PaymentSucceeded {
        order_id: o.id,
        order_no: o.order_no.clone(),
        out_trade_no: trade.out_trade_no.clone(),
        transaction_id: txid.clone(),
        amount_fen: trade.amount_fen,
        late,
    };
    outbox::enqueue(tx, d, &ev).await?;
    let (id_str, before) = (o.id.to_string(), summary(&o));
    let actor = Actor::system("wechatpay");
    if late {
        store::add_money(tx, d, o.id, store::Money::LatePaid, trade.amount_fen).await?;
        let after = json!({"status": o.status, "late_payment_fen": trade.amount_fen, "transaction_id": txid, "auto_refund": true});
        let entry = audit::Entry::new(&actor, "payment.late", "order", &id_str);
        audit::record(tx, d, &entry.before(&before).after(&after)).await?;
        return Ok(Settlement::Late {
            reason: "订单已取消，自动退款".into(),
            note: o.status.as_str().into(),
        });
    }
    let fields = StatusFields {
        paid: Some(trade.amount_fen),
        ..Default::default()
    };
    let (from, to) = (OrderStatus::PendingPayment, OrderStatus::Paid);
    if !store::cas_status(tx, d, o.id, from, to, &fields).await? {
        return Err(AppError::internal("order changed under a row lock"));
    }
    ledger::close_ref(tx, d, &order_ref(o.id), true, now_ms()).await?;
    let after =
        json!({"status": OrderStatus::Paid, "paid_fen": trade.amount_fen, "transaction_id": txid});
    let entry = audit::Entry::new(&actor, "payment.succeeded", "order", &id_str);
    audit::record(tx, d, &entry.before(&before).after(&after)).await?;
    Ok(Settlement::Accepted)
}

/// A refund of an order became final. Succeeded: `refunding → refunded` with `refunded_fen`
/// raised (a late payment's refund of a cancelled order only raises `refunded_fen`),
/// `Order.Refunded`. Failed: the order returns to its status before the refund. Audited.
async fn order_refund_settled(
    tx: &mut Tx,
    d: Dialect,
    r: &Refund,
    outcome: &RefundOutcome,
) -> AppResult<()> {
    let o = store::order_for_update(tx, d, r.owner_id)
        .await?
        .ok_or_else(order_not_found)?;
    let before_status = OrderStatus::parse(&r.owner_note);
    let actor = Actor::system("wechatpay");
    let (id_str, before) = (o.id.to_string(), summary(&o));
    let (action, after) = match outcome {
        RefundOutcome::Succeeded => ("refund.succeeded", refund_succeeded(tx, d, &o, r).await?),
        RefundOutcome::Failed(error) => {
            if let Some(prev) = before_status.filter(|p| *p != OrderStatus::Cancelled) {
                let to = transition(o.status, OrderAction::RefundFailed(prev))?;
                store::cas_status(tx, d, o.id, o.status, to, &StatusFields::default()).await?;
            }
            (
                "refund.failed",
                json!({"out_refund_no": r.out_refund_no, "error": error}),
            )
        }
    };
    let entry = audit::Entry::new(&actor, action, "order", &id_str);
    audit::record(tx, d, &entry.before(&before).after(&after)).await?;
    Ok(())
}

/// The order side of a succeeded refund; returns the audit row's after image.
async fn refund_succeeded(
    tx: &mut Tx,
    d: Dialect,
    o: &OrderRow,
    r: &Refund,
) -> AppResult<serde_json::Value> {
    if r.owner_note == OrderStatus::Cancelled.as_str() {
        store::add_money(tx, d, o.id, store::Money::Refunded, r.amount_fen).await?;
    } else {
        let to = transition(o.status, OrderAction::RefundSucceeded)?;
        let fields = StatusFields {
            refunded_add: Some(r.amount_fen),
            ..Default::default()
        };
        if !store::cas_status(tx, d, o.id, o.status, to, &fields).await? {
            return Err(illegal(o.status, OrderAction::RefundSucceeded));
        }
    }
    let refunded_total = o.refunded_fen + r.amount_fen;
    let ev = OrderRefunded {
        order_id: o.id,
        order_no: o.order_no.clone(),
        out_refund_no: r.out_refund_no.clone(),
        refund_fen: r.amount_fen,
        refunded_total_fen: refunded_total,
        full: refunded_total >= o.paid_fen,
    };
    outbox::enqueue(tx, d, &ev).await?;
    Ok(
        json!({"refunded_fen": refunded_total, "out_refund_no": r.out_refund_no, "refund_id": r.refund_id}),
    )
}
