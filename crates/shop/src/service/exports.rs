//! The finance export (seed 001, 订单导出): orders as CSV for Excel, streamed page by page.
//! UTF-8 with a byte-order mark (so that Excel reads the Chinese text), amounts in yuan with two
//! decimals, times RFC 3339 in UTC+08:00, every free-text cell escaped against formula
//! injection ([`csv_cell`]).

use std::collections::HashMap;

use axum::body::Bytes;
use suanpan_core::AppResult;
use suanpan_core::db::Db;
use suanpan_core::money::format_yuan;
use suanpan_core::time::rfc3339;
use tokio_stream::wrappers::ReceiverStream;

use crate::domain::{OrderStatus, PricedLine};
use crate::store::{self, OrderFilter, OrderRow};

/// The header row.
pub const HEADER: [&str; 15] = [
    "订单号",
    "状态",
    "下单时间",
    "支付时间",
    "用户ID",
    "商品",
    "件数",
    "订单金额(元)",
    "实付(元)",
    "已退款(元)",
    "收货人",
    "电话",
    "地址",
    "物流公司",
    "运单号",
];

/// Orders per page read from the database.
const PAGE: i64 = 500;

/// The stream of CSV chunks of the orders matching `filter`. The first page is read before
/// this returns, so a database error is an error answer, not a 200 with a truncated file; a
/// later failure ends the stream with an error (the client sees a broken transfer).
pub async fn order_csv(
    db: Db,
    filter: OrderFilter,
) -> AppResult<ReceiverStream<Result<Bytes, std::io::Error>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let mut first = Some(page(&db, &filter, 0).await?);
    tokio::spawn(async move {
        let mut head = vec![0xEF, 0xBB, 0xBF];
        head.extend(csv_bytes([HEADER.map(str::to_string)]));
        if tx.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        let mut after = 0;
        loop {
            let next = match first.take() {
                Some(p) => Ok(p),
                None => page(&db, &filter, after).await,
            };
            let (rows, mut items) = match next {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let Some(last) = rows.last() else { return };
            after = last.id;
            let records = rows
                .iter()
                .map(|o| record(o, &items.remove(&o.id).unwrap_or_default()));
            if tx.send(Ok(Bytes::from(csv_bytes(records)))).await.is_err() {
                return;
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// One page: up to [`PAGE`] orders after id `after` and their lines (one query each).
async fn page(
    db: &Db,
    filter: &OrderFilter,
    after: i64,
) -> Result<(Vec<OrderRow>, HashMap<i64, Vec<PricedLine>>), sqlx::Error> {
    let rows = store::orders_after(db.reader(), db.dialect, filter, after, PAGE).await?;
    let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
    let items = store::items_of_orders(db.reader(), db.dialect, &ids).await?;
    Ok((rows, items))
}

fn csv_bytes(records: impl IntoIterator<Item = [String; 15]>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_default()
}

/// One order's row, in [`HEADER`]'s order.
fn record(o: &OrderRow, items: &[PricedLine]) -> [String; 15] {
    let goods: Vec<String> = items
        .iter()
        .map(|i| format!("{}×{}", i.name, i.quantity))
        .collect();
    let units: i64 = items.iter().map(|i| i.quantity).sum();
    let a: serde_json::Value = o
        .address_json
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let raw = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    let addr = if a.is_null() {
        String::new()
    } else {
        let parts = ["province", "city", "district", "detail"].map(raw);
        csv_cell(&parts.concat())
    };
    [
        o.order_no.clone(),
        status_zh(o.status).to_string(),
        rfc3339(o.created_at),
        o.paid_at.map(rfc3339).unwrap_or_default(),
        o.user_id.to_string(),
        csv_cell(&goods.join("; ")),
        units.to_string(),
        format_yuan(o.total_fen),
        format_yuan(o.paid_fen),
        format_yuan(o.refunded_fen),
        csv_cell(&raw("receiver")),
        csv_cell(&raw("phone")),
        addr,
        csv_cell(o.carrier.as_deref().unwrap_or_default()),
        csv_cell(o.tracking_no.as_deref().unwrap_or_default()),
    ]
}

/// The status as the finance team reads it.
pub fn status_zh(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::PendingPayment => "待支付",
        OrderStatus::Paid => "已支付",
        OrderStatus::Shipped => "已发货",
        OrderStatus::Completed => "已完成",
        OrderStatus::Cancelled => "已取消",
        OrderStatus::Refunding => "退款中",
        OrderStatus::Refunded => "已退款",
    }
}

/// A cell as spreadsheet software will not run as a formula (OWASP "CSV injection"): text
/// beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped_and_plain_text_is_not() {
        for f in ["=1+1", "+86", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(f), format!("'{f}"));
        }
        for p in ["张三", "138 0013 8000", "a=b", ""] {
            assert_eq!(csv_cell(p), p);
        }
    }
}
