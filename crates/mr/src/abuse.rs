//! FR-056, abnormal-address detection on the authorization path, in memory and inline (so that
//! detection to lock takes well under a minute, FR-056a). Two rules, thresholds from `[mr]`:
//!
//! 1. one client address with more than `abuse_failures_per_5min` (20) failed authorizations
//!    within five minutes — a failure is an answer of 400, 401 or 403 (402 is a business outcome,
//!    429 would count twice);
//! 2. one client address using more than `abuse_keys_per_min` (5) different valid API keys within
//!    a minute.
//!
//! On a trigger the guard names the API keys (by their lookup index) seen from the address in the
//! window — the caller locks the operators behind the valid ones (unknown keys lock nobody) — and
//! refuses further authorizations from the address for the window (429). `rate_limits = off`
//! turns the guard off with FR-055's limits. Times are Unix ms.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

const FAILURE_WINDOW_MS: i64 = 5 * 60_000;
const KEY_WINDOW_MS: i64 = 60_000;
/// Past this many tracked addresses, quiet ones are forgotten.
const MAX_ADDRESSES: usize = 100_000;

/// Which rule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Too many failures from one address.
    Failures,
    /// Too many different keys from one address.
    Keys,
}

impl Rule {
    /// The reason recorded with the lock.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Failures => "FR-056: too many failed authorizations from one address",
            Rule::Keys => "FR-056: too many different API keys from one address",
        }
    }
}

/// A trigger: the rule and the key indexes seen from the address in its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// The rule.
    pub rule: Rule,
    /// Lookup indexes of the keys to lock the operators of.
    pub key_indexes: Vec<String>,
}

#[derive(Default)]
struct Address {
    /// `(time, key index)` of failures in the last five minutes.
    failures: VecDeque<(i64, Option<String>)>,
    /// Valid keys used in the last minute: key index → last use (a handful per address).
    keys: HashMap<String, i64>,
    /// Refused until then.
    blocked_until: i64,
}

impl Address {
    fn forget_before(&mut self, now: i64) {
        while self
            .failures
            .front()
            .is_some_and(|(t, _)| *t <= now - FAILURE_WINDOW_MS)
        {
            self.failures.pop_front();
        }
        self.keys.retain(|_, t| *t > now - KEY_WINDOW_MS);
    }

    fn quiet(&self, now: i64) -> bool {
        self.failures.is_empty() && self.keys.is_empty() && self.blocked_until <= now
    }
}

/// The guard: per client address, recent failures and keys.
pub struct AbuseGuard {
    failures_limit: usize,
    keys_limit: usize,
    on: bool,
    addresses: Mutex<HashMap<String, Address>>,
}

impl AbuseGuard {
    /// A guard with rule 1's and rule 2's thresholds; `on = false` never triggers or blocks.
    pub fn new(failures_limit: u32, keys_limit: u32, on: bool) -> AbuseGuard {
        AbuseGuard {
            failures_limit: failures_limit as usize,
            keys_limit: keys_limit as usize,
            on,
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// How long (ms) `ip` is still refused, if it is.
    pub fn blocked(&self, ip: &str, now: i64) -> Option<i64> {
        if !self.on {
            return None;
        }
        let map = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        map.get(ip)
            .map(|a| a.blocked_until - now)
            .filter(|left| *left > 0)
    }

    /// Records one authorization answer from `ip`: whether it `failed`, and the lookup index of
    /// the key it presented (`valid_key`: the key belongs to an operator). Returns a trigger the
    /// first time a rule fires for the address (then the address is refused for the window).
    pub fn record(
        &self,
        ip: &str,
        key_index: Option<&str>,
        valid_key: bool,
        failed: bool,
        now: i64,
    ) -> Option<Trigger> {
        if !self.on || (!failed && !valid_key) {
            return None;
        }
        let mut map = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > MAX_ADDRESSES {
            map.retain(|_, a| {
                a.forget_before(now);
                !a.quiet(now)
            });
        }
        let a = map.entry(ip.to_string()).or_default();
        a.forget_before(now);
        if failed {
            a.failures.push_back((now, key_index.map(str::to_string)));
        }
        if let (true, Some(k)) = (valid_key, key_index) {
            match a.keys.get_mut(k) {
                Some(t) => *t = now,
                None => {
                    a.keys.insert(k.to_string(), now);
                }
            }
        }
        if a.blocked_until > now {
            return None;
        }
        let distinct = |keys: Vec<String>| {
            let mut keys = keys;
            keys.sort();
            keys.dedup();
            keys
        };
        if a.failures.len() > self.failures_limit {
            a.blocked_until = now + FAILURE_WINDOW_MS;
            let keys = a.failures.iter().filter_map(|(_, k)| k.clone()).collect();
            return Some(Trigger {
                rule: Rule::Failures,
                key_indexes: distinct(keys),
            });
        }
        if a.keys.len() > self.keys_limit {
            a.blocked_until = now + KEY_WINDOW_MS;
            return Some(Trigger {
                rule: Rule::Keys,
                key_indexes: distinct(a.keys.keys().cloned().collect()),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_one_failures_in_five_minutes_trigger_once_and_block_the_address() {
        let g = AbuseGuard::new(20, 5, true);
        let t0 = 1_000_000;
        for i in 0..20 {
            assert_eq!(g.record("1.2.3.4", Some("k1"), true, true, t0 + i), None);
        }
        let fired = g
            .record("1.2.3.4", Some("k2"), false, true, t0 + 20)
            .unwrap();
        assert_eq!(fired.rule, Rule::Failures);
        assert_eq!(fired.key_indexes, vec!["k1".to_string(), "k2".to_string()]);
        assert_eq!(
            g.record("1.2.3.4", Some("k1"), true, true, t0 + 21),
            None,
            "once"
        );
        assert!(g.blocked("1.2.3.4", t0 + 21).is_some());
        assert!(g.blocked("5.6.7.8", t0 + 21).is_none());
        assert!(g.blocked("1.2.3.4", t0 + 20 + FAILURE_WINDOW_MS).is_none());
    }

    #[test]
    fn failures_spread_over_more_than_five_minutes_do_not_trigger() {
        let g = AbuseGuard::new(20, 5, true);
        for i in 0..100 {
            let at = i * 20_000; // one every 20 s: 15 in any five minutes
            assert_eq!(g.record("1.2.3.4", None, false, true, at), None);
        }
    }

    #[test]
    fn six_valid_keys_in_a_minute_trigger_and_successes_alone_do_not() {
        let g = AbuseGuard::new(20, 5, true);
        for i in 0..50 {
            assert_eq!(g.record("9.9.9.9", Some("same"), true, false, i), None);
        }
        for k in ["a", "b", "c", "d"] {
            assert_eq!(g.record("9.9.9.9", Some(k), true, false, 100), None);
        }
        let fired = g.record("9.9.9.9", Some("e"), true, false, 200).unwrap();
        assert_eq!(fired.rule, Rule::Keys);
        assert_eq!(fired.key_indexes.len(), 6);
        // Unknown keys are no "different valid keys".
        let g = AbuseGuard::new(20, 5, true);
        for k in ["a", "b", "c", "d", "e", "f", "g"] {
            assert_eq!(g.record("9.9.9.9", Some(k), false, false, 100), None);
        }
    }

    #[test]
    fn off_never_triggers() {
        let g = AbuseGuard::new(0, 0, false);
        assert_eq!(g.record("1.1.1.1", Some("k"), true, true, 0), None);
        assert!(g.blocked("1.1.1.1", 0).is_none());
    }
}
