//! Assembly: the shop's full HTTP application (identity, catalog, cart, orders, payments,
//! admin, ops endpoints, OpenAPI) and its state built from [`Config`].

use std::sync::Arc;

use axum::Router;
use suanpan_core::auth::TokenService;
use suanpan_core::config::Config;
use suanpan_core::db::{Db, DbOptions};
use suanpan_core::storage::LocalDirStore;
use suanpan_core::wechat_login::WechatLogin;
use suanpan_core::{CoreState, http as core_http};
use suanpan_payments::wechatpay::client::apiv3_key_bytes;
use suanpan_payments::wechatpay::{
    MerchantKey, PlatformKeys, WechatPayClient, WechatPayConfig, public_key_from_pem,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::ShopState;

/// The API routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<ShopState> {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(title = "Suanpan shop API", description = "Seed 001: WeChat mini-program shop. Amounts are integer fen; times RFC 3339 in UTC+08:00. Errors are `{code, message}` with a stable `code`."),
        tags((name = "auth"), (name = "catalog"), (name = "cart"), (name = "addresses"), (name = "orders"), (name = "payments"), (name = "admin"))
    )]
    struct Doc;
    OpenApiRouter::with_openapi(<Doc as utoipa::OpenApi>::openapi())
        .merge(core_http::identity::routes())
        .merge(crate::http::routes())
}

/// The OpenAPI document (with the bearer security scheme).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api().split_for_parts();
    let comps = doc.components.get_or_insert_with(Default::default);
    comps.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    document_shared_errors(&mut doc);
    doc
}

/// Documents the error statuses every operation can answer through the shared extractors and
/// middleware, where its annotation does not already: 400 (`invalid_path`, `invalid_query`,
/// `invalid_json`, `invalid_body`, `invalid_string`) when it takes parameters or a body, 413
/// and 415 when it takes JSON, 401 when it needs a token, 403 for admin permissions.
fn document_shared_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let takes_input =
                op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
            let takes_json = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let r = &mut op.responses.responses;
            let mut add = |status: &str, description: &str| {
                r.entry(status.to_string())
                    .or_insert_with(|| error(description).into());
            };
            if takes_input {
                add(
                    "400",
                    "invalid input (`invalid_path`, `invalid_query`, `invalid_json`, `invalid_body`, `invalid_string`, …)",
                );
            }
            if takes_json {
                add("413", "`payload_too_large`");
                add("415", "`unsupported_media_type`");
            }
            if secured {
                add("401", "`unauthenticated`, `invalid_token`, `token_expired`");
                if path.starts_with("/v1/admin/") && path != "/v1/admin/me" {
                    add("403", "`forbidden`: the admin's role lacks the permission");
                }
            }
        }
    }
}

/// The whole application: API, `/openapi.json`, `/uploads/*`, ops endpoints, middleware.
pub fn router(state: ShopState) -> Router {
    let (api, _) = api().split_for_parts();
    let doc = openapi();
    let uploads = tower_http::services::ServeDir::new(upload_dir(&state.core.config));
    let app = api
        .merge(core_http::layers::ops_routes())
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.clone()) }),
        )
        .nest_service("/uploads", uploads)
        .with_state(state.clone());
    core_http::layers::apply(app, state.core.config.max_body_bytes)
}

/// Where uploads are stored.
pub fn upload_dir(cfg: &Config) -> std::path::PathBuf {
    std::path::Path::new(&cfg.data_dir).join("uploads")
}

/// Opens the database (migrating it), loads keys, and builds the state. Errors are messages for
/// the operator.
pub async fn build_state(cfg: Config) -> Result<ShopState, String> {
    let opts = DbOptions {
        max_connections: cfg.db_max_connections,
        sqlite_synchronous: cfg.sqlite_synchronous.clone(),
        ..Default::default()
    };
    let db = Db::connect(&cfg.database_url, &opts)
        .await
        .map_err(|e| format!("database: {e}"))?;
    suanpan_core::db::migrate::migrate(&db, suanpan_core::db::migrate::MIGRATIONS)
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    let secret = jwt_secret(&cfg)?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let pay = if cfg.wechatpay_configured() {
        Some(Arc::new(wechatpay_client(&cfg)?))
    } else {
        None
    };
    let core = CoreState {
        db,
        tokens: Arc::new(TokenService::new(
            &secret,
            cfg.access_token_ttl_secs,
            cfg.refresh_token_ttl_secs,
        )),
        wechat: Arc::new(WechatLogin::new(
            http,
            &cfg.wechat_api_base,
            &cfg.wechat_appid,
            &cfg.wechat_secret,
        )),
        blobs: Arc::new(LocalDirStore {
            dir: upload_dir(&cfg),
            url_prefix: format!("{}/uploads", cfg.public_base_url.trim_end_matches('/')),
        }),
        config: Arc::new(cfg),
    };
    let writer = (core.db.dialect == suanpan_core::db::Dialect::Sqlite)
        .then(|| crate::writer::OrderWriter::spawn(core.db.clone()));
    Ok(ShopState { core, pay, writer })
}

/// Builds the WeChat Pay client from the merchant settings.
pub fn wechatpay_client(cfg: &Config) -> Result<WechatPayClient, String> {
    let read = |p: &str, what: &str| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {what} {p}: {e}"))
    };
    let merchant_key = MerchantKey::from_pem(&read(&cfg.wechatpay_merchant_key, "merchant key")?)
        .map_err(|e| e.to_string())?;
    let mut keys = PlatformKeys::default();
    keys.insert(
        cfg.wechatpay_platform_public_key_id.clone(),
        public_key_from_pem(&read(
            &cfg.wechatpay_platform_public_key,
            "platform public key",
        )?)
        .map_err(|e| e.to_string())?,
    );
    let notify_url = if cfg.wechatpay_notify_url.is_empty() {
        format!(
            "{}/v1/payments/wechat/notify",
            cfg.public_base_url.trim_end_matches('/')
        )
    } else {
        cfg.wechatpay_notify_url.clone()
    };
    WechatPayClient::new(WechatPayConfig {
        api_base: cfg.wechatpay_api_base.clone(),
        appid: cfg.wechat_appid.clone(),
        mchid: cfg.wechatpay_mchid.clone(),
        merchant_serial: cfg.wechatpay_merchant_serial.clone(),
        merchant_key,
        apiv3_key: apiv3_key_bytes(&cfg.wechatpay_apiv3_key).map_err(|e| e.to_string())?,
        platform_keys: keys,
        notify_url,
        max_skew_secs: cfg.wechatpay_max_clock_skew_secs,
    })
    .map_err(|e| e.to_string())
}

fn jwt_secret(cfg: &Config) -> Result<Vec<u8>, String> {
    if !cfg.jwt_secret.is_empty() {
        if cfg.jwt_secret.len() < 32 {
            return Err("jwt_secret must be at least 32 characters".into());
        }
        return Ok(cfg.jwt_secret.as_bytes().to_vec());
    }
    let path = std::path::Path::new(&cfg.data_dir).join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && s.trim().len() >= 32
    {
        suanpan_core::storage::restrict_secret(&path)
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
        return Ok(s.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.data_dir))?;
    let s = suanpan_core::ids::random_alnum(48);
    suanpan_core::storage::write_secret(&path, &s)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(s.into_bytes())
}
