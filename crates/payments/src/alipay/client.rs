//! The Alipay open API client (支付宝开放平台 通用接口): signs every request with the merchant key
//! (RSA2), verifies every answer's `sign` over the raw response node with the Alipay public
//! key, and maps answers to the provider-neutral shapes. Pointing `gateway` at the
//! [simulator](super::simulator) runs the same code.

use std::time::Duration;

use serde_json::{Value, json};

use super::{request_signing_content, response_node, sign_rsa2, verify_notify, verify_rsa2};
use crate::PayError;
use crate::money::{fen_to_yuan, yuan_to_fen};
use crate::provider::{
    Notification, PayFuture, PaymentProvider, PrepayAnswer, PrepayRequest, Provider,
    ProviderRefund, ProviderTrade, RefundRequest, RefundStatus, Scene, TradeStatus,
};
use crate::wechatpay::MerchantKey;

/// The production gateway.
pub const DEFAULT_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// Everything the Alipay client needs.
pub struct AlipayConfig {
    /// Gateway URL, default [`DEFAULT_GATEWAY`].
    pub gateway: String,
    /// The application's `app_id`.
    pub app_id: String,
    /// The application private key (PKCS#8 or PKCS#1 PEM), RSA2.
    pub merchant_key: MerchantKey,
    /// The Alipay public key (支付宝公钥), base64 SPKI DER as the console shows it.
    pub alipay_public_key_b64: String,
    /// `notify_url` for asynchronous notifications (empty: none unless a request names one).
    pub notify_url: String,
}

/// The client.
pub struct AlipayClient {
    http: reqwest::Client,
    cfg: AlipayConfig,
}

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (UTC+08:00), the gateway's `timestamp` and
/// `time_expire` format.
pub fn china_datetime(unix_secs: i64) -> String {
    use chrono::TimeZone;
    match suanpan_core::time::china()
        .timestamp_opt(unix_secs, 0)
        .single()
    {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => String::new(),
    }
}

/// Parses `yyyy-MM-dd HH:mm:ss` (Asia/Shanghai) into Unix seconds.
pub fn parse_china_datetime(s: &str) -> Option<i64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    suanpan_core::time::china()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp())
}

/// Alipay `trade_status` → [`TradeStatus`] (统一收单交易查询 `trade_status`).
pub fn trade_status(s: &str) -> TradeStatus {
    match s {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => TradeStatus::Paid,
        "TRADE_CLOSED" => TradeStatus::Closed,
        _ => TradeStatus::NotPaid,
    }
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn trade_of(v: &Value) -> Result<ProviderTrade, PayError> {
    let amount = str_of(v, "total_amount").unwrap_or_else(|| "0".into());
    Ok(ProviderTrade {
        provider: Provider::Alipay,
        out_trade_no: str_of(v, "out_trade_no").unwrap_or_default(),
        transaction_id: str_of(v, "trade_no"),
        status: trade_status(v["trade_status"].as_str().unwrap_or_default()),
        amount_fen: yuan_to_fen(&amount)?,
        payer: str_of(v, "buyer_user_id")
            .or_else(|| str_of(v, "buyer_id"))
            .or_else(|| str_of(v, "buyer_open_id")),
        paid_at_unix: str_of(v, "send_pay_date")
            .or_else(|| str_of(v, "gmt_payment"))
            .and_then(|s| parse_china_datetime(&s)),
        raw: v.clone(),
    })
}

impl AlipayClient {
    /// Checks the configuration (app id, public key) and builds the client.
    pub fn new(cfg: AlipayConfig) -> Result<Self, PayError> {
        if cfg.app_id.is_empty() {
            return Err(PayError::Config("Alipay app_id is required".into()));
        }
        crate::alipay::parse_public_key(&cfg.alipay_public_key_b64)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("suanpan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PayError::Config(e.to_string()))?;
        Ok(AlipayClient { http, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &AlipayConfig {
        &self.cfg
    }

    /// The signed parameters of a call: common parameters (`app_id`, `method`, `format=JSON`,
    /// `charset=utf-8`, `sign_type=RSA2`, `timestamp`, `version=1.0`, `notify_url`), `extra`
    /// (e.g. `return_url`; a `notify_url` there replaces the configured one), `biz_content`, and
    /// `sign`.
    pub fn signed_params(
        &self,
        method: &str,
        biz: &Value,
        extra: &[(&str, &str)],
        now_unix: i64,
    ) -> Result<Vec<(String, String)>, PayError> {
        let overridden = extra.iter().any(|(k, _)| *k == "notify_url");
        let notify = match overridden || self.cfg.notify_url.is_empty() {
            true => None,
            false => Some(("notify_url", self.cfg.notify_url.as_str())),
        };
        let mut p: Vec<(String, String)> = [
            ("app_id", self.cfg.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .iter()
        .chain(notify.iter())
        .chain(extra.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.push(("timestamp".into(), china_datetime(now_unix)));
        p.push(("biz_content".into(), biz.to_string()));
        let sign = sign_rsa2(&request_signing_content(&p), &self.cfg.merchant_key)?;
        p.push(("sign".into(), sign));
        Ok(p)
    }

    /// Calls `method` and returns its verified response node on `code` `10000`. Errors:
    /// [`PayError::Api`] with `sub_code`/`sub_msg` (or `code`/`msg`),
    /// [`PayError::BadSignature`], [`PayError::Transport`], [`PayError::Malformed`].
    pub async fn call(&self, method: &str, biz: &Value) -> Result<Value, PayError> {
        self.call_with(method, biz, &[]).await
    }

    /// [`Self::call`] with extra common parameters (see [`Self::signed_params`]).
    pub async fn call_with(
        &self,
        method: &str,
        biz: &Value,
        extra: &[(&str, &str)],
    ) -> Result<Value, PayError> {
        let params = self.signed_params(method, biz, extra, chrono::Utc::now().timestamp())?;
        let body = form_encode(&params);
        let resp = self
            .http
            .post(format!("{}?charset=utf-8", self.cfg.gateway))
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| PayError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| PayError::Transport(e.to_string()))?;
        self.open_response(method, status, &text)
    }

    /// Verifies and reads a gateway answer to `method` (see [`Self::call`]).
    pub fn open_response(&self, method: &str, status: u16, text: &str) -> Result<Value, PayError> {
        let name = format!("{}_response", method.replace('.', "_"));
        let (node, sign) = response_node(text, &name)?;
        let (node, sign) = match (node, sign) {
            (Some(n), s) => (n, s),
            (None, _) => match response_node(text, "error_response")? {
                (Some(n), s) => (n, s),
                (None, _) => return Err(PayError::Malformed(format!("no {name} in answer"))),
            },
        };
        let v: Value =
            serde_json::from_str(node).map_err(|e| PayError::Malformed(e.to_string()))?;
        let code = v["code"].as_str().unwrap_or_default();
        match sign {
            Some(sign) => verify_rsa2(node, &sign, &self.cfg.alipay_public_key_b64)?,
            // Alipay leaves some gateway-level errors unsigned; a success must be signed.
            None if code == "10000" => {
                return Err(PayError::BadSignature("answer carries no sign".into()));
            }
            None => {}
        }
        if code == "10000" {
            return Ok(v);
        }
        let pick = |a: &str, b: &str| str_of(&v, a).or_else(|| str_of(&v, b)).unwrap_or_default();
        Err(PayError::Api {
            status,
            code: pick("sub_code", "code"),
            message: pick("sub_msg", "msg"),
        })
    }

    /// `alipay.trade.precreate` (统一收单线下交易预创建) → `qr_code`; `notify_url` replaces the
    /// configured one for this trade.
    pub async fn precreate(
        &self,
        out_trade_no: &str,
        amount_fen: i64,
        subject: &str,
        expires_at_unix: Option<i64>,
        notify_url: Option<&str>,
    ) -> Result<String, PayError> {
        let mut biz = json!({
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen)?,
            "subject": subject,
        });
        if let Some(t) = expires_at_unix {
            biz["time_expire"] = json!(china_datetime(t));
        }
        let extra: Vec<(&str, &str)> = notify_url.map(|u| ("notify_url", u)).into_iter().collect();
        let v = self
            .call_with("alipay.trade.precreate", &biz, &extra)
            .await?;
        str_of(&v, "qr_code").ok_or_else(|| PayError::Malformed("no qr_code".into()))
    }

    /// `alipay.trade.page.pay` (统一收单下单并支付页面接口): no server call; the signed GET URL
    /// of the gateway to send the payer's browser to (`product_code=FAST_INSTANT_TRADE_PAY`).
    pub fn page_pay_url(
        &self,
        out_trade_no: &str,
        amount_fen: i64,
        subject: &str,
        return_url: &str,
        expires_at_unix: Option<i64>,
        notify_url: Option<&str>,
    ) -> Result<String, PayError> {
        let mut biz = json!({
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen)?,
            "subject": subject,
            "product_code": "FAST_INSTANT_TRADE_PAY",
        });
        if let Some(t) = expires_at_unix {
            biz["time_expire"] = json!(china_datetime(t));
        }
        let mut extra = vec![("return_url", return_url)];
        extra.extend(notify_url.map(|u| ("notify_url", u)));
        let p = self.signed_params(
            "alipay.trade.page.pay",
            &biz,
            &extra,
            chrono::Utc::now().timestamp(),
        )?;
        Ok(format!("{}?{}", self.cfg.gateway, form_encode(&p)))
    }

    /// `alipay.trade.query` (统一收单交易查询).
    pub async fn query_trade(&self, out_trade_no: &str) -> Result<ProviderTrade, PayError> {
        let v = self
            .call("alipay.trade.query", &json!({"out_trade_no": out_trade_no}))
            .await?;
        trade_of(&v)
    }

    /// `alipay.trade.close` (统一收单交易关闭). A trade Alipay never saw (a QR code nobody
    /// scanned: `ACQ.TRADE_NOT_EXIST`) counts as closed.
    pub async fn close_trade(&self, out_trade_no: &str) -> Result<(), PayError> {
        match self
            .call("alipay.trade.close", &json!({"out_trade_no": out_trade_no}))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.api_code() == Some("ACQ.TRADE_NOT_EXIST") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `alipay.trade.refund` (统一收单交易退款): `out_request_no` = our refund number,
    /// `refund_amount` in yuan. Alipay refunds synchronously: success means money returned.
    pub async fn refund_trade(&self, r: &RefundRequest) -> Result<ProviderRefund, PayError> {
        let biz = json!({
            "out_trade_no": r.out_trade_no,
            "out_request_no": r.out_refund_no,
            "refund_amount": fen_to_yuan(r.amount_fen)?,
            "refund_reason": r.reason,
        });
        let v = self.call("alipay.trade.refund", &biz).await?;
        Ok(ProviderRefund {
            provider: Provider::Alipay,
            out_refund_no: r.out_refund_no.clone(),
            refund_id: str_of(&v, "trade_no"),
            out_trade_no: r.out_trade_no.clone(),
            status: RefundStatus::Succeeded,
            amount_fen: r.amount_fen,
        })
    }

    /// `alipay.trade.fastpay.refund.query` (统一收单交易退款查询). `REFUND_SUCCESS` (or, from
    /// older gateways, a `refund_amount` without status) is success; an answer without refund
    /// data means the refund did not happen (yet): `Processing`.
    pub async fn query_refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
    ) -> Result<ProviderRefund, PayError> {
        let biz = json!({"out_trade_no": out_trade_no, "out_request_no": out_refund_no});
        let v = self.call("alipay.trade.fastpay.refund.query", &biz).await?;
        let amount = str_of(&v, "refund_amount");
        let status = match (v["refund_status"].as_str(), &amount) {
            (Some("REFUND_SUCCESS"), _) | (None, Some(_)) => RefundStatus::Succeeded,
            _ => RefundStatus::Processing,
        };
        Ok(ProviderRefund {
            provider: Provider::Alipay,
            out_refund_no: out_refund_no.to_string(),
            refund_id: str_of(&v, "trade_no"),
            out_trade_no: out_trade_no.to_string(),
            status,
            amount_fen: amount.as_deref().map(yuan_to_fen).transpose()?.unwrap_or(0),
        })
    }

    /// Verifies and maps an asynchronous notification (form-encoded body): RSA2 signature with
    /// the Alipay public key, `app_id` must be ours ([`PayError::WrongMerchant`]). A
    /// notification carrying `refund_fee` and `out_biz_no` is a refund (`out_biz_no` is our
    /// refund number, `refund_fee` the total refunded so far); others are payments.
    pub fn parse_notify_form(&self, body: &[u8]) -> Result<Notification, PayError> {
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        verify_notify(&params, &self.cfg.alipay_public_key_b64)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if get("app_id").as_deref() != Some(self.cfg.app_id.as_str()) {
            return Err(PayError::WrongMerchant(get("app_id").unwrap_or_default()));
        }
        let v: Value = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        if let (Some(fee), Some(no)) = (get("refund_fee"), get("out_biz_no")) {
            return Ok(Notification::Refund(ProviderRefund {
                provider: Provider::Alipay,
                out_refund_no: no,
                refund_id: get("trade_no"),
                out_trade_no: get("out_trade_no").unwrap_or_default(),
                status: RefundStatus::Succeeded,
                amount_fen: yuan_to_fen(&fee)?,
            }));
        }
        Ok(Notification::Payment(trade_of(&v)?))
    }

    async fn neutral_prepay(&self, req: &PrepayRequest) -> Result<PrepayAnswer, PayError> {
        let (no, fen, subj, exp) = (
            &req.out_trade_no,
            req.amount_fen,
            &req.description,
            req.expires_at_unix,
        );
        let notify = req.notify_url.as_deref();
        match &req.scene {
            Scene::AlipayQr => Ok(PrepayAnswer::QrCode {
                code_url: self.precreate(no, fen, subj, exp, notify).await?,
            }),
            Scene::AlipayPage { return_url } => Ok(PrepayAnswer::RedirectUrl {
                url: self.page_pay_url(no, fen, subj, return_url, exp, notify)?,
            }),
            other => Err(PayError::Unsupported(format!(
                "Alipay cannot serve scene {other:?}"
            ))),
        }
    }
}

/// `k=v&…` with form URL encoding (UTF-8).
pub fn form_encode(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

impl PaymentProvider for AlipayClient {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    fn prepay<'a>(&'a self, req: &'a PrepayRequest) -> PayFuture<'a, PrepayAnswer> {
        Box::pin(self.neutral_prepay(req))
    }

    fn query<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ProviderTrade> {
        Box::pin(self.query_trade(out_trade_no))
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ()> {
        Box::pin(self.close_trade(out_trade_no))
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> PayFuture<'a, ProviderRefund> {
        Box::pin(self.refund_trade(req))
    }

    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> PayFuture<'a, ProviderRefund> {
        Box::pin(AlipayClient::query_refund(
            self,
            out_trade_no,
            out_refund_no,
        ))
    }

    fn parse_notification(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, PayError> {
        self.parse_notify_form(body)
    }
}
