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
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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
    /// The server's process id, when it runs on this machine: each phase then also reports the
    /// server's CPU time per request (`utime + stime` from `/proc/PID/stat`, Linux).
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
}

pub(crate) struct PhaseResult {
    ok: usize,
    errors: usize,
    latencies_us: Vec<u64>,
    elapsed: Duration,
    /// CPU time (µs) the server and this load generator used during the phase.
    cpu_us: (Option<u64>, Option<u64>),
}

/// CPU time (µs, user + system) a process has used so far: fields 14 and 15 of
/// `/proc/{pid}/stat`, in clock ticks (100 per second on Linux). `None` off Linux or when the
/// process is gone.
fn cpu_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ').skip(11);
    let (u, s): (u64, u64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    Some((u + s) * 10_000)
}

/// CPU use of the server (when `--server-pid` names it) and of this process.
fn cpu_now(server: Option<u32>) -> (Option<u64>, Option<u64>) {
    (server.and_then(|p| cpu_us(&p.to_string())), cpu_us("self"))
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
    let per_req = |us: Option<u64>| us.map(|us| us / (r.ok + r.errors).max(1) as u64);
    let (server_cpu, client_cpu) = (per_req(r.cpu_us.0), per_req(r.cpu_us.1));
    let v = json!({
        "server_cpu_us_per_request": server_cpu, "generator_cpu_us_per_request": client_cpu,
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
    if let Some(us) = server_cpu {
        println!("{:>15}  server CPU {us} µs/request", "");
    }
    v
}

/// The `host:port` of an `http://` base URL: the phases speak plain HTTP/1.1 to it.
pub(crate) fn authority(base: &str) -> Result<String> {
    let uri: http::Uri = base.parse().context("--url is not a URL")?;
    if uri.scheme_str() != Some("http") {
        bail!("--url must be http:// (the load phases speak plain HTTP/1.1)");
    }
    Ok(uri
        .authority()
        .context("--url has no host")?
        .as_str()
        .to_string())
}

/// One load-generator client: a keep-alive HTTP/1.1 connection on hyper's low-level client
/// (no pool, no redirect handling), reopened after an error. A pooled `reqwest` client cost the
/// generator 66–110 µs of CPU per request on the 2-core bench machine, CPU the server under test
/// then lacked (docs/benchmarks.md).
struct Conn {
    addr: String,
    host: http::HeaderValue,
    tx: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    async fn open(addr: &str) -> Result<SendRequest<Full<Bytes>>> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(tx)
    }

    /// Sends `req` and reads the whole answer: its status, or `None` on a transport error.
    async fn send(&mut self, mut req: http::Request<Full<Bytes>>) -> Option<u16> {
        req.headers_mut()
            .insert(http::header::HOST, self.host.clone());
        let mut tx = match self.tx.take() {
            Some(tx) => tx,
            None => Self::open(&self.addr).await.ok()?,
        };
        tx.ready().await.ok()?;
        let resp = tx.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await.ok()?;
        self.tx = Some(tx);
        Some(status)
    }
}

/// A request of a phase: method, path, headers and body, sent to the phase's server.
pub(crate) fn request(
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body))
        .unwrap_or_else(|_| http::Request::new(Full::new(Bytes::new())))
}

/// Runs `--concurrency` clients for `--seconds`, each on its own connection to `addr`, looping
/// `make(worker)` and counting an answer with status `expect` as ok. Latency is measured from
/// send to the last byte of the answer (building and signing the request is not timed).
pub(crate) async fn phase<F>(addr: &str, a: &BenchArgs, expect: u16, make: F) -> PhaseResult
where
    F: Fn(usize) -> http::Request<Full<Bytes>> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let host =
        http::HeaderValue::from_str(addr).unwrap_or(http::HeaderValue::from_static("localhost"));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let (start, cpu_before) = (Instant::now(), cpu_now(a.server_pid));
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let make = make.clone();
        let mut conn = Conn {
            addr: addr.to_string(),
            host: host.clone(),
            tx: None,
        };
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0usize, 0usize, Vec::with_capacity(4096));
            while Instant::now() < deadline {
                let req = make(w);
                let t = Instant::now();
                if conn.send(req).await == Some(expect) {
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
        cpu_us: (None, None),
    };
    for t in tasks {
        if let Ok((ok, e, l)) = t.await {
            r.ok += ok;
            r.errors += e;
            r.latencies_us.extend(l);
        }
    }
    r.elapsed = start.elapsed();
    let cpu_after = cpu_now(a.server_pid);
    let spent = |b: Option<u64>, e: Option<u64>| Some(e?.saturating_sub(b?));
    r.cpu_us = (
        spent(cpu_before.0, cpu_after.0),
        spent(cpu_before.1, cpu_after.1),
    );
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
    println!(
        "benchmark: {} clients, {} s per phase, product {product_id}",
        a.concurrency, a.seconds
    );
    let addr = authority(&base)?;
    let auth: Vec<String> = tokens.iter().map(|t| format!("Bearer {t}")).collect();
    let body =
        Bytes::from(json!({"items": [{"product_id": product_id, "quantity": 1}]}).to_string());
    let mut orders = phase(&addr, &a, 201, move |w| {
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth[w].as_str()),
        ];
        request(http::Method::POST, "/v1/orders", &headers, body.clone())
    })
    .await;
    let path = format!("/v1/products/{product_id}");
    let mut reads = phase(&addr, &a, 200, move |_| {
        request(http::Method::GET, &path, &[], Bytes::new())
    })
    .await;
    let out = json!({"place_order": report("place-order", &mut orders), "product_detail": report("product-detail", &mut reads)});
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phases_speak_plain_http_to_the_urls_host() {
        assert_eq!(
            authority("http://127.0.0.1:8096/").unwrap(),
            "127.0.0.1:8096"
        );
        assert_eq!(authority("http://localhost").unwrap(), "localhost");
        assert!(authority("https://127.0.0.1:8096").is_err());
        assert!(authority("not a url").is_err());
    }

    /// This process's own CPU time is read from `/proc` (Linux), and it grows with work done.
    #[test]
    fn cpu_time_is_read_from_proc() {
        let Some(before) = cpu_us("self") else {
            return; // not Linux
        };
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(60);
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_us("self").unwrap() > before);
        assert_eq!(cpu_us("0"), None, "no such process");
    }
}
