//! The WeChat Pay client against the simulator: Native prepay, the provider trait, refund
//! notifications, platform-certificate download, verification and rotation.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::simulator::{SIM_PUBLIC_KEY_ID, Simulator, SimulatorConfig};
use super::*;
use crate::provider::{
    self, Notification as Neutral, PaymentProvider, PrepayAnswer, RefundStatus, Scene, TradeStatus,
};

const APPID: &str = "wxsimulator00001";
const MCHID: &str = "1900000001";
const APIV3: &str = "0123456789abcdefghijklmnopqrstuv";

struct Env {
    sim: Arc<Simulator>,
    sim_url: String,
    notify_url: String,
    merchant_pem: String,
    bodies: mpsc::UnboundedReceiver<(http::HeaderMap, Vec<u8>)>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// A simulator and a notify endpoint that records what it receives and answers 204.
async fn env() -> Env {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let merchant = MerchantKey::generate().unwrap();
    let sim = Simulator::new(SimulatorConfig {
        appid: APPID.into(),
        mchid: MCHID.into(),
        apiv3_key: APIV3.as_bytes().to_vec(),
        merchant_public_key_der: merchant.public_key_der(),
        platform_key: MerchantKey::generate().unwrap(),
        platform_key_id: SIM_PUBLIC_KEY_ID.into(),
    });
    let (sim_l, sim_url) = listen().await;
    let (hook_l, hook_url) = listen().await;
    let (tx, bodies) = mpsc::unbounded_channel();
    let hook = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |h: http::HeaderMap, b: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((h, b.to_vec()));
                provider::Provider::Wechat.ack()
            }
        }),
    );
    let s2 = sim.clone();
    Env {
        sim,
        sim_url,
        notify_url: format!("{hook_url}/notify"),
        merchant_pem: merchant.to_pkcs8_pem().unwrap(),
        bodies,
        _tasks: vec![
            tokio::spawn(async move {
                let _ = s2.serve(sim_l).await;
            }),
            tokio::spawn(async move {
                let _ = axum::serve(hook_l, hook).await;
            }),
        ],
    }
}

fn client(e: &Env, keys: PlatformKeys) -> WechatPayClient {
    WechatPayClient::new(WechatPayConfig {
        api_base: e.sim_url.clone(),
        appid: APPID.into(),
        mchid: MCHID.into(),
        merchant_serial: "SIMMERCHANTSERIAL".into(),
        merchant_key: MerchantKey::from_pem(&e.merchant_pem).unwrap(),
        apiv3_key: APIV3.as_bytes().to_vec(),
        platform_keys: keys,
        notify_url: e.notify_url.clone(),
        max_skew_secs: 300,
    })
    .unwrap()
}

fn request(no: &str, scene: Scene) -> provider::PrepayRequest {
    provider::PrepayRequest {
        out_trade_no: no.into(),
        amount_fen: 990,
        description: "算盘 测试".into(),
        scene,
        expires_at_unix: Some(chrono::Utc::now().timestamp() + 900),
        notify_url: None,
    }
}

#[tokio::test]
async fn native_and_jsapi_prepay_through_the_provider_trait() {
    let e = env().await;
    let p: Arc<dyn PaymentProvider> = Arc::new(client(&e, e.sim.platform_keys()));
    let PrepayAnswer::QrCode { code_url } = p
        .prepay(&request("SPWX000001", Scene::Native))
        .await
        .unwrap()
    else {
        panic!("expected a QR code");
    };
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));
    let q = p.query("SPWX000001").await.unwrap();
    assert_eq!((q.status, q.amount_fen), (TradeStatus::NotPaid, 990));
    assert_eq!(q.raw["trade_type"], "NATIVE");

    let jsapi = Scene::Jsapi {
        openid: "oSIMpayer".into(),
    };
    let PrepayAnswer::JsapiParams(pp) = p.prepay(&request("SPWX000002", jsapi)).await.unwrap()
    else {
        panic!("expected wx.requestPayment parameters");
    };
    assert!(pp.package.starts_with("prepay_id=wx"));
    p.close("SPWX000002").await.unwrap();
    assert_eq!(
        p.query("SPWX000002").await.unwrap().status,
        TradeStatus::Closed
    );
    assert!(matches!(
        p.prepay(&request("SPWX000003", Scene::AlipayQr)).await,
        Err(PayError::Unsupported(_))
    ));
}

#[tokio::test]
async fn payment_and_refund_notifications_map_to_neutral_types() {
    let mut e = env().await;
    let c = Arc::new(client(&e, e.sim.platform_keys()));
    let p: Arc<dyn PaymentProvider> = c.clone();
    p.prepay(&request("SPWX000010", Scene::Native))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/sim/pay/SPWX000010", e.sim_url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (h, b) = e.bodies.recv().await.unwrap();
    let Neutral::Payment(t) = p.parse_notification(&h, &b).unwrap() else {
        panic!("expected a payment");
    };
    assert_eq!((t.status, t.amount_fen), (TradeStatus::Paid, 990));
    assert!(t.transaction_id.is_some() && t.paid_at_unix.is_some());

    let refund = provider::RefundRequest {
        out_refund_no: "RFWX000010".into(),
        out_trade_no: "SPWX000010".into(),
        amount_fen: 90,
        total_fen: 990,
        reason: "测试".into(),
        notify_url: None,
    };
    let r = p.refund(&refund).await.unwrap();
    assert_eq!((r.status, r.amount_fen), (RefundStatus::Processing, 90));
    // The simulator finishes the refund and posts REFUND.SUCCESS.
    let (h, b) = tokio::time::timeout(Duration::from_secs(5), e.bodies.recv())
        .await
        .unwrap()
        .unwrap();
    let Neutral::Refund(rf) = p.parse_notification(&h, &b).unwrap() else {
        panic!("expected a refund");
    };
    assert_eq!(rf.status, RefundStatus::Succeeded);
    assert_eq!(
        (rf.out_refund_no.as_str(), rf.amount_fen),
        ("RFWX000010", 90)
    );
    let q = p.query_refund("SPWX000010", "RFWX000010").await.unwrap();
    assert_eq!(q.status, RefundStatus::Succeeded);

    // Other refund events map too.
    let closed = Refund {
        refund_id: q.refund_id.clone(),
        out_refund_no: "RFWX000010".into(),
        out_trade_no: Some("SPWX000010".into()),
        mchid: Some(MCHID.into()),
        status: "ABNORMAL".into(),
        success_time: None,
        amount: RefundAmount {
            total: 990,
            refund: 90,
            currency: None,
        },
    };
    let body = e.sim.refund_notification("REFUND.ABNORMAL", &closed);
    let h = e.sim.signed_headers(&body);
    let Neutral::Refund(rf) = p.parse_notification(&h, &body).unwrap() else {
        panic!("expected a refund");
    };
    assert_eq!(rf.status, RefundStatus::Abnormal);
}

#[tokio::test]
async fn certificates_download_verify_and_rotate() {
    let e = env().await;
    let first = e.sim.rotate_platform_certificate().unwrap();
    // Trusting nothing up front: the first download verifies with its own certificate.
    let c = Arc::new(
        client(&e, PlatformKeys::default()).with_certificate_download(Duration::from_secs(3600)),
    );
    assert_eq!(c.refresh_certificates().await.unwrap(), 1);
    assert_eq!(c.verification_keys().ids(), vec![first.clone()]);
    let held = c.certificates().certificates();
    assert!(held[0].expire_unix > chrono::Utc::now().timestamp());
    // Responses are now signed by the certificate and verify.
    c.native_prepay(&client::NativePrepayRequest {
        description: "x".into(),
        out_trade_no: "SPWX000020".into(),
        amount_fen: 1,
        time_expire: None,
        notify_url: None,
    })
    .await
    .unwrap();

    // The simulator rotates; a notification signed by the new serial is unknown until a
    // refresh, after which it verifies. The old certificate is still listed (overlap).
    let second = e.sim.rotate_platform_certificate().unwrap();
    let (tx, _) = e.sim.mark_paid("SPWX000020").unwrap();
    let body = e.sim.transaction_notification(&tx);
    let h = e.sim.signed_headers(&body);
    assert_eq!(h["Wechatpay-Serial"], second.as_str());
    match c.parse_notification(&h, &body) {
        Err(PayError::UnknownSerial(s)) => assert_eq!(s, second),
        other => panic!("expected UnknownSerial, got {other:?}"),
    }
    assert_eq!(c.refresh_certificates().await.unwrap(), 2);
    assert!(matches!(
        c.parse_notification(&h, &body).unwrap(),
        Neutral::Payment(_)
    ));
    let mut ids = c.verification_keys().ids();
    ids.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn unknown_serial_triggers_one_rate_limited_refresh() {
    let e = env().await;
    e.sim.rotate_platform_certificate().unwrap();
    let c =
        client(&e, PlatformKeys::default()).with_certificate_download(Duration::from_secs(3600));
    c.refresh_certificates().await.unwrap();
    let third = e.sim.rotate_platform_certificate().unwrap();
    // A response signed by the unknown serial: the client refreshes once and goes on.
    c.native_prepay(&client::NativePrepayRequest {
        description: "x".into(),
        out_trade_no: "SPWX000030".into(),
        amount_fen: 1,
        time_expire: None,
        notify_url: None,
    })
    .await
    .unwrap();
    assert!(c.verification_keys().contains(&third));
    // Another rotation within the rate limit: no refresh, a clean stable error.
    let fourth = e.sim.rotate_platform_certificate().unwrap();
    let (tx, _) = e.sim.mark_paid("SPWX000030").unwrap();
    let body = e.sim.transaction_notification(&tx);
    let h = e.sim.signed_headers(&body);
    match c.open_notification_refreshing(&h, &body).await {
        Err(PayError::UnknownSerial(s)) => assert_eq!(s, fourth),
        other => panic!("expected UnknownSerial, got {other:?}"),
    }
    // Without certificate mode there is no refresh: the error comes straight back.
    let pk = client(&e, PlatformKeys::default());
    assert!(matches!(
        pk.open_notification_refreshing(&h, &body).await,
        Err(PayError::UnknownSerial(_))
    ));
    // With every key trusted it verifies.
    let all = client(&e, e.sim.platform_keys());
    assert!(all.open_notification_refreshing(&h, &body).await.is_ok());
}

#[tokio::test]
async fn certificate_list_is_refused_when_tampered_or_wrongly_keyed() {
    let e = env().await;
    e.sim.rotate_platform_certificate().unwrap();
    let body = e.sim.certificates_body();
    let h = e.sim.signed_headers(&body);
    let now = chrono::Utc::now().timestamp();
    let m = CertificateManager::new(Duration::from_secs(60));
    let none = PlatformKeys::default();
    assert_eq!(
        m.install(&h, &body, APIV3.as_bytes(), &none, now, 300)
            .unwrap(),
        1
    );
    // Wrong APIv3 key: the certificate does not decrypt.
    let wrong = b"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    assert!(matches!(
        m.install(&h, &body, wrong, &none, now, 300),
        Err(PayError::Decrypt)
    ));
    // Tampered body (still valid JSON): the signature does not verify.
    let mut t = body.clone();
    t.push(b' ');
    assert!(matches!(
        m.install(&h, &t, APIV3.as_bytes(), &none, now, 300),
        Err(PayError::BadSignature(_))
    ));
    // Signed by a key neither trusted nor downloaded: a stable unknown-serial error.
    let mut h2 = h.clone();
    h2.insert("Wechatpay-Serial", "0123456789ABCDEF".parse().unwrap());
    assert!(matches!(
        m.install(&h2, &body, APIV3.as_bytes(), &none, now, 300),
        Err(PayError::UnknownSerial(_))
    ));
    // Expired certificates are dropped: ten years from now nothing is valid.
    let later = now + 10 * 365 * 86_400;
    assert!(
        certificates::parse_certificate_list(&body, APIV3.as_bytes(), later)
            .unwrap()
            .is_empty()
    );
    assert!(m.keys(later).ids().is_empty());
    assert!(m.try_begin_forced_refresh());
    assert!(!m.try_begin_forced_refresh());
}
