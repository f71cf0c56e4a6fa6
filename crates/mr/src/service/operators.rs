//! Operator accounts: registration (with the first API key, shown once), password login, and
//! manual credits (demo data and tests; recharges through the payment flow come next).

use suanpan_core::db::Batch;
use suanpan_core::error::{AppError, ErrorKind};
use suanpan_core::ledger::{self, Op};
use suanpan_core::{auth, time};

use crate::MrState;
use crate::domain::{self, CNY, Category, balance_account, revenue_account};
use crate::envelope::{code, invalid_field};
use crate::store::operators::{self, Operator};

/// A registration (contract `registerOperator`).
#[derive(Clone, Debug)]
pub struct Registration {
    /// `^[a-zA-Z0-9_]{3,20}$`.
    pub username: String,
    /// 8..32 with upper, lower and digit.
    pub password: String,
    /// 2..50 characters.
    pub name: String,
    /// `^1[3-9]\d{9}$`.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// `trial` at self-registration; an admin chooses.
    pub category: Category,
}

/// Creates an operator (of `r.category`) with a fresh API key and an empty balance account.
/// Returns the operator and the key in clear (shown once). Errors: `INVALID_PARAMS` with the
/// field, `USERNAME_EXISTS` (400).
pub async fn register(s: &MrState, r: Registration) -> Result<(Operator, String), AppError> {
    domain::check_registration(&r.username, &r.password, &r.name, &r.phone, &r.email)
        .map_err(|(f, e)| invalid_field(f, e))?;
    let exists = || AppError::invalid(code::USERNAME_EXISTS, "username already registered");
    if operators::by_username(&s.core.db, &r.username)
        .await?
        .is_some()
    {
        return Err(exists());
    }
    let hash = auth::hash_password(r.password.clone()).await?;
    let key = crate::apikey::new_api_key();
    let now = time::now_ms();
    let op = Operator {
        operator_id: format!(
            "op{}",
            suanpan_core::ids::random_alnum(10).to_ascii_lowercase()
        ),
        username: r.username,
        name: r.name,
        phone: r.phone,
        email: r.email,
        category: r.category.as_str().into(),
        api_key_sealed: s.seal.seal(&key),
        api_key_generated_at: now,
        require_signature_v2: false,
        is_deactivated: false,
        locked_at: None,
        created_at: now,
        updated_at: now,
    };
    let index = s.seal.index(&key);
    let d = s.core.db.dialect;
    let cx = (&op, hash.as_str(), index.as_str());
    let created = s
        .core
        .db
        .transaction(&cx, move |tx, &(op, hash, index)| {
            Box::pin(async move {
                let mut b = Batch::new();
                operators::push_insert(&mut b, d, op, hash, index);
                let accounts = [
                    (balance_account(&op.operator_id), true),
                    (revenue_account(&op.operator_id), false),
                ];
                for (account, non_negative) in accounts {
                    let open = Op::Open {
                        account,
                        unit: CNY.into(),
                        non_negative,
                    };
                    ledger::push(&mut b, d, &open, op.created_at)?;
                }
                if b.execute(tx, d).await?.failed_guard == Some(0) {
                    return Err(suanpan_core::db::rollback());
                }
                Ok(())
            })
        })
        .await;
    match created {
        Ok(()) => Ok((op, key)),
        Err(e) if suanpan_core::db::is_rollback(&e) => Err(exists()),
        Err(e) => Err(e),
    }
}

/// Checks a password login; the operator on success. Errors: `UNAUTHORIZED` (401) for a wrong
/// username or password (same answer either way), `ACCOUNT_DEACTIVATED` (403).
pub async fn login(s: &MrState, username: &str, password: &str) -> Result<Operator, AppError> {
    let bad = || {
        AppError::new(
            ErrorKind::Unauthenticated,
            code::UNAUTHORIZED,
            "wrong username or password",
        )
    };
    let found = operators::by_username(&s.core.db, username).await?;
    let Some((op, hash)) = found else {
        let _ = auth::verify_password(password.to_string(), String::new()).await;
        return Err(bad());
    };
    if !auth::verify_password(password.to_string(), hash).await {
        return Err(bad());
    }
    if op.is_deactivated {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            code::ACCOUNT_DEACTIVATED,
            "account deactivated",
        ));
    }
    Ok(op)
}

/// Credits `amount_fen` to the operator's balance from the clearing account of `method`
/// (`manual` for demo data and tests), as one recharge transaction; `id` makes it idempotent.
/// Returns the balance after.
pub async fn credit(
    s: &MrState,
    operator_id: &str,
    amount_fen: i64,
    method: &str,
    id: &str,
) -> Result<i64, AppError> {
    let d = s.core.db.dialect;
    let cx = (operator_id, amount_fen, method, id);
    s.core
        .db
        .transaction(&cx, move |tx, &(operator_id, amount, method, id)| {
            Box::pin(crate::service::recharge::credit_in(
                tx,
                d,
                operator_id,
                amount,
                method,
                id,
            ))
        })
        .await
}

/// Replaces the operator's API key (the old one stops working at once) and audits it as
/// `actor` with `action` (`api_key.regenerate` by the operator, `api_key.reset` by an admin), in
/// one transaction. Returns the new key and when it was made (ms). Errors: `OPERATOR_NOT_FOUND`.
pub async fn new_key(
    s: &MrState,
    operator_id: &str,
    actor: &suanpan_core::audit::Actor,
    action: &str,
) -> Result<(String, i64), AppError> {
    let key = crate::apikey::new_api_key();
    let (index, sealed, now) = (s.seal.index(&key), s.seal.seal(&key), time::now_ms());
    let d = s.core.db.dialect;
    let cx = (operator_id, index.as_str(), sealed.as_str(), actor, action);
    s.core
        .db
        .transaction(
            &cx,
            move |tx, &(operator_id, index, sealed, actor, action)| {
                Box::pin(async move {
                    let mut b = Batch::new();
                    operators::push_new_key(&mut b, d, operator_id, index, sealed, now);
                    suanpan_core::audit::push_record(
                        &mut b,
                        d,
                        &suanpan_core::audit::Entry::new(actor, action, "mr_operator", operator_id),
                    );
                    if b.execute(tx, d).await?.failed_guard.is_some() {
                        return Err(AppError::not_found(
                            code::OPERATOR_NOT_FOUND,
                            "no such operator",
                        ));
                    }
                    Ok(())
                })
            },
        )
        .await?;
    Ok((key, now))
}

/// An operator as an audit actor.
pub fn actor(op: &Operator) -> suanpan_core::audit::Actor {
    suanpan_core::audit::Actor {
        kind: "mr_operator",
        id: op.operator_id.clone(),
        name: op.username.clone(),
        ip: None,
    }
}

/// Deactivates an operator (contract `deactivateOperator`): logical delete, data kept; its
/// remaining balance moves to the ledger account `mr:forfeited:{id}` (the contract sets the
/// balance to zero and advises a refund first); its tokens and API key stop working at once
/// (every request checks the flag). Audited, one transaction. Errors: `UNAUTHORIZED` (401) for a
/// wrong password.
pub async fn deactivate(
    s: &MrState,
    op: &Operator,
    password: &str,
    reason: Option<&str>,
) -> Result<(), AppError> {
    login(s, &op.username, password).await?;
    let d = s.core.db.dialect;
    let actor = actor(op);
    let detail = serde_json::json!({"reason": reason});
    let cx = (op, &actor, &detail);
    s.core
        .db
        .transaction(&cx, move |tx, &(op, actor, detail)| {
            Box::pin(async move {
                let now = time::now_ms();
                let account = balance_account(&op.operator_id);
                let left = ledger::account(tx, d, &account).await?.available();
                let forfeited = format!("mr:forfeited:{}", op.operator_id);
                ledger::execute(
                    tx,
                    d,
                    &Op::Open {
                        account: forfeited.clone(),
                        unit: CNY.into(),
                        non_negative: false,
                    },
                    now,
                )
                .await?;
                if left > 0 {
                    let t = Op::Transfer {
                        id: format!("mr:deactivate:{}", op.operator_id),
                        debit: account,
                        credit: forfeited,
                        unit: CNY.into(),
                        amount: left,
                        reference: op.operator_id.clone(),
                    };
                    ledger::execute(tx, d, &t, now).await?;
                }
                let mut b = Batch::new();
                let g = operators::push_deactivate(&mut b, d, &op.operator_id, now);
                let entry = suanpan_core::audit::Entry::new(
                    actor,
                    "mr_operator.deactivate",
                    "mr_operator",
                    &op.operator_id,
                )
                .after(detail);
                suanpan_core::audit::push_record(&mut b, d, &entry);
                if b.execute(tx, d).await?.failed_guard == Some(g) {
                    return Err(AppError::new(
                        ErrorKind::Unauthenticated,
                        code::UNAUTHORIZED,
                        "the account is not active",
                    ));
                }
                Ok(())
            })
        })
        .await
}
