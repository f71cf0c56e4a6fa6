//! # suanpan-payments
//!
//! Payment protocols, merchant side, shared by every Suanpan system that takes money:
//!
//! - [`provider`]: the provider-neutral interface — [`provider::PaymentProvider`] (prepay,
//!   query, close, refund, refund query, notification parsing), the neutral shapes
//!   ([`provider::PrepayRequest`], [`provider::PrepayAnswer`], [`provider::ProviderTrade`],
//!   [`provider::ProviderRefund`], [`provider::Notification`]) and what to answer a provider's
//!   notification ([`provider::Provider::ack`] / [`provider::Provider::nack`]). Hold providers
//!   as `Arc<dyn PaymentProvider>`.
//! - [`wechatpay`]: WeChat Pay API v3 — request signing (`WECHATPAY2-SHA256-RSA2048`), response and
//!   notification verification (platform public key id `PUB_KEY_ID_…`, or platform certificates
//!   downloaded from `/v3/certificates`, decrypted, verified and rotated by
//!   [`wechatpay::CertificateManager`]), `AEAD_AES_256_GCM` resource decryption, JSAPI and Native
//!   prepay, `wx.requestPayment` parameters, order query/close, refunds and refund notifications;
//!   plus [`wechatpay::simulator`], a local fake WeChat server for development and tests that
//!   speaks the same protocol.
//! - [`alipay`]: the Alipay open API with RSA2 signing — `alipay.trade.precreate` (QR code),
//!   `alipay.trade.page.pay` (signed redirect URL), query, refund, refund query, close, and
//!   asynchronous-notification verification; plus [`alipay::simulator`], a local fake Alipay
//!   gateway for development and tests.
//! - [`money`]: exact fen ↔ yuan-string conversions.
//! - [`flow`]: the payment flow of every system — trades and refunds in the database, applied
//!   exactly once, one reconciliation job; a system plugs in with [`flow::PaymentOwner`].
//!
//! Amounts are integer fen unless a name says otherwise. Only [`flow`] touches a database (its
//! migration is [`MIGRATIONS`]); owners decide what a payment means to them. The simulators are development tools,
//! never for production. See `docs/payments.md`.

pub mod alipay;
pub mod error;
pub mod flow;
pub mod money;
pub mod provider;
pub mod settings;
pub mod wechatpay;

pub use error::PayError;
pub use flow::Payments;

use suanpan_core::db::migrate::Migration;

/// The payment flow's migrations (tables `pay_trades`, `pay_refunds`), run by the binary with
/// every system's.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 5,
    name: "payment_flow",
    sql: include_str!("../migrations/0005_payment_flow.sql"),
}];
pub use provider::{PaymentProvider, Provider};

#[cfg(test)]
mod vectors;
