//! The summary table: one row per policy, every field of its summary in readable units.

use std::fmt::Write as _;

use prescale_sim::report::{BacktestReport, PolicySummary};

use crate::figures::{hex, policy_color};
use crate::format::{count, escape, grouped};

/// Which value of a column is best, for the columns that mark it.
#[derive(Clone, Copy)]
enum Best {
    Lowest,
    Highest,
}

/// How a column's best value is found: which end, of which value.
type BestOf = (Best, fn(&PolicySummary) -> f64);

/// A column: its header, how a cell shows, and whether the best value is marked.
struct Column {
    header: &'static str,
    cell: fn(&PolicySummary) -> String,
    best: Option<BestOf>,
}

const COLUMNS: &[Column] = &[
    Column {
        header: "GPU-hours",
        cell: |p| grouped(p.gpu_hours, 1),
        best: None,
    },
    Column {
        header: "Cost ($)",
        cell: |p| grouped(p.cost_usd, 2),
        best: Some((Best::Lowest, |p| p.cost_usd)),
    },
    Column {
        header: "Under&shy;provisioned (min)",
        cell: |p| grouped(p.underprovisioned_minutes, 0),
        best: Some((Best::Lowest, |p| p.underprovisioned_minutes)),
    },
    Column {
        header: "SLA attainment (%)",
        cell: |p| grouped(p.sla_attainment * 100.0, 2),
        best: Some((Best::Highest, |p| p.sla_attainment)),
    },
    Column {
        header: "P95 latency (ms)",
        cell: |p| grouped(p.p95_latency_ms, 0),
        best: Some((Best::Lowest, |p| p.p95_latency_ms)),
    },
    Column {
        header: "Queue peak",
        cell: |p| grouped(p.queue_peak, 1),
        best: None,
    },
    Column {
        header: "Cold starts",
        cell: |p| count(p.cold_starts),
        best: None,
    },
    Column {
        header: "Scale events",
        cell: |p| count(p.scale_events),
        best: None,
    },
    Column {
        header: "Wake-ups",
        cell: |p| count(p.wakeups),
        best: None,
    },
    Column {
        header: "Warm first requests",
        cell: warm_first_requests,
        best: None,
    },
    Column {
        header: "Mean replicas",
        cell: |p| grouped(p.mean_replicas, 2),
        best: None,
    },
];

/// `warm / all (share)` of the first requests after an idle gap.
fn warm_first_requests(p: &PolicySummary) -> String {
    let (warm, all) = (p.warm_first_requests, p.first_requests_after_idle);
    if all == 0 {
        return format!("{} / {}", count(warm), count(all));
    }
    let share = warm as f64 / all as f64 * 100.0;
    format!("{} / {} ({}%)", count(warm), count(all), grouped(share, 0))
}

/// The best finite value of a column over `policies` (none with fewer than two policies).
fn best_value(
    policies: &[PolicySummary],
    best: Best,
    value: fn(&PolicySummary) -> f64,
) -> Option<f64> {
    if policies.len() < 2 {
        return None;
    }
    let finite = policies.iter().map(value).filter(|v| v.is_finite());
    match best {
        Best::Lowest => finite.reduce(f64::min),
        Best::Highest => finite.reduce(f64::max),
    }
}

/// The `<table>` of the policy summaries, with a colour swatch per policy matching the charts.
pub(crate) fn summary_table(report: &BacktestReport) -> String {
    let policies = &report.policies;
    let mut html = String::from(
        "<div class=\"table-wrap\"><table class=\"summary\">\n<thead><tr><th scope=\"col\">Policy</th>",
    );
    for column in COLUMNS {
        // Headers are constants with entities already in place.
        let _ = write!(html, "<th scope=\"col\">{}</th>", column.header);
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    let bests: Vec<Option<f64>> = COLUMNS
        .iter()
        .map(|c| {
            c.best
                .and_then(|(best, value)| best_value(policies, best, value))
        })
        .collect();
    for (index, policy) in policies.iter().enumerate() {
        let chart_index = report
            .timeline
            .policies
            .iter()
            .position(|p| p.name == policy.name)
            .unwrap_or(index);
        let _ = write!(
            html,
            "<tr><th scope=\"row\"><span class=\"swatch\" style=\"background:{}\"></span>{}</th>",
            hex(policy_color(chart_index)),
            escape(&policy.name)
        );
        for (column, best) in COLUMNS.iter().zip(&bests) {
            let is_best = match (column.best, best) {
                (Some((_, value)), Some(best)) => value(policy) == *best,
                _ => false,
            };
            let class = if is_best { " class=\"best\"" } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", escape(&(column.cell)(policy)));
        }
        html.push_str("</tr>\n");
    }
    if policies.is_empty() {
        let _ = writeln!(
            html,
            "<tr><td class=\"empty\" colspan=\"{}\">no policies in this backtest</td></tr>",
            COLUMNS.len() + 1
        );
    }
    html.push_str("</tbody>\n</table></div>\n");
    html
}
