//! The middleware stack and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::{AppError, ErrorKind};
use crate::state::CoreState;

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder, so that metrics recorded before the first
/// `/metrics` scrape are kept. Idempotent; called at server start (and by [`apply`]).
pub fn install_metrics() {
    metrics_handle();
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let b = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .expect("static buckets are valid");
        let recorder = b.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests); then this handle just renders empty.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&hex::encode(rand::random::<[u8; 12]>()))
            .ok()
            .map(RequestId::new)
    }
}

async fn track_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    tracing::info!(target: "suanpan::access", method = %method, path = %path, status = %status, latency_ms = start.elapsed().as_millis() as u64, request_id = %request_id, "request");
    metrics::counter!("suanpan_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("suanpan_http_request_duration_seconds", "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    resp
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    AppError::new(ErrorKind::Internal, "internal", "internal error").into_response()
}

/// Wraps a finished router with the shared stack: request ids (`x-request-id`, generated when
/// absent, echoed back), an access-log span carrying the request id, metrics, a JSON 500 for
/// panics, a body limit of `max_body` bytes, and JSON 404/405.
pub fn apply(router: Router, max_body: usize) -> Router {
    apply_with_timeout(router, max_body, Duration::from_secs(30))
}

/// [`apply`] with a request timeout other than 30 s: a request that takes longer is answered
/// `503 {"code": "timeout", …}`.
pub fn apply_with_timeout(router: Router, max_body: usize, timeout: Duration) -> Router {
    install_metrics();
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
    });
    router
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(track_metrics))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| json_timeout(timeout, req, next),
        ))
}

async fn json_timeout(timeout: Duration, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(%method, %path, timeout_ms = timeout.as_millis() as u64, "request timed out");
            AppError::new(
                ErrorKind::Unavailable,
                "timeout",
                "the request took too long, retry later",
            )
            .into_response()
        }
    }
}

/// Liveness: the process answers.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
pub async fn readyz(State(core): State<CoreState>) -> Response {
    match core.db.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => AppError::new(
            ErrorKind::Unavailable,
            "not_ready",
            format!("database: {e}"),
        )
        .into_response(),
    }
}

/// Prometheus text exposition. The outbox gauges (`suanpan_outbox_backlog`,
/// `suanpan_outbox_oldest_age_seconds`) are refreshed at each scrape.
pub async fn metrics(State(core): State<CoreState>) -> impl IntoResponse {
    match crate::outbox::backlog(&core.db).await {
        Ok((n, oldest)) => {
            metrics::gauge!("suanpan_outbox_backlog").set(n as f64);
            let age_ms = oldest.map_or(0, |t| (crate::time::now_ms() - t).max(0));
            metrics::gauge!("suanpan_outbox_oldest_age_seconds").set(age_ms as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the outbox backlog for /metrics"),
    }
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn ops_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    CoreState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    async fn call(router: &Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let req = http::Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn probe_router() -> Router {
        Router::new()
            .route("/early-probe", axum::routing::get(|| async { "ok" }))
            .route(
                "/bad-probe",
                axum::routing::get(|| async { AppError::invalid("probe_code", "bad") }),
            )
            .route(
                "/slow-probe",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    "late"
                }),
            )
    }

    use axum::http::StatusCode;

    #[tokio::test]
    async fn requests_before_the_first_scrape_and_4xx_by_code_are_counted() {
        // Nothing in this test binary scrapes before this request.
        let router = apply(probe_router(), 1024);
        assert_eq!(call(&router, "/early-probe").await.0, StatusCode::OK);
        assert_eq!(call(&router, "/bad-probe").await.0, StatusCode::BAD_REQUEST);
        let text = metrics_handle().render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("suanpan_http_requests_total{")
                    && l.contains("route=\"/early-probe\"")
                    && l.ends_with(" 1")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("suanpan_http_errors_total{")
                    && l.contains("status=\"400\"")
                    && l.contains("code=\"probe_code\"")),
            "{text}"
        );
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_request_writes_an_access_log_line_at_info() {
        let out = Captured::default();
        let w = out.clone();
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || w.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(sub);
        let router = apply(probe_router(), 1024);
        let req = http::Request::builder()
            .uri("/bad-probe?x=1")
            .header("x-request-id", "req-abc123")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["path"] == "/bad-probe")
            .unwrap_or_else(|| panic!("no access log line in {text}"));
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["fields"]["method"], "GET", "{line}");
        assert_eq!(line["fields"]["status"], "400", "{line}");
        assert_eq!(line["fields"]["request_id"], "req-abc123", "{line}");
        assert!(line["fields"]["latency_ms"].is_u64(), "{line}");
    }

    #[tokio::test]
    async fn a_timeout_answers_the_json_error() {
        let router = apply_with_timeout(probe_router(), 1024, Duration::from_millis(50));
        let (s, v) = call(&router, "/slow-probe").await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("timeout")),
            "{v}"
        );
        assert!(v["message"].is_string());
        // Fast requests are unaffected.
        assert_eq!(call(&router, "/bad-probe").await.0, StatusCode::BAD_REQUEST);
    }
}
