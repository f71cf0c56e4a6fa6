//! Identifiers that leave the system: order numbers, nonces, event ids.

use rand::Rng;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A random string of `len` characters from `[A-Z0-9]`, from the OS CSPRNG.
pub fn random_alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// A business number: `prefix` + `yyyyMMddHHmmss` (UTC+08:00) + a 6-digit per-process
/// sequence + 6 random digits, e.g. `S20261121153045` + `000042` + `839212` (27 characters with a
/// one-letter prefix: inside WeChat Pay's `out_trade_no` limit of 6–32 `[0-9A-Za-z_-|*]`).
/// Within a process numbers never repeat below a million per second; across processes the
/// random part makes a clash negligible, and a unique index rejects one anyway.
pub fn business_no(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now().with_timezone(&crate::time::china());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let r: u32 = rand::rng().random_range(0..1_000_000);
    format!("{prefix}{}{seq:06}{r:06}", now.format("%Y%m%d%H%M%S"))
}

/// A random UUID-v4-shaped event id (lower-case hex, hyphenated).
pub fn event_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn business_numbers_fit_out_trade_no() {
        let n = super::business_no("S");
        assert_eq!(n.len(), 27);
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric()));
        let many: std::collections::HashSet<String> =
            (0..100_000).map(|_| super::business_no("S")).collect();
        assert_eq!(many.len(), 100_000, "no repeats within a process");
    }
}
