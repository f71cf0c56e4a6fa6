//! PDF pages of text, lines and boxes with Chinese legible (see the crate text). Coordinates are
//! points (1/72 inch) on A4 (595.28 × 841.89), from the top left; a text's `y` is its baseline.

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};

use crate::DocError;

/// The embedded font: WenQuanYi Micro Hei, subset to ASCII and GB 2312 (Apache-2.0,
/// `assets/fonts/LICENSE-wqy-microhei.txt`).
pub static FONT: &[u8] = include_bytes!("../assets/fonts/wqy-microhei-gb2312.ttf");

/// A4 width and height in points.
pub const A4: (f32, f32) = (595.28, 841.89);

#[derive(Clone, Debug)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        width: f32,
    },
}

/// A document being drawn, page by page; [`Pdf::finish`] writes it.
#[derive(Clone, Debug)]
pub struct Pdf {
    pages: Vec<Vec<Op>>,
    title: String,
}

impl Pdf {
    /// A document of one empty page, titled `title` (its metadata).
    pub fn new(title: &str) -> Pdf {
        Pdf {
            pages: vec![Vec::new()],
            title: title.to_string(),
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Text at baseline `(x, y)` in `size` points. Characters the font lacks (outside GB 2312)
    /// show as empty boxes.
    pub fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        let text = text.to_string();
        self.ops().push(Op::Text { x, y, size, text });
    }

    /// A line `width` points thick.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32) {
        self.ops().push(Op::Line { from, to, width });
    }

    /// A box outline `width` points thick, top left at `(x, y)`.
    pub fn rect(&mut self, (x, y): (f32, f32), (w, h): (f32, f32), width: f32) {
        self.ops().push(Op::Rect { x, y, w, h, width });
    }

    /// Starts a new page; what follows is drawn on it.
    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
    }

    /// Pages so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The PDF file.
    pub fn finish(self) -> Result<Vec<u8>, DocError> {
        let font = Font::new(FONT.into(), 0).ok_or_else(|| DocError::Pdf("font".into()))?;
        let mut doc = Document::new();
        doc.set_metadata(Metadata::new().title(self.title.clone()));
        let settings =
            || PageSettings::from_wh(A4.0, A4.1).ok_or_else(|| DocError::Pdf("page".into()));
        for ops in &self.pages {
            let mut page = doc.start_page_with(settings()?);
            let mut s = page.surface();
            for op in ops {
                draw(&mut s, &font, op)?;
            }
            s.finish();
            page.finish();
        }
        doc.finish().map_err(|e| DocError::Pdf(format!("{e:?}")))
    }
}

fn draw(s: &mut krilla::surface::Surface<'_>, font: &Font, op: &Op) -> Result<(), DocError> {
    let bad = || DocError::Pdf("invalid geometry".into());
    match op {
        Op::Text { x, y, size, text } => {
            s.set_stroke(None);
            s.set_fill(Some(Fill::default()));
            let at = Point::from_xy(*x, *y);
            s.draw_text(at, font.clone(), *size, text, false, TextDirection::Auto);
        }
        Op::Line { from, to, width } => {
            let mut pb = PathBuilder::new();
            pb.move_to(from.0, from.1);
            pb.line_to(to.0, to.1);
            stroke(s, *width);
            s.draw_path(&pb.finish().ok_or_else(bad)?);
        }
        Op::Rect { x, y, w, h, width } => {
            let mut pb = PathBuilder::new();
            pb.push_rect(Rect::from_xywh(*x, *y, *w, *h).ok_or_else(bad)?);
            stroke(s, *width);
            s.draw_path(&pb.finish().ok_or_else(bad)?);
        }
    }
    Ok(())
}

fn stroke(s: &mut krilla::surface::Surface<'_>, width: f32) {
    s.set_fill(None);
    s.set_stroke(Some(Stroke {
        width,
        ..Default::default()
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_page_embeds_a_font_subset_and_paginates() {
        let mut p = Pdf::new("测试");
        p.text(
            50.0,
            80.0,
            18.0,
            "发票 Invoice ¥1,234.50 北京星空娱乐有限公司",
        );
        p.line((50.0, 95.0), (545.0, 95.0), 0.8);
        p.rect((50.0, 110.0), (495.0, 60.0), 0.5);
        p.new_page();
        p.text(50.0, 80.0, 12.0, "第二页");
        assert_eq!(p.page_count(), 2);
        let bytes = p.finish().unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/FontFile2"), "the font is embedded");
        assert!(text.contains("/ToUnicode"), "the text can be extracted");
        // A subset: far smaller than the 1.3 MB font.
        assert!(bytes.len() < 100_000, "{} bytes", bytes.len());
    }
}
