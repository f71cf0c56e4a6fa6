//! [`PaymentProvider`] for the WeChat Pay client: maps WeChat Pay API v3 shapes to the
//! provider-neutral ones.

use super::client::{
    NativePrepayRequest, PrepayRequest as JsapiRequest, RefundRequest as WxRefund,
};
use super::{Refund, Transaction, WechatPayClient};
use crate::PayError;
use crate::provider::{
    Notification, PayFuture, PaymentProvider, PrepayAnswer, PrepayRequest, Provider,
    ProviderRefund, ProviderTrade, RefundRequest, RefundStatus, Scene, TradeStatus,
};

/// WeChat `trade_state` → [`TradeStatus`] (微信支付 查询订单 `trade_state`).
pub fn trade_status(trade_state: &str) -> TradeStatus {
    match trade_state {
        "SUCCESS" => TradeStatus::Paid,
        "REFUND" => TradeStatus::Refunded,
        "CLOSED" | "REVOKED" => TradeStatus::Closed,
        "USERPAYING" => TradeStatus::Paying,
        "PAYERROR" => TradeStatus::PayError,
        _ => TradeStatus::NotPaid,
    }
}

/// WeChat refund `status` → [`RefundStatus`] (微信支付 查询单笔退款 `status`).
pub fn refund_status(status: &str) -> RefundStatus {
    match status {
        "SUCCESS" => RefundStatus::Succeeded,
        "CLOSED" => RefundStatus::Closed,
        "ABNORMAL" => RefundStatus::Abnormal,
        _ => RefundStatus::Processing,
    }
}

/// A [`Transaction`] in neutral form.
pub fn neutral_trade(tx: &Transaction) -> ProviderTrade {
    ProviderTrade {
        provider: Provider::Wechat,
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id: tx.transaction_id.clone(),
        status: trade_status(&tx.trade_state),
        amount_fen: tx.amount.as_ref().map(|a| a.total).unwrap_or(0),
        payer: tx.payer.as_ref().and_then(|p| p.openid.clone()),
        paid_at_unix: tx
            .success_time
            .as_deref()
            .and_then(suanpan_core::time::parse_rfc3339)
            .map(|ms| ms.div_euclid(1000)),
        raw: serde_json::to_value(tx).unwrap_or_default(),
    }
}

/// A [`Refund`] in neutral form.
pub fn neutral_refund(r: &Refund) -> ProviderRefund {
    ProviderRefund {
        provider: Provider::Wechat,
        out_refund_no: r.out_refund_no.clone(),
        refund_id: r.refund_id.clone(),
        out_trade_no: r.out_trade_no.clone().unwrap_or_default(),
        status: refund_status(&r.status),
        amount_fen: r.amount.refund,
    }
}

fn time_expire(unix: Option<i64>) -> Option<String> {
    unix.map(|s| suanpan_core::time::rfc3339(s.saturating_mul(1000)))
}

impl WechatPayClient {
    async fn neutral_prepay(&self, req: &PrepayRequest) -> Result<PrepayAnswer, PayError> {
        match &req.scene {
            Scene::Jsapi { openid } => {
                let prepay_id = self
                    .jsapi_prepay(&JsapiRequest {
                        description: req.description.clone(),
                        out_trade_no: req.out_trade_no.clone(),
                        amount_fen: req.amount_fen,
                        payer_openid: openid.clone(),
                        time_expire: time_expire(req.expires_at_unix),
                        notify_url: req.notify_url.clone(),
                    })
                    .await?;
                Ok(PrepayAnswer::JsapiParams(self.pay_params(&prepay_id)?))
            }
            Scene::Native => {
                let code_url = self
                    .native_prepay(&NativePrepayRequest {
                        description: req.description.clone(),
                        out_trade_no: req.out_trade_no.clone(),
                        amount_fen: req.amount_fen,
                        time_expire: time_expire(req.expires_at_unix),
                        notify_url: req.notify_url.clone(),
                    })
                    .await?;
                Ok(PrepayAnswer::QrCode { code_url })
            }
            other => Err(PayError::Unsupported(format!(
                "WeChat Pay cannot serve scene {other:?}"
            ))),
        }
    }

    /// Verifies, decrypts and maps a notification: `TRANSACTION.*` → [`Notification::Payment`],
    /// `REFUND.*` → [`Notification::Refund`]. The resource's `mchid` must be ours.
    pub fn parse_neutral_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, PayError> {
        let (n, plain) = self.open_notification(headers, body)?;
        let mchid = &self.config().mchid;
        if n.event_type.starts_with("TRANSACTION.") {
            let tx: Transaction =
                serde_json::from_slice(&plain).map_err(|e| PayError::Malformed(e.to_string()))?;
            if &tx.mchid != mchid || tx.appid != self.config().appid {
                return Err(PayError::WrongMerchant(format!(
                    "{}/{}",
                    tx.mchid, tx.appid
                )));
            }
            return Ok(Notification::Payment(neutral_trade(&tx)));
        }
        if n.event_type.starts_with("REFUND.") {
            let r: Refund =
                serde_json::from_slice(&plain).map_err(|e| PayError::Malformed(e.to_string()))?;
            if r.mchid.as_ref().is_some_and(|m| m != mchid) {
                return Err(PayError::WrongMerchant(r.mchid.unwrap_or_default()));
            }
            return Ok(Notification::Refund(neutral_refund(&r)));
        }
        Err(PayError::Unsupported(format!(
            "notification event {}",
            n.event_type
        )))
    }
}

impl PaymentProvider for WechatPayClient {
    fn provider(&self) -> Provider {
        Provider::Wechat
    }

    fn jsapi_params(
        &self,
        prepay_id: &str,
    ) -> Result<crate::wechatpay::client::PayParams, PayError> {
        self.pay_params(prepay_id)
    }

    fn prepay<'a>(&'a self, req: &'a PrepayRequest) -> PayFuture<'a, PrepayAnswer> {
        Box::pin(self.neutral_prepay(req))
    }

    fn query<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ProviderTrade> {
        Box::pin(async move { Ok(neutral_trade(&self.query_order(out_trade_no).await?)) })
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ()> {
        Box::pin(self.close_order(out_trade_no))
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> PayFuture<'a, ProviderRefund> {
        Box::pin(async move {
            let r = WechatPayClient::refund(
                self,
                &WxRefund {
                    out_trade_no: req.out_trade_no.clone(),
                    out_refund_no: req.out_refund_no.clone(),
                    reason: req.reason.clone(),
                    refund_fen: req.amount_fen,
                    total_fen: req.total_fen,
                    notify_url: req.notify_url.clone(),
                },
            )
            .await?;
            Ok(neutral_refund(&r))
        })
    }

    fn query_refund<'a>(
        &'a self,
        _out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> PayFuture<'a, ProviderRefund> {
        Box::pin(async move {
            Ok(neutral_refund(
                &WechatPayClient::query_refund(self, out_refund_no).await?,
            ))
        })
    }

    fn parse_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, PayError> {
        self.parse_neutral_notification(headers, body)
    }
}
