//! Test harness: MR alone on a fresh database (SQLite by default; PostgreSQL or MySQL when
//! `SUANPAN_TEST_DATABASE_URL` names a server), called in process through its router.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use suanpan_core::config::{Config, Settings};
use suanpan_core::wechat_login::WechatLoginSettings;
use suanpan_mr::MrState;
use suanpan_mr::settings::MrSettings;
use suanpan_payments::alipay::simulator::{AlipaySimulator, AlipaySimulatorConfig};
use suanpan_payments::settings::{AlipaySettings, WechatPaySettings};
use suanpan_payments::wechatpay::MerchantKey;
use suanpan_payments::wechatpay::simulator::{SIM_PUBLIC_KEY_ID, Simulator, SimulatorConfig};
use tower::ServiceExt;

/// The authorize path as a client sends it (and signs it).
pub const AUTHORIZE: &str = "/mr/v1/auth/game/authorize";

/// MR on a fresh database.
pub struct Mr {
    pub state: MrState,
    pub router: Router,
    /// With [`Mr::with_payments`]: the payment simulators and the server they notify.
    pub pay: Option<Pay>,
}

/// The WeChat Pay and Alipay simulators (development fakes of the real gateways, speaking
/// their protocols), and MR served on a local port so that they can post notifications to
/// the URL MR names in its prepay requests.
pub struct Pay {
    pub wechat: std::sync::Arc<Simulator>,
    pub alipay: std::sync::Arc<AlipaySimulator>,
    /// MR's base URL (`http://127.0.0.1:port`).
    pub base_url: String,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

const APPID: &str = "wxd678efh567hg6787";
const MCHID: &str = "1230000109";
const ALIPAY_APP_ID: &str = "2021000000000042";

fn keys() -> &'static (String, String, String, String) {
    static K: std::sync::OnceLock<(String, String, String, String)> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let pem = || MerchantKey::generate().unwrap().to_pkcs8_pem().unwrap();
        (pem(), pem(), pem(), pem())
    })
}

async fn serve_on(
    router: Router,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    })
}

/// A registered operator with a site, an authorized app and a bearer token.
#[derive(Clone, Debug)]
pub struct Venue {
    pub operator_id: String,
    pub api_key: String,
    pub site_id: String,
    pub app_id: String,
    pub token: String,
}

impl Mr {
    pub async fn new() -> Mr {
        Self::with(|_, mr| mr.rate_limits = "off".into()).await
    }

    /// MR with its settings changed by `tweak` (rate limits on unless it turns them off).
    pub async fn with(tweak: impl FnOnce(&mut Config, &mut MrSettings)) -> Mr {
        let dir = std::env::temp_dir()
            .join("suanpan-tests")
            .join(suanpan_core::ids::random_alnum(12).to_ascii_lowercase());
        std::fs::create_dir_all(&dir).unwrap();
        let mut core = Config {
            database_url: suanpan_core::testing::fresh_database_url().await,
            data_dir: dir.to_string_lossy().into_owned(),
            db_max_connections: 8,
            sqlite_synchronous: "NORMAL".into(),
            ..Config::default()
        };
        let mut mr = MrSettings::default();
        tweak(&mut core, &mut mr);
        let mut settings = Settings::new(core);
        settings.set(&mr);
        let state = suanpan_mr::app::open(settings).await.unwrap();
        let router = suanpan_mr::app::router(state.clone());
        Mr {
            state,
            router,
            pay: None,
        }
    }

    /// MR with WeChat Pay and Alipay configured against their simulators, served on a local
    /// port (rate limits off).
    pub async fn with_payments() -> Mr {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (merchant_pem, platform_pem, app_pem, alipay_pem) = keys();
        let dir = std::env::temp_dir()
            .join("suanpan-tests")
            .join(suanpan_core::ids::random_alnum(12).to_ascii_lowercase());
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.to_string_lossy().into_owned()
        };
        let platform_key = MerchantKey::from_pem(platform_pem).unwrap();
        let platform_pub = write("platform_pub.pem", &platform_key.public_key_pem().unwrap());
        let apiv3 = suanpan_core::ids::random_alnum(32);
        let wechat = Simulator::new(SimulatorConfig {
            appid: APPID.into(),
            mchid: MCHID.into(),
            apiv3_key: apiv3.as_bytes().to_vec(),
            merchant_public_key_der: MerchantKey::from_pem(merchant_pem)
                .unwrap()
                .public_key_der(),
            platform_key,
            platform_key_id: SIM_PUBLIC_KEY_ID.into(),
        });
        let alipay = AlipaySimulator::new(AlipaySimulatorConfig {
            app_id: ALIPAY_APP_ID.into(),
            merchant_public_key_der: MerchantKey::from_pem(app_pem).unwrap().public_key_der(),
            alipay_key: MerchantKey::from_pem(alipay_pem).unwrap(),
        });
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let (wl, al, ml) = (
            bind().await.unwrap(),
            bind().await.unwrap(),
            bind().await.unwrap(),
        );
        let url = |l: &tokio::net::TcpListener| format!("http://{}", l.local_addr().unwrap());
        let (wechat_url, alipay_url, base_url) = (url(&wl), url(&al), url(&ml));
        let (w2, a2) = (wechat.clone(), alipay.clone());
        let mut tasks = vec![
            tokio::spawn(async move {
                let _ = w2.serve(wl).await;
            }),
            tokio::spawn(async move {
                let _ = a2.serve(al).await;
            }),
        ];
        let core = Config {
            database_url: suanpan_core::testing::fresh_database_url().await,
            data_dir: dir.to_string_lossy().into_owned(),
            db_max_connections: 8,
            sqlite_synchronous: "NORMAL".into(),
            public_base_url: base_url.clone(),
            ..Config::default()
        };
        let mut settings = Settings::new(core);
        settings.set(&MrSettings {
            rate_limits: "off".into(),
            ..MrSettings::default()
        });
        settings.set(&WechatLoginSettings {
            wechat_appid: APPID.into(),
            wechat_secret: "secret".into(),
            wechat_api_base: wechat_url.clone(),
        });
        settings.set(&WechatPaySettings {
            wechatpay_api_base: wechat_url,
            wechatpay_mchid: MCHID.into(),
            wechatpay_merchant_key: write("merchant.pem", merchant_pem),
            wechatpay_merchant_serial: "TESTSERIAL0001".into(),
            wechatpay_apiv3_key: apiv3,
            wechatpay_platform_public_key: platform_pub,
            wechatpay_platform_public_key_id: SIM_PUBLIC_KEY_ID.into(),
            ..WechatPaySettings::default()
        });
        settings.set(&AlipaySettings {
            alipay_gateway: format!("{alipay_url}/gateway.do"),
            alipay_app_id: ALIPAY_APP_ID.into(),
            alipay_private_key: write("alipay_app.pem", app_pem),
            alipay_public_key: alipay.alipay_public_key_b64().unwrap(),
            alipay_notify_url: String::new(),
        });
        let state = suanpan_mr::app::open(settings).await.unwrap();
        let router = suanpan_mr::app::router(state.clone());
        tasks.push(serve_on(router.clone(), ml).await);
        Mr {
            state,
            router,
            pay: Some(Pay {
                wechat,
                alipay,
                base_url,
                _tasks: tasks,
            }),
        }
    }

    /// Calls the router; the body parsed as JSON (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.map(<[u8]>::to_vec).unwrap_or_default()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v)
    }

    /// A GET with a bearer token: status, `Content-Type` and the raw body (files).
    pub async fn download(&self, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
        let req = Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, ct, body.to_vec())
    }

    /// A JSON call with an optional bearer token.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let h: Vec<(&str, String)> = token
            .map(|t| vec![("authorization", format!("Bearer {t}"))])
            .unwrap_or_default();
        let raw = serde_json::to_vec(&body).unwrap();
        let body = (method != Method::GET).then_some(raw.as_slice());
        self.call(method, path, &h, body).await
    }

    /// Registers an operator through the API, logs in, creates a site, authorizes a 10.00/player
    /// app for 1-8 players, and credits `balance_fen`.
    pub async fn venue(&self, balance_fen: i64) -> Venue {
        let username = format!(
            "v{}",
            suanpan_core::ids::random_alnum(8).to_ascii_lowercase()
        );
        let (st, reg) = self
            .json(
                Method::POST,
                "/mr/v1/auth/operators/register",
                None,
                json!({"username": username, "password": "Passw0rdX", "name": "测试场馆", "phone": "13800138000", "email": "v@example.com"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{reg}");
        let operator_id = reg["data"]["operator_id"].as_str().unwrap().to_string();
        let api_key = reg["data"]["api_key"].as_str().unwrap().to_string();
        let (st, login) = self
            .json(
                Method::POST,
                "/mr/v1/auth/operators/login",
                None,
                json!({"username": username, "password": "Passw0rdX"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{login}");
        let token = login["data"]["access_token"].as_str().unwrap().to_string();
        let (st, site) = self
            .json(
                Method::POST,
                "/mr/v1/operators/me/sites",
                Some(&token),
                json!({"name": "一号店", "address": "北京市朝阳区某路1号"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{site}");
        let site_id = site["data"]["site_id"].as_str().unwrap().to_string();
        let app_id = format!(
            "app{}",
            suanpan_core::ids::random_alnum(8).to_ascii_lowercase()
        );
        let now = suanpan_core::time::now_ms();
        let db = &self.state.core.db;
        let app = suanpan_mr::store::apps::App {
            app_id: app_id.clone(),
            app_name: "太空探险".into(),
            unit_price_fen: 1000,
            min_players: 1,
            max_players: 8,
            description: None,
            created_at: now,
            updated_at: now,
        };
        suanpan_mr::store::apps::insert(db, &app).await.unwrap();
        assert!(
            suanpan_mr::store::apps::authorize(db, &operator_id, &app_id, None, now)
                .await
                .unwrap()
        );
        if balance_fen > 0 {
            suanpan_mr::service::operators::credit(
                &self.state,
                &operator_id,
                balance_fen,
                "manual",
                &format!("seed-{operator_id}"),
            )
            .await
            .unwrap();
        }
        Venue {
            operator_id,
            api_key,
            site_id,
            app_id,
            token,
        }
    }

    /// An active application `name` at `price_fen` per player for `min..=max` players; its id.
    pub async fn app(&self, name: &str, price_fen: i64, min: i64, max: i64) -> String {
        let app_id = format!(
            "app{}",
            suanpan_core::ids::random_alnum(8).to_ascii_lowercase()
        );
        let now = suanpan_core::time::now_ms();
        let app = suanpan_mr::store::apps::App {
            app_id: app_id.clone(),
            app_name: name.into(),
            unit_price_fen: price_fen,
            min_players: min,
            max_players: max,
            description: None,
            created_at: now,
            updated_at: now,
        };
        suanpan_mr::store::apps::insert(&self.state.core.db, &app)
            .await
            .unwrap();
        app_id
    }

    /// Authorizes `operator_id` for `app_id` until `expires_at` (ms; `None`: permanently).
    pub async fn grant(&self, operator_id: &str, app_id: &str, expires_at: Option<i64>) {
        let now = suanpan_core::time::now_ms();
        let db = &self.state.core.db;
        suanpan_mr::store::apps::authorize(db, operator_id, app_id, expires_at, now)
            .await
            .unwrap();
    }

    /// A signed authorization of `players` for `app_id` at the venue's site, fresh session.
    pub async fn play(&self, v: &Venue, app_id: &str, players: i64) -> (StatusCode, Value) {
        let ts = now_secs();
        let body = json!({"app_id": app_id, "site_id": v.site_id, "player_count": players});
        self.authorize(v, &body, &session(v, ts), ts, false).await
    }

    /// Recharges `amount` by `method` and pays it at the simulator, whose notification reaches
    /// MR ([`Mr::with_payments`] only); the order id.
    pub async fn paid_recharge(&self, v: &Venue, amount: &str, method: &str) -> String {
        let pay = self.pay.as_ref().expect("Mr::with_payments");
        let body = json!({"amount": amount, "payment_method": method});
        let (st, r) = self
            .json(
                Method::POST,
                "/mr/v1/operators/me/recharge",
                Some(&v.token),
                body,
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        let order = r["data"]["order_id"].as_str().unwrap().to_string();
        if method == "wechat" {
            let (tx, url) = pay.wechat.mark_paid(&order).unwrap();
            let n = pay.wechat.transaction_notification(&tx);
            assert_eq!(pay.wechat.deliver(&url, n).await, Ok(204));
        } else {
            let t = pay.alipay.mark_paid(&order).unwrap();
            let p = pay.alipay.notification_params(&t);
            assert_eq!(pay.alipay.deliver(&t.notify_url, &p).await, Ok(1));
        }
        order
    }

    /// A GET with a bearer token, the body as JSON.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.json(Method::GET, path, Some(token), Value::Null).await
    }

    /// A signed authorize call (signature version 1 unless `v2`).
    pub async fn authorize(
        &self,
        v: &Venue,
        body: &Value,
        session: &str,
        ts: i64,
        v2: bool,
    ) -> (StatusCode, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let headers = signed(v, &raw, session, ts, v2);
        self.call(Method::POST, AUTHORIZE, &headers, Some(&raw))
            .await
    }

    /// The operator's balance as the API shows it.
    pub async fn balance(&self, v: &Venue) -> String {
        let (st, b) = self
            .json(
                Method::GET,
                "/mr/v1/operators/me/balance",
                Some(&v.token),
                Value::Null,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b["data"]["balance"].as_str().unwrap().to_string()
    }
}

/// The headers of a signed authorize request.
pub fn signed(
    v: &Venue,
    raw: &[u8],
    session: &str,
    ts: i64,
    v2: bool,
) -> Vec<(&'static str, String)> {
    use suanpan_mr::domain::{SignatureVersion, signed_message};
    let version = if v2 {
        SignatureVersion::V2
    } else {
        SignatureVersion::V1
    };
    let msg = signed_message(version, &ts.to_string(), "POST", AUTHORIZE, session, raw);
    let sig = suanpan_core::signing::hmac_sha256_b64(v.api_key.as_bytes(), &msg);
    let mut h = vec![
        ("x-api-key", v.api_key.clone()),
        ("x-timestamp", ts.to_string()),
        ("x-session-id", session.to_string()),
        ("x-signature", sig),
    ];
    if v2 {
        h.push(("x-signature-version", "2".into()));
    }
    h
}

/// A fresh session id of `v` at `ts`.
pub fn session(v: &Venue, ts: i64) -> String {
    format!(
        "{}_{ts}_{}",
        v.operator_id,
        suanpan_core::ids::random_alnum(16)
    )
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    suanpan_core::time::now_ms() / 1000
}

/// Creates a back-office account with `role` in `system` and logs it in at MR's login for the
/// role; its bearer token.
pub async fn staff(mr: &Mr, name: &str, role: &str, system: &str) -> String {
    suanpan_core::auth::create_staff(
        &mr.state.core.db,
        name,
        "Staff-pass-123",
        system,
        role,
        None,
    )
    .await
    .unwrap();
    let path = if role == "finance" {
        "/mr/v1/auth/finance/login"
    } else {
        "/mr/v1/auth/admin/login"
    };
    let (st, r) = mr
        .json(
            Method::POST,
            path,
            None,
            json!({"username": name, "password": "Staff-pass-123"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let who = if role == "finance" {
        &r["data"]["finance"]["finance_id"]
    } else {
        &r["data"]["admin"]["admin_id"]
    };
    assert!(who.is_string(), "{r}");
    r["data"]["access_token"].as_str().unwrap().to_string()
}
