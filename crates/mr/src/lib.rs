//! # suanpan-mr — seed 004, MR arcade-game licensing and prepaid billing
//!
//! Operators (venue owners) hold a prepaid balance in the core ledger; before every game the
//! headset server of a venue asks `POST /mr/v1/auth/game/authorize`, signed with the
//! operator's API key, and each authorization charges players × the app's unit price exactly
//! once (the session id is the idempotency key), through the core's group-commit writer.
//! Contract: `../shared/specs/mr-licensing/` (its notes: `docs/mr/contract-notes.md`).
//!
//! Where things are: [`domain`] (rules), [`store`] (SQL), [`service`] (workflows), [`http`]
//! (handlers, one file per path prefix), [`envelope`] (the contract's error body),
//! [`apikey`] (keys sealed at rest), [`demo`].

pub mod abuse;
pub mod apikey;
pub mod app;
pub mod auth;
pub mod authlog;
pub mod demo;
pub mod domain;
pub mod envelope;
pub mod http;
pub mod service;
pub mod settings;
pub mod store;

use std::sync::Arc;

use axum::extract::FromRef;
use suanpan_core::CoreState;
use suanpan_core::db::migrate::Migration;

/// The system's name in grants and the payment flow.
pub const SYSTEM: &str = "mr";

/// MR's migrations (run with every other system's by the binary).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 8,
        name: "mr",
        sql: include_str!("../migrations/0008_mr.sql"),
    },
    Migration {
        version: 9,
        name: "mr_money",
        sql: include_str!("../migrations/0009_mr_money.sql"),
    },
];

/// MR's handler state: one allocation shared by every request (axum clones the state for each
/// extractor, so a clone is one reference count, not one per handle).
#[derive(Clone)]
pub struct MrState(pub Arc<MrShared>);

impl std::ops::Deref for MrState {
    type Target = MrShared;

    fn deref(&self) -> &MrShared {
        &self.0
    }
}

/// What [`MrState`] shares.
pub struct MrShared {
    /// Shared core handles.
    pub core: CoreState,
    /// The `[mr]` settings.
    pub settings: Arc<settings::MrSettings>,
    /// Seals and indexes API keys.
    pub seal: Arc<apikey::KeySeal>,
    /// Authorizations go through the core's group-commit writer.
    pub charges: suanpan_core::writer::GroupWriter<service::Charge>,
    /// FR-055's authorization limits: per operator, per client address.
    pub limits: Arc<Limits>,
    /// FR-056's abnormal-address detection.
    pub abuse: Arc<abuse::AbuseGuard>,
    /// FR-057's writer of authorization answers that charged nothing.
    pub auth_log: authlog::AuthLog,
    /// The core payment flow (shared with every system; MR's hooks registered).
    pub payments: suanpan_payments::Payments,
    /// MR's hooks in the payment flow (its notification URLs).
    pub owner: Arc<service::recharge::MrPayments>,
}

/// The authorization rate limits (FR-055), `0` (or `rate_limits = off`) for none.
pub struct Limits {
    /// Per operator id.
    pub operator: suanpan_core::throttle::PerMinute,
    /// Per client address.
    pub ip: suanpan_core::throttle::PerMinute,
}

impl FromRef<MrState> for CoreState {
    fn from_ref(s: &MrState) -> CoreState {
        s.core.clone()
    }
}
