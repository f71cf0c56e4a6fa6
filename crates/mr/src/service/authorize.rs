//! Game authorization (contract `authorizeGame`, FR-009…FR-017, issue #6): one charge per
//! session, written through the core's group-commit writer.
//!
//! The handler checks the request (key, signature, timestamp, session id, body), replays a
//! completed session, and reads the app, the operator's authorization and the site; the
//! [`Charge`] unit then, inside the writer's transaction, reads the operator's balance (carried
//! from unit to unit within a group by the writer's memo), refuses a charge it does not cover
//! (402, nothing written), and otherwise claims the session id together with its answer, moves
//! the cost from the operator's balance to its revenue account in the ledger, and writes the
//! usage record, the daily rollup and the consumption transaction.

use serde_json::json;
use suanpan_core::db::Batch;
use suanpan_core::error::AppError;
use suanpan_core::idempotency::Key;
use suanpan_core::ledger::{self, Op};
use suanpan_core::writer::{Step, Unit, UnitCtx};

use crate::domain::{CNY, balance_account, crosses_below, revenue_account, yuan};
use crate::store::messages;
use crate::store::usage::{self, Usage};

/// One authorization to charge. Everything it writes derives from these fields (the writer may
/// run it twice).
#[derive(Clone, Debug)]
pub struct Charge {
    /// The session's idempotency key (scope `mr_authorize`, key = the session id).
    pub key: Key,
    /// Operator.
    pub operator_id: String,
    /// Site.
    pub site_id: String,
    /// App.
    pub app_id: String,
    /// App name (answer).
    pub app_name: String,
    /// Players.
    pub player_count: i64,
    /// Price per player (fen), read before the charge.
    pub unit_price_fen: i64,
    /// players × price (fen).
    pub cost_fen: i64,
    /// The authorization token to hand out (UUID v4).
    pub token: String,
    /// When (ms).
    pub now_ms: i64,
    /// Below this balance (fen) the operator is reminded to recharge.
    pub low_balance_fen: i64,
    /// The client address (FR-057's audit).
    pub client_ip: Option<String>,
}

/// How a charge ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charged {
    /// Charged: the answer body (`{"success":true,"data":{…}}`), stored for replays.
    Done(String),
    /// The balance (fen) does not cover the cost: nothing written.
    Insufficient(i64),
    /// The session id was claimed by another request first: replay its answer.
    Taken,
}

impl Charge {
    fn usage(&self, usage_id: String) -> Usage {
        Usage {
            usage_id,
            session_id: self.key.key.clone(),
            operator_id: self.operator_id.clone(),
            site_id: self.site_id.clone(),
            app_id: self.app_id.clone(),
            player_count: self.player_count,
            unit_price_fen: self.unit_price_fen,
            total_cost_fen: self.cost_fen,
            authorization_token: self.token.clone(),
            created_at: self.now_ms,
            client_ip: self.client_ip.clone(),
        }
    }

    /// The contract's 200 body.
    pub fn answer(&self, balance_after: i64) -> String {
        json!({
            "success": true,
            "data": {
                "authorization_token": self.token,
                "session_id": self.key.key,
                "app_name": self.app_name,
                "player_count": self.player_count,
                "unit_price": yuan(self.unit_price_fen),
                "total_cost": yuan(self.cost_fen),
                "balance_after": yuan(balance_after),
                "authorized_at": crate::http::rfc3339_ms(self.now_ms),
            }
        })
        .to_string()
    }
}

impl Unit for Charge {
    type Output = Charged;

    async fn write(&self, ctx: &mut UnitCtx<'_>) -> Result<Step<Charged>, AppError> {
        let d = ctx.dialect;
        let account = balance_account(&self.operator_id);
        let carried = ctx.memo().and_then(|m| m.get(&account).copied());
        let before = match carried {
            Some(v) => v,
            None => ctx
                .read_i64(usage::balance_for_update(d), vec![account.clone().into()])
                .await?
                .unwrap_or(0),
        };
        if before < self.cost_fen {
            return Ok(Step::Rollback(Charged::Insufficient(before)));
        }
        let after = before - self.cost_fen;
        let id = ctx.next_id("mr_usage_records").await?;
        let body = self.answer(after);
        let mut b = Batch::new();
        let claim = self.key.push_claim_answered(&mut b, d, 200, &body);
        let transfer = Op::Transfer {
            // Keyed by the usage record's id, which grows (the session id is random): each
            // group's transfers append to one index page instead of dirtying one page apiece.
            // The session is charged once by its claim above.
            id: format!("mr:usage:{id}"),
            debit: account.clone(),
            credit: revenue_account(&self.operator_id),
            unit: CNY.to_string(),
            amount: self.cost_fen,
            reference: format!("usage{id}"),
        };
        ledger::push(&mut b, d, &transfer, self.now_ms)?;
        usage::push_charge(&mut b, d, id, &self.usage(format!("usage{id}")), after);
        if crosses_below(before, after, self.low_balance_fen) {
            let text = format!(
                "账户余额已降至 {} 元，低于提醒线 {} 元，请及时充值以免影响游戏授权。",
                yuan(after),
                yuan(self.low_balance_fen)
            );
            let to = [self.operator_id.clone()];
            messages::push_send(
                &mut b,
                d,
                &to,
                "balance_low",
                "余额不足提醒",
                &text,
                self.now_ms,
            );
        }
        let r = ctx.execute(b).await?;
        match r.failed_guard {
            Some(g) if g == claim => return Ok(Step::Rollback(Charged::Taken)),
            Some(_) => return Ok(Step::Rollback(Charged::Insufficient(before))),
            None => {}
        }
        if let Some(m) = ctx.memo() {
            m.insert(account, after);
        }
        Ok(Step::Commit(Charged::Done(body)))
    }
}
