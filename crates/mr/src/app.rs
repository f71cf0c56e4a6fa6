//! Assembly: MR's routes under `/mr/v1`, its OpenAPI document at `/mr/v1/openapi.json`, its
//! error envelope, and its state.

use std::sync::Arc;

use axum::Router;
use suanpan_core::config::Settings;
use suanpan_core::{CoreState, http as core_http};
use utoipa_axum::router::OpenApiRouter;

use crate::envelope::MrEnvelope;
use crate::settings::MrSettings;
use crate::{MrShared, MrState};

/// The API routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<MrState> {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(title = "Suanpan MR licensing API", description = "Seed 004: MR game licensing and prepaid billing, conformant to the shared contract (`../shared/specs/mr-licensing/`). Money is a decimal string in yuan (`\"10.00\"`); errors are `{error_code, message, details}`."),
        tags((name = "auth"), (name = "operator"), (name = "admin"), (name = "finance"), (name = "statistics"), (name = "payments"))
    )]
    struct Doc;
    OpenApiRouter::with_openapi(<Doc as utoipa::OpenApi>::openapi()).merge(crate::http::routes())
}

/// The OpenAPI document; its paths are relative to the server `/mr/v1`, as the shared
/// contract's are to its `/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    doc.servers = Some(vec![utoipa::openapi::server::Server::new("/mr/v1")]);
    doc
}

/// MR's routes, nested under `/mr/v1`, with its envelope (`{error_code, message, details}`).
pub fn routes(state: MrState) -> Router {
    let (api, _) = api().split_for_parts();
    let doc = openapi();
    let app = api
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.clone()) }),
        )
        .with_state(state);
    core_http::envelope::with_envelope(Router::new().nest("/mr/v1", app), MrEnvelope)
}

/// Builds MR's state on an opened core (which must have run [`MIGRATIONS`]) and the payment
/// flow, registering MR's payment hooks with it.
pub async fn build_state(
    core: CoreState,
    payments: suanpan_payments::Payments,
) -> Result<MrState, String> {
    let settings: MrSettings = core.settings.section()?;
    let seal = crate::apikey::KeySeal::load(&settings.api_key_seal_key, &core.config.data_dir)?;
    let charges = suanpan_core::writer::GroupWriter::spawn(
        core.db.clone(),
        core.config.writer_lanes,
        "mr_authorizations",
    );
    let on = settings.rate_limits_on();
    let rate = |n: u32| suanpan_core::throttle::PerMinute::new(if on { n } else { 0 });
    let limits = crate::Limits {
        operator: rate(settings.rate_limit_per_operator_per_min),
        ip: rate(settings.rate_limit_per_ip_per_min),
    };
    let owner = Arc::new(crate::service::recharge::MrPayments::new(
        core.db.clone(),
        &core.config.public_base_url,
    ));
    payments.register(owner.clone());
    let abuse = crate::abuse::AbuseGuard::new(
        settings.abuse_failures_per_5min,
        settings.abuse_keys_per_min,
        on,
    );
    Ok(MrState(Arc::new(MrShared {
        auth_log: crate::authlog::AuthLog::spawn(core.db.clone()),
        abuse: Arc::new(abuse),
        payments,
        owner,
        core,
        limits: Arc::new(limits),
        settings: Arc::new(settings),
        seal: Arc::new(seal),
        charges,
    })))
}

/// The migrations MR needs: the core's, the payment flow's and its own.
pub const MIGRATIONS: [&[suanpan_core::db::migrate::Migration]; 3] = [
    suanpan_core::db::migrate::MIGRATIONS,
    suanpan_payments::MIGRATIONS,
    crate::MIGRATIONS,
];

/// Opens the core with MR's migrations and builds MR alone with the payment providers of
/// `settings` (tests and tools).
pub async fn open(settings: Settings) -> Result<MrState, String> {
    let core = CoreState::open(settings, &MIGRATIONS).await?;
    let payments = suanpan_payments::settings::payments_from_settings(&core)?;
    build_state(core, payments).await
}

/// MR alone as a whole application (its routes, the ops endpoints, the middleware).
pub fn router(state: MrState) -> Router {
    let core = state.core.clone();
    core_http::assemble::assemble(&core, [routes(state)])
}
