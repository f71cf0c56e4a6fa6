//! FR-056's lock (the detection is [`crate::abuse`]): the operators behind the valid keys the
//! offending address used are locked in one transaction, each with an audit row (actor
//! `system:mr-abuse-guard`, action `mr_operator.lock`) and a message to the operator; the alert
//! goes to the log at error level (`mr_abuse_locks_total` counts locks). The core has no mail
//! facility yet, so there is no alert e-mail. Only an admin unlocks
//! (`POST /admin/operators/{id}/unlock`).

use suanpan_core::audit::{self, Actor, Entry};
use suanpan_core::db::Batch;
use suanpan_core::error::AppError;
use suanpan_core::time;

use crate::MrState;
use crate::abuse::Trigger;
use crate::store::{messages, operators};

/// Locks the operators of `t` found from `ip`; returns their ids. Errors are logged by the
/// caller: the request that tripped the rule is answered either way.
pub async fn lock(s: &MrState, ip: &str, t: &Trigger) -> Result<Vec<String>, AppError> {
    let d = s.core.db.dialect;
    let actor = Actor::system("mr-abuse-guard");
    let reason = t.rule.reason();
    let cx = (&actor, ip, t, reason);
    let locked = s
        .core
        .db
        .transaction(&cx, move |tx, &(actor, ip, t, reason)| {
            Box::pin(async move {
                let now = time::now_ms();
                let ids = operators::lock_by_keys(tx, d, &t.key_indexes, reason, now).await?;
                let detail = serde_json::json!({"ip": ip, "reason": reason});
                let mut b = Batch::new();
                for id in &ids {
                    let e = Entry::new(actor, "mr_operator.lock", "mr_operator", id).after(&detail);
                    audit::push_record(&mut b, d, &e);
                }
                let text = format!("因来自 {ip} 的异常调用（{reason}），账户已被自动锁定，游戏授权暂停。请联系管理员核实后解锁。");
                messages::push_send(&mut b, d, &ids, "system", "账户已锁定", &text, now);
                if !b.is_empty() {
                    b.execute(tx, d).await?;
                }
                Ok(ids)
            })
        })
        .await?;
    if !locked.is_empty() {
        metrics::counter!("mr_abuse_locks_total").increment(locked.len() as u64);
        tracing::error!(ip, operators = ?locked, reason, "ALERT: operators locked after abnormal use from one address (FR-056)");
    }
    Ok(locked)
}
