//! Demo data: a rice shop's catalog (五常大米 and friends), a demo admin. Loading is idempotent:
//! nothing is added when the catalog already has products.

use suanpan_core::audit::Actor;
use suanpan_core::auth;
use suanpan_core::{AppResult, audit, ledger};

use crate::ShopState;
use crate::store::{self, NewProduct};

/// The demo admin's username.
pub const DEMO_ADMIN: &str = "admin";
/// The demo admin's password (change it outside development).
pub const DEMO_PASSWORD: &str = "suanpan-demo";

/// `(name, description, price_fen, stock, category)`.
const PRODUCTS: &[(&str, &str, i64, i64, usize)] = &[
    (
        "五常大米 5kg",
        "黑龙江五常核心产区稻花香2号，当季新米，真空包装。",
        5990,
        500,
        0,
    ),
    (
        "五常稻花香大米 10kg",
        "五常稻花香，家庭装，米粒饱满，蒸煮后清香软糯。",
        11900,
        200,
        0,
    ),
    (
        "东北珍珠米 5kg",
        "东北黑土地圆粒珍珠米，口感弹润，适合日常。",
        3990,
        800,
        0,
    ),
    (
        "黑龙江小米 2.5kg",
        "黄金小米，熬粥香浓，产地直发。",
        2990,
        300,
        1,
    ),
    (
        "有机糙米 1kg",
        "有机认证糙米，保留胚芽与米糠层，膳食纤维丰富。",
        1990,
        150,
        1,
    ),
];

/// What was loaded.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Products created.
    pub products: usize,
    /// Whether the demo admin was created now.
    pub admin_created: bool,
}

/// Loads the demo catalog and admin if absent.
pub async fn load(s: &ShopState) -> AppResult<DemoReport> {
    let db = &s.core.db;
    let d = db.dialect;
    let admin_created = match auth::create_staff(
        db,
        DEMO_ADMIN,
        DEMO_PASSWORD,
        auth::ANY_SYSTEM,
        "admin",
        None,
    )
    .await
    {
        Ok(_) => true,
        Err(e) if e.code == "admin_exists" => false,
        Err(e) => return Err(e),
    };
    let mut report = DemoReport {
        admin_created,
        ..Default::default()
    };
    let (_, total) = store::list_products(
        db.reader(),
        d,
        &store::ProductFilter {
            admin: true,
            ..Default::default()
        },
        1,
        0,
    )
    .await?;
    if total > 0 {
        return Ok(report);
    }
    let actor = Actor::system("demo-data");
    let n = db
        .transaction(&actor, move |tx, actor| {
            Box::pin(async move {
                let cat_rice = store::insert_category(tx, d, "大米", 1).await?;
                let cat_grain = store::insert_category(tx, d, "杂粮", 2).await?;
                let cats = [cat_rice, cat_grain];
                for (name, desc, price, stock, cat) in PRODUCTS {
                    let p = NewProduct {
                        name: (*name).into(),
                        description: (*desc).into(),
                        images: vec![],
                        price_fen: *price,
                        category_id: Some(cats[*cat]),
                        on_shelf: true,
                    };
                    let (id, account) = store::insert_product(tx, d, &p).await?;
                    let reference = format!("product:{id}:create");
                    ledger::open_stock_account(tx, d, &account, *stock, &reference).await?;
                    let (id_str, after) = (
                        id.to_string(),
                        serde_json::json!({"name": name, "price_fen": price, "stock": stock}),
                    );
                    let entry = audit::Entry::new(actor, "product.create", "product", &id_str)
                        .after(&after);
                    audit::record(tx, d, &entry).await?;
                }
                Ok(PRODUCTS.len())
            })
        })
        .await?;
    report.products = n;
    Ok(report)
}
