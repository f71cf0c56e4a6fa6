//! The shop's settings: a flat section (`order_payment_timeout_secs`,
//! `SUANPAN_ORDER_PAYMENT_TIMEOUT_SECS`, …), listed in `docs/configuration.md`. The mini-program
//! login ([`WechatLoginSettings`]) and WeChat Pay ([`WechatPaySettings`]) sections are the
//! mechanisms' own; the shop reads them too.
//!
//! [`WechatLoginSettings`]: suanpan_core::wechat_login::WechatLoginSettings
//! [`WechatPaySettings`]: suanpan_payments::settings::WechatPaySettings

use serde::{Deserialize, Serialize};
use suanpan_core::config::Section;

/// Order rules of seed 001.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopSettings {
    /// Unpaid orders are cancelled this many seconds after creation.
    pub order_payment_timeout_secs: i64,
    /// Most lines in one order.
    pub order_max_lines: usize,
    /// Largest quantity of one line.
    pub order_max_quantity: i64,
}

impl Default for ShopSettings {
    fn default() -> Self {
        ShopSettings {
            order_payment_timeout_secs: 1800,
            order_max_lines: 50,
            order_max_quantity: 999,
        }
    }
}

impl Section for ShopSettings {
    const NAME: &'static str = "";
}
