//! The shop's background job, run by `suanpan serve` every `jobs_interval_secs`:
//! [`cancel_expired`] cancels unpaid orders past `expires_at` (stock released); an order with
//! an open trade is first asked about at its provider, and if it was paid the payment is
//! applied instead. Payments and refunds of every system are reconciled by the payment flow's
//! job ([`suanpan_payments::Payments::reconcile`]), which the binary runs beside this one.

use suanpan_core::AppResult;
use suanpan_core::audit::Actor;
use suanpan_core::time::now_ms;

use crate::ShopState;
use crate::auth::SYSTEM;
use crate::service;
use crate::store;

/// Cancels due unpaid orders; returns how many were cancelled.
pub async fn cancel_expired(s: &ShopState) -> AppResult<usize> {
    let db = &s.core.db;
    let actor = Actor::system("order-timeout");
    let mut n = 0;
    for (id, _) in store::expired_orders(db.reader(), db.dialect, now_ms(), 200).await? {
        if s.payments.settle_if_paid(SYSTEM, id).await?.is_some() {
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

/// One pass of the shop's job.
pub async fn run_once(s: &ShopState) {
    if let Err(e) = cancel_expired(s).await {
        tracing::warn!(error = %e, "cancel_expired failed");
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
