//! Finance reports (contract `generateFinanceReport`, `getFinanceReports`,
//! `downloadFinanceReport`): generated at once as PDF or XLSX, downloadable, also as CSV with
//! Chinese intact; audited. On SQLite, PostgreSQL and MariaDB.

mod common;

use common::{Mr, now_secs, session, staff};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn reports_are_generated_listed_and_downloaded_as_xlsx_pdf_and_csv() {
    let mr = Mr::new().await;
    let v = mr.venue(100_000).await;
    let ts = now_secs();
    let body = json!({"app_id": v.app_id, "site_id": v.site_id, "player_count": 3});
    assert_eq!(
        mr.authorize(&v, &body, &session(&v, ts), ts, false).await.0,
        StatusCode::OK
    );
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let today = chrono::Utc::now()
        .with_timezone(&suanpan_core::time::china())
        .format("%Y-%m-%d")
        .to_string();
    let request = |format: &str| json!({"report_type": "custom", "start_date": today, "end_date": today, "format": format});
    let (st, x) = mr
        .json(
            Method::POST,
            "/mr/v1/finance/reports/generate",
            Some(&fin),
            request("excel"),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{x}");
    assert_eq!(x["data"]["status"], "completed");
    let id = x["data"]["report_id"].as_str().unwrap().to_string();
    let (st, ct, xlsx) = mr
        .download(&format!("/mr/v1/finance/reports/{id}/download"), &fin)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    assert!(xlsx.starts_with(b"PK"));
    let (st, ct, csv) = mr
        .download(
            &format!("/mr/v1/finance/reports/{id}/download?format=csv"),
            &fin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    assert!(
        csv.starts_with(&[0xEF, 0xBB, 0xBF]),
        "a BOM so that Excel reads UTF-8"
    );
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(
        text.contains("收入汇总\n日期,充值,消费,退款,净收入\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{today},1000.00,30.00,0.00,1000.00\n")),
        "{text}"
    );
    assert!(text.contains("太空探险,1,3,30.00"), "{text}");
    let (st, p) = mr.json(Method::POST, "/mr/v1/finance/reports/generate", Some(&fin), json!({"report_type": "daily", "start_date": today, "end_date": today, "format": "pdf", "include_sections": ["income_summary"]})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let pid = p["data"]["report_id"].as_str().unwrap();
    let (st, ct, pdf) = mr
        .download(&format!("/mr/v1/finance/reports/{pid}/download"), &fin)
        .await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    let (st, list) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/reports?report_type=custom",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["format"], "excel");
    assert_eq!(list["items"][0]["file_size"], xlsx.len());
    let (_, logs) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/audit-logs?operation_type=report_generate",
            Some(&fin),
            Value::Null,
        )
        .await;
    assert_eq!(logs["total"], 2);
}

#[tokio::test]
async fn bad_requests_and_unknown_reports_are_refused() {
    let mr = Mr::new().await;
    let fin = staff(&mr, "fin", "finance", "mr").await;
    let bad = [
        json!({"report_type": "yearly", "start_date": "2025-01-01", "end_date": "2025-01-31", "format": "pdf"}),
        json!({"report_type": "monthly", "start_date": "2025-02-01", "end_date": "2025-01-31", "format": "pdf"}),
        json!({"report_type": "custom", "start_date": "2024-01-01", "end_date": "2025-12-31", "format": "excel"}),
        json!({"report_type": "monthly", "start_date": "2025-01-01", "end_date": "2025-01-31", "format": "docx"}),
        json!({"report_type": "monthly", "start_date": "2025-1-1", "end_date": "2025-01-31", "format": "pdf"}),
        json!({"report_type": "monthly", "start_date": "2025-01-01", "end_date": "2025-01-31", "format": "pdf", "include_sections": ["gossip"]}),
    ];
    for b in bad {
        let (st, e) = mr
            .json(
                Method::POST,
                "/mr/v1/finance/reports/generate",
                Some(&fin),
                b.clone(),
            )
            .await;
        assert_eq!(
            (st, e["error_code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_PARAMS")),
            "{b}"
        );
    }
    let (st, _, body) = mr
        .download("/mr/v1/finance/reports/rpt_nope/download", &fin)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["error_code"], "REPORT_NOT_READY");
    let admin = staff(&mr, "adm", "admin", "mr").await;
    let (st, _) = mr
        .json(
            Method::GET,
            "/mr/v1/finance/reports",
            Some(&admin),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
