//! The payment flow of every system, written once (issue 5, "payments written once"):
//! prepay → notification or query → applied exactly once → reconciliation → refunds.
//!
//! A system that takes money implements [`PaymentOwner`] (what a payment or a refund means to
//! the thing it pays for: a shop order, an MR recharge, a ticket order) and registers it with
//! [`Payments`]. Trades (`pay_trades`) belong to an owner through `(system, owner_id)`, one
//! trade per owner; refunds (`pay_refunds`) to a trade. The state machines are in
//! `docs/state-machines.md`:
//!
//! - trade: `prepaid → succeeded` (once, by whichever of notification, query or cancel-time
//!   check sees the payment first) or `prepaid → closed` (its owner gave up and the provider
//!   closed it);
//! - refund: `pending → processing → succeeded | failed`, `pending → succeeded | failed`.
//!
//! A notification is applied in one transaction and never waits on an outbound call: a payment
//! that arrives after its owner stopped wanting it is recorded `late` with a `pending` full
//! refund, which [`Payments::reconcile`] (the one reconciliation job of every system) submits.
//! Amounts are integer fen; times Unix milliseconds.

mod refunds;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use suanpan_core::db::{Db, Dialect, Tx, TxBody};
use suanpan_core::{AppError, ErrorKind};

use crate::provider::{
    Notification, PaymentProvider, PrepayAnswer, PrepayRequest, Provider, ProviderTrade,
    TradeStatus,
};
use store::TradeKey;

pub use refunds::{RefundOutcome, refundable};

/// A trade's state in our books (table `pay_trades`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Prepay opened at the provider; waiting for the payer.
    Prepaid,
    /// Paid; applied to its owner once.
    Succeeded,
    /// Closed unpaid (its owner was cancelled or timed out).
    Closed,
}

/// A refund's state (table `pay_refunds`): `pending` (not yet accepted by the provider),
/// `processing` (accepted, not final), then `succeeded` or `failed`, each applied once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; to be submitted (or resubmitted) to the provider.
    Pending,
    /// Accepted by the provider; waiting for its result.
    Processing,
    /// Money returned.
    Succeeded,
    /// Refused or closed by the provider; its owner undid what the refund had started.
    Failed,
}

impl PaymentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Prepaid => "prepaid",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Closed => "closed",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Prepaid, Self::Succeeded, Self::Closed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl RefundStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Processing,
            Self::Succeeded,
            Self::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Succeeded or failed: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }
}

/// A trade opened at a provider for one owner (a row of `pay_trades`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Id.
    pub id: i64,
    /// The owning system (`shop`, `mr`, …).
    pub system: String,
    /// The owner's id within its system (an order id, a recharge id).
    pub owner_id: i64,
    /// Where it is paid.
    pub provider: Provider,
    /// Our trade number (the provider's `out_trade_no`).
    pub out_trade_no: String,
    /// Amount, fen.
    pub amount_fen: i64,
    /// State.
    pub status: PaymentStatus,
    /// `jsapi`, `qr` or `redirect`: what the handle is.
    pub prepay_kind: Option<String>,
    /// The JSAPI prepay id, the QR text or the payment URL.
    pub prepay_handle: Option<String>,
    /// Until when the handle may be shown again (ms).
    pub prepay_expires_at: Option<i64>,
    /// The provider's trade id, once paid.
    pub transaction_id: Option<String>,
    /// The payer as the provider reports them (openid, buyer id).
    pub payer: Option<String>,
    /// Paid after its owner stopped wanting it (refunded in full automatically).
    pub late: bool,
    /// When it was paid (ms).
    pub succeeded_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
}

/// A refund of (part of) a trade (a row of `pay_refunds`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Id.
    pub id: i64,
    /// The refunded trade.
    pub trade_id: i64,
    /// The owning system.
    pub system: String,
    /// The owner's id within it.
    pub owner_id: i64,
    /// Our refund number (the provider's `out_refund_no` / `out_request_no`): `{out_trade_no}R{n}`.
    pub out_refund_no: String,
    /// The provider's refund id, once known.
    pub refund_id: Option<String>,
    /// Amount, fen.
    pub amount_fen: i64,
    /// Reason shown to the payer.
    pub reason: String,
    /// State.
    pub status: RefundStatus,
    /// What the owner asked to remember with it (the shop: its order's status before).
    pub owner_note: String,
    /// Who asked (`admin:name`, `system:late-payment`).
    pub requested_by: String,
    /// The provider's last error.
    pub last_error: Option<String>,
    /// Created (ms).
    pub created_at: i64,
    /// Succeeded or failed at (ms).
    pub settled_at: Option<i64>,
}

/// What a payment meant to its owner ([`PaymentOwner::on_paid`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The owner took the money (the order is paid, the balance credited).
    Accepted,
    /// The owner no longer wants it (cancelled): the flow records the trade `late` and queues
    /// a full refund with this reason, remembering `note` with it.
    Late {
        /// Shown to the payer.
        reason: String,
        /// Kept with the refund for [`PaymentOwner::on_refund`].
        note: String,
    },
}

/// What a system implements to take money through the flow. Each hook runs inside the
/// flow's transaction, so the owner's change commits with the payment's or the refund's
/// state, exactly once; a hook's error rolls everything back.
pub trait PaymentOwner: Send + Sync {
    /// The system's name, stored with its trades (`shop`, `mr`, `xfq`).
    fn system(&self) -> &'static str;

    /// Trade `trade` has just been marked succeeded.
    fn on_paid<'t>(&'t self, tx: &'t mut Tx, trade: &'t Trade) -> TxBody<'t, Settlement>;

    /// Refund `refund` has just become final (`succeeded` or `failed`, with the error).
    fn on_refund<'t>(
        &'t self,
        tx: &'t mut Tx,
        refund: &'t Refund,
        outcome: &'t RefundOutcome,
    ) -> TxBody<'t, ()>;

    /// Whether the owner no longer wants payment (cancelled), so that reconciliation may
    /// close its unpaid trade.
    fn abandoned(&self, owner_id: i64) -> BoxFuture<'_, Result<bool, AppError>>;

    /// The notification URL of the system's refunds at `provider` (its own route); `None`:
    /// the provider's configured URL.
    fn notify_url(&self, provider: Provider) -> Option<String> {
        let _ = provider;
        None
    }
}

/// What applying a provider's trade did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Paid now and accepted by its owner.
    Paid,
    /// Applied before: nothing changed.
    Duplicate,
    /// Not a paid state: nothing to apply.
    NotPaid,
    /// Paid after its owner stopped wanting it: refunded in full under this `out_refund_no`.
    Late(String),
}

/// What closing an owner's unpaid trade found ([`Payments::close_unpaid`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// No open trade: nothing to close.
    NoTrade,
    /// Closed at the provider: it can no longer be paid.
    Closed,
    /// It had been paid meanwhile; the payment was applied ([`PaymentOutcome`]).
    Paid(PaymentOutcome),
    /// The provider could not be reached; a late payment would be refunded.
    Unreachable,
}

/// The payment flow: the configured providers, the registered owners, the database.
/// Cheap to clone.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    providers: Arc<HashMap<Provider, Arc<dyn PaymentProvider>>>,
    owners: Arc<RwLock<HashMap<&'static str, Arc<dyn PaymentOwner>>>>,
}

fn not_configured(p: Provider) -> AppError {
    AppError::new(
        ErrorKind::Unavailable,
        "payment_not_configured",
        format!("{} is not configured", p.as_str()),
    )
}

fn unknown_trade() -> AppError {
    AppError::not_found("unknown_out_trade_no", "no payment with this out_trade_no")
}

impl Payments {
    /// A flow over `db` with these providers (none configured: every payment call answers
    /// `payment_not_configured`, 503).
    pub fn new(db: Db, providers: Vec<Arc<dyn PaymentProvider>>) -> Self {
        Payments {
            db,
            providers: Arc::new(providers.into_iter().map(|p| (p.provider(), p)).collect()),
            owners: Arc::default(),
        }
    }

    /// Registers a system's owner hooks (once per system; a second registration replaces).
    pub fn register(&self, owner: Arc<dyn PaymentOwner>) {
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        owners.insert(owner.system(), owner);
    }

    /// The configured provider `p`, or `payment_not_configured` (503).
    pub fn provider(&self, p: Provider) -> Result<&Arc<dyn PaymentProvider>, AppError> {
        self.providers.get(&p).ok_or_else(|| not_configured(p))
    }

    /// Whether provider `p` is configured.
    pub fn has(&self, p: Provider) -> bool {
        self.providers.contains_key(&p)
    }

    fn owner(&self, system: &str) -> Result<Arc<dyn PaymentOwner>, AppError> {
        let owners = self.owners.read().unwrap_or_else(|e| e.into_inner());
        owners
            .get(system)
            .cloned()
            .ok_or_else(|| AppError::internal(format!("no payment owner for system {system}")))
    }

    /// The database the flow writes to.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The trade of `(system, owner_id)`, if one was opened.
    pub async fn trade_of(&self, system: &str, owner_id: i64) -> Result<Option<Trade>, AppError> {
        let key = TradeKey::Owner(system, owner_id);
        Ok(store::trade_by(self.db.reader(), self.db.dialect, key).await?)
    }

    /// The refunds of trade `trade_id`, oldest first.
    pub async fn refunds_of(&self, trade_id: i64) -> Result<Vec<Refund>, AppError> {
        Ok(store::refunds_of(self.db.reader(), self.db.dialect, trade_id).await?)
    }

    /// Opens (or shows again) the payment of `(system, owner_id)` at `provider`. An unpaid
    /// trade whose prepay is still valid for a minute is shown again without calling the
    /// provider; otherwise the provider is asked (with the same `out_trade_no`, which providers
    /// accept for the same amount) and the new handle kept until `show_until` (ms). Errors:
    /// `payment_not_configured` (503), `payment_provider_*` (502),
    /// and those of `check_reopen` (`already_paid`, `payment_closed`,
    /// `payment_provider_mismatch`, `out_trade_no_mismatch`).
    pub async fn prepay(
        &self,
        system: &'static str,
        owner_id: i64,
        provider: Provider,
        req: &PrepayRequest,
        show_until: i64,
    ) -> Result<PrepayAnswer, AppError> {
        let client = self.provider(provider)?;
        let now = suanpan_core::time::now_ms();
        if let Some(t) = self.trade_of(system, owner_id).await? {
            check_reopen(&t, provider, &req.out_trade_no)?;
            if let (Some(kind), Some(handle), Some(exp)) =
                (&t.prepay_kind, &t.prepay_handle, t.prepay_expires_at)
                && exp > now + 60_000
            {
                return shown_again(client.as_ref(), kind, handle);
            }
        }
        let answer = client.prepay(req).await?;
        let (kind, handle) = handle_of(&answer);
        let new = store::NewPrepay {
            system,
            owner_id,
            provider,
            out_trade_no: &req.out_trade_no,
            amount_fen: req.amount_fen,
            kind,
            handle: &handle,
            expires_at: show_until,
        };
        let mut conn = self.db.writer().acquire().await?;
        store::save_prepay(&mut conn, self.db.dialect, &new).await?;
        Ok(answer)
    }

    /// Verifies and applies a notification posted by `provider`: a paid trade through
    /// [`Self::apply_trade`], a refund through [`Self::apply_refund`]; a verified event of another
    /// kind is acknowledged and ignored. Makes no outbound call.
    /// Errors: the provider's verification errors (`invalid_signature`, `stale_timestamp`,
    /// `merchant_mismatch`, …), `amount_mismatch`, `unknown_out_trade_no`.
    pub async fn handle_notification(
        &self,
        provider: Provider,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), AppError> {
        let client = self.provider(provider)?;
        match client.parse_notification(headers, body) {
            Ok(Notification::Payment(t)) => self.apply_trade(&t).await.map(|_| ()),
            Ok(Notification::Refund(r)) => self.apply_refund(&r).await,
            // A verified event of a kind we do not handle: acknowledged, so it is not resent.
            Err(crate::PayError::Unsupported(what)) => {
                tracing::info!(provider = provider.as_str(), %what, "ignored payment notification");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies a trade as its provider reports it (a verified notification or a query),
    /// exactly once however many times and however concurrently it arrives: marks the trade
    /// succeeded and lets its owner take the money in the same transaction, or, when the owner
    /// no longer wants it, records it late with a `pending` full refund. A trade reported
    /// closed unpaid is marked closed (a later payment report still applies: providers do not
    /// take money on a closed trade). Errors:
    /// `unknown_out_trade_no` (404), `amount_mismatch` (400), `invalid_notification` (400).
    pub async fn apply_trade(&self, t: &ProviderTrade) -> Result<PaymentOutcome, AppError> {
        if t.status == TradeStatus::Closed {
            self.close_reported(t).await?;
            return Ok(PaymentOutcome::NotPaid);
        }
        if t.status != TradeStatus::Paid {
            return Ok(PaymentOutcome::NotPaid);
        }
        let db = &self.db;
        let key = TradeKey::OutTradeNo(&t.out_trade_no);
        let trade = store::trade_by(db.reader(), db.dialect, key)
            .await?
            .ok_or_else(unknown_trade)?;
        check_trade(&trade, t)?;
        let txid = t
            .transaction_id
            .clone()
            .filter(|x| !x.is_empty())
            .ok_or_else(|| AppError::invalid("invalid_notification", "transaction id missing"))?;
        let owner = self.owner(&trade.system)?;
        let d = db.dialect;
        let cx = (&*owner, &trade, txid.as_str(), t.payer.as_deref());
        let outcome = db
            .transaction(&cx, move |tx, &(owner, trade, txid, payer)| {
                Box::pin(apply_paid(tx, d, owner, trade, txid, payer))
            })
            .await?;
        count_payment(&trade, &outcome);
        Ok(outcome)
    }

    /// A provider reports a trade of ours closed unpaid (Alipay `TRADE_CLOSED`, a WeChat Pay
    /// query answering `CLOSED`): the trade is marked closed if it was never paid. An unknown
    /// trade is ignored (the provider's own).
    async fn close_reported(&self, t: &ProviderTrade) -> Result<(), AppError> {
        let key = TradeKey::OutTradeNo(&t.out_trade_no);
        let found = store::trade_by(self.db.reader(), self.db.dialect, key).await?;
        if let Some(trade) = found.filter(|x| x.provider == t.provider) {
            store::close_trade(self.db.writer(), self.db.dialect, trade.id).await?;
        }
        Ok(())
    }

    /// Asks the provider about the owner's unpaid trade and applies it if it was paid.
    /// Returns `None` when there is no unpaid trade or the provider could not say.
    pub async fn settle_if_paid(
        &self,
        system: &str,
        owner_id: i64,
    ) -> Result<Option<PaymentOutcome>, AppError> {
        let Some(t) = self.open_trade(system, owner_id).await? else {
            return Ok(None);
        };
        let client = self.provider(t.provider)?;
        match client.query(&t.out_trade_no).await {
            Ok(pt) if pt.status == TradeStatus::Paid => Ok(Some(self.apply_trade(&pt).await?)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(out_trade_no = %t.out_trade_no, error = %e, "trade query failed");
                Ok(None)
            }
        }
    }

    async fn open_trade(&self, system: &str, owner_id: i64) -> Result<Option<Trade>, AppError> {
        Ok(self
            .trade_of(system, owner_id)
            .await?
            .filter(|t| t.status == PaymentStatus::Prepaid && self.has(t.provider)))
    }

    /// Closes the owner's unpaid trade at its provider before the owner cancels, so that it
    /// can no longer be paid. If the provider answers that it was paid meanwhile, the payment
    /// is applied instead ([`CloseOutcome::Paid`]).
    pub async fn close_unpaid(
        &self,
        system: &str,
        owner_id: i64,
    ) -> Result<CloseOutcome, AppError> {
        let Some(t) = self.open_trade(system, owner_id).await? else {
            return Ok(CloseOutcome::NoTrade);
        };
        let client = self.provider(t.provider)?;
        match client.close(&t.out_trade_no).await {
            Ok(()) => Ok(CloseOutcome::Closed),
            Err(e) if is_already_paid(&e) => match client.query(&t.out_trade_no).await {
                Ok(pt) => Ok(CloseOutcome::Paid(self.apply_trade(&pt).await?)),
                Err(_) => Ok(CloseOutcome::Paid(PaymentOutcome::NotPaid)),
            },
            Err(e) => {
                tracing::warn!(error = %e, out_trade_no = %t.out_trade_no, "could not close the trade; a late payment would be refunded");
                Ok(CloseOutcome::Unreachable)
            }
        }
    }
}

/// An owner's trade may be opened again only while unpaid, at the same provider and with the
/// same `out_trade_no` (providers tie the payment to it): `already_paid` (409) after it
/// succeeded, `payment_closed` (409) after it was closed, `payment_provider_mismatch` (409)
/// while it is open at another provider, `out_trade_no_mismatch` (409) for another number.
fn check_reopen(t: &Trade, provider: Provider, out_trade_no: &str) -> Result<(), AppError> {
    match t.status {
        PaymentStatus::Succeeded => Err(AppError::conflict("already_paid", "this is paid already")),
        PaymentStatus::Closed => Err(AppError::conflict(
            "payment_closed",
            "this payment was closed; start a new one",
        )),
        PaymentStatus::Prepaid if t.provider != provider => Err(AppError::conflict(
            "payment_provider_mismatch",
            format!("this payment is open at {}", t.provider.as_str()),
        )),
        PaymentStatus::Prepaid if t.out_trade_no != out_trade_no => Err(AppError::conflict(
            "out_trade_no_mismatch",
            format!("the open payment is {}", t.out_trade_no),
        )),
        PaymentStatus::Prepaid => Ok(()),
    }
}

/// The provider's "already paid" answers to a close: WeChat Pay `ORDERPAID`/`ORDER_PAID`,
/// Alipay `ACQ.TRADE_STATUS_ERROR` (a paid trade cannot be closed).
fn is_already_paid(e: &crate::PayError) -> bool {
    matches!(
        e.api_code(),
        Some("ORDERPAID" | "ORDER_PAID" | "ACQ.TRADE_STATUS_ERROR")
    )
}

/// A provider's trade must be the one we opened: same provider, same amount (WeChat Pay 支付通知:
/// 校验返回的订单金额是否与商户侧的订单金额一致). `amount_mismatch` (400) otherwise.
pub fn check_trade(ours: &Trade, theirs: &ProviderTrade) -> Result<(), AppError> {
    if ours.provider != theirs.provider || ours.amount_fen != theirs.amount_fen {
        tracing::error!(out_trade_no = %ours.out_trade_no, "provider trade does not match ours");
        return Err(AppError::invalid(
            "amount_mismatch",
            format!(
                "paid amount {} at {} does not equal the trade's {} at {}",
                theirs.amount_fen,
                theirs.provider.as_str(),
                ours.amount_fen,
                ours.provider.as_str()
            ),
        ));
    }
    Ok(())
}

/// The transaction of [`Payments::apply_trade`].
async fn apply_paid(
    tx: &mut Tx,
    d: Dialect,
    owner: &dyn PaymentOwner,
    trade: &Trade,
    txid: &str,
    payer: Option<&str>,
) -> Result<PaymentOutcome, AppError> {
    if !store::mark_succeeded(tx, d, trade.id, txid, payer).await? {
        return Ok(PaymentOutcome::Duplicate);
    }
    let paid = Trade {
        status: PaymentStatus::Succeeded,
        transaction_id: Some(txid.to_string()),
        payer: payer.map(str::to_string),
        succeeded_at: Some(suanpan_core::time::now_ms()),
        ..trade.clone()
    };
    match owner.on_paid(tx, &paid).await? {
        Settlement::Accepted => Ok(PaymentOutcome::Paid),
        Settlement::Late { reason, note } => {
            store::mark_late(tx, d, trade.id).await?;
            let by = "system:late-payment";
            let r = refunds::open(tx, d, &paid, paid.amount_fen, &reason, &note, by).await?;
            Ok(PaymentOutcome::Late(r.out_refund_no))
        }
    }
}

fn count_payment(trade: &Trade, outcome: &PaymentOutcome) {
    let system = trade.system.clone();
    match outcome {
        PaymentOutcome::Paid => {
            metrics::counter!("suanpan_payments_succeeded_total", "system" => system).increment(1)
        }
        PaymentOutcome::Late(no) => {
            metrics::counter!("suanpan_payments_late_total", "system" => system).increment(1);
            tracing::warn!(out_trade_no = %trade.out_trade_no, out_refund_no = %no, "payment arrived after its owner was cancelled; refund queued");
        }
        _ => {}
    }
}

/// `(prepay_kind, handle)` of a prepay answer: what to keep to show it again.
fn handle_of(a: &PrepayAnswer) -> (&'static str, String) {
    match a {
        PrepayAnswer::JsapiParams(p) => (
            "jsapi",
            p.package.trim_start_matches("prepay_id=").to_string(),
        ),
        PrepayAnswer::QrCode { code_url } => ("qr", code_url.clone()),
        PrepayAnswer::RedirectUrl { url } => ("redirect", url.clone()),
    }
}

/// The answer of a kept prepay, shown again.
fn shown_again(
    client: &dyn PaymentProvider,
    kind: &str,
    handle: &str,
) -> Result<PrepayAnswer, AppError> {
    Ok(match kind {
        "jsapi" => PrepayAnswer::JsapiParams(client.jsapi_params(handle)?),
        "qr" => PrepayAnswer::QrCode {
            code_url: handle.to_string(),
        },
        "redirect" => PrepayAnswer::RedirectUrl {
            url: handle.to_string(),
        },
        other => return Err(AppError::internal(format!("unknown prepay kind {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for s in [
            PaymentStatus::Prepaid,
            PaymentStatus::Succeeded,
            PaymentStatus::Closed,
        ] {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            RefundStatus::Pending,
            RefundStatus::Processing,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ] {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
        assert!(RefundStatus::Failed.is_final() && !RefundStatus::Processing.is_final());
    }

    #[test]
    fn prepay_handles_are_kept_and_shown_again() {
        let qr = PrepayAnswer::QrCode {
            code_url: "weixin://wxpay/bizpayurl?pr=abc".into(),
        };
        assert_eq!(
            handle_of(&qr),
            ("qr", "weixin://wxpay/bizpayurl?pr=abc".into())
        );
        let url = PrepayAnswer::RedirectUrl {
            url: "https://openapi.alipay.com/gateway.do?x=1".into(),
        };
        assert_eq!(handle_of(&url).0, "redirect");
    }

    fn trade(provider: Provider, amount_fen: i64) -> Trade {
        Trade {
            id: 1,
            system: "shop".into(),
            owner_id: 7,
            provider,
            out_trade_no: "S1".into(),
            amount_fen,
            status: PaymentStatus::Prepaid,
            prepay_kind: None,
            prepay_handle: None,
            prepay_expires_at: None,
            transaction_id: None,
            payer: None,
            late: false,
            succeeded_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_trade_of_another_amount_or_provider_is_refused() {
        let theirs = |provider, amount_fen| ProviderTrade {
            provider,
            out_trade_no: "S1".into(),
            transaction_id: Some("42".into()),
            status: TradeStatus::Paid,
            amount_fen,
            payer: None,
            paid_at_unix: None,
            raw: serde_json::Value::Null,
        };
        let ours = trade(Provider::Wechat, 990);
        assert!(check_trade(&ours, &theirs(Provider::Wechat, 990)).is_ok());
        let code = |t| check_trade(&ours, &t).err().map(|e| e.code);
        assert_eq!(code(theirs(Provider::Wechat, 1)), Some("amount_mismatch"));
        assert_eq!(code(theirs(Provider::Alipay, 990)), Some("amount_mismatch"));
    }

    #[test]
    fn a_trade_reopens_only_unpaid_at_its_provider_under_its_number() {
        let code = |t: &Trade, p, no| check_reopen(t, p, no).err().map(|e| e.code);
        let open = trade(Provider::Wechat, 990);
        assert_eq!(code(&open, Provider::Wechat, "S1"), None);
        assert_eq!(
            code(&open, Provider::Alipay, "S1"),
            Some("payment_provider_mismatch")
        );
        assert_eq!(
            code(&open, Provider::Wechat, "S2"),
            Some("out_trade_no_mismatch")
        );
        let paid = Trade {
            status: PaymentStatus::Succeeded,
            ..open.clone()
        };
        assert_eq!(code(&paid, Provider::Wechat, "S1"), Some("already_paid"));
        let closed = Trade {
            status: PaymentStatus::Closed,
            ..open
        };
        assert_eq!(
            code(&closed, Provider::Alipay, "S9"),
            Some("payment_closed")
        );
    }
}
