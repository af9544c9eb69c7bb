//! What the HTTP API shows for a ScaledObject: patterns, trend, anomalies, forecast, decision
//! with its reason, the safety state and the collector's last error.

use chrono::{DateTime, Utc};
use prescale_forecast::seasonality::Period;
use prescale_forecast::trend::Trend;
use prescale_policy::Decision;
use serde::Serialize;

use crate::keda::answer::{Answer, ObjectKey};
use crate::keda::metadata::{Mode, Settings};

/// How far the decisions can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No decision yet (backfilling, or no fresh live data since the start): KEDA is answered
    /// `UNAVAILABLE`, so that it and the HPA keep the current replicas.
    Starting,
    /// Fresh live data and a fresh forecast.
    Ok,
    /// Live data missing or stale: the last decision is held (never scaled to zero).
    Holding,
    /// The forecast is missing or stale: decisions are reactive, on live data only.
    ReactiveFallback,
}

/// One collection error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorView {
    /// When (server time).
    pub at: DateTime<Utc>,
    /// Typed kind (`connect`, `timeout`, `http_status`, `bad_response`, ...).
    pub kind: String,
    /// The message.
    pub message: String,
}

/// The latest demand value read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observed {
    /// The value (after the activation threshold; an empty result reads as 0 with
    /// `ignoreNullValues`).
    pub value: f64,
    /// The time the query was evaluated at.
    pub at: DateTime<Utc>,
}

/// History held for the service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct HistoryView {
    /// One-minute samples held.
    pub samples: usize,
    /// First sample.
    pub start: Option<DateTime<Utc>>,
    /// Last sample.
    pub end: Option<DateTime<Utc>>,
}

/// One forecast step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastStep {
    /// Start of the step.
    pub timestamp: DateTime<Utc>,
    /// Point forecast.
    pub point: f64,
    /// P50.
    pub p50: f64,
    /// The service's quantile.
    pub upper: f64,
}

/// The latest forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastView {
    /// The refresh it was made at.
    pub made_at: DateTime<Utc>,
    /// The model and what it fitted.
    pub model: String,
    /// When the model was last refitted (later refreshes only update it).
    pub fitted_at: DateTime<Utc>,
    /// The quantile of `upper`.
    pub quantile: f64,
    /// The steps.
    pub steps: Vec<ForecastStep>,
}

/// One anomalous sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyView {
    /// When.
    pub timestamp: DateTime<Utc>,
    /// The value.
    pub value: f64,
    /// The value expected there.
    pub expected: f64,
    /// Robust z-score.
    pub score: f64,
}

/// Patterns, trend and anomalies of the history (at the latest refit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// When it was computed.
    pub at: DateTime<Utc>,
    /// Seasonal periods found, strongest first.
    pub patterns: Vec<Period>,
    /// The trend.
    pub trend: Trend,
    /// Anomalous samples in the history.
    pub anomaly_count: usize,
    /// The latest anomalies (up to 20, newest first).
    pub anomalies: Vec<AnomalyView>,
}

/// Accuracy of past forecasts (rolling 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct AccuracyView {
    /// 1 − WAPE of the point forecasts made one lead time ahead.
    pub ratio: Option<f64>,
    /// Share of actuals at or below the forecast at the service's quantile.
    pub coverage: Option<f64>,
    /// Steps scored.
    pub scored: usize,
}

/// The latest decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionView {
    /// When (on the decision grid).
    pub at: DateTime<Utc>,
    /// The one-line reason, e.g. `scale to 5: forecast P90 440/min in [10:03, 10:08] needs 5 (live 250/min needs 3)`.
    pub summary: String,
    /// The decision.
    #[serde(flatten)]
    pub decision: Decision,
}

/// Everything the API shows for one ScaledObject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The mode of the metadata.
    pub mode: Mode,
    /// Whether KEDA is told reactive values only (forecast-only mode or `--dry-run`).
    pub shadow: bool,
    /// The settings.
    pub settings: Settings,
    /// Trust in the decisions.
    pub phase: Phase,
    /// Why the phase is not `ok`.
    pub safety: Option<String>,
    /// The latest decision of the policy.
    pub decision: Option<DecisionView>,
    /// What KEDA is answered (differs from the decision in shadow mode).
    pub reported: Option<Answer>,
    /// The latest forecast.
    pub forecast: Option<ForecastView>,
    /// Patterns, trend, anomalies.
    pub analysis: Option<Analysis>,
    /// Latest live value.
    pub observed: Option<Observed>,
    /// History held.
    pub history: HistoryView,
    /// Accuracy of past forecasts.
    pub accuracy: AccuracyView,
    /// Refits so far.
    pub refits: u64,
    /// SLO mode's latest tuning (the headroom chosen, its predicted SLA and GPU-hours on the
    /// replayed days, the margin, when).
    pub tuning: Option<prescale_sim::tune::Tuning>,
    /// SLO mode: the latency the trigger's `latencyQuery` measured at the latest refresh,
    /// seconds.
    pub measured_latency_seconds: Option<f64>,
    /// The last collection error.
    pub last_error: Option<ErrorView>,
}

impl ServiceStatus {
    /// The status of a fresh registration.
    pub fn new(key: &ObjectKey, settings: &Settings) -> Self {
        Self {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            mode: settings.mode,
            shadow: settings.mode == Mode::ForecastOnly,
            settings: settings.clone(),
            phase: Phase::Starting,
            safety: Some("no decision yet".to_string()),
            decision: None,
            reported: None,
            forecast: None,
            analysis: None,
            observed: None,
            history: HistoryView::default(),
            accuracy: AccuracyView::default(),
            refits: 0,
            tuning: None,
            measured_latency_seconds: None,
            last_error: None,
        }
    }
}

/// One line of `/api/v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Mode.
    pub mode: Mode,
    /// Shadow.
    pub shadow: bool,
    /// Phase.
    pub phase: Phase,
    /// Desired replicas of the latest decision.
    pub desired_replicas: Option<u32>,
    /// Whether active.
    pub active: Option<bool>,
    /// Reason of the latest decision.
    pub reason: Option<String>,
    /// The one-line summary.
    pub summary: Option<String>,
}

impl From<&ServiceStatus> for ServiceSummary {
    fn from(s: &ServiceStatus) -> Self {
        Self {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            mode: s.mode,
            shadow: s.shadow,
            phase: s.phase,
            desired_replicas: s.decision.as_ref().map(|d| d.decision.desired_replicas),
            active: s.decision.as_ref().map(|d| d.decision.active),
            reason: s
                .decision
                .as_ref()
                .map(|d| d.decision.reason.as_str().to_string()),
            summary: s.decision.as_ref().map(|d| d.summary.clone()),
        }
    }
}
