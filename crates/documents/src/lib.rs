//! # suanpan-documents
//!
//! Files a system hands to people, written with well-kept libraries:
//!
//! - [`pdf`]: PDF pages (A4, points, origin top left) of text, lines and boxes, with Chinese
//!   legible in every viewer: the WenQuanYi Micro Hei font (Apache-2.0; GB 2312 and ASCII,
//!   `assets/fonts/`) is embedded, subset to the glyphs each document uses (`krilla`).
//! - [`table`]: tables of text, counts and money, as XLSX (`rust_xlsxwriter`, one sheet per
//!   table), CSV (`csv`, UTF-8 with a byte-order mark so that Excel reads Chinese) or PDF.
//!
//! Money is integer fen in, yuan with two decimals out.

pub mod pdf;
pub mod table;

pub use table::{Cell, Table};

/// Why a document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The PDF writer failed.
    #[error("pdf: {0}")]
    Pdf(String),
    /// The XLSX writer failed (e.g. a sheet name Excel refuses).
    #[error("xlsx: {0}")]
    Xlsx(String),
    /// The CSV writer failed.
    #[error("csv: {0}")]
    Csv(String),
}

/// `fen` as yuan with two decimals and thousands separators (`123456` → `"1,234.56"`).
pub fn yuan_grouped(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    let whole = (a / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", a % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn yuan_is_grouped_by_thousands() {
        assert_eq!(super::yuan_grouped(123_456), "1,234.56");
        assert_eq!(super::yuan_grouped(5), "0.05");
        assert_eq!(super::yuan_grouped(100_000_000), "1,000,000.00");
        assert_eq!(super::yuan_grouped(-12_345), "-123.45");
    }
}
