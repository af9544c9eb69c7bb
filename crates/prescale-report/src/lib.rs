//! Self-contained HTML reports of prescale backtests.
//!
//! [`render_html`] turns a [`BacktestReport`] into one HTML page that needs nothing else: the
//! styles are inline, the charts are inline SVG drawn with [plotters], there is no script, and a
//! Content Security Policy forbids the page to load anything. The page can be mailed, attached
//! to a ticket or opened from disk without a network.
//!
//! The page shows the trace and the settings, a table with one row per policy (GPU-hours, cost,
//! under-provisioned minutes, SLA attainment, P95 latency, queue peak, cold starts, scale
//! events, wake-ups, warm first requests, mean replicas) and four charts over time, in UTC:
//! demand against each policy's ready capacity, the forecast band of the forecasting
//! policies against demand, cumulative cost, and replicas.
//!
//! Long timelines are downsampled for drawing to at most about 1,500 points per series (the
//! smallest and the largest value of each bucket, so that peaks and dips stay visible): a
//! 30-day timeline at one sample a minute gives a page of a few hundred kilobytes.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use prescale_sim::report::{BacktestReport, Settings, Timeline};
//!
//! let report = BacktestReport {
//!     trace: "requests.csv".into(),
//!     settings: Settings {
//!         capacity_per_replica_per_min: 60.0,
//!         cold_start_secs: 120.0,
//!         sla_ms: 500.0,
//!         price_per_hour: 2.5,
//!         tick_secs: 10,
//!     },
//!     policies: Vec::new(),
//!     timeline: Timeline {
//!         start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
//!         step_secs: 60,
//!         demand: vec![10.0, 12.0, 11.0],
//!         policies: Vec::new(),
//!     },
//! };
//! let html = prescale_report::render_html(&report);
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert_eq!(html.matches("<svg").count(), 4);
//! ```
//!
//! [`render_frontier_html`] draws the cost–SLA frontier of `prescale tune` the same way, and
//! [`render_time_chart`] draws the report's chart of a few series over time for other pages
//! (the operators' page of `prescale serve`).
//!
//! [plotters]: https://docs.rs/plotters

mod axis;
mod figures;
mod format;
mod frontier;
mod sample;
mod svg;
mod table;
mod timechart;

use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};
use prescale_sim::report::{BacktestReport, Settings, Timeline};

pub use crate::format::escape;
use crate::format::{NOT_A_NUMBER, axis_number, count, duration, grouped};
pub use crate::frontier::{FrontierPoint, FrontierReport, render_frontier_html};
pub use crate::timechart::{
    ChartSize, Series, SeriesColor, SeriesShape, TimeChart, render_time_chart,
};

/// The page's styles.
const STYLE: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f5f6f8; color: #222;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 32px; }
h1 { font-size: 1.55em; margin: 0 0 .15em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin: 0 0 .2em; }
.period { color: #555; margin: 0 0 1em; }
dl.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
  gap: .5em 1.5em; margin: 0 0 1.2em; padding: 12px 16px; background: #fff;
  border: 1px solid #dcdfe4; border-radius: 6px; }
dl.settings div { min-width: 0; }
dl.settings dt { color: #666; font-size: .85em; }
dl.settings dd { margin: 0; font-weight: 600; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid #dcdfe4; border-radius: 6px; }
table.summary { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.summary th, table.summary td { padding: 6px 10px; text-align: right; white-space: nowrap;
  border-bottom: 1px solid #e6e8eb; }
table.summary thead th { background: #eef0f3; font-weight: 600; vertical-align: bottom;
  white-space: normal; }
table.summary th:first-child { text-align: left; }
table.summary tbody th { font-weight: 600; }
table.summary td.best { font-weight: 700; color: #0b6b2e; }
table.summary td.empty { text-align: center; color: #666; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .45em;
  border-radius: 2px; vertical-align: -.05em; }
.notes { color: #555; font-size: .88em; margin: .5em 0 0; }
section.figure { margin: 18px 0; padding: 12px 16px; background: #fff;
  border: 1px solid #dcdfe4; border-radius: 6px; }
.caption { color: #555; font-size: .92em; margin: 0 0 .5em; }
svg.chart { display: block; width: 100%; height: auto; }
footer { color: #777; font-size: .85em; }
"#;

/// Nothing may be loaded: only the inline styles (and inline scripts, for tools that inspect
/// the page; the page has none) are allowed.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

/// Renders `report` as one self-contained HTML page.
///
/// The page names the trace and the settings, has a summary table with a row per policy and
/// four inline SVG charts (demand against ready capacity, the forecast band against demand,
/// cumulative cost and replicas over time, in UTC). All text from the report is escaped, NaN
/// values in series are drawn as gaps, and long timelines are downsampled for drawing. An empty
/// timeline or a report without policies gives a page with empty charts; this never panics.
pub fn render_html(report: &BacktestReport) -> String {
    let trace = escape(&report.trace);
    let mut page = page_start(&format!("prescale backtest: {trace}"));
    let _ = writeln!(page, "<header>\n<h1>Backtest of {trace}</h1>");
    let _ = writeln!(
        page,
        "<p class=\"period\">{}</p>",
        escape(&period(&report.timeline))
    );
    page.push_str(&settings(&report.settings, report.policies.len()));
    page.push_str("</header>\n<section class=\"summary\">\n<h2>Summary per policy</h2>\n");
    page.push_str(&table::summary_table(report));
    page.push_str(NOTES);
    page.push_str("</section>\n");
    for figure in figures::figures(&report.timeline) {
        let _ = write!(
            page,
            "<section class=\"figure\">\n<h2>{}</h2>\n<p class=\"caption\">{}</p>\n{}</section>\n",
            escape(figure.heading),
            escape(&figure.caption),
            figure.svg
        );
    }
    let _ = write!(
        page,
        "<footer>Generated by prescale-report {}. Times are in UTC.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    page
}

/// A page's start, up to its `<main>`: the inline styles, and a Content Security Policy that
/// lets it load nothing. `title` is HTML (escaped by the caller).
fn page_start(title: &str) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"prescale-report {}\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION")
    );
    page
}

/// What the columns of the summary table mean.
const NOTES: &str = "<p class=\"notes\">GPU-hours: replica-hours from the moment a replica is \
requested (cold start included) times GPUs per replica. Under-provisioned: minutes in which \
demand exceeded the ready capacity. SLA attainment: share of the demand served with a queueing \
delay within the SLA. P95 latency: 95th percentile of the queueing delay, weighted by demand. \
Queue peak: largest backlog, in demand units. Wake-ups: scale-ups from zero replicas. Warm first \
requests: demand resumptions after an idle gap that found a ready pod, of all such resumptions. \
Bold: the best value of a column.</p>\n";

/// The timeline's span: `2024-01-01 00:00 to 2024-01-31 00:00 UTC (30 d), 43,200 samples
/// every 1 min`.
fn period(timeline: &Timeline) -> String {
    let n = figures::samples(timeline);
    let step = figures::step_secs(timeline);
    let format = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let span_secs = i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(step);
    let end = TimeDelta::try_seconds(span_secs).and_then(|d| timeline.start.checked_add_signed(d));
    let end = end.map_or_else(|| NOT_A_NUMBER.to_owned(), format);
    format!(
        "{} to {end} UTC ({}), {} samples every {}",
        format(timeline.start),
        duration(span_secs as f64),
        count(n as u64),
        duration(step as f64)
    )
}

/// The settings as a definition list.
fn settings(settings: &Settings, policies: usize) -> String {
    let items = [
        (
            "Capacity per replica",
            format!(
                "{} per minute",
                axis_number(settings.capacity_per_replica_per_min)
            ),
        ),
        ("Cold start (P50)", duration(settings.cold_start_secs)),
        (
            "SLA on queueing delay",
            format!("{} ms", grouped(settings.sla_ms, 0)),
        ),
        (
            "On-demand price",
            format!("${} per replica-hour", grouped(settings.price_per_hour, 2)),
        ),
        ("Simulation tick", duration(settings.tick_secs as f64)),
        ("Policies", count(policies as u64)),
    ];
    let mut html = String::from("<dl class=\"settings\">\n");
    for (name, value) in items {
        let _ = writeln!(
            html,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(name),
            escape(&value)
        );
    }
    html.push_str("</dl>\n");
    html
}

#[cfg(test)]
mod tests;
