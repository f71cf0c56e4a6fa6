//! `suanpan`: one binary for every Suanpan system.
//!
//! ```text
//! suanpan serve [--listen ADDR] [--database-url URL] [--demo]   run the server (migrates first)
//! suanpan migrate                                                apply database migrations
//! suanpan ledger verify                                          check every ledger invariant (exit 1 if broken)
//! suanpan demo                                                   load demo data
//! suanpan admin create USERNAME --password P [--role ROLE]       create an admin
//! suanpan simulator --listen ADDR                                run the WeChat simulator alone (development)
//! suanpan schemas [--out docs]                                   write OpenAPI and event JSON Schemas
//! suanpan bench --url URL [--concurrency 64] [--seconds 10]      load test a running server
//! ```

mod bench;
mod bench_mr;
mod dev_alipay;

/// The binary's allocator: mimalloc (measured on the request paths, where glibc's malloc and
/// free were about a tenth of the server's CPU; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use suanpan_core::CoreState;
use suanpan_core::config::{Config, Settings};
use suanpan_core::db::migrate::Migration;
use suanpan_core::wechat_login::WechatLoginSettings;
use suanpan_payments::settings::WechatPaySettings;
use suanpan_shop::ShopState;

/// Every system's migrations, with the core's: the binary opens one database for all systems.
const MIGRATIONS: &[&[Migration]] = &[
    suanpan_core::db::migrate::MIGRATIONS,
    suanpan_payments::MIGRATIONS,
    suanpan_shop::MIGRATIONS,
    suanpan_mr::MIGRATIONS,
];

#[derive(Parser)]
#[command(
    name = "suanpan",
    version,
    about = "Suanpan (算盘): backends for Chinese small businesses"
)]
struct Cli {
    /// Config file (TOML); default `suanpan.toml` if present.
    #[arg(long, global = true, env = "SUANPAN_CONFIG")]
    config: Option<String>,
    /// Database URL: sqlite://PATH, postgres://…, mysql://… (overrides config and SUANPAN_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the HTTP server (migrates the database first).
    Serve {
        /// Listen address (overrides config and SUANPAN_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// Development: load demo data and, unless WeChat Pay is configured, run the built-in WeChat simulator.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// Load demo data (idempotent).
    Demo,
    /// Ledger tools.
    Ledger {
        #[command(subcommand)]
        cmd: LedgerCmd,
    },
    /// Manage admins.
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Run the WeChat / WeChat Pay simulator alone (development tool).
    Simulator {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9180")]
        listen: String,
    },
    /// Write docs/openapi.json and docs/events/*.json from the code.
    Schemas {
        /// Output directory.
        #[arg(long, default_value = "docs")]
        out: String,
        /// Only check that the files are up to date (exit 1 if not).
        #[arg(long)]
        check: bool,
    },
    /// Load-test a running server (see docs/benchmarks.md).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum LedgerCmd {
    /// Check every invariant of the ledger (docs/ledger.md); print the report, exit 1 on a violation.
    Verify,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create an admin.
    Create {
        /// Username.
        username: String,
        /// Password (8+ characters).
        #[arg(long)]
        password: String,
        /// Role: in the shop admin, operator or finance; other systems name their own roles.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The system the role is for (`shop`, …); without it the role holds in every system.
        #[arg(long)]
        system: Option<String>,
    },
}

fn load_settings(cli: &Cli) -> Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    if let Some(u) = &cli.database_url {
        s.update::<Config>(|c| c.database_url = u.clone())
            .map_err(anyhow::Error::msg)?;
    }
    Ok(s)
}

/// Opens the database (migrating every system) and builds the shop's state.
async fn open(settings: Settings) -> Result<ShopState> {
    Ok(open_all(settings).await?.0)
}

/// Opens the database (migrating every system) and builds every system's state.
async fn open_all(settings: Settings) -> Result<(ShopState, suanpan_mr::MrState)> {
    let core = CoreState::open(settings, MIGRATIONS)
        .await
        .map_err(anyhow::Error::msg)?;
    let payments =
        suanpan_payments::settings::payments_from_settings(&core).map_err(anyhow::Error::msg)?;
    let mr = suanpan_mr::app::build_state(core.clone(), payments.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    let shop = suanpan_shop::app::build_state(core, payments)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((shop, mr))
}

/// Loads MR's demo and logs how to sign an authorize request with it.
async fn load_mr_demo(mr: &suanpan_mr::MrState) -> Result<()> {
    let loaded = suanpan_mr::demo::load(mr)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some((operator, site, key)) = loaded {
        tracing::warn!(
            operator,
            site,
            api_key = %key,
            "MR demo loaded: operator demo_venue with a balance of 1000.00, apps appspace01 and appzombie01; this DEVELOPMENT API key is shown once (README: sign an authorize request)"
        );
    }
    Ok(())
}

/// Installs the log subscriber (colours only on a terminal: a log file gets plain text). Lines
/// are formatted on the request's thread and written to
/// stdout by a thread of their own through a 64 KiB buffer, flushed whenever no line waits (one
/// write for a burst instead of one per line; every line kept: a full queue makes the logger
/// wait, never drop). The guard flushes what is left when it is dropped at exit.
fn init_tracing(cfg: &Config) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(out);
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    if cfg.log_format == "json" {
        let _ = b.json().flatten_event(true).try_init();
    } else {
        let _ = b.try_init();
    }
    guard
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let mut settings = load_settings(&cli)?;
    let _log = init_tracing(&settings.core);
    match cli.cmd {
        Cmd::Serve { listen, demo } => {
            if let Some(l) = listen {
                settings
                    .update::<Config>(|c| c.listen = l)
                    .map_err(anyhow::Error::msg)?;
            }
            serve(settings, demo).await
        }
        Cmd::Migrate => {
            let s = open(settings).await?;
            println!(
                "database is at the latest schema ({} migrations)",
                MIGRATIONS.iter().map(|m| m.len()).sum::<usize>()
            );
            s.core.db.close().await;
            Ok(())
        }
        Cmd::Ledger {
            cmd: LedgerCmd::Verify,
        } => {
            let s = open(settings).await?;
            let report = suanpan_core::ledger::verify_db(&s.core.db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            s.core.db.close().await;
            print!("{report}");
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Demo => {
            let (s, mr) = open_all(settings).await?;
            load_mr_demo(&mr).await?;
            let r = suanpan_shop::demo::load(&s)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "demo data: {} products added, admin {} (password as documented in README.md)",
                r.products,
                suanpan_shop::demo::DEMO_ADMIN,
            );
            Ok(())
        }
        Cmd::Admin {
            cmd:
                AdminCmd::Create {
                    username,
                    password,
                    role,
                    system,
                },
        } => {
            let system = system.unwrap_or_else(|| suanpan_core::auth::ANY_SYSTEM.to_string());
            check_role(&system, &role)?;
            let s = open(settings).await?;
            let a = suanpan_core::auth::create_staff(
                &s.core.db, &username, &password, &system, &role, None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created admin {} (id {}, role {role} in {system})",
                a.username, a.id
            );
            Ok(())
        }
        Cmd::Simulator { listen } => {
            let (sim, keys) = dev_simulator(&mut settings)?;
            let l = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "DEVELOPMENT WeChat simulator on http://{listen}; merchant key {}, platform public key {} ({}), APIv3 key in {}",
                keys.merchant_key_path,
                keys.platform_public_key_path,
                suanpan_payments::wechatpay::simulator::SIM_PUBLIC_KEY_ID,
                std::path::Path::new(&settings.core.data_dir)
                    .join("dev-wechatpay")
                    .join("apiv3_key.txt")
                    .display()
            );
            sim.serve(l).await?;
            Ok(())
        }
        Cmd::Schemas { out, check } => schemas(&out, check),
        Cmd::Bench(args) => bench::run(args).await,
    }
}

/// The roles each system knows, so that `admin create` refuses a typo before writing.
fn check_role(system: &str, role: &str) -> Result<()> {
    let shop_ok = suanpan_shop::auth::Role::parse(role).is_some();
    let mr_ok = suanpan_mr::auth::Role::parse(role).is_some();
    match system {
        suanpan_core::auth::ANY_SYSTEM if shop_ok || mr_ok => Ok(()),
        suanpan_shop::auth::SYSTEM if shop_ok => Ok(()),
        suanpan_mr::SYSTEM if mr_ok => Ok(()),
        suanpan_core::auth::ANY_SYSTEM | suanpan_shop::auth::SYSTEM | suanpan_mr::SYSTEM => {
            bail!(
                "unknown role {role:?}: the shop has admin, operator and finance; mr has admin and finance"
            )
        }
        other => bail!("unknown system {other:?} (known: shop, mr)"),
    }
}

/// Development settings for the simulator: fills every empty WeChat setting.
fn dev_simulator(
    settings: &mut Settings,
) -> Result<(
    std::sync::Arc<suanpan_payments::wechatpay::simulator::Simulator>,
    suanpan_payments::wechatpay::simulator::DevKeys,
)> {
    use suanpan_payments::wechatpay::simulator::{
        SIM_PUBLIC_KEY_ID, Simulator, SimulatorConfig, dev_keys,
    };
    let dir = std::path::Path::new(&settings.core.data_dir).join("dev-wechatpay");
    let keys = dev_keys(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Keys written by older versions were world-readable.
    for f in [
        "merchant_key.pem",
        "simulator_platform_key.pem",
        "apiv3_key.txt",
    ] {
        suanpan_core::secrets::restrict(&dir.join(f))
            .with_context(|| format!("cannot restrict {}", dir.join(f).display()))?;
    }
    let fill = |v: &mut String, d: &str| {
        if v.is_empty() {
            *v = d.to_string();
        }
    };
    let mut login: WechatLoginSettings = settings.section().map_err(anyhow::Error::msg)?;
    let mut pay: WechatPaySettings = settings.section().map_err(anyhow::Error::msg)?;
    fill(&mut login.wechat_appid, "wx0000000000demo01");
    fill(&mut login.wechat_secret, "demo-app-secret");
    fill(&mut pay.wechatpay_mchid, "1900000109");
    fill(
        &mut pay.wechatpay_merchant_serial,
        "DEMO00000000000000000000000000000000SERIAL",
    );
    pay.wechatpay_merchant_key = keys.merchant_key_path.clone();
    pay.wechatpay_apiv3_key = keys.apiv3_key.clone();
    pay.wechatpay_platform_public_key = keys.platform_public_key_path.clone();
    pay.wechatpay_platform_public_key_id = SIM_PUBLIC_KEY_ID.into();
    let sim = Simulator::new(SimulatorConfig {
        appid: login.wechat_appid.clone(),
        mchid: pay.wechatpay_mchid.clone(),
        apiv3_key: keys.apiv3_key.as_bytes().to_vec(),
        merchant_public_key_der: keys.merchant_key.public_key_der(),
        platform_key: suanpan_payments::wechatpay::MerchantKey::from_pem(
            &keys
                .platform_key
                .to_pkcs8_pem()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?,
        platform_key_id: SIM_PUBLIC_KEY_ID.into(),
    });
    settings.set(&login);
    settings.set(&pay);
    Ok((sim, keys))
}

async fn serve(mut settings: Settings, demo: bool) -> Result<()> {
    // Before any request, so that every request counts, not only those after the first scrape.
    suanpan_core::http::layers::install_metrics();
    let addr: SocketAddr = settings
        .core
        .listen
        .parse()
        .with_context(|| format!("invalid listen address {}", settings.core.listen))?;
    if settings.core.public_base_url == Config::default().public_base_url {
        settings
            .update::<Config>(|c| c.public_base_url = format!("http://{addr}"))
            .map_err(anyhow::Error::msg)?;
    }
    let pay: WechatPaySettings = settings.section().map_err(anyhow::Error::msg)?;
    let mut sim_task = None;
    if (demo || settings.core.dev_simulator) && !pay.configured() {
        let (sim, _) = dev_simulator(&mut settings)?;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim_url = format!("http://{}", l.local_addr()?);
        settings
            .update::<WechatLoginSettings>(|c| c.wechat_api_base = sim_url.clone())
            .map_err(anyhow::Error::msg)?;
        settings
            .update::<WechatPaySettings>(|c| c.wechatpay_api_base = sim_url.clone())
            .map_err(anyhow::Error::msg)?;
        tracing::warn!(simulator = %sim_url, "DEVELOPMENT MODE: WeChat and WeChat Pay are simulated; pay an order with POST {sim_url}/sim/pay/{{out_trade_no}}");
        sim_task = Some(tokio::spawn(async move { sim.serve(l).await }));
    }
    let alipay_sim = match demo || settings.core.dev_simulator {
        true => dev_alipay::start(&mut settings).await?,
        false => None,
    };
    let cfg = settings.core.clone();
    let (state, mr) = open_all(settings).await?;
    if demo {
        load_mr_demo(&mr).await?;
        let r = suanpan_shop::demo::load(&state)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(
            products = r.products,
            admin = suanpan_shop::demo::DEMO_ADMIN,
            "demo data loaded; the demo admin's password is documented in README.md"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let interval = Duration::from_secs(cfg.jobs_interval_secs.max(1));
    let jobs = tokio::spawn(suanpan_shop::jobs::run(
        state.clone(),
        interval,
        stopped(stop_rx.clone()),
    ));
    let housekeeping = {
        let (core, stop) = (state.core.clone(), stopped(stop_rx.clone()));
        let payments = state.payments.clone();
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                core.housekeeping().await;
                // The one reconciliation job of every system's payments: unpaid trades older
                // than a minute are queried, pending refunds older than 5 s (re)submitted.
                if let Err(e) = payments.reconcile(60_000, 5_000).await {
                    tracing::warn!(error = %e, "payment reconciliation failed");
                }
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(interval) => {}
                }
            }
        })
    };
    let relay = if cfg.nats_url.is_empty() {
        tracing::info!("nats_url is empty: events stay in the outbox until a relay is configured");
        None
    } else {
        // NATS being down must not stop the shop: events wait in the outbox and the relay keeps
        // trying to connect, backing off up to 30 s.
        let (db, c, stop) = (state.core.db.clone(), cfg.clone(), stopped(stop_rx.clone()));
        Some(tokio::spawn(async move {
            tokio::pin!(stop);
            let mut wait = Duration::from_millis(500);
            let publisher = loop {
                match suanpan_core::outbox::JetStreamPublisher::connect(
                    &c.nats_url,
                    &c.nats_stream,
                    &c.nats_subject_prefix,
                )
                .await
                {
                    Ok(p) => break p,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "outbox relay cannot reach NATS")
                    }
                }
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            };
            tracing::info!(stream = %c.nats_stream, "outbox relay connected to NATS JetStream");
            suanpan_core::outbox::Relay::new(db, publisher, c.nats_subject_prefix.clone())
                .run(Duration::from_millis(c.outbox_poll_ms.max(10)), stop)
                .await;
        }))
    };
    let app = suanpan_core::http::assemble::assemble(
        &state.core,
        [
            suanpan_shop::app::routes(state.clone()),
            suanpan_mr::app::routes(mr.clone()),
        ],
    )
    .merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .url("/docs/openapi.json", suanpan_shop::app::openapi())
            .url("/docs/mr/openapi.json", suanpan_mr::app::openapi()),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, database = %suanpan_core::db::redact(&cfg.database_url), "serving; API docs at /docs");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    })
    .await?;
    let _ = stop_tx.send(true);
    let _ = jobs.await;
    let _ = housekeeping.await;
    if let Some(r) = relay {
        let _ = r.await;
    }
    for t in [sim_task, alipay_sim].into_iter().flatten() {
        t.abort();
    }
    state.core.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn schemas(out: &str, check: bool) -> Result<()> {
    let mut files: Vec<(String, String)> = Vec::new();
    let doc = suanpan_shop::app::openapi();
    files.push((
        format!("{out}/openapi.json"),
        format!("{}\n", serde_json::to_string_pretty(&doc)?),
    ));
    files.push((
        format!("{out}/mr/openapi.json"),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&suanpan_mr::app::openapi())?
        ),
    ));
    for (name, schema) in suanpan_shop::events::schemas() {
        files.push((
            format!("{out}/events/{name}.json"),
            format!("{}\n", serde_json::to_string_pretty(&schema)?),
        ));
    }
    let mut stale = Vec::new();
    for (path, text) in &files {
        if check {
            if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.clone());
            }
        } else {
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, text)?;
            println!("wrote {path}");
        }
    }
    if !stale.is_empty() {
        bail!("out of date (run `suanpan schemas`): {}", stale.join(", "));
    }
    Ok(())
}
