//! Page-level tests on synthetic reports built by hand.

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{TimeZone, Utc};
use prescale_sim::report::{BacktestReport, PolicySummary, PolicyTimeline, Settings, Timeline};

use super::render_html;
use common::synthetic_report;

/// The number of points of every `points="…"` attribute of `html`.
fn point_counts(html: &str) -> Vec<usize> {
    html.split("points=\"")
        .skip(1)
        .map(|rest| {
            let list = rest.split('"').next().unwrap_or_default();
            list.split_whitespace().count()
        })
        .collect()
}

fn empty_report() -> BacktestReport {
    BacktestReport {
        trace: String::new(),
        settings: Settings {
            capacity_per_replica_per_min: f64::NAN,
            cold_start_secs: 0.0,
            sla_ms: 0.0,
            price_per_hour: 0.0,
            tick_secs: 0,
        },
        policies: Vec::new(),
        timeline: Timeline {
            start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            step_secs: 0,
            demand: Vec::new(),
            policies: Vec::new(),
        },
    }
}

#[test]
fn page_has_the_summary_rows_and_four_charts() {
    let report = synthetic_report("trace.csv", 300, 60);
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for header in [
        "GPU-hours",
        "Cost ($)",
        "SLA attainment (%)",
        "P95 latency (ms)",
        "Queue peak",
        "Cold starts",
        "Scale events",
        "Wake-ups",
        "Warm first requests",
        "Mean replicas",
        "provisioned (min)",
    ] {
        assert!(html.contains(&format!("{header}</th>")), "header {header}");
    }
    for policy in &report.policies {
        let row = html
            .split("<tr><th scope=\"row\">")
            .find(|row| row.contains(&format!("</span>{}</th>", policy.name)))
            .unwrap_or_else(|| panic!("no row for {}", policy.name));
        let row = row.split("</tr>").next().unwrap();
        assert_eq!(row.matches("<td").count(), 11, "{row}");
        let cost = format!("<td>{}</td>", crate::format::grouped(policy.cost_usd, 2));
        assert!(row.contains(&cost) || row.contains(&cost.replace("<td>", "<td class=\"best\">")));
        let warm = format!(
            ">{} / {}",
            policy.warm_first_requests, policy.first_requests_after_idle
        );
        assert!(row.contains(&warm), "{row}");
    }
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 4);
    assert_eq!(html.matches("</svg>").count(), 4);
    for heading in [
        "Demand and ready capacity",
        "Forecast band",
        "Cumulative cost",
        "Replicas",
    ] {
        assert!(html.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert!(
        html.contains("time (UTC)") && html.contains(">\n04:00\n</text>"),
        "time ticks"
    );
    assert!(
        html.contains("2024-01-01 00:00 to 2024-01-01 05:00 UTC (5 h), 300 samples every 1 min")
    );
    assert!(html.contains("<dd>$2.50 per replica-hour</dd>") && html.contains("<dd>3 min</dd>"));
    assert!(!html.contains("NaN") && !html.contains("inf"));
}

#[test]
fn text_from_the_report_is_escaped() {
    let mut report = synthetic_report("a<b>&c.csv", 120, 60);
    report.policies[0].name = "<script>alert(1)</script>".into();
    report.timeline.policies[0].name = "<script>alert(1)</script>".into();
    let html = render_html(&report);
    assert!(html.contains("<title>prescale backtest: a&lt;b&gt;&amp;c.csv</title>"));
    assert!(html.contains("<h1>Backtest of a&lt;b&gt;&amp;c.csv</h1>"));
    assert!(!html.contains("a<b>") && !html.contains("<script"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;</th>"),
        "table"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\n</text>"),
        "legend"
    );
}

#[test]
fn page_loads_nothing() {
    let html = render_html(&synthetic_report("t.csv", 200, 60));
    assert!(
        html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
    );
    for needle in [
        "http:", "https:", "src=", "href=", "url(", "@import", "<link", "<img",
    ] {
        assert!(!html.contains(needle), "{needle}");
    }
}

#[test]
fn a_month_at_one_minute_stays_small() {
    let report = synthetic_report("month.csv", 30 * 1440, 60);
    let html = render_html(&report);
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    let counts = point_counts(&html);
    assert!(
        counts.iter().all(|&n| n <= 1_502),
        "{:?}",
        counts.iter().max()
    );
    assert!(
        counts.iter().any(|&n| n > 1_000),
        "long series are drawn in detail"
    );
    assert!(html.contains(">\nJan 08\n</text>") && html.contains(">\nJan 29\n</text>"));
    assert!(html.contains("one bucket per 58 min"));
}

#[test]
fn nan_forecasts_are_gaps() {
    let mut report = synthetic_report("gaps.csv", 400, 60);
    let prescale = &mut report.timeline.policies[2];
    for i in 200..250 {
        prescale.forecast_p50.as_mut().unwrap()[i] = f64::NAN;
        prescale.forecast_upper.as_mut().unwrap()[i] = f64::NAN;
    }
    let html = render_html(&report);
    let forecast = html.split("<h2>Forecast band</h2>").nth(1).unwrap();
    let forecast = forecast.split("</svg>").next().unwrap().to_lowercase();
    // NaN over the first tenth and over 200..250: two segments each of band and P50.
    assert_eq!(forecast.matches("<polygon").count(), 2, "two band parts");
    assert_eq!(
        forecast.matches("stroke=\"#e15759\"").count(),
        2 + 1,
        "two P50 parts, swatch"
    );
    assert!(!html.contains("NaN"));
}

#[test]
fn empty_timelines_and_no_policies_do_not_panic() {
    let html = render_html(&empty_report());
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 4);
    assert!(html.contains("no policies in this backtest"));
    assert!(html.contains("no data: the timeline is empty"));
    assert!(html.contains("<dd>– per minute</dd>"));

    // Policies without series, series of different lengths, non-finite values.
    let mut report = empty_report();
    report.timeline.step_secs = -5;
    report.timeline.demand = vec![1.0, f64::INFINITY, 3.0];
    report.policies.push(PolicySummary {
        name: "odd".into(),
        gpu_hours: f64::NAN,
        cost_usd: f64::INFINITY,
        underprovisioned_minutes: 0.0,
        sla_attainment: f64::NAN,
        p95_latency_ms: 0.0,
        queue_peak: 0.0,
        cold_starts: u64::MAX,
        scale_events: 0,
        wakeups: 0,
        first_requests_after_idle: 0,
        warm_first_requests: 0,
        mean_replicas: 0.0,
    });
    report.timeline.policies.push(PolicyTimeline {
        name: "odd".into(),
        capacity: vec![1.0; 10],
        replicas: Vec::new(),
        cost_usd: vec![f64::NAN],
        forecast_p50: Some(Vec::new()),
        forecast_upper: None,
    });
    let html = render_html(&report);
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 4);
    assert!(html.contains("<td>–</td>") && html.contains("<td>0 / 0</td>"));
}
