//! The operations surface: `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and the generated
//! docs, and the JWT secret file; on the database named by `SUANPAN_TEST_DATABASE_URL` (SQLite
//! when unset).

mod common;

use common::{Seeded, TestApp};
use http::StatusCode;

#[cfg(unix)]
#[tokio::test]
async fn the_generated_jwt_secret_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A fresh data directory: the secret is created 0600.
    let mut dir = String::new();
    let app = TestApp::with(|c, _| dir = c.data_dir.clone()).await;
    let path = std::path::Path::new(&dir).join("jwt.secret");
    assert_eq!(mode(&path), 0o600);
    drop(app);
    // A world-readable secret left by an older version is restricted when it is loaded.
    let old = "x".repeat(48);
    std::fs::write(&path, &old).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _app = TestApp::with(|c, _| c.data_dir = dir.clone()).await;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
}

#[tokio::test]
async fn metrics_show_the_outbox_backlog() {
    let app = TestApp::new().await;
    let Seeded { p, alice, .. } = app.seed(100, 10).await;
    app.order(&alice, p, 1).await;
    let (s, v) = app.get("/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    let text = v.as_str().unwrap_or_default();
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    // Gauges are process-wide and other tests run in parallel: only the shape is certain.
    assert!(gauge("suanpan_outbox_backlog") >= 0.0);
    assert!(gauge("suanpan_outbox_oldest_age_seconds") >= 0.0);
}

#[tokio::test]
async fn ops_endpoints_and_generated_docs_are_current() {
    let app = TestApp::new().await;
    let (s, _) = app.get("/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app.get("/readyz", None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, v) = app.get("/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/v1/admin/auth/login",
        "/v1/admin/products",
        "/v1/products/{id}",
        "/v1/auth/wechat/login",
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/pay",
        "/v1/payments/wechat/notify",
    ] {
        assert!(v["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    let docs = format!("{}/../../docs", env!("CARGO_MANIFEST_DIR"));
    let on_disk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{docs}/openapi.json")).expect("docs/openapi.json"),
    )
    .unwrap();
    assert_eq!(
        on_disk,
        serde_json::to_value(suanpan_shop::app::openapi()).unwrap(),
        "docs/openapi.json is stale: run `suanpan schemas`"
    );
    for (name, schema) in suanpan_shop::events::schemas() {
        let f: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{docs}/events/{name}.json"))
                .expect("event schema file"),
        )
        .unwrap();
        assert_eq!(
            f, schema,
            "docs/events/{name}.json is stale: run `suanpan schemas`"
        );
    }
}

#[tokio::test]
async fn openapi_document_is_valid_and_describes_every_parameter_and_status() {
    let app = TestApp::new().await;
    let (s, doc) = app.get("/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    // It parses as an OpenAPI 3.1 document.
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    serde_json::from_value::<utoipa::openapi::OpenApi>(doc.clone()).expect("OpenAPI model");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut problems = Vec::new();
    // Every `$ref` resolves.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.to_string());
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        if !schemas.contains_key(name) {
            problems.push(format!("unresolved $ref {r}"));
        }
    }
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: std::collections::BTreeSet<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(methods.contains(&method.as_str()), "{method} {path}");
            let at = format!("{} {path}", method.to_uppercase());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = std::collections::BTreeSet::new();
            for p in &params {
                let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                if !["query", "header", "path", "cookie"].contains(&place) {
                    problems.push(format!("{at}: parameter {name} in {place}"));
                }
                if place == "path" {
                    in_path.insert(name);
                    if p["required"] != true {
                        problems.push(format!("{at}: path parameter {name} not required"));
                    }
                } else if p["required"] == true {
                    problems.push(format!(
                        "{at}: optional {place} parameter {name} marked required"
                    ));
                }
            }
            if in_path != template {
                problems.push(format!(
                    "{at}: path parameters {in_path:?}, template {template:?}"
                ));
            }
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            if !responses.keys().any(|k| k.starts_with('2')) {
                problems.push(format!("{at}: no success response"));
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let needs: Vec<(&str, bool)> = vec![
                ("400", !params.is_empty() || op.get("requestBody").is_some()),
                ("401", secured),
                (
                    "403",
                    secured && path.starts_with("/v1/admin/") && path != "/v1/admin/me",
                ),
                (
                    "404",
                    !(template.is_empty() || method == "delete" && path.starts_with("/v1/cart/")),
                ),
                (
                    "415",
                    op["requestBody"]["content"]
                        .get("application/json")
                        .is_some(),
                ),
            ];
            for (status, needed) in needs {
                if needed && !has(status) {
                    problems.push(format!("{at}: status {status} not documented"));
                }
            }
            for (status, r) in responses {
                if !status.starts_with('2') && r["content"]["application/json"].is_null() {
                    problems.push(format!("{at}: {status} has no JSON error body"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The list filters are query parameters.
    let q = &doc["paths"]["/v1/products"]["get"]["parameters"];
    assert!(
        q.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "q" && p["in"] == "query" && p["required"] != true),
        "{q}"
    );
}
