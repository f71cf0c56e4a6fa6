//! Invoices (contract `requestInvoice`, `getInvoices`, `financeGetInvoices`, `approveInvoice`):
//! at most what was recharged and not yet invoiced; approval renders a PDF with the Chinese
//! names in it; each review once and audited. On SQLite, PostgreSQL and MariaDB.

mod common;

use common::{Mr, Venue, staff};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const TITLE: &str = "北京星空娱乐有限公司";

async fn ask(mr: &Mr, v: &Venue, amount: &str, tax_id: &str) -> (StatusCode, Value) {
    let body = json!({"amount": amount, "invoice_title": TITLE, "tax_id": tax_id, "email": "finance@example.com"});
    mr.json(
        Method::POST,
        "/mr/v1/operators/me/invoices",
        Some(&v.token),
        body,
    )
    .await
}

#[tokio::test]
async fn an_approved_invoice_is_a_pdf_with_the_buyer_and_the_amount_in_words() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    let (st, r) = ask(&mr, &v, "600.00", "91110000123456789X").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["data"]["status"], "pending");
    assert!(r["data"].get("pdf_url").is_none());
    let (st, e) = ask(&mr, &v, "400.01", "91110000123456789X").await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "1000.00 recharged, 600.00 already asked: {e}"
    );
    assert_eq!(e["details"]["field"], "amount");
    let id = r["data"]["invoice_id"].as_str().unwrap().to_string();
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let (st, list) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/invoices",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["items"][0]["invoice_title"], TITLE);
    assert!(list["items"][0]["pdf_url"].is_null());
    let approve = format!("/mr/v1/finance/invoices/{id}/approve");
    let (st, a) = mr
        .json(
            Method::POST,
            &approve,
            Some(&fin),
            json!({"note": "已开具"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    let url = a["data"]["pdf_url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/mr/v1/operators/me/invoices/{id}/pdf")));
    let (st, again) = mr
        .json(Method::POST, &approve, Some(&fin), Value::Null)
        .await;
    assert_eq!(
        (st, again["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS"))
    );
    let (st, ct, pdf) = mr
        .download(&format!("/mr/v1/operators/me/invoices/{id}/pdf"), &v.token)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ct, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/FontFile2") && text.contains("/ToUnicode"),
        "the CJK font is embedded, text extractable"
    );
    let other = mr.venue(0).await;
    let (st, _, _) = mr
        .download(
            &format!("/mr/v1/operators/me/invoices/{id}/pdf"),
            &other.token,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another operator's invoice");
    let (st, _, same) = mr
        .download(&format!("/mr/v1/finance/invoices/{id}/pdf"), &fin)
        .await;
    assert_eq!((st, same.len()), (StatusCode::OK, pdf.len()));
    let (_, mine) = mr
        .json(
            Method::GET,
            "/mr/v1/operators/me/invoices",
            Some(&v.token),
            Value::Null,
        )
        .await;
    assert_eq!(mine["items"][0]["status"], "approved");
    assert_eq!(mine["items"][0]["pdf_url"], url);
    let (_, logs) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/audit-logs?operation_type=invoice_approve",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(logs["total"], 1, "{logs}");
}

#[tokio::test]
async fn fields_are_checked_and_a_rejection_frees_the_amount() {
    let mr = Mr::new().await;
    let v = mr.venue(50_000).await;
    for (amount, tax) in [
        ("0", "91110000123456789X"),
        ("abc", "91110000123456789X"),
        ("10", "9111000012345678x"),
        ("10", "123"),
    ] {
        let (st, e) = ask(&mr, &v, amount, tax).await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
            "{amount} {tax}"
        );
    }
    let (st, r) = ask(&mr, &v, "500", "91110000123456789X").await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let id = r["data"]["invoice_id"].as_str().unwrap();
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let reject = format!("/mr/v1/finance/invoices/{id}/reject");
    let (st, _) = mr
        .json(
            Method::POST,
            &reject,
            Some(&fin),
            json!({"reason": "抬头与营业执照不一致请重新申请"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = ask(&mr, &v, "500", "91110000123456789X").await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "a rejected request no longer counts"
    );
    let (st, e) = mr
        .json(
            Method::POST,
            "/mr/v1/finance/invoices/inv_x/approve",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(
        (st, e["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("INVOICE_NOT_FOUND"))
    );
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, _) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/invoices",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
