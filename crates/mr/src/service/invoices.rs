//! Invoices (contract `requestInvoice`, `getInvoices`, `financeGetInvoices`, `approveInvoice`):
//! an operator asks for an invoice of up to what it has recharged and not yet invoiced
//! (开票金额不能超过已充值金额); finance approves it, and the invoice is rendered as a PDF with the
//! Chinese names legible (the embedded CJK font of `suanpan-documents`) and kept with the request;
//! or rejects it with a reason (beyond the contract, which has a `rejected` status but no route
//! to it). Each review once, audited in the same transaction.

use suanpan_core::audit::{self, Actor, Entry};
use suanpan_core::db::Batch;
use suanpan_core::error::{AppError, ErrorKind};
use suanpan_core::time;
use suanpan_documents::pdf::{A4, Pdf};
use suanpan_documents::yuan_grouped;

use crate::MrState;
use crate::domain::{self, amount_in_words};
use crate::envelope::{code, invalid_field};
use crate::service::dated_id;
use crate::store::invoices::{self, InvoiceRow};

fn not_found() -> AppError {
    AppError::not_found(code::INVOICE_NOT_FOUND, "no such invoice request")
}

fn already_reviewed() -> AppError {
    AppError::invalid(
        code::INVALID_PARAMS,
        "该申请已处理，无法重复操作 (already reviewed)",
    )
}

/// An invoice request as the operator sends it.
#[derive(Clone, Debug)]
pub struct NewInvoice<'a> {
    /// Yuan, the contract's money pattern, > 0.
    pub amount: &'a str,
    /// 发票抬头, 2..100 characters.
    pub invoice_title: &'a str,
    /// `^[A-Z0-9]{15,20}$`.
    pub tax_id: &'a str,
    /// Optional e-mail.
    pub email: Option<&'a str>,
}

/// Files a pending invoice request. Errors: 400 `INVALID_PARAMS` for a field, or an amount
/// above what was recharged and not yet invoiced (pending or approved requests count).
pub async fn request(
    s: &MrState,
    operator_id: &str,
    n: &NewInvoice<'_>,
) -> Result<InvoiceRow, AppError> {
    let amount = domain::parse_yuan(n.amount)
        .filter(|f| *f > 0)
        .ok_or_else(|| invalid_field("amount", "a positive decimal string in yuan"))?;
    let title = n.invoice_title.trim();
    if !domain::length_within(title, 2, 100) {
        return Err(invalid_field("invoice_title", "2 to 100 characters"));
    }
    if !domain::valid_tax_id(n.tax_id) {
        return Err(invalid_field(
            "tax_id",
            "15 to 20 capital letters and digits",
        ));
    }
    if let Some(e) = n.email {
        domain::check_email(e).map_err(|(f, m)| invalid_field(f, m))?;
    }
    let now = time::now_ms();
    let row = InvoiceRow {
        invoice_id: dated_id("inv", now),
        operator_id: operator_id.to_string(),
        operator_name: String::new(),
        operator_category: String::new(),
        amount_fen: amount,
        invoice_title: title.to_string(),
        tax_id: n.tax_id.to_string(),
        email: n.email.map(str::to_string),
        status: "pending".into(),
        reject_reason: None,
        reviewed_by: None,
        reviewed_at: None,
        created_at: now,
    };
    let d = s.core.db.dialect;
    s.core
        .db
        .transaction(&row, move |tx, row| {
            Box::pin(async move {
                let room = invoices::room(tx, d, &row.operator_id).await?.unwrap_or(0);
                if row.amount_fen > room {
                    let m = format!("开票金额不能超过已充值金额 (at most {} yuan can still be invoiced)", domain::yuan(room));
                    return Err(AppError::invalid(code::INVALID_PARAMS, m).with_details(serde_json::json!({"field": "amount", "error": "exceeds what was recharged and not yet invoiced"})));
                }
                invoices::insert(tx, d, row).await
            })
        })
        .await?;
    invoices::one(&s.core.db, &row.invoice_id)
        .await?
        .ok_or_else(not_found)
}

/// Where an approved invoice's PDF is downloaded (the operator's route).
pub fn pdf_url(s: &MrState, invoice_id: &str) -> String {
    format!(
        "{}/mr/v1/operators/me/invoices/{invoice_id}/pdf",
        s.core.config.public_base_url.trim_end_matches('/')
    )
}

/// Finance approves a pending request: the PDF is rendered and kept, the request approved and
/// audited (`invoice_approve`) in one transaction. Returns the PDF's URL. Errors: 404
/// `INVOICE_NOT_FOUND`, 400 `INVALID_PARAMS` (reviewed before, a note over 200 characters).
pub async fn approve(
    s: &MrState,
    actor: &Actor,
    invoice_id: &str,
    note: Option<&str>,
) -> Result<String, AppError> {
    if note.is_some_and(|n| n.chars().count() > 200) {
        return Err(invalid_field("note", "at most 200 characters"));
    }
    let row = invoices::one(&s.core.db, invoice_id)
        .await?
        .ok_or_else(not_found)?;
    if row.status != "pending" {
        return Err(already_reviewed());
    }
    let now = time::now_ms();
    let pdf = render(s, &row, now)?;
    let detail = serde_json::json!({"operator_id": row.operator_id, "operator_name": row.operator_name, "amount": domain::yuan(row.amount_fen), "note": note});
    let d = s.core.db.dialect;
    let cx = (actor, invoice_id, note, pdf.as_slice(), &detail);
    s.core
        .db
        .transaction(&cx, move |tx, &(actor, invoice_id, note, pdf, detail)| {
            Box::pin(async move {
                if !invoices::approve(tx, d, invoice_id, pdf, note, (&actor.id, now)).await? {
                    return Err(already_reviewed());
                }
                let e =
                    Entry::new(actor, "invoice_approve", "mr_invoice", invoice_id).after(detail);
                audit::record(tx, d, &e).await?;
                Ok(())
            })
        })
        .await?;
    Ok(pdf_url(s, invoice_id))
}

/// Finance rejects a pending request with a reason of 10..200 characters (audited
/// `invoice_reject`). Errors: as [`approve`].
pub async fn reject(
    s: &MrState,
    actor: &Actor,
    invoice_id: &str,
    reason: &str,
) -> Result<(), AppError> {
    if !domain::length_within(reason, 10, 200) {
        return Err(invalid_field("reason", "10 to 200 characters"));
    }
    if invoices::one(&s.core.db, invoice_id).await?.is_none() {
        return Err(not_found());
    }
    let d = s.core.db.dialect;
    let detail = serde_json::json!({"reason": reason.trim()});
    let cx = (actor, invoice_id, reason.trim(), &detail);
    s.core
        .db
        .transaction(&cx, move |tx, &(actor, invoice_id, reason, detail)| {
            Box::pin(async move {
                let mut b = Batch::new();
                let g =
                    invoices::push_reject(&mut b, d, invoice_id, reason, &actor.id, time::now_ms());
                let e = Entry::new(actor, "invoice_reject", "mr_invoice", invoice_id).after(detail);
                audit::push_record(&mut b, d, &e);
                match b.execute(tx, d).await?.failed_guard {
                    Some(x) if x == g => Err(already_reviewed()),
                    _ => Ok(()),
                }
            })
        })
        .await
}

/// The invoice as a one-page PDF: number and date, buyer (title, taxpayer id), seller (the
/// `[mr]` invoice settings), the service line, the total in figures and in capital numerals.
pub fn render(s: &MrState, r: &InvoiceRow, issued_at: i64) -> Result<Vec<u8>, AppError> {
    let date = chrono::DateTime::from_timestamp_millis(issued_at)
        .unwrap_or_default()
        .with_timezone(&time::china())
        .format("%Y年%m月%d日")
        .to_string();
    let amount = format!("¥{}", yuan_grouped(r.amount_fen));
    let (left, right) = (50.0, A4.0 - 50.0);
    let mut p = Pdf::new(&format!("发票 {}", r.invoice_id));
    p.text(220.0, 70.0, 22.0, "发　票");
    p.line((left, 84.0), (right, 84.0), 1.0);
    p.text(left, 108.0, 10.5, &format!("发票号码：{}", r.invoice_id));
    p.text(360.0, 108.0, 10.5, &format!("开票日期：{date}"));
    p.rect((left, 122.0), (right - left, 64.0), 0.6);
    p.text(
        left + 10.0,
        145.0,
        10.5,
        &format!("购买方名称：{}", r.invoice_title),
    );
    p.text(
        left + 10.0,
        170.0,
        10.5,
        &format!("纳税人识别号：{}", r.tax_id),
    );
    p.rect((left, 196.0), (right - left, 64.0), 0.6);
    p.text(
        left + 10.0,
        219.0,
        10.5,
        &format!("销售方名称：{}", s.settings.invoice_seller_name),
    );
    if !s.settings.invoice_seller_tax_id.is_empty() {
        p.text(
            left + 10.0,
            244.0,
            10.5,
            &format!("纳税人识别号：{}", s.settings.invoice_seller_tax_id),
        );
    }
    p.text(left, 290.0, 10.5, "项目名称");
    p.text(330.0, 290.0, 10.5, "金额");
    p.line((left, 298.0), (right, 298.0), 0.6);
    p.text(
        left,
        318.0,
        10.5,
        "*信息技术服务*MR游戏授权服务费（预付充值）",
    );
    p.text(330.0, 318.0, 10.5, &amount);
    p.line((left, 336.0), (right, 336.0), 0.6);
    p.text(
        left,
        360.0,
        11.0,
        &format!("价税合计（大写）：{}", amount_in_words(r.amount_fen)),
    );
    p.text(360.0, 360.0, 11.0, &format!("（小写）{amount}"));
    p.text(
        left,
        400.0,
        9.0,
        &format!(
            "运营商：{}　申请时间：{}",
            r.operator_id,
            crate::http::rfc3339_ms(r.created_at)
        ),
    );
    p.finish()
        .map_err(|e| AppError::new(ErrorKind::Internal, code::INTERNAL_ERROR, e.to_string()))
}
