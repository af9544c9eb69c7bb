//! The server's own metrics, served on `GET /metrics` (OpenMetrics text).
//!
//! Names, types and labels are the contract of `docs/metrics.md`: every name is written once,
//! here. Per-service series carry `namespace` and `service`; [`Telemetry::forget`] removes
//! them when a ScaledObject's registration is dropped.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::registry::ObjectKey;

/// A float gauge.
type FGauge = Gauge<f64, AtomicU64>;

/// `namespace`, `service`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// The ScaledObject's namespace.
    pub namespace: String,
    /// The ScaledObject's name.
    pub service: String,
}

impl From<&ObjectKey> for ServiceLabels {
    fn from(key: &ObjectKey) -> Self {
        Self {
            namespace: key.namespace.clone(),
            service: key.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    namespace: String,
    service: String,
    quantile: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeriodLabels {
    namespace: String,
    service: String,
    period: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    namespace: String,
    service: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    namespace: String,
    service: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    namespace: String,
    service: String,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodCodeLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// Every metric of the server. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    observed: Family<ServiceLabels, FGauge>,
    forecast: Family<QuantileLabels, FGauge>,
    accuracy: Family<ServiceLabels, FGauge>,
    coverage: Family<ServiceLabels, FGauge>,
    pattern: Family<PeriodLabels, FGauge>,
    trend: Family<DirectionLabels, FGauge>,
    anomalies: Family<ServiceLabels, Counter>,
    business_hours: Family<ServiceLabels, FGauge>,
    data_age: Family<ServiceLabels, FGauge>,
    history_samples: Family<ServiceLabels, FGauge>,
    desired: Family<ServiceLabels, FGauge>,
    reactive: Family<ServiceLabels, FGauge>,
    active: Family<ServiceLabels, FGauge>,
    reason: Family<ReasonLabels, FGauge>,
    lead: Family<ServiceLabels, FGauge>,
    proactive: Family<KindLabels, Counter>,
    refits: Family<ServiceLabels, Counter>,
    shadow: Family<ServiceLabels, FGauge>,
    slo_target: Family<ServiceLabels, FGauge>,
    slo_predicted: Family<ServiceLabels, FGauge>,
    slo_attainment: Family<ServiceLabels, FGauge>,
    slo_quantile: Family<ServiceLabels, FGauge>,
    slo_utilization: Family<ServiceLabels, FGauge>,
    slo_sla: Family<ServiceLabels, FGauge>,
    slo_latency: Family<ServiceLabels, FGauge>,
    scaled_objects: FGauge,
    registrations_expired: Counter,
    worker_restarts: Counter,
    stale_answers: Counter,
    grpc_requests: Family<MethodCodeLabels, Counter>,
    grpc_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

/// Trend directions, as in `prescale_trend_info{direction}`.
pub const DIRECTIONS: [&str; 4] = ["increasing", "decreasing", "stable", "volatile"];

fn latency_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// All metrics registered, all series empty.
    pub fn new() -> Self {
        let mut t = Self {
            registry: Registry::default(),
            observed: Family::default(),
            forecast: Family::default(),
            accuracy: Family::default(),
            coverage: Family::default(),
            pattern: Family::default(),
            trend: Family::default(),
            anomalies: Family::default(),
            business_hours: Family::default(),
            data_age: Family::default(),
            history_samples: Family::default(),
            desired: Family::default(),
            reactive: Family::default(),
            active: Family::default(),
            reason: Family::default(),
            lead: Family::default(),
            proactive: Family::default(),
            refits: Family::default(),
            shadow: Family::default(),
            slo_target: Family::default(),
            slo_predicted: Family::default(),
            slo_attainment: Family::default(),
            slo_quantile: Family::default(),
            slo_utilization: Family::default(),
            slo_sla: Family::default(),
            slo_latency: Family::default(),
            scaled_objects: FGauge::default(),
            registrations_expired: Counter::default(),
            worker_restarts: Counter::default(),
            stale_answers: Counter::default(),
            grpc_requests: Family::default(),
            grpc_duration: Family::new_with_constructor(latency_histogram),
        };
        let r = &mut t.registry;
        r.register(
            "prescale_observed_demand",
            "Latest demand value read from the service's query",
            t.observed.clone(),
        );
        r.register(
            "prescale_forecast_demand",
            "Forecast demand, maximum over the decision window [now + lead, now + lead + window]",
            t.forecast.clone(),
        );
        r.register(
            "prescale_forecast_accuracy_ratio",
            "1 - WAPE of the forecasts made one lead time ago against what then happened (rolling 24 h)",
            t.accuracy.clone(),
        );
        r.register(
            "prescale_forecast_coverage_ratio",
            "Share of past actuals at or below the P90 forecast (rolling 24 h)",
            t.coverage.clone(),
        );
        r.register(
            "prescale_pattern_detected",
            "1 when that seasonality is detected in the history, else 0",
            t.pattern.clone(),
        );
        r.register(
            "prescale_trend_info",
            "1 for the current trend direction",
            t.trend.clone(),
        );
        r.register(
            "prescale_anomalies",
            "Anomalous samples flagged in the history",
            t.anomalies.clone(),
        );
        r.register(
            "prescale_business_hours",
            "1 inside the service's business hours, else 0 (no calendar: 1)",
            t.business_hours.clone(),
        );
        r.register(
            "prescale_data_age_seconds",
            "Age of the newest sample read for the service",
            t.data_age.clone(),
        );
        r.register(
            "prescale_history_samples",
            "Samples of history held for the service",
            t.history_samples.clone(),
        );
        r.register(
            "prescale_desired_replicas",
            "Replicas the policy decided (what KEDA is told, except in shadow mode)",
            t.desired.clone(),
        );
        r.register(
            "prescale_reactive_replicas",
            "Replicas the live demand alone needs",
            t.reactive.clone(),
        );
        r.register(
            "prescale_decision_active",
            "1 when IsActive answers true",
            t.active.clone(),
        );
        r.register(
            "prescale_decision_info",
            "1 for the reason of the latest decision",
            t.reason.clone(),
        );
        r.register(
            "prescale_lead_seconds",
            "Lead time used (cold-start P95)",
            t.lead.clone(),
        );
        r.register(
            "prescale_proactive_events",
            "Decisions that moved ahead of the live need",
            t.proactive.clone(),
        );
        r.register("prescale_refits", "Forecast model refits", t.refits.clone());
        r.register(
            "prescale_shadow_mode",
            "1 when the service is in forecast-only mode (or the server runs --dry-run)",
            t.shadow.clone(),
        );
        r.register(
            "prescale_slo_target_ratio",
            "SLO mode: the share of demand to serve within the SLA",
            t.slo_target.clone(),
        );
        r.register(
            "prescale_slo_predicted_ratio",
            "SLO mode: the chosen headroom's share of demand within the SLA on the replayed days",
            t.slo_predicted.clone(),
        );
        r.register(
            "prescale_slo_attainment_ratio",
            "SLO mode: the share of demand within the SLA over the error budget's window \
             (28 days), as replayed with the headroom that ran",
            t.slo_attainment.clone(),
        );
        r.register(
            "prescale_slo_quantile",
            "SLO mode: the forecast quantile chosen",
            t.slo_quantile.clone(),
        );
        r.register(
            "prescale_slo_utilization_ratio",
            "SLO mode: the target utilization chosen (share of a replica's capacity)",
            t.slo_utilization.clone(),
        );
        r.register(
            "prescale_slo_sla_seconds",
            "SLO mode: the SLA on the queueing delay",
            t.slo_sla.clone(),
        );
        r.register(
            "prescale_slo_measured_latency_seconds",
            "SLO mode: the latency the service's latencyQuery measured",
            t.slo_latency.clone(),
        );
        r.register(
            "prescale_scaled_objects",
            "ScaledObjects registered",
            t.scaled_objects.clone(),
        );
        r.register(
            "prescale_worker_restarts",
            "Workers restarted after a panic",
            t.worker_restarts.clone(),
        );
        r.register(
            "prescale_stale_answers",
            "Calls answered UNAVAILABLE because the latest decision was too old",
            t.stale_answers.clone(),
        );
        r.register(
            "prescale_registrations_expired",
            "Registrations dropped after runtime.registration_ttl without a call from KEDA",
            t.registrations_expired.clone(),
        );
        r.register(
            "prescale_grpc_requests",
            "gRPC calls answered",
            t.grpc_requests.clone(),
        );
        r.register(
            "prescale_grpc_request_duration_seconds",
            "gRPC request latency",
            t.grpc_duration.clone(),
        );
        t
    }

    /// The registry, to register more metrics (the collector's, the cost tracker's) before the
    /// telemetry is shared.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one gRPC call and its latency.
    pub fn grpc_call(&self, method: &'static str, code: tonic::Code, secs: f64) {
        self.grpc_requests
            .get_or_create(&MethodCodeLabels {
                method,
                code: code_name(code),
            })
            .inc();
        self.grpc_duration
            .get_or_create(&MethodLabels { method })
            .observe(secs);
    }

    /// Sets the number of registered ScaledObjects.
    pub fn set_scaled_objects(&self, n: usize) {
        self.scaled_objects.set(n as f64);
    }

    /// A worker panicked and is restarted.
    pub fn worker_restarted(&self) {
        self.worker_restarts.inc();
    }

    /// A call found only a too old decision.
    pub fn stale_answer(&self) {
        self.stale_answers.inc();
    }

    /// `n` registrations expired.
    pub fn registrations_expired(&self, n: usize) {
        self.registrations_expired.inc_by(n as u64);
    }

    /// The per-service metrics of `key`.
    pub fn service(&self, key: &ObjectKey) -> ServiceMetrics<'_> {
        ServiceMetrics {
            t: self,
            labels: ServiceLabels::from(key),
        }
    }

    /// Removes every series of `key` (whose own forecast quantile is `quantile`).
    pub fn forget(&self, key: &ObjectKey, quantile: f64) {
        let l = ServiceLabels::from(key);
        for f in [
            &self.observed,
            &self.accuracy,
            &self.coverage,
            &self.business_hours,
            &self.data_age,
            &self.history_samples,
            &self.desired,
            &self.reactive,
            &self.active,
            &self.lead,
            &self.shadow,
            &self.slo_target,
            &self.slo_predicted,
            &self.slo_attainment,
            &self.slo_quantile,
            &self.slo_utilization,
            &self.slo_sla,
            &self.slo_latency,
        ] {
            f.remove(&l);
        }
        self.anomalies.remove(&l);
        self.refits.remove(&l);
        let ns = || l.namespace.clone();
        let svc = || l.service.clone();
        for q in [0.5, 0.9, quantile] {
            self.forecast.remove(&QuantileLabels {
                namespace: ns(),
                service: svc(),
                quantile: quantile_label(q),
            });
        }
        for period in ["daily", "weekly"] {
            self.pattern.remove(&PeriodLabels {
                namespace: ns(),
                service: svc(),
                period,
            });
        }
        for direction in DIRECTIONS {
            self.trend.remove(&DirectionLabels {
                namespace: ns(),
                service: svc(),
                direction,
            });
        }
        for reason in REASONS {
            self.reason.remove(&ReasonLabels {
                namespace: ns(),
                service: svc(),
                reason,
            });
        }
        for kind in PROACTIVE_KINDS {
            self.proactive.remove(&KindLabels {
                namespace: ns(),
                service: svc(),
                kind,
            });
        }
    }
}

/// Every decision reason label.
const REASONS: [&str; 9] = [
    "reactive",
    "predictive",
    "anomaly",
    "stale",
    "wakeup",
    "idle",
    "budget_capped",
    "floor",
    "invalid_spec",
];

/// Every `kind` of `prescale_proactive_events_total`.
pub const PROACTIVE_KINDS: [&str; 4] = ["prewarm", "scale_down", "scale_to_zero", "wake_up"];

/// The per-service metrics of one ScaledObject.
#[derive(Debug)]
pub struct ServiceMetrics<'a> {
    t: &'a Telemetry,
    labels: ServiceLabels,
}

impl ServiceMetrics<'_> {
    fn extra<T>(&self, make: impl FnOnce(String, String) -> T) -> T {
        make(self.labels.namespace.clone(), self.labels.service.clone())
    }

    /// Latest demand value read.
    pub fn observed(&self, value: f64, age_secs: f64) {
        self.t.observed.get_or_create(&self.labels).set(value);
        self.t.data_age.get_or_create(&self.labels).set(age_secs);
    }

    /// Forecast demand over the decision window at `quantile`.
    pub fn forecast(&self, quantile: f64, value: f64) {
        let q = quantile_label(quantile);
        self.t
            .forecast
            .get_or_create(&self.extra(|namespace, service| QuantileLabels {
                namespace,
                service,
                quantile: q,
            }))
            .set(value);
    }

    /// Accuracy and P90 coverage of past forecasts.
    pub fn accuracy(&self, accuracy: Option<f64>, coverage: Option<f64>) {
        if let Some(a) = accuracy {
            self.t.accuracy.get_or_create(&self.labels).set(a);
        }
        if let Some(c) = coverage {
            self.t.coverage.get_or_create(&self.labels).set(c);
        }
    }

    /// Detected seasonalities and the trend direction.
    pub fn patterns(&self, daily: bool, weekly: bool, direction: &'static str) {
        for (period, on) in [("daily", daily), ("weekly", weekly)] {
            self.t
                .pattern
                .get_or_create(&self.extra(|namespace, service| PeriodLabels {
                    namespace,
                    service,
                    period,
                }))
                .set(f64::from(u8::from(on)));
        }
        for d in DIRECTIONS {
            self.t
                .trend
                .get_or_create(&self.extra(|namespace, service| DirectionLabels {
                    namespace,
                    service,
                    direction: d,
                }))
                .set(f64::from(u8::from(d == direction)));
        }
    }

    /// The latency the service's `latencyQuery` measured, seconds.
    pub fn measured_latency(&self, secs: f64) {
        self.t.slo_latency.get_or_create(&self.labels).set(secs);
    }

    /// Adds newly flagged anomalous samples.
    pub fn anomalies(&self, new: u64) {
        self.t.anomalies.get_or_create(&self.labels).inc_by(new);
    }

    /// Business hours now (no calendar: open).
    pub fn business_hours(&self, open: bool) {
        self.t
            .business_hours
            .get_or_create(&self.labels)
            .set(f64::from(u8::from(open)));
    }

    /// Samples of history held.
    pub fn history_samples(&self, n: usize) {
        self.t
            .history_samples
            .get_or_create(&self.labels)
            .set(n as f64);
    }

    /// One forecast refit.
    pub fn refit(&self) {
        self.t.refits.get_or_create(&self.labels).inc();
    }

    /// SLO mode's latest tuning: the SLO and the SLA, the predicted attainment of the chosen
    /// headroom, the error budget window's attainment, the quantile and target utilization.
    pub fn tuning(&self, slo: f64, sla_secs: f64, t: &prescale_sim::tune::Tuning) {
        let (predicted, quantile, utilization) =
            (t.predicted_sla, t.headroom.quantile, t.headroom.utilization);
        self.t
            .slo_attainment
            .get_or_create(&self.labels)
            .set(t.attainment);
        self.t.slo_target.get_or_create(&self.labels).set(slo);
        self.t.slo_sla.get_or_create(&self.labels).set(sla_secs);
        self.t
            .slo_predicted
            .get_or_create(&self.labels)
            .set(predicted);
        self.t
            .slo_quantile
            .get_or_create(&self.labels)
            .set(quantile);
        self.t
            .slo_utilization
            .get_or_create(&self.labels)
            .set(utilization);
    }

    /// The latest decision.
    pub fn decision(
        &self,
        desired: u32,
        reactive: u32,
        active: bool,
        reason: &'static str,
        lead_secs: i64,
        shadow: bool,
    ) {
        self.t
            .desired
            .get_or_create(&self.labels)
            .set(f64::from(desired));
        self.t
            .reactive
            .get_or_create(&self.labels)
            .set(f64::from(reactive));
        self.t
            .active
            .get_or_create(&self.labels)
            .set(f64::from(u8::from(active)));
        for r in REASONS {
            let labels = self.extra(|namespace, service| ReasonLabels {
                namespace,
                service,
                reason: r,
            });
            if r == reason {
                self.t.reason.get_or_create(&labels).set(1.0);
            } else {
                self.t.reason.remove(&labels);
            }
        }
        self.t
            .lead
            .get_or_create(&self.labels)
            .set(lead_secs as f64);
        self.t
            .shadow
            .get_or_create(&self.labels)
            .set(f64::from(u8::from(shadow)));
    }

    /// One proactive event of `kind` (one of [`PROACTIVE_KINDS`]).
    pub fn proactive(&self, kind: &'static str) {
        self.t
            .proactive
            .get_or_create(&self.extra(|namespace, service| KindLabels {
                namespace,
                service,
                kind,
            }))
            .inc();
    }
}

/// The `quantile` label of a level: `0.5`, `0.9`, `0.95`.
fn quantile_label(q: f64) -> String {
    format!("{q}")
}

/// The gRPC code's name as in the gRPC specification (`OK`, `INVALID_ARGUMENT`, ...).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name of docs/metrics.md this crate owns is exported once touched; the cost
    /// metrics (prescale-kube) and the collector's (prescale-collect) are registered by
    /// their crates, which check them against the same document.
    #[test]
    fn exports_the_documented_names() {
        let mut t = Telemetry::new();
        // The store's metrics are registered beside these when there is a data directory.
        let store = crate::state::metrics::StoreMetrics::new();
        store.register(t.registry_mut());
        store.set_up(true);
        store.set_pending(0);
        store.error("storage");
        store.recovered(crate::state::metrics::Recovery::Reopen);
        let key = ObjectKey::new("ns", "svc");
        let m = t.service(&key);
        m.observed(3.0, 10.0);
        m.forecast(0.9, 4.0);
        m.accuracy(Some(0.8), Some(0.9));
        m.patterns(true, false, "stable");
        m.anomalies(2);
        m.business_hours(true);
        m.history_samples(10);
        m.refit();
        m.tuning(
            0.99,
            0.5,
            &prescale_sim::tune::Tuning {
                at: chrono::DateTime::UNIX_EPOCH,
                headroom: prescale_sim::tune::Headroom::CONSERVATIVE,
                predicted_sla: 0.995,
                predicted_gpu_hours: 100.0,
                target: 0.99,
                margin: 0.0,
                days: 7.0,
                attainment: 0.992,
                catch_up: 0.0,
            },
        );
        m.measured_latency(0.42);
        m.decision(2, 1, true, "predictive", 180, false);
        m.proactive("prewarm");
        t.set_scaled_objects(1);
        t.registrations_expired(1);
        t.worker_restarted();
        t.stale_answer();
        t.grpc_call("GetMetrics", tonic::Code::Ok, 0.001);
        let text = t.encode();
        let doc = include_str!("../../../../docs/metrics.md");
        let mut checked = 0;
        let mut section = "";
        for line in doc.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                section = h;
            }
            if section == "Cost" || !line.starts_with("| `prescale_") {
                continue;
            }
            let name = line.split('`').nth(1).unwrap_or_default();
            if name.starts_with("prescale_collector_") {
                continue;
            }
            let family = name.trim_end_matches("_total");
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{name} missing:\n{text}"
            );
            let sample = if name.ends_with("_seconds")
                && family == "prescale_grpc_request_duration_seconds"
            {
                format!("{name}_count{{")
            } else {
                format!("{name}{{")
            };
            assert!(
                text.contains(&sample) || text.contains(&format!("{name} ")),
                "{name}: no sample\n{text}"
            );
            checked += 1;
        }
        assert_eq!(checked, 35, "{text}");
        t.forget(&key, 0.9);
        assert!(!t.encode().contains("service=\"svc\""), "{}", t.encode());
    }
}
