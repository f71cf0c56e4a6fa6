//! Demo data for MR (`serve --demo`, `suanpan demo`): an operator with a site, two approved
//! apps and a balance of 1,000.00; its API key is printed in the log so that a new user can sign
//! an authorize request from the README. Idempotent: loads nothing when the demo operator exists.

use suanpan_core::error::AppError;
use suanpan_core::time;

use crate::MrState;
use crate::service::operators::{self, Registration};
use crate::store::{apps, operators as op_store, sites};

/// The demo operator's username and password.
pub const DEMO_OPERATOR: (&str, &str) = ("demo_venue", "Demo12345");

/// Loads the demo; returns `(operator_id, site_id, api_key)` when it was created now.
pub async fn load(s: &MrState) -> Result<Option<(String, String, String)>, AppError> {
    if op_store::by_username(&s.core.db, DEMO_OPERATOR.0)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let reg = Registration {
        username: DEMO_OPERATOR.0.into(),
        password: DEMO_OPERATOR.1.into(),
        name: "星际 VR 体验馆".into(),
        phone: "13800138000".into(),
        email: "demo@example.com".into(),
        category: crate::domain::Category::Normal,
    };
    let (op, key) = operators::register(s, reg).await?;
    let now = time::now_ms();
    let site = sites::Site {
        site_id: "sitedemo01".into(),
        operator_id: op.operator_id.clone(),
        name: "朝阳大悦城店".into(),
        address: "北京市朝阳区朝阳北路101号".into(),
        description: None,
        is_deleted: false,
        created_at: now,
        updated_at: now,
    };
    sites::insert(&s.core.db, &site).await?;
    for (id, name, price, min, max) in [
        ("appspace01", "太空探险", 1000, 1, 8),
        ("appzombie01", "丧尸围城", 1500, 2, 6),
    ] {
        if apps::by_id(&s.core.db, id).await?.is_none() {
            let app = apps::App {
                app_id: id.into(),
                app_name: name.into(),
                unit_price_fen: price,
                min_players: min,
                max_players: max,
                description: None,
                created_at: now,
                updated_at: now,
            };
            apps::insert(&s.core.db, &app).await?;
        }
        apps::authorize(&s.core.db, &op.operator_id, id, None, now).await?;
    }
    operators::credit(
        s,
        &op.operator_id,
        100_000,
        "manual",
        &format!("demo-{}", op.operator_id),
    )
    .await?;
    Ok(Some((op.operator_id, site.site_id, key)))
}
