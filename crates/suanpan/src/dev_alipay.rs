//! `serve --demo` (or `dev_simulator = true`) without Alipay settings: the development Alipay
//! simulator (`suanpan_payments::alipay::simulator`, a fake of the gateway, never for
//! production) on a local port, and the Alipay settings pointed at it, with an application key
//! and a simulator key kept in `data_dir/dev-alipay/` (0600). An MR recharge by Alipay is then
//! paid with `POST {simulator}/sim/pay/{order_id}`, which posts the signed notification.

use std::path::Path;

use anyhow::{Context, Result};
use suanpan_core::config::Settings;
use suanpan_payments::alipay::simulator::{AlipaySimulator, AlipaySimulatorConfig};
use suanpan_payments::settings::AlipaySettings;
use suanpan_payments::wechatpay::MerchantKey;

/// The development app id.
const DEV_APP_ID: &str = "2021000000000001";

/// A PEM key kept at `path`, made on first use.
fn key_at(path: &Path) -> Result<(MerchantKey, String)> {
    let pem = match std::fs::read_to_string(path) {
        Ok(p) => p,
        Err(_) => {
            let pem = MerchantKey::generate()
                .and_then(|k| k.to_pkcs8_pem())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(path, &pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
            pem
        }
    };
    suanpan_core::secrets::restrict(path)
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    let key = MerchantKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((key, path.to_string_lossy().into_owned()))
}

/// Starts the simulator when Alipay is not configured and points the settings at it; returns
/// its task.
pub async fn start(
    settings: &mut Settings,
) -> Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let current: AlipaySettings = settings.section().map_err(anyhow::Error::msg)?;
    if current.configured() {
        return Ok(None);
    }
    let dir = Path::new(&settings.core.data_dir).join("dev-alipay");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (app_key, app_key_path) = key_at(&dir.join("app_key.pem"))?;
    let (alipay_key, _) = key_at(&dir.join("simulator_alipay_key.pem"))?;
    let sim = AlipaySimulator::new(AlipaySimulatorConfig {
        app_id: DEV_APP_ID.into(),
        merchant_public_key_der: app_key.public_key_der(),
        alipay_key,
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    settings.set(&AlipaySettings {
        alipay_gateway: format!("{url}/gateway.do"),
        alipay_app_id: DEV_APP_ID.into(),
        alipay_private_key: app_key_path,
        alipay_public_key: sim
            .alipay_public_key_b64()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        alipay_notify_url: String::new(),
    });
    tracing::warn!(simulator = %url, "DEVELOPMENT MODE: Alipay is simulated; pay a recharge with POST {url}/sim/pay/{{order_id}}");
    Ok(Some(tokio::spawn(async move { sim.serve(l).await })))
}
