//! Exact conversions between integer fen (inside) and yuan strings with two decimals (Alipay's
//! wire form, e.g. `total_amount` `"10.00"`). No floating point anywhere.

use crate::PayError;

/// Fen → yuan string with exactly two decimals: `1000` → `"10.00"`, `5` → `"0.05"`.
/// Errors: [`PayError::Amount`] for negative amounts.
pub fn fen_to_yuan(fen: i64) -> Result<String, PayError> {
    if fen < 0 {
        return Err(PayError::Amount(format!("negative amount {fen} fen")));
    }
    Ok(format!("{}.{:02}", fen / 100, fen % 100))
}

/// Yuan string → fen: `"10.00"` → `1000`, `"0.1"` → `10`, `"7"` → `700`. Accepts at most two
/// decimals, digits only, no sign. Errors: [`PayError::Amount`] for anything else or overflow.
pub fn yuan_to_fen(yuan: &str) -> Result<i64, PayError> {
    let bad = || PayError::Amount(format!("not a yuan amount: {yuan:?}"));
    let s = yuan.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 2 {
        return Err(bad());
    }
    if s.ends_with('.') {
        return Err(bad());
    }
    let int: i64 = int.parse().map_err(|_| bad())?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    int.checked_mul(100)
        .and_then(|f| f.checked_add(frac))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_to_yuan_is_exact() {
        assert_eq!(fen_to_yuan(0).unwrap(), "0.00");
        assert_eq!(fen_to_yuan(5).unwrap(), "0.05");
        assert_eq!(fen_to_yuan(10).unwrap(), "0.10");
        assert_eq!(fen_to_yuan(1000).unwrap(), "10.00");
        assert_eq!(fen_to_yuan(123_456_789).unwrap(), "1234567.89");
        assert_eq!(fen_to_yuan(i64::MAX).unwrap(), "92233720368547758.07");
        assert!(matches!(fen_to_yuan(-1), Err(PayError::Amount(_))));
    }

    #[test]
    fn yuan_to_fen_is_exact() {
        assert_eq!(yuan_to_fen("10.00").unwrap(), 1000);
        assert_eq!(yuan_to_fen("0.1").unwrap(), 10);
        assert_eq!(yuan_to_fen("0.01").unwrap(), 1);
        assert_eq!(yuan_to_fen("7").unwrap(), 700);
        assert_eq!(yuan_to_fen("0.29").unwrap(), 29); // 0.29 * 100 is 28.999… in floats
        assert_eq!(yuan_to_fen("92233720368547758.07").unwrap(), i64::MAX);
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1.00",
            "+1",
            "1.001",
            "1,00",
            "1e2",
            "abc",
            "92233720368547758.08",
        ] {
            assert!(yuan_to_fen(bad).is_err(), "{bad:?} must be refused");
        }
        for fen in [0, 1, 9, 10, 99, 100, 101, 12_345] {
            assert_eq!(yuan_to_fen(&fen_to_yuan(fen).unwrap()).unwrap(), fen);
        }
    }
}
