//! The WeChat Pay API v3 client. It always calls the configured base URL, signs every request
//! with the merchant key and verifies every successful response's signature with the platform
//! keys, exactly as for notifications; so pointing the base at any server that speaks the
//! protocol (the simulator, a test double, the real `https://api.mch.weixin.qq.com`) runs the
//! same code.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    MerchantKey, Notification, PlatformKeys, Refund, SignatureHeaders, Transaction, authorization,
    open_notification, pay_sign_message,
};
use crate::PayError;

/// Everything the client needs.
pub struct WechatPayConfig {
    /// API base, e.g. `https://api.mch.weixin.qq.com`.
    pub api_base: String,
    /// The mini-program AppID the payments belong to.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// Serial of the merchant API certificate.
    pub merchant_serial: String,
    /// Merchant API private key.
    pub merchant_key: MerchantKey,
    /// APIv3 key, exactly 32 bytes.
    pub apiv3_key: Vec<u8>,
    /// WeChat Pay's verification keys.
    pub platform_keys: PlatformKeys,
    /// `notify_url` sent with prepay and refund requests.
    pub notify_url: String,
    /// Accepted signature clock skew, seconds (5 minutes per the guide).
    pub max_skew_secs: i64,
}

/// `wx.requestPayment` parameters (JSAPI调起支付), field names as the mini-program expects.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct PayParams {
    /// The AppID.
    pub appId: String,
    /// Unix seconds, as a string.
    pub timeStamp: String,
    /// Random string.
    pub nonceStr: String,
    /// `prepay_id=…`.
    pub package: String,
    /// Always `RSA`.
    pub signType: String,
    /// Base64 SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`.
    pub paySign: String,
}

/// A JSAPI prepay request.
#[derive(Clone, Debug)]
pub struct PrepayRequest {
    /// Shown to the payer (≤127 characters).
    pub description: String,
    /// Our order number (6–32 characters).
    pub out_trade_no: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// The payer's openid under `appid`.
    pub payer_openid: String,
    /// RFC 3339 deadline after which WeChat refuses payment.
    pub time_expire: Option<String>,
}

/// A refund request.
#[derive(Clone, Debug)]
pub struct RefundRequest {
    /// Our order number.
    pub out_trade_no: String,
    /// Our refund number: one refund per number, retries with the same number are safe.
    pub out_refund_no: String,
    /// Shown to the payer.
    pub reason: String,
    /// Refund amount, fen.
    pub refund_fen: i64,
    /// Original order total, fen.
    pub total_fen: i64,
}

/// The client.
pub struct WechatPayClient {
    http: reqwest::Client,
    cfg: WechatPayConfig,
}

fn nonce() -> String {
    suanpan_core::ids::random_alnum(32)
}

impl WechatPayClient {
    /// Checks the configuration (APIv3 key length, ids) and builds the client.
    pub fn new(cfg: WechatPayConfig) -> Result<Self, PayError> {
        if cfg.apiv3_key.len() != 32 {
            return Err(PayError::Config(format!(
                "the APIv3 key must be 32 bytes, got {}",
                cfg.apiv3_key.len()
            )));
        }
        if cfg.mchid.is_empty() || cfg.appid.is_empty() || cfg.merchant_serial.is_empty() {
            return Err(PayError::Config(
                "mchid, appid and merchant serial are required".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("suanpan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PayError::Config(e.to_string()))?;
        Ok(WechatPayClient { http, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &WechatPayConfig {
        &self.cfg
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), PayError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let ts = chrono::Utc::now().timestamp().to_string();
        let nonce = nonce();
        let auth = authorization(
            &self.cfg.merchant_key,
            &self.cfg.mchid,
            &self.cfg.merchant_serial,
            method.as_str(),
            path,
            &ts,
            &nonce,
            &body,
        )?;
        let mut req = self
            .http
            .request(
                method,
                format!("{}{}", self.cfg.api_base.trim_end_matches('/'), path),
            )
            .header("Authorization", auth)
            .header("Accept", "application/json");
        if !body.is_empty() {
            req = req.header("Content-Type", "application/json").body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| PayError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| PayError::Transport(e.to_string()))?
            .to_vec();
        if (200..300).contains(&status) {
            SignatureHeaders::from_headers(&headers)?.verify(
                &self.cfg.platform_keys,
                &bytes,
                chrono::Utc::now().timestamp(),
                self.cfg.max_skew_secs,
            )?;
            return Ok((status, bytes));
        }
        #[derive(Deserialize)]
        struct ApiErr {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let e: ApiErr = serde_json::from_slice(&bytes).unwrap_or(ApiErr {
            code: "UNKNOWN".into(),
            message: String::from_utf8_lossy(&bytes).into(),
        });
        Err(PayError::Api {
            status,
            code: e.code,
            message: e.message,
        })
    }

    fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, PayError> {
        serde_json::from_slice(bytes).map_err(|e| PayError::Malformed(e.to_string()))
    }

    /// `POST /v3/pay/transactions/jsapi` → `prepay_id`.
    pub async fn jsapi_prepay(&self, r: &PrepayRequest) -> Result<String, PayError> {
        let mut body = json!({
            "appid": self.cfg.appid,
            "mchid": self.cfg.mchid,
            "description": r.description,
            "out_trade_no": r.out_trade_no,
            "notify_url": self.cfg.notify_url,
            "amount": {"total": r.amount_fen, "currency": "CNY"},
            "payer": {"openid": r.payer_openid},
        });
        if let Some(t) = &r.time_expire {
            body["time_expire"] = json!(t);
        }
        let (_, bytes) = self
            .call(
                reqwest::Method::POST,
                "/v3/pay/transactions/jsapi",
                Some(body),
            )
            .await?;
        #[derive(Deserialize)]
        struct Prepay {
            prepay_id: String,
        }
        Ok(Self::parse::<Prepay>(&bytes)?.prepay_id)
    }

    /// The `wx.requestPayment` parameters for a prepay id, signed with the merchant key.
    pub fn pay_params(&self, prepay_id: &str) -> Result<PayParams, PayError> {
        let ts = chrono::Utc::now().timestamp().to_string();
        let nonce = nonce();
        let package = format!("prepay_id={prepay_id}");
        let sign = self
            .cfg
            .merchant_key
            .sign_b64(pay_sign_message(&self.cfg.appid, &ts, &nonce, &package).as_bytes())?;
        Ok(PayParams {
            appId: self.cfg.appid.clone(),
            timeStamp: ts,
            nonceStr: nonce,
            package,
            signType: "RSA".into(),
            paySign: sign,
        })
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`.
    pub async fn query_order(&self, out_trade_no: &str) -> Result<Transaction, PayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            urlencoding::encode(out_trade_no),
            urlencoding::encode(&self.cfg.mchid)
        );
        let (_, bytes) = self.call(reqwest::Method::GET, &path, None).await?;
        Self::parse(&bytes)
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (204 on success).
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), PayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            urlencoding::encode(out_trade_no)
        );
        self.call(
            reqwest::Method::POST,
            &path,
            Some(json!({"mchid": self.cfg.mchid})),
        )
        .await
        .map(|_| ())
    }

    /// `POST /v3/refund/domestic/refunds`.
    pub async fn refund(&self, r: &RefundRequest) -> Result<Refund, PayError> {
        let body = json!({
            "out_trade_no": r.out_trade_no,
            "out_refund_no": r.out_refund_no,
            "reason": r.reason,
            "notify_url": self.cfg.notify_url,
            "amount": {"refund": r.refund_fen, "total": r.total_fen, "currency": "CNY"},
        });
        let (_, bytes) = self
            .call(
                reqwest::Method::POST,
                "/v3/refund/domestic/refunds",
                Some(body),
            )
            .await?;
        Self::parse(&bytes)
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<Refund, PayError> {
        let path = format!(
            "/v3/refund/domestic/refunds/{}",
            urlencoding::encode(out_refund_no)
        );
        let (_, bytes) = self.call(reqwest::Method::GET, &path, None).await?;
        Self::parse(&bytes)
    }

    /// Verifies and decrypts a notification posted to our `notify_url`.
    pub fn open_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(Notification, Vec<u8>), PayError> {
        open_notification(
            headers,
            body,
            &self.cfg.platform_keys,
            &self.cfg.apiv3_key,
            chrono::Utc::now().timestamp(),
            self.cfg.max_skew_secs,
        )
    }
}

/// The APIv3 key as AES key bytes: WeChat's APIv3 key is a 32-character ASCII string used as
/// raw bytes; anything but 32 bytes is refused.
pub fn apiv3_key_bytes(key: &str) -> Result<Vec<u8>, PayError> {
    if key.len() != 32 {
        return Err(PayError::Config(format!(
            "the APIv3 key must be 32 characters, got {}",
            key.len()
        )));
    }
    Ok(key.as_bytes().to_vec())
}
