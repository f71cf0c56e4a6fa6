//! Refunds of the remaining balance (contract `requestRefund`, `approveRefund`,
//! `rejectRefund`; FR: 仅退还当前账户余额, 审核通过时重新计算可退余额).
//!
//! An operator asks (one pending request at a time; the balance then is `requested_amount`).
//! Finance approves: in one transaction the balance *at approval* moves from the operator's
//! account to `mr:refunds:{id}` (so consumption during review is never refunded), the
//! movement is recorded in the transaction history, provider refunds are opened on the
//! operator's paid recharges, newest first, each up to what it can still take back
//! ([`crate::domain::split_refund`]; the rest is paid by hand, `offline_fen`), and the action is
//! audited. After the commit the provider refunds are submitted (the payment flow's
//! reconciliation resubmits any that could not be). A provider's final "no" to a part moves
//! that part back to the balance ([`part_settled`]).

use suanpan_core::audit::{self, Actor, Entry};
use suanpan_core::db::{Batch, Dialect, Tx};
use suanpan_core::error::AppError;
use suanpan_core::ledger::{self, Op};
use suanpan_core::time;
use suanpan_payments::Payments;
use suanpan_payments::flow::store::{TradeKey, trade_by};
use suanpan_payments::flow::{Refund, RefundOutcome, refundable};

use crate::MrState;
use crate::domain::{self, CNY, balance_account, refunds_account};
use crate::envelope::{code, invalid_field};
use crate::service::dated_id;
use crate::store::refunds::{self, Approval, RefundRow};
use crate::store::{operators, recharges, usage};

fn already_reviewed() -> AppError {
    AppError::invalid(
        code::INVALID_PARAMS,
        "该申请已处理，无法重复操作 (already reviewed)",
    )
}

fn not_found() -> AppError {
    AppError::not_found(code::REFUND_NOT_FOUND, "no such refund request")
}

/// An operator asks for the remaining balance back. Errors: `INVALID_PARAMS` for a reason
/// outside 10..500 characters, a zero balance (当前余额为0，无法申请退款), or a request already
/// pending.
pub async fn request(s: &MrState, operator_id: &str, reason: &str) -> Result<RefundRow, AppError> {
    if !domain::length_within(reason, 10, 500) {
        return Err(invalid_field("reason", "10 to 500 characters"));
    }
    let db = &s.core.db;
    let (balance, ..) = operators::balance(db, operator_id).await?;
    if balance <= 0 {
        return Err(AppError::invalid(
            code::INVALID_PARAMS,
            "当前余额为0，无法申请退款 (the balance is zero)",
        ));
    }
    let now = time::now_ms();
    let id = dated_id("refund", now);
    if !refunds::insert(db, &id, operator_id, balance, reason.trim(), now).await? {
        return Err(AppError::invalid(
            code::INVALID_PARAMS,
            "a refund request is already pending review",
        ));
    }
    refunds::one(db, &id).await?.ok_or_else(not_found)
}

/// What an approval did: `(requested, actual, balance after)` in fen.
pub type Approved = (i64, i64, i64);

/// Finance approves a pending request (see the module text). Errors: `REFUND_NOT_FOUND` (404),
/// `INVALID_PARAMS` (400) when it was reviewed before or the balance is zero now, `note` over 200
/// characters.
pub async fn approve(
    s: &MrState,
    actor: &Actor,
    refund_id: &str,
    note: Option<&str>,
) -> Result<Approved, AppError> {
    if note.is_some_and(|n| n.chars().count() > 200) {
        return Err(invalid_field("note", "at most 200 characters"));
    }
    let d = s.core.db.dialect;
    let cx = (actor, refund_id, note);
    let (approved, parts) = s
        .core
        .db
        .transaction(&cx, move |tx, &(actor, refund_id, note)| {
            Box::pin(approve_in(tx, d, actor, refund_id, note))
        })
        .await?;
    submit(&s.payments, &parts).await;
    Ok(approved)
}

async fn submit(payments: &Payments, out_refund_nos: &[String]) {
    for no in out_refund_nos {
        if let Err(e) = payments.submit_refund(no).await {
            tracing::warn!(out_refund_no = %no, error = %e, "refund not submitted; reconciliation retries");
        }
    }
}

/// The transaction of [`approve`]: returns what it did and the provider refunds to submit.
async fn approve_in(
    tx: &mut Tx,
    d: Dialect,
    actor: &Actor,
    refund_id: &str,
    note: Option<&str>,
) -> Result<(Approved, Vec<String>), AppError> {
    let (operator_id, status, requested) = refunds::lock(tx, d, refund_id)
        .await?
        .ok_or_else(not_found)?;
    if status != "pending" {
        return Err(already_reviewed());
    }
    let now = time::now_ms();
    let balance = ledger::account(tx, d, &balance_account(&operator_id))
        .await?
        .available();
    if balance <= 0 {
        return Err(AppError::invalid(
            code::INVALID_PARAMS,
            "无可退余额 (nothing left to refund)",
        ));
    }
    move_out(tx, d, &operator_id, refund_id, balance, now).await?;
    let (parts, offline) = split(tx, d, &operator_id, balance).await?;
    let mut out_refund_nos = Vec::with_capacity(parts.len());
    for (recharge, amount) in &parts {
        let by = format!("finance:{}", actor.name);
        let r = Payments::open_refund(
            tx,
            d,
            crate::SYSTEM,
            *recharge,
            Some(*amount),
            "MR余额退款",
            refund_id,
            &by,
        )
        .await?;
        out_refund_nos.push(r.out_refund_no);
    }
    let approval = Approval {
        actual_fen: balance,
        offline_fen: offline,
        payout_status: if parts.is_empty() {
            "succeeded"
        } else {
            "processing"
        },
        note,
    };
    record_review(tx, d, actor, (refund_id, &operator_id), &approval, now).await?;
    Ok(((requested, balance, 0), out_refund_nos))
}

/// Moves `amount` from the balance to the refunds account and records it in the history.
async fn move_out(
    tx: &mut Tx,
    d: Dialect,
    operator_id: &str,
    refund_id: &str,
    amount: i64,
    now: i64,
) -> Result<(), AppError> {
    let to = refunds_account(operator_id);
    let open = Op::Open {
        account: to.clone(),
        unit: CNY.into(),
        non_negative: false,
    };
    ledger::execute(tx, d, &open, now).await?;
    let t = Op::Transfer {
        id: format!("mr:refund:{refund_id}"),
        debit: balance_account(operator_id),
        credit: to,
        unit: CNY.into(),
        amount,
        reference: refund_id.to_string(),
    };
    ledger::execute(tx, d, &t, now)
        .await
        .map_err(|e| e.into_app(code::INVALID_PARAMS))?;
    let t = usage::movement(format!("txn{refund_id}"), "refund", amount, 0, now);
    usage::insert_transaction(tx, d, operator_id, &t).await
}

/// The provider refunds of `amount`: the operator's paid recharges, newest first, with what
/// each can still take back.
async fn split(
    tx: &mut Tx,
    d: Dialect,
    operator_id: &str,
    amount: i64,
) -> Result<(Vec<(i64, i64)>, i64), AppError> {
    let mut rests = Vec::new();
    for id in recharges::paid_of(tx, d, operator_id).await? {
        if let Some(trade) = trade_by(&mut **tx, d, TradeKey::Owner(crate::SYSTEM, id)).await? {
            rests.push((id, refundable(tx, d, &trade).await?));
        }
    }
    Ok(domain::split_refund(amount, &rests))
}

/// Marks the request approved and audits it.
async fn record_review(
    tx: &mut Tx,
    d: Dialect,
    actor: &Actor,
    (refund_id, operator_id): (&str, &str),
    a: &Approval<'_>,
    now: i64,
) -> Result<(), AppError> {
    let detail = serde_json::json!({
        "operator_id": operator_id,
        "refund_amount": domain::yuan(a.actual_fen),
        "offline_amount": domain::yuan(a.offline_fen),
        "note": a.note,
    });
    let mut b = Batch::new();
    let g = refunds::push_approve(&mut b, d, refund_id, a, &actor.id, now);
    audit::push_record(
        &mut b,
        d,
        &Entry::new(actor, "refund_approve", "mr_refund", refund_id).after(&detail),
    );
    match b.execute(tx, d).await?.failed_guard {
        Some(x) if x == g => Err(already_reviewed()),
        _ => Ok(()),
    }
}

/// Finance rejects a pending request with a reason (10..200 characters). Errors:
/// `INVALID_PARAMS` (400) for the reason or a request reviewed before, `REFUND_NOT_FOUND`.
pub async fn reject(
    s: &MrState,
    actor: &Actor,
    refund_id: &str,
    reason: &str,
) -> Result<(), AppError> {
    if !domain::length_within(reason, 10, 200) {
        return Err(invalid_field("reason", "10 to 200 characters"));
    }
    let db = &s.core.db;
    if refunds::one(db, refund_id).await?.is_none() {
        return Err(not_found());
    }
    let d = db.dialect;
    let detail = serde_json::json!({"reason": reason.trim()});
    let cx = (actor, refund_id, reason.trim(), &detail);
    db.transaction(&cx, move |tx, &(actor, refund_id, reason, detail)| {
        Box::pin(async move {
            let mut b = Batch::new();
            let g = refunds::push_reject(&mut b, d, refund_id, reason, &actor.id, time::now_ms());
            audit::push_record(
                &mut b,
                d,
                &Entry::new(actor, "refund_reject", "mr_refund", refund_id).after(detail),
            );
            match b.execute(tx, d).await?.failed_guard {
                Some(x) if x == g => Err(already_reviewed()),
                _ => Ok(()),
            }
        })
    })
    .await
}

/// The payment flow's hook when a provider refund of MR became final (inside the flow's
/// transaction): a refused part moves back to the operator's balance (ledger transfer
/// `mr:refund-back:{out_refund_no}`, history `refund_reversal`); the request's payout status
/// follows its parts.
pub async fn part_settled(
    tx: &mut Tx,
    d: Dialect,
    refund: &Refund,
    outcome: &RefundOutcome,
) -> Result<(), AppError> {
    let refund_id = refund.owner_note.as_str();
    if let RefundOutcome::Failed(why) = outcome {
        let Some((operator_id, ..)) = refunds::lock(tx, d, refund_id).await? else {
            return Err(AppError::internal(format!("no MR refund {refund_id}")));
        };
        tracing::warn!(refund_id, out_refund_no = %refund.out_refund_no, %why, "provider refused a refund part; back to the balance");
        let now = time::now_ms();
        let t = Op::Transfer {
            id: format!("mr:refund-back:{}", refund.out_refund_no),
            debit: refunds_account(&operator_id),
            credit: balance_account(&operator_id),
            unit: CNY.into(),
            amount: refund.amount_fen,
            reference: refund.out_refund_no.clone(),
        };
        ledger::execute(tx, d, &t, now).await?;
        let after = ledger::account(tx, d, &balance_account(&operator_id))
            .await?
            .available();
        let txn = format!("txn{}", refund.out_refund_no);
        let t = usage::movement(txn, "refund_reversal", refund.amount_fen, after, now);
        usage::insert_transaction(tx, d, &operator_id, &t).await?;
    }
    refunds::update_payout(tx, d, refund_id).await
}
