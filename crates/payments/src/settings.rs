//! Settings of the payment providers: a flat section (the keys keep the names they have had
//! since the shop: `wechatpay_mchid`, `SUANPAN_WECHATPAY_MCHID`, …). Listed in
//! `docs/configuration.md`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use suanpan_core::CoreState;
use suanpan_core::config::{Config, Section, lenient_string};
use suanpan_core::wechat_login::WechatLoginSettings;

use crate::alipay::client::{AlipayClient, AlipayConfig};
use crate::flow::Payments;
use crate::provider::PaymentProvider;
use crate::wechatpay::client::apiv3_key_bytes;
use crate::wechatpay::{
    MerchantKey, PlatformKeys, WechatPayClient, WechatPayConfig, public_key_from_pem,
};

/// WeChat Pay API v3 merchant settings (the mini-program AppID is the WeChat login section's
/// `wechat_appid`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatPaySettings {
    /// Base of WeChat Pay API v3.
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_api_base: String,
    /// Merchant id (mchid).
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_mchid: String,
    /// Path to the merchant API private key PEM (`apiclient_key.pem`).
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_merchant_key: String,
    /// Serial number of the merchant API certificate.
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_merchant_serial: String,
    /// APIv3 key (32 bytes) for AEAD_AES_256_GCM.
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_apiv3_key: String,
    /// Path to the WeChat Pay platform public key PEM (or a platform certificate PEM).
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_platform_public_key: String,
    /// The platform key's id (`PUB_KEY_ID_…`) or the certificate serial.
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_platform_public_key_id: String,
    /// Notification URL given to WeChat Pay (payments and refunds); empty: the system's default
    /// under `public_base_url`.
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_notify_url: String,
    /// Accepted clock difference for WeChat Pay signatures, seconds.
    pub wechatpay_max_clock_skew_secs: i64,
}

impl Default for WechatPaySettings {
    fn default() -> Self {
        WechatPaySettings {
            wechatpay_api_base: "https://api.mch.weixin.qq.com".into(),
            wechatpay_mchid: String::new(),
            wechatpay_merchant_key: String::new(),
            wechatpay_merchant_serial: String::new(),
            wechatpay_apiv3_key: String::new(),
            wechatpay_platform_public_key: String::new(),
            wechatpay_platform_public_key_id: String::new(),
            wechatpay_notify_url: String::new(),
            wechatpay_max_clock_skew_secs: 300,
        }
    }
}

impl Section for WechatPaySettings {
    const NAME: &'static str = "";
}

impl WechatPaySettings {
    /// True when every merchant setting WeChat Pay needs is present.
    pub fn configured(&self) -> bool {
        !(self.wechatpay_mchid.is_empty()
            || self.wechatpay_merchant_key.is_empty()
            || self.wechatpay_merchant_serial.is_empty()
            || self.wechatpay_apiv3_key.is_empty()
            || self.wechatpay_platform_public_key.is_empty()
            || self.wechatpay_platform_public_key_id.is_empty())
    }
}

/// Alipay open-platform settings (RSA2). Keys keep the flat naming of the WeChat Pay ones:
/// `alipay_app_id`, `SUANPAN_ALIPAY_APP_ID`, ….
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AlipaySettings {
    /// Gateway URL (`https://openapi.alipay.com/gateway.do`; the sandbox's, or the local
    /// simulator's, for development).
    #[serde(deserialize_with = "lenient_string")]
    pub alipay_gateway: String,
    /// The application's `app_id`.
    #[serde(deserialize_with = "lenient_string")]
    pub alipay_app_id: String,
    /// Path to the application private key PEM (RSA2, PKCS#8 or PKCS#1).
    #[serde(deserialize_with = "lenient_string")]
    pub alipay_private_key: String,
    /// The Alipay public key (支付宝公钥) as the console shows it: base64 SPKI DER.
    #[serde(deserialize_with = "lenient_string")]
    pub alipay_public_key: String,
    /// Default `notify_url`; empty: only what each system sends with its own requests.
    #[serde(deserialize_with = "lenient_string")]
    pub alipay_notify_url: String,
}

impl Default for AlipaySettings {
    fn default() -> Self {
        AlipaySettings {
            alipay_gateway: crate::alipay::client::DEFAULT_GATEWAY.into(),
            alipay_app_id: String::new(),
            alipay_private_key: String::new(),
            alipay_public_key: String::new(),
            alipay_notify_url: String::new(),
        }
    }
}

impl Section for AlipaySettings {
    const NAME: &'static str = "";
}

impl AlipaySettings {
    /// True when the app id and both keys are given.
    pub fn configured(&self) -> bool {
        !(self.alipay_app_id.is_empty()
            || self.alipay_private_key.is_empty()
            || self.alipay_public_key.is_empty())
    }
}

/// Builds the Alipay client from its settings. Errors are messages for the operator.
pub fn alipay_client(cfg: &AlipaySettings) -> Result<AlipayClient, String> {
    let pem = std::fs::read_to_string(&cfg.alipay_private_key).map_err(|e| {
        format!(
            "cannot read alipay private key {}: {e}",
            cfg.alipay_private_key
        )
    })?;
    AlipayClient::new(AlipayConfig {
        gateway: cfg.alipay_gateway.clone(),
        app_id: cfg.alipay_app_id.clone(),
        merchant_key: MerchantKey::from_pem(&pem).map_err(|e| e.to_string())?,
        alipay_public_key_b64: cfg.alipay_public_key.trim().to_string(),
        notify_url: cfg.alipay_notify_url.clone(),
    })
    .map_err(|e| e.to_string())
}

/// Builds the WeChat Pay client from the merchant settings (the AppID is the WeChat login
/// section's; the notification URL defaults to `{public_base_url}/v1/payments/wechat/notify`,
/// which applies the payments and refunds of every system). Errors are messages for the
/// operator.
pub fn wechatpay_client(
    core: &Config,
    login: &WechatLoginSettings,
    cfg: &WechatPaySettings,
) -> Result<WechatPayClient, String> {
    let read = |p: &str, what: &str| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {what} {p}: {e}"))
    };
    let merchant_key = MerchantKey::from_pem(&read(&cfg.wechatpay_merchant_key, "merchant key")?)
        .map_err(|e| e.to_string())?;
    let mut keys = PlatformKeys::default();
    keys.insert(
        cfg.wechatpay_platform_public_key_id.clone(),
        public_key_from_pem(&read(
            &cfg.wechatpay_platform_public_key,
            "platform public key",
        )?)
        .map_err(|e| e.to_string())?,
    );
    let notify_url = if cfg.wechatpay_notify_url.is_empty() {
        format!(
            "{}/v1/payments/wechat/notify",
            core.public_base_url.trim_end_matches('/')
        )
    } else {
        cfg.wechatpay_notify_url.clone()
    };
    WechatPayClient::new(WechatPayConfig {
        api_base: cfg.wechatpay_api_base.clone(),
        appid: login.wechat_appid.clone(),
        mchid: cfg.wechatpay_mchid.clone(),
        merchant_serial: cfg.wechatpay_merchant_serial.clone(),
        merchant_key,
        apiv3_key: apiv3_key_bytes(&cfg.wechatpay_apiv3_key).map_err(|e| e.to_string())?,
        platform_keys: keys,
        notify_url,
        max_skew_secs: cfg.wechatpay_max_clock_skew_secs,
    })
    .map_err(|e| e.to_string())
}

/// The payment flow with every provider configured in `core`'s settings (WeChat Pay when its
/// merchant settings are given, Alipay when its app id and keys are). Errors are messages for
/// the operator.
pub fn payments_from_settings(core: &CoreState) -> Result<Payments, String> {
    let login: WechatLoginSettings = core.settings.section()?;
    let wechat: WechatPaySettings = core.settings.section()?;
    let alipay: AlipaySettings = core.settings.section()?;
    let mut providers: Vec<Arc<dyn PaymentProvider>> = Vec::new();
    if wechat.configured() {
        providers.push(Arc::new(wechatpay_client(&core.config, &login, &wechat)?));
    }
    if alipay.configured() {
        providers.push(Arc::new(alipay_client(&alipay)?));
    }
    Ok(Payments::new(core.db.clone(), providers))
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(clippy::result_large_err)]
    fn numeric_looking_env_values_load_as_strings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SUANPAN_WECHATPAY_MCHID", "1230000109");
            jail.set_env(
                "SUANPAN_WECHATPAY_APIV3_KEY",
                "12345678901234567890123456789012",
            );
            let s = suanpan_core::config::Settings::load(None).map_err(figment::Error::from)?;
            let w: super::WechatPaySettings = s.section().map_err(figment::Error::from)?;
            assert_eq!(w.wechatpay_mchid, "1230000109");
            assert_eq!(w.wechatpay_apiv3_key, "12345678901234567890123456789012");
            Ok(())
        });
    }
}
