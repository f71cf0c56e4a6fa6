//! Configuration: defaults, then a TOML file, then `SUANPAN_*` environment variables (the key in
//! upper case with the prefix: `listen` ← `SUANPAN_LISTEN`), then command-line flags. Every key
//! is listed with its meaning in `docs/configuration.md`; keep the two in step.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// All settings. Field names are the config-file keys; `SUANPAN_` + upper case is the env var.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server binds.
    #[serde(deserialize_with = "lenient_string")]
    pub listen: String,
    /// `sqlite://path`, `postgres://…` or `mysql://…`.
    #[serde(deserialize_with = "lenient_string")]
    pub database_url: String,
    /// Directory for the SQLite file, uploads, generated secrets and development keys.
    #[serde(deserialize_with = "lenient_string")]
    pub data_dir: String,
    /// Connection pool size (on SQLite: readers, at most twice the CPU cores, plus one writer).
    pub db_max_connections: u32,
    /// SQLite `synchronous`: `FULL` (fsync every commit) or `NORMAL` (survives process crashes).
    #[serde(deserialize_with = "lenient_string")]
    pub sqlite_synchronous: String,
    /// `text` or `json` logs.
    #[serde(deserialize_with = "lenient_string")]
    pub log_format: String,
    /// tracing filter, e.g. `info,sqlx=warn`.
    #[serde(deserialize_with = "lenient_string")]
    pub log_level: String,
    /// HMAC key for JWTs; empty: generated once and kept in `{data_dir}/jwt.secret`.
    #[serde(deserialize_with = "lenient_string")]
    pub jwt_secret: String,
    /// Access token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_ttl_secs: i64,
    /// Base URL clients reach this server at (for upload URLs).
    #[serde(deserialize_with = "lenient_string")]
    pub public_base_url: String,
    /// Largest accepted JSON body, bytes.
    pub max_body_bytes: usize,
    /// Largest accepted image upload, bytes.
    pub upload_max_bytes: usize,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy_headers: bool,
    /// Unpaid orders are cancelled this many seconds after creation.
    pub order_payment_timeout_secs: i64,
    /// Most lines in one order.
    pub order_max_lines: usize,
    /// Largest quantity of one line.
    pub order_max_quantity: i64,
    /// Period of the background jobs (timeouts, reconciliation, key purge), seconds.
    pub jobs_interval_secs: u64,
    /// Mini-program AppID.
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_appid: String,
    /// Mini-program AppSecret.
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_secret: String,
    /// Base of the WeChat API (`jscode2session`).
    #[serde(deserialize_with = "lenient_string")]
    pub wechat_api_base: String,
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
    /// Notification URL given to WeChat Pay (payments and refunds).
    #[serde(deserialize_with = "lenient_string")]
    pub wechatpay_notify_url: String,
    /// Accepted clock difference for WeChat Pay signatures, seconds.
    pub wechatpay_max_clock_skew_secs: i64,
    /// Development only: run the built-in WeChat simulator and point the WeChat bases at it
    /// when the merchant settings are empty.
    pub dev_simulator: bool,
    /// NATS URL for the outbox relay; empty disables the relay (events stay in the outbox).
    #[serde(deserialize_with = "lenient_string")]
    pub nats_url: String,
    /// JetStream stream name.
    #[serde(deserialize_with = "lenient_string")]
    pub nats_stream: String,
    /// Subject prefix; events go to `{prefix}.{event_type}`.
    #[serde(deserialize_with = "lenient_string")]
    pub nats_subject_prefix: String,
    /// Outbox poll interval when idle, milliseconds.
    pub outbox_poll_ms: u64,
}

/// Environment values are typed by figment (`SUANPAN_WECHATPAY_MCHID=1230000109` arrives as a
/// number); string settings accept numbers and booleans as their text.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }
    Ok(match Any::deserialize(d)? {
        Any::S(s) => s,
        Any::I(i) => i.to_string(),
        Any::U(u) => u.to_string(),
        Any::F(f) => f.to_string(),
        Any::B(b) => b.to_string(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/suanpan.db".into(),
            data_dir: "data".into(),
            db_max_connections: 16,
            sqlite_synchronous: "FULL".into(),
            log_format: "text".into(),
            log_level: "info,sqlx=warn".into(),
            jwt_secret: String::new(),
            access_token_ttl_secs: 2 * 3600,
            refresh_token_ttl_secs: 30 * 86400,
            public_base_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            upload_max_bytes: 5 << 20,
            trust_proxy_headers: false,
            order_payment_timeout_secs: 1800,
            order_max_lines: 50,
            order_max_quantity: 999,
            jobs_interval_secs: 10,
            wechat_appid: String::new(),
            wechat_secret: String::new(),
            wechat_api_base: "https://api.weixin.qq.com".into(),
            wechatpay_api_base: "https://api.mch.weixin.qq.com".into(),
            wechatpay_mchid: String::new(),
            wechatpay_merchant_key: String::new(),
            wechatpay_merchant_serial: String::new(),
            wechatpay_apiv3_key: String::new(),
            wechatpay_platform_public_key: String::new(),
            wechatpay_platform_public_key_id: String::new(),
            wechatpay_notify_url: String::new(),
            wechatpay_max_clock_skew_secs: 300,
            dev_simulator: false,
            nats_url: String::new(),
            nats_stream: "SUANPAN_EVENTS".into(),
            nats_subject_prefix: "suanpan.events".into(),
            outbox_poll_ms: 500,
        }
    }
}

impl Config {
    /// Loads defaults ← `file` (if given, or `suanpan.toml` if present) ← environment.
    pub fn load(file: Option<&str>) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !std::path::Path::new(f).exists() {
                    return Err(format!("config file {f} does not exist"));
                }
                fig = fig.merge(Toml::file(f));
            }
            None if std::path::Path::new("suanpan.toml").exists() => {
                fig = fig.merge(Toml::file("suanpan.toml"))
            }
            None => {}
        }
        fig = fig.merge(Env::prefixed("SUANPAN_").ignore(&[
            "config",
            "test_database_url",
            "test_nats_url",
        ]));
        fig.extract()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    /// True when every merchant setting WeChat Pay needs is present.
    pub fn wechatpay_configured(&self) -> bool {
        !(self.wechatpay_mchid.is_empty()
            || self.wechatpay_merchant_key.is_empty()
            || self.wechatpay_merchant_serial.is_empty()
            || self.wechatpay_apiv3_key.is_empty()
            || self.wechatpay_platform_public_key.is_empty()
            || self.wechatpay_platform_public_key_id.is_empty())
    }
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
            jail.set_env("SUANPAN_DB_MAX_CONNECTIONS", "4");
            let c = super::Config::load(None).map_err(figment::Error::from)?;
            assert_eq!(c.wechatpay_mchid, "1230000109");
            assert_eq!(c.wechatpay_apiv3_key, "12345678901234567890123456789012");
            assert_eq!(c.db_max_connections, 4);
            Ok(())
        });
    }
}
