//! Refunds and the reconciliation job of the payment flow.
//!
//! A refund is opened `pending` inside its owner's transaction ([`Payments::open_refund`]),
//! submitted to the provider after that commits ([`Payments::submit_refund`], safe to repeat:
//! providers dedupe on `out_refund_no`), and settled exactly once by whichever of the API
//! answer, a query or a notification reports it final ([`Payments::apply_refund`]).

use suanpan_core::AppError;
use suanpan_core::db::{Dialect, Tx};
use suanpan_core::time::now_ms;

use super::store::{self, NewRefund, TradeKey};
use super::{PaymentOwner, PaymentStatus, Payments, Refund, RefundStatus, Trade, unknown_trade};
use crate::PayError;
use crate::provider::{
    Provider, ProviderRefund, RefundRequest, RefundStatus as Reported, TradeStatus,
};

/// How a refund ended, as its owner hears it ([`PaymentOwner::on_refund`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Money returned.
    Succeeded,
    /// Refused or closed by the provider, with its reason.
    Failed(String),
}

/// Opens a `pending` refund of `amount` fen of `trade` numbered `{out_trade_no}R{n}`, inside
/// the caller's transaction. Errors: `invalid_amount` (400) unless positive,
/// `refund_exceeds_paid` (409) past what is paid and not yet refunded or in flight,
/// `illegal_transition` (409) for a trade that is not paid.
pub(super) async fn open(
    tx: &mut Tx,
    d: Dialect,
    trade: &Trade,
    amount: i64,
    reason: &str,
    note: &str,
    by: &str,
) -> Result<Refund, AppError> {
    if trade.status != PaymentStatus::Succeeded {
        return Err(AppError::conflict(
            "illegal_transition",
            "only a paid trade can be refunded",
        ));
    }
    let (committed, count) = store::refund_totals(tx, d, trade.id).await?;
    check_refund(amount, trade.amount_fen, committed)?;
    let out_refund_no = format!("{}R{}", trade.out_trade_no, count + 1);
    let new = NewRefund {
        trade,
        out_refund_no: &out_refund_no,
        amount_fen: amount,
        reason,
        owner_note: note,
        requested_by: by,
    };
    store::insert_refund(tx, d, &new).await?;
    store::refund_by_no(&mut **tx, d, &out_refund_no)
        .await?
        .ok_or_else(|| AppError::internal("refund vanished"))
}

/// Checks a refund of `amount` against what was paid and what is already refunded or in
/// flight: `invalid_amount` (400) unless positive, `refund_exceeds_paid` (409) past the paid
/// amount.
pub fn check_refund(amount: i64, paid: i64, refunded_or_pending: i64) -> Result<(), AppError> {
    if amount <= 0 {
        return Err(AppError::invalid(
            "invalid_amount",
            "refund amount must be positive",
        ));
    }
    match refunded_or_pending.checked_add(amount) {
        Some(t) if t <= paid => Ok(()),
        _ => Err(AppError::conflict(
            "refund_exceeds_paid",
            format!(
                "refund would exceed the paid amount ({} fen left)",
                paid - refunded_or_pending
            ),
        )),
    }
}

/// The refundable rest of `trade`: paid minus refunds not failed (read inside a transaction).
pub async fn refundable(tx: &mut Tx, d: Dialect, trade: &Trade) -> Result<i64, AppError> {
    let (committed, _) = store::refund_totals(tx, d, trade.id).await?;
    Ok(trade.amount_fen - committed)
}

impl Payments {
    /// Opens a `pending` refund of (part of) the paid trade of `(system, owner_id)` inside the
    /// owner's transaction `tx`, which usually also moves the owner (an order to
    /// `refunding`). `amount` `None` refunds everything not yet refunded or in flight. Submit
    /// it with [`Self::submit_refund`] after the commit; reconciliation resubmits it if that
    /// fails. Errors: `payment_not_found` (404), and those of [`check_refund`].
    #[allow(clippy::too_many_arguments)]
    pub async fn open_refund(
        tx: &mut Tx,
        d: Dialect,
        system: &str,
        owner_id: i64,
        amount: Option<i64>,
        reason: &str,
        note: &str,
        by: &str,
    ) -> Result<Refund, AppError> {
        let trade = store::trade_by(&mut **tx, d, TradeKey::Owner(system, owner_id))
            .await?
            .ok_or_else(|| AppError::not_found("payment_not_found", "nothing was paid"))?;
        let amount = match amount {
            Some(a) => a,
            None => refundable(tx, d, &trade).await?,
        };
        open(tx, d, &trade, amount, reason, note, by).await
    }

    /// Sends a `pending` refund to its provider and applies the answer. A 4xx answer fails the
    /// refund (its owner undoes what it started); a transport error or 5xx leaves it `pending`
    /// for the next attempt and is returned.
    pub async fn submit_refund(&self, out_refund_no: &str) -> Result<(), AppError> {
        let db = &self.db;
        let r = store::refund_by_no(db.reader(), db.dialect, out_refund_no)
            .await?
            .ok_or_else(|| AppError::not_found("refund_not_found", "no such refund"))?;
        if r.status != RefundStatus::Pending {
            return Ok(());
        }
        let trade = self.trade_by_id(&r).await?;
        let client = self.provider(trade.provider)?;
        let notify_url = self.owner(&trade.system)?.notify_url(trade.provider);
        let req = RefundRequest {
            out_refund_no: r.out_refund_no.clone(),
            out_trade_no: trade.out_trade_no.clone(),
            amount_fen: r.amount_fen,
            total_fen: trade.amount_fen,
            reason: r.reason.clone(),
            notify_url,
        };
        match client.refund(&req).await {
            Ok(answer) => self.apply_refund(&answer).await,
            Err(e) => match refusal(&e) {
                Some(why) => {
                    self.settle_refund(&r, None, RefundOutcome::Failed(why))
                        .await
                }
                None => Err(e.into()),
            },
        }
    }

    async fn trade_by_id(&self, r: &Refund) -> Result<Trade, AppError> {
        let key = TradeKey::Owner(&r.system, r.owner_id);
        store::trade_by(self.db.reader(), self.db.dialect, key)
            .await?
            .filter(|t| t.id == r.trade_id)
            .ok_or_else(unknown_trade)
    }

    /// Applies a refund as its provider reports it (API answer, query or notification),
    /// exactly once. Errors: `unknown_out_refund_no` (404), `amount_mismatch` (400).
    pub async fn apply_refund(&self, answer: &ProviderRefund) -> Result<(), AppError> {
        let db = &self.db;
        let r = store::refund_by_no(db.reader(), db.dialect, &answer.out_refund_no)
            .await?
            .ok_or_else(|| {
                AppError::not_found("unknown_out_refund_no", "no refund with this out_refund_no")
            })?;
        if !amount_matches(answer, r.amount_fen) {
            tracing::error!(out_refund_no = %r.out_refund_no, "refund amount mismatch");
            return Err(AppError::invalid(
                "amount_mismatch",
                "refund amount does not match",
            ));
        }
        let refund_id = answer.refund_id.as_deref();
        match answer.status {
            Reported::Succeeded => {
                self.settle_refund(&r, refund_id, RefundOutcome::Succeeded)
                    .await
            }
            Reported::Closed | Reported::Abnormal => {
                let why = format!("{:?}", answer.status).to_uppercase();
                self.settle_refund(&r, refund_id, RefundOutcome::Failed(why))
                    .await
            }
            Reported::Processing => {
                let mut conn = db.writer().acquire().await?;
                let (from, to) = (&[RefundStatus::Pending], RefundStatus::Processing);
                store::refund_cas(&mut conn, db.dialect, r.id, from, to, refund_id, None).await?;
                Ok(())
            }
        }
    }

    /// Makes refund `r` final with `outcome`, and lets its owner react in the same
    /// transaction, exactly once.
    async fn settle_refund(
        &self,
        r: &Refund,
        refund_id: Option<&str>,
        outcome: RefundOutcome,
    ) -> Result<(), AppError> {
        let owner = self.owner(&r.system)?;
        let d = self.db.dialect;
        let cx = (&*owner, r, refund_id, &outcome);
        let settled = self
            .db
            .transaction(&cx, move |tx, &(owner, r, refund_id, outcome)| {
                Box::pin(settle(tx, d, owner, r, refund_id, outcome))
            })
            .await?;
        if settled {
            let (system, result) = (r.system.clone(), refund_result(&outcome));
            metrics::counter!("suanpan_refunds_total", "system" => system, "result" => result)
                .increment(1);
        }
        Ok(())
    }

    /// The reconciliation job of every system's payments, one pass: unpaid trades older than
    /// `trade_age_ms` are asked about (a lost notification still ends in a payment) or closed
    /// when their owner gave up; `pending` refunds older than `refund_age_ms` are (re)submitted
    /// and `processing` ones older than 30 s queried. Returns how many trades were settled.
    pub async fn reconcile(
        &self,
        trade_age_ms: i64,
        refund_age_ms: i64,
    ) -> Result<usize, AppError> {
        let n = self.reconcile_trades(trade_age_ms).await?;
        self.reconcile_refunds(refund_age_ms).await?;
        Ok(n)
    }

    /// The trade half of [`Self::reconcile`]. A trade that cannot be settled now (provider
    /// down, owner failing) is logged and left for the next pass; it never stops the others.
    pub async fn reconcile_trades(&self, age_ms: i64) -> Result<usize, AppError> {
        let db = &self.db;
        let mut n = 0;
        for t in store::stale_prepaid(db.reader(), db.dialect, now_ms() - age_ms, 200).await? {
            match self.reconcile_trade(&t).await {
                Ok(settled) => n += usize::from(settled),
                Err(e) => {
                    tracing::warn!(out_trade_no = %t.out_trade_no, error = %e, "trade not reconciled; retried next pass")
                }
            }
        }
        Ok(n)
    }

    /// One unpaid trade: applied if the provider says paid (returns true), closed if its owner
    /// gave up and the provider says it is not (or no longer, or never was) payable.
    async fn reconcile_trade(&self, t: &Trade) -> Result<bool, AppError> {
        let Ok(client) = self.provider(t.provider) else {
            return Ok(false);
        };
        let status = match client.query(&t.out_trade_no).await {
            Ok(pt) if pt.status == TradeStatus::Paid => {
                self.apply_trade(&pt).await?;
                return Ok(true);
            }
            Ok(pt) => pt.status,
            // An Alipay QR code nobody scanned: Alipay never created the trade.
            Err(e) if e.api_code() == Some("ACQ.TRADE_NOT_EXIST") => TradeStatus::Closed,
            Err(e) => return Err(e.into()),
        };
        let closable = matches!(
            status,
            TradeStatus::Closed | TradeStatus::PayError | TradeStatus::NotPaid
        );
        if closable && self.owner(&t.system)?.abandoned(t.owner_id).await? {
            if status == TradeStatus::NotPaid {
                client.close(&t.out_trade_no).await?;
            }
            store::close_trade(self.db.writer(), self.db.dialect, t.id).await?;
        }
        Ok(false)
    }

    /// The refund half of [`Self::reconcile`].
    pub async fn reconcile_refunds(&self, age_ms: i64) -> Result<(), AppError> {
        let db = &self.db;
        let now = now_ms();
        let pending = store::refunds_in(
            db.reader(),
            db.dialect,
            RefundStatus::Pending,
            now - age_ms,
            100,
        );
        for r in pending.await? {
            if let Err(e) = self.submit_refund(&r.out_refund_no).await {
                tracing::warn!(out_refund_no = %r.out_refund_no, error = %e, "refund submission failed");
            }
        }
        let processing = store::refunds_in(
            db.reader(),
            db.dialect,
            RefundStatus::Processing,
            now - 30_000,
            100,
        );
        for r in processing.await? {
            if let Err(e) = self.query_refund(&r).await {
                tracing::warn!(out_refund_no = %r.out_refund_no, error = %e, "refund query failed; retried next pass");
            }
        }
        Ok(())
    }

    /// Asks the provider about a `processing` refund and applies the answer.
    async fn query_refund(&self, r: &Refund) -> Result<(), AppError> {
        let trade = self.trade_by_id(r).await?;
        let client = self.provider(trade.provider)?;
        let answer = client
            .query_refund(&trade.out_trade_no, &r.out_refund_no)
            .await?;
        self.apply_refund(&answer).await
    }
}

/// Whether a provider's refund answer is about refund amount `ours`: WeChat Pay reports the
/// refund's own amount; Alipay's `refund_fee` is the trade's total refunded so far, which
/// includes this refund.
fn amount_matches(answer: &ProviderRefund, ours: i64) -> bool {
    match answer.provider {
        Provider::Wechat => answer.amount_fen == ours,
        Provider::Alipay => answer.amount_fen >= ours,
    }
}

/// The reason when `e` is the provider's final "no" to a refund, so the refund fails (and its
/// owner is told) instead of being resubmitted forever: WeChat Pay answers 4xx (but 429 and
/// `SYSTEM_ERROR`/`FREQUENCY_LIMITED` are worth retrying); Alipay answers HTTP 200 with a
/// business error code (`ACQ.…`), except `ACQ.SYSTEM_ERROR`. `None`: try again later.
pub fn refusal(e: &PayError) -> Option<String> {
    let PayError::Api {
        status,
        code,
        message,
    } = e
    else {
        return None;
    };
    let retry = [
        "SYSTEM_ERROR",
        "FREQUENCY_LIMITED",
        "ACQ.SYSTEM_ERROR",
        "aop.ACQ.SYSTEM_ERROR",
    ];
    let refused = match *status {
        200 => code.starts_with("ACQ.") || code.starts_with("aop.ACQ."),
        429 => false,
        s => (400..500).contains(&s),
    };
    (refused && !retry.contains(&code.as_str())).then(|| format!("{code}: {message}"))
}

fn refund_result(o: &RefundOutcome) -> &'static str {
    match o {
        RefundOutcome::Succeeded => "succeeded",
        RefundOutcome::Failed(_) => "failed",
    }
}

/// The transaction of [`Payments::settle_refund`]: returns whether this call settled it.
async fn settle(
    tx: &mut Tx,
    d: Dialect,
    owner: &dyn PaymentOwner,
    r: &Refund,
    refund_id: Option<&str>,
    outcome: &RefundOutcome,
) -> Result<bool, AppError> {
    let (to, error) = match outcome {
        RefundOutcome::Succeeded => (RefundStatus::Succeeded, None),
        RefundOutcome::Failed(e) => (RefundStatus::Failed, Some(e.as_str())),
    };
    let from = [RefundStatus::Pending, RefundStatus::Processing];
    if !store::refund_cas(tx, d, r.id, &from, to, refund_id, error).await? {
        return Ok(false);
    }
    let settled = Refund {
        status: to,
        refund_id: refund_id.map(str::to_string).or(r.refund_id.clone()),
        last_error: error.map(str::to_string).or(r.last_error.clone()),
        settled_at: Some(now_ms()),
        ..r.clone()
    };
    owner.on_refund(tx, &settled, outcome).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_refusals_fail_a_refund_and_outages_retry_it() {
        let api = |status, code: &str| PayError::Api {
            status,
            code: code.into(),
            message: "m".into(),
        };
        assert!(refusal(&api(400, "NOT_ENOUGH")).is_some());
        assert!(refusal(&api(200, "ACQ.TRADE_STATUS_ERROR")).is_some());
        for retry in [
            api(500, "SYSTEM_ERROR"),
            api(429, "FREQUENCY_LIMITED"),
            api(400, "SYSTEM_ERROR"),
            api(200, "ACQ.SYSTEM_ERROR"),
            PayError::Transport("reset".into()),
        ] {
            assert_eq!(refusal(&retry), None, "{retry}");
        }
    }

    #[test]
    fn refunds_never_exceed_what_was_paid() {
        assert!(check_refund(100, 100, 0).is_ok());
        assert!(check_refund(40, 100, 60).is_ok());
        let code = |r: Result<(), AppError>| r.err().map(|e| e.code);
        assert_eq!(code(check_refund(41, 100, 60)), Some("refund_exceeds_paid"));
        assert_eq!(code(check_refund(0, 100, 0)), Some("invalid_amount"));
        assert_eq!(code(check_refund(-5, 100, 0)), Some("invalid_amount"));
        assert_eq!(
            code(check_refund(i64::MAX, 100, 1)),
            Some("refund_exceeds_paid")
        );
    }
}
