//! The provider-neutral payment interface: one small trait a system plugs any provider into,
//! and provider-neutral shapes for prepay answers, trades, refunds and notifications.
//!
//! Amounts are integer fen (1 yuan = 100 fen) everywhere here; providers convert at the wire.
//! Times are Unix seconds. `raw` fields keep the provider's own JSON for auditing.
//!
//! A system holds `Arc<dyn PaymentProvider>` per configured provider and calls:
//! [`PaymentProvider::prepay`] when an order is placed, [`PaymentProvider::parse_notification`]
//! in its webhook (answering [`PaymentProvider::ack`] or [`PaymentProvider::nack`]),
//! [`PaymentProvider::query`] to reconcile, [`PaymentProvider::close`] on timeout, and
//! [`PaymentProvider::refund`] / [`PaymentProvider::query_refund`] for refunds.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::PayError;
use crate::wechatpay::client::PayParams;

/// Which payment provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// WeChat Pay API v3 (`wechat`).
    Wechat,
    /// Alipay open API (`alipay`).
    Alipay,
}

/// How the payer pays: decides which provider API a prepay uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Scene {
    /// WeChat mini-program / official-account pay (JSAPI下单); the payer's openid under the AppID.
    Jsapi {
        /// The payer's openid.
        openid: String,
    },
    /// WeChat Native pay (Native下单): a QR code for a web console.
    Native,
    /// Alipay QR code (`alipay.trade.precreate`).
    AlipayQr,
    /// Alipay desktop-web page (`alipay.trade.page.pay`): the payer's browser is redirected.
    AlipayPage {
        /// Where Alipay sends the browser back after paying (`return_url`).
        return_url: String,
    },
}

/// A request to open a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayRequest {
    /// Our order number (6–32 characters of letters, digits, `_-|*`; unique per merchant).
    pub out_trade_no: String,
    /// Amount, integer fen (> 0).
    pub amount_fen: i64,
    /// What the payer sees (WeChat `description`, Alipay `subject`).
    pub description: String,
    /// How the payer pays.
    pub scene: Scene,
    /// After this Unix time (seconds) the provider refuses payment.
    pub expires_at_unix: Option<i64>,
    /// Where the provider posts this payment's notifications; `None`: the provider's
    /// configured URL. A system that serves its own notification route names it here.
    #[serde(default)]
    pub notify_url: Option<String>,
}

/// What the payer's side needs to pay.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PrepayAnswer {
    /// `wx.requestPayment` parameters (JSAPI).
    JsapiParams(PayParams),
    /// Show this as a QR code (WeChat Native `code_url`, Alipay precreate `qr_code`).
    QrCode {
        /// The text to encode.
        code_url: String,
    },
    /// Send the payer's browser here (Alipay page pay).
    RedirectUrl {
        /// A signed gateway URL.
        url: String,
    },
}

/// A trade's state, provider-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    /// Created, not paid yet (WeChat `NOTPAY`, Alipay `WAIT_BUYER_PAY`).
    NotPaid,
    /// The payer is entering a password or similar (WeChat `USERPAYING`).
    Paying,
    /// Paid (WeChat `SUCCESS`, Alipay `TRADE_SUCCESS` and `TRADE_FINISHED`).
    Paid,
    /// Closed without payment, or fully refunded on Alipay (WeChat `CLOSED`/`REVOKED`, Alipay
    /// `TRADE_CLOSED`).
    Closed,
    /// Paid, then (partly) refunded (WeChat `REFUND`).
    Refunded,
    /// Payment failed (WeChat `PAYERROR`).
    PayError,
}

/// A trade as the provider reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderTrade {
    /// Which provider.
    pub provider: Provider,
    /// Our order number.
    pub out_trade_no: String,
    /// The provider's trade id (WeChat `transaction_id`, Alipay `trade_no`), once known.
    pub transaction_id: Option<String>,
    /// State.
    pub status: TradeStatus,
    /// Order total, integer fen.
    pub amount_fen: i64,
    /// The payer (WeChat openid, Alipay `buyer_id`/`buyer_open_id`), when reported.
    pub payer: Option<String>,
    /// When it was paid, Unix seconds.
    pub paid_at_unix: Option<i64>,
    /// The provider's own JSON (decrypted resource, response node or notification fields).
    pub raw: serde_json::Value,
}

/// A refund's state, provider-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Accepted, money not back yet.
    Processing,
    /// Money returned.
    Succeeded,
    /// Closed without refunding.
    Closed,
    /// Failed; needs handling by hand (WeChat `ABNORMAL`).
    Abnormal,
}

/// A request to refund (part of) a paid trade.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Our refund number: one refund per number; retrying with the same number is safe
    /// (WeChat `out_refund_no`, Alipay `out_request_no`).
    pub out_refund_no: String,
    /// Our order number.
    pub out_trade_no: String,
    /// Refund amount, integer fen.
    pub amount_fen: i64,
    /// The order's total, integer fen (WeChat requires it).
    pub total_fen: i64,
    /// Shown to the payer.
    pub reason: String,
    /// Where the provider posts the refund's result (WeChat Pay; Alipay refunds answer at
    /// once); `None`: the provider's configured URL.
    #[serde(default)]
    pub notify_url: Option<String>,
}

/// A refund as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefund {
    /// Which provider.
    pub provider: Provider,
    /// Our refund number.
    pub out_refund_no: String,
    /// The provider's refund id (WeChat `refund_id`; Alipay has none, its `trade_no` is used).
    pub refund_id: Option<String>,
    /// Our order number.
    pub out_trade_no: String,
    /// State.
    pub status: RefundStatus,
    /// Refunded amount, integer fen.
    pub amount_fen: i64,
}

/// A verified, decoded notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Notification {
    /// A trade changed (paid, closed).
    Payment(ProviderTrade),
    /// A refund finished (succeeded, closed, abnormal).
    Refund(ProviderRefund),
}

/// The HTTP answer a notification endpoint returns to the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl Provider {
    /// The stored name (`wechat`, `alipay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Alipay => "alipay",
        }
    }

    /// The provider of a stored name.
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "wechat" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        }
    }

    /// "Received and handled": WeChat Pay `204 No Content` (支付通知 应答); Alipay the text
    /// `success` (异步通知 应答).
    pub fn ack(self) -> NotifyAnswer {
        match self {
            Provider::Wechat => NotifyAnswer {
                status: 204,
                content_type: None,
                body: Vec::new(),
            },
            Provider::Alipay => NotifyAnswer {
                status: 200,
                content_type: Some("text/plain; charset=utf-8"),
                body: b"success".to_vec(),
            },
        }
    }

    /// "Not handled, send again": WeChat Pay `500 {"code":"FAIL","message":…}`; Alipay the text
    /// `fail` (anything but `success` makes Alipay redeliver).
    pub fn nack(self, message: &str) -> NotifyAnswer {
        match self {
            Provider::Wechat => NotifyAnswer {
                status: 500,
                content_type: Some("application/json"),
                body: serde_json::json!({"code": "FAIL", "message": message})
                    .to_string()
                    .into_bytes(),
            },
            Provider::Alipay => NotifyAnswer {
                status: 200,
                content_type: Some("text/plain; charset=utf-8"),
                body: b"fail".to_vec(),
            },
        }
    }
}

impl axum::response::IntoResponse for NotifyAnswer {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, self.body).into_response();
        if let Some(ct) = self.content_type {
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(ct),
            );
        }
        resp
    }
}

/// A boxed future returning `Result<T, PayError>`, so the trait is object safe.
pub type PayFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PayError>> + Send + 'a>>;

/// One payment provider, merchant side. Object safe: hold it as `Arc<dyn PaymentProvider>`.
pub trait PaymentProvider: Send + Sync {
    /// Which provider this is.
    fn provider(&self) -> Provider;

    /// Opens a payment. Errors: [`PayError::Unsupported`] for a scene of another provider,
    /// [`PayError::Api`] for the provider's refusal, [`PayError::Transport`].
    fn prepay<'a>(&'a self, req: &'a PrepayRequest) -> PayFuture<'a, PrepayAnswer>;

    /// Asks the provider for a trade's state (for reconciliation; notifications can be lost).
    fn query<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ProviderTrade>;

    /// Closes an unpaid trade so it can no longer be paid.
    fn close<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ()>;

    /// Refunds part or all of a paid trade.
    fn refund<'a>(&'a self, req: &'a RefundRequest) -> PayFuture<'a, ProviderRefund>;

    /// Asks for a refund's state. `out_trade_no` is the refunded order (Alipay's
    /// `alipay.trade.fastpay.refund.query` needs it; WeChat Pay ignores it).
    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> PayFuture<'a, ProviderRefund>;

    /// Verifies and decodes a notification posted to our notify URL: signature, decryption,
    /// merchant check, mapping to neutral types. Makes no outbound call. A key this provider
    /// does not hold gives [`PayError::UnknownSerial`]: answer [`Self::nack`] and the provider
    /// redelivers (refresh certificates meanwhile).
    fn parse_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, PayError>;

    /// The `wx.requestPayment` parameters of an open JSAPI prepay, signed anew (to show a
    /// payer the same prepay again). Providers without JSAPI answer [`PayError::Unsupported`].
    fn jsapi_params(&self, prepay_id: &str) -> Result<PayParams, PayError> {
        Err(PayError::Unsupported(format!(
            "JSAPI prepay {prepay_id} at {}",
            self.provider().as_str()
        )))
    }

    /// The answer for a handled notification.
    fn ack(&self) -> NotifyAnswer {
        self.provider().ack()
    }

    /// The answer for a notification that must be delivered again.
    fn nack(&self, message: &str) -> NotifyAnswer {
        self.provider().nack(message)
    }
}
