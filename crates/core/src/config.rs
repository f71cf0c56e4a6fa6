//! Configuration: defaults, then a TOML file, then `SUANPAN_*` environment variables (the key in
//! upper case with the prefix: `listen` ← `SUANPAN_LISTEN`), then command-line flags. Every key
//! is listed with its meaning in `docs/configuration.md`; keep the two in step.
//!
//! The core owns only its own keys ([`Config`]). Every system (and every mechanism with settings
//! of its own, such as a payment provider) declares a [`Section`]: a struct with defaults that
//! [`Settings::section`] reads from the same sources. A section is either *flat* (its keys sit at
//! the top of the file and are `SUANPAN_KEY` in the environment: how the shop's keys have always
//! been spelled) or *named* (`[mr]` table in the file, `SUANPAN_MR_KEY` in the environment: how
//! every new system spells its keys).

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
    /// Password logins allowed per account per minute (burst of the same size); `0`: no limit.
    pub login_attempts_per_account_per_minute: u32,
    /// Password logins allowed per client address per minute; `0`: no limit.
    pub login_attempts_per_ip_per_minute: u32,
    /// Period of the background jobs (timeouts, reconciliation, key purge), seconds.
    pub jobs_interval_secs: u64,
    /// Development only: run the built-in payment-provider simulators and point the provider
    /// settings at them when the merchant settings are empty.
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
    /// Group-commit writer lanes (connections writing groups at once) per writer on PostgreSQL
    /// and MySQL; SQLite always has one.
    pub writer_lanes: usize,
}

/// Environment values are typed by figment (`SUANPAN_WECHATPAY_MCHID=1230000109` arrives as a
/// number); string settings accept numbers and booleans as their text.
pub fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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
            login_attempts_per_account_per_minute: 10,
            login_attempts_per_ip_per_minute: 30,
            jobs_interval_secs: 10,
            dev_simulator: false,
            nats_url: String::new(),
            nats_stream: "SUANPAN_EVENTS".into(),
            nats_subject_prefix: "suanpan.events".into(),
            outbox_poll_ms: 500,
            writer_lanes: 4,
        }
    }
}

/// A group of settings owned by one system or mechanism, read by [`Settings::section`].
///
/// `NAME` is `""` for a flat section (keys at the top level, `SUANPAN_{KEY}`) or the section's
/// name (`[name]` table, `SUANPAN_{NAME}_{KEY}`). String fields should use
/// `#[serde(deserialize_with = "suanpan_core::config::lenient_string")]` so that numeric-looking
/// environment values stay strings.
pub trait Section:
    Serialize + serde::de::DeserializeOwned + Default + Clone + Send + Sync + 'static
{
    /// `""` (flat) or the section's table name, lower case.
    const NAME: &'static str;
}

impl Section for Config {
    const NAME: &'static str = "";
}

/// The environment variables that are not settings (test harness and the config file itself).
const NOT_SETTINGS: &[&str] = &["config", "test_database_url", "test_nats_url", "shared_dir"];

/// Every source of settings: the file (if any), the environment (unless built in code), and
/// sections set in code (tests, development defaults). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Settings {
    file: Option<String>,
    env: bool,
    overrides: std::collections::BTreeMap<&'static str, serde_json::Value>,
    /// The core's own settings (already read).
    pub core: Config,
}

impl Settings {
    /// Loads defaults ← `file` (if given, or `suanpan.toml` if present) ← environment.
    /// Errors are messages for the operator.
    pub fn load(file: Option<&str>) -> Result<Settings, String> {
        let file = match file {
            Some(f) if !std::path::Path::new(f).exists() => {
                return Err(format!("config file {f} does not exist"));
            }
            Some(f) => Some(f.to_string()),
            None if std::path::Path::new("suanpan.toml").exists() => Some("suanpan.toml".into()),
            None => None,
        };
        let mut s = Settings {
            file,
            env: true,
            overrides: Default::default(),
            core: Config::default(),
        };
        s.core = s.section::<Config>()?;
        Ok(s)
    }

    /// Settings given in code: `core` and every section's defaults, no file, no environment
    /// (tests; override sections with [`Settings::set`]).
    pub fn new(core: Config) -> Settings {
        Settings {
            file: None,
            env: false,
            overrides: Default::default(),
            core,
        }
    }

    /// Reads section `T`: its defaults ← the file ← the environment, or the value [`set`] in
    /// code. Errors name the bad key.
    ///
    /// [`set`]: Settings::set
    pub fn section<T: Section>(&self) -> Result<T, String> {
        if let Some(v) = self.overrides.get(std::any::type_name::<T>()) {
            return serde_json::from_value(v.clone())
                .map_err(|e| format!("invalid settings {}: {e}", std::any::type_name::<T>()));
        }
        let mut fig = Figment::from(Serialized::defaults(T::default()));
        let prefix = if T::NAME.is_empty() {
            "SUANPAN_".to_string()
        } else {
            format!("SUANPAN_{}_", T::NAME.to_ascii_uppercase())
        };
        if let Some(f) = &self.file {
            fig = match T::NAME {
                "" => fig.merge(Toml::file(f)),
                name => fig.merge(Figment::from(Toml::file(f)).focus(name)),
            };
        }
        if self.env {
            fig = fig.merge(Env::prefixed(&prefix).ignore(NOT_SETTINGS));
        }
        let what = match T::NAME {
            "" => "configuration".to_string(),
            n => format!("configuration section [{n}]"),
        };
        fig.extract().map_err(|e| format!("invalid {what}: {e}"))
    }

    /// Replaces section `T` with `value` (code wins over file and environment).
    pub fn set<T: Section>(&mut self, value: &T) {
        if let Ok(v) = serde_json::to_value(value) {
            self.overrides.insert(std::any::type_name::<T>(), v);
        }
        if let Some(core) = (value as &dyn std::any::Any).downcast_ref::<Config>() {
            self.core = core.clone();
        }
    }

    /// Changes section `T` in place.
    pub fn update<T: Section>(&mut self, f: impl FnOnce(&mut T)) -> Result<(), String> {
        let mut v = self.section::<T>()?;
        f(&mut v);
        self.set(&v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Named {
        #[serde(deserialize_with = "lenient_string")]
        key: String,
        rate: u32,
    }
    impl Section for Named {
        const NAME: &'static str = "mr";
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn numeric_looking_env_values_load_as_strings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SUANPAN_LOG_LEVEL", "1230000109");
            jail.set_env("SUANPAN_DB_MAX_CONNECTIONS", "4");
            let c = Settings::load(None).map_err(figment::Error::from)?.core;
            assert_eq!(c.log_level, "1230000109");
            assert_eq!(c.db_max_connections, 4);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn named_sections_read_their_table_and_prefixed_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "listen = \"0.0.0.0:1\"\n[mr]\nkey = \"from-file\"\nrate = 3\n",
            )?;
            jail.set_env("SUANPAN_MR_RATE", "9");
            let s = Settings::load(Some("s.toml")).map_err(figment::Error::from)?;
            assert_eq!(s.core.listen, "0.0.0.0:1");
            let n: Named = s.section().map_err(figment::Error::from)?;
            assert_eq!(
                n,
                Named {
                    key: "from-file".into(),
                    rate: 9
                }
            );
            Ok(())
        });
    }

    #[test]
    fn sections_set_in_code_win_and_core_follows() {
        let mut s = Settings::new(Config::default());
        assert_eq!(s.section::<Named>().unwrap(), Named::default());
        s.set(&Named {
            key: "k".into(),
            rate: 1,
        });
        assert_eq!(s.section::<Named>().unwrap().key, "k");
        s.update::<Config>(|c| c.listen = "x".into()).unwrap();
        assert_eq!(s.core.listen, "x");
    }
}
