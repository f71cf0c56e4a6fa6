//! Finance figures over all operators (contract `getFinanceDashboard`, `getFinanceTrends`,
//! `getTopCustomers`, `getCustomerFinanceDetails`, `getFinanceAuditLogs`): sums of the
//! transaction history and usage records, grouped in SQL.

use sqlx::Row;
use suanpan_core::db::{Arg, Db, opt_text, text};
use suanpan_core::{AppError, sql};

/// Money moved in a window (fen): recharges in, consumption, refunds out (net of reversals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    /// Recharged.
    pub recharge: i64,
    /// Consumed.
    pub consumption: i64,
    /// Refunded (refunds minus refund reversals).
    pub refund: i64,
}

impl Flows {
    /// Net income: recharges minus refunds (contract: 净收入（充值 - 退款）).
    pub fn net(&self) -> i64 {
        self.recharge - self.refund
    }

    fn add(&mut self, kind: &str, fen: i64) {
        match kind {
            "recharge" => self.recharge += fen,
            "consumption" => self.consumption += fen,
            "refund" => self.refund += fen,
            "refund_reversal" => self.refund -= fen,
            _ => {}
        }
    }
}

/// Per Asia/Shanghai day (days since 1970-01-01 at UTC+8) in `[from, to)` (ms), the flows.
pub async fn daily_flows(db: &Db, from: i64, to: i64) -> Result<Vec<(i64, Flows)>, AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}) AS day, kind, CAST(SUM(amount_fen) AS {{INT}}) FROM mr_transactions WHERE created_at >= ? AND created_at < ? GROUP BY CAST((created_at + 28800000 - (created_at + 28800000) % 86400000) / 86400000 AS {{INT}}), kind ORDER BY day"))
        .bind(from)
        .bind(to)
        .fetch_all(db.reader())
        .await?;
    let mut out: Vec<(i64, Flows)> = Vec::new();
    for r in &rows {
        let (day, kind, fen): (i64, String, i64) = (r.try_get(0)?, text(r, 1)?, r.try_get(2)?);
        if out.last().is_none_or(|(d, _)| *d != day) {
            out.push((day, Flows::default()));
        }
        if let Some((_, f)) = out.last_mut() {
            f.add(&kind, fen);
        }
    }
    Ok(out)
}

/// `(operators, operators with a transaction in [from, to))`.
pub async fn operator_counts(db: &Db, from: i64, to: i64) -> Result<(i64, i64), AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(d, "SELECT CAST(COUNT(*) AS {{INT}}), CAST((SELECT COUNT(DISTINCT t.operator_id) FROM mr_transactions t WHERE t.created_at >= ? AND t.created_at < ?) AS {{INT}}) FROM mr_operators"))
        .bind(from)
        .bind(to)
        .fetch_one(db.reader())
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// A customer ranked by consumption.
#[derive(Clone, Debug)]
pub struct TopCustomer {
    /// Operator.
    pub operator_id: String,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Consumed in the window (fen).
    pub consumption: i64,
    /// Sessions in the window.
    pub sessions: i64,
}

/// The `limit` operators with most consumption in `[from, to)`, and all operators' total.
pub async fn top_customers(
    db: &Db,
    (from, to): (i64, i64),
    limit: i64,
) -> Result<(Vec<TopCustomer>, i64), AppError> {
    let d = db.dialect;
    let rows = sqlx::query(sql!(d, "SELECT u.operator_id, o.name, o.category, CAST(SUM(u.total_cost_fen) AS {{INT}}) AS spent, CAST(COUNT(*) AS {{INT}}) FROM mr_usage_records u JOIN mr_operators o ON o.operator_id = u.operator_id WHERE u.created_at >= ? AND u.created_at < ? GROUP BY u.operator_id, o.name, o.category ORDER BY spent DESC, u.operator_id LIMIT ?"))
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    let total: i64 = sqlx::query(sql!(d, "SELECT CAST(COALESCE(SUM(total_cost_fen), 0) AS {{INT}}) FROM mr_usage_records WHERE created_at >= ? AND created_at < ?"))
        .bind(from)
        .bind(to)
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(TopCustomer {
                operator_id: text(r, 0)?,
                name: text(r, 1)?,
                category: text(r, 2)?,
                consumption: r.try_get(3)?,
                sessions: r.try_get(4)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}

/// `(sessions, first transaction, last transaction)` of an operator (times in ms).
pub async fn activity(
    db: &Db,
    operator_id: &str,
) -> Result<(i64, Option<i64>, Option<i64>), AppError> {
    let d = db.dialect;
    let row = sqlx::query(sql!(d, "SELECT CAST((SELECT COUNT(*) FROM mr_usage_records u WHERE u.operator_id = ?) AS {{INT}}), MIN(created_at), MAX(created_at) FROM mr_transactions WHERE operator_id = ?"))
        .bind(operator_id)
        .bind(operator_id)
        .fetch_one(db.reader())
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// The finance actions of the audit log (contract `AuditLog.operation_type`).
pub const FINANCE_ACTIONS: &[&str] = &[
    "refund_approve",
    "refund_reject",
    "invoice_approve",
    "invoice_reject",
    "report_generate",
];

/// One finance audit row.
#[derive(Clone, Debug)]
pub struct AuditRow {
    /// Row id.
    pub id: i64,
    /// The account id.
    pub actor_id: String,
    /// Its username.
    pub actor_name: String,
    /// One of [`FINANCE_ACTIONS`].
    pub action: String,
    /// The refund, invoice or report id.
    pub entity_id: String,
    /// Client IP.
    pub ip: Option<String>,
    /// The recorded details (JSON text).
    pub after_json: Option<String>,
    /// When (ms).
    pub created_at: i64,
}

/// A page of finance audit rows, newest first, filtered by action (`None`: all finance
/// actions), actor id and window, with the total.
pub async fn audit_page(
    db: &Db,
    action: Option<&str>,
    actor_id: Option<&str>,
    (from, to): (i64, i64),
    (limit, offset): (i64, i64),
) -> Result<(Vec<AuditRow>, i64), AppError> {
    let all = FINANCE_ACTIONS
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = format!(
        "action IN ({all}) AND (? = '' OR action = ?) AND (? = '' OR actor_id = ?) AND created_at >= ? AND created_at < ?"
    );
    let (a, who) = (action.unwrap_or(""), actor_id.unwrap_or(""));
    let args: Vec<Arg> = vec![
        a.into(),
        a.into(),
        who.into(),
        who.into(),
        from.into(),
        to.into(),
    ];
    let select = "SELECT id, actor_id, actor_name, action, entity_id, ip, after_json, created_at FROM audit_log";
    let (rows, total) = super::page_rows(
        db,
        (select, "audit_log"),
        (&filter, "id DESC"),
        args,
        (limit, offset),
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.try_get(0)?,
                actor_id: text(r, 1)?,
                actor_name: text(r, 2)?,
                action: text(r, 3)?,
                entity_id: text(r, 4)?,
                ip: opt_text(r, 5)?,
                after_json: opt_text(r, 6)?,
                created_at: r.try_get(7)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}
