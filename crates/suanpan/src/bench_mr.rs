//! `suanpan bench --system mr`: MR's load test against a running `serve --demo` (whose demo
//! admin holds the MR admin role). Set `SUANPAN_MR_RATE_LIMITS=off` on the server. Setup: the
//! admin creates an operator with a large opening balance, an application at 0.01 per player
//! and its authorization; the operator adds a site. Phases, each for `--seconds`:
//! 1. authorize: `--concurrency` clients loop signed `POST /mr/v1/auth/game/authorize`, each
//!    with a fresh session id (one player: one charge each);
//! 2. balance: the same number of clients loop `GET /mr/v1/operators/me/balance`;
//! 3. statistics: the same number of clients loop `GET /mr/v1/operators/me/statistics/by-app`
//!    (over every usage record the first phase wrote).

use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::bench::{BenchArgs, PhaseResult, phase, report, request};

/// The signed path (the request path as sent is part of the signed message).
const AUTHORIZE: &str = "/mr/v1/auth/game/authorize";

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Ok(req.send().await?.json().await?)
}

/// Runs MR's phases.
pub async fn run(a: &BenchArgs, http: reqwest::Client, base: String) -> Result<()> {
    let mr = format!("{base}/mr/v1");
    let login = post(
        &http,
        format!("{mr}/auth/admin/login"),
        None,
        json!({"username": a.admin_user, "password": a.admin_password}),
    )
    .await
    .context("server not reachable")?;
    let admin = login["data"]["access_token"]
        .as_str()
        .context("MR admin login failed (is the server running with --demo?)")?
        .to_string();
    let username = format!(
        "bench_{}",
        suanpan_core::ids::random_alnum(8).to_ascii_lowercase()
    );
    let op = post(&http, format!("{mr}/admin/operators"), Some(&admin), json!({"username": username, "password": "Bench12345", "name": "压测场馆", "phone": "13800138000", "email": "bench@example.com", "category": "vip", "initial_balance": "99999999.99"})).await?;
    let operator_id = op["data"]["operator_id"]
        .as_str()
        .context(format!("operator creation failed: {op}"))?
        .to_string();
    let api_key = op["data"]["api_key"]
        .as_str()
        .context("no api key")?
        .to_string();
    let app = post(
        &http,
        format!("{mr}/admin/applications"),
        Some(&admin),
        json!({"app_name": "压测游戏", "unit_price": "0.01", "min_players": 1, "max_players": 100}),
    )
    .await?;
    let app_id = app["data"]["app_id"]
        .as_str()
        .context(format!("application creation failed: {app}"))?
        .to_string();
    post(
        &http,
        format!("{mr}/admin/authorizations"),
        Some(&admin),
        json!({"operator_id": operator_id, "app_id": app_id}),
    )
    .await?;
    let login = post(
        &http,
        format!("{mr}/auth/operators/login"),
        None,
        json!({"username": username, "password": "Bench12345"}),
    )
    .await?;
    let token = login["data"]["access_token"]
        .as_str()
        .context("operator login failed")?
        .to_string();
    let site = post(
        &http,
        format!("{mr}/operators/me/sites"),
        Some(&token),
        json!({"name": "压测门店", "address": "北京市朝阳区压测路1号"}),
    )
    .await?;
    let site_id = site["data"]["site_id"]
        .as_str()
        .context("site creation failed")?
        .to_string();
    println!(
        "benchmark (mr): {} clients, {} s per phase, operator {operator_id}",
        a.concurrency, a.seconds
    );
    let addr = crate::bench::authority(&base)?;
    let body =
        Bytes::from(json!({"app_id": app_id, "site_id": site_id, "player_count": 1}).to_string());
    let mut authorize = phase(&addr, a, 200, move |_| {
        let ts = (suanpan_core::time::now_ms() / 1000).to_string();
        let session = format!("{operator_id}_{ts}_{}", suanpan_core::ids::random_alnum(16));
        let mut msg = format!("{ts}\nPOST\n{AUTHORIZE}\n").into_bytes();
        msg.extend_from_slice(&body);
        let sig = suanpan_core::signing::hmac_sha256_b64(api_key.as_bytes(), &msg);
        let headers = [
            ("content-type", "application/json"),
            ("x-api-key", api_key.as_str()),
            ("x-timestamp", ts.as_str()),
            ("x-session-id", session.as_str()),
            ("x-signature", sig.as_str()),
        ];
        request(http::Method::POST, AUTHORIZE, &headers, body.clone())
    })
    .await;
    let mut balance = reads(a, &addr, "/mr/v1/operators/me/balance", &token).await;
    let by_app = "/mr/v1/operators/me/statistics/by-app";
    let mut statistics = reads(a, &addr, by_app, &token).await;
    let out = json!({"authorize": report("authorize", &mut authorize), "balance": report("balance", &mut balance), "statistics": report("statistics", &mut statistics)});
    println!("{out}");
    Ok(())
}

/// A phase of `--concurrency` clients looping an operator's `GET path`, each answer read whole.
async fn reads(a: &BenchArgs, addr: &str, path: &'static str, token: &str) -> PhaseResult {
    let auth = format!("Bearer {token}");
    phase(addr, a, 200, move |_| {
        request(
            http::Method::GET,
            path,
            &[("authorization", auth.as_str())],
            Bytes::new(),
        )
    })
    .await
}
