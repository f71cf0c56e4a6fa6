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

/// A business number: `prefix` + `yyyyMMddHHmmss` (UTC+08:00) + 8 random digits, e.g.
/// `S20261121153045` + `04839212`. 23 characters with a one-letter prefix: inside WeChat Pay's
/// `out_trade_no` limit (6–32 of `[0-9A-Za-z_-|*]`). Uniqueness is enforced by a unique index; with
/// 10^8 values per second the chance of a collision is negligible and a collision fails the insert.
pub fn business_no(prefix: &str) -> String {
    let now = chrono::Utc::now().with_timezone(&crate::time::china());
    let n: u32 = rand::rng().random_range(0..100_000_000);
    format!("{prefix}{}{n:08}", now.format("%Y%m%d%H%M%S"))
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
        assert_eq!(n.len(), 23);
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(super::business_no("S"), super::business_no("S"));
    }
}
