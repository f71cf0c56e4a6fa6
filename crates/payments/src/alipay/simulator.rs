//! **Development tool**: a local fake of the Alipay open-API gateway, so the QR-code and
//! page-pay flows run offline. Never for production. The real
//! [`AlipayClient`](super::AlipayClient) is pointed at it through its `gateway` URL and runs
//! unchanged.
//!
//! It speaks the real protocol: `POST /gateway.do` (form-encoded, `charset` may be in the query)
//! verifies the merchant's RSA2 request signature with the configured merchant public key,
//! keeps trades in memory and answers `{"<method>_response":{…},"sign":"…"}` signed with its
//! own "Alipay" key over the exact node text. Methods: `alipay.trade.precreate`,
//! `alipay.trade.query`, `alipay.trade.refund`, `alipay.trade.fastpay.refund.query`,
//! `alipay.trade.close`; `GET /gateway.do` with `method=alipay.trade.page.pay` shows a trivial
//! cashier page. The control route `POST /sim/pay/{out_trade_no}` plays the payer: it marks the
//! trade `TRADE_SUCCESS` and posts a signed asynchronous notification (form) to the trade's
//! `notify_url`, retrying until it answers `success`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::client::{china_datetime, form_encode};
use super::{request_signing_content, sign_rsa2, signing_content};
use crate::PayError;
use crate::money::{fen_to_yuan, yuan_to_fen};
use crate::wechatpay::MerchantKey;

/// Simulator settings.
pub struct AlipaySimulatorConfig {
    /// The `app_id` it accepts.
    pub app_id: String,
    /// The merchant's public key (DER, SPKI or PKCS#1) to verify request signatures.
    pub merchant_public_key_der: Vec<u8>,
    /// The simulator's own signing key, playing the Alipay key pair.
    pub alipay_key: MerchantKey,
}

/// A trade the simulator holds.
#[derive(Clone, Debug)]
pub struct SimTrade {
    /// Our order number.
    pub out_trade_no: String,
    /// Alipay's trade number.
    pub trade_no: String,
    /// Total, fen.
    pub total_fen: i64,
    /// Subject.
    pub subject: String,
    /// `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_CLOSED`.
    pub status: String,
    /// Where notifications go.
    pub notify_url: String,
    /// Payment time, Unix seconds.
    pub paid_at_unix: Option<i64>,
    /// Refunds: `out_request_no` → fen.
    pub refunds: Vec<(String, i64)>,
}

/// The simulator.
pub struct AlipaySimulator {
    cfg: AlipaySimulatorConfig,
    http: reqwest::Client,
    trades: Mutex<HashMap<String, SimTrade>>,
}

const BUYER_ID: &str = "2088000000000001";

fn params_of(uri: &Uri, body: &[u8]) -> Vec<(String, String)> {
    // Body parameters win; the query may repeat one (`?charset=utf-8` on POSTs).
    let mut p: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    for (k, v) in query {
        if !p.iter().any(|(n, _)| *n == k) {
            p.push((k, v));
        }
    }
    p
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> &'a str {
    p.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn biz_err(sub_code: &str, sub_msg: &str) -> Value {
    json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg})
}

impl AlipaySimulator {
    /// A simulator with `cfg`.
    pub fn new(cfg: AlipaySimulatorConfig) -> Arc<AlipaySimulator> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Arc::new(AlipaySimulator {
            cfg,
            http,
            trades: Mutex::new(HashMap::new()),
        })
    }

    /// The "Alipay public key" a client must trust: base64 SPKI DER.
    pub fn alipay_public_key_b64(&self) -> Result<String, PayError> {
        Ok(B64.encode(self.cfg.alipay_key.public_key_spki_der()?))
    }

    /// A trade by our order number.
    pub fn trade(&self, out_trade_no: &str) -> Option<SimTrade> {
        self.trades.lock().ok()?.get(out_trade_no).cloned()
    }

    /// The simulator's routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/gateway.do", post(gateway).get(page))
            .route("/sim/pay/{no}", post(sim_pay))
            .with_state(self)
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    fn check_sign(&self, p: &[(String, String)]) -> Result<(), Value> {
        let bad = || json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"});
        if get(p, "app_id") != self.cfg.app_id {
            return Err(
                json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id", "sub_msg": "无效的AppID参数"}),
            );
        }
        if get(p, "sign_type") != "RSA2" {
            return Err(bad());
        }
        let sig = B64.decode(get(p, "sign")).map_err(|_| bad())?;
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.cfg.merchant_public_key_der,
        )
        .verify(request_signing_content(p).as_bytes(), &sig)
        .map_err(|_| bad())
    }

    /// The gateway answer for `method` with `node`, signed over the node's exact text.
    fn answer(&self, method: &str, node: &Value) -> Response {
        let node_text = node.to_string();
        let sign = sign_rsa2(&node_text, &self.cfg.alipay_key).unwrap_or_default();
        let name = format!("{}_response", method.replace('.', "_"));
        let body = format!(
            "{{\"{name}\":{node_text},\"sign\":{}}}",
            Value::String(sign)
        );
        (
            StatusCode::OK,
            [("Content-Type", "application/json;charset=utf-8")],
            body,
        )
            .into_response()
    }

    fn dispatch(&self, method: &str, p: &[(String, String)]) -> Value {
        let Ok(biz) = serde_json::from_str::<Value>(get(p, "biz_content")) else {
            return json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter", "sub_msg": "biz_content"});
        };
        let no = biz["out_trade_no"].as_str().unwrap_or_default().to_string();
        let Ok(mut trades) = self.trades.lock() else {
            return json!({"code": "20000", "msg": "Service Currently Unavailable"});
        };
        match method {
            "alipay.trade.precreate" => precreate(&mut trades, &biz, get(p, "notify_url")),
            "alipay.trade.query" => match trades.get(&no) {
                Some(t) => trade_node(t),
                None => biz_err("ACQ.TRADE_NOT_EXIST", "交易不存在"),
            },
            "alipay.trade.close" => match trades.get_mut(&no) {
                Some(t) if t.status == "WAIT_BUYER_PAY" => {
                    t.status = "TRADE_CLOSED".into();
                    json!({"code": "10000", "msg": "Success", "trade_no": t.trade_no, "out_trade_no": no})
                }
                Some(_) => biz_err("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
                None => biz_err("ACQ.TRADE_NOT_EXIST", "交易不存在"),
            },
            "alipay.trade.refund" => refund(&mut trades, &biz),
            "alipay.trade.fastpay.refund.query" => refund_query(&trades, &biz),
            _ => {
                json!({"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method", "sub_msg": "不存在的方法名"})
            }
        }
    }

    /// Plays the payer: marks `out_trade_no` paid (idempotent). `None` if unknown or closed.
    pub fn mark_paid(&self, out_trade_no: &str) -> Option<SimTrade> {
        let mut trades = self.trades.lock().ok()?;
        let t = trades.get_mut(out_trade_no)?;
        match t.status.as_str() {
            "TRADE_SUCCESS" => {}
            "WAIT_BUYER_PAY" => {
                t.status = "TRADE_SUCCESS".into();
                t.paid_at_unix = Some(chrono::Utc::now().timestamp());
            }
            _ => return None,
        }
        Some(t.clone())
    }

    /// The signed form parameters of the asynchronous notification for `t`.
    pub fn notification_params(&self, t: &SimTrade) -> Vec<(String, String)> {
        let now = chrono::Utc::now().timestamp();
        let total = fen_to_yuan(t.total_fen).unwrap_or_default();
        let mut p: Vec<(String, String)> = [
            ("notify_time", china_datetime(now)),
            ("notify_type", "trade_status_sync".into()),
            ("notify_id", suanpan_core::ids::random_alnum(32)),
            ("app_id", self.cfg.app_id.clone()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("trade_no", t.trade_no.clone()),
            ("out_trade_no", t.out_trade_no.clone()),
            ("buyer_id", BUYER_ID.into()),
            ("trade_status", t.status.clone()),
            ("total_amount", total.clone()),
            ("receipt_amount", total.clone()),
            ("buyer_pay_amount", total),
            ("subject", t.subject.clone()),
            (
                "gmt_payment",
                t.paid_at_unix.map(china_datetime).unwrap_or_default(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let sign = sign_rsa2(&signing_content(&p), &self.cfg.alipay_key).unwrap_or_default();
        p.push(("sign_type".into(), "RSA2".into()));
        p.push(("sign".into(), sign));
        p
    }

    /// Posts `params` (form) to `url` until it answers the text `success`, up to 5 tries.
    /// Returns the number of tries it took, or the last failure.
    pub async fn deliver(&self, url: &str, params: &[(String, String)]) -> Result<u32, String> {
        let mut last = "not sent".to_string();
        for attempt in 1..=5u32 {
            let r = self
                .http
                .post(url)
                .header(
                    "Content-Type",
                    "application/x-www-form-urlencoded;charset=utf-8",
                )
                .body(form_encode(params))
                .send()
                .await;
            match r {
                Ok(resp) => match resp.text().await {
                    Ok(t) if t.trim() == "success" => return Ok(attempt),
                    Ok(t) => last = format!("answered {t:?}"),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt))).await;
        }
        Err(last)
    }
}

fn trade_node(t: &SimTrade) -> Value {
    let mut v = json!({
        "code": "10000", "msg": "Success",
        "trade_no": t.trade_no, "out_trade_no": t.out_trade_no,
        "trade_status": t.status,
        "total_amount": fen_to_yuan(t.total_fen).unwrap_or_default(),
    });
    if t.status != "WAIT_BUYER_PAY" && t.paid_at_unix.is_some() {
        v["buyer_user_id"] = json!(BUYER_ID);
        v["send_pay_date"] = json!(t.paid_at_unix.map(china_datetime));
    }
    v
}

fn precreate(trades: &mut HashMap<String, SimTrade>, biz: &Value, notify_url: &str) -> Value {
    let no = biz["out_trade_no"].as_str().unwrap_or_default().to_string();
    let subject = biz["subject"].as_str().unwrap_or_default().to_string();
    let Ok(total) = yuan_to_fen(biz["total_amount"].as_str().unwrap_or_default()) else {
        return json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter", "sub_msg": "total_amount"});
    };
    if no.is_empty() || no.len() > 64 || total <= 0 || subject.is_empty() {
        return json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.missing-parameter", "sub_msg": "缺少必选参数"});
    }
    if let Some(t) = trades.get(&no) {
        if t.total_fen != total {
            return biz_err("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
        }
        if t.status != "WAIT_BUYER_PAY" {
            return biz_err("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
        }
    }
    let t = trades.entry(no.clone()).or_insert_with(|| SimTrade {
        out_trade_no: no.clone(),
        trade_no: format!("2026{}", suanpan_core::ids::random_alnum(24)),
        total_fen: total,
        subject,
        status: "WAIT_BUYER_PAY".into(),
        notify_url: notify_url.to_string(),
        paid_at_unix: None,
        refunds: Vec::new(),
    });
    json!({"code": "10000", "msg": "Success", "out_trade_no": no,
        "qr_code": format!("https://qr.alipay.com/sim{}", &t.trade_no[4..16])})
}

fn refund(trades: &mut HashMap<String, SimTrade>, biz: &Value) -> Value {
    let no = biz["out_trade_no"].as_str().unwrap_or_default();
    let req_no = biz["out_request_no"].as_str().unwrap_or(no).to_string();
    let Ok(amount) = yuan_to_fen(biz["refund_amount"].as_str().unwrap_or_default()) else {
        return json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter", "sub_msg": "refund_amount"});
    };
    let Some(t) = trades.get_mut(no) else {
        return biz_err("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    let done = |t: &SimTrade| {
        let sum: i64 = t.refunds.iter().map(|(_, f)| f).sum();
        json!({"code": "10000", "msg": "Success", "trade_no": t.trade_no, "out_trade_no": t.out_trade_no,
            "buyer_user_id": BUYER_ID, "fund_change": "Y",
            "refund_fee": fen_to_yuan(sum).unwrap_or_default()})
    };
    if t.refunds.iter().any(|(r, _)| *r == req_no) {
        let mut v = done(t);
        v["fund_change"] = json!("N");
        return v;
    }
    if t.status != "TRADE_SUCCESS" {
        return biz_err("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    let refunded: i64 = t.refunds.iter().map(|(_, f)| f).sum();
    if amount <= 0 || refunded + amount > t.total_fen {
        return biz_err("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
    }
    t.refunds.push((req_no, amount));
    if refunded + amount == t.total_fen {
        t.status = "TRADE_CLOSED".into();
    }
    done(t)
}

fn refund_query(trades: &HashMap<String, SimTrade>, biz: &Value) -> Value {
    let no = biz["out_trade_no"].as_str().unwrap_or_default();
    let req_no = biz["out_request_no"].as_str().unwrap_or_default();
    let Some(t) = trades.get(no) else {
        return biz_err("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    match t.refunds.iter().find(|(r, _)| r == req_no) {
        Some((_, fen)) => json!({"code": "10000", "msg": "Success", "trade_no": t.trade_no,
            "out_trade_no": no, "out_request_no": req_no, "refund_status": "REFUND_SUCCESS",
            "total_amount": fen_to_yuan(t.total_fen).unwrap_or_default(),
            "refund_amount": fen_to_yuan(*fen).unwrap_or_default()}),
        // Alipay answers success without refund data for a refund that did not happen.
        None => {
            json!({"code": "10000", "msg": "Success", "out_trade_no": no, "out_request_no": req_no})
        }
    }
}

async fn gateway(State(sim): State<Arc<AlipaySimulator>>, uri: Uri, body: Bytes) -> Response {
    let p = params_of(&uri, &body);
    let method = get(&p, "method").to_string();
    if let Err(node) = sim.check_sign(&p) {
        return sim.answer(&method, &node);
    }
    let node = sim.dispatch(&method, &p);
    sim.answer(&method, &node)
}

async fn page(State(sim): State<Arc<AlipaySimulator>>, uri: Uri) -> Response {
    let p = params_of(&uri, b"");
    if get(&p, "method") != "alipay.trade.page.pay" {
        return (
            StatusCode::BAD_REQUEST,
            "only alipay.trade.page.pay is served by GET",
        )
            .into_response();
    }
    if let Err(node) = sim.check_sign(&p) {
        return (StatusCode::BAD_REQUEST, node.to_string()).into_response();
    }
    let Ok(biz) = serde_json::from_str::<Value>(get(&p, "biz_content")) else {
        return (StatusCode::BAD_REQUEST, "biz_content is not JSON").into_response();
    };
    let node = match sim.trades.lock() {
        Ok(mut trades) => precreate(&mut trades, &biz, get(&p, "notify_url")),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if node["code"] != "10000" {
        return (StatusCode::BAD_REQUEST, node.to_string()).into_response();
    }
    let no = biz["out_trade_no"].as_str().unwrap_or_default();
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Alipay simulator</title>\
         <p>Development simulator cashier. Order {no}, {} yuan.</p>\
         <form method=post action=\"/sim/pay/{no}\"><button>Pay</button></form>",
        biz["total_amount"].as_str().unwrap_or_default()
    ))
    .into_response()
}

async fn sim_pay(
    State(sim): State<Arc<AlipaySimulator>>,
    UrlPath(no): UrlPath<String>,
) -> Response {
    let Some(t) = sim.mark_paid(&no) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no payable trade for this out_trade_no"})),
        )
            .into_response();
    };
    let params = sim.notification_params(&t);
    let delivered = if t.notify_url.is_empty() {
        Err("no notify_url".to_string())
    } else {
        sim.deliver(&t.notify_url, &params).await
    };
    axum::Json(json!({"out_trade_no": no, "trade_no": t.trade_no,
        "notify_tries": delivered.as_ref().ok(), "notify_error": delivered.err()}))
    .into_response()
}
