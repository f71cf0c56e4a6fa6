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

/// What [`TestApp::seed`] made: tokens of the admin and of alice, and the product's id.
pub struct Seeded {
    pub admin: String,
    pub p: i64,
    pub alice: String,
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

    /// GET through the router: status and JSON.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// GET through the router: status, headers and the raw body (CSV, uploaded files).
    pub async fn get_bytes(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut b = Request::builder().uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let resp = self
            .router
            .clone()
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, bytes.to_vec())
    }

    // Helpers below come in two kinds: one request each (named after it, answering status and
    // JSON like `call`, asserting nothing), and set-up steps (a product, an order, a payment)
    // that assert they succeeded and answer what the test needs next.

    // --- Accounts and sessions ---

    /// `POST /v1/auth/wechat/login`: the whole answer (both tokens).
    pub async fn wechat_login(&self, code: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/auth/wechat/login",
            None,
            Some(json!({"code": code})),
        )
        .await
    }

    /// `POST /v1/admin/auth/login`: the whole answer (both tokens).
    pub async fn admin_login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/admin/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// `POST /v1/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &Value) -> (StatusCode, Value) {
        let body = json!({ "refresh_token": refresh_token });
        self.call(Method::POST, "/v1/auth/refresh", None, Some(body))
            .await
    }

    /// `POST /v1/auth/logout`.
    pub async fn logout(&self, refresh_token: &Value) -> (StatusCode, Value) {
        let body = json!({ "refresh_token": refresh_token });
        self.call(Method::POST, "/v1/auth/logout", None, Some(body))
            .await
    }

    /// An admin token for `root` (created on first use).
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
        let (s, v) = self.admin_login(u, p).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Logs a shopper in through `jscode2session` at the simulator.
    pub async fn shopper(&self, code: &str) -> String {
        let (s, v) = self.wechat_login(code).await;
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

    /// `POST /v1/admin/users`.
    pub async fn create_admin_user(
        &self,
        token: &str,
        username: &str,
        password: &str,
        role: &str,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/admin/users",
            Some(token),
            Some(json!({"username": username, "password": password, "role": role})),
        )
        .await
    }

    /// `GET /v1/admin/audit-logs?{query}` (no filter when `query` is empty).
    pub async fn audit_logs(&self, token: &str, query: &str) -> (StatusCode, Value) {
        let path = match query {
            "" => "/v1/admin/audit-logs".to_string(),
            q => format!("/v1/admin/audit-logs?{q}"),
        };
        self.get(&path, Some(token)).await
    }

    // --- Catalog ---

    /// `POST /v1/admin/products` with `body`.
    pub async fn create_product(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/admin/products", Some(token), Some(body))
            .await
    }

    /// `PATCH /v1/admin/products/{id}` with `body`.
    pub async fn update_product(&self, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::PATCH,
            &format!("/v1/admin/products/{id}"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// `GET /v1/products/{id}`, as a shopper sees it.
    pub async fn get_product(&self, id: i64) -> (StatusCode, Value) {
        self.get(&format!("/v1/products/{id}"), None).await
    }

    /// A product "五常大米 5kg" on the shelf; its id.
    pub async fn product(&self, admin: &str, price_fen: i64, stock: i64) -> i64 {
        let (s, v) = self
            .create_product(
                admin,
                json!({"name": "五常大米 5kg", "price_fen": price_fen, "stock": stock}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// The cast of most tests: the admin `root`, a product of `price_fen` with `stock` on the
    /// shelf, and the shopper `alice`.
    pub async fn seed(&self, price_fen: i64, stock: i64) -> Seeded {
        let admin = self.admin_token().await;
        let p = self.product(&admin, price_fen, stock).await;
        let alice = self.shopper("alice").await;
        Seeded { admin, p, alice }
    }

    /// `POST /v1/admin/categories`: the answer's body.
    pub async fn category(&self, admin: &str, name: &str, sort: i64) -> Value {
        self.call(
            Method::POST,
            "/v1/admin/categories",
            Some(admin),
            Some(json!({"name": name, "sort": sort})),
        )
        .await
        .1
    }

    // --- Cart and addresses ---

    /// `POST /v1/cart/items`.
    pub async fn add_to_cart(&self, shopper: &str, product: i64, qty: i64) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/cart/items",
            Some(shopper),
            Some(json!({"product_id": product, "quantity": qty})),
        )
        .await
    }

    /// `GET /v1/cart`.
    pub async fn cart(&self, shopper: &str) -> (StatusCode, Value) {
        self.get("/v1/cart", Some(shopper)).await
    }

    /// `POST /v1/addresses`: an address in Harbin for `receiver`.
    pub async fn add_address(&self, shopper: &str, receiver: &str) -> (StatusCode, Value) {
        let addr = json!({"receiver": receiver, "phone": "13800138000", "province": "黑龙江省", "city": "哈尔滨市", "district": "南岗区", "detail": "西大直街 92 号"});
        self.call(Method::POST, "/v1/addresses", Some(shopper), Some(addr))
            .await
    }

    // --- Orders ---

    /// `POST /v1/orders` with `body`, and an `Idempotency-Key` when one is given.
    pub async fn place_order(
        &self,
        shopper: &str,
        body: Value,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let key = idempotency_key.map(|k| ("idempotency-key", k));
        self.call_with(
            Method::POST,
            "/v1/orders",
            Some(shopper),
            Some(body),
            key.as_slice(),
        )
        .await
    }

    /// A placed order for `qty` of `product`: its view.
    pub async fn order(&self, shopper: &str, product: i64, qty: i64) -> Value {
        let (s, v) = self.place_order(shopper, items(product, qty), None).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// A placed order for `qty` of `product`: its id.
    pub async fn order_id(&self, shopper: &str, product: i64, qty: i64) -> i64 {
        self.order(shopper, product, qty).await["id"]
            .as_i64()
            .unwrap()
    }

    /// `GET /v1/orders/{id}`, as `shopper` sees it.
    pub async fn get_order(&self, shopper: &str, id: i64) -> (StatusCode, Value) {
        self.get(&format!("/v1/orders/{id}"), Some(shopper)).await
    }

    /// `POST /v1/orders/{id}/{action}` (`pay`, `cancel`, `confirm`) by the shopper.
    pub async fn order_action(&self, shopper: &str, id: i64, action: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/v1/orders/{id}/{action}"),
            Some(shopper),
            None,
        )
        .await
    }

    /// `GET /v1/admin/orders/{id}`.
    pub async fn admin_order(&self, admin: &str, id: i64) -> (StatusCode, Value) {
        self.get(&format!("/v1/admin/orders/{id}"), Some(admin))
            .await
    }

    /// `POST /v1/admin/orders/{id}/{action}` (`ship`, `cancel`) with `body`.
    pub async fn admin_order_action(
        &self,
        admin: &str,
        id: i64,
        action: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/v1/admin/orders/{id}/{action}"),
            Some(admin),
            body,
        )
        .await
    }

    /// Cancels the order as the payment-timeout job does, but with WeChat Pay unreachable: the
    /// trade cannot be closed there first, so only the database decides.
    pub async fn cancel_offline(&self, order_id: i64) -> suanpan_core::error::AppResult<()> {
        let offline = ShopState {
            payments: suanpan_payments::Payments::new(self.state.core.db.clone(), vec![]),
            ..self.state.clone()
        };
        suanpan_shop::service::cancel_order(
            &offline,
            order_id,
            None,
            &suanpan_core::audit::Actor::system("order-timeout"),
            "timeout",
        )
        .await
        .map(|_| ())
    }

    // --- Payments and refunds ---

    /// Starts payment (prepay at the simulator) and returns the out_trade_no.
    pub async fn prepay(&self, shopper: &str, order_id: i64) -> String {
        let (s, v) = self.order_action(shopper, order_id, "pay").await;
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

    /// The payer pays the prepaid trade at the simulator, which posts its signed, encrypted
    /// notification to our server (answered 204); returns the URL it posted to.
    pub async fn pay_at_simulator(&self, out_trade_no: &str) -> String {
        let (t, url) = self.sim.mark_paid(out_trade_no).expect("prepay exists");
        assert_eq!(
            self.sim
                .deliver(&url, self.sim.transaction_notification(&t))
                .await,
            Ok(204)
        );
        url
    }

    /// Pays the order: prepay, the payer pays at the simulator, and a genuine notification of
    /// `total_fen` is posted to us (answered 204). Returns the out_trade_no.
    pub async fn pay(&self, shopper: &str, order_id: i64, total_fen: i64) -> String {
        let otn = self.prepay(shopper, order_id).await;
        self.sim.mark_paid(&otn).unwrap();
        let (h, b) = self.notify_request(&self.transaction(&otn, total_fen), now());
        assert_eq!(self.post_notify(&h, &b).await.0, StatusCode::NO_CONTENT);
        otn
    }

    /// `POST /v1/admin/orders/{id}/refunds` with `body`, and an `Idempotency-Key` when one is
    /// given.
    pub async fn refund(
        &self,
        admin: &str,
        order_id: i64,
        body: Value,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let key = idempotency_key.map(|k| ("idempotency-key", k));
        self.call_with(
            Method::POST,
            &format!("/v1/admin/orders/{order_id}/refunds"),
            Some(admin),
            Some(body),
            key.as_slice(),
        )
        .await
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

    /// How many ledger transfers match `condition` (SQL over `ledger_transfers`).
    pub async fn transfers(&self, condition: &str) -> i64 {
        let sql =
            format!("SELECT COUNT(*) FROM ledger_transfers WHERE created_at > ? AND {condition}");
        self.count(&sql, 0).await
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

/// The body of an order for `qty` of one product.
pub fn items(product: i64, qty: i64) -> Value {
    json!({"items": [{"product_id": product, "quantity": qty}]})
}

/// Asserts an error answer: its status and the stable `code` of its JSON body.
#[track_caller]
pub fn assert_error((s, v): (StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{v}");
}
