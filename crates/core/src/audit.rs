//! The audit log: every admin write and every money movement records who, what, when, from
//! which IP, and the entity before and after, in the same transaction as the change
//! (seed 001 §九: 审计日志, kept for years). Rows are never updated or deleted by the application.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::db::{Arg, Batch, Conn, Dialect, bind_all};
use crate::sql;

/// Who did something.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// `admin`, `user` or `system`.
    pub kind: &'static str,
    /// The admin/user id, or the system component (`wechatpay`, `order-timeout`).
    pub id: String,
    /// Username, openid or component name.
    pub name: String,
    /// Client IP, when the action came over HTTP.
    pub ip: Option<String>,
}

impl Actor {
    /// A background component acting on its own.
    pub fn system(component: &str) -> Actor {
        Actor {
            kind: "system",
            id: component.to_string(),
            name: component.to_string(),
            ip: None,
        }
    }
}

/// One audit row to write: who did what to which entity, before and after.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// Who.
    pub actor: &'a Actor,
    /// What, e.g. `order.refund`.
    pub action: &'a str,
    /// Entity type, e.g. `order`.
    pub entity_type: &'a str,
    /// The entity's id.
    pub entity_id: &'a str,
    /// The entity before, if it existed.
    pub before: Option<&'a Value>,
    /// The entity after, if it still exists.
    pub after: Option<&'a Value>,
}

impl<'a> Entry<'a> {
    /// An entry without before/after images; add them with [`Entry::before`] and [`Entry::after`].
    pub fn new(
        actor: &'a Actor,
        action: &'a str,
        entity_type: &'a str,
        entity_id: &'a str,
    ) -> Self {
        Entry {
            actor,
            action,
            entity_type,
            entity_id,
            before: None,
            after: None,
        }
    }

    /// With the entity as it was.
    pub fn before(mut self, v: &'a Value) -> Self {
        self.before = Some(v);
        self
    }

    /// With the entity as it is now.
    pub fn after(mut self, v: &'a Value) -> Self {
        self.after = Some(v);
        self
    }
}

/// Adds one audit row to `b`, to commit with the change it records.
pub fn push_record(b: &mut Batch, d: Dialect, e: &Entry<'_>) {
    b.push(
        sql!(
            d,
            "INSERT INTO audit_log (actor_type, actor_id, actor_name, action, entity_type, entity_id, ip, before_json, after_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        vec![
            e.actor.kind.into(),
            e.actor.id.clone().into(),
            e.actor.name.clone().into(),
            e.action.into(),
            e.entity_type.into(),
            e.entity_id.into(),
            e.actor.ip.clone().into(),
            e.before.map(|v| v.to_string()).into(),
            e.after.map(|v| v.to_string()).into(),
            crate::time::now_ms().into(),
        ],
    );
}

/// Writes one audit row on `conn` (inside the caller's transaction) through [`push_record`].
pub async fn record(conn: &mut Conn, d: Dialect, e: &Entry<'_>) -> Result<(), sqlx::Error> {
    let mut b = Batch::new();
    push_record(&mut b, d, e);
    b.execute(conn, d).await.map(|_| ())
}

/// One audit row as the admin API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Row id (increasing).
    pub id: i64,
    /// `admin`, `user` or `system`.
    pub actor_type: String,
    /// Actor id.
    pub actor_id: String,
    /// Actor name.
    pub actor_name: String,
    /// What was done, e.g. `order.refund`, `product.update`, `payment.succeeded`.
    pub action: String,
    /// `order`, `product`, `admin_user`, …
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// Client IP if known.
    pub ip: Option<String>,
    /// The entity before (JSON), if it existed.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The entity after (JSON), if it still exists.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// RFC 3339, UTC+08:00.
    pub created_at: String,
}

/// Filters for [`query`]; all optional, combined with AND.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Entity type, e.g. `order`.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Action, e.g. `order.refund`.
    pub action: Option<String>,
    /// Only rows with id below this (keyset pagination: pass the last id seen).
    pub before_id: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// Newest-first audit rows matching `f`.
pub async fn query(
    pool: &sqlx::AnyPool,
    d: Dialect,
    f: &AuditFilter,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, actor_type, actor_id, actor_name, action, entity_type, entity_id, ip, before_json, after_json, created_at FROM audit_log WHERE 1 = 1",
    );
    let mut args = Vec::new();
    for (col, v) in [
        ("entity_type", &f.entity_type),
        ("entity_id", &f.entity_id),
        ("actor_id", &f.actor_id),
        ("action", &f.action),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(Arg::S(v.clone()));
        }
    }
    if let Some(b) = f.before_id {
        sql.push_str(" AND id < ?");
        args.push(Arg::I(b));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Arg::I(f.limit.unwrap_or(50).clamp(1, 200)));
    let sql = d.prepare(&sql);
    let rows = bind_all(sqlx::query(&sql), &args).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
            Ok(AuditRecord {
                id: r.try_get(0)?,
                actor_type: r.try_get(1)?,
                actor_id: r.try_get(2)?,
                actor_name: r.try_get(3)?,
                action: r.try_get(4)?,
                entity_type: r.try_get(5)?,
                entity_id: r.try_get(6)?,
                ip: r.try_get(7)?,
                before: parse(crate::db::opt_text(r, 8)?),
                after: parse(crate::db::opt_text(r, 9)?),
                created_at: crate::time::rfc3339(r.try_get(10)?),
            })
        })
        .collect()
}
