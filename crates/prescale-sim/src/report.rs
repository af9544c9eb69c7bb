//! What a backtest reports: one summary per policy and the timelines the charts draw.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The outcome of one policy over a whole trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    /// The policy's name (`static_peak`, `keda_reactive`, `knative_kpa`, `crane_dsp`, `prescale`).
    pub name: String,
    /// Replica-hours (a replica is billed from the moment it is requested, cold start included),
    /// times GPUs per replica.
    pub gpu_hours: f64,
    /// Cost in US dollars (on-demand and spot prices applied to the replica-hours).
    pub cost_usd: f64,
    /// Minutes in which demand exceeded the ready capacity.
    pub underprovisioned_minutes: f64,
    /// Share of the demand served with a queueing delay within the SLA (unserved demand at the
    /// end counts as missed).
    pub sla_attainment: f64,
    /// 95th percentile of the queueing delay, in milliseconds, weighted by demand.
    pub p95_latency_ms: f64,
    /// Largest backlog, in demand units.
    pub queue_peak: f64,
    /// Pods started (each pays a cold start).
    pub cold_starts: u64,
    /// Changes of the desired replica count.
    pub scale_events: u64,
    /// Scale-ups from zero replicas.
    pub wakeups: u64,
    /// Demand resumptions after an idle gap (no demand for at least the idle threshold).
    pub first_requests_after_idle: u64,
    /// Of those, how many found a ready pod.
    pub warm_first_requests: u64,
    /// Average ready replicas.
    pub mean_replicas: f64,
}

/// A chart series of one policy, sampled on the timeline's grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyTimeline {
    /// The policy's name.
    pub name: String,
    /// Ready capacity, in demand units per minute.
    pub capacity: Vec<f64>,
    /// Replicas (ready or starting).
    pub replicas: Vec<f64>,
    /// Cumulative cost in US dollars.
    pub cost_usd: Vec<f64>,
    /// For forecasting policies: the P50 forecast of demand per minute used at each sample
    /// (NaN where there was none).
    pub forecast_p50: Option<Vec<f64>>,
    /// For forecasting policies: the upper forecast (the quantile the policy provisions for).
    pub forecast_upper: Option<Vec<f64>>,
}

/// Time series for charts, sampled on a regular grid (typically 1 to 10 minutes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// Time of the first sample.
    pub start: DateTime<Utc>,
    /// Seconds between samples.
    pub step_secs: i64,
    /// Demand, in units per minute.
    pub demand: Vec<f64>,
    /// One entry per policy, in the order of the summaries.
    pub policies: Vec<PolicyTimeline>,
}

/// The settings a backtest ran with, echoed in reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Demand units one ready replica serves per minute.
    pub capacity_per_replica_per_min: f64,
    /// Cold start (P50) in seconds.
    pub cold_start_secs: f64,
    /// SLA on the queueing delay, in milliseconds.
    pub sla_ms: f64,
    /// On-demand price per replica-hour, US dollars.
    pub price_per_hour: f64,
    /// Simulation tick in seconds.
    pub tick_secs: i64,
}

/// A whole backtest: settings, one summary per policy, and the chart timelines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    /// The trace's label (file name).
    pub trace: String,
    /// The settings.
    pub settings: Settings,
    /// One summary per policy.
    pub policies: Vec<PolicySummary>,
    /// Chart data.
    pub timeline: Timeline,
}
