//! The payment flow ([`suanpan_payments::flow`]) end to end against the Alipay simulator, on
//! the configured database (SQLite by default; PostgreSQL or MySQL/MariaDB with
//! `SUANPAN_TEST_DATABASE_URL`). A test owner records every hook call in its own table, inside
//! the flow's transaction, so a count of its rows is what was committed: "exactly once" is
//! checked against the database, not against attempts. The owner can be told that an owner id
//! was cancelled, and then answers `Settlement::Late` and `abandoned = true`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::Row;
use suanpan_core::AppError;
use suanpan_core::db::migrate::{MIGRATIONS, Migration};
use suanpan_core::db::{Db, Dialect, Tx, TxBody};
use suanpan_payments::Payments;
use suanpan_payments::alipay::client::{china_datetime, form_encode};
use suanpan_payments::alipay::simulator::{AlipaySimulator, AlipaySimulatorConfig};
use suanpan_payments::alipay::{AlipayClient, AlipayConfig, sign_rsa2, signing_content};
use suanpan_payments::flow::{
    PaymentOutcome, PaymentOwner, PaymentStatus, Refund, RefundOutcome, RefundStatus, Settlement,
    Trade,
};
use suanpan_payments::provider::{
    Notification, PayFuture, PaymentProvider, PrepayAnswer, PrepayRequest, Provider,
    ProviderRefund, ProviderTrade, RefundRequest, Scene,
};
use suanpan_payments::wechatpay::MerchantKey;

const SYSTEM: &str = "flowtest";
const APP_ID: &str = "2021000000000042";
const LATE_REASON: &str = "order cancelled before payment";
const LATE_NOTE: &str = "cancelled";

/// The test owner's own table: one row per hook call that committed.
const OWNER_TABLES: &[Migration] = &[Migration {
    version: 9005,
    name: "flow_test_owner",
    sql: "CREATE TABLE flow_test_events (id {{PK}}, kind VARCHAR(16) NOT NULL, owner_id BIGINT NOT NULL, detail VARCHAR(255) NOT NULL){{TABLE}};",
}];

/// A tiny [`PaymentOwner`]: records what it is told in `flow_test_events`, in the flow's
/// transaction; answers `Late` / `abandoned` for the owner ids in `cancelled`, and fails
/// `on_paid` (an owner's error, which rolls the payment back) for those in `failing`.
struct TestOwner {
    dialect: Dialect,
    cancelled: Mutex<HashSet<i64>>,
    failing: Mutex<HashSet<i64>>,
}

impl TestOwner {
    fn cancel(&self, owner_id: i64) {
        self.cancelled.lock().unwrap().insert(owner_id);
    }

    fn fail_payments_of(&self, owner_id: i64) {
        self.failing.lock().unwrap().insert(owner_id);
    }

    fn is_cancelled(&self, owner_id: i64) -> bool {
        self.cancelled.lock().unwrap().contains(&owner_id)
    }
}

async fn record(
    tx: &mut Tx,
    d: Dialect,
    kind: &str,
    owner_id: i64,
    detail: String,
) -> Result<(), AppError> {
    let q = d.prepare("INSERT INTO flow_test_events (kind, owner_id, detail) VALUES (?, ?, ?)");
    sqlx::query(&q)
        .bind(kind)
        .bind(owner_id)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl PaymentOwner for TestOwner {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    fn on_paid<'t>(&'t self, tx: &'t mut Tx, trade: &'t Trade) -> TxBody<'t, Settlement> {
        Box::pin(async move {
            if self.failing.lock().unwrap().contains(&trade.owner_id) {
                return Err(AppError::internal("the test owner refuses this payment"));
            }
            let late = self.is_cancelled(trade.owner_id);
            let detail = format!(
                "{}:{}:{}:{}",
                trade.status.as_str(),
                trade.transaction_id.as_deref().unwrap_or("-"),
                trade.amount_fen,
                if late { "late" } else { "accepted" }
            );
            record(tx, self.dialect, "paid", trade.owner_id, detail).await?;
            Ok(if late {
                Settlement::Late {
                    reason: LATE_REASON.into(),
                    note: LATE_NOTE.into(),
                }
            } else {
                Settlement::Accepted
            })
        })
    }

    fn on_refund<'t>(
        &'t self,
        tx: &'t mut Tx,
        refund: &'t Refund,
        outcome: &'t RefundOutcome,
    ) -> TxBody<'t, ()> {
        Box::pin(async move {
            let outcome = match outcome {
                RefundOutcome::Succeeded => "succeeded".to_string(),
                RefundOutcome::Failed(why) => format!("failed({why})"),
            };
            let detail = format!(
                "{}:{}:{}:{}:{}",
                refund.out_refund_no,
                refund.amount_fen,
                refund.status.as_str(),
                refund.owner_note,
                outcome
            );
            record(tx, self.dialect, "refund", refund.owner_id, detail).await
        })
    }

    fn abandoned(&self, owner_id: i64) -> BoxFuture<'_, Result<bool, AppError>> {
        let c = self.is_cancelled(owner_id);
        Box::pin(async move { Ok(c) })
    }
}

/// The Alipay client, counting the calls that matter (prepay, refund) on the way through.
/// A prepay whose `out_trade_no` starts with [`UNSCANNED`] answers a QR code without calling
/// the gateway: real Alipay creates a precreated trade only when the QR code is scanned, so
/// until then `alipay.trade.query` answers `ACQ.TRADE_NOT_EXIST` (the simulator creates it at
/// once, so this is how a never-scanned QR code is played).
struct Counting {
    inner: Arc<AlipayClient>,
    prepays: AtomicUsize,
    refunds: AtomicUsize,
}

const UNSCANNED: &str = "FTNOSCAN";

impl PaymentProvider for Counting {
    fn provider(&self) -> Provider {
        PaymentProvider::provider(&*self.inner)
    }

    fn prepay<'a>(&'a self, req: &'a PrepayRequest) -> PayFuture<'a, PrepayAnswer> {
        self.prepays.fetch_add(1, Ordering::SeqCst);
        if req.out_trade_no.starts_with(UNSCANNED) {
            let code_url = format!("https://qr.alipay.com/{}", req.out_trade_no);
            return Box::pin(async move { Ok(PrepayAnswer::QrCode { code_url }) });
        }
        PaymentProvider::prepay(&*self.inner, req)
    }

    fn query<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ProviderTrade> {
        PaymentProvider::query(&*self.inner, out_trade_no)
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> PayFuture<'a, ()> {
        PaymentProvider::close(&*self.inner, out_trade_no)
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> PayFuture<'a, ProviderRefund> {
        self.refunds.fetch_add(1, Ordering::SeqCst);
        PaymentProvider::refund(&*self.inner, req)
    }

    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> PayFuture<'a, ProviderRefund> {
        PaymentProvider::query_refund(&*self.inner, out_trade_no, out_refund_no)
    }

    fn parse_notification(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Notification, suanpan_payments::PayError> {
        PaymentProvider::parse_notification(&*self.inner, headers, body)
    }
}

struct Env {
    db: Db,
    payments: Payments,
    owner: Arc<TestOwner>,
    sim: Arc<AlipaySimulator>,
    client: Arc<AlipayClient>,
    provider: Arc<Counting>,
    /// The simulator's "Alipay" key, to sign notifications it does not send.
    alipay_key: MerchantKey,
    _sim_task: tokio::task::JoinHandle<()>,
}

/// A fresh database with the flow's tables and the owner's, the Alipay simulator on a local
/// port, a real client pointed at it, and the flow with the test owner registered.
async fn env() -> Env {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let db =
        suanpan_core::testing::fresh_db(&[MIGRATIONS, suanpan_payments::MIGRATIONS, OWNER_TABLES])
            .await;
    let merchant = MerchantKey::generate().unwrap();
    let alipay_pem = MerchantKey::generate().unwrap().to_pkcs8_pem().unwrap();
    let sim = AlipaySimulator::new(AlipaySimulatorConfig {
        app_id: APP_ID.into(),
        merchant_public_key_der: merchant.public_key_der(),
        alipay_key: MerchantKey::from_pem(&alipay_pem).unwrap(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let s2 = sim.clone();
    let sim_task = tokio::spawn(async move {
        let _ = s2.serve(listener).await;
    });
    let client = Arc::new(
        AlipayClient::new(AlipayConfig {
            gateway: format!("{sim_url}/gateway.do"),
            app_id: APP_ID.into(),
            merchant_key: merchant,
            alipay_public_key_b64: sim.alipay_public_key_b64().unwrap(),
            // Notifications are posted by the tests themselves, never by the simulator.
            notify_url: "http://127.0.0.1:9/notify/alipay".into(),
        })
        .unwrap(),
    );
    let provider = Arc::new(Counting {
        inner: client.clone(),
        prepays: AtomicUsize::new(0),
        refunds: AtomicUsize::new(0),
    });
    let payments = Payments::new(db.clone(), vec![provider.clone()]);
    let owner = Arc::new(TestOwner {
        dialect: db.dialect,
        cancelled: Mutex::new(HashSet::new()),
        failing: Mutex::new(HashSet::new()),
    });
    payments.register(owner.clone());
    Env {
        db,
        payments,
        owner,
        sim,
        client,
        provider,
        alipay_key: MerchantKey::from_pem(&alipay_pem).unwrap(),
        _sim_task: sim_task,
    }
}

fn qr_request(out_trade_no: &str, amount_fen: i64) -> PrepayRequest {
    PrepayRequest {
        out_trade_no: out_trade_no.into(),
        amount_fen,
        description: "算盘 流程测试".into(),
        scene: Scene::AlipayQr,
        expires_at_unix: Some(chrono::Utc::now().timestamp() + 900),
        notify_url: None,
    }
}

/// Until when a prepay may be shown again: 15 minutes from now (ms).
fn show_until() -> i64 {
    suanpan_core::time::now_ms() + 15 * 60_000
}

fn form_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded;charset=utf-8"),
    );
    h
}

impl Env {
    /// Prepays `(SYSTEM, owner_id)` as an Alipay QR code and returns the QR text.
    async fn prepay(&self, owner_id: i64, out_trade_no: &str, amount_fen: i64) -> String {
        let req = qr_request(out_trade_no, amount_fen);
        let answer = self
            .payments
            .prepay(SYSTEM, owner_id, Provider::Alipay, &req, show_until())
            .await
            .unwrap();
        let PrepayAnswer::QrCode { code_url } = answer else {
            panic!("expected a QR code, got {answer:?}");
        };
        code_url
    }

    /// The signed form parameters Alipay would post for the simulator's trade `no`.
    fn notification(&self, no: &str) -> Vec<(String, String)> {
        let t = self.sim.trade(no).expect("the simulator holds the trade");
        self.sim.notification_params(&t)
    }

    /// The notification Alipay posts after refund `out_refund_no` of `no`: the trade's
    /// notification with `out_biz_no` (the refund number) and `refund_fee` (异步通知: "退款通知中，
    /// 返回总退款金额" — the total refunded so far, yuan), signed with Alipay's key.
    fn refund_notification(
        &self,
        no: &str,
        out_refund_no: &str,
        refunded_so_far: &str,
    ) -> Vec<(String, String)> {
        let t = self.sim.trade(no).expect("the simulator holds the trade");
        let mut p: Vec<(String, String)> = self
            .sim
            .notification_params(&t)
            .into_iter()
            .filter(|(k, _)| k != "sign" && k != "sign_type")
            .collect();
        let now = chrono::Utc::now().timestamp();
        p.push(("out_biz_no".into(), out_refund_no.into()));
        p.push(("refund_fee".into(), refunded_so_far.into()));
        p.push(("gmt_refund".into(), china_datetime(now)));
        let sign = sign_rsa2(&signing_content(&p), &self.alipay_key).unwrap();
        p.push(("sign_type".into(), "RSA2".into()));
        p.push(("sign".into(), sign));
        p
    }

    async fn notify(&self, params: &[(String, String)]) -> Result<(), AppError> {
        let body = form_encode(params).into_bytes();
        self.payments
            .handle_notification(Provider::Alipay, &form_headers(), &body)
            .await
    }

    async fn trade(&self, owner_id: i64) -> Trade {
        self.payments
            .trade_of(SYSTEM, owner_id)
            .await
            .unwrap()
            .expect("a trade for the owner")
    }

    async fn refunds(&self, owner_id: i64) -> Vec<Refund> {
        let t = self.trade(owner_id).await;
        self.payments.refunds_of(t.id).await.unwrap()
    }

    /// What the owner was told about `owner_id` and committed: `(kind, detail)`, oldest first.
    async fn events(&self, owner_id: i64) -> Vec<(String, String)> {
        let q = self
            .db
            .dialect
            .prepare("SELECT kind, detail FROM flow_test_events WHERE owner_id = ? ORDER BY id");
        sqlx::query(&q)
            .bind(owner_id)
            .fetch_all(self.db.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(self.db.reader())
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// Opens a refund of `amount` (`None`: the rest) of `owner_id`'s trade in a transaction of
    /// its own, as an owner would inside its own transaction.
    async fn open_refund(&self, owner_id: i64, amount: Option<i64>) -> Result<Refund, AppError> {
        let d = self.db.dialect;
        self.db
            .transaction(&(), move |tx, _| {
                Box::pin(async move {
                    Payments::open_refund(
                        tx,
                        d,
                        SYSTEM,
                        owner_id,
                        amount,
                        "partial refund",
                        "note",
                        "admin:test",
                    )
                    .await
                })
            })
            .await
    }
}

fn paid_event(txid: &str, amount_fen: i64, how: &str) -> (String, String) {
    (
        "paid".into(),
        format!("succeeded:{txid}:{amount_fen}:{how}"),
    )
}

/// 1. Prepay (shown again without a second precreate), pay, the same notification 8 times at
///    once (applied once), a partial refund, one too many, the rest, and a reconciliation
///    that leaves a paid trade alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alipay_qr_paid_once_refunded_and_reconciled() {
    let e = env().await;
    let (owner, no, fen) = (1, "FTALI0001", 1234);

    let qr = e.prepay(owner, no, fen).await;
    assert!(qr.starts_with("https://qr.alipay.com/"), "{qr}");
    assert_eq!(e.provider.prepays.load(Ordering::SeqCst), 1);
    let t = e.trade(owner).await;
    assert_eq!(
        (t.status, t.provider, t.out_trade_no.as_str(), t.amount_fen),
        (PaymentStatus::Prepaid, Provider::Alipay, no, fen)
    );
    assert_eq!(t.prepay_kind.as_deref(), Some("qr"));
    assert_eq!(t.prepay_handle.as_deref(), Some(qr.as_str()));
    assert!(!t.late && t.transaction_id.is_none());

    // Within its validity the same QR is shown again, without asking Alipay.
    let again = e.prepay(owner, no, fen).await;
    assert_eq!(again, qr);
    assert_eq!(
        e.provider.prepays.load(Ordering::SeqCst),
        1,
        "a valid prepay was opened again at the provider"
    );
    assert_eq!(e.trade(owner).await, t, "showing again changed the trade");
    assert!(e.events(owner).await.is_empty());

    // The payer pays; Alipay's notification arrives 8 times at once.
    let paid = e.sim.mark_paid(no).unwrap();
    let params = e.notification(no);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (p, body) = (e.payments.clone(), form_encode(&params).into_bytes());
        tasks.push(tokio::spawn(async move {
            p.handle_notification(Provider::Alipay, &form_headers(), &body)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every delivery is acknowledged");
    }
    let want_paid = paid_event(&paid.trade_no, fen, "accepted");
    assert_eq!(e.events(owner).await, vec![want_paid.clone()]);
    let t = e.trade(owner).await;
    assert_eq!(t.status, PaymentStatus::Succeeded);
    assert_eq!(t.transaction_id.as_deref(), Some(paid.trade_no.as_str()));
    assert_eq!(t.payer.as_deref(), Some("2088000000000001"));
    assert!(!t.late && t.succeeded_at.is_some());
    assert!(e.refunds(owner).await.is_empty());

    // The same payment seen by a query is a duplicate; a later delivery too.
    let queried = e.client.query_trade(no).await.unwrap();
    assert_eq!(
        e.payments.apply_trade(&queried).await.unwrap(),
        PaymentOutcome::Duplicate
    );
    e.notify(&e.notification(no)).await.unwrap();
    assert_eq!(e.events(owner).await, vec![want_paid.clone()]);

    // A partial refund, opened in a transaction and submitted after it commits.
    let r = e.open_refund(owner, Some(234)).await.unwrap();
    assert_eq!(r.status, RefundStatus::Pending);
    assert_eq!(r.out_refund_no, format!("{no}R1"));
    assert_eq!((r.amount_fen, r.requested_by.as_str()), (234, "admin:test"));
    e.payments.submit_refund(&r.out_refund_no).await.unwrap();
    let refunds = e.refunds(owner).await;
    assert_eq!(refunds.len(), 1);
    let r1 = &refunds[0];
    assert_eq!(r1.status, RefundStatus::Succeeded);
    assert!(r1.settled_at.is_some() && r1.refund_id.is_some());
    assert_eq!(
        e.sim.trade(no).unwrap().refunds,
        vec![(r.out_refund_no.clone(), 234)]
    );
    let want_r1 = (
        "refund".to_string(),
        format!("{no}R1:234:succeeded:note:succeeded"),
    );
    assert_eq!(
        e.events(owner).await,
        vec![want_paid.clone(), want_r1.clone()]
    );
    // Submitting again changes nothing and asks Alipay nothing.
    e.payments.submit_refund(&r.out_refund_no).await.unwrap();
    assert_eq!(e.provider.refunds.load(Ordering::SeqCst), 1);

    // More than the rest (1000 fen) is refused before Alipay is asked, and leaves no row.
    let err = e.open_refund(owner, Some(1001)).await.unwrap_err();
    assert_eq!(err.code, "refund_exceeds_paid", "{err:?}");
    assert_eq!(e.refunds(owner).await.len(), 1);
    assert_eq!(e.provider.refunds.load(Ordering::SeqCst), 1);

    // The rest (amount `None`) refunds exactly what is left; then nothing is left.
    let rest = e.open_refund(owner, None).await.unwrap();
    assert_eq!(
        (rest.amount_fen, rest.out_refund_no.as_str()),
        (1000, "FTALI0001R2")
    );
    e.payments.submit_refund(&rest.out_refund_no).await.unwrap();
    let refunds = e.refunds(owner).await;
    assert_eq!(
        refunds.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![RefundStatus::Succeeded, RefundStatus::Succeeded]
    );
    let err = e.open_refund(owner, None).await.unwrap_err();
    assert_eq!(err.code, "invalid_amount", "{err:?}");
    let err = e.open_refund(owner, Some(1)).await.unwrap_err();
    assert_eq!(err.code, "refund_exceeds_paid", "{err:?}");

    // Reconciliation leaves the paid trade and its refunds alone.
    let before = (e.trade(owner).await, e.refunds(owner).await);
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 0);
    e.payments.reconcile_refunds(0).await.unwrap();
    assert_eq!((e.trade(owner).await, e.refunds(owner).await), before);
    let want_r2 = (
        "refund".to_string(),
        format!("{no}R2:1000:succeeded:note:succeeded"),
    );
    assert_eq!(e.events(owner).await, vec![want_paid, want_r1, want_r2]);
    assert_eq!(e.provider.prepays.load(Ordering::SeqCst), 1);
}

/// 2. The notification is lost: reconciliation asks Alipay and settles the payment once.
#[tokio::test]
async fn a_lost_notification_is_settled_by_reconciliation() {
    let e = env().await;
    let (owner, no, fen) = (2, "FTALI0002", 990);
    e.prepay(owner, no, fen).await;
    // Not yet paid: reconciliation asks, finds nothing to settle, and keeps the trade open.
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 0);
    assert_eq!(e.trade(owner).await.status, PaymentStatus::Prepaid);
    assert!(e.events(owner).await.is_empty());

    let paid = e.sim.mark_paid(no).unwrap();
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 1);
    let want = vec![paid_event(&paid.trade_no, fen, "accepted")];
    assert_eq!(e.events(owner).await, want);
    let t = e.trade(owner).await;
    assert_eq!(t.status, PaymentStatus::Succeeded);
    assert_eq!(t.transaction_id.as_deref(), Some(paid.trade_no.as_str()));
    assert!(!t.late);

    // Later passes and the notification that finally arrives change nothing.
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 0);
    e.notify(&e.notification(no)).await.unwrap();
    assert_eq!(e.events(owner).await, want);
    assert!(e.refunds(owner).await.is_empty());
}

/// 3. The owner was cancelled before the money arrived: the payment is recorded late with a
///    pending full refund, which the refund reconciliation submits.
#[tokio::test]
async fn a_late_payment_is_refunded_in_full() {
    let e = env().await;
    let (owner, no, fen) = (3, "FTALI0003", 5000);
    e.prepay(owner, no, fen).await;
    e.owner.cancel(owner);
    let paid = e.sim.mark_paid(no).unwrap();
    e.notify(&e.notification(no)).await.unwrap();

    let t = e.trade(owner).await;
    assert_eq!(t.status, PaymentStatus::Succeeded);
    assert!(t.late, "a payment its owner refused is recorded late");
    assert_eq!(t.transaction_id.as_deref(), Some(paid.trade_no.as_str()));
    let refunds = e.refunds(owner).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let r = &refunds[0];
    assert_eq!(r.status, RefundStatus::Pending);
    assert_eq!(r.amount_fen, fen);
    assert_eq!(r.requested_by, "system:late-payment");
    assert_eq!(
        (r.reason.as_str(), r.owner_note.as_str()),
        (LATE_REASON, LATE_NOTE)
    );
    assert_eq!(r.out_refund_no, format!("{no}R1"));
    // Nothing was sent from inside the notification.
    assert_eq!(e.provider.refunds.load(Ordering::SeqCst), 0);
    let want_paid = paid_event(&paid.trade_no, fen, "late");
    assert_eq!(e.events(owner).await, vec![want_paid.clone()]);

    // A repeated notification opens no second refund.
    e.notify(&e.notification(no)).await.unwrap();
    assert_eq!(e.refunds(owner).await.len(), 1);

    e.payments.reconcile_refunds(0).await.unwrap();
    let refunds = e.refunds(owner).await;
    assert_eq!(refunds.len(), 1);
    // Alipay refunds synchronously: the simulator's answer is final (not `processing`).
    assert_eq!(refunds[0].status, RefundStatus::Succeeded, "{refunds:?}");
    let sim_trade = e.sim.trade(no).unwrap();
    assert_eq!(sim_trade.refunds, vec![(format!("{no}R1"), fen)]);
    assert_eq!(sim_trade.status, "TRADE_CLOSED");
    assert_eq!(
        e.events(owner).await,
        vec![
            want_paid,
            (
                "refund".to_string(),
                format!("{no}R1:{fen}:succeeded:{LATE_NOTE}:succeeded")
            )
        ]
    );
    // The next pass has nothing to do.
    e.payments.reconcile_refunds(0).await.unwrap();
    assert_eq!(e.provider.refunds.load(Ordering::SeqCst), 1);
}

/// 4. A notification altered after signing is refused and changes nothing; a correctly
///    signed one for a trade we never opened, or for another amount, is refused too.
#[tokio::test]
async fn tampered_unknown_and_mismatched_notifications_are_refused() {
    let e = env().await;
    let (owner, no, fen) = (4, "FTALI0004", 1000);
    e.prepay(owner, no, fen).await;
    let paid = e.sim.mark_paid(no).unwrap();
    let before = e.trade(owner).await;
    let genuine = e.notification(no);

    for (key, value) in [
        ("buyer_id", "2088999999999999"),
        ("total_amount", "0.01"),
        ("out_trade_no", "FTALI0005"),
        ("trade_status", "TRADE_FINISHED"),
    ] {
        let mut tampered = genuine.clone();
        let slot = tampered.iter_mut().find(|(k, _)| k == key).unwrap();
        assert_ne!(slot.1, value);
        slot.1 = value.to_string();
        let err = e.notify(&tampered).await.unwrap_err();
        assert_eq!(err.code, "invalid_signature", "{key}: {err:?}");
    }
    // Without its signature at all.
    let unsigned: Vec<_> = genuine
        .iter()
        .filter(|(k, _)| k != "sign")
        .cloned()
        .collect();
    let err = e.notify(&unsigned).await.unwrap_err();
    assert_eq!(err.code, "invalid_signature", "{err:?}");

    // Correctly signed, but of another amount than ours.
    let mut other_amount = paid.clone();
    other_amount.total_fen = 1;
    let err = e
        .notify(&e.sim.notification_params(&other_amount))
        .await
        .unwrap_err();
    assert_eq!(err.code, "amount_mismatch", "{err:?}");

    // Correctly signed, for a trade Alipay holds but we never opened.
    PaymentProvider::prepay(&*e.client, &qr_request("FTALI0404", 300))
        .await
        .unwrap();
    e.sim.mark_paid("FTALI0404").unwrap();
    let err = e.notify(&e.notification("FTALI0404")).await.unwrap_err();
    assert_eq!(err.code, "unknown_out_trade_no", "{err:?}");

    assert_eq!(
        e.trade(owner).await,
        before,
        "a refused notification changed the trade"
    );
    assert!(e.events(owner).await.is_empty());
    assert_eq!(e.count("SELECT COUNT(*) FROM pay_trades").await, 1);
    assert_eq!(e.count("SELECT COUNT(*) FROM pay_refunds").await, 0);
    assert_eq!(e.count("SELECT COUNT(*) FROM flow_test_events").await, 0);

    // The genuine notification still applies.
    e.notify(&genuine).await.unwrap();
    assert_eq!(e.trade(owner).await.status, PaymentStatus::Succeeded);
    assert_eq!(
        e.events(owner).await,
        vec![paid_event(&paid.trade_no, fen, "accepted")]
    );
}

/// 5. An unpaid trade whose owner gave up is closed by reconciliation, at Alipay and in our
///    books, and can no longer be paid.
#[tokio::test]
async fn an_abandoned_unpaid_trade_is_closed_by_reconciliation() {
    let e = env().await;
    let (owner, no) = (5, "FTALI0006");
    e.prepay(owner, no, 700).await;
    // Its owner still wants it: left open.
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 0);
    assert_eq!(e.trade(owner).await.status, PaymentStatus::Prepaid);

    e.owner.cancel(owner);
    assert_eq!(e.payments.reconcile_trades(0).await.unwrap(), 0);
    assert_eq!(e.trade(owner).await.status, PaymentStatus::Closed);
    assert_eq!(e.sim.trade(no).unwrap().status, "TRADE_CLOSED");
    assert!(e.sim.mark_paid(no).is_none(), "a closed trade was paid");
    assert!(e.events(owner).await.is_empty());
}

/// 6. A prepay about to expire (less than a minute left) is opened again at Alipay, with the
///    same `out_trade_no`, and its new validity kept.
#[tokio::test]
async fn an_expiring_prepay_is_opened_again() {
    let e = env().await;
    let (owner, no, fen) = (6, "FTALI0007", 1500);
    let req = qr_request(no, fen);
    let soon = suanpan_core::time::now_ms() + 30_000;
    let first = e
        .payments
        .prepay(SYSTEM, owner, Provider::Alipay, &req, soon)
        .await
        .unwrap();
    let later = show_until();
    let again = e
        .payments
        .prepay(SYSTEM, owner, Provider::Alipay, &req, later)
        .await
        .unwrap();
    assert_eq!(e.provider.prepays.load(Ordering::SeqCst), 2);
    let (PrepayAnswer::QrCode { code_url: a }, PrepayAnswer::QrCode { code_url: b }) =
        (first, again)
    else {
        panic!("expected QR codes");
    };
    assert_eq!(a, b, "Alipay answers the same QR code for the same trade");
    let t = e.trade(owner).await;
    assert_eq!(t.prepay_expires_at, Some(later));
    assert_eq!(
        (t.out_trade_no.as_str(), t.status),
        (no, PaymentStatus::Prepaid)
    );
    // Now valid for 15 minutes: shown again without Alipay.
    e.prepay(owner, no, fen).await;
    assert_eq!(e.provider.prepays.load(Ordering::SeqCst), 2);
}

/// 7. Alipay refuses a refund (here: the money was already refunded from the merchant console,
///    outside our books): the refund fails and its owner is told, once.
#[tokio::test]

async fn a_refund_alipay_refuses_fails_and_its_owner_is_told() {
    let e = env().await;
    let (owner, no, fen) = (7, "FTALI0008", 800);
    e.prepay(owner, no, fen).await;
    e.sim.mark_paid(no).unwrap();
    e.notify(&e.notification(no)).await.unwrap();
    // Refunded in full at Alipay behind our back: the trade is closed there.
    let outside = RefundRequest {
        out_refund_no: "CONSOLE1".into(),
        out_trade_no: no.into(),
        amount_fen: fen,
        total_fen: fen,
        reason: "console".into(),
        notify_url: None,
    };
    PaymentProvider::refund(&*e.client, &outside).await.unwrap();

    let r = e.open_refund(owner, Some(300)).await.unwrap();
    // Alipay answers a business refusal (HTTP 200, code 40004, sub_code ACQ.*): final.
    let submitted = e.payments.submit_refund(&r.out_refund_no).await;
    let refunds = e.refunds(owner).await;
    assert_eq!(
        refunds[0].status,
        RefundStatus::Failed,
        "a refused refund stays {:?} (submit answered {submitted:?}); reconciliation would resubmit it forever",
        refunds[0].status
    );
    assert!(
        refunds[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("ACQ.")
    );
    let events = e.events(owner).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[1]
            .1
            .starts_with(&format!("{no}R1:300:failed:note:failed("))
    );
    // Final: reconciliation neither resubmits it nor tells the owner again.
    e.payments.reconcile_refunds(0).await.unwrap();
    assert_eq!(e.provider.refunds.load(Ordering::SeqCst), 1);
    assert_eq!(e.events(owner).await.len(), 2);
}

/// 8. Alipay's refund notifications carry `refund_fee`, the total refunded so far, not the
///    amount of the refund named by `out_biz_no`: after two refunds (the second making it a
///    full refund, so Alipay notifies `TRADE_CLOSED`) both notifications are acknowledged and
///    change nothing, instead of being refused as `amount_mismatch` (which makes Alipay resend
///    them for a day).
#[tokio::test]

async fn alipay_refund_notifications_with_the_total_refunded_are_acknowledged() {
    let e = env().await;
    let (owner, no, fen) = (8, "FTALI0009", 1234);
    e.prepay(owner, no, fen).await;
    e.sim.mark_paid(no).unwrap();
    e.notify(&e.notification(no)).await.unwrap();
    let r1 = e.open_refund(owner, Some(234)).await.unwrap();
    e.payments.submit_refund(&r1.out_refund_no).await.unwrap();
    let first = e.refund_notification(no, &r1.out_refund_no, "2.34");
    e.notify(&first).await.unwrap();
    let r2 = e.open_refund(owner, None).await.unwrap();
    e.payments.submit_refund(&r2.out_refund_no).await.unwrap();
    assert_eq!(e.sim.trade(no).unwrap().status, "TRADE_CLOSED");
    let before = (e.refunds(owner).await, e.events(owner).await);
    let second = e.refund_notification(no, &r2.out_refund_no, "12.34");
    let answer = e.notify(&second).await;
    assert!(
        answer.is_ok(),
        "Alipay's notification of the second refund was refused: {answer:?}"
    );
    assert_eq!((e.refunds(owner).await, e.events(owner).await), before);
}

/// 9. One paid trade the pass cannot settle (its owner's `on_paid` fails) does not stop
///    reconciliation of the others, nor the refund half of the job.
#[tokio::test]

async fn one_trade_that_cannot_be_settled_does_not_stop_reconciliation() {
    let e = env().await;
    let (stuck, ok) = (91, 92);
    e.prepay(stuck, "FTALI0091", 100).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    e.prepay(ok, "FTALI0092", 200).await;
    e.owner.fail_payments_of(stuck);
    e.sim.mark_paid("FTALI0091").unwrap();
    e.sim.mark_paid("FTALI0092").unwrap();
    // The stuck owner's notification fails (Alipay will resend it): fine.
    assert!(e.notify(&e.notification("FTALI0091")).await.is_err());
    assert_eq!(e.trade(stuck).await.status, PaymentStatus::Prepaid);

    let pass = e.payments.reconcile(0, 0).await;
    assert_eq!(
        e.trade(ok).await.status,
        PaymentStatus::Succeeded,
        "the pass ({pass:?}) stopped at the older trade it could not settle"
    );
    assert_eq!(e.trade(stuck).await.status, PaymentStatus::Prepaid);
}

/// 10. A QR code nobody scanned: real Alipay never created the trade, so its query answers
///     `ACQ.TRADE_NOT_EXIST` (the client's close treats that as closed). When its owner gave
///     up, reconciliation closes it in our books instead of querying it every pass forever
///     (stuck `prepaid` trades fill the oldest-first window of the pass).
#[tokio::test]

async fn an_abandoned_never_scanned_qr_is_closed() {
    let e = env().await;
    let (owner, no) = (10, "FTNOSCAN01");
    e.prepay(owner, no, 600).await;
    assert!(e.sim.trade(no).is_none());
    let err = PaymentProvider::query(&*e.client, no).await.unwrap_err();
    assert_eq!(err.api_code(), Some("ACQ.TRADE_NOT_EXIST"));
    e.owner.cancel(owner);
    e.payments.reconcile_trades(0).await.unwrap();
    assert_eq!(
        e.trade(owner).await.status,
        PaymentStatus::Closed,
        "an abandoned trade Alipay never saw stays prepaid"
    );
}
