//! Alipay: signing vectors (see [`crate::vectors`]), response-node extraction, and the full
//! flow against the development simulator through the real client.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::simulator::{AlipaySimulator, AlipaySimulatorConfig};
use super::*;
use crate::provider::{
    Notification, PaymentProvider, PrepayAnswer, PrepayRequest, RefundRequest, RefundStatus, Scene,
    TradeStatus,
};
use crate::vectors::{TEST_RSA_PRIVATE_KEY_PKCS8_PEM, alipay_notify_verify, alipay_rsa2_signing};

fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn notify_content_excludes_sign_fields_and_empties_and_sorts() {
    let p = owned(&[
        ("b", "2"),
        ("sign", "x"),
        ("a", "1"),
        ("sign_type", "RSA2"),
        ("c", ""),
    ]);
    assert_eq!(signing_content(&p), "a=1&b=2");
    // Requests keep sign_type.
    assert_eq!(request_signing_content(&p), "a=1&b=2&sign_type=RSA2");
}

#[test]
fn rsa2_signature_of_notify_content_matches_vector() {
    let key = MerchantKey::from_pem(TEST_RSA_PRIVATE_KEY_PKCS8_PEM).unwrap();
    let sig = sign_rsa2(alipay_notify_verify::SIGN_CONTENT, &key).unwrap();
    assert_eq!(sig, alipay_rsa2_signing::NOTIFY_CONTENT_SIGN_B64);
    // And it verifies with the test key's public half (SPKI, as Alipay hands keys out).
    let spki = base64::engine::general_purpose::STANDARD.encode(key.public_key_spki_der().unwrap());
    verify_rsa2(alipay_notify_verify::SIGN_CONTENT, &sig, &spki).unwrap();
}

#[test]
fn request_signing_matches_vector() {
    let key = MerchantKey::from_pem(TEST_RSA_PRIVATE_KEY_PKCS8_PEM).unwrap();
    let params = owned(alipay_rsa2_signing::REQUEST_PARAMS);
    let content = request_signing_content(&params);
    assert_eq!(content, alipay_rsa2_signing::REQUEST_CONTENT);
    assert_eq!(
        sign_rsa2(&content, &key).unwrap(),
        alipay_rsa2_signing::REQUEST_SIGN_B64
    );
}

#[test]
fn shared_notify_vector_verifies() {
    let a = alipay_notify_verify::ALIPAY_PUBLIC_KEY_SPKI_B64;
    verify_rsa2(
        alipay_notify_verify::SIGN_CONTENT,
        alipay_notify_verify::SIGN_B64,
        a,
    )
    .unwrap();
    parse_public_key(a).unwrap();
    assert!(parse_public_key("not base64!").is_err());
}

#[test]
fn response_node_is_cut_out_verbatim() {
    let raw = r#" { "alipay_trade_query_response" : {"code":"10000","msg":"Success","total_amount":"10.00", "x":"\u4e2d \"},{", "l":[1,{"a":[]}]} , "sign":"c2ln"}"#;
    let (node, sign) = response_node(raw, "alipay_trade_query_response").unwrap();
    assert_eq!(
        node,
        Some(
            r#"{"code":"10000","msg":"Success","total_amount":"10.00", "x":"\u4e2d \"},{", "l":[1,{"a":[]}]}"#
        )
    );
    assert_eq!(sign.as_deref(), Some("c2ln"));
    let (node, _) = response_node(raw, "error_response").unwrap();
    assert!(node.is_none());
    assert!(response_node("not json", "x").is_err());
}

#[test]
fn china_datetime_round_trips() {
    use client::{china_datetime, parse_china_datetime};
    // 2026-12-02 18:00:00 +08:00 is 10:00:00 UTC.
    assert_eq!(china_datetime(1_796_205_600), "2026-12-02 18:00:00");
    assert_eq!(
        parse_china_datetime("2026-12-02 18:00:00"),
        Some(1_796_205_600)
    );
    assert_eq!(parse_china_datetime("2026-12-02T18:00:00"), None);
}

struct Env {
    sim: Arc<AlipaySimulator>,
    client: Arc<AlipayClient>,
    notes: mpsc::UnboundedReceiver<Result<Notification, String>>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// The simulator, a client pointed at it, and a notify endpoint that parses with the client
/// and forwards what it got.
async fn env() -> Env {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let merchant = MerchantKey::generate().unwrap();
    let sim = AlipaySimulator::new(AlipaySimulatorConfig {
        app_id: "2021000000000001".into(),
        merchant_public_key_der: merchant.public_key_der(),
        alipay_key: MerchantKey::generate().unwrap(),
    });
    let (sim_l, sim_url) = listen().await;
    let (hook_l, hook_url) = listen().await;
    let client = Arc::new(
        AlipayClient::new(AlipayConfig {
            gateway: format!("{sim_url}/gateway.do"),
            app_id: "2021000000000001".into(),
            merchant_key: merchant,
            alipay_public_key_b64: sim.alipay_public_key_b64().unwrap(),
            notify_url: format!("{hook_url}/notify"),
        })
        .unwrap(),
    );
    let (tx, notes) = mpsc::unbounded_channel();
    let c2 = client.clone();
    let hook = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let (c, tx) = (c2.clone(), tx.clone());
            async move {
                let r = c.parse_notification(&headers, &body);
                let answer = if r.is_ok() { c.ack() } else { c.nack("bad") };
                let _ = tx.send(r.map_err(|e| e.to_string()));
                answer
            }
        }),
    );
    let s2 = sim.clone();
    let tasks = vec![
        tokio::spawn(async move {
            let _ = s2.serve(sim_l).await;
        }),
        tokio::spawn(async move {
            let _ = axum::serve(hook_l, hook).await;
        }),
    ];
    Env {
        sim,
        client,
        notes,
        _tasks: tasks,
    }
}

fn qr_request(no: &str, fen: i64) -> PrepayRequest {
    PrepayRequest {
        out_trade_no: no.into(),
        amount_fen: fen,
        description: "算盘 测试".into(),
        scene: Scene::AlipayQr,
        expires_at_unix: Some(chrono::Utc::now().timestamp() + 900),
        notify_url: None,
    }
}

#[tokio::test]
async fn precreate_pay_notify_query_refund_flow() {
    let mut e = env().await;
    let p: Arc<dyn PaymentProvider> = e.client.clone();
    let PrepayAnswer::QrCode { code_url } = p.prepay(&qr_request("SPALI0001", 1234)).await.unwrap()
    else {
        panic!("expected a QR code");
    };
    assert!(code_url.starts_with("https://qr.alipay.com/"));
    assert_eq!(
        p.query("SPALI0001").await.unwrap().status,
        TradeStatus::NotPaid
    );

    // The payer pays; the simulator notifies our endpoint, which verifies and parses.
    let sim_url = e.client.config().gateway.replace("/gateway.do", "");
    let r = reqwest::Client::new()
        .post(format!("{sim_url}/sim/pay/SPALI0001"))
        .send()
        .await
        .unwrap();
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["notify_tries"], 1, "{answer}");
    let Notification::Payment(t) = e.notes.recv().await.unwrap().unwrap() else {
        panic!("expected a payment");
    };
    assert_eq!((t.status, t.amount_fen), (TradeStatus::Paid, 1234));
    assert_eq!(t.out_trade_no, "SPALI0001");
    assert!(t.transaction_id.is_some() && t.payer.is_some() && t.paid_at_unix.is_some());

    let q = p.query("SPALI0001").await.unwrap();
    assert_eq!((q.status, q.amount_fen), (TradeStatus::Paid, 1234));
    assert_eq!(q.transaction_id, t.transaction_id);

    let refund = RefundRequest {
        out_refund_no: "RFALI0001".into(),
        out_trade_no: "SPALI0001".into(),
        amount_fen: 234,
        total_fen: 1234,
        reason: "测试".into(),
        notify_url: None,
    };
    let r = p.refund(&refund).await.unwrap();
    assert_eq!((r.status, r.amount_fen), (RefundStatus::Succeeded, 234));
    // Retrying the same refund number refunds nothing more.
    p.refund(&refund).await.unwrap();
    assert_eq!(e.sim.trade("SPALI0001").unwrap().refunds.len(), 1);
    let rq = p.query_refund("SPALI0001", "RFALI0001").await.unwrap();
    assert_eq!((rq.status, rq.amount_fen), (RefundStatus::Succeeded, 234));
    let none = p.query_refund("SPALI0001", "RFALI0404").await.unwrap();
    assert_eq!(none.status, RefundStatus::Processing);
    // Too much is refused with Alipay's sub_code.
    let mut too_much = refund.clone();
    too_much.out_refund_no = "RFALI0002".into();
    too_much.amount_fen = 1001;
    let err = p.refund(&too_much).await.unwrap_err();
    assert_eq!(err.api_code(), Some("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"));
}

#[tokio::test]
async fn close_query_unknown_and_page_pay() {
    let e = env().await;
    let p: Arc<dyn PaymentProvider> = e.client.clone();
    p.prepay(&qr_request("SPALI0002", 100)).await.unwrap();
    p.close("SPALI0002").await.unwrap();
    assert_eq!(
        p.query("SPALI0002").await.unwrap().status,
        TradeStatus::Closed
    );
    // Never created: closing is fine, querying says TRADE_NOT_EXIST.
    p.close("SPALI0404").await.unwrap();
    let err = p.query("SPALI0404").await.unwrap_err();
    assert_eq!(err.api_code(), Some("ACQ.TRADE_NOT_EXIST"));

    let req = PrepayRequest {
        scene: Scene::AlipayPage {
            return_url: "https://shop.example.com/paid".into(),
        },
        ..qr_request("SPALI0003", 990)
    };
    let PrepayAnswer::RedirectUrl { url } = p.prepay(&req).await.unwrap() else {
        panic!("expected a redirect");
    };
    assert!(url.contains("method=alipay.trade.page.pay") && url.contains("sign="));
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("SPALI0003"));
    assert_eq!(p.query("SPALI0003").await.unwrap().amount_fen, 990);
    // A WeChat scene is not Alipay's.
    let wx = PrepayRequest {
        scene: Scene::Native,
        ..qr_request("SPALI0004", 1)
    };
    assert!(matches!(p.prepay(&wx).await, Err(PayError::Unsupported(_))));
}

#[tokio::test]
async fn forged_wrong_app_and_tampered_notifications_are_rejected() {
    let e = env().await;
    let p: Arc<dyn PaymentProvider> = e.client.clone();
    p.prepay(&qr_request("SPALI0005", 500)).await.unwrap();
    let t = e.sim.mark_paid("SPALI0005").unwrap();
    let good = e.sim.notification_params(&t);
    let h = http::HeaderMap::new();
    let form = |p: &[(String, String)]| client::form_encode(p).into_bytes();
    assert!(matches!(
        p.parse_notification(&h, &form(&good)).unwrap(),
        Notification::Payment(_)
    ));

    // Tampered amount: the signature no longer covers it.
    let mut tampered = good.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "total_amount" {
            *v = "0.01".into();
        }
    }
    assert!(matches!(
        p.parse_notification(&h, &form(&tampered)),
        Err(PayError::BadSignature(_))
    ));

    // Forged: signed by a key that is not Alipay's.
    let forger = MerchantKey::generate().unwrap();
    let mut forged: Vec<_> = good.iter().filter(|(k, _)| k != "sign").cloned().collect();
    forged.push((
        "sign".into(),
        sign_rsa2(&signing_content(&forged), &forger).unwrap(),
    ));
    assert!(matches!(
        p.parse_notification(&h, &form(&forged)),
        Err(PayError::BadSignature(_))
    ));

    // Properly signed by Alipay but for another app.
    let other = AlipaySimulator::new(AlipaySimulatorConfig {
        app_id: "2021000000000999".into(),
        merchant_public_key_der: Vec::new(),
        alipay_key: MerchantKey::from_pem(TEST_RSA_PRIVATE_KEY_PKCS8_PEM).unwrap(),
    });
    let other_params = other.notification_params(&t);
    let other_client = AlipayClient::new(AlipayConfig {
        gateway: DEFAULT_GATEWAY.into(),
        app_id: "2021000000000001".into(),
        merchant_key: MerchantKey::generate().unwrap(),
        alipay_public_key_b64: other.alipay_public_key_b64().unwrap(),
        notify_url: String::new(),
    })
    .unwrap();
    assert!(matches!(
        other_client.parse_notify_form(&form(&other_params)),
        Err(PayError::WrongMerchant(_))
    ));
    // No sign at all.
    let unsigned: Vec<_> = good.iter().filter(|(k, _)| k != "sign").cloned().collect();
    assert!(matches!(
        p.parse_notification(&h, &form(&unsigned)),
        Err(PayError::MissingHeader("sign"))
    ));
}

#[tokio::test]
async fn forged_gateway_answers_and_bad_request_signatures_are_rejected() {
    let e = env().await;
    // An answer signed by someone else does not verify.
    let forger = MerchantKey::generate().unwrap();
    let node = r#"{"code":"10000","msg":"Success","out_trade_no":"X","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}"#;
    let raw = format!(
        r#"{{"alipay_trade_query_response":{node},"sign":"{}"}}"#,
        sign_rsa2(node, &forger).unwrap()
    );
    assert!(matches!(
        e.client.open_response("alipay.trade.query", 200, &raw),
        Err(PayError::BadSignature(_))
    ));
    let unsigned = format!(r#"{{"alipay_trade_query_response":{node}}}"#);
    assert!(matches!(
        e.client.open_response("alipay.trade.query", 200, &unsigned),
        Err(PayError::BadSignature(_))
    ));
    // A client with the wrong merchant key is refused by the gateway (isv.invalid-signature).
    let wrong = AlipayClient::new(AlipayConfig {
        gateway: e.client.config().gateway.clone(),
        app_id: "2021000000000001".into(),
        merchant_key: forger,
        alipay_public_key_b64: e.sim.alipay_public_key_b64().unwrap(),
        notify_url: String::new(),
    })
    .unwrap();
    let err = wrong.query_trade("SPALI0404").await.unwrap_err();
    assert_eq!(err.api_code(), Some("isv.invalid-signature"));
}
