//! The monthly report as people read it: headline figures, the charts and
//! a row per workflow, built once from a scorecard so the Reports page, the
//! email and the PDF say exactly the same thing.

use crate::chart::{self, Chart, Kind, Series, Unit};
use crate::form::escape;
use crate::kpi::{self, duration, percent, Headline, Kpis, Scorecard};
use crate::money::Currency;

/// A scorecard with the months before it (newest last, at most five).
pub struct Report<'a> {
    pub card: &'a Scorecard,
    pub history: &'a [Scorecard],
}

pub const WORKFLOW_COLUMNS: [&str; 11] = [
    "Workflow",
    "Runs",
    "Completed",
    "Exception rate",
    "Cycle time",
    "Response time",
    "Hours saved",
    "Net savings",
    "Conversion",
    "Agreement",
    "Uptime",
];

fn or_dash<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

/// A row of the per-workflow table.
pub fn row(name: &str, k: &Kpis, currency: Currency) -> [String; 11] {
    [
        name.to_owned(),
        k.runs.to_string(),
        k.completed.to_string(),
        or_dash(k.exception_rate, percent),
        or_dash(k.cycle_minutes, duration),
        or_dash(k.response_minutes, duration),
        or_dash(k.hours_saved, |h| format!("{h:.1} h")),
        or_dash(k.net_savings, |m| currency.cents(m)),
        or_dash(k.conversion_rate, percent),
        or_dash(k.agreement_rate, percent),
        or_dash(k.uptime, percent),
    ]
}

impl Report<'_> {
    pub fn previous(&self) -> Option<&Scorecard> {
        self.history.last().filter(|p| p.month == self.card.month.previous())
    }

    pub fn headlines(&self) -> Vec<Headline> {
        let (_, end) = self.card.month.bounds(&self.card.time_zone);
        kpi::headlines(
            &self.card.business,
            self.previous().map(|p| &p.business),
            self.card.through < end,
            self.card.currency,
        )
    }

    pub fn rows(&self) -> Vec<[String; 11]> {
        let currency = self.card.currency;
        let mut rows: Vec<[String; 11]> = self.card.workflows.iter().map(|w| row(&w.name, &w.kpis, currency)).collect();
        rows.push(row("All workflows", &self.card.business, currency));
        rows
    }

    pub fn charts(&self) -> Vec<Chart> {
        let c = self.card;
        let labels: Vec<String> = c.days.iter().map(|d| d.day.format("%b %-d").to_string()).collect();
        let daily = |name: &str, colour: &'static str, f: &dyn Fn(&kpi::DayPoint) -> Option<f64>| Series {
            name: name.into(),
            colour,
            values: c.days.iter().map(f).collect(),
        };
        let mut months: Vec<&Scorecard> = self.history.iter().collect();
        months.push(c);
        let month_labels: Vec<String> =
            months.iter().map(|m| m.month.label().split(' ').next().unwrap_or_default()[..3].to_string()).collect();
        let buckets: Vec<String> = (0..kpi::CONFIDENCE_BUCKETS).map(|i| format!("{:.1}", i as f64 / 10.0)).collect();
        vec![
            Chart {
                id: "cycle-time",
                title: "Cycle time per day (event to outcome, including waits for a person)".into(),
                kind: Kind::Line,
                unit: Unit::Minutes,
                labels: labels.clone(),
                series: vec![daily("mean cycle time", chart::BLUE, &|d| d.cycle_minutes)],
                reference: c.business.baseline_response_minutes.map(|b| (b, format!("by hand {}", duration(b)))),
            },
            Chart {
                id: "hours-saved",
                title: "Hours saved per day".into(),
                kind: Kind::Bars,
                unit: Unit::Hours,
                labels: labels.clone(),
                series: vec![daily("hours saved", chart::GREEN, &|d| d.hours_saved)],
                reference: None,
            },
            Chart {
                id: "cost-vs-savings",
                title: format!("Automation cost against labour saved, by month ({})", c.currency.code()),
                kind: Kind::Bars,
                unit: Unit::Money,
                labels: month_labels,
                series: vec![
                    Series {
                        name: "automation cost".into(),
                        colour: chart::RED,
                        values: months.iter().map(|m| Some(m.business.cost as f64)).collect(),
                    },
                    Series {
                        name: "labour saved".into(),
                        colour: chart::GREEN,
                        values: months.iter().map(|m| m.business.labour_saved.map(|l| l as f64)).collect(),
                    },
                ],
                reference: None,
            },
            Chart {
                id: "exceptions",
                title: "Exceptions per day (failed, or handed to a person after an error)".into(),
                kind: Kind::Bars,
                unit: Unit::Count,
                labels,
                series: vec![daily("exceptions", chart::AMBER, &|d| Some(d.exceptions as f64))],
                reference: None,
            },
            Chart {
                id: "confidence",
                title: "Model confidence of the month's drafts".into(),
                kind: Kind::Bars,
                unit: Unit::Count,
                labels: buckets,
                series: vec![Series {
                    name: "drafts".into(),
                    colour: chart::BLUE,
                    values: c.business.confidence.iter().map(|n| Some(*n as f64)).collect(),
                }],
                reference: None,
            },
        ]
    }

    pub fn subject(&self) -> String {
        format!("{}: your {} scorecard", self.card.business_name, self.card.month.label())
    }

    /// The email: plain text and HTML with the charts inline.
    pub fn email(&self, url: &str) -> (String, String, String) {
        let c = self.card;
        let subject = self.subject();
        let headlines = self.headlines();
        let mut text = format!("{} — {}\n\n", c.business_name, c.month.label());
        for h in &headlines {
            text += &format!("{}: {} ({}; {})\n", h.label, h.value, h.vs_last_month, h.vs_baseline);
        }
        text += "\nBy workflow\n";
        for r in self.rows() {
            text += &format!(
                "- {}: {} runs, exception rate {}, cycle time {}, response time {}, hours saved {}, net savings {}\n",
                r[0], r[1], r[3], r[4], r[5], r[6], r[7]
            );
        }
        text += &format!("\nThe report, with its charts: {url}\nThe PDF of this report is attached.\n");

        let tile = |h: &Headline| {
            let colour = match h.better {
                Some(true) => "#1d7a55",
                Some(false) => "#b3402f",
                None => "#5d6673",
            };
            format!(
                "<td style=\"padding:10px 12px;border:1px solid #e3e7ec;border-radius:8px;vertical-align:top;width:33%\">\
                 <div style=\"font-size:12px;color:#5d6673;text-transform:uppercase;letter-spacing:.04em\">{label}</div>\
                 <div style=\"font-size:22px;font-weight:700;margin:2px 0\" data-headline=\"{key}\">{value}</div>\
                 <div style=\"font-size:12px;color:{colour}\">{last}</div>\
                 <div style=\"font-size:12px;color:#5d6673\">{base}</div></td>",
                label = escape(&h.label),
                key = h.key,
                value = escape(&h.value),
                last = escape(&h.vs_last_month),
                base = escape(&h.vs_baseline),
            )
        };
        let mut tiles = String::new();
        for chunk in headlines.chunks(3) {
            tiles += "<tr>";
            for h in chunk {
                tiles += &tile(h);
            }
            tiles += "</tr>";
        }
        let charts: String = self
            .charts()
            .iter()
            .map(|ch| {
                format!(
                    "<h3 style=\"font-size:15px;margin:20px 0 6px\">{}</h3>{}<div style=\"font-size:12px;color:#5d6673;margin-top:4px\">{}</div>",
                    escape(&ch.title),
                    ch.svg(),
                    ch.legend_html()
                )
            })
            .collect();
        let head: String = WORKFLOW_COLUMNS
            .iter()
            .map(|h| format!("<th style=\"text-align:left;padding:6px;border-bottom:1px solid #c5cbd3\">{h}</th>"))
            .collect();
        let body: String = self
            .rows()
            .iter()
            .map(|r| {
                format!(
                    "<tr>{}</tr>",
                    r.iter()
                        .map(|v| format!(
                            "<td style=\"padding:6px;border-bottom:1px solid #eef0f3\">{}</td>",
                            escape(v)
                        ))
                        .collect::<String>()
                )
            })
            .collect();
        let html = format!(
            "<div style=\"font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:640px;color:#1d2430\">\
             <h2 style=\"margin:0 0 4px\">{name}</h2>\
             <p style=\"margin:0 0 16px;color:#5d6673\">Scorecard for {month}: what the workflows did against how the work was done by hand.</p>\
             <table role=\"presentation\" style=\"border-collapse:separate;border-spacing:6px;width:100%\">{tiles}</table>\
             {charts}\
             <h3 style=\"font-size:15px;margin:20px 0 6px\">By workflow</h3>\
             <div style=\"overflow-x:auto\"><table style=\"border-collapse:collapse;font-size:13px;width:100%\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>\
             <p style=\"margin:20px 0\"><a href=\"{url}\" style=\"display:inline-block;padding:9px 16px;background:#1f4fd1;color:#fff;border-radius:6px;text-decoration:none\">Open the report</a></p>\
             <p style=\"color:#5d6673;font-size:12px\">The PDF of this report is attached. Figures follow the business's time zone ({tz}).</p></div>",
            name = escape(&c.business_name),
            month = escape(&c.month.label()),
            url = escape(url),
            tz = escape(&c.time_zone),
        );
        (subject, text, html)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kpi::{Baseline, Month, Tally};
    use std::collections::BTreeMap;

    pub(crate) fn card(month: &str, runs: i64) -> Scorecard {
        let m = Month::parse(month).unwrap();
        let day = m.first_day();
        let mut days = BTreeMap::new();
        days.insert(
            "lead-intake".to_string(),
            [(
                day,
                Tally {
                    runs,
                    completed: runs,
                    cycle_seconds: runs * 600,
                    cost: runs * 100_000,
                    confidence: [0, 0, 0, 0, 0, 1, 2, 3, 4, 0],
                    ..Default::default()
                },
            )]
            .into(),
        );
        let baselines = [(
            "lead-intake".to_string(),
            Baseline {
                manual_minutes: 30.0,
                error_rate: 0.1,
                response_minutes: 240.0,
                monthly_volume: 100,
                hourly_cost: 40_000_000,
                outcome: "deal.won".into(),
                outcome_rate: Some(0.1),
            },
        )]
        .into();
        kpi::scorecard(
            m,
            "Acme <Plumbing>",
            "UTC",
            m.next().first_day().and_hms_opt(0, 0, 0).unwrap().and_utc(),
            &days,
            &baselines,
        )
    }

    #[test]
    fn the_email_says_what_the_headlines_say_in_text_and_html() {
        let history = [card("2026-10", 10)];
        let c = card("2026-11", 20);
        let r = Report { card: &c, history: &history };
        let (subject, text, html) = r.email("https://steward.example/t/acme/reports?month=2026-11");
        assert_eq!(subject, "Acme <Plumbing>: your November 2026 scorecard");
        // 20 runs × 30 min = 10 h saved, vs 5 h in October.
        assert!(text.contains("Hours saved: 10.0 h (+5.0 h vs last month;"), "{text}");
        assert!(html.contains("data-headline=\"hours_saved\">10.0 h<"), "{html}");
        assert!(html.contains("Acme &lt;Plumbing&gt;"), "names are escaped");
        assert_eq!(html.matches("<svg").count(), 5, "five charts inline");
        assert!(html.contains("https://steward.example/t/acme/reports?month=2026-11"));
        assert!(text.contains("- All workflows: 20 runs"));
    }

    #[test]
    fn the_month_chart_compares_cost_with_savings_for_each_month_shown() {
        let history = [card("2026-09", 5), card("2026-10", 10)];
        let c = card("2026-11", 20);
        let charts = Report { card: &c, history: &history }.charts();
        let months = charts.iter().find(|c| c.id == "cost-vs-savings").unwrap();
        assert_eq!(months.labels, ["Sep", "Oct", "Nov"]);
        assert_eq!(months.series[0].values, [Some(500_000.0), Some(1_000_000.0), Some(2_000_000.0)]);
        // 20 × 30 min = 10 h at 40.00 = 400.00.
        assert_eq!(months.series[1].values[2], Some(400_000_000.0));
        let days = charts.iter().find(|c| c.id == "hours-saved").unwrap();
        assert_eq!(days.labels.len(), 30);
        assert_eq!(days.labels[0], "Nov 1");
        let conf = charts.iter().find(|c| c.id == "confidence").unwrap();
        assert_eq!(conf.series[0].values[8], Some(4.0));
    }
}
