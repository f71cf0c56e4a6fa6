//! The WeChat Pay API v3 client. It always calls the configured base URL, signs every request
//! with the merchant key and verifies every successful response's signature with the platform
//! keys, exactly as for notifications; so pointing the base at any server that speaks the
//! protocol (the simulator, a test double, the real `https://api.mch.weixin.qq.com`) runs the
//! same code.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::certificates::CertificateManager;
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
    /// `notify_url` of this payment; `None`: the configured one.
    pub notify_url: Option<String>,
}

/// A Native (QR code) prepay request (Native下单).
#[derive(Clone, Debug)]
pub struct NativePrepayRequest {
    /// Shown to the payer (≤127 characters).
    pub description: String,
    /// Our order number (6–32 characters).
    pub out_trade_no: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// RFC 3339 deadline after which WeChat refuses payment.
    pub time_expire: Option<String>,
    /// `notify_url` of this payment; `None`: the configured one.
    pub notify_url: Option<String>,
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
    /// `notify_url` of this refund; `None`: the configured one.
    pub notify_url: Option<String>,
}

/// The client. Verification keys are the configured [`WechatPayConfig::platform_keys`]
/// (public-key mode, `PUB_KEY_ID_…`, or pinned certificates) plus, once
/// [`WechatPayClient::with_certificate_download`] is set, the platform certificates downloaded
/// from `/v3/certificates`.
pub struct WechatPayClient {
    http: reqwest::Client,
    cfg: WechatPayConfig,
    certs: Arc<CertificateManager>,
    cert_download: bool,
}

/// A raw answer: status, headers, body.
type RawAnswer = (u16, http::HeaderMap, Vec<u8>);

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
        Ok(WechatPayClient {
            http,
            cfg,
            certs: Arc::new(CertificateManager::new(Duration::from_secs(60))),
            cert_download: false,
        })
    }

    /// Turns on platform-certificate mode: responses and notifications may be signed by any
    /// certificate downloaded from `/v3/certificates`, and a message naming an unknown serial
    /// triggers at most one immediate refresh per `min_forced_interval`. Call
    /// [`Self::refresh_certificates`] once at start and [`Self::spawn_certificate_refresh`]
    /// for rotation. The configured public keys keep working alongside.
    pub fn with_certificate_download(mut self, min_forced_interval: Duration) -> Self {
        self.certs = Arc::new(CertificateManager::new(min_forced_interval));
        self.cert_download = true;
        self
    }

    /// The downloaded platform certificates.
    pub fn certificates(&self) -> &Arc<CertificateManager> {
        &self.certs
    }

    /// Every key a response or notification may be verified with now: the configured ones and
    /// the valid downloaded certificates.
    pub fn verification_keys(&self) -> PlatformKeys {
        let mut keys = self.cfg.platform_keys.clone();
        keys.extend(&self.certs.keys(chrono::Utc::now().timestamp()));
        keys
    }

    /// The configuration.
    pub fn config(&self) -> &WechatPayConfig {
        &self.cfg
    }

    async fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<RawAnswer, PayError> {
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
        Ok((status, headers, bytes))
    }

    fn api_error(status: u16, bytes: &[u8]) -> PayError {
        #[derive(Deserialize)]
        struct ApiErr {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let e: ApiErr = serde_json::from_slice(bytes).unwrap_or(ApiErr {
            code: "UNKNOWN".into(),
            message: String::from_utf8_lossy(bytes).into(),
        });
        PayError::Api {
            status,
            code: e.code,
            message: e.message,
        }
    }

    fn verify_now(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), PayError> {
        SignatureHeaders::from_headers(headers)?.verify(
            &self.verification_keys(),
            body,
            chrono::Utc::now().timestamp(),
            self.cfg.max_skew_secs,
        )
    }

    /// Verifies a signed message; on an unknown serial, in certificate mode, refreshes the
    /// certificates once (rate-limited) and tries again.
    async fn verify_refreshing(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), PayError> {
        match self.verify_now(headers, body) {
            Err(PayError::UnknownSerial(serial))
                if self.cert_download && self.certs.try_begin_forced_refresh() =>
            {
                tracing::info!(%serial, "unknown WeChat Pay serial: refreshing platform certificates");
                self.refresh_certificates().await?;
                self.verify_now(headers, body)
            }
            r => r,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), PayError> {
        let (status, headers, bytes) = self.call_raw(method, path, body).await?;
        if (200..300).contains(&status) {
            self.verify_refreshing(&headers, &bytes).await?;
            return Ok((status, bytes));
        }
        Err(Self::api_error(status, &bytes))
    }

    /// `GET /v3/certificates` (获取平台证书列表): downloads, decrypts, verifies and installs
    /// the platform certificates; expired ones are dropped. Returns how many are held.
    /// Errors: [`PayError::Api`], [`PayError::Decrypt`], [`PayError::Malformed`],
    /// [`PayError::UnknownSerial`] / [`PayError::BadSignature`] when the answer's signature
    /// does not verify with a trusted or downloaded certificate.
    pub async fn refresh_certificates(&self) -> Result<usize, PayError> {
        let (status, headers, bytes) = self
            .call_raw(reqwest::Method::GET, "/v3/certificates", None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(Self::api_error(status, &bytes));
        }
        self.certs.install(
            &headers,
            &bytes,
            &self.cfg.apiv3_key,
            &self.verification_keys(),
            chrono::Utc::now().timestamp(),
            self.cfg.max_skew_secs,
        )
    }

    /// Spawns a task refreshing the platform certificates every `every` (12 h is a good
    /// value; WeChat Pay overlaps old and new certificates for days). Failures are logged and
    /// retried at the next tick. Abort the handle to stop it.
    pub fn spawn_certificate_refresh(
        self: &Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match me.refresh_certificates().await {
                    Ok(n) => tracing::debug!(certificates = n, "WeChat Pay certificates refreshed"),
                    Err(e) => tracing::warn!(error = %e, "WeChat Pay certificate refresh failed"),
                }
            }
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
            "notify_url": r.notify_url.as_deref().unwrap_or(&self.cfg.notify_url),
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

    /// `POST /v3/pay/transactions/native` (Native下单) → `code_url`, the text of the QR code the
    /// payer scans.
    pub async fn native_prepay(&self, r: &NativePrepayRequest) -> Result<String, PayError> {
        let mut body = json!({
            "appid": self.cfg.appid,
            "mchid": self.cfg.mchid,
            "description": r.description,
            "out_trade_no": r.out_trade_no,
            "notify_url": r.notify_url.as_deref().unwrap_or(&self.cfg.notify_url),
            "amount": {"total": r.amount_fen, "currency": "CNY"},
        });
        if let Some(t) = &r.time_expire {
            body["time_expire"] = json!(t);
        }
        let (_, bytes) = self
            .call(
                reqwest::Method::POST,
                "/v3/pay/transactions/native",
                Some(body),
            )
            .await?;
        #[derive(Deserialize)]
        struct Native {
            code_url: String,
        }
        Ok(Self::parse::<Native>(&bytes)?.code_url)
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
            "notify_url": r.notify_url.as_deref().unwrap_or(&self.cfg.notify_url),
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
            &self.verification_keys(),
            &self.cfg.apiv3_key,
            chrono::Utc::now().timestamp(),
            self.cfg.max_skew_secs,
        )
    }

    /// Like [`Self::open_notification`], but an unknown `Wechatpay-Serial` in certificate mode
    /// first refreshes the certificates once (rate-limited; this makes an outbound call).
    pub async fn open_notification_refreshing(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(Notification, Vec<u8>), PayError> {
        match self.open_notification(headers, body) {
            Err(PayError::UnknownSerial(serial))
                if self.cert_download && self.certs.try_begin_forced_refresh() =>
            {
                tracing::info!(%serial, "unknown WeChat Pay serial: refreshing platform certificates");
                self.refresh_certificates().await?;
                self.open_notification(headers, body)
            }
            r => r,
        }
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
