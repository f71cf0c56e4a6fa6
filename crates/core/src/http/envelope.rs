//! Per-router error bodies: [`with_envelope`] re-renders every error response of a router (its
//! handlers' errors, extractor rejections, its 404/405) in the system's own shape, keeping the
//! status that [`ErrorKind::status`](crate::ErrorKind::status) chose.

use axum::Router;
use axum::response::Response;

use crate::error::{ErrorEnvelope, RenderedError};

/// Wraps `router` so that every [`AppError`](crate::AppError) it answers is rendered by
/// `envelope`. Responses that are not errors pass through untouched.
pub fn with_envelope<S, E>(router: Router<S>, envelope: E) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    E: ErrorEnvelope,
{
    router.layer(axum::middleware::map_response(move |resp: Response| {
        let envelope = envelope.clone();
        async move { render(resp, &envelope) }
    }))
}

/// The response re-rendered by `envelope` when it carries an error.
pub fn render<E: ErrorEnvelope>(resp: Response, envelope: &E) -> Response {
    match resp.extensions().get::<RenderedError>() {
        Some(RenderedError(e)) => {
            let e = e.clone();
            let mut out = envelope.response(&e);
            for (k, v) in resp.headers() {
                if k != http::header::CONTENT_TYPE && k != http::header::CONTENT_LENGTH {
                    out.headers_mut().insert(k.clone(), v.clone());
                }
            }
            out.extensions_mut().insert(RenderedError(e));
            out
        }
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AppError;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct Upper;
    impl ErrorEnvelope for Upper {
        fn body(&self, e: &AppError) -> serde_json::Value {
            serde_json::json!({"error_code": e.code, "message": e.message, "details": e.details})
        }
    }

    #[tokio::test]
    async fn errors_take_the_routers_shape_and_keep_their_status() {
        let app = with_envelope(
            Router::new()
                .route(
                    "/x",
                    get(|| async {
                        Err::<(), _>(
                            AppError::conflict("E", "m").with_details(serde_json::json!({"a": 1})),
                        )
                    }),
                )
                .route("/ok", get(|| async { "fine" })),
            Upper,
        );
        let r = app
            .clone()
            .oneshot(http::Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error_code": "E", "message": "m", "details": {"a": 1}})
        );
        let r = app
            .oneshot(http::Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&b[..], b"fine");
    }
}
