//! Tables of text, counts and money as XLSX, CSV or PDF: what finance reports are made of.

use crate::pdf::{A4, Pdf};
use crate::{DocError, yuan_grouped};

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(i64),
    /// Money, integer fen (written as yuan with two decimals).
    Money(i64),
    /// A percentage (`8.93` is 8.93 %).
    Percent(f64),
}

impl Cell {
    /// The cell as CSV and PDF show it: money `1234.50`, percentages `8.93%`.
    pub fn plain(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Money(f) => yuan_grouped(*f).replace(',', ""),
            Cell::Percent(p) => format!("{p:.2}%"),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

/// A titled table: a header row and rows of the same width.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Title (the sheet's name in XLSX: at most 31 characters, none of `[]:*?/\`).
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table titled `title` with the columns `header` and `rows`.
    pub fn new(title: &str, header: &[&str], rows: Vec<Vec<Cell>>) -> Table {
        Table {
            title: title.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }
}

/// An XLSX workbook with one sheet per table: a bold header, money as numbers formatted
/// `#,##0.00`, percentages as numbers formatted `0.00%`.
pub fn xlsx(tables: &[Table]) -> Result<Vec<u8>, DocError> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| DocError::Xlsx(e.to_string());
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let percent = Format::new().set_num_format("0.00%");
    for t in tables {
        let ws = wb.add_worksheet();
        ws.set_name(&t.title).map_err(e)?;
        for (c, h) in t.header.iter().enumerate() {
            ws.write_with_format(0, col(c)?, h.as_str(), &bold)
                .map_err(e)?;
            ws.set_column_width(col(c)?, 16).map_err(e)?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).map_err(|_| DocError::Xlsx("too many rows".into()))?;
            for (c, cell) in row.iter().enumerate() {
                let c = col(c)?;
                match cell {
                    Cell::Text(s) => ws.write(r, c, s.as_str()).map(|_| ()),
                    Cell::Int(n) => ws.write(r, c, *n as f64).map(|_| ()),
                    Cell::Money(f) => ws
                        .write_with_format(r, c, *f as f64 / 100.0, &money)
                        .map(|_| ()),
                    Cell::Percent(p) => ws.write_with_format(r, c, p / 100.0, &percent).map(|_| ()),
                }
                .map_err(e)?;
            }
        }
    }
    wb.save_to_buffer().map_err(e)
}

fn col(c: usize) -> Result<u16, DocError> {
    u16::try_from(c).map_err(|_| DocError::Xlsx("too many columns".into()))
}

/// The tables as one CSV file: UTF-8 with a byte-order mark (so that Excel reads Chinese), each
/// table as its title line, its header and its rows, tables separated by an empty line.
pub fn csv(tables: &[Table]) -> Result<Vec<u8>, DocError> {
    let e = |e: csv::Error| DocError::Csv(e.to_string());
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(vec![0xEF, 0xBB, 0xBF]);
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            w.write_record([""]).map_err(e)?;
        }
        w.write_record([t.title.as_str()]).map_err(e)?;
        w.write_record(&t.header).map_err(e)?;
        for row in &t.rows {
            w.write_record(row.iter().map(Cell::plain)).map_err(e)?;
        }
    }
    w.into_inner().map_err(|e| DocError::Csv(e.to_string()))
}

const MARGIN: f32 = 50.0;
const ROW: f32 = 18.0;

/// The tables as PDF pages under `title` and `subtitle`: each table its title and a ruled
/// grid of equal columns, continued on new pages as needed (the header repeated).
pub fn pdf(title: &str, subtitle: &str, tables: &[Table]) -> Result<Vec<u8>, DocError> {
    let mut p = Pdf::new(title);
    p.text(MARGIN, 70.0, 18.0, title);
    p.text(MARGIN, 92.0, 10.0, subtitle);
    let mut y = 130.0;
    for t in tables {
        if y + 3.0 * ROW > A4.1 - MARGIN {
            p.new_page();
            y = 70.0;
        }
        p.text(MARGIN, y, 13.0, &t.title);
        y += ROW;
        y = header(&mut p, t, y);
        for row in &t.rows {
            if y + ROW > A4.1 - MARGIN {
                p.new_page();
                y = header(&mut p, t, 70.0);
            }
            line(&mut p, t, y, row.iter().map(pdf_cell).collect());
            y += ROW;
        }
        y += ROW;
    }
    p.finish()
}

fn pdf_cell(c: &Cell) -> String {
    match c {
        Cell::Money(f) => format!("¥{}", yuan_grouped(*f)),
        other => other.plain(),
    }
}

fn header(p: &mut Pdf, t: &Table, y: f32) -> f32 {
    line(p, t, y, t.header.clone());
    p.line((MARGIN, y + 5.0), (A4.0 - MARGIN, y + 5.0), 0.6);
    y + ROW
}

fn line(p: &mut Pdf, t: &Table, y: f32, cells: Vec<String>) {
    let n = t.header.len().max(1) as f32;
    let w = (A4.0 - 2.0 * MARGIN) / n;
    for (i, c) in cells.iter().enumerate() {
        p.text(MARGIN + w * i as f32, y, 9.0, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Table> {
        vec![Table {
            title: "收入汇总".into(),
            header: vec!["日期".into(), "充值".into(), "客户".into(), "占比".into()],
            rows: vec![vec![
                "2025-01-15".into(),
                Cell::Money(1_500_050),
                Cell::Text("北京星空娱乐有限公司, \"VIP\"".into()),
                Cell::Percent(8.93),
            ]],
        }]
    }

    #[test]
    fn csv_has_a_bom_chinese_and_quoting() {
        let bytes = csv(&sample()).unwrap();
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "收入汇总\n日期,充值,客户,占比\n2025-01-15,15000.50,\"北京星空娱乐有限公司, \"\"VIP\"\"\",8.93%\n"
        );
    }

    #[test]
    fn xlsx_is_a_zip_workbook_and_refuses_bad_sheet_names() {
        let bytes = xlsx(&sample()).unwrap();
        assert!(bytes.starts_with(b"PK"));
        let bad = Table {
            title: "a/b".into(),
            ..Table::default()
        };
        assert!(matches!(xlsx(&[bad]), Err(DocError::Xlsx(_))));
    }

    #[test]
    fn a_long_table_continues_on_new_pages() {
        let mut t = sample().remove(0);
        t.rows = (0..120)
            .map(|i| {
                vec![
                    Cell::Int(i),
                    Cell::Money(i * 100),
                    "客户".into(),
                    Cell::Percent(0.5),
                ]
            })
            .collect();
        let bytes = pdf("财务报表", "2025-01-01 至 2025-01-31", &[t]).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
    }
}
