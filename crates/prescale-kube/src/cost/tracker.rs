//! [`CostTracker`]: replica-hours, GPU-hours and dollars per service from the running replica
//! counts, priced and budgeted by the policy crate's [`CostMeter`] (the backtest's code).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prescale_core::Clock;
use prescale_policy::cost::month_start;
use prescale_policy::{BudgetState, CostMeter};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tracing::warn;

use super::config::ResolvedCost;
use super::metrics::{CapacityLabels, CostMetrics, ON_DEMAND, SPOT, ServiceLabels};
use crate::error::{Error, Result};

/// A value per capacity type.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ByCapacity<T> {
    /// On-demand capacity.
    pub on_demand: T,
    /// Spot (preemptible) capacity.
    pub spot: T,
}

/// What a service has cost so far, for `/api/v1/cost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceCostSnapshot {
    /// Namespace of the ScaledObject.
    pub namespace: String,
    /// Name of the ScaledObject.
    pub service: String,
    /// GPU type, if one is configured.
    pub gpu_type: Option<String>,
    /// Replicas running at the latest observation.
    pub replicas: ByCapacity<u32>,
    /// Price of one replica-hour.
    pub price_per_hour_usd: ByCapacity<f64>,
    /// Replica-hours accumulated.
    pub replica_hours: ByCapacity<f64>,
    /// GPU-hours accumulated.
    pub gpu_hours: f64,
    /// GPU-hours static provisioning at `maxReplicas` would have used over the same time.
    pub static_gpu_hours: f64,
    /// `static_gpu_hours - gpu_hours`.
    pub gpu_hours_saved: f64,
    /// Dollars accumulated.
    pub cost_usd: ByCapacity<f64>,
    /// Dollars accumulated, both capacities.
    pub total_cost_usd: f64,
    /// What the spot replica-hours would have cost more on demand.
    pub spot_savings_usd: f64,
    /// Dollars spent in the current calendar month (UTC).
    pub month_cost_usd: f64,
    /// The monthly budget, if any.
    pub monthly_budget_usd: Option<f64>,
    /// `month_cost_usd / monthly_budget_usd` (absent without a positive budget).
    pub budget_used_ratio: Option<f64>,
    /// Whether the month-to-date cost plus the current burn rate until the end of the month
    /// stays within the budget (the policy engine's rule; after a price or budget change it
    /// counts the month's cost since the change).
    pub budget_state: BudgetState,
}

/// Totals over every service.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CostTotals {
    /// Replica-hours, both capacities.
    pub replica_hours: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// GPU-hours of static provisioning at `maxReplicas`.
    pub static_gpu_hours: f64,
    /// Dollars.
    pub cost_usd: f64,
    /// Dollars this calendar month.
    pub month_cost_usd: f64,
    /// Dollars saved by spot capacity.
    pub spot_savings_usd: f64,
}

/// The body of `/api/v1/cost`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostSnapshot {
    /// When the snapshot was taken.
    pub at: DateTime<Utc>,
    /// Start of the current calendar month (UTC).
    pub month_start: DateTime<Utc>,
    /// One entry per service, ordered by namespace and name.
    pub services: Vec<ServiceCostSnapshot>,
    /// Sums over the services.
    pub totals: CostTotals,
}

/// One pricing era of a service: the meters of the prices in force during it.
#[derive(Debug, Clone)]
struct Era {
    cost: ResolvedCost,
    meter: CostMeter,
    /// Records `maxReplicas` on demand: static provisioning.
    static_meter: CostMeter,
}

impl Era {
    fn new(cost: ResolvedCost) -> Self {
        Self {
            meter: CostMeter::new(cost.spec.clone()),
            static_meter: CostMeter::new(cost.spec.clone()),
            cost,
        }
    }

    fn cost_on_demand(&self) -> f64 {
        self.meter.on_demand_hours() * self.cost.spec.price_per_hour
    }

    fn cost_spot(&self) -> f64 {
        self.meter.spot_hours() * self.cost.spec.spot_price_per_hour()
    }

    fn spot_savings(&self) -> f64 {
        self.meter.spot_hours()
            * (self.cost.spec.price_per_hour - self.cost.spec.spot_price_per_hour())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Observation {
    at: Option<DateTime<Utc>>,
    on_demand: u32,
    spot: u32,
}

#[derive(Debug, Clone)]
struct Tracked {
    max_replicas: u32,
    /// Earlier eras, oldest first; the current one is `era`.
    closed: Vec<Era>,
    era: Era,
    last: Observation,
    /// Counter totals already exported (counters only move by deltas).
    exported: [f64; 6],
}

impl Tracked {
    fn eras(&self) -> impl Iterator<Item = &Era> {
        self.closed.iter().chain(std::iter::once(&self.era))
    }

    fn sum(&self, f: impl Fn(&Era) -> f64) -> f64 {
        self.eras().map(f).sum()
    }
}

/// Replica-hours, GPU-hours and dollars per service, exported as the cost metrics of
/// docs/metrics.md and as a [`CostSnapshot`].
///
/// Each [`observe`](Self::observe) bills the interval since the previous observation of the
/// service at the replica counts seen then (counts hold between observations), and bills
/// static provisioning at `maxReplicas` over the same interval for comparison. The time comes
/// from the [`Clock`] given at construction.
pub struct CostTracker {
    clock: Arc<dyn Clock>,
    services: BTreeMap<(String, String), Tracked>,
    metrics: CostMetrics,
}

impl std::fmt::Debug for CostTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostTracker")
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

fn key(namespace: &str, service: &str) -> (String, String) {
    (namespace.to_string(), service.to_string())
}

impl CostTracker {
    /// An empty tracker reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            services: BTreeMap::new(),
            metrics: CostMetrics::default(),
        }
    }

    /// Registers the cost metrics in `registry` (once per registry).
    pub fn register(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// Starts tracking a service, or updates its settings. Changed prices or budget start a
    /// new pricing era: what was accumulated keeps the prices it was accumulated at.
    pub fn set_service(
        &mut self,
        namespace: &str,
        service: &str,
        cost: ResolvedCost,
        max_replicas: u32,
    ) {
        let entry = self
            .services
            .entry(key(namespace, service))
            .or_insert_with(|| Tracked {
                max_replicas,
                closed: Vec::new(),
                era: Era::new(cost.clone()),
                last: Observation::default(),
                exported: [0.0; 6],
            });
        entry.max_replicas = max_replicas;
        if entry.era.cost != cost {
            let old = std::mem::replace(&mut entry.era, Era::new(cost));
            entry.closed.push(old);
        }
        let labels = ServiceLabels {
            namespace: namespace.to_string(),
            service: service.to_string(),
        };
        let spec = &entry.era.cost.spec;
        for (capacity, price) in [
            (ON_DEMAND, spec.price_per_hour),
            (SPOT, spec.spot_price_per_hour()),
        ] {
            self.metrics
                .price_per_hour_usd
                .get_or_create(&capacity_labels(namespace, service, capacity))
                .set(price);
        }
        match spec.monthly_budget_usd {
            Some(b) => {
                self.metrics
                    .monthly_budget_usd
                    .get_or_create(&labels)
                    .set(b);
            }
            None => {
                self.metrics.monthly_budget_usd.remove(&labels);
                self.metrics.budget_used_ratio.remove(&labels);
            }
        }
    }

    /// Stops tracking a service and drops its series.
    pub fn remove_service(&mut self, namespace: &str, service: &str) {
        self.services.remove(&key(namespace, service));
        self.metrics.remove(namespace, service);
    }

    /// Records that `running` replicas of the service run now, split into on demand and spot
    /// by its spot share.
    pub fn observe(&mut self, namespace: &str, service: &str, running: u32) -> Result<()> {
        let tracked = self.get(namespace, service)?;
        let (on_demand, spot) = tracked.era.cost.split(running);
        self.observe_split(namespace, service, on_demand, spot)
    }

    /// Records that `on_demand` and `spot` replicas of the service run now.
    pub fn observe_split(
        &mut self,
        namespace: &str,
        service: &str,
        on_demand: u32,
        spot: u32,
    ) -> Result<()> {
        let now = self.clock.now();
        let tracked = self
            .services
            .get_mut(&key(namespace, service))
            .ok_or_else(|| Error::UnknownService {
                service: format!("{namespace}/{service}"),
            })?;
        if let Some(prev) = tracked.last.at {
            let secs = now.signed_duration_since(prev).as_seconds_f64();
            if secs >= 0.0 {
                let last = tracked.last;
                tracked
                    .era
                    .meter
                    .record(prev, last.on_demand, last.spot, secs);
                tracked
                    .era
                    .static_meter
                    .record(prev, tracked.max_replicas, 0, secs);
            } else {
                warn!(
                    namespace,
                    service,
                    from = %prev,
                    to = %now,
                    "Clock went backwards; the interval is not billed."
                );
            }
        }
        tracked.last = Observation {
            at: Some(now),
            on_demand,
            spot,
        };
        self.export(namespace, service, now);
        Ok(())
    }

    fn get(&self, namespace: &str, service: &str) -> Result<&Tracked> {
        self.services
            .get(&key(namespace, service))
            .ok_or_else(|| Error::UnknownService {
                service: format!("{namespace}/{service}"),
            })
    }

    /// Pushes a service's state into the metric families.
    fn export(&mut self, namespace: &str, service: &str, now: DateTime<Utc>) {
        let Some(snapshot) = self.service_snapshot(namespace, service, now) else {
            return;
        };
        let Some(tracked) = self.services.get_mut(&key(namespace, service)) else {
            return;
        };
        let m = &self.metrics;
        let s = ServiceLabels {
            namespace: namespace.to_string(),
            service: service.to_string(),
        };
        let od = capacity_labels(namespace, service, ON_DEMAND);
        let sp = capacity_labels(namespace, service, SPOT);
        m.replicas
            .get_or_create(&od)
            .set(f64::from(snapshot.replicas.on_demand));
        m.replicas
            .get_or_create(&sp)
            .set(f64::from(snapshot.replicas.spot));
        let totals = [
            snapshot.replica_hours.on_demand,
            snapshot.replica_hours.spot,
            snapshot.gpu_hours,
            snapshot.static_gpu_hours,
            snapshot.cost_usd.on_demand,
            snapshot.cost_usd.spot,
        ];
        for (i, total) in totals.into_iter().enumerate() {
            let delta = total - tracked.exported[i];
            if !(delta.is_finite() && delta > 0.0) {
                continue;
            }
            tracked.exported[i] = total;
            match i {
                0 => m.replica_hours.get_or_create(&od).inc_by(delta),
                1 => m.replica_hours.get_or_create(&sp).inc_by(delta),
                2 => m.gpu_hours.get_or_create(&s).inc_by(delta),
                3 => m.static_gpu_hours.get_or_create(&s).inc_by(delta),
                4 => m.cost_usd.get_or_create(&od).inc_by(delta),
                _ => m.cost_usd.get_or_create(&sp).inc_by(delta),
            };
        }
        m.month_cost_usd
            .get_or_create(&s)
            .set(snapshot.month_cost_usd);
        if let Some(r) = snapshot.budget_used_ratio {
            m.budget_used_ratio.get_or_create(&s).set(r);
        }
    }

    fn service_snapshot(
        &self,
        namespace: &str,
        service: &str,
        now: DateTime<Utc>,
    ) -> Option<ServiceCostSnapshot> {
        let t = self.services.get(&key(namespace, service))?;
        let month = month_start(now);
        let spec = &t.era.cost.spec;
        let cost_od = t.sum(Era::cost_on_demand);
        let cost_spot = t.sum(Era::cost_spot);
        let gpu_hours = t.sum(|e| e.meter.gpu_hours());
        let static_gpu_hours = t.sum(|e| e.static_meter.gpu_hours());
        let month_cost = t.sum(|e| e.meter.month_cost_usd(month));
        let budget = spec.monthly_budget_usd;
        let burn = spec.burn_per_hour(t.last.on_demand, t.last.spot);
        Some(ServiceCostSnapshot {
            namespace: namespace.to_string(),
            service: service.to_string(),
            gpu_type: t.era.cost.gpu_type.clone(),
            replicas: ByCapacity {
                on_demand: t.last.on_demand,
                spot: t.last.spot,
            },
            price_per_hour_usd: ByCapacity {
                on_demand: spec.price_per_hour,
                spot: spec.spot_price_per_hour(),
            },
            replica_hours: ByCapacity {
                on_demand: t.sum(|e| e.meter.on_demand_hours()),
                spot: t.sum(|e| e.meter.spot_hours()),
            },
            gpu_hours,
            static_gpu_hours,
            gpu_hours_saved: static_gpu_hours - gpu_hours,
            cost_usd: ByCapacity {
                on_demand: cost_od,
                spot: cost_spot,
            },
            total_cost_usd: t.sum(|e| e.meter.cost_usd()),
            spot_savings_usd: t.sum(Era::spot_savings),
            month_cost_usd: month_cost,
            monthly_budget_usd: budget,
            budget_used_ratio: budget.filter(|b| *b > 0.0).map(|b| month_cost / b),
            budget_state: t.era.meter.budget_state(now, month, burn),
        })
    }

    /// What every service has cost so far, at the clock's time.
    pub fn snapshot(&self) -> CostSnapshot {
        let now = self.clock.now();
        let services: Vec<ServiceCostSnapshot> = self
            .services
            .keys()
            .filter_map(|(ns, name)| self.service_snapshot(ns, name, now))
            .collect();
        let mut totals = CostTotals::default();
        for s in &services {
            totals.replica_hours += s.replica_hours.on_demand + s.replica_hours.spot;
            totals.gpu_hours += s.gpu_hours;
            totals.static_gpu_hours += s.static_gpu_hours;
            totals.cost_usd += s.total_cost_usd;
            totals.month_cost_usd += s.month_cost_usd;
            totals.spot_savings_usd += s.spot_savings_usd;
        }
        CostSnapshot {
            at: now,
            month_start: month_start(now),
            services,
            totals,
        }
    }
}

fn capacity_labels(namespace: &str, service: &str, capacity: &str) -> CapacityLabels {
    CapacityLabels {
        namespace: namespace.to_string(),
        service: service.to_string(),
        capacity: capacity.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostConfig;
    use chrono::Duration;
    use prescale_core::ManualClock;
    use prometheus_client::encoding::text::encode;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn config() -> CostConfig {
        yaml_serde::from_str(
            "gpu_types: {a100: {price_per_hour: 4.0, spot_discount: 0.75}}\n\
             services:\n  inference/chat: {gpu_type: a100, gpus_per_replica: 2, spot_share: 0.5,\n    \
             monthly_budget_usd: 1000}\n  batch/embed: {price_per_hour: 1.0}",
        )
        .unwrap()
    }

    fn setup(start: &str) -> (Arc<ManualClock>, CostTracker, Registry) {
        let clock = Arc::new(ManualClock::new(utc(start)));
        let mut tracker = CostTracker::new(clock.clone());
        let mut registry = Registry::default();
        tracker.register(&mut registry);
        let c = config();
        tracker.set_service(
            "inference",
            "chat",
            c.resolve("inference/chat").unwrap(),
            10,
        );
        tracker.set_service("batch", "embed", c.resolve("batch/embed").unwrap(), 4);
        (clock, tracker, registry)
    }

    fn exposition(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn bills_intervals_at_the_counts_seen_before_them() {
        let (clock, mut tracker, registry) = setup("2024-03-10T10:00:00Z");
        // 4 replicas: 2 on demand (8 $/h each), 2 on spot (2 $/h each).
        tracker.observe("inference", "chat", 4).unwrap();
        tracker.observe_split("batch", "embed", 3, 0).unwrap();
        clock.advance(Duration::minutes(30));
        tracker.observe("inference", "chat", 6).unwrap(); // 3 + 3 from now on
        clock.advance(Duration::minutes(30));
        tracker.observe("inference", "chat", 0).unwrap();
        tracker.observe_split("batch", "embed", 0, 0).unwrap();

        let snap = tracker.snapshot();
        assert_eq!(snap.month_start, utc("2024-03-01T00:00:00Z"));
        let embed = &snap.services[0];
        assert_eq!(
            (embed.namespace.as_str(), embed.service.as_str()),
            ("batch", "embed")
        );
        assert!(close(embed.replica_hours.on_demand, 3.0));
        assert!(close(embed.total_cost_usd, 3.0));
        let chat = &snap.services[1];
        // 0.5 h × 2 + 0.5 h × 3 on each capacity.
        assert!(close(chat.replica_hours.on_demand, 2.5));
        assert!(close(chat.replica_hours.spot, 2.5));
        assert!(close(chat.gpu_hours, 10.0));
        assert!(close(chat.static_gpu_hours, 20.0)); // 10 replicas × 2 GPUs × 1 h
        assert!(close(chat.gpu_hours_saved, 10.0));
        assert!(close(chat.cost_usd.on_demand, 20.0));
        assert!(close(chat.cost_usd.spot, 5.0));
        assert!(close(chat.total_cost_usd, 25.0));
        assert!(close(chat.spot_savings_usd, 15.0));
        assert!(close(chat.month_cost_usd, 25.0));
        assert_eq!(chat.monthly_budget_usd, Some(1000.0));
        assert!(close(chat.budget_used_ratio.unwrap(), 0.025));
        assert_eq!(chat.budget_state, BudgetState::Ok);
        assert_eq!(
            chat.replicas,
            ByCapacity {
                on_demand: 0,
                spot: 0
            }
        );
        assert!(close(snap.totals.cost_usd, 28.0));
        assert!(close(snap.totals.replica_hours, 8.0));

        let text = exposition(&registry);
        for line in [
            r#"prescale_replica_hours_total{namespace="inference",service="chat",capacity="on_demand"} 2.5"#,
            r#"prescale_replica_hours_total{namespace="inference",service="chat",capacity="spot"} 2.5"#,
            r#"prescale_gpu_hours_total{namespace="inference",service="chat"} 10.0"#,
            r#"prescale_static_gpu_hours_total{namespace="inference",service="chat"} 20.0"#,
            r#"prescale_cost_usd_total{namespace="inference",service="chat",capacity="on_demand"} 20.0"#,
            r#"prescale_cost_usd_total{namespace="inference",service="chat",capacity="spot"} 5.0"#,
            r#"prescale_month_cost_usd{namespace="inference",service="chat"} 25.0"#,
            r#"prescale_monthly_budget_usd{namespace="inference",service="chat"} 1000.0"#,
            r#"prescale_budget_used_ratio{namespace="inference",service="chat"} 0.025"#,
            r#"prescale_price_per_hour_usd{namespace="inference",service="chat",capacity="on_demand"} 8.0"#,
            r#"prescale_price_per_hour_usd{namespace="inference",service="chat",capacity="spot"} 2.0"#,
            r#"prescale_replicas{namespace="inference",service="chat",capacity="spot"} 0.0"#,
            r#"prescale_cost_usd_total{namespace="batch",service="embed",capacity="on_demand"} 3.0"#,
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        // No budget: no budget series.
        assert!(!text.contains(r#"prescale_monthly_budget_usd{namespace="batch""#));
        assert!(!text.contains(r#"prescale_budget_used_ratio{namespace="batch""#));
    }

    #[test]
    fn month_cost_restarts_with_the_month_and_budget_is_projected() {
        let (clock, mut tracker, _registry) = setup("2024-01-31T23:00:00Z");
        tracker.observe_split("inference", "chat", 5, 0).unwrap(); // 40 $/h
        clock.advance(Duration::hours(2)); // 1 h in January, 1 h in February
        tracker.observe_split("inference", "chat", 5, 0).unwrap();
        let chat = tracker.snapshot().services[1].clone();
        assert!(close(chat.total_cost_usd, 80.0));
        assert!(close(chat.month_cost_usd, 40.0));
        // 40 $ so far plus 40 $/h for the rest of February is far over 1000 $.
        assert_eq!(chat.budget_state, BudgetState::Exhausted);
        tracker.observe_split("inference", "chat", 0, 0).unwrap();
        assert_eq!(tracker.snapshot().services[1].budget_state, BudgetState::Ok);
    }

    #[test]
    fn a_price_change_keeps_earlier_cost_at_earlier_prices() {
        let (clock, mut tracker, registry) = setup("2024-05-01T00:00:00Z");
        tracker.observe_split("batch", "embed", 2, 0).unwrap();
        clock.advance(Duration::hours(1));
        tracker.observe_split("batch", "embed", 2, 0).unwrap(); // 2 $ at 1 $/h
        let pricier: CostConfig = yaml_serde::from_str("defaults: {price_per_hour: 3.0}").unwrap();
        tracker.set_service("batch", "embed", pricier.resolve("batch/embed").unwrap(), 4);
        clock.advance(Duration::hours(1));
        tracker.observe_split("batch", "embed", 2, 0).unwrap(); // 6 $ at 3 $/h
        let embed = &tracker.snapshot().services[0];
        assert!(close(embed.total_cost_usd, 8.0));
        assert!(close(embed.cost_usd.on_demand, 8.0));
        assert!(close(embed.replica_hours.on_demand, 4.0));
        assert!(close(embed.price_per_hour_usd.on_demand, 3.0));
        assert!(close(embed.static_gpu_hours, 8.0));
        let text = exposition(&registry);
        assert!(text.contains(
            r#"prescale_cost_usd_total{namespace="batch",service="embed",capacity="on_demand"} 8.0"#
        ));
        // Same settings again: nothing changes.
        tracker.set_service("batch", "embed", pricier.resolve("batch/embed").unwrap(), 4);
        assert!(close(tracker.snapshot().services[0].total_cost_usd, 8.0));
    }

    #[test]
    fn unknown_services_backward_clocks_and_removal() {
        let (clock, mut tracker, registry) = setup("2024-05-01T00:00:00Z");
        let err = tracker.observe("x", "y", 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cost of x/y: service not registered with the cost tracker"
        );
        tracker.observe_split("batch", "embed", 2, 0).unwrap();
        clock.set(utc("2024-04-30T23:00:00Z"));
        tracker.observe_split("batch", "embed", 2, 0).unwrap();
        assert_eq!(tracker.snapshot().services[0].total_cost_usd, 0.0);
        clock.advance(Duration::hours(1));
        tracker.observe_split("batch", "embed", 2, 0).unwrap();
        assert!(close(tracker.snapshot().services[0].total_cost_usd, 2.0));
        tracker.remove_service("batch", "embed");
        assert_eq!(tracker.snapshot().services.len(), 1);
        assert!(!exposition(&registry).contains(r#"service="embed""#));
    }

    #[test]
    fn snapshot_serialises_for_the_api() {
        let (_clock, mut tracker, _registry) = setup("2024-05-01T00:00:00Z");
        tracker.observe("inference", "chat", 3).unwrap();
        let json = serde_json::to_value(tracker.snapshot()).unwrap();
        assert_eq!(json["at"], "2024-05-01T00:00:00Z");
        let chat = &json["services"][1];
        assert_eq!(chat["service"], "chat");
        assert_eq!(chat["gpu_type"], "a100");
        assert_eq!(chat["replicas"]["on_demand"], 1);
        assert_eq!(chat["replicas"]["spot"], 2);
        // 12 $/h for the 744 h of May is over the 1000 $ budget.
        assert_eq!(chat["budget_state"], "exhausted");
        assert_eq!(
            json["services"][0]["monthly_budget_usd"],
            serde_json::Value::Null
        );
    }
}
