//! Time. Stored as `i64` Unix milliseconds (UTC) in every database; shown in APIs as RFC 3339 in
//! China Standard Time (UTC+08:00, no daylight saving), the zone all five systems operate in.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// UTC+08:00.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Unix milliseconds → RFC 3339 in UTC+08:00 (`2026-11-21T15:04:05+08:00`).
pub fn rfc3339(ms: i64) -> String {
    match china().timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => String::new(),
    }
}

/// RFC 3339 → Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The `[start, end)` Unix-millisecond range of a calendar day in UTC+08:00.
pub fn china_day_range(day: chrono::NaiveDate) -> (i64, i64) {
    let start = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    let start = china()
        .from_local_datetime(&start)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    (start, start + 86_400_000)
}

/// Today's date in UTC+08:00.
pub fn china_today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&china()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_in_china_time() {
        let s = rfc3339(0);
        assert_eq!(s, "1970-01-01T08:00:00+08:00");
        assert_eq!(parse_rfc3339(&s), Some(0));
        let (a, b) = china_day_range(chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap());
        assert_eq!(a, 16 * 3600 * 1000);
        assert_eq!(b - a, 86_400_000);
    }
}
