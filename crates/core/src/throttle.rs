//! Throttling of password logins, per account and per client address (GCRA through `governor`),
//! so that guessing passwords costs the guesser time and not the server's CPU: each argon2 check
//! costs about 35 ms of a core, and without a limit 16 guessing clients saturate both cores.
//!
//! Every attempt takes one cell from both buckets *before* the password is checked; when either
//! bucket is empty the login answers `429 too_many_attempts` with `Retry-After` (seconds) and no
//! check runs. The rates are settings (`login_attempts_per_account_per_minute`,
//! `login_attempts_per_ip_per_minute`; `0` disables that limit). Failures are audited by the
//! caller (action `auth.login_failed`).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, ErrorKind};

/// Per-account and per-address limiters shared by every system's login routes.
pub struct LoginThrottle {
    account: PerMinute,
    ip: PerMinute,
}

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

/// A rate limit per key (an account, an address, an operator): at most `per_minute` a minute,
/// spread evenly (GCRA through `governor`, a burst of `per_minute`); `0` is no limit. Systems
/// use it for their own limits (MR's per-operator and per-address authorization limits).
pub struct PerMinute {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    per_minute: u32,
}

impl PerMinute {
    /// A limit of `per_minute` (`0`: none).
    pub fn new(per_minute: u32) -> PerMinute {
        PerMinute {
            limiter: limiter(per_minute),
            per_minute,
        }
    }

    /// Takes one cell for `key`; `Err(wait)` when its budget is spent (nothing taken).
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        match &self.limiter {
            Some(l) => l
                .check_key(&key.to_string())
                .map_err(|n| n.wait_time_from(DefaultClock::default().now())),
            None => Ok(()),
        }
    }

    /// The configured rate.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Forgets keys whose budget is full again (call periodically).
    pub fn purge(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

impl LoginThrottle {
    /// Limits of `per_account` and `per_ip` attempts a minute (bursts of the same size);
    /// `0` turns a limit off.
    pub fn new(per_account: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle {
            account: PerMinute::new(per_account),
            ip: PerMinute::new(per_ip),
        }
    }

    /// Takes one attempt for `system`/`username` from `ip`. Errors: `too_many_attempts` (429)
    /// with the wait in seconds as `details.retry_after_secs` (the HTTP layer sends it as
    /// `Retry-After`).
    pub fn check(&self, system: &str, username: &str, ip: Option<&str>) -> Result<(), AppError> {
        let mut wait = Duration::ZERO;
        let account = format!("{system}\u{1f}{}", username.to_lowercase());
        if let Err(w) = self.account.check(&account) {
            wait = wait.max(w);
        }
        if let Some(ip) = ip
            && let Err(w) = self.ip.check(ip)
        {
            wait = wait.max(w);
        }
        if wait.is_zero() {
            return Ok(());
        }
        metrics::counter!("suanpan_login_throttled_total", "system" => system.to_string())
            .increment(1);
        Err(too_many(wait))
    }

    /// Forgets keys whose buckets are full again (call periodically; bounds memory).
    pub fn purge(&self) {
        self.account.purge();
        self.ip.purge();
    }
}

/// `429 too_many_attempts` asking to wait `wait` (rounded up to whole seconds, at least 1).
pub fn too_many(wait: Duration) -> AppError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AppError::new(
        ErrorKind::TooManyRequests,
        "too_many_attempts",
        format!("too many attempts; retry in {} s", secs.max(1)),
    )
    .with_details(serde_json::json!({ "retry_after_secs": secs.max(1) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_and_per_address() {
        let t = LoginThrottle::new(3, 5);
        for _ in 0..3 {
            t.check("shop", "alice", Some("10.0.0.1")).unwrap();
        }
        let e = t.check("shop", "Alice", Some("10.0.0.2")).unwrap_err();
        assert_eq!(e.code, "too_many_attempts");
        assert!(e.details.unwrap()["retry_after_secs"].as_u64().unwrap() >= 1);
        // Another account from the first address still has address budget left (2 of 5).
        t.check("shop", "bob", Some("10.0.0.1")).unwrap();
        t.check("shop", "carol", Some("10.0.0.1")).unwrap();
        assert!(t.check("shop", "dave", Some("10.0.0.1")).is_err());
        // The same name in another system is another account.
        t.check("mr", "alice", Some("10.0.0.9")).unwrap();
        LoginThrottle::new(0, 0).check("shop", "x", None).unwrap();
    }
}
