//! Test harness: a full shop on a fresh database (SQLite by default; PostgreSQL or MySQL when
//! `SUANPAN_TEST_DATABASE_URL` names a server, one new database per test), served on a loopback
//! port so that the WeChat simulator can deliver real notifications to it, and called in process
//! through the same router.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use suanpan_core::config::{Config, Settings};
use suanpan_core::wechat_login::WechatLoginSettings;
use suanpan_payments::settings::WechatPaySettings;
use suanpan_payments::wechatpay::simulator::{SIM_PUBLIC_KEY_ID, Simulator, SimulatorConfig};
use suanpan_payments::wechatpay::{MerchantKey, Transaction, TransactionAmount};
use suanpan_shop::ShopState;
use suanpan_shop::settings::ShopSettings;
use tower::ServiceExt;

pub const APPID: &str = "wxtest0000000000001";
pub const MCHID: &str = "1230000109";

fn keys() -> &'static (String, String) {
    static K: OnceLock<(String, String)> = OnceLock::new();
    K.get_or_init(|| {
        (
            MerchantKey::generate().unwrap().to_pkcs8_pem().unwrap(),
            MerchantKey::generate().unwrap().to_pkcs8_pem().unwrap(),
        )
    })
}

fn rand_name() -> String {
    suanpan_core::ids::random_alnum(12).to_ascii_lowercase()
}

/// A new, empty database URL for one test (the core's shared helper).
pub async fn fresh_database() -> String {
    suanpan_core::testing::fresh_database_url().await
}

pub struct TestApp {
    pub state: ShopState,
    pub router: Router,
    pub sim: Arc<Simulator>,
    pub base_url: String,
    _server: tokio::task::JoinHandle<()>,
    _sim_task: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(|_, _| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config, &mut ShopSettings)) -> TestApp {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (merchant_pem, platform_pem) = keys();
        let dir = std::env::temp_dir().join("suanpan-tests").join(rand_name());
        std::fs::create_dir_all(&dir).unwrap();
        let merchant_path = dir.join("merchant.pem");
        std::fs::write(&merchant_path, merchant_pem).unwrap();
        let platform_key = MerchantKey::from_pem(platform_pem).unwrap();
        let platform_pub = dir.join("platform_pub.pem");
        std::fs::write(&platform_pub, platform_key.public_key_pem().unwrap()).unwrap();
        let apiv3 = suanpan_core::ids::random_alnum(32);

        let sim = Simulator::new(SimulatorConfig {
            appid: APPID.into(),
            mchid: MCHID.into(),
            apiv3_key: apiv3.as_bytes().to_vec(),
            merchant_public_key_der: MerchantKey::from_pem(merchant_pem)
                .unwrap()
                .public_key_der(),
            platform_key,
            platform_key_id: SIM_PUBLIC_KEY_ID.into(),
        });
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_url = format!("http://{}", sim_listener.local_addr().unwrap());
        let sim2 = sim.clone();
        let sim_task = tokio::spawn(async move {
            let _ = sim2.serve(sim_listener).await;
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let mut core = Config {
            database_url: fresh_database().await,
            data_dir: dir.to_string_lossy().into_owned(),
            db_max_connections: 8,
            sqlite_synchronous: "NORMAL".into(),
            public_base_url: base_url.clone(),
            max_body_bytes: 64 * 1024,
            ..Config::default()
        };
        let mut shop = ShopSettings::default();
        tweak(&mut core, &mut shop);
        let mut settings = Settings::new(core);
        settings.set(&WechatLoginSettings {
            wechat_appid: APPID.into(),
            wechat_secret: "secret".into(),
            wechat_api_base: sim_url.clone(),
        });
        settings.set(&WechatPaySettings {
            wechatpay_api_base: sim_url,
            wechatpay_mchid: MCHID.into(),
            wechatpay_merchant_key: merchant_path.to_string_lossy().into_owned(),
            wechatpay_merchant_serial: "TESTSERIAL0001".into(),
            wechatpay_apiv3_key: apiv3,
            wechatpay_platform_public_key: platform_pub.to_string_lossy().into_owned(),
            wechatpay_platform_public_key_id: SIM_PUBLIC_KEY_ID.into(),
            ..WechatPaySettings::default()
        });
        settings.set(&shop);
        let state = suanpan_shop::app::open(settings).await.expect("state");
        let router = suanpan_shop::app::router(state.clone());
        let r2 = router.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                r2.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        TestApp {
            state,
            router,
            sim,
            base_url,
            _server: server,
            _sim_task: sim_task,
        }
    }

    pub fn db(&self) -> &suanpan_core::db::Db {
        &self.state.core.db
    }

    /// A request through the router; returns status and JSON (Null for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    /// A JSON request through the router; the whole response (status, headers, body).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> axum::response::Response {
        let b = Request::builder().method(method).uri(path);
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.router.clone().oneshot(req).await.unwrap()
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v)
    }

    pub async fn admin_token(&self) -> String {
        let _ = suanpan_core::auth::create_staff(
            self.db(),
            "root",
            "root-password",
            "shop",
            "admin",
            None,
        )
        .await;
        self.login_admin("root", "root-password").await
    }

    pub async fn login_admin(&self, u: &str, p: &str) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/admin/auth/login",
                None,
                Some(json!({"username": u, "password": p})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Logs a shopper in through `jscode2session` at the simulator.
    pub async fn shopper(&self, code: &str) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/auth/wechat/login",
                None,
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    /// A shopper token minted directly (for tests that need hundreds of shoppers).
    pub async fn quick_shopper(&self, n: usize) -> String {
        let u = suanpan_core::auth::upsert_user(self.db(), &format!("oQUICK{n:08}"), None)
            .await
            .unwrap();
        self.state
            .core
            .tokens
            .issue(&u.id.to_string(), "user", None)
            .unwrap()
            .access_token
    }

    pub async fn product(&self, admin: &str, price_fen: i64, stock: i64) -> i64 {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/admin/products",
                Some(admin),
                Some(json!({"name": "五常大米 5kg", "price_fen": price_fen, "stock": stock})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    pub async fn order(&self, shopper: &str, product: i64, qty: i64) -> Value {
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/orders",
                Some(shopper),
                Some(json!({"items": [{"product_id": product, "quantity": qty}]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn stock(&self, product: i64) -> (i64, i64, i64) {
        let b = self.balance(&format!("product:{product}")).await;
        (b.available(), b.balance, b.pending_out)
    }

    /// The account, after checking every invariant of the whole ledger.
    pub async fn balance(&self, account: &str) -> suanpan_core::ledger::Account {
        let mut c = self.db().writer().acquire().await.unwrap();
        let d = self.db().dialect;
        let report = suanpan_core::ledger::verify(&mut c, d).await.unwrap();
        assert!(report.ok(), "{report}");
        suanpan_core::ledger::account(&mut c, d, account)
            .await
            .unwrap()
    }

    /// How many outbox events of `event_type` exist for the order.
    pub async fn events(&self, event_type: &str, order_id: i64) -> i64 {
        let d = self.db().dialect;
        sqlx::query(
            &d.prepare("SELECT COUNT(*) FROM outbox WHERE event_type = ? AND aggregate_id = ?"),
        )
        .bind(event_type)
        .bind(order_id.to_string())
        .fetch_one(self.db().reader())
        .await
        .unwrap()
        .get::<i64, _>(0)
    }

    pub async fn count(&self, sql: &str, arg: i64) -> i64 {
        let d = self.db().dialect;
        sqlx::query(&d.prepare(sql))
            .bind(arg)
            .fetch_one(self.db().reader())
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// Starts payment (prepay at the simulator) and returns the out_trade_no.
    pub async fn prepay(&self, shopper: &str, order_id: i64) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                &format!("/v1/orders/{order_id}/pay"),
                Some(shopper),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for k in [
            "appId",
            "timeStamp",
            "nonceStr",
            "package",
            "signType",
            "paySign",
        ] {
            assert!(v["pay_params"][k].is_string(), "missing {k}");
        }
        v["out_trade_no"].as_str().unwrap().to_string()
    }

    /// A successful transaction as WeChat Pay would report it.
    pub fn transaction(&self, out_trade_no: &str, total: i64) -> Transaction {
        Transaction {
            appid: APPID.into(),
            mchid: MCHID.into(),
            out_trade_no: out_trade_no.into(),
            transaction_id: Some(format!("4200{}", &out_trade_no[1..])),
            trade_type: Some("JSAPI".into()),
            trade_state: "SUCCESS".into(),
            trade_state_desc: None,
            success_time: Some("2026-11-21T10:00:00+08:00".into()),
            payer: None,
            amount: Some(TransactionAmount {
                total,
                payer_total: Some(total),
                currency: Some("CNY".into()),
            }),
        }
    }

    /// A notification request for `t`, signed at `ts`.
    pub fn notify_request(&self, t: &Transaction, ts: i64) -> (HeaderMap, Vec<u8>) {
        let body = self.sim.transaction_notification(t);
        (self.sim.signed_headers_at(&body, ts), body)
    }

    pub async fn post_notify(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/v1/payments/wechat/notify");
        for (k, v) in headers {
            b = b.header(k, v);
        }
        self.send(b.body(Body::from(body.to_vec())).unwrap()).await
    }

    /// Polls `f` until it is true (at most ~5 s).
    pub async fn eventually<F: AsyncFnMut() -> bool>(&self, mut f: F) -> bool {
        for _ in 0..100 {
            if f().await {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
