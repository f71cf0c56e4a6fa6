//! # suanpan-shop — seed 001, the WeChat mini-program shop
//!
//! Where things are:
//! - [`domain`]: the rules (order state machine, pricing, refund limits, payment checks) as plain
//!   functions;
//! - [`store`]: all SQL;
//! - [`service`]: the workflows that combine them in transactions (place order, pay, apply a
//!   payment notification, cancel, ship, refund);
//! - [`jobs`]: background work (payment timeouts, reconciliation with WeChat Pay);
//! - [`http`]: the HTTP handlers and the OpenAPI description;
//! - [`events`]: the domain events written to the outbox.

pub mod app;
pub mod demo;
pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod service;
pub mod store;
pub mod writer;

use std::sync::Arc;

use axum::extract::FromRef;
use suanpan_core::CoreState;
use suanpan_payments::wechatpay::WechatPayClient;

/// The shop's handler state.
#[derive(Clone)]
pub struct ShopState {
    /// Shared core handles.
    pub core: CoreState,
    /// WeChat Pay, when configured (else payment routes answer `payment_not_configured`).
    pub pay: Option<Arc<WechatPayClient>>,
    /// The group-commit order writer (SQLite only).
    pub writer: Option<writer::OrderWriter>,
}

impl FromRef<ShopState> for CoreState {
    fn from_ref(s: &ShopState) -> CoreState {
        s.core.clone()
    }
}
