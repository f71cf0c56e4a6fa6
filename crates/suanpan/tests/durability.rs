//! Acknowledged orders and payments survive `kill -9` of the server: a real `suanpan serve`
//! process (SQLite, `synchronous = FULL`) and a real `suanpan simulator` process; orders are
//! placed and one is paid over HTTP, the server is SIGKILLed and restarted on the same files, and
//! everything that was acknowledged is still there.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str], env: &[(String, String)]) -> Proc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_suanpan"));
    c.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("SUANPAN_LOG_LEVEL", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    Proc(c.spawn().expect("spawn suanpan"))
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not become ready");
}

async fn json(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.expect("request");
    let s = resp.status().as_u16();
    (s, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn acknowledged_orders_and_payments_survive_kill_9() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = std::env::temp_dir()
        .join("suanpan-tests")
        .join(format!("kill9-{}", suanpan_core::ids::random_alnum(8)));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.to_string_lossy().to_string();
    let (sim_port, port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let common = vec![("SUANPAN_DATA_DIR".to_string(), data.clone())];
    let _sim = spawn(
        &["simulator", "--listen", &format!("127.0.0.1:{sim_port}")],
        &common,
    );
    let keys = dir.join("dev-wechatpay");
    let start = Instant::now();
    while !keys.join("apiv3_key.txt").exists() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sim = format!("http://127.0.0.1:{sim_port}");
    let mut env = common.clone();
    for (k, v) in [
        ("SUANPAN_DATABASE_URL", format!("sqlite://{data}/shop.db")),
        ("SUANPAN_SQLITE_SYNCHRONOUS", "FULL".into()),
        ("SUANPAN_WECHAT_APPID", "wx0000000000demo01".into()),
        ("SUANPAN_WECHAT_SECRET", "demo-app-secret".into()),
        ("SUANPAN_WECHAT_API_BASE", sim.clone()),
        ("SUANPAN_WECHATPAY_API_BASE", sim.clone()),
        ("SUANPAN_WECHATPAY_MCHID", "1900000109".into()),
        (
            "SUANPAN_WECHATPAY_MERCHANT_KEY",
            keys.join("merchant_key.pem").to_string_lossy().into(),
        ),
        ("SUANPAN_WECHATPAY_MERCHANT_SERIAL", "DEMOSERIAL".into()),
        (
            "SUANPAN_WECHATPAY_APIV3_KEY",
            std::fs::read_to_string(keys.join("apiv3_key.txt")).unwrap(),
        ),
        (
            "SUANPAN_WECHATPAY_PLATFORM_PUBLIC_KEY",
            keys.join("simulator_platform_public_key.pem")
                .to_string_lossy()
                .into(),
        ),
        (
            "SUANPAN_WECHATPAY_PLATFORM_PUBLIC_KEY_ID",
            suanpan_payments::wechatpay::simulator::SIM_PUBLIC_KEY_ID.into(),
        ),
    ] {
        env.push((k.to_string(), v));
    }
    let listen = format!("127.0.0.1:{port}");
    let server = spawn(&["serve", "--demo", "--listen", &listen], &env);
    wait_ready(&http, &format!("{base}/readyz")).await;
    wait_ready(
        &http,
        &format!("{sim}/sns/jscode2session?appid=wx0000000000demo01&js_code=probe"),
    )
    .await;

    let (_, login) = json(
        http.post(format!("{base}/v1/auth/wechat/login"))
            .json(&json!({"code": "durable"})),
    )
    .await;
    let token = login["access_token"].as_str().expect("login").to_string();
    let (_, before) = json(http.get(format!("{base}/v1/products/1"))).await;
    let stock0 = before["stock"].as_i64().unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        let (s, o) = json(
            http.post(format!("{base}/v1/orders"))
                .bearer_auth(&token)
                .header("Idempotency-Key", format!("k9-{i}"))
                .json(&json!({"items": [{"product_id": 1, "quantity": 1}]})),
        )
        .await;
        assert_eq!(s, 201, "{o}");
        acked.push(o);
    }
    let paid = acked[0]["id"].as_i64().unwrap();
    let (s, pay) = json(
        http.post(format!("{base}/v1/orders/{paid}/pay"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(s, 200, "{pay}");
    let otn = pay["out_trade_no"].as_str().unwrap();
    let (s, r) = json(http.post(format!("{sim}/sim/pay/{otn}"))).await;
    assert_eq!((s, r["notify_status"].as_i64()), (200, Some(204)), "{r}");

    drop(server); // SIGKILL, no graceful shutdown
    let _server = spawn(&["serve", "--listen", &listen], &env);
    wait_ready(&http, &format!("{base}/readyz")).await;

    for o in &acked {
        let id = o["id"].as_i64().unwrap();
        let (s, now) = json(
            http.get(format!("{base}/v1/orders/{id}"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(s, 200, "order {id} lost");
        assert_eq!(now["order_no"], o["order_no"]);
        let want = if id == paid {
            "paid"
        } else {
            "pending_payment"
        };
        assert_eq!(now["status"], want);
    }
    let (_, after) = json(http.get(format!("{base}/v1/products/1"))).await;
    assert_eq!(after["stock"].as_i64().unwrap(), stock0 - 20);
    // Idempotency keys survived too: a retry replays instead of ordering again.
    let (s, again) = json(
        http.post(format!("{base}/v1/orders"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "k9-5")
            .json(&json!({"items": [{"product_id": 1, "quantity": 1}]})),
    )
    .await;
    assert_eq!((s, &again["id"]), (201, &acked[5]["id"]));
}
