//! `suanpan bench`: a load test against a running server (started with `serve --demo`, so that
//! shoppers can log in through the simulator). Phases, each for `--seconds`:
//! 1. place-order: `--concurrency` shoppers each loop `POST /v1/orders` (one line, quantity 1)
//!    on a product with ample stock;
//! 2. product-detail: the same number of clients loop `GET /v1/products/{id}`.
//!
//! It prints throughput, p50/p90/p99/max latency and error counts per phase. Results and the
//! machine they were taken on go to `docs/benchmarks.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Bench options.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Admin username (demo admin by default).
    #[arg(long, default_value = "admin")]
    pub(crate) admin_user: String,
    /// Admin password.
    #[arg(long, default_value = "suanpan-demo")]
    pub(crate) admin_password: String,
    /// Which system: `shop` (orders, product reads) or `mr` (signed game authorizations,
    /// balance reads).
    #[arg(long, default_value = "shop")]
    pub(crate) system: String,
}

pub(crate) struct PhaseResult {
    ok: usize,
    errors: usize,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

pub(crate) fn report(name: &str, r: &mut PhaseResult) -> Value {
    r.latencies_us.sort_unstable();
    let rps = r.ok as f64 / r.elapsed.as_secs_f64();
    let v = json!({
        "phase": name, "ok": r.ok, "errors": r.errors, "seconds": r.elapsed.as_secs_f64(), "throughput_per_s": (rps * 10.0).round() / 10.0,
        "p50_ms": pct(&r.latencies_us, 0.50), "p90_ms": pct(&r.latencies_us, 0.90), "p99_ms": pct(&r.latencies_us, 0.99),
        "max_ms": r.latencies_us.last().map(|x| *x as f64 / 1000.0).unwrap_or(0.0),
    });
    println!(
        "{name:>15}: {:>9.1} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ok {}  errors {}",
        rps,
        pct(&r.latencies_us, 0.5),
        pct(&r.latencies_us, 0.9),
        pct(&r.latencies_us, 0.99),
        v["max_ms"].as_f64().unwrap_or(0.0),
        r.ok,
        r.errors
    );
    v
}

pub(crate) async fn phase<F, Fut>(concurrency: usize, seconds: u64, f: F) -> PhaseResult
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let f = Arc::new(f);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0usize, 0usize, Vec::with_capacity(4096));
            while Instant::now() < deadline {
                let t = Instant::now();
                if f(w).await {
                    ok += 1;
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut r = PhaseResult {
        ok: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        if let Ok((ok, e, l)) = t.await {
            r.ok += ok;
            r.errors += e;
            r.latencies_us.extend(l);
        }
    }
    r.elapsed = start.elapsed();
    r
}

/// Runs the benchmark.
pub async fn run(a: BenchArgs) -> Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency * 2)
        .build()?;
    let base = a.url.trim_end_matches('/').to_string();
    match a.system.as_str() {
        "shop" => {}
        "mr" => return crate::bench_mr::run(&a, http, base).await,
        other => bail!("unknown system {other:?} (shop or mr)"),
    }
    let login: Value = http
        .post(format!("{base}/v1/admin/auth/login"))
        .json(&json!({"username": a.admin_user, "password": a.admin_password}))
        .send()
        .await
        .context("server not reachable")?
        .json()
        .await?;
    let admin = login["access_token"]
        .as_str()
        .context("admin login failed (is the server running with --demo?)")?
        .to_string();
    let p: Value = http
        .post(format!("{base}/v1/admin/products"))
        .bearer_auth(&admin)
        .json(&json!({"name": "压测专用大米 1kg", "price_fen": 990, "stock": 1_000_000_000}))
        .send()
        .await?
        .json()
        .await?;
    let product_id = p["id"].as_i64().context("product creation failed")?;
    let mut tokens = Vec::new();
    for i in 0..a.concurrency {
        let r: Value = http
            .post(format!("{base}/v1/auth/wechat/login"))
            .json(&json!({"code": format!("bench-shopper-{i}")}))
            .send()
            .await?
            .json()
            .await?;
        match r["access_token"].as_str() {
            Some(t) => tokens.push(t.to_string()),
            None => bail!("shopper login failed: {r}"),
        }
    }
    let tokens = Arc::new(tokens);
    println!(
        "benchmark: {} clients, {} s per phase, product {product_id}",
        a.concurrency, a.seconds
    );
    let (h, b, t) = (http.clone(), base.clone(), tokens.clone());
    let mut orders = phase(a.concurrency, a.seconds, move |w| {
        let (h, b, t) = (h.clone(), b.clone(), t.clone());
        async move {
            let body = json!({"items": [{"product_id": product_id, "quantity": 1}]});
            matches!(h.post(format!("{b}/v1/orders")).bearer_auth(&t[w]).json(&body).send().await, Ok(r) if r.status().as_u16() == 201)
        }
    })
    .await;
    let (h, b) = (http.clone(), base.clone());
    let mut reads = phase(a.concurrency, a.seconds, move |_| {
        let (h, b) = (h.clone(), b.clone());
        async move {
            match h.get(format!("{b}/v1/products/{product_id}")).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            }
        }
    })
    .await;
    let out = json!({"place_order": report("place-order", &mut orders), "product_detail": report("product-detail", &mut reads)});
    println!("{out}");
    Ok(())
}
