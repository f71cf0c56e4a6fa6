//! The rules of MR licensing as plain functions over plain types, tested without a server.
//! Sources: the shared contract `../shared/specs/mr-licensing/` (the YAML wins over the prose),
//! seed 004's spec (FR numbers), and issue #6 where both are silent (`docs/mr.md`).

use suanpan_core::money::Fen;

/// Largest difference between `X-Timestamp` and the server clock, in seconds (contract:
/// `TIMESTAMP_EXPIRED`, `max_diff_seconds: 300`).
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// Length of an API key (contract: `X-Api-Key`, exactly 64 characters).
pub const API_KEY_LEN: usize = 64;

/// Fewest and most players of one authorization (contract: `player_count` 1..100).
pub const PLAYER_COUNT_RANGE: (i64, i64) = (1, 100);

/// Money on the wire: a decimal string in yuan with two decimals (`"10.00"`). `fen` may be
/// negative only in internal sums; balances never are.
pub fn yuan(fen: Fen) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Parses the contract's money pattern `^\d+(\.\d{1,2})?$` into fen. `None` for anything else
/// (signs, exponents, spaces, three decimals, JSON numbers are rejected by the caller's type)
/// or an amount that does not fit.
pub fn parse_yuan(s: &str) -> Option<Fen> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) if (1..=2).contains(&f.len()) => (i, f),
        Some(_) => return None,
        None => (s, ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (!frac.is_empty() && !digits(frac)) || int.len() > 12 {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// A parsed `X-Session-ID`: `{operator_id}_{timestamp seconds}_{16 letters or digits}` (contract
/// pattern `^[a-zA-Z0-9]+_\d+_[a-zA-Z0-9]{16}$`; issue #6: seconds, not FR-061's milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionId<'a> {
    /// The operator part; must be the API key's operator.
    pub operator_id: &'a str,
    /// The timestamp part, Unix seconds.
    pub timestamp: i64,
}

/// Parses a session id; `None` when it does not match the pattern.
pub fn parse_session_id(s: &str) -> Option<SessionId<'_>> {
    let mut parts = s.split('_');
    let (op, ts, rand) = (parts.next()?, parts.next()?, parts.next()?);
    let alnum = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric());
    let ok = parts.next().is_none()
        && alnum(op)
        && !ts.is_empty()
        && ts.len() <= 18
        && ts.bytes().all(|b| b.is_ascii_digit())
        && rand.len() == 16
        && alnum(rand);
    ok.then(|| SessionId {
        operator_id: op,
        timestamp: ts.parse().unwrap_or(-1),
    })
}

/// Which message an `X-Signature` covers (`X-Signature-Version`, issue #6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureVersion {
    /// The contract's: `{timestamp}\n{method}\n{path}\n{body}`.
    V1,
    /// Also covers the session id: `{timestamp}\n{method}\n{path}\n{session_id}\n{body}`, so a
    /// captured request cannot be re-sent under a new session id.
    V2,
}

impl SignatureVersion {
    /// From the `X-Signature-Version` header: absent or `1` is V1, `2` is V2.
    pub fn parse(header: Option<&str>) -> Option<SignatureVersion> {
        match header.map(str::trim) {
            None | Some("1") => Some(SignatureVersion::V1),
            Some("2") => Some(SignatureVersion::V2),
            Some(_) => None,
        }
    }
}

/// The bytes an authorization request's HMAC covers. `path` is the request path as sent
/// (`/mr/v1/auth/game/authorize`), `body` the raw body.
pub fn signed_message(
    version: SignatureVersion,
    timestamp: &str,
    method: &str,
    path: &str,
    session_id: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 128);
    for part in [timestamp, method, path] {
        m.extend_from_slice(part.as_bytes());
        m.push(b'\n');
    }
    if version == SignatureVersion::V2 {
        m.extend_from_slice(session_id.as_bytes());
        m.push(b'\n');
    }
    m.extend_from_slice(body);
    m
}

/// The cost of one authorization: players × the app's unit price (FR-014), `None` on overflow.
pub fn authorization_cost(player_count: i64, unit_price: Fen) -> Option<Fen> {
    suanpan_core::money::line_total(unit_price, player_count)
}

/// True when `player_count` is within the app's range (contract: `PLAYER_COUNT_OUT_OF_RANGE`).
pub fn players_in_range(player_count: i64, min: i64, max: i64) -> bool {
    (min..=max).contains(&player_count)
}

/// Operator ids: letters and digits only, so that they can head a session id.
pub fn valid_operator_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Registration rules (contract `registerOperator`): the username `^[a-zA-Z0-9_]{3,20}$`, the
/// password 8..32 with an upper-case letter, a lower-case letter and a digit, the name 2..50
/// characters, the phone `^1[3-9]\d{9}$`, an e-mail address. Returns the offending field.
pub fn check_registration(
    username: &str,
    password: &str,
    name: &str,
    phone: &str,
    email: &str,
) -> Result<(), (&'static str, &'static str)> {
    let u_ok = (3..=20).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !u_ok {
        return Err(("username", "3-20 letters, digits or _"));
    }
    let p_len = password.chars().count();
    let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
    if !(8..=32).contains(&p_len)
        || !has(char::is_ascii_uppercase)
        || !has(char::is_ascii_lowercase)
        || !has(char::is_ascii_digit)
    {
        return Err((
            "password",
            "8-32 characters with an upper-case letter, a lower-case letter and a digit",
        ));
    }
    check_name(name)?;
    check_phone(phone)?;
    check_email(email)
}

/// A display name: 2..50 characters.
pub fn check_name(name: &str) -> Result<(), (&'static str, &'static str)> {
    match (2..=50).contains(&name.chars().count()) {
        true => Ok(()),
        false => Err(("name", "2-50 characters")),
    }
}

/// A mainland mobile number: `^1[3-9]\d{9}$`.
pub fn check_phone(phone: &str) -> Result<(), (&'static str, &'static str)> {
    let b = phone.as_bytes();
    let ok = b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit);
    ok.then_some(())
        .ok_or(("phone", "a mainland mobile number, 1[3-9] and 9 digits"))
}

/// An e-mail address: one `@`, a local part, a domain with a dot, no spaces (what
/// `format: email` validators accept, kept simple).
pub fn check_email(email: &str) -> Result<(), (&'static str, &'static str)> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && email.len() <= 254
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    ok.then_some(()).ok_or(("email", "an e-mail address"))
}

/// Operator category (contract enum `trial|normal|vip`; registration gives `trial`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// New accounts.
    Trial,
    /// Regular customers.
    Normal,
    /// Preferred customers.
    Vip,
}

impl Category {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Trial => "trial",
            Category::Normal => "normal",
            Category::Vip => "vip",
        }
    }
    /// From the wire name.
    pub fn parse(s: &str) -> Option<Category> {
        match s {
            "trial" => Some(Category::Trial),
            "normal" => Some(Category::Normal),
            "vip" => Some(Category::Vip),
            _ => None,
        }
    }
}

/// The ledger account of an operator's prepaid balance.
pub fn balance_account(operator_id: &str) -> String {
    format!("mr:operator:{operator_id}")
}

/// The ledger account an operator's consumption is paid into (one per operator, so that its
/// balance is the operator's total consumption and the balance read is two key lookups).
pub fn revenue_account(operator_id: &str) -> String {
    format!("mr:revenue:{operator_id}")
}

/// The ledger unit of MR money: fen of CNY.
pub const CNY: &str = "CNY";

/// The ledger account refunds are paid out of: an approved refund moves the operator's
/// balance here; a provider's final "no" moves its part back.
pub fn refunds_account(operator_id: &str) -> String {
    format!("mr:refunds:{operator_id}")
}

/// The balance under which an operator is reminded to recharge, by category (fen; seed 004's
/// assumption: vip 1000, normal 100, trial 50 yuan). A `balance_low` message is sent when a
/// charge takes the balance from at or above it to below it, so once per crossing.
pub fn low_balance_threshold(category: &str) -> Fen {
    match Category::parse(category) {
        Some(Category::Vip) => 100_000,
        Some(Category::Trial) => 5_000,
        _ => 10_000,
    }
}

/// Whether a charge from `before` to `after` crosses `threshold` downwards.
pub fn crosses_below(before: Fen, after: Fen, threshold: Fen) -> bool {
    before >= threshold && after < threshold
}

/// Smallest and largest recharge, fen (contract `rechargeBalance`: 充值金额（最小10元，最大10000元）).
pub const RECHARGE_RANGE: (Fen, Fen) = (1_000, 1_000_000);

/// How long a recharge's QR code can be paid, ms (contract: `expires_at` 订单过期时间（15分钟）).
pub const RECHARGE_TTL_MS: i64 = 15 * 60 * 1000;

/// A recharge amount: the contract's money pattern within [`RECHARGE_RANGE`]. The error is
/// the message of a 400 `INVALID_PARAMS` on `amount`.
pub fn check_recharge(amount: &str) -> Result<Fen, &'static str> {
    match parse_yuan(amount) {
        None => Err("a decimal string in yuan with at most two decimals"),
        Some(f) if f < RECHARGE_RANGE.0 || f > RECHARGE_RANGE.1 => {
            Err("充值金额必须在10-10000元之间 (10.00 to 10000.00)")
        }
        Some(f) => Ok(f),
    }
}

/// Whether `s` has `min..=max` characters once trimmed (reasons and notes of the contract:
/// refund reason 10..500, reject reason 10..200, notes up to 200).
pub fn length_within(s: &str, min: usize, max: usize) -> bool {
    let n = s.trim().chars().count();
    (min..=max).contains(&n)
}

/// A taxpayer id as the contract's `tax_id` pattern `^[A-Z0-9]{15,20}$` (统一社会信用代码 is 18).
pub fn valid_tax_id(s: &str) -> bool {
    (15..=20).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// How an approved refund of `amount` is paid back: through the recharges that can still take
/// a refund, newest first, each up to its refundable rest (`(recharge id, rest)`, in the order
/// given); what they cannot take is paid by hand (offline). Returns the parts and the offline
/// rest; the parts and the rest add up to `amount`.
pub fn split_refund(amount: Fen, refundable: &[(i64, Fen)]) -> (Vec<(i64, Fen)>, Fen) {
    let mut left = amount.max(0);
    let mut parts = Vec::new();
    for &(id, rest) in refundable {
        if left == 0 {
            break;
        }
        let take = rest.min(left);
        if take > 0 {
            parts.push((id, take));
            left -= take;
        }
    }
    (parts, left)
}

/// An amount in Chinese capital numerals as invoices write it (人民币大写, e.g. 1234.56 yuan →
/// `壹仟贰佰叁拾肆元伍角陆分`, 1005 yuan → `壹仟零伍元整`): groups of four digits under 万 and 亿, one
/// 零 for any run of zeros inside the number, 整 when there are no 分.
pub fn amount_in_words(fen: Fen) -> String {
    const D: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
    let fen = fen.max(0);
    let (yuan, jiao, cents) = (fen / 100, (fen / 10 % 10) as usize, (fen % 10) as usize);
    if fen == 0 {
        return "零元整".into();
    }
    let mut s = String::new();
    if yuan > 0 {
        s.push_str(&integer_in_words(yuan as u64));
        s.push('元');
    }
    if jiao > 0 {
        s.push(D[jiao]);
        s.push('角');
    } else if yuan > 0 && cents > 0 {
        s.push('零');
    }
    if cents > 0 {
        s.push(D[cents]);
        s.push('分');
    } else {
        s.push('整');
    }
    s
}

fn integer_in_words(n: u64) -> String {
    const UNITS: [&str; 4] = ["", "万", "亿", "万亿"];
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 10_000);
        rest /= 10_000;
    }
    let mut out = String::new();
    let mut gap = false;
    for (i, &g) in groups.iter().enumerate().rev() {
        if g == 0 {
            gap = !out.is_empty();
            continue;
        }
        if !out.is_empty() && (gap || g < 1000) {
            out.push('零');
        }
        out.push_str(&group_in_words(g));
        out.push_str(UNITS.get(i).copied().unwrap_or(""));
        gap = false;
    }
    out
}

fn group_in_words(g: u64) -> String {
    const D: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
    const UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
    let digits = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
    let mut out = String::new();
    let mut zero = false;
    for (d, unit) in digits.iter().zip(UNITS) {
        if *d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push(D[*d as usize]);
        out.push_str(unit);
    }
    out
}

/// How statistics are bucketed (contract `dimension`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// One bucket per business day.
    Day,
    /// Per ISO week, dated by its Monday.
    Week,
    /// Per month, dated by its first day.
    Month,
}

impl Dimension {
    /// From the wire name (`day|week|month`).
    pub fn parse(s: &str) -> Option<Dimension> {
        match s {
            "day" => Some(Dimension::Day),
            "week" => Some(Dimension::Week),
            "month" => Some(Dimension::Month),
            _ => None,
        }
    }
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Day => "day",
            Dimension::Week => "week",
            Dimension::Month => "month",
        }
    }
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The business day number (days since 1970-01-01 in Asia/Shanghai) of a date.
pub fn day_number(date: chrono::NaiveDate) -> i64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days()
}

/// When business day `day` starts, Unix ms (midnight at UTC+08:00).
pub fn day_start_ms(day: i64) -> i64 {
    day * DAY_MS - 8 * 3_600_000
}

/// The business day of a Unix-ms instant.
pub fn day_of_ms(ms: i64) -> i64 {
    (ms + 8 * 3_600_000).div_euclid(DAY_MS)
}

/// The date of the bucket that business day `day` (days since 1970-01-01 in Asia/Shanghai)
/// falls in: the day itself, the Monday of its ISO week, or the first of its month.
pub fn bucket_date(day: i64, dim: Dimension) -> chrono::NaiveDate {
    use chrono::Datelike;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let date = epoch + chrono::Duration::days(day);
    match dim {
        Dimension::Day => date,
        Dimension::Week => {
            date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()))
        }
        Dimension::Month => date.with_day(1).unwrap_or(date),
    }
}

/// Merges per-day `(day, sessions, players, cost)` rows (in day order) into buckets of `dim`,
/// in date order; days without sessions are left out (the contract is silent; documented).
pub fn buckets(
    days: &[(i64, i64, i64, i64)],
    dim: Dimension,
) -> Vec<(chrono::NaiveDate, i64, i64, i64)> {
    let mut out: Vec<(chrono::NaiveDate, i64, i64, i64)> = Vec::new();
    for &(day, sessions, players, cost) in days {
        let date = bucket_date(day, dim);
        match out.last_mut() {
            Some(last) if last.0 == date => {
                last.1 += sessions;
                last.2 += players;
                last.3 += cost;
            }
            _ => out.push((date, sessions, players, cost)),
        }
    }
    out
}

/// `players / sessions` rounded to two decimals (0 without sessions).
pub fn average(players: i64, sessions: i64) -> f64 {
    if sessions == 0 {
        return 0.0;
    }
    (players as f64 / sessions as f64 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips_the_contract_pattern() {
        assert_eq!(parse_yuan("10"), Some(1000));
        assert_eq!(parse_yuan("10.5"), Some(1050));
        assert_eq!(parse_yuan("10.50"), Some(1050));
        assert_eq!(parse_yuan("0.01"), Some(1));
        for bad in [
            "-1", "1e3", "10.555", " 10", "10.", ".5", "", "1,000", "１０",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(1050), "10.50");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(123_456_789), "1234567.89");
    }

    #[test]
    fn session_ids_follow_the_contract_pattern_with_seconds() {
        let s = parse_session_id("op12345_1704067200_a1b2c3d4e5f6g7h8").unwrap();
        assert_eq!(s.operator_id, "op12345");
        assert_eq!(s.timestamp, 1_704_067_200);
        for bad in [
            "op_12345_1704067200_a1b2c3d4e5f6g7h8", // the contract's own example
            "op12345_1704067200_short",
            "op12345_17040x7200_a1b2c3d4e5f6g7h8",
            "op12345__a1b2c3d4e5f6g7h8",
            "op12345_1704067200_a1b2c3d4e5f6g7h8_x",
            "op12345_1704067200_a1b2c3d4e5f6g7h!",
        ] {
            assert_eq!(parse_session_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_signed_message_is_the_contracts_and_v2_adds_the_session() {
        let v1 = signed_message(SignatureVersion::V1, "1700000000", "POST", "/p", "s", b"{}");
        assert_eq!(v1, b"1700000000\nPOST\n/p\n{}");
        let v2 = signed_message(SignatureVersion::V2, "1700000000", "POST", "/p", "s", b"{}");
        assert_eq!(v2, b"1700000000\nPOST\n/p\ns\n{}");
        assert_eq!(SignatureVersion::parse(None), Some(SignatureVersion::V1));
        assert_eq!(
            SignatureVersion::parse(Some("2")),
            Some(SignatureVersion::V2)
        );
        assert_eq!(SignatureVersion::parse(Some("3")), None);
    }

    #[test]
    fn statistics_buckets_by_day_iso_week_and_month() {
        // 2025-01-15 is a Wednesday: day 20103 since 1970-01-01.
        let wed = (chrono::NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days();
        assert_eq!(bucket_date(wed, Dimension::Day).to_string(), "2025-01-15");
        assert_eq!(bucket_date(wed, Dimension::Week).to_string(), "2025-01-13");
        assert_eq!(bucket_date(wed, Dimension::Month).to_string(), "2025-01-01");
        let rows = [
            (wed, 2, 5, 500),
            (wed + 1, 1, 2, 200),
            (wed + 5, 3, 3, 300),
            (wed + 20, 1, 4, 400),
        ];
        let weeks = buckets(&rows, Dimension::Week);
        assert_eq!(
            weeks
                .iter()
                .map(|b| (b.0.to_string(), b.1))
                .collect::<Vec<_>>(),
            vec![
                ("2025-01-13".into(), 3),
                ("2025-01-20".into(), 3),
                ("2025-02-03".into(), 1)
            ]
        );
        let months = buckets(&rows, Dimension::Month);
        assert_eq!(months.len(), 2);
        assert_eq!((months[0].1, months[0].2, months[0].3), (6, 10, 1000));
        assert_eq!(average(10, 3), 3.33);
        assert_eq!(average(0, 0), 0.0);
    }

    #[test]
    fn registration_rules() {
        assert!(
            check_registration("venue_1", "Passw0rdX", "星际乐园", "13800138000", "a@b.cn").is_ok()
        );
        assert_eq!(
            check_registration("ab", "Passw0rdX", "xx", "13800138000", "a@b.cn")
                .unwrap_err()
                .0,
            "username"
        );
        assert_eq!(
            check_registration("venue", "password1", "xx", "13800138000", "a@b.cn")
                .unwrap_err()
                .0,
            "password"
        );
        assert_eq!(
            check_registration("venue", "Passw0rdX", "x", "13800138000", "a@b.cn")
                .unwrap_err()
                .0,
            "name"
        );
        assert_eq!(
            check_registration("venue", "Passw0rdX", "xx", "12800138000", "a@b.cn")
                .unwrap_err()
                .0,
            "phone"
        );
        assert_eq!(
            check_registration("venue", "Passw0rdX", "xx", "13800138000", "a@b")
                .unwrap_err()
                .0,
            "email"
        );
        assert!(
            players_in_range(2, 2, 8) && !players_in_range(9, 2, 8) && !players_in_range(1, 2, 8)
        );
        assert_eq!(authorization_cost(4, 1250), Some(5000));
        assert_eq!(authorization_cost(i64::MAX, 2), None);
        assert!(valid_operator_id("op1") && !valid_operator_id("op_1"));
    }

    #[test]
    fn recharges_are_ten_to_ten_thousand_yuan() {
        assert_eq!(check_recharge("10"), Ok(1_000));
        assert_eq!(check_recharge("500.5"), Ok(50_050));
        assert_eq!(check_recharge("10000.00"), Ok(1_000_000));
        assert!(check_recharge("9.99").is_err());
        assert!(check_recharge("10000.01").is_err());
        assert!(check_recharge("-10").is_err() && check_recharge("1e3").is_err());
    }

    #[test]
    fn tax_ids_and_reasons_follow_the_contract() {
        assert!(valid_tax_id("91110000123456789X"));
        assert!(!valid_tax_id("91110000123456789x"));
        assert!(!valid_tax_id("12345678901234"));
        assert!(length_within("业务调整，不再继续使用了", 10, 500));
        assert!(!length_within("  太短了  ", 10, 500));
    }

    #[test]
    fn a_refund_is_split_over_recharges_newest_first_and_the_rest_is_offline() {
        let rest = [(9, 3_000), (7, 0), (4, 10_000)];
        assert_eq!(
            split_refund(5_000, &rest),
            (vec![(9, 3_000), (4, 2_000)], 0)
        );
        assert_eq!(split_refund(2_000, &rest), (vec![(9, 2_000)], 0));
        let (parts, offline) = split_refund(20_000, &rest);
        assert_eq!((parts, offline), (vec![(9, 3_000), (4, 10_000)], 7_000));
        assert_eq!(split_refund(500, &[]), (vec![], 500));
    }

    #[test]
    fn amounts_in_capital_numerals_follow_the_invoice_convention() {
        let cases = [
            (123_456, "壹仟贰佰叁拾肆元伍角陆分"),
            (100_500, "壹仟零伍元整"),
            (1_005_000, "壹万零伍拾元整"),
            (10_000_000, "壹拾万元整"),
            (5, "伍分"),
            (105, "壹元零伍分"),
            (1_050, "壹拾元伍角整"),
            (10_001_000_000, "壹亿零壹万元整"),
            (0, "零元整"),
            (1_000_100, "壹万零壹元整"),
            (1_010_000, "壹万零壹佰元整"),
        ];
        for (fen, words) in cases {
            assert_eq!(amount_in_words(fen), words, "{fen}");
        }
    }

    #[test]
    fn low_balance_reminders_fire_once_per_crossing_by_category() {
        assert_eq!(low_balance_threshold("vip"), 100_000);
        assert_eq!(low_balance_threshold("normal"), 10_000);
        assert_eq!(low_balance_threshold("trial"), 5_000);
        assert!(crosses_below(10_000, 9_999, 10_000));
        assert!(
            !crosses_below(9_999, 9_000, 10_000),
            "already below: no second reminder"
        );
        assert!(!crosses_below(20_000, 10_000, 10_000));
    }
}
