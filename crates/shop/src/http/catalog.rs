//! Catalog: public product list and detail, categories; admin product management and uploads.

use crate::auth::{Permission, ShopAdmin};
use axum::extract::{Multipart, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use suanpan_core::error::ErrorBody;
use suanpan_core::http::{ApiJson, ApiPath, ApiQuery, Page, PageParams};
use suanpan_core::{AppError, AppResult, audit, ledger};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::created;
use crate::ShopState;
use crate::store::{self, Category, NewProduct, ProductFilter, ProductView};

/// Public list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only this category.
    pub category_id: Option<i64>,
    /// Keyword in name or description.
    pub q: Option<String>,
    /// Page (1-based).
    pub page: Option<i64>,
    /// Page size (1–100).
    pub page_size: Option<i64>,
    /// Admin only: `true` on shelf, `false` off shelf.
    pub on_shelf: Option<bool>,
}

async fn list(s: &ShopState, q: ProductQuery, admin: bool) -> AppResult<Page<ProductView>> {
    let (limit, offset, page, page_size) = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .resolve()?;
    if q.q.as_ref().is_some_and(|k| k.chars().count() > 50) {
        return Err(AppError::invalid(
            "invalid_query",
            "keyword must be at most 50 characters",
        ));
    }
    let f = ProductFilter {
        category_id: q.category_id,
        keyword: q.q,
        admin,
        on_shelf: q.on_shelf.filter(|_| admin),
    };
    let (items, total) =
        store::list_products(s.core.db.reader(), s.core.db.dialect, &f, limit, offset).await?;
    Ok(Page {
        items,
        page,
        page_size,
        total,
    })
}

/// Products on shelf, newest first, with pagination, category filter and keyword search.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = inline(Page<ProductView>)), (status = 400, body = ErrorBody)))]
pub async fn list_products(
    State(s): State<ShopState>,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> AppResult<ApiJson<Page<ProductView>>> {
    Ok(ApiJson(list(&s, q, false).await?))
}

/// One product on shelf; `stock` is what can still be ordered.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)))]
pub async fn get_product(
    State(s): State<ShopState>,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<ApiJson<ProductView>> {
    store::get_product(s.core.db.reader(), s.core.db.dialect, id, false)
        .await?
        .map(ApiJson)
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product"))
}

/// All categories.
#[utoipa::path(get, path = "/v1/categories", tag = "catalog", responses((status = 200, body = [Category])))]
pub async fn list_categories(State(s): State<ShopState>) -> AppResult<ApiJson<Vec<Category>>> {
    Ok(ApiJson(
        store::list_categories(s.core.db.reader(), s.core.db.dialect).await?,
    ))
}

/// `POST /v1/admin/products` body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateProduct {
    /// 1–200 characters.
    pub name: String,
    /// Price in fen, 1 – 10,000,000,000.
    pub price_fen: i64,
    /// Initial stock on hand, 0 – 1,000,000,000.
    #[serde(default)]
    pub stock: i64,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub description: String,
    /// Up to 9 image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Category id.
    pub category_id: Option<i64>,
    /// On shelf (default true).
    pub on_shelf: Option<bool>,
}

/// `PATCH /v1/admin/products/{id}` body: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProduct {
    /// Name.
    pub name: Option<String>,
    /// Price, fen.
    pub price_fen: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// Images.
    pub images: Option<Vec<String>>,
    /// Category id.
    pub category_id: Option<i64>,
    /// On shelf.
    pub on_shelf: Option<bool>,
}

/// `POST /v1/admin/products/{id}/stock` body: exactly one of `delta` or `on_hand`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdjustStock {
    /// Change on hand by this (receipt > 0, write-off < 0).
    pub delta: Option<i64>,
    /// Set on hand to this (a stock count).
    pub on_hand: Option<i64>,
}

async fn validate(s: &ShopState, p: &NewProduct) -> AppResult<()> {
    let n = p.name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(AppError::invalid(
            "invalid_name",
            "name must be 1-200 characters",
        ));
    }
    if p.price_fen <= 0 || p.price_fen > 10_000_000_000 {
        return Err(AppError::invalid(
            "invalid_price",
            "price_fen must be 1-10000000000",
        ));
    }
    if p.description.chars().count() > 5000 {
        return Err(AppError::invalid(
            "invalid_description",
            "description must be at most 5000 characters",
        ));
    }
    if p.images.len() > 9 || p.images.iter().any(|u| u.is_empty() || u.len() > 500) {
        return Err(AppError::invalid(
            "invalid_images",
            "at most 9 image URLs of at most 500 characters",
        ));
    }
    if let Some(c) = p.category_id
        && !store::category_exists(s.core.db.reader(), s.core.db.dialect, c).await?
    {
        return Err(AppError::not_found(
            "category_not_found",
            "no such category",
        ));
    }
    Ok(())
}

async fn admin_product(s: &ShopState, id: i64) -> AppResult<ProductView> {
    store::get_product(s.core.db.writer(), s.core.db.dialect, id, true)
        .await?
        .ok_or_else(|| AppError::not_found("product_not_found", "no such product"))
}

/// Creates a product with its initial stock (on shelf unless `on_shelf: false`). Audited.
#[utoipa::path(post, path = "/v1/admin/products", tag = "admin", security(("bearer" = [])), request_body = CreateProduct,
    responses((status = 201, body = ProductView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_product(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiJson(req): ApiJson<CreateProduct>,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let p = NewProduct {
        name: req.name.trim().to_string(),
        description: req.description,
        images: req.images,
        price_fen: req.price_fen,
        category_id: req.category_id,
        on_shelf: req.on_shelf.unwrap_or(true),
    };
    validate(&s, &p).await?;
    if !(0..=1_000_000_000).contains(&req.stock) {
        return Err(AppError::invalid(
            "invalid_stock",
            "stock must be 0-1000000000",
        ));
    }
    let db = &s.core.db;
    let d = db.dialect;
    let actor = admin.actor();
    let id = suanpan_core::with_tx!(db, tx => {
        let (id, account) = store::insert_product(&mut tx, d, &p).await?;
        ledger::open_stock_account(&mut tx, d, &account, req.stock, &format!("product:{id}:create")).await?;
        let after = serde_json::json!({"name": p.name, "price_fen": p.price_fen, "stock": req.stock, "on_shelf": p.on_shelf, "category_id": p.category_id});
        audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "product.create", entity_type: "product", entity_id: &id.to_string(), before: None, after: Some(&after) }).await?;
        Ok(id)
    })?;
    Ok(created(admin_product(&s, id).await?))
}

/// Changes a product's fields (price changes apply to orders placed afterwards). Audited.
#[utoipa::path(patch, path = "/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = UpdateProduct,
    responses((status = 200, body = ProductView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_product(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateProduct>,
) -> AppResult<ApiJson<ProductView>> {
    admin.require(Permission::ManageCatalog)?;
    let before = admin_product(&s, id).await?;
    let p = NewProduct {
        name: req
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(before.name.clone()),
        description: req.description.unwrap_or(before.description.clone()),
        images: req.images.unwrap_or(before.images.clone()),
        price_fen: req.price_fen.unwrap_or(before.price_fen),
        category_id: req.category_id.or(before.category_id),
        on_shelf: req.on_shelf.unwrap_or(before.on_shelf),
    };
    validate(&s, &p).await?;
    let db = &s.core.db;
    let d = db.dialect;
    let actor = admin.actor();
    let b = serde_json::to_value(&before).map_err(AppError::internal)?;
    suanpan_core::with_tx!(db, tx => {
        store::update_product(&mut tx, d, id, &p).await?;
        let after = serde_json::json!({"name": p.name, "price_fen": p.price_fen, "on_shelf": p.on_shelf, "category_id": p.category_id, "images": p.images});
        audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "product.update", entity_type: "product", entity_id: &id.to_string(), before: Some(&b), after: Some(&after) }).await?;
        Ok(())
    })?;
    Ok(ApiJson(admin_product(&s, id).await?))
}

/// Adjusts stock on hand through the ledger (never below what unpaid orders reserve). Audited.
#[utoipa::path(post, path = "/v1/admin/products/{id}/stock", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AdjustStock,
    responses((status = 200, body = ProductView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn adjust_stock(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AdjustStock>,
) -> AppResult<ApiJson<ProductView>> {
    admin.require(Permission::ManageCatalog)?;
    let db = &s.core.db;
    let d = db.dialect;
    let actor = admin.actor();
    suanpan_core::with_tx!(db, tx => {
        let account = store::stock_account(&mut tx, d, id).await?.ok_or_else(|| AppError::not_found("product_not_found", "no such product"))?;
        let before = ledger::account(&mut tx, d, &account).await?;
        let delta = match (req.delta, req.on_hand) {
            (Some(x), None) if x != 0 && x.abs() <= 1_000_000_000 => x,
            (None, Some(h)) if (0..=1_000_000_000).contains(&h) => h - before.balance,
            _ => return Err(AppError::invalid("invalid_stock", "give exactly one of delta (non-zero) or on_hand (0-1000000000)")),
        };
        // A receipt comes from the clearing account, a write-off goes back to it; a write-off
        // must leave what unpaid orders hold.
        let (debit, credit) = if delta > 0 { (ledger::STOCK_RECEIPTS, account.as_str()) } else { (account.as_str(), ledger::STOCK_RECEIPTS) };
        let reference = format!("product:{id}:adjust:{}", actor.id);
        let op = ledger::Op::Transfer { id: format!("{reference}:{}", suanpan_core::ids::random_alnum(12)), debit: debit.into(), credit: credit.into(), unit: ledger::STOCK_UNIT.into(), amount: delta.abs(), reference };
        if delta != 0 {
            ledger::execute(&mut tx, d, &op, suanpan_core::time::now_ms()).await.map_err(|e| e.into_app("stock_below_reserved"))?;
        }
        let after = ledger::account(&mut tx, d, &account).await?;
        let stock = |a: &ledger::Account| serde_json::json!({"on_hand": a.balance, "reserved": a.pending_out});
        let (b, a) = (stock(&before), stock(&after));
        audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "product.stock_adjust", entity_type: "product", entity_id: &id.to_string(), before: Some(&b), after: Some(&a) }).await?;
        Ok(())
    })?;
    Ok(ApiJson(admin_product(&s, id).await?))
}

/// All products, including off shelf, with on hand and reserved.
#[utoipa::path(get, path = "/v1/admin/products", tag = "admin", security(("bearer" = [])), params(ProductQuery),
    responses((status = 200, body = inline(Page<ProductView>)), (status = 403, body = ErrorBody)))]
pub async fn admin_list_products(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> AppResult<ApiJson<Page<ProductView>>> {
    admin.require(Permission::ManageCatalog)?;
    Ok(ApiJson(list(&s, q, true).await?))
}

/// `POST /v1/admin/categories` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCategory {
    /// 1–64 characters.
    pub name: String,
    /// Sort key (ascending).
    #[serde(default)]
    pub sort: i64,
}

/// Creates a category. Audited.
#[utoipa::path(post, path = "/v1/admin/categories", tag = "admin", security(("bearer" = [])), request_body = CreateCategory,
    responses((status = 201, body = Category), (status = 400, body = ErrorBody)))]
pub async fn create_category(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    ApiJson(req): ApiJson<CreateCategory>,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid(
            "invalid_name",
            "name must be 1-64 characters",
        ));
    }
    let db = &s.core.db;
    let d = db.dialect;
    let actor = admin.actor();
    let id = suanpan_core::with_tx!(db, tx => {
        let id = store::insert_category(&mut tx, d, &name, req.sort).await?;
        audit::record(&mut tx, d, &audit::Entry { actor: &actor, action: "category.create", entity_type: "category", entity_id: &id.to_string(), before: None, after: Some(&serde_json::json!({"name": name})) }).await?;
        Ok(id)
    })?;
    Ok(created(Category {
        id,
        name,
        sort: req.sort,
    }))
}

/// Upload answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Public URL of the stored image.
    pub url: String,
}

/// Uploads a product image (multipart field `file`; JPEG, PNG, WebP or GIF by content, at most
/// `upload_max_bytes`). Content-addressed: the same bytes give the same URL.
#[utoipa::path(post, path = "/v1/admin/uploads", tag = "admin", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", content = String, description = "field `file`"),
    responses((status = 201, body = Uploaded), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn upload(
    State(s): State<ShopState>,
    admin: ShopAdmin,
    mut mp: Multipart,
) -> AppResult<Response> {
    admin.require(Permission::ManageCatalog)?;
    let too_large = || {
        AppError::new(
            suanpan_core::ErrorKind::TooLarge,
            "payload_too_large",
            "file too large",
        )
    };
    while let Some(field) = mp.next_field().await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            AppError::invalid("invalid_multipart", e.body_text())
        }
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                AppError::invalid("invalid_multipart", e.body_text())
            }
        })?;
        if bytes.len() > s.core.config.upload_max_bytes {
            return Err(too_large());
        }
        let ext = suanpan_core::storage::sniff_image(&bytes).ok_or_else(|| {
            AppError::invalid("unsupported_image", "only JPEG, PNG, WebP and GIF images")
        })?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let name = format!("{}.{ext}", hex::encode(digest.as_ref()));
        let url = s.core.blobs.put(&name, bytes.to_vec()).await?;
        return Ok(created(Uploaded { url }));
    }
    Err(AppError::invalid(
        "missing_file",
        "multipart field `file` is required",
    ))
}

/// Catalog routes.
pub fn routes() -> OpenApiRouter<ShopState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(list_categories))
        .routes(routes!(create_product, admin_list_products))
        .routes(routes!(update_product))
        .routes(routes!(adjust_stock))
        .routes(routes!(create_category))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload))
                .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
}

/// Body limit of the upload route; the configured `upload_max_bytes` is checked inside.
pub const UPLOAD_BODY_LIMIT: usize = 20 << 20;
