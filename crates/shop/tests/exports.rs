//! `/v1/admin/orders/export.csv` and `/v1/admin/reports/daily`: the CSV export (Excel-ready,
//! formula-safe, a JSON error when it fails) and the daily report; on the database named by
//! `SUANPAN_TEST_DATABASE_URL` (SQLite when unset).

mod common;

use common::{Seeded, TestApp, assert_error};
use http::StatusCode;
use serde_json::json;

const EXPORT: &str = "/v1/admin/orders/export.csv";

#[tokio::test]
async fn csv_export_opens_in_excel_and_report_counts_the_day() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(5990, 10).await;
    let id = app.order_id(&alice, p, 2).await;
    app.order(&alice, p, 1).await;
    app.pay(&alice, id, 11980).await;
    let (s, headers, bytes) = app.get_bytes(EXPORT, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "UTF-8 BOM for Excel");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("订单号,状态"));
    assert_eq!(lines.len(), 3);
    assert!(text.contains("已支付") && text.contains("五常大米 5kg×2") && text.contains("119.80"));
    let (s, v) = app.get("/v1/admin/reports/daily", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            v["orders_created"].as_i64(),
            v["orders_paid"].as_i64(),
            v["gmv_fen"].as_i64()
        ),
        (Some(2), Some(1), Some(11980))
    );
    assert_eq!(v["payment_success_rate"], 1.0);
    let (_, v) = app
        .get("/v1/admin/reports/daily?date=2001-01-01", Some(&admin))
        .await;
    assert_eq!(
        (
            v["orders_created"].as_i64(),
            v["payment_success_rate"].is_null()
        ),
        (Some(0), true)
    );
    let (_, v) = app.get("/v1/admin/orders?status=paid", Some(&admin)).await;
    assert_eq!(v["total"], 1);
}

#[tokio::test]
async fn csv_export_escapes_formulas_and_keeps_plain_rows_byte_for_byte() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let p = app.product(&admin, 100, 10).await;
    let (s, v) = app
        .create_product(
            &admin,
            json!({"name": "@SUM(A1)", "price_fen": 200, "stock": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let evil = v["id"].as_i64().unwrap();
    let alice = app.shopper("alice").await;
    let plain = app.order(&alice, p, 1).await;
    let (s, _) = app
        .add_address(&alice, "=HYPERLINK(\"http://x.cn\",\"a\")")
        .await;
    assert_eq!(s, StatusCode::CREATED);
    app.order(&alice, evil, 1).await;
    let (s, _, bytes) = app.get_bytes(EXPORT, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The order without an address: unchanged format.
    assert_eq!(
        lines[1],
        format!(
            "{},待支付,{},,{},五常大米 5kg×1,1,1.00,0.00,0.00,,,,,",
            plain["order_no"].as_str().unwrap(),
            plain["created_at"].as_str().unwrap(),
            plain["user_id"]
        )
    );
    assert!(
        lines[2].contains(",'@SUM(A1)×1,")
            && lines[2].contains(",\"'=HYPERLINK(\"\"http://x.cn\"\",\"\"a\"\")\",13800138000,"),
        "{}",
        lines[2]
    );
    assert!(!text.contains(",=") && !text.contains(",@"), "{text}");
}

#[tokio::test]
async fn csv_export_fails_with_a_json_error_when_the_database_fails() {
    let app = TestApp::new().await;
    let Seeded { admin, p, alice } = app.seed(100, 10).await;
    app.order(&alice, p, 1).await;
    sqlx::query("DROP TABLE order_items")
        .execute(app.db().writer())
        .await
        .unwrap();
    let (s, _, bytes) = app.get_bytes(EXPORT, Some(&admin)).await;
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_error((s, v), StatusCode::INTERNAL_SERVER_ERROR, "internal");
}
