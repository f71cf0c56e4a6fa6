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
//! | [`outbox`] | transactional outbox and the NATS JetStream relay |
//! | [`audit`] | append-only audit log |
//! | [`auth`] | JWT, argon2, roles, request extractors |
//! | [`wechat_login`] | mini-program `jscode2session` |
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
pub mod state;
pub mod storage;
pub mod time;
pub mod wechat_login;

pub use error::{AppError, AppResult, ErrorKind};
pub use state::CoreState;
