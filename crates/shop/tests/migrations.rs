//! Existing shop databases migrate forward: a database at the shop's first schema (migrations
//! 1–4), holding payments and refunds in the shop's own tables, keeps every one of them when
//! the payment flow arrives (migrations 5 and 6). Runs on the database named by
//! `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

use suanpan_core::db::migrate::{self, Migration};
use suanpan_core::testing::fresh_db;
use suanpan_payments::Payments;
use suanpan_payments::flow::{PaymentStatus, RefundStatus};

/// The migrations the shop landed with: the core's 1, 3, 4 and the shop's 2.
fn first_schema() -> Vec<Migration> {
    let mut v: Vec<Migration> = migrate::MIGRATIONS.to_vec();
    v.extend(
        suanpan_shop::MIGRATIONS
            .iter()
            .filter(|m| m.version == 2)
            .cloned(),
    );
    v
}

async fn exec(db: &suanpan_core::db::Db, sql: &str) {
    sqlx::query(&db.dialect.prepare(sql))
        .execute(db.writer())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn shop_payments_and_refunds_move_into_the_payment_flow() {
    let first = first_schema();
    let db = fresh_db(&[&first]).await;
    // Order 1 paid and partly refunded (one refund done, one failed); order 2 prepaid; order 3
    // paid late (cancelled) with its automatic refund pending.
    exec(&db, "INSERT INTO payments (order_id, out_trade_no, amount_fen, status, prepay_id, prepay_expires_at, transaction_id, payer_openid, late, succeeded_at, created_at, updated_at) VALUES \
        (1, 'S001', 990, 'succeeded', 'wx1', 5000, '4200001', 'oA', 0, 1500, 1000, 1500), \
        (2, 'S002', 500, 'prepaid', 'wx2', 9000, NULL, NULL, 0, NULL, 2000, 2000), \
        (3, 'S003', 300, 'succeeded', 'wx3', 9000, '4200003', 'oB', 1, 3500, 3000, 3500)").await;
    exec(&db, "INSERT INTO refunds (order_id, out_refund_no, refund_id, amount_fen, reason, status, prev_order_status, requested_by, last_error, created_at, updated_at, settled_at) VALUES \
        (1, 'S001R1', 'r1', 100, '破损', 'succeeded', 'paid', 'admin:boss', NULL, 1600, 1700, 1700), \
        (1, 'S001R2', NULL, 50, '少发', 'failed', 'refunded', 'admin:boss', 'NOTENOUGH: 余额不足', 1800, 1900, 1900), \
        (3, 'S003R1', NULL, 300, '订单已取消，自动退款', 'pending', 'cancelled', 'system:late-payment', NULL, 3600, 3600, NULL)").await;

    let all: Vec<&[Migration]> = suanpan_shop::app::MIGRATIONS.to_vec();
    let applied = migrate::migrate(&db, &all).await.expect("migrate forward");
    assert_eq!(applied, vec![5, 6], "only the new migrations run");

    let flow = Payments::new(db.clone(), vec![]);
    let t1 = flow
        .trade_of("shop", 1)
        .await
        .unwrap()
        .expect("order 1's trade");
    assert_eq!(
        (t1.out_trade_no.as_str(), t1.amount_fen, t1.status, t1.late),
        ("S001", 990, PaymentStatus::Succeeded, false)
    );
    assert_eq!(
        (
            t1.transaction_id.as_deref(),
            t1.payer.as_deref(),
            t1.succeeded_at
        ),
        (Some("4200001"), Some("oA"), Some(1500))
    );
    assert_eq!(
        (t1.prepay_kind.as_deref(), t1.prepay_handle.as_deref()),
        (Some("jsapi"), Some("wx1"))
    );
    let r1 = flow.refunds_of(t1.id).await.unwrap();
    let shape: Vec<_> = r1
        .iter()
        .map(|r| {
            (
                r.out_refund_no.as_str(),
                r.amount_fen,
                r.status,
                r.owner_note.as_str(),
                r.owner_id,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("S001R1", 100, RefundStatus::Succeeded, "paid", 1),
            ("S001R2", 50, RefundStatus::Failed, "refunded", 1)
        ]
    );
    assert_eq!(r1[1].last_error.as_deref(), Some("NOTENOUGH: 余额不足"));
    assert_eq!(r1[0].settled_at, Some(1700));

    let t2 = flow
        .trade_of("shop", 2)
        .await
        .unwrap()
        .expect("order 2's trade");
    assert_eq!(
        (t2.status, t2.prepay_expires_at),
        (PaymentStatus::Prepaid, Some(9000))
    );
    let t3 = flow
        .trade_of("shop", 3)
        .await
        .unwrap()
        .expect("order 3's trade");
    assert!(t3.late);
    let r3 = flow.refunds_of(t3.id).await.unwrap();
    assert_eq!(r3.len(), 1);
    assert_eq!(
        (
            r3[0].status,
            r3[0].requested_by.as_str(),
            r3[0].owner_note.as_str()
        ),
        (RefundStatus::Pending, "system:late-payment", "cancelled")
    );

    // The shop's own tables are gone; a second run applies nothing.
    let gone = sqlx::query("SELECT COUNT(*) FROM payments")
        .fetch_one(db.reader())
        .await;
    assert!(gone.is_err(), "the shop's payments table should be dropped");
    assert!(migrate::migrate(&db, &all).await.unwrap().is_empty());
}
