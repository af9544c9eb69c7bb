//! Running several policies over one trace.

use prescale_core::Series;

use crate::engine::{SimConfig, simulate};
use crate::policies::PolicyKind;
use crate::report::{BacktestReport, PolicySummary, PolicyTimeline, Timeline};

/// The result of one policy's replay.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    /// The summary.
    pub summary: PolicySummary,
    /// The chart series.
    pub timeline: PolicyTimeline,
    /// Demand on the chart grid (the same for every policy).
    pub demand: Vec<f64>,
}

/// Replays `series` through one policy.
pub fn run_policy(
    series: &Series,
    config: &SimConfig,
    kind: PolicyKind,
    options: &crate::policies::PolicyOptions,
) -> PolicyRun {
    let mut policy = kind.build(series, config, options);
    let (summary, timeline, demand) = simulate(series, config, policy.as_mut());
    PolicyRun {
        summary,
        timeline,
        demand,
    }
}

/// Puts the runs of several policies (in report order) into one report.
pub fn assemble(
    trace: &str,
    series: &Series,
    config: &SimConfig,
    runs: Vec<PolicyRun>,
) -> BacktestReport {
    let demand = runs.first().map(|r| r.demand.clone()).unwrap_or_default();
    let (policies, timelines): (Vec<_>, Vec<_>) =
        runs.into_iter().map(|r| (r.summary, r.timeline)).unzip();
    BacktestReport {
        trace: trace.to_string(),
        settings: config.settings(),
        policies,
        timeline: Timeline {
            start: series.start(),
            step_secs: config.timeline_step_secs.max(config.tick_secs),
            demand,
            policies: timelines,
        },
    }
}
