//! The cost metrics of docs/metrics.md ("Cost"), as `prometheus-client` families.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `namespace` and `service` of a per-service metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ServiceLabels {
    pub(crate) namespace: String,
    pub(crate) service: String,
}

/// [`ServiceLabels`] plus `capacity` (`on_demand` or `spot`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct CapacityLabels {
    pub(crate) namespace: String,
    pub(crate) service: String,
    pub(crate) capacity: String,
}

/// The two capacity label values.
pub(crate) const ON_DEMAND: &str = "on_demand";
/// See [`ON_DEMAND`].
pub(crate) const SPOT: &str = "spot";

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// The families; cloning shares them (they are reference-counted).
#[derive(Debug, Clone, Default)]
pub(crate) struct CostMetrics {
    pub(crate) replicas: Family<CapacityLabels, FloatGauge>,
    pub(crate) replica_hours: Family<CapacityLabels, FloatCounter>,
    pub(crate) gpu_hours: Family<ServiceLabels, FloatCounter>,
    pub(crate) static_gpu_hours: Family<ServiceLabels, FloatCounter>,
    pub(crate) cost_usd: Family<CapacityLabels, FloatCounter>,
    pub(crate) month_cost_usd: Family<ServiceLabels, FloatGauge>,
    pub(crate) monthly_budget_usd: Family<ServiceLabels, FloatGauge>,
    pub(crate) budget_used_ratio: Family<ServiceLabels, FloatGauge>,
    pub(crate) price_per_hour_usd: Family<CapacityLabels, FloatGauge>,
}

impl CostMetrics {
    /// Registers every family in `registry`. Counters are registered without `_total`, which
    /// the encoder appends.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "prescale_replicas",
            "Running replicas (Kubernetes API, else the decision)",
            self.replicas.clone(),
        );
        registry.register(
            "prescale_replica_hours",
            "Replica-hours accumulated",
            self.replica_hours.clone(),
        );
        registry.register(
            "prescale_gpu_hours",
            "GPU-hours accumulated (replica-hours times GPUs per replica)",
            self.gpu_hours.clone(),
        );
        registry.register(
            "prescale_static_gpu_hours",
            "GPU-hours that static provisioning at maxReplicas would have used over the same time",
            self.static_gpu_hours.clone(),
        );
        registry.register(
            "prescale_cost_usd",
            "Dollars accumulated",
            self.cost_usd.clone(),
        );
        registry.register(
            "prescale_month_cost_usd",
            "Dollars spent in the current calendar month (UTC)",
            self.month_cost_usd.clone(),
        );
        registry.register(
            "prescale_monthly_budget_usd",
            "The service's monthly budget (absent when none)",
            self.monthly_budget_usd.clone(),
        );
        registry.register(
            "prescale_budget_used_ratio",
            "Month cost divided by the monthly budget",
            self.budget_used_ratio.clone(),
        );
        registry.register(
            "prescale_price_per_hour_usd",
            "Price of one replica-hour",
            self.price_per_hour_usd.clone(),
        );
    }

    /// Drops every series of a service.
    pub(crate) fn remove(&self, namespace: &str, service: &str) {
        let s = ServiceLabels {
            namespace: namespace.to_string(),
            service: service.to_string(),
        };
        for family in [&self.gpu_hours, &self.static_gpu_hours] {
            family.remove(&s);
        }
        for family in [
            &self.month_cost_usd,
            &self.monthly_budget_usd,
            &self.budget_used_ratio,
        ] {
            family.remove(&s);
        }
        for capacity in [ON_DEMAND, SPOT] {
            let c = CapacityLabels {
                namespace: namespace.to_string(),
                service: service.to_string(),
                capacity: capacity.to_string(),
            };
            self.replicas.remove(&c);
            self.price_per_hour_usd.remove(&c);
            self.replica_hours.remove(&c);
            self.cost_usd.remove(&c);
        }
    }
}
