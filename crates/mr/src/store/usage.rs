//! Usage records (one per charged authorization) and the operator's transaction history.

use sqlx::Row;
use suanpan_core::db::{Batch, Db, Dialect, text};
use suanpan_core::{AppError, sql};

/// A charged authorization.
#[derive(Clone, Debug)]
pub struct Usage {
    /// Public id (`usage{n}`).
    pub usage_id: String,
    /// The `X-Session-ID`.
    pub session_id: String,
    /// Operator.
    pub operator_id: String,
    /// Site.
    pub site_id: String,
    /// App.
    pub app_id: String,
    /// Players.
    pub player_count: i64,
    /// Price per player at the time (fen).
    pub unit_price_fen: i64,
    /// Charged (fen).
    pub total_cost_fen: i64,
    /// The authorization token (UUID).
    pub authorization_token: String,
    /// When (ms).
    pub created_at: i64,
    /// The client address of the request (FR-057).
    pub client_ip: Option<String>,
}

/// Adds the usage record (writer-assigned `id`), its day's rollup (`mr_usage_daily`) and its
/// consumption transaction to `b`.
pub fn push_charge(b: &mut Batch, d: Dialect, id: i64, u: &Usage, balance_after: i64) {
    b.push(
        sql!(d, "INSERT INTO mr_usage_records (id, usage_id, session_id, operator_id, site_id, app_id, player_count, unit_price_fen, total_cost_fen, authorization_token, created_at, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        vec![
            id.into(),
            u.usage_id.clone().into(),
            u.session_id.clone().into(),
            u.operator_id.clone().into(),
            u.site_id.clone().into(),
            u.app_id.clone().into(),
            u.player_count.into(),
            u.unit_price_fen.into(),
            u.total_cost_fen.into(),
            u.authorization_token.clone().into(),
            u.created_at.into(),
            u.client_ip.clone().into(),
        ],
    );
    let upsert = match d {
        Dialect::MySql => sql!(
            d,
            "INSERT INTO mr_usage_daily (operator_id, day, site_id, app_id, sessions, players, cost_fen) VALUES (?, ?, ?, ?, 1, ?, ?) ON DUPLICATE KEY UPDATE sessions = sessions + 1, players = players + VALUES(players), cost_fen = cost_fen + VALUES(cost_fen)"
        ),
        _ => sql!(
            d,
            "INSERT INTO mr_usage_daily (operator_id, day, site_id, app_id, sessions, players, cost_fen) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (operator_id, day, site_id, app_id) DO UPDATE SET sessions = mr_usage_daily.sessions + 1, players = mr_usage_daily.players + excluded.players, cost_fen = mr_usage_daily.cost_fen + excluded.cost_fen"
        ),
    };
    b.push(
        upsert,
        vec![
            u.operator_id.clone().into(),
            crate::domain::day_of_ms(u.created_at).into(),
            u.site_id.clone().into(),
            u.app_id.clone().into(),
            u.player_count.into(),
            u.total_cost_fen.into(),
        ],
    );
    b.push(
        sql!(d, "INSERT INTO mr_transactions (transaction_id, operator_id, kind, amount_fen, balance_after_fen, related_usage_id, created_at) VALUES (?, ?, 'consumption', ?, ?, ?, ?)"),
        vec![
            format!("txn{}", u.usage_id).into(),
            u.operator_id.clone().into(),
            u.total_cost_fen.into(),
            balance_after.into(),
            u.usage_id.clone().into(),
            u.created_at.into(),
        ],
    );
}

/// The SQL that reads an operator's available balance inside the writer's transaction (row
/// locked on PostgreSQL and MySQL until the group commits).
pub fn balance_for_update(d: Dialect) -> &'static str {
    sql!(
        d,
        "SELECT balance - pending_out FROM ledger_accounts WHERE account = ?{{FOR_UPDATE}}"
    )
}

/// The operator's usage records, newest first: `(usage, site_name, app_name)`, one page.
pub async fn page_of(
    db: &Db,
    operator_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(Usage, String, String)>, i64), AppError> {
    let d = db.dialect;
    let q = d.prepare(&format!(
        "{NAMED_USAGE} WHERE u.operator_id = ? ORDER BY u.id DESC LIMIT ? OFFSET ?"
    ));
    let rows = sqlx::query(&q)
        .bind(operator_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    let total: i64 = sqlx::query(sql!(
        d,
        "SELECT COUNT(*) FROM mr_usage_records WHERE operator_id = ?"
    ))
    .bind(operator_id)
    .fetch_one(db.reader())
    .await?
    .try_get(0)?;
    let items = rows
        .iter()
        .map(named_usage)
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}

const NAMED_USAGE: &str = "SELECT u.usage_id, u.session_id, u.operator_id, u.site_id, u.app_id, u.player_count, u.unit_price_fen, u.total_cost_fen, u.authorization_token, u.created_at, s.name, a.app_name FROM mr_usage_records u JOIN mr_sites s ON s.site_id = u.site_id JOIN mr_applications a ON a.app_id = u.app_id";

/// A usage record with its site's and app's names.
fn named_usage(r: &sqlx::any::AnyRow) -> Result<(Usage, String, String), sqlx::Error> {
    Ok((
        Usage {
            usage_id: text(r, 0)?,
            session_id: text(r, 1)?,
            operator_id: text(r, 2)?,
            site_id: text(r, 3)?,
            app_id: text(r, 4)?,
            player_count: r.try_get(5)?,
            unit_price_fen: r.try_get(6)?,
            total_cost_fen: r.try_get(7)?,
            authorization_token: text(r, 8)?,
            created_at: r.try_get(9)?,
            client_ip: None,
        },
        text(r, 10)?,
        text(r, 11)?,
    ))
}

/// The operator's usage records in `[from, to)` (ms), oldest first, at most `limit`
/// (exports, FR-039).
pub async fn in_window(
    db: &Db,
    operator_id: &str,
    (from, to): (i64, i64),
    limit: i64,
) -> Result<Vec<(Usage, String, String)>, AppError> {
    let q = db.dialect.prepare(&format!(
        "{NAMED_USAGE} WHERE u.operator_id = ? AND u.created_at >= ? AND u.created_at < ? ORDER BY u.id LIMIT ?"
    ));
    let rows = sqlx::query(&q)
        .bind(operator_id)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    Ok(rows.iter().map(named_usage).collect::<Result<_, _>>()?)
}

/// Records a balance movement in the operator's history, inside the transaction that makes it
/// (a recharge's credit, a refund's debit or its reversal; consumption is written by the
/// charge's batch, [`push_charge`]).
pub async fn insert_transaction(
    tx: &mut suanpan_core::db::Tx,
    d: Dialect,
    operator_id: &str,
    t: &Transaction,
) -> Result<(), AppError> {
    sqlx::query(sql!(d, "INSERT INTO mr_transactions (transaction_id, operator_id, kind, amount_fen, balance_after_fen, related_usage_id, payment_method, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
        .bind(t.transaction_id.clone())
        .bind(operator_id)
        .bind(t.kind.clone())
        .bind(t.amount_fen)
        .bind(t.balance_after_fen)
        .bind(t.related_usage_id.clone())
        .bind(t.payment_method.clone())
        .bind(t.created_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A movement of `kind` (no usage record, no payment method) for [`insert_transaction`].
pub fn movement(
    transaction_id: String,
    kind: &str,
    amount_fen: i64,
    balance_after_fen: i64,
    created_at: i64,
) -> Transaction {
    Transaction {
        transaction_id,
        kind: kind.to_string(),
        amount_fen,
        balance_after_fen,
        related_usage_id: None,
        payment_method: None,
        created_at,
    }
}

/// One row of an operator's transaction history.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// Public id.
    pub transaction_id: String,
    /// `recharge`, `consumption`, `refund` or `refund_reversal`.
    pub kind: String,
    /// Amount (fen, positive).
    pub amount_fen: i64,
    /// Balance after it (fen).
    pub balance_after_fen: i64,
    /// The usage record of a consumption.
    pub related_usage_id: Option<String>,
    /// The payment method of a recharge.
    pub payment_method: Option<String>,
    /// When (ms).
    pub created_at: i64,
}

/// A page of the operator's transactions in `[from, to)` (ms), newest first, of `kind` (`None`:
/// the contract's kinds, recharge and consumption; `refund` and `refund_reversal` only when
/// named), with the total count.
pub async fn transactions(
    db: &Db,
    operator_id: &str,
    kind: Option<&str>,
    (from, to): (i64, i64),
    (limit, offset): (i64, i64),
) -> Result<(Vec<Transaction>, i64), AppError> {
    let d = db.dialect;
    let filter = "operator_id = ? AND ((? = '' AND kind IN ('recharge', 'consumption')) OR kind = ?) AND created_at >= ? AND created_at < ?";
    let q = d.prepare(&format!("SELECT transaction_id, kind, amount_fen, balance_after_fen, related_usage_id, payment_method, created_at FROM mr_transactions WHERE {filter} ORDER BY id DESC LIMIT ? OFFSET ?"));
    let kind = kind.unwrap_or("");
    let rows = sqlx::query(&q)
        .bind(operator_id)
        .bind(kind)
        .bind(kind)
        .bind(from)
        .bind(to)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    let count = d.prepare(&format!(
        "SELECT COUNT(*) FROM mr_transactions WHERE {filter}"
    ));
    let total: i64 = sqlx::query(&count)
        .bind(operator_id)
        .bind(kind)
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Transaction {
                transaction_id: text(r, 0)?,
                kind: text(r, 1)?,
                amount_fen: r.try_get(2)?,
                balance_after_fen: r.try_get(3)?,
                related_usage_id: suanpan_core::db::opt_text(r, 4)?,
                payment_method: suanpan_core::db::opt_text(r, 5)?,
                created_at: r.try_get(6)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((items, total))
}
