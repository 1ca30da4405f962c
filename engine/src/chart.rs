//! Charts of the monthly report, drawn once as data and rendered as SVG
//! (the Reports page and the email use the same markup, styled inline so
//! mail clients show it too) or onto a PDF page (`report_pdf`).

use crate::money;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bars,
    Line,
}

/// How a chart's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Minutes,
    Hours,
    Money,
    Count,
}

impl Unit {
    /// The axis label: short, so it fits beside the plot ("4.5k").
    pub fn tick(self, v: f64) -> String {
        match self {
            Unit::Money if v >= 1_000_000_000.0 => format!("{:.1}k", v / 1_000_000_000.0),
            Unit::Money if v >= 10_000_000.0 => format!("{:.0}", v / 1_000_000.0),
            // Under a cent, cents would read "0.00": show the digits that matter.
            Unit::Money if v < 10_000.0 => money::format(v.round() as i64),
            other => other.format(v),
        }
    }

    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Minutes => crate::kpi::duration(v),
            Unit::Hours => format!("{:.1} h", v),
            Unit::Money => money::format_cents(v.round() as i64),
            Unit::Count => format!("{:.0}", v),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub kind: Kind,
    pub unit: Unit,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    /// A dashed reference line (the baseline), with its label.
    pub reference: Option<(f64, String)>,
}

pub const BLUE: &str = "#3b63d6";
pub const GREEN: &str = "#2f9e74";
pub const AMBER: &str = "#d08a00";
pub const RED: &str = "#d0504a";
pub const GREY: &str = "#8a94a3";

/// The chart's drawing area, shared by both renderers (y grows downwards).
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub bottom: f64,
    pub right: f64,
}

/// Narrow enough that a phone shows the labels at a readable size.
pub const FRAME: Frame = Frame { width: 420.0, height: 190.0, left: 60.0, top: 14.0, bottom: 26.0, right: 24.0 };

/// Everything a renderer needs, already in frame coordinates.
pub struct Layout {
    pub max: f64,
    pub y_zero: f64,
    /// (x, y, width, height, colour, tooltip) of each bar.
    pub bars: Vec<(f64, f64, f64, f64, &'static str, String)>,
    /// Each line series: its colour and points.
    pub lines: Vec<(&'static str, Vec<(f64, f64)>)>,
    /// (x, text) of the labels under the axis.
    pub x_labels: Vec<(f64, String)>,
    pub reference: Option<(f64, String)>,
}

impl Chart {
    pub fn max(&self) -> f64 {
        let top = self.series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(0.0_f64, f64::max);
        let top = self.reference.as_ref().map(|(r, _)| top.max(*r)).unwrap_or(top);
        // A little headroom above the tallest bar, then a round number for the axis.
        crate::scale::nice_ceiling(top * 1.05)
    }

    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.values.iter().all(|v| v.is_none_or(|v| v == 0.0)))
    }

    pub fn layout(&self, f: &Frame) -> Layout {
        let max = self.max();
        let plot_h = f.height - f.top - f.bottom;
        let y = |v: f64| f.top + plot_h - (v.max(0.0) / max * plot_h);
        let n = self.labels.len().max(1);
        let step = (f.width - f.left - f.right) / n as f64;
        let groups = self.series.len().max(1) as f64;
        let mut bars = Vec::new();
        let mut lines = Vec::new();
        match self.kind {
            Kind::Bars => {
                // A few wide slots (one day, three months) keep slim bars.
                let group_w = (step * 0.72).min(34.0 * groups);
                let bar_w = (group_w / groups).max(1.5);
                for (si, s) in self.series.iter().enumerate() {
                    for (i, v) in s.values.iter().enumerate() {
                        if let Some(v) = v.filter(|v| *v > 0.0) {
                            let x = f.left + step * i as f64 + (step - group_w) / 2.0 + bar_w * si as f64;
                            let tip = format!(
                                "{}: {} {}",
                                self.labels.get(i).cloned().unwrap_or_default(),
                                s.name,
                                self.unit.format(v)
                            );
                            bars.push((x, y(v), bar_w, (y(0.0) - y(v)).max(0.5), s.colour, tip));
                        }
                    }
                }
            }
            Kind::Line => {
                for s in &self.series {
                    let points = s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| (f.left + step * i as f64 + step / 2.0, y(v))))
                        .collect();
                    lines.push((s.colour, points));
                }
            }
        }
        // At most six labels, always the last one.
        let every = n.div_ceil(6).max(1);
        let last = n - 1;
        let x_labels = self
            .labels
            .iter()
            .enumerate()
            .filter(|(i, _)| (last - i).is_multiple_of(every))
            .map(|(i, l)| (f.left + step * i as f64 + step / 2.0, l.clone()))
            .collect();
        Layout {
            max,
            y_zero: y(0.0),
            bars,
            lines,
            x_labels,
            reference: self.reference.as_ref().map(|(v, l)| (y(*v), l.clone())),
        }
    }

    /// Self-contained SVG (inline styles only).
    pub fn svg(&self) -> String {
        let f = &FRAME;
        let l = self.layout(f);
        let esc = crate::form::escape;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{title}\" data-chart=\"{id}\" \
             style=\"max-width:{w}px;font-family:system-ui,-apple-system,Segoe UI,sans-serif\">",
            w = f.width,
            h = f.height,
            title = esc(&self.title),
            id = self.id
        );
        let axis_y = l.y_zero;
        s += &format!(
            "<line x1=\"{}\" y1=\"{axis_y:.1}\" x2=\"{}\" y2=\"{axis_y:.1}\" stroke=\"#c5cbd3\" stroke-width=\"1\"/>",
            f.left,
            f.width - f.right
        );
        let tick = |y: f64, text: &str| {
            format!(
                "<text x=\"{}\" y=\"{:.1}\" font-size=\"13\" fill=\"#5d6673\" text-anchor=\"end\">{}</text>",
                f.left - 6.0,
                y + 4.0,
                esc(text)
            )
        };
        s += &tick(f.top + 4.0, &self.unit.tick(l.max));
        s += &tick(axis_y, "0");
        for (x, y, w, h, colour, tip) in &l.bars {
            s += &format!("<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{colour}\" rx=\"1.5\"><title>{}</title></rect>", esc(tip));
        }
        for (colour, points) in &l.lines {
            let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            s += &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.2\" stroke-linejoin=\"round\"/>", pts.join(" "));
            for (x, y) in points {
                s += &format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.4\" fill=\"{colour}\"/>");
            }
        }
        if let Some((y, label)) = &l.reference {
            s += &format!("<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"{GREY}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>", f.left, f.width - f.right);
            s += &format!(
                "<text x=\"{}\" y=\"{:.1}\" font-size=\"13\" fill=\"#5d6673\" text-anchor=\"end\">{}</text>",
                f.width - f.right - 2.0,
                y - 5.0,
                esc(label)
            );
        }
        for (x, text) in &l.x_labels {
            s += &format!(
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"13\" fill=\"#5d6673\" text-anchor=\"middle\">{}</text>",
                f.height - 6.0,
                esc(text)
            );
        }
        s += "</svg>";
        s
    }

    /// The legend, as HTML (swatches and names), when there is more than one series or a reference.
    pub fn legend_html(&self) -> String {
        let esc = crate::form::escape;
        let mut items: Vec<String> = self
            .series
            .iter()
            .map(|s| format!("<span style=\"display:inline-block;margin-right:12px\"><span style=\"display:inline-block;width:10px;height:10px;border-radius:2px;background:{};margin-right:4px\"></span>{}</span>", s.colour, esc(&s.name)))
            .collect();
        if let Some((_, label)) = &self.reference {
            items.push(format!("<span style=\"display:inline-block\"><span style=\"display:inline-block;width:14px;border-top:2px dashed {GREY};margin-right:4px;vertical-align:middle\"></span>{}</span>", esc(label)));
        }
        items.join("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind) -> Chart {
        Chart {
            id: "t",
            title: "Hours <saved>".into(),
            kind,
            unit: Unit::Hours,
            labels: (1..=30).map(|d| format!("11-{d:02}")).collect(),
            series: vec![Series {
                name: "saved".into(),
                colour: GREEN,
                values: (1..=30).map(|d| if d == 3 { None } else { Some(d as f64) }).collect(),
            }],
            reference: Some((12.0, "baseline".into())),
        }
    }

    #[test]
    fn bars_are_drawn_for_every_value_and_scaled_to_the_largest() {
        let c = chart(Kind::Bars);
        let l = c.layout(&FRAME);
        assert_eq!(l.bars.len(), 29, "the day without a figure has no bar");
        let tallest = l.bars.iter().map(|b| b.3).fold(0.0, f64::max);
        let plot_h = FRAME.height - FRAME.top - FRAME.bottom;
        // The tallest value (30) under a round top (50, the next 1-2-5 step above 30 plus headroom).
        assert_eq!(c.max(), 50.0);
        assert!((tallest - plot_h * 30.0 / 50.0).abs() < 0.01, "{tallest}");
        assert!(c.svg().contains(">50 h<") || c.svg().contains(">50.0 h<"), "the axis says its round top");
        // A month of tiny costs: the top label shows the digits that matter, never 0.00.
        let tiny = Chart { unit: Unit::Money, reference: None, ..chart(Kind::Bars) };
        let tiny = Chart {
            series: vec![Series { name: "cost".into(), colour: BLUE, values: vec![Some(420.0), Some(180.0)] }],
            labels: vec!["a".into(), "b".into()],
            ..tiny
        };
        assert_eq!(tiny.unit.tick(tiny.max()), "0.000500");
        assert!(l.x_labels.len() <= 6 && l.x_labels.last().unwrap().1 == "11-30");
        let svg = c.svg();
        assert_eq!(svg.matches("<rect").count(), 29);
        assert!(svg.contains("Hours &lt;saved&gt;"), "titles are escaped");
        assert!(svg.contains("stroke-dasharray"), "the baseline is dashed");
    }

    #[test]
    fn lines_skip_missing_points_and_an_empty_chart_still_draws() {
        let l = chart(Kind::Line).layout(&FRAME);
        assert_eq!(l.lines[0].1.len(), 29);
        let empty = Chart {
            series: vec![Series { name: "x".into(), colour: BLUE, values: vec![None, Some(0.0)] }],
            labels: vec!["a".into(), "b".into()],
            reference: None,
            ..chart(Kind::Bars)
        };
        assert!(empty.is_empty());
        assert_eq!(empty.max(), 1.0);
        assert!(empty.svg().starts_with("<svg"));
    }
}
