//! Recharges through the core payment flow (contract `rechargeBalance`, issue #6 "Money"):
//! `payment_method: "wechat"` is WeChat Pay Native (its `code_url` is the answer's
//! `qr_code_url`), `"alipay"` is `alipay.trade.precreate` (its `qr_code`). The prepay request
//! names MR's own notification route (`/mr/v1/payments/{provider}/notify`); the flow applies a
//! payment exactly once however many notifications (or reconciliation queries) report it, and
//! [`MrPayments::on_paid`] credits the balance in that same transaction.

use futures::future::BoxFuture;
use suanpan_core::db::{Db, Dialect, Tx, TxBody};
use suanpan_core::error::{AppError, ErrorKind};
use suanpan_core::ledger::{self, Op};
use suanpan_core::time;
use suanpan_payments::flow::{PaymentOwner, Refund, RefundOutcome, Settlement, Trade};
use suanpan_payments::provider::{PrepayAnswer, PrepayRequest, Provider, Scene};

use crate::MrState;
use crate::domain::{CNY, RECHARGE_TTL_MS, balance_account};
use crate::envelope::code;
use crate::store::operators::Operator;
use crate::store::recharges::{self, Recharge};

/// MR's hooks in the payment flow: a paid recharge credits the operator's balance; a refund
/// part that the provider refuses goes back to the balance.
pub struct MrPayments {
    db: Db,
    base_url: String,
}

impl MrPayments {
    /// The owner over `db`; notification URLs are under `public_base_url`.
    pub fn new(db: Db, public_base_url: &str) -> Self {
        MrPayments {
            db,
            base_url: public_base_url.trim_end_matches('/').to_string(),
        }
    }

    /// MR's notification route for `provider`'s payments and refunds.
    pub fn notify_url_of(&self, provider: Provider) -> String {
        format!(
            "{}/mr/v1/payments/{}/notify",
            self.base_url,
            provider.as_str()
        )
    }
}

/// Credits `amount` fen to the operator's balance from the clearing account of `method`
/// (`wechat`, `alipay`, `manual`) inside `tx`, and records the recharge transaction `txn{id}`.
/// The ledger transfer `mr:credit:{id}` is applied once. Returns the balance after.
pub async fn credit_in(
    tx: &mut Tx,
    d: Dialect,
    operator_id: &str,
    amount: i64,
    method: &str,
    id: &str,
) -> Result<i64, AppError> {
    let now = time::now_ms();
    let clearing = format!("mr:clearing:{method}");
    let open = Op::Open {
        account: clearing.clone(),
        unit: CNY.into(),
        non_negative: false,
    };
    ledger::execute(tx, d, &open, now).await?;
    let op = Op::Transfer {
        id: format!("mr:credit:{id}"),
        debit: clearing,
        credit: balance_account(operator_id),
        unit: CNY.into(),
        amount,
        reference: id.to_string(),
    };
    ledger::execute(tx, d, &op, now).await?;
    let after = ledger::account(tx, d, &balance_account(operator_id))
        .await?
        .available();
    let t = crate::store::usage::Transaction {
        payment_method: Some(method.to_string()),
        ..crate::store::usage::movement(format!("txn{id}"), "recharge", amount, after, now)
    };
    crate::store::usage::insert_transaction(tx, d, operator_id, &t).await?;
    Ok(after)
}

impl PaymentOwner for MrPayments {
    fn system(&self) -> &'static str {
        crate::SYSTEM
    }

    /// Credits the recharge once (a payment after the QR code expired is credited too: the
    /// operator paid).
    fn on_paid<'t>(&'t self, tx: &'t mut Tx, trade: &'t Trade) -> TxBody<'t, Settlement> {
        let d = self.db.dialect;
        Box::pin(async move {
            let r = recharges::by_id_for_update(tx, d, trade.owner_id)
                .await?
                .ok_or_else(|| AppError::internal(format!("no recharge {}", trade.owner_id)))?;
            if recharges::mark_paid(tx, d, r.id, time::now_ms()).await? {
                let method = trade.provider.as_str();
                credit_in(tx, d, &r.operator_id, trade.amount_fen, method, &r.order_id).await?;
            }
            Ok(Settlement::Accepted)
        })
    }

    fn on_refund<'t>(
        &'t self,
        tx: &'t mut Tx,
        refund: &'t Refund,
        outcome: &'t RefundOutcome,
    ) -> TxBody<'t, ()> {
        let d = self.db.dialect;
        Box::pin(crate::service::refunds::part_settled(
            tx, d, refund, outcome,
        ))
    }

    /// A pending order past its QR code's expiry: reconciliation may close its trade.
    fn abandoned(&self, owner_id: i64) -> BoxFuture<'_, Result<bool, AppError>> {
        Box::pin(async move {
            let r = recharges::by_id(&self.db, owner_id).await?;
            Ok(r.is_some_and(|r| r.status == "pending" && r.expires_at < time::now_ms()))
        })
    }

    fn notify_url(&self, provider: Provider) -> Option<String> {
        Some(self.notify_url_of(provider))
    }
}

fn payment_failed(kind: ErrorKind, message: String) -> AppError {
    AppError::new(kind, code::PAYMENT_FAILED, message)
}

/// Opens a recharge of `amount_fen` paid by `provider` and returns the order with its QR code.
/// With an `Idempotency-Key`, a repeat answers the same order (and the same QR code while it
/// is valid); the key with another amount or method is 422. Errors: `PAYMENT_FAILED` 503
/// when the provider is not configured, 502 when it refuses or cannot be reached (the order
/// stays unpaid; a retry under the same key asks again).
pub async fn recharge(
    s: &MrState,
    op: &Operator,
    amount_fen: i64,
    provider: Provider,
    idem_key: Option<&str>,
) -> Result<Recharge, AppError> {
    if !s.payments.has(provider) {
        let m = format!("{} payments are not configured", provider.as_str());
        return Err(payment_failed(ErrorKind::Unavailable, m));
    }
    let mut r = order_of(s, op, amount_fen, provider, idem_key).await?;
    let scene = match provider {
        Provider::Wechat => Scene::Native,
        Provider::Alipay => Scene::AlipayQr,
    };
    let req = PrepayRequest {
        out_trade_no: r.order_id.clone(),
        amount_fen,
        description: "MR运营平台余额充值".into(),
        scene,
        expires_at_unix: Some(r.expires_at / 1000),
        notify_url: Some(s.owner.notify_url_of(provider)),
    };
    let answer = s
        .payments
        .prepay(crate::SYSTEM, r.id, provider, &req, r.expires_at)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Upstream | ErrorKind::Unavailable => {
                payment_failed(ErrorKind::Upstream, e.message)
            }
            _ => e,
        })?;
    let PrepayAnswer::QrCode { code_url } = answer else {
        return Err(AppError::internal("a QR prepay answered no QR code"));
    };
    recharges::set_qr_code(&s.core.db, r.id, &code_url).await?;
    r.qr_code_url = Some(code_url);
    Ok(r)
}

/// The order to prepay: the one made under `idem_key` before (same amount and method, else
/// 422 `idempotency_key_reused`), or a new one.
async fn order_of(
    s: &MrState,
    op: &Operator,
    amount_fen: i64,
    provider: Provider,
    idem_key: Option<&str>,
) -> Result<Recharge, AppError> {
    let db = &s.core.db;
    let now = time::now_ms();
    let mut r = Recharge {
        id: 0,
        order_id: super::dated_id("ord_recharge", now),
        operator_id: op.operator_id.clone(),
        amount_fen,
        payment_method: provider.as_str().into(),
        status: "pending".into(),
        qr_code_url: None,
        expires_at: now + RECHARGE_TTL_MS,
        paid_at: None,
        created_at: now,
    };
    if let Some(id) = recharges::insert(db, &r, idem_key).await? {
        r.id = id;
        return Ok(r);
    }
    let key = idem_key.unwrap_or_default();
    let first = recharges::by_idem_key(db, &op.operator_id, key)
        .await?
        .ok_or_else(|| AppError::internal("an idempotency key without its order"))?;
    if first.amount_fen != amount_fen || first.payment_method != provider.as_str() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another amount or payment method",
        ));
    }
    Ok(first)
}
