//! What the HTTP API shows for a ScaledObject: patterns, trend, anomalies, forecast, decision
//! with its reason, the safety state, the collector's last error, and the last day of the
//! history held ([`DemandView`]) and of decisions ([`RecentView`]).

use std::collections::VecDeque;

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

/// The last day of the history held (one-minute steps) as of the latest refresh: the demand
/// the operators' page charts. Values are kept as `f32`, as in the history itself (about 6 KB
/// per ScaledObject).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DemandView {
    /// Time of the first value (none before the history is read).
    pub start: Option<DateTime<Utc>>,
    /// Seconds between values.
    pub step_secs: i64,
    /// The values, oldest first.
    pub values: Vec<f32>,
}

impl DemandView {
    /// `values` from `start`, `step_secs` apart.
    pub fn new(start: DateTime<Utc>, step_secs: i64, values: &[f64]) -> Self {
        Self {
            start: (!values.is_empty()).then_some(start),
            step_secs,
            values: values.iter().map(|v| *v as f32).collect(),
        }
    }
}

/// Width of a [`RecentView`] bucket: five minutes.
pub const RECENT_BUCKET_SECS: i64 = 300;

/// How far back a [`RecentView`] reaches: one day.
pub const RECENT_SPAN_SECS: i64 = 86_400;

/// One bucket of [`RecentView`]: the largest values of the decisions made in it. Values are
/// kept as `f32` (a chart's precision), so that a day costs about 13 KB per ScaledObject.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecentPoint {
    /// Start of the bucket (on a [`RECENT_BUCKET_SECS`] grid).
    pub at: DateTime<Utc>,
    /// The largest live demand the decisions read (none while live data was missing).
    pub demand: Option<f32>,
    /// The forecast for the decisions' times (from the latest refresh before each): the
    /// largest median.
    pub p50: Option<f32>,
    /// The same at the service's quantile ([`ForecastView::quantile`]).
    pub upper: Option<f32>,
    /// The largest replica count decided.
    pub desired_replicas: u32,
    /// The largest replica count KEDA was answered (below the decision in shadow mode).
    pub reported_replicas: u32,
}

/// The last day of decisions of this registration, in [`RECENT_BUCKET_SECS`] buckets, oldest
/// first (at most a day and one bucket): what the operators' page charts. Kept in memory only:
/// a restart, or new metadata, starts it again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentView {
    /// Seconds per bucket ([`RECENT_BUCKET_SECS`]).
    pub bucket_secs: i64,
    /// The buckets with a decision, oldest first.
    pub points: VecDeque<RecentPoint>,
}

impl Default for RecentView {
    fn default() -> Self {
        Self {
            bucket_secs: RECENT_BUCKET_SECS,
            points: VecDeque::new(),
        }
    }
}

impl RecentView {
    /// The most buckets kept: a day and the current one.
    pub const CAPACITY: usize = (RECENT_SPAN_SECS / RECENT_BUCKET_SECS) as usize + 1;

    /// Notes a decision at `at`: its live `demand`, the forecast `(p50, upper)` for `at`, the
    /// replicas decided and answered. A decision older than the newest bucket is ignored
    /// (time never runs backwards on the decision grid); buckets older than a day go.
    pub fn note(
        &mut self,
        at: DateTime<Utc>,
        demand: Option<f64>,
        forecast: Option<(f64, f64)>,
        desired: u32,
        reported: u32,
    ) {
        let secs = at.timestamp();
        let start = secs - secs.rem_euclid(self.bucket_secs.max(1));
        let Some(bucket) = DateTime::from_timestamp(start, 0) else {
            return;
        };
        let value = |v: f64| v.is_finite().then_some(v as f32);
        let point = RecentPoint {
            at: bucket,
            demand: demand.and_then(value),
            p50: forecast.and_then(|f| value(f.0)),
            upper: forecast.and_then(|f| value(f.1)),
            desired_replicas: desired,
            reported_replicas: reported,
        };
        match self.points.back_mut() {
            Some(last) if last.at == bucket => {
                let max = |a: Option<f32>, b: Option<f32>| match (a, b) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                last.demand = max(last.demand, point.demand);
                last.p50 = max(last.p50, point.p50);
                last.upper = max(last.upper, point.upper);
                last.desired_replicas = last.desired_replicas.max(desired);
                last.reported_replicas = last.reported_replicas.max(reported);
            }
            Some(last) if last.at > bucket => {}
            _ => self.points.push_back(point),
        }
        let oldest = start - RECENT_SPAN_SECS;
        while self
            .points
            .front()
            .is_some_and(|p| p.at.timestamp() < oldest)
            || self.points.len() > Self::CAPACITY
        {
            self.points.pop_front();
        }
    }
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
    /// The last day of it.
    pub demand: DemandView,
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
    /// The last day of decisions, for the operators' page's charts.
    pub recent: RecentView,
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
            demand: DemandView::default(),
            accuracy: AccuracyView::default(),
            refits: 0,
            tuning: None,
            measured_latency_seconds: None,
            last_error: None,
            recent: RecentView::default(),
        }
    }

    /// Notes the latest decision (set just before, with what KEDA was answered) in
    /// [`ServiceStatus::recent`], with the live demand it read (`None`: missing) and the
    /// latest forecast's values for its time.
    pub fn note_recent(&mut self, live: Option<f64>) {
        let Some(decision) = &self.decision else {
            return;
        };
        let at = decision.at;
        let forecast = self.forecast.as_ref().and_then(|f| {
            f.steps
                .iter()
                .rev()
                .find(|s| s.timestamp <= at)
                .filter(|s| (at - s.timestamp).num_seconds() < crate::runtime::STEP_SECS)
                .map(|s| (s.p50, s.upper))
        });
        let desired = decision.decision.desired_replicas;
        let reported = self.reported.map_or(desired, |a| a.replicas);
        self.recent.note(at, live, forecast, desired, reported);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
    }

    #[test]
    fn recent_keeps_the_largest_values_per_bucket_for_a_day() {
        let mut r = RecentView::default();
        r.note(at(0), Some(10.0), Some((8.0, 12.0)), 2, 2);
        r.note(at(15), None, None, 3, 1);
        r.note(at(30), Some(f64::NAN), Some((9.0, f64::INFINITY)), 1, 1);
        assert_eq!(r.points.len(), 1);
        let p = r.points[0];
        assert_eq!(
            (
                p.demand,
                p.p50,
                p.upper,
                p.desired_replicas,
                p.reported_replicas
            ),
            (Some(10.0), Some(9.0), Some(12.0), 3, 2)
        );
        r.note(at(300), None, None, 1, 1);
        // Backwards in time: ignored.
        r.note(at(60), Some(99.0), None, 9, 9);
        assert_eq!(r.points.len(), 2);
        assert_eq!(r.points[0].demand, Some(10.0));
        assert_eq!(r.points[1].demand, None);
        // Two days of decisions every 15 s: a day and a bucket kept, oldest first.
        for k in 0..(2 * 86_400 / 15) {
            r.note(at(600 + 15 * k), Some(k as f64), None, 1, 1);
        }
        assert_eq!(r.points.len(), RecentView::CAPACITY);
        let (first, last) = (r.points.front().unwrap(), r.points.back().unwrap());
        assert_eq!((last.at - first.at).num_seconds(), RECENT_SPAN_SECS);
        assert!(
            r.points
                .iter()
                .zip(r.points.iter().skip(1))
                .all(|(a, b)| a.at < b.at)
        );
        // A gap longer than a day leaves the new bucket alone.
        r.note(at(10 * 86_400), Some(1.0), None, 1, 1);
        assert_eq!(r.points.len(), 1);
    }

    #[test]
    fn a_decision_is_noted_with_the_forecast_for_its_time() {
        let key = ObjectKey::new("ns", "a");
        let md: std::collections::HashMap<String, String> = [
            ("serverAddress", "http://p:9090"),
            ("query", "up"),
            ("threshold", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::from_metadata(&md).unwrap();
        let mut s = ServiceStatus::new(&key, &settings);
        s.note_recent(Some(5.0));
        assert!(s.recent.points.is_empty(), "no decision, nothing noted");
        let step = |m: i64, v: f64| ForecastStep {
            timestamp: at(60 * m),
            point: v,
            p50: v,
            upper: v * 2.0,
        };
        s.forecast = Some(ForecastView {
            made_at: at(0),
            model: "m".into(),
            fitted_at: at(0),
            quantile: 0.9,
            steps: vec![step(0, 1.0), step(1, 2.0), step(2, 3.0)],
        });
        s.decision = Some(DecisionView {
            at: at(75),
            summary: String::new(),
            decision: Decision::scale_to(4, prescale_policy::Reason::Predictive),
        });
        s.reported = Some(Answer::new(&settings, 3, true, at(75)));
        s.note_recent(Some(5.0));
        let p = s.recent.points[0];
        assert_eq!((p.p50, p.upper), (Some(2.0), Some(4.0)));
        assert_eq!((p.desired_replicas, p.reported_replicas), (4, 3));
        // Past the forecast's last step: no band.
        s.decision.as_mut().unwrap().at = at(400);
        s.note_recent(None);
        assert_eq!(
            (s.recent.points[1].p50, s.recent.points[1].demand),
            (None, None)
        );
    }
}
