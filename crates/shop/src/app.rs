//! Assembly: the shop's full HTTP application (identity, catalog, cart, orders, payments,
//! admin, ops endpoints, OpenAPI) and its state built from [`Config`].

use std::sync::Arc;

use axum::Router;
use suanpan_core::config::Settings;
use suanpan_core::wechat_login::{WechatLogin, WechatLoginSettings};
use suanpan_core::{CoreState, http as core_http};
use suanpan_payments::Payments;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::ShopState;
use crate::settings::ShopSettings;

/// The API routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<ShopState> {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(title = "Suanpan shop API", description = "Seed 001: WeChat mini-program shop. Amounts are integer fen; times RFC 3339 in UTC+08:00. Errors are `{code, message}` with a stable `code`."),
        tags((name = "auth"), (name = "catalog"), (name = "cart"), (name = "addresses"), (name = "orders"), (name = "payments"), (name = "admin"))
    )]
    struct Doc;
    OpenApiRouter::with_openapi(<Doc as utoipa::OpenApi>::openapi()).merge(crate::http::routes())
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

/// The shop's routes: the API, `/openapi.json`, `/uploads/*`, with the shop's state and error
/// envelope (`{code, message}`), without the shared middleware (see
/// [`suanpan_core::http::assemble`]).
pub fn routes(state: ShopState) -> Router {
    let (api, _) = api().split_for_parts();
    let doc = openapi();
    let uploads =
        tower_http::services::ServeDir::new(suanpan_core::state::upload_dir(&state.core.config));
    let app = api
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.clone()) }),
        )
        .nest_service("/uploads", uploads)
        .with_state(state);
    core_http::envelope::with_envelope(app, suanpan_core::error::DefaultEnvelope)
}

/// The shop alone as a whole application (its routes, the ops endpoints, the middleware).
pub fn router(state: ShopState) -> Router {
    let core = state.core.clone();
    core_http::assemble::assemble(&core, [routes(state)])
}

/// Builds the shop's state on an opened core (see [`suanpan_core::CoreState::open`], which
/// must have run [`crate::MIGRATIONS`] and the payment flow's), registering the shop's payment
/// owner with `payments`. Errors are messages for the operator.
pub async fn build_state(core: CoreState, payments: Payments) -> Result<ShopState, String> {
    let settings: ShopSettings = core.settings.section()?;
    let login: WechatLoginSettings = core.settings.section()?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    payments.register(Arc::new(crate::service::ShopPayments::new(core.db.clone())));
    let orders = suanpan_core::writer::GroupWriter::spawn(
        core.db.clone(),
        core.config.writer_lanes,
        "shop_orders",
    );
    Ok(ShopState {
        wechat: Arc::new(WechatLogin::from_settings(http, &login)),
        settings: Arc::new(settings),
        core,
        payments,
        orders,
    })
}

/// The migrations the shop needs: the core's, the payment flow's, its own.
pub const MIGRATIONS: [&[suanpan_core::db::migrate::Migration]; 3] = [
    suanpan_core::db::migrate::MIGRATIONS,
    suanpan_payments::MIGRATIONS,
    crate::MIGRATIONS,
];

/// Opens the core with the shop's migrations and builds the shop (the shop alone: tests and
/// tools; the binary opens the core once for every system).
pub async fn open(settings: Settings) -> Result<ShopState, String> {
    let core = CoreState::open(settings, &MIGRATIONS).await?;
    let payments = suanpan_payments::settings::payments_from_settings(&core)?;
    build_state(core, payments).await
}
