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

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use suanpan_core::config::Config;
use suanpan_shop::ShopState;

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
        /// Role: admin, operator or finance.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut cfg = Config::load(cli.config.as_deref()).map_err(anyhow::Error::msg)?;
    if let Some(u) = &cli.database_url {
        cfg.database_url = u.clone();
    }
    Ok(cfg)
}

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    if cfg.log_format == "json" {
        let _ = b.json().flatten_event(true).try_init();
    } else {
        let _ = b.try_init();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let mut cfg = load_config(&cli)?;
    init_tracing(&cfg);
    match cli.cmd {
        Cmd::Serve { listen, demo } => {
            if let Some(l) = listen {
                cfg.listen = l;
            }
            serve(cfg, demo).await
        }
        Cmd::Migrate => {
            let s = suanpan_shop::app::build_state(cfg)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "database is at the latest schema ({} migrations)",
                suanpan_core::db::migrate::MIGRATIONS.len()
            );
            s.core.db.close().await;
            Ok(())
        }
        Cmd::Ledger {
            cmd: LedgerCmd::Verify,
        } => {
            let s = suanpan_shop::app::build_state(cfg)
                .await
                .map_err(anyhow::Error::msg)?;
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
            let s = suanpan_shop::app::build_state(cfg)
                .await
                .map_err(anyhow::Error::msg)?;
            let r = suanpan_shop::demo::load(&s)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "demo data: {} products added, admin {} (password {})",
                r.products,
                suanpan_shop::demo::DEMO_ADMIN,
                suanpan_shop::demo::DEMO_PASSWORD
            );
            Ok(())
        }
        Cmd::Admin {
            cmd:
                AdminCmd::Create {
                    username,
                    password,
                    role,
                },
        } => {
            let role = suanpan_core::auth::Role::parse(&role)
                .context("role must be admin, operator or finance")?;
            let s = suanpan_shop::app::build_state(cfg)
                .await
                .map_err(anyhow::Error::msg)?;
            let a = suanpan_core::auth::create_admin(&s.core.db, &username, &password, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created admin {} (id {}, role {})",
                a.username,
                a.id,
                role.as_str()
            );
            Ok(())
        }
        Cmd::Simulator { listen } => {
            let (sim, keys) = dev_simulator(&mut cfg)?;
            let l = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!(
                "DEVELOPMENT WeChat simulator on http://{listen}; merchant key {}, platform public key {} ({}), APIv3 key {}",
                keys.merchant_key_path,
                keys.platform_public_key_path,
                suanpan_payments::wechatpay::simulator::SIM_PUBLIC_KEY_ID,
                keys.apiv3_key
            );
            sim.serve(l).await?;
            Ok(())
        }
        Cmd::Schemas { out, check } => schemas(&out, check),
        Cmd::Bench(args) => bench::run(args).await,
    }
}

/// Development settings for the simulator: fills every empty WeChat setting.
fn dev_simulator(
    cfg: &mut Config,
) -> Result<(
    std::sync::Arc<suanpan_payments::wechatpay::simulator::Simulator>,
    suanpan_payments::wechatpay::simulator::DevKeys,
)> {
    use suanpan_payments::wechatpay::simulator::{
        SIM_PUBLIC_KEY_ID, Simulator, SimulatorConfig, dev_keys,
    };
    let keys = dev_keys(&std::path::Path::new(&cfg.data_dir).join("dev-wechatpay"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let fill = |v: &mut String, d: &str| {
        if v.is_empty() {
            *v = d.to_string();
        }
    };
    fill(&mut cfg.wechat_appid, "wx0000000000demo01");
    fill(&mut cfg.wechat_secret, "demo-app-secret");
    fill(&mut cfg.wechatpay_mchid, "1900000109");
    fill(
        &mut cfg.wechatpay_merchant_serial,
        "DEMO00000000000000000000000000000000SERIAL",
    );
    cfg.wechatpay_merchant_key = keys.merchant_key_path.clone();
    cfg.wechatpay_apiv3_key = keys.apiv3_key.clone();
    cfg.wechatpay_platform_public_key = keys.platform_public_key_path.clone();
    cfg.wechatpay_platform_public_key_id = SIM_PUBLIC_KEY_ID.into();
    let sim = Simulator::new(SimulatorConfig {
        appid: cfg.wechat_appid.clone(),
        mchid: cfg.wechatpay_mchid.clone(),
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
    Ok((sim, keys))
}

async fn serve(mut cfg: Config, demo: bool) -> Result<()> {
    let addr: SocketAddr = cfg
        .listen
        .parse()
        .with_context(|| format!("invalid listen address {}", cfg.listen))?;
    if cfg.public_base_url == Config::default().public_base_url {
        cfg.public_base_url = format!("http://{addr}");
    }
    let mut sim_task = None;
    if (demo || cfg.dev_simulator) && !cfg.wechatpay_configured() {
        let (sim, _) = dev_simulator(&mut cfg)?;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim_url = format!("http://{}", l.local_addr()?);
        cfg.wechat_api_base = sim_url.clone();
        cfg.wechatpay_api_base = sim_url.clone();
        tracing::warn!(simulator = %sim_url, "DEVELOPMENT MODE: WeChat and WeChat Pay are simulated; pay an order with POST {sim_url}/sim/pay/{{out_trade_no}}");
        sim_task = Some(tokio::spawn(async move { sim.serve(l).await }));
    }
    let state: ShopState = suanpan_shop::app::build_state(cfg.clone())
        .await
        .map_err(anyhow::Error::msg)?;
    if demo {
        let r = suanpan_shop::demo::load(&state)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(
            products = r.products,
            admin = suanpan_shop::demo::DEMO_ADMIN,
            password = suanpan_shop::demo::DEMO_PASSWORD,
            "demo data loaded"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let jobs = tokio::spawn(suanpan_shop::jobs::run(
        state.clone(),
        Duration::from_secs(cfg.jobs_interval_secs.max(1)),
        stopped(stop_rx.clone()),
    ));
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
    let app = suanpan_shop::app::router(state.clone()).merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .url("/docs/openapi.json", suanpan_shop::app::openapi()),
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
    if let Some(r) = relay {
        let _ = r.await;
    }
    if let Some(t) = sim_task {
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
