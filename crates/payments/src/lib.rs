//! # suanpan-payments
//!
//! Payment protocols, merchant side, shared by every Suanpan system that takes money:
//!
//! - [`wechatpay`]: WeChat Pay API v3 — request signing (`WECHATPAY2-SHA256-RSA2048`), response and
//!   notification verification (platform public key id `PUB_KEY_ID_…` or platform certificate
//!   serial), `AEAD_AES_256_GCM` resource decryption, JSAPI prepay and `wx.requestPayment`
//!   parameters, order query/close, refunds; plus [`wechatpay::simulator`], a local fake WeChat
//!   server for development and tests that speaks the same protocol.
//! - [`alipay`]: Alipay asynchronous-notification signature verification (RSA2).
//!
//! Nothing here touches a database: systems decide what a verified notification means.

pub mod alipay;
pub mod error;
pub mod settings;
pub mod wechatpay;

pub use error::PayError;
