//! MR's settings: the `[mr]` section, variables `SUANPAN_MR_<KEY>` (listed in
//! `docs/configuration.md`).

use serde::{Deserialize, Serialize};
use suanpan_core::config::Section;

/// Settings of seed 004's licensing platform.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MrSettings {
    /// Key that seals API keys at rest (FR-054): 32 bytes as 64 hex digits. Empty: a key is
    /// created in `data_dir/mr_api_key_seal.key` (mode 0600) on first start.
    pub api_key_seal_key: String,
    /// `X-Timestamp` window in seconds (contract: 300).
    pub signature_window_secs: i64,
    /// Most authorization requests per operator per minute (FR-055: 10).
    pub rate_limit_per_operator_per_min: u32,
    /// Most authorization requests per client address per minute (FR-055: 100).
    pub rate_limit_per_ip_per_min: u32,
    /// `on` (default) or `off`: the authorization rate limits (issue #6;
    /// `SUANPAN_MR_RATE_LIMITS=off` for load tests).
    #[serde(deserialize_with = "suanpan_core::config::lenient_string")]
    pub rate_limits: String,
    /// FR-056 rule 1: failed authorizations (400, 401, 403) from one address within five
    /// minutes beyond which its operators are locked (20).
    pub abuse_failures_per_5min: u32,
    /// FR-056 rule 2: different valid API keys from one address within a minute beyond which
    /// their operators are locked (5).
    pub abuse_keys_per_min: u32,
    /// The seller printed on invoices (销售方名称).
    pub invoice_seller_name: String,
    /// The seller's taxpayer id printed on invoices (销售方纳税人识别号); empty: left out.
    #[serde(deserialize_with = "suanpan_core::config::lenient_string")]
    pub invoice_seller_tax_id: String,
}

impl Default for MrSettings {
    fn default() -> Self {
        MrSettings {
            api_key_seal_key: String::new(),
            signature_window_secs: crate::domain::TIMESTAMP_WINDOW_SECS,
            rate_limit_per_operator_per_min: 10,
            rate_limit_per_ip_per_min: 100,
            rate_limits: "on".into(),
            abuse_failures_per_5min: 20,
            abuse_keys_per_min: 5,
            invoice_seller_name: "算盘MR授权平台".into(),
            invoice_seller_tax_id: String::new(),
        }
    }
}

impl Section for MrSettings {
    const NAME: &'static str = "mr";
}

impl MrSettings {
    /// False when `rate_limits` is `off` (any case).
    pub fn rate_limits_on(&self) -> bool {
        !self.rate_limits.trim().eq_ignore_ascii_case("off")
    }
}
