//! **Development tool**: a local fake of the WeChat servers that a Suanpan system talks to, so
//! the whole login → prepay → pay → notify → refund flow runs offline. It is not a substitute
//! for the real client: the real [`WechatPayClient`](super::WechatPayClient) is pointed at it
//! through the configured base URLs and runs unchanged.
//!
//! It speaks the real protocol: it verifies our `Authorization` signatures with the merchant's
//! public key, signs every response with its own platform key (id [`SIM_PUBLIC_KEY_ID`] form),
//! and posts notifications that are signed and AEAD_AES_256_GCM-encrypted with the APIv3 key.
//!
//! Routes: `GET /sns/jscode2session` (codes starting with `invalid` are refused with 40029;
//! every other code maps to a stable openid), `POST /v3/pay/transactions/jsapi`,
//! `POST /v3/pay/transactions/native` (answers a `code_url`), `GET /v3/certificates` (its
//! platform certificates, encrypted with the APIv3 key; empty until
//! [`Simulator::rotate_platform_certificate`] made one),
//! `GET /v3/pay/transactions/out-trade-no/{no}`, `POST /v3/pay/transactions/out-trade-no/{no}/close`,
//! `POST /v3/refund/domestic/refunds` (answers `PROCESSING`, then notifies `REFUND.SUCCESS`),
//! `GET /v3/refund/domestic/refunds/{no}`, and the control route `POST /sim/pay/{out_trade_no}`
//! that plays the payer: it marks the order paid and sends `TRANSACTION.SUCCESS`.
//!
//! Signing key: the configured public key (`PUB_KEY_ID_…` mode) until
//! [`Simulator::rotate_platform_certificate`] is called; from then on the newest platform
//! certificate signs (its serial in `Wechatpay-Serial`), and `/v3/certificates` lists every
//! certificate made so far, as WeChat Pay lists old and new during a rotation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{
    MerchantKey, PlatformKeys, Refund, RefundAmount, Transaction, TransactionAmount,
    encrypt_resource, parse_authorization, request_message,
};
use crate::PayError;

/// The key id the simulator signs with unless told otherwise.
pub const SIM_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0100000000SIMULATOR";

/// Simulator settings.
pub struct SimulatorConfig {
    /// AppID it accepts.
    pub appid: String,
    /// Merchant id it accepts.
    pub mchid: String,
    /// APIv3 key (32 bytes) for notifications.
    pub apiv3_key: Vec<u8>,
    /// The merchant's public key (DER) to verify request signatures.
    pub merchant_public_key_der: Vec<u8>,
    /// The simulator's own signing key (the "platform" key).
    pub platform_key: MerchantKey,
    /// The id `Wechatpay-Serial` carries.
    pub platform_key_id: String,
}

#[derive(Clone)]
struct SimTx {
    tx: Transaction,
    notify_url: String,
}

/// A platform certificate the simulator made.
struct SimCert {
    serial: String,
    pem: String,
    key: Arc<MerchantKey>,
    effective_unix: i64,
    expire_unix: i64,
}

#[derive(Default)]
struct SimState {
    txs: HashMap<String, SimTx>,
    refunds: HashMap<String, (Refund, String)>,
}

/// The simulator.
pub struct Simulator {
    cfg: SimulatorConfig,
    http: reqwest::Client,
    state: Mutex<SimState>,
    certs: Mutex<Vec<SimCert>>,
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

impl Simulator {
    /// A simulator with `cfg`.
    pub fn new(cfg: SimulatorConfig) -> Arc<Simulator> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Arc::new(Simulator {
            cfg,
            http,
            state: Mutex::new(SimState::default()),
            certs: Mutex::new(Vec::new()),
        })
    }

    /// The platform keys a client must trust to talk to this simulator: the configured public
    /// key and every certificate made so far.
    pub fn platform_keys(&self) -> PlatformKeys {
        let mut k = PlatformKeys::default();
        k.insert(
            self.cfg.platform_key_id.clone(),
            self.cfg.platform_key.public_key_der(),
        );
        if let Ok(certs) = self.certs.lock() {
            for c in certs.iter() {
                k.insert(c.serial.clone(), c.key.public_key_der());
            }
        }
        k
    }

    /// Makes a new platform certificate (fresh RSA 2048 key, random serial, valid from a day
    /// ago for five years) and signs everything from now on with it. Returns its serial.
    /// The old certificates stay listed by `/v3/certificates`.
    pub fn rotate_platform_certificate(&self) -> Result<String, PayError> {
        let key = MerchantKey::generate()?;
        let now = chrono::Utc::now().timestamp();
        let (effective_unix, expire_unix) = (now - 86_400, now + 5 * 365 * 86_400);
        let serial = hex_lower(&rand::random::<[u8; 20]>()).to_ascii_uppercase();
        let serial = format!("5{}", &serial[1..]);
        let pem = make_certificate(&key, &serial, effective_unix, expire_unix)?;
        let mut certs = self
            .certs
            .lock()
            .map_err(|_| PayError::Config("simulator lock poisoned".into()))?;
        certs.push(SimCert {
            serial: serial.clone(),
            pem,
            key: Arc::new(key),
            effective_unix,
            expire_unix,
        });
        Ok(serial)
    }

    /// The serials of the platform certificates made so far, oldest first.
    pub fn certificate_serials(&self) -> Vec<String> {
        self.certs
            .lock()
            .map(|c| c.iter().map(|c| c.serial.clone()).collect())
            .unwrap_or_default()
    }

    /// The current signer: the newest certificate, else the configured public key.
    fn signer(&self) -> (String, Option<Arc<MerchantKey>>) {
        match self
            .certs
            .lock()
            .ok()
            .and_then(|c| c.last().map(|c| (c.serial.clone(), c.key.clone())))
        {
            Some((serial, key)) => (serial, Some(key)),
            None => (self.cfg.platform_key_id.clone(), None),
        }
    }

    fn sign_as_platform(&self, message: &[u8]) -> (String, String) {
        let (id, key) = self.signer();
        let key = key.as_deref().unwrap_or(&self.cfg.platform_key);
        (id, key.sign_b64(message).unwrap_or_default())
    }

    /// The `/v3/certificates` answer body: every certificate, encrypted with the APIv3 key.
    pub fn certificates_body(&self) -> Vec<u8> {
        let Ok(certs) = self.certs.lock() else {
            return b"{\"data\":[]}".to_vec();
        };
        let data: Vec<Value> = certs
            .iter()
            .map(|c| {
                let nonce = suanpan_core::ids::random_alnum(12);
                let ad = "certificate";
                let ct = encrypt_resource(&self.cfg.apiv3_key, &nonce, ad, c.pem.as_bytes())
                    .unwrap_or_default();
                json!({
                    "serial_no": c.serial,
                    "effective_time": suanpan_core::time::rfc3339(c.effective_unix * 1000),
                    "expire_time": suanpan_core::time::rfc3339(c.expire_unix * 1000),
                    "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": ad, "ciphertext": ct},
                })
            })
            .collect();
        json!({ "data": data }).to_string().into_bytes()
    }

    /// Signature headers for `body` as WeChat Pay sends them, at Unix time `ts`.
    pub fn signed_headers_at(&self, body: &[u8], ts: i64) -> HeaderMap {
        let ts = ts.to_string();
        let nonce = suanpan_core::ids::random_alnum(32);
        let (serial, sig) = self.sign_as_platform(&super::response_message(&ts, &nonce, body));
        let mut h = HeaderMap::new();
        let mut put = |k: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        put("Wechatpay-Timestamp", &ts);
        put("Wechatpay-Nonce", &nonce);
        put("Wechatpay-Serial", &serial);
        put("Wechatpay-Signature", &sig);
        put("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
        put("Content-Type", "application/json");
        h
    }

    /// Signature headers for `body`, timestamped now.
    pub fn signed_headers(&self, body: &[u8]) -> HeaderMap {
        self.signed_headers_at(body, chrono::Utc::now().timestamp())
    }

    fn signed(&self, status: StatusCode, body: Vec<u8>) -> Response {
        let headers = self.signed_headers(&body);
        (status, headers, body).into_response()
    }

    /// A notification body (encrypted resource) for `event_type` carrying `resource`.
    pub fn notification_body(
        &self,
        event_type: &str,
        original_type: &str,
        resource: &Value,
    ) -> Vec<u8> {
        let nonce = suanpan_core::ids::random_alnum(12);
        let ad = original_type.to_string();
        let ct = encrypt_resource(
            &self.cfg.apiv3_key,
            &nonce,
            &ad,
            resource.to_string().as_bytes(),
        )
        .unwrap_or_default();
        let summary = if event_type.starts_with("REFUND") {
            "退款成功"
        } else {
            "支付成功"
        };
        json!({
            "id": suanpan_core::ids::event_id(),
            "create_time": suanpan_core::time::rfc3339(suanpan_core::time::now_ms()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ct, "associated_data": ad, "nonce": nonce},
        })
        .to_string()
        .into_bytes()
    }

    /// A `TRANSACTION.SUCCESS` body for `tx`.
    pub fn transaction_notification(&self, tx: &Transaction) -> Vec<u8> {
        self.notification_body(
            "TRANSACTION.SUCCESS",
            "transaction",
            &serde_json::to_value(tx).unwrap_or_default(),
        )
    }

    /// A refund notification body (`REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`) for
    /// `refund`.
    pub fn refund_notification(&self, event_type: &str, refund: &Refund) -> Vec<u8> {
        self.notification_body(
            event_type,
            "refund",
            &serde_json::to_value(refund).unwrap_or_default(),
        )
    }

    /// Plays the payer: marks `out_trade_no` paid (idempotent) and returns the transaction.
    /// `None` if no prepay exists for it or it was closed.
    pub fn mark_paid(&self, out_trade_no: &str) -> Option<(Transaction, String)> {
        let mut st = self.state.lock().ok()?;
        let t = st.txs.get_mut(out_trade_no)?;
        match t.tx.trade_state.as_str() {
            "SUCCESS" => {}
            "NOTPAY" => {
                t.tx.trade_state = "SUCCESS".into();
                t.tx.trade_state_desc = Some("支付成功".into());
                // 28 digits, like WeChat Pay transaction ids.
                t.tx.transaction_id = Some(format!(
                    "4200{:012}{:012}",
                    rand::random::<u64>() % 1_000_000_000_000,
                    rand::random::<u64>() % 1_000_000_000_000
                ));
                t.tx.success_time = Some(suanpan_core::time::rfc3339(suanpan_core::time::now_ms()));
                if let Some(a) = t.tx.amount.as_mut() {
                    a.payer_total = Some(a.total);
                }
            }
            _ => return None,
        }
        Some((t.tx.clone(), t.notify_url.clone()))
    }

    /// Posts a signed notification to `url`, retrying up to 3 times; returns the last status.
    pub async fn deliver(&self, url: &str, body: Vec<u8>) -> Result<u16, String> {
        let mut last = Err("not sent".to_string());
        for attempt in 0..3 {
            let headers = self.signed_headers(&body);
            let r = self
                .http
                .post(url)
                .headers(headers)
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => return Ok(resp.status().as_u16()),
                Ok(resp) => last = Ok(resp.status().as_u16()),
                Err(e) => last = Err(e.to_string()),
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await;
        }
        last
    }

    fn check_auth(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), String> {
        let unauthorized = |m: &str| m.to_string();
        let value = headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing Authorization"))?;
        let f =
            parse_authorization(value).ok_or_else(|| unauthorized("malformed Authorization"))?;
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        if field("mchid") != self.cfg.mchid {
            return Err(unauthorized("mchid mismatch"));
        }
        let ts: i64 = field("timestamp")
            .parse()
            .map_err(|_| unauthorized("bad timestamp"))?;
        if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
            return Err(unauthorized("timestamp expired"));
        }
        let url = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let msg = request_message(
            method.as_str(),
            url,
            &field("timestamp"),
            &field("nonce_str"),
            std::str::from_utf8(body).unwrap_or(""),
        );
        // The merchant's signature covers METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n.
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(field("signature"))
            .map_err(|_| unauthorized("signature not base64"))?;
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.cfg.merchant_public_key_der,
        )
        .verify(msg.as_bytes(), &sig)
        .map_err(|_| unauthorized("signature does not verify"))
    }

    /// The simulator's routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/sns/jscode2session", get(jscode2session))
            .route("/v3/pay/transactions/jsapi", post(jsapi))
            .route("/v3/pay/transactions/native", post(native))
            .route("/v3/certificates", get(certificates))
            .route("/v3/pay/transactions/out-trade-no/{no}", get(query_tx))
            .route(
                "/v3/pay/transactions/out-trade-no/{no}/close",
                post(close_tx),
            )
            .route("/v3/refund/domestic/refunds", post(refund))
            .route("/v3/refund/domestic/refunds/{no}", get(query_refund))
            .route("/sim/pay/{no}", post(sim_pay))
            .with_state(self)
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

async fn jscode2session(
    State(sim): State<Arc<Simulator>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let code = q.get("js_code").cloned().unwrap_or_default();
    if q.get("appid").map(String::as_str) != Some(sim.cfg.appid.as_str()) {
        return axum::Json(json!({"errcode": 40013, "errmsg": "invalid appid"})).into_response();
    }
    if code.is_empty() || code.starts_with("invalid") {
        return axum::Json(json!({"errcode": 40029, "errmsg": "invalid code"})).into_response();
    }
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}:{code}", sim.cfg.appid).as_bytes(),
    );
    let openid = format!("oSIM{}", &hex_lower(digest.as_ref())[..24]);
    axum::Json(json!({"openid": openid, "session_key": "c2ltdWxhdG9yLXNlc3Npb24ta2V5"}))
        .into_response()
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a prepay body and records the order (`NOTPAY`); the same `out_trade_no` may be
/// prepaid again with the same amount while unpaid.
fn create_order(sim: &Simulator, v: &Value, trade_type: &str) -> Result<(), Box<Response>> {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let total = v["amount"]["total"].as_i64().unwrap_or(0);
    let otn = s("out_trade_no");
    if s("appid") != sim.cfg.appid || s("mchid") != sim.cfg.mchid {
        return Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid and mchid do not match",
        )));
    }
    let openid = v["payer"]["openid"].as_str().map(str::to_string);
    if otn.len() < 6 || otn.len() > 32 || total <= 0 || (trade_type == "JSAPI" && openid.is_none())
    {
        return Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "invalid parameters",
        )));
    }
    let Ok(mut st) = sim.state.lock() else {
        return Err(Box::new(err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "lock",
        )));
    };
    if let Some(t) = st.txs.get(&otn) {
        if t.tx.amount.as_ref().map(|a| a.total) != Some(total) {
            return Err(Box::new(err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "out_trade_no reused with different parameters",
            )));
        }
        if t.tx.trade_state == "SUCCESS" {
            return Err(Box::new(err(
                StatusCode::BAD_REQUEST,
                "ORDERPAID",
                "order already paid",
            )));
        }
        if t.tx.trade_state == "CLOSED" {
            return Err(Box::new(err(
                StatusCode::BAD_REQUEST,
                "ORDERCLOSED",
                "order closed",
            )));
        }
    }
    let tx = Transaction {
        appid: sim.cfg.appid.clone(),
        mchid: sim.cfg.mchid.clone(),
        out_trade_no: otn.clone(),
        trade_type: Some(trade_type.into()),
        trade_state: "NOTPAY".into(),
        trade_state_desc: Some("未支付".into()),
        // Native payers are known once they scan and pay; the simulator names a stable one.
        payer: Some(super::Payer {
            openid: openid.or_else(|| Some("oSIMnativepayer".into())),
        }),
        amount: Some(TransactionAmount {
            total,
            payer_total: None,
            currency: Some("CNY".into()),
        }),
        ..Transaction::default()
    };
    st.txs.entry(otn).or_insert(SimTx {
        tx,
        notify_url: s("notify_url"),
    });
    Ok(())
}

async fn prepay(
    sim: Arc<Simulator>,
    (method, uri, headers, body): (Method, Uri, HeaderMap, Bytes),
    trade_type: &str,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, &body) {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not JSON");
    };
    if let Err(r) = create_order(&sim, &v, trade_type) {
        return *r;
    }
    let id = suanpan_core::ids::random_alnum(30).to_ascii_lowercase();
    let answer = if trade_type == "NATIVE" {
        json!({"code_url": format!("weixin://wxpay/bizpayurl?pr={}", &id[..10])})
    } else {
        json!({"prepay_id": format!("wx{id}")})
    };
    sim.signed(StatusCode::OK, answer.to_string().into_bytes())
}

async fn jsapi(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    prepay(sim, (method, uri, headers, body), "JSAPI").await
}

async fn native(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    prepay(sim, (method, uri, headers, body), "NATIVE").await
}

async fn certificates(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, b"") {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    sim.signed(StatusCode::OK, sim.certificates_body())
}

/// A self-signed X.509 certificate (PEM) for `key` with `serial_hex`, valid over the given
/// Unix-second range. Development only.
fn make_certificate(
    key: &MerchantKey,
    serial_hex: &str,
    not_before_unix: i64,
    not_after_unix: i64,
) -> Result<String, PayError> {
    let cfg_err = |e: rcgen::Error| PayError::Config(format!("certificate: {e}"));
    let kp = rcgen::KeyPair::from_pem_and_sign_algo(&key.to_pkcs8_pem()?, &rcgen::PKCS_RSA_SHA256)
        .map_err(cfg_err)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cfg_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        "Suanpan WeChat Pay simulator platform",
    );
    params.distinguished_name = dn;
    let serial = (0..serial_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(serial_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Vec<u8>>();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let at = |unix: i64| {
        chrono::DateTime::from_timestamp(unix, 0)
            .map(|t| {
                use chrono::Datelike;
                rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
            })
            .ok_or_else(|| PayError::Config("certificate time out of range".into()))
    };
    params.not_before = at(not_before_unix)?;
    params.not_after = at(not_after_unix)?;
    Ok(params.self_signed(&kp).map_err(cfg_err)?.pem())
}

async fn query_tx(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(no): UrlPath<String>,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, b"") {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    let tx = sim
        .state
        .lock()
        .ok()
        .and_then(|s| s.txs.get(&no).map(|t| t.tx.clone()));
    match tx {
        Some(tx) => sim.signed(StatusCode::OK, serde_json::to_vec(&tx).unwrap_or_default()),
        None => err(
            StatusCode::NOT_FOUND,
            "ORDER_NOT_EXIST",
            "order does not exist",
        ),
    }
}

async fn close_tx(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(no): UrlPath<String>,
    body: Bytes,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, &body) {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    let Ok(mut st) = sim.state.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "lock");
    };
    match st.txs.get_mut(&no) {
        Some(t) if t.tx.trade_state == "SUCCESS" => {
            err(StatusCode::BAD_REQUEST, "ORDERPAID", "order already paid")
        }
        Some(t) => {
            t.tx.trade_state = "CLOSED".into();
            drop(st);
            sim.signed(StatusCode::NO_CONTENT, Vec::new())
        }
        None => {
            drop(st);
            sim.signed(StatusCode::NO_CONTENT, Vec::new())
        }
    }
}

async fn refund(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, &body) {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not JSON");
    };
    let otn = v["out_trade_no"].as_str().unwrap_or_default().to_string();
    let orn = v["out_refund_no"].as_str().unwrap_or_default().to_string();
    let amount = v["amount"]["refund"].as_i64().unwrap_or(0);
    let total = v["amount"]["total"].as_i64().unwrap_or(0);
    let notify_url = v["notify_url"].as_str().unwrap_or_default().to_string();
    let Ok(mut st) = sim.state.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "lock");
    };
    if let Some((r, _)) = st.refunds.get(&orn) {
        let r = r.clone();
        drop(st);
        return sim.signed(StatusCode::OK, serde_json::to_vec(&r).unwrap_or_default());
    }
    let Some(t) = st.txs.get(&otn) else {
        return err(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "order does not exist",
        );
    };
    let paid = t.tx.amount.as_ref().map(|a| a.total).unwrap_or(0);
    if t.tx.trade_state != "SUCCESS" {
        return err(StatusCode::FORBIDDEN, "NOT_ENOUGH", "order is not paid");
    }
    let refunded: i64 = st
        .refunds
        .values()
        .filter(|(r, _)| r.out_trade_no.as_deref() == Some(&otn) && r.status != "CLOSED")
        .map(|(r, _)| r.amount.refund)
        .sum();
    if total != paid || amount <= 0 || refunded + amount > paid {
        return err(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "refund amount is invalid",
        );
    }
    let r = Refund {
        refund_id: Some(format!("5030{}", suanpan_core::ids::random_alnum(20))),
        out_refund_no: orn.clone(),
        out_trade_no: Some(otn),
        mchid: Some(sim.cfg.mchid.clone()),
        status: "PROCESSING".into(),
        success_time: None,
        amount: RefundAmount {
            total,
            refund: amount,
            currency: Some("CNY".into()),
        },
    };
    st.refunds
        .insert(orn.clone(), (r.clone(), notify_url.clone()));
    drop(st);
    let sim2 = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let done = {
            let Ok(mut st) = sim2.state.lock() else {
                return;
            };
            let Some((r, _)) = st.refunds.get_mut(&orn) else {
                return;
            };
            r.status = "SUCCESS".into();
            r.success_time = Some(suanpan_core::time::rfc3339(suanpan_core::time::now_ms()));
            r.clone()
        };
        if !notify_url.is_empty() {
            let body = sim2.notification_body(
                "REFUND.SUCCESS",
                "refund",
                &serde_json::to_value(&done).unwrap_or_default(),
            );
            let _ = sim2.deliver(&notify_url, body).await;
        }
    });
    sim.signed(StatusCode::OK, serde_json::to_vec(&r).unwrap_or_default())
}

async fn query_refund(
    State(sim): State<Arc<Simulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(no): UrlPath<String>,
) -> Response {
    if let Err(m) = sim.check_auth(&method, &uri, &headers, b"") {
        return err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &m);
    }
    let r = sim
        .state
        .lock()
        .ok()
        .and_then(|s| s.refunds.get(&no).map(|(r, _)| r.clone()));
    match r {
        Some(r) => sim.signed(StatusCode::OK, serde_json::to_vec(&r).unwrap_or_default()),
        None => err(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "refund does not exist",
        ),
    }
}

async fn sim_pay(State(sim): State<Arc<Simulator>>, UrlPath(no): UrlPath<String>) -> Response {
    let Some((tx, url)) = sim.mark_paid(&no) else {
        return err(
            StatusCode::NOT_FOUND,
            "ORDER_NOT_EXIST",
            "no payable prepay for this out_trade_no",
        );
    };
    let body = sim.transaction_notification(&tx);
    let delivered = sim.deliver(&url, body).await;
    axum::Json(json!({"out_trade_no": no, "transaction_id": tx.transaction_id, "notify_status": delivered.ok()})).into_response()
}

/// Development keys kept under a directory so restarts keep working: the merchant key, the
/// simulator's platform key and an APIv3 key. Created on first use. Development only.
pub struct DevKeys {
    /// Path of the merchant private key PEM.
    pub merchant_key_path: String,
    /// Path of the simulator's platform public key PEM.
    pub platform_public_key_path: String,
    /// The simulator's platform private key.
    pub platform_key: MerchantKey,
    /// The merchant key.
    pub merchant_key: MerchantKey,
    /// The APIv3 key (32 ASCII characters).
    pub apiv3_key: String,
}

/// Loads or creates [`DevKeys`] in `dir`.
pub fn dev_keys(dir: &Path) -> Result<DevKeys, PayError> {
    std::fs::create_dir_all(dir).map_err(|e| PayError::Config(e.to_string()))?;
    let load_or_make = |name: &str| -> Result<MerchantKey, PayError> {
        let p = dir.join(name);
        if let Ok(pem) = std::fs::read_to_string(&p) {
            return MerchantKey::from_pem(&pem);
        }
        let k = MerchantKey::generate()?;
        suanpan_core::secrets::write_private(&p, k.to_pkcs8_pem()?.as_bytes())
            .map_err(|e| PayError::Config(e.to_string()))?;
        Ok(k)
    };
    let merchant_key = load_or_make("merchant_key.pem")?;
    let platform_key = load_or_make("simulator_platform_key.pem")?;
    let pub_path = dir.join("simulator_platform_public_key.pem");
    std::fs::write(&pub_path, platform_key.public_key_pem()?)
        .map_err(|e| PayError::Config(e.to_string()))?;
    let apiv3_path = dir.join("apiv3_key.txt");
    let apiv3_key = match std::fs::read_to_string(&apiv3_path) {
        Ok(k) if k.trim().len() == 32 => k.trim().to_string(),
        _ => {
            let k = suanpan_core::ids::random_alnum(32);
            suanpan_core::secrets::write_private(&apiv3_path, k.as_bytes())
                .map_err(|e| PayError::Config(e.to_string()))?;
            k
        }
    };
    Ok(DevKeys {
        merchant_key_path: dir.join("merchant_key.pem").to_string_lossy().into_owned(),
        platform_public_key_path: pub_path.to_string_lossy().into_owned(),
        platform_key,
        merchant_key,
        apiv3_key,
    })
}
