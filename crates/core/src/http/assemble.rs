//! One application from several systems: each system hands over its routes (with its own state
//! and error envelope already applied); the core adds `/healthz`, `/readyz`, `/metrics`, the JSON
//! 404/405 and the shared middleware stack ([`super::layers::apply`]).

use axum::Router;

use crate::state::CoreState;

/// The whole application: every system's routes, the ops endpoints, the middleware.
pub fn assemble(core: &CoreState, systems: impl IntoIterator<Item = Router>) -> Router {
    let mut app: Router = super::layers::ops_routes().with_state(core.clone());
    for s in systems {
        app = app.merge(s);
    }
    super::layers::apply(app, core.config.max_body_bytes)
}
