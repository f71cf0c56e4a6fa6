//! # suanpan-core
//!
//! The shared core that every Suanpan system stands on:
//!
//! | module | what |
//! |---|---|
//! | [`money`] | integer fen and checked arithmetic |
//! | [`time`] | Unix milliseconds, RFC 3339 in UTC+08:00 |
//! | [`error`] | the API error type and the one status mapping |
//! | [`config`] | file + environment configuration |
//! | [`db`] | SQLite / PostgreSQL / MySQL behind one handle; migrations |
//! | [`ledger`] | double-entry ledger: accounts with units, transfers, holds, verify |
//! | [`idempotency`] | `Idempotency-Key` claim / replay |
//! | [`writer`] | the group-commit write path: units of work, savepoints, one commit per group |
//! | [`outbox`] | transactional outbox and the NATS JetStream relay |
//! | [`audit`] | append-only audit log |
//! | [`auth`] | principals (mini-program users, back-office staff with per-system roles), JWT, argon2, extractors |
//! | [`refresh`] | refresh tokens that rotate on use, reuse detection, logout |
//! | [`throttle`] | login throttling per account and per address |
//! | [`signing`] | HMAC-signed requests of API clients |
//! | [`secrets`] | secret files created 0600 |
//! | [`wechat_login`] | mini-program `jscode2session` (a mechanism; systems that need it hold a client) |
//! | [`storage`] | blob storage for uploads |
//! | [`http`] | extractors, middleware, ops endpoints, identity routes |

pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod outbox;
pub mod refresh;
pub mod secrets;
pub mod signing;
pub mod state;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod time;
pub mod wechat_login;
pub mod writer;

pub use error::{AppError, AppResult, ErrorKind};
pub use state::CoreState;
