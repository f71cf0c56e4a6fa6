//! Background jobs, run by `suanpan serve` every `jobs_interval_secs`:
//!
//! - [`cancel_expired`]: unpaid orders past `expires_at` are cancelled (stock released). An order
//!   with a prepay is first asked about at WeChat Pay: if it was paid, the payment is applied
//!   instead.
//! - [`reconcile_payments`]: prepays older than a minute are settled by querying WeChat Pay
//!   (a lost notification still ends in `paid`), or closed if their order was cancelled.
//! - [`reconcile_refunds`]: `pending` refunds are (re)submitted; `processing` ones are queried.
//! - expired idempotency keys are purged.

use suanpan_core::AppResult;
use suanpan_core::audit::Actor;
use suanpan_core::time::now_ms;

use crate::ShopState;
use crate::domain::{OrderStatus, PaymentStatus, RefundStatus};
use crate::service;
use crate::store;

/// Cancels due unpaid orders; returns how many were cancelled.
pub async fn cancel_expired(s: &ShopState) -> AppResult<usize> {
    let db = &s.core.db;
    let actor = Actor::system("order-timeout");
    let mut n = 0;
    for (id, _) in store::expired_orders(db.reader(), db.dialect, now_ms(), 200).await? {
        if let (Some(client), Some(p)) = (
            s.pay.as_deref(),
            store::payment_by(db.reader(), db.dialect, store::PaymentKey::Order(id)).await?,
        ) && p.status == PaymentStatus::Prepaid
            && let Ok(t) = client.query_order(&p.out_trade_no).await
            && t.trade_state == "SUCCESS"
        {
            service::apply_transaction(s, &t).await?;
            continue;
        }
        match service::cancel_order(s, id, None, &actor, "timeout").await {
            Ok(_) => n += 1,
            Err(e) if e.code == "illegal_transition" => {}
            Err(e) => tracing::warn!(order_id = id, error = %e, "timeout cancellation failed"),
        }
    }
    Ok(n)
}

/// Queries WeChat Pay about prepays older than a minute; returns how many were settled.
pub async fn reconcile_payments(s: &ShopState) -> AppResult<usize> {
    reconcile_payments_older_than(s, 60_000).await
}

/// [`reconcile_payments`] for prepays older than `age_ms`.
pub async fn reconcile_payments_older_than(s: &ShopState, age_ms: i64) -> AppResult<usize> {
    let Some(client) = s.pay.as_deref() else {
        return Ok(0);
    };
    let db = &s.core.db;
    let d = db.dialect;
    let mut n = 0;
    for p in store::stale_prepaid(db.reader(), d, now_ms() - age_ms, 200).await? {
        let t = match client.query_order(&p.out_trade_no).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(out_trade_no = %p.out_trade_no, error = %e, "order query failed");
                continue;
            }
        };
        if t.trade_state == "SUCCESS" {
            service::apply_transaction(s, &t).await?;
            n += 1;
            continue;
        }
        let cancelled = store::order(db.reader(), d, p.order_id)
            .await?
            .is_some_and(|o| o.status == OrderStatus::Cancelled);
        if cancelled
            && matches!(
                t.trade_state.as_str(),
                "CLOSED" | "REVOKED" | "PAYERROR" | "NOTPAY"
            )
        {
            if t.trade_state == "NOTPAY" && client.close_order(&p.out_trade_no).await.is_err() {
                continue;
            }
            store::close_payment(db.writer(), d, p.id).await?;
        }
    }
    Ok(n)
}

/// Resubmits pending refunds (queued by a late payment, or whose first submission failed) and
/// queries processing ones.
pub async fn reconcile_refunds(s: &ShopState) -> AppResult<()> {
    reconcile_refunds_older_than(s, 5_000).await
}

/// [`reconcile_refunds`] for pending refunds created at least `age_ms` ago.
pub async fn reconcile_refunds_older_than(s: &ShopState, age_ms: i64) -> AppResult<()> {
    let Some(client) = s.pay.as_deref() else {
        return Ok(());
    };
    let db = &s.core.db;
    let now = now_ms();
    for r in store::refunds_in(
        db.reader(),
        db.dialect,
        RefundStatus::Pending,
        now - age_ms,
        100,
    )
    .await?
    {
        if let Err(e) = service::submit_refund(s, &r.out_refund_no).await {
            tracing::warn!(out_refund_no = %r.out_refund_no, error = %e, "refund submission failed");
        }
    }
    for r in store::refunds_in(
        db.reader(),
        db.dialect,
        RefundStatus::Processing,
        now - 30_000,
        100,
    )
    .await?
    {
        match client.query_refund(&r.out_refund_no).await {
            Ok(answer) => service::apply_refund(s, &answer).await?,
            Err(e) => {
                tracing::warn!(out_refund_no = %r.out_refund_no, error = %e, "refund query failed")
            }
        }
    }
    Ok(())
}

/// One pass of every job.
pub async fn run_once(s: &ShopState) {
    if let Err(e) = cancel_expired(s).await {
        tracing::warn!(error = %e, "cancel_expired failed");
    }
    if let Err(e) = reconcile_payments(s).await {
        tracing::warn!(error = %e, "reconcile_payments failed");
    }
    if let Err(e) = reconcile_refunds(s).await {
        tracing::warn!(error = %e, "reconcile_refunds failed");
    }
}

/// Runs [`run_once`] every `interval` until `shutdown` resolves.
pub async fn run(
    s: ShopState,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        run_once(&s).await;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
