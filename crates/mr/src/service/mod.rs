//! MR's workflows; each is one unit of work.

pub mod abuse;
pub mod authorize;
pub mod invoices;
pub mod operators;
pub mod recharge;
pub mod refunds;
pub mod reports;

pub use authorize::{Charge, Charged};

/// `{prefix}_{yyyymmdd}_{8}` (day in Asia/Shanghai, 8 lowercase letters or digits): the public
/// ids of recharge orders (also their `out_trade_no`, 30 characters), refunds, invoices and
/// reports.
pub fn dated_id(prefix: &str, now_ms: i64) -> String {
    let day = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&suanpan_core::time::china())
        .format("%Y%m%d");
    let tail = suanpan_core::ids::random_alnum(8).to_ascii_lowercase();
    format!("{prefix}_{day}_{tail}")
}
