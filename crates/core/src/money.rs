//! Money. Every amount in Suanpan is an `i64` count of fen (分, 1/100 CNY) unless its name says
//! otherwise; arithmetic is checked so that an overflow becomes an error, never a wrapped number.

/// An amount in fen (1 CNY = 100 fen).
pub type Fen = i64;

/// `unit_price × quantity`, or `None` on overflow or a negative operand.
pub fn line_total(unit_price: Fen, quantity: i64) -> Option<Fen> {
    if unit_price < 0 || quantity < 0 {
        return None;
    }
    unit_price.checked_mul(quantity)
}

/// Sum of amounts, or `None` on overflow.
pub fn sum<I: IntoIterator<Item = Fen>>(amounts: I) -> Option<Fen> {
    amounts
        .into_iter()
        .try_fold(0i64, |acc, a| acc.checked_add(a))
}

/// Formats fen as yuan with exactly two decimals, e.g. `12345 → "123.45"`, `-5 → "-0.05"`.
/// Used for CSV exports and reports meant for people; APIs carry fen.
pub fn format_yuan(fen: Fen) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_formatting() {
        assert_eq!(format_yuan(0), "0.00");
        assert_eq!(format_yuan(5), "0.05");
        assert_eq!(format_yuan(12345), "123.45");
        assert_eq!(format_yuan(-5), "-0.05");
        assert_eq!(format_yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn overflow_is_none() {
        assert_eq!(line_total(i64::MAX, 2), None);
        assert_eq!(line_total(-1, 2), None);
        assert_eq!(line_total(5990, 3), Some(17970));
        assert_eq!(sum([i64::MAX, 1]), None);
        assert_eq!(sum([1, 2, 3]), Some(6));
    }
}
