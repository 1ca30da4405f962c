//! The monthly report as a PDF (A4), drawn with pdf-writer: the same
//! headlines, charts and rows as the page and the email. Text is set in
//! the standard Helvetica faces (no font to embed) and is not compressed,
//! so the figures stay searchable.

use crate::chart::{Chart, Frame, Kind, FRAME};
use crate::report::{Report, WORKFLOW_COLUMNS};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 48.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Text in the fonts' WinAnsi encoding; what it cannot show becomes '?'
/// (the rupee sign, which it lacks, is spelt "Rs").
fn winansi(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{20}'..='\u{7e}' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(c as u32 as u8),
            '€' => out.push(0x80),
            '–' => out.push(0x96),
            '—' => out.push(0x97),
            '−' => out.push(b'-'),
            '•' => out.push(0x95),
            '’' => out.push(0x92),
            '…' => out.push(0x85),
            '₹' => out.extend_from_slice(b"Rs"),
            _ => out.push(b'?'),
        }
    }
    out
}

fn rgb(hex: &str) -> (f32, f32, f32) {
    let h = hex.trim_start_matches('#');
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f32 / 255.0;
    (c(0), c(2), c(4))
}

/// Pages being written, top to bottom, with a cursor.
struct Pages {
    done: Vec<Content>,
    page: Content,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Pages { done: Vec::new(), page: Content::new(), y: PAGE_H - MARGIN }
    }

    /// Starts a new page unless `height` still fits on this one.
    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            let full = std::mem::replace(&mut self.page, Content::new());
            self.done.push(full);
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, grey: bool, s: &str) {
        let c = &mut self.page;
        let g = if grey { 0.36 } else { 0.11 };
        c.set_fill_rgb(g, g, g + 0.04);
        c.begin_text();
        c.set_font(if bold { BOLD } else { REGULAR }, size);
        c.next_line(x, y);
        c.show(Str(&winansi(s)));
        c.end_text();
    }

    /// A line of text at the cursor, which moves down.
    fn line(&mut self, size: f32, bold: bool, grey: bool, s: &str) {
        self.room(size + 6.0);
        self.y -= size + 4.0;
        let y = self.y;
        self.text(MARGIN, y, size, bold, grey, s);
    }

    fn chart(&mut self, chart: &Chart) {
        let f: &Frame = &FRAME;
        let height = f.height as f32 + 34.0;
        self.room(height);
        self.line(11.0, true, false, &chart.title);
        let top = self.y - 4.0;
        let x0 = MARGIN;
        // Frame coordinates grow downwards; the page's grow upwards.
        let px = |x: f64| x0 + x as f32;
        let py = |y: f64| top - y as f32;
        let l = chart.layout(f);
        let c = &mut self.page;
        c.set_stroke_rgb(0.77, 0.8, 0.83);
        c.set_line_width(0.8);
        c.move_to(px(f.left), py(l.y_zero));
        c.line_to(px(f.width - f.right), py(l.y_zero));
        c.stroke();
        for (x, y, w, h, colour, _) in &l.bars {
            let (r, g, b) = rgb(colour);
            c.set_fill_rgb(r, g, b);
            c.rect(px(*x), py(*y + *h), *w as f32, *h as f32);
            c.fill_nonzero();
        }
        for (colour, points) in &l.lines {
            let (r, g, b) = rgb(colour);
            c.set_stroke_rgb(r, g, b);
            c.set_line_width(1.8);
            for (i, (x, y)) in points.iter().enumerate() {
                if i == 0 {
                    c.move_to(px(*x), py(*y));
                } else {
                    c.line_to(px(*x), py(*y));
                }
            }
            if points.len() > 1 {
                c.stroke();
            }
        }
        if let Some((y, _)) = &l.reference {
            c.set_stroke_rgb(0.54, 0.58, 0.64);
            c.set_line_width(1.0);
            c.set_dash_pattern([4.0, 3.0], 0.0);
            c.move_to(px(f.left), py(*y));
            c.line_to(px(f.width - f.right), py(*y));
            c.stroke();
            c.set_dash_pattern([], 0.0);
        }
        let max = chart.unit.tick(l.max);
        self.text(x0, py(f.top + 4.0) - 3.0, 8.0, false, true, &max);
        self.text(x0 + f.left as f32 - 12.0, py(l.y_zero) - 3.0, 8.0, false, true, "0");
        for (x, label) in &l.x_labels {
            self.text(px(*x) - 2.4 * label.len() as f32, py(f.height - 6.0), 8.0, false, true, label);
        }
        if let Some((y, label)) = &l.reference {
            self.text(px(f.width - f.right) - 4.6 * label.len() as f32, py(*y) + 4.0, 8.0, false, true, label);
        }
        let legend: Vec<String> = chart.series.iter().map(|s| s.name.clone()).collect();
        if chart.series.len() > 1 || chart.kind == Kind::Line {
            let mut x = px(f.left);
            for (s, name) in chart.series.iter().zip(&legend) {
                let (r, g, b) = rgb(s.colour);
                self.page.set_fill_rgb(r, g, b);
                self.page.rect(x, top - f.height as f32 - 12.0, 8.0, 8.0);
                self.page.fill_nonzero();
                self.text(x + 11.0, top - f.height as f32 - 11.0, 8.0, false, true, name);
                x += 20.0 + 4.4 * name.len() as f32;
            }
        }
        self.y = top - f.height as f32 - 18.0;
    }

    fn finish(mut self) -> Vec<Content> {
        self.done.push(self.page);
        self.done
    }
}

/// The report as PDF bytes.
pub fn render(report: &Report, url: &str) -> Vec<u8> {
    let c = report.card;
    let mut pages = Pages::new();
    pages.line(20.0, true, false, &format!("{} scorecard", c.month.label()));
    pages.line(12.0, false, true, &c.business_name);
    pages.y -= 8.0;
    for h in report.headlines() {
        pages.room(30.0);
        pages.y -= 14.0;
        let y = pages.y;
        pages.text(MARGIN, y, 10.0, false, true, &h.label);
        pages.text(MARGIN + 120.0, y, 13.0, true, false, &h.value);
        pages.text(MARGIN + 220.0, y, 9.0, false, true, &h.vs_last_month);
        pages.y -= 12.0;
        let y = pages.y;
        pages.text(MARGIN + 220.0, y, 9.0, false, true, &h.vs_baseline);
    }
    pages.y -= 10.0;
    for chart in report.charts() {
        pages.chart(&chart);
    }
    pages.room(40.0);
    pages.line(11.0, true, false, "By workflow");
    let widths: [f32; 11] = [96.0, 28.0, 42.0, 46.0, 40.0, 44.0, 42.0, 48.0, 42.0, 40.0, 32.0];
    let row = |pages: &mut Pages, cells: &[String], bold: bool| {
        pages.room(16.0);
        pages.y -= 13.0;
        let mut x = MARGIN;
        let y = pages.y;
        for (cell, w) in cells.iter().zip(widths) {
            let max = (w / 4.4) as usize;
            let shown: String = if cell.chars().count() > max {
                cell.chars().take(max.saturating_sub(1)).chain(['…']).collect()
            } else {
                cell.clone()
            };
            pages.text(x, y, 7.5, bold, false, &shown);
            x += w;
        }
    };
    row(&mut pages, &WORKFLOW_COLUMNS.map(String::from), true);
    let rows = report.rows();
    let last = rows.len().saturating_sub(1);
    for (i, r) in rows.iter().enumerate() {
        row(&mut pages, r, i == last);
    }
    pages.y -= 8.0;
    pages.line(
        8.0,
        false,
        true,
        &format!("Figures in the business's time zone ({}). The report online: {url}", c.time_zone),
    );

    // Objects: catalog 1, page tree 2, fonts 3-4, info 5, then a page and its content per page.
    let contents = pages.finish();
    let mut pdf = Pdf::new();
    let (catalog, tree, regular, bold, info) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
    let page_ids: Vec<Ref> = (0..contents.len()).map(|i| Ref::new(6 + 2 * i as i32)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_ids.len() as i32);
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info).title(TextStr(&report.subject())).producer(TextStr("Steward"));
    for (i, content) in contents.into_iter().enumerate() {
        let content_id = Ref::new(7 + 2 * i as i32);
        let mut page = pdf.page(page_ids[i]);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        resources.fonts().pair(REGULAR, regular).pair(BOLD, bold);
        resources.finish();
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_holds_the_reports_figures_on_a4_pages() {
        let history = [crate::report::tests::card("2026-10", 10)];
        let card = crate::report::tests::card("2026-11", 20);
        let report = Report { card: &card, history: &history };
        let bytes = render(&report, "https://steward.example/t/acme/reports?month=2026-11");
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(bytes.ends_with(b"%%EOF") || bytes.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("(November 2026 scorecard)"), "the title");
        for h in report.headlines().iter().filter(|h| h.value.is_ascii()) {
            assert!(text.contains(&format!("({})", h.value)), "headline {} = {}", h.label, h.value);
        }
        assert!(text.contains("(10.0 h)"), "hours saved is among them");
        assert!(text.contains("/MediaBox [0 0 595 842]"));
    }

    #[test]
    fn text_is_encoded_for_the_standard_fonts() {
        assert_eq!(winansi("a − b – c é"), b"a - b \x96 c \xe9".to_vec());
        assert_eq!(winansi("✓"), b"?".to_vec());
        assert_eq!(winansi("€1 £2 ₹3"), b"\x801 \xa32 Rs3".to_vec());
    }
}
