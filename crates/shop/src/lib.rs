//! # suanpan-shop — seed 001, the WeChat mini-program shop
//!
//! Where things are:
//! - [`domain`]: the rules (order state machine, pricing, refund limits, payment checks) as plain
//!   functions;
//! - [`store`]: all SQL;
//! - [`service`]: the workflows that combine them in transactions (place order, pay, apply a
//!   payment notification, cancel, ship, refund);
//! - [`jobs`]: background work (unpaid orders time out; payments are reconciled by the payment
//!   flow's job);
//! - [`http`]: the HTTP handlers and the OpenAPI description;
//! - [`events`]: the domain events written to the outbox.

pub mod app;
pub mod auth;
pub mod demo;
pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod service;
pub mod settings;
pub mod store;

use std::sync::Arc;

use axum::extract::FromRef;
use suanpan_core::CoreState;
use suanpan_core::db::migrate::Migration;
use suanpan_core::wechat_login::WechatLogin;

/// The shop's migrations (run with the core's and every other system's by the binary).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 2,
        name: "shop",
        sql: include_str!("../migrations/0002_shop.sql"),
    },
    Migration {
        version: 6,
        name: "shop_payments_to_flow",
        sql: include_str!("../migrations/0006_shop_payments_to_flow.sql"),
    },
];

/// The shop's handler state.
#[derive(Clone)]
pub struct ShopState {
    /// Shared core handles.
    pub core: CoreState,
    /// The shop's settings.
    pub settings: Arc<settings::ShopSettings>,
    /// Mini-program login (`jscode2session`).
    pub wechat: Arc<WechatLogin>,
    /// The payment flow shared by every system (the shop's trades are owned by
    /// [`service::ShopPayments`]); without WeChat Pay configured, payment routes answer
    /// `payment_not_configured`.
    pub payments: suanpan_payments::Payments,
    /// Orders go through the core's group-commit write path.
    pub orders: suanpan_core::writer::GroupWriter<service::PlaceOrder>,
}

impl FromRef<ShopState> for CoreState {
    fn from_ref(s: &ShopState) -> CoreState {
        s.core.clone()
    }
}
