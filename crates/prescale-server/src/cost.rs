//! Cost tracking in the server (issue 7's `CostTracker` from `prescale-kube`): every
//! [`CostLoop::period`] the running replicas of each registered ScaledObject are read — from
//! the Kubernetes API (the HPA KEDA made for it) when a [`ReplicaSource`] is given, else the
//! replicas the server reported — and billed. The tracker's metrics go to `/metrics`, its
//! snapshot to `/api/v1/cost`; each service's budget state and running replicas go back to
//! its worker ([`Signals`]), so that an exhausted budget drops the predictive headroom.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prescale_core::Clock;
use prescale_kube::cost::{CostConfig, CostTracker};
use prescale_kube::{ReplicaSource, Workload, WorkloadKind};
use prescale_policy::BudgetState;
use tokio::sync::watch;

use crate::api::http::CostReport;
use crate::registry::{ObjectKey, Registry};
use crate::timebase::TimeBase;

/// What the cost loop tells the workers.
#[derive(Debug, Default)]
pub struct Signals {
    budgets: RwLock<HashMap<ObjectKey, BudgetState>>,
    running: RwLock<HashMap<ObjectKey, u32>>,
    ready: RwLock<HashMap<ObjectKey, u32>>,
}

impl Signals {
    /// The budget state of `key` (Ok when unknown).
    pub fn budget(&self, key: &ObjectKey) -> BudgetState {
        self.budgets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Replicas of `key` ready according to the Kubernetes API, when it says.
    pub fn ready(&self, key: &ObjectKey) -> Option<u32> {
        self.ready
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// Replicas of `key` running according to the Kubernetes API, when read.
    pub fn running(&self, key: &ObjectKey) -> Option<u32> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }
}

/// A [`Clock`] on server time.
#[derive(Debug, Clone, Copy)]
pub struct TimeClock(pub TimeBase);

impl Clock for TimeClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// The cost loop. See the [module documentation](self).
pub struct CostLoop {
    config: CostConfig,
    tracker: Mutex<CostTracker>,
    replicas: Option<Arc<dyn ReplicaSource>>,
    signals: Arc<Signals>,
    /// How often replicas are read and billed (default 60 s).
    pub period: Duration,
}

impl std::fmt::Debug for CostLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostLoop").finish_non_exhaustive()
    }
}

impl CostLoop {
    /// A loop pricing with `config`, reading replicas from `replicas` (else the decisions),
    /// registering its metrics in `registry`.
    pub fn new(
        config: CostConfig,
        replicas: Option<Arc<dyn ReplicaSource>>,
        time: TimeBase,
        signals: Arc<Signals>,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Self {
        let tracker = CostTracker::new(Arc::new(TimeClock(time)));
        tracker.register(registry);
        Self {
            config,
            tracker: Mutex::new(tracker),
            replicas,
            signals,
            period: Duration::from_secs(60),
        }
    }

    /// One round: track new services, forget dropped ones, read and bill replicas, update the
    /// signals.
    pub async fn round(&self, registry: &Registry) {
        let slots = registry.slots();
        let mut observed = Vec::with_capacity(slots.len());
        for slot in &slots {
            let key = &slot.key;
            let reported = slot.answer().map(|a| a.replicas);
            let from_api = match &self.replicas {
                Some(source) => {
                    let w = Workload::new(WorkloadKind::ScaledObject, &key.namespace, &key.name);
                    match source.replicas(&w).await {
                        Ok(r) => Some(r),
                        Err(e) => {
                            tracing::debug!(scaled_object = %key, error = %e, "Replicas unreadable; billing the reported ones.");
                            None
                        }
                    }
                }
                None => None,
            };
            let billed = from_api.as_ref().map(|r| r.running).or(reported);
            observed.push((slot.clone(), from_api, billed));
        }
        let mut tracker = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        let keep: HashSet<(String, String)> = slots
            .iter()
            .map(|s| (s.key.namespace.clone(), s.key.name.clone()))
            .collect();
        let tracked: Vec<(String, String)> = tracker
            .snapshot()
            .services
            .iter()
            .map(|s| (s.namespace.clone(), s.service.clone()))
            .collect();
        for (ns, name) in tracked {
            if !keep.contains(&(ns.clone(), name.clone())) {
                tracker.remove_service(&ns, &name);
            }
        }
        let (mut running, mut ready) = (HashMap::new(), HashMap::new());
        for (slot, from_api, billed) in observed {
            let key = &slot.key;
            let max = slot.registration().settings.max_replicas;
            match self.config.resolve(&key.to_string()) {
                Ok(cost) => tracker.set_service(&key.namespace, &key.name, cost, max),
                Err(e) => {
                    tracing::warn!(scaled_object = %key, error = %e, "Bad cost settings; not billed.");
                    continue;
                }
            }
            if let Some(n) = billed
                && let Err(e) = tracker.observe(&key.namespace, &key.name, n)
            {
                tracing::warn!(scaled_object = %key, error = %e, "Could not bill replicas.");
            }
            if let Some(r) = from_api {
                running.insert(key.clone(), r.running);
                if let Some(n) = r.ready {
                    ready.insert(key.clone(), n);
                }
            }
        }
        let budgets = tracker
            .snapshot()
            .services
            .into_iter()
            .map(|s| (ObjectKey::new(s.namespace, s.service), s.budget_state))
            .collect();
        drop(tracker);
        *self
            .signals
            .budgets
            .write()
            .unwrap_or_else(|e| e.into_inner()) = budgets;
        *self
            .signals
            .running
            .write()
            .unwrap_or_else(|e| e.into_inner()) = running;
        *self
            .signals
            .ready
            .write()
            .unwrap_or_else(|e| e.into_inner()) = ready;
    }

    /// Runs rounds every [`Self::period`] of server time until `shutdown` turns true.
    pub async fn run(
        self: Arc<Self>,
        registry: Arc<Registry>,
        time: TimeBase,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let period = self.period.as_secs().max(1) as i64;
        loop {
            self.round(&registry).await;
            let next = crate::timebase::next_after(time.now(), period, 0);
            tokio::select! {
                () = time.sleep_until(next) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
    }
}

impl CostReport for CostLoop {
    fn snapshot(&self) -> prescale_kube::cost::CostSnapshot {
        self.tracker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keda::metadata::Settings;
    use crate::registry::{Answer, Registration, Slot, Starter};

    /// Answers 10 replicas at once.
    struct Ten;

    impl Starter for Ten {
        fn start(&self, slot: Arc<Slot>, reg: Arc<Registration>) {
            slot.publish(Answer::new(&reg.settings, 10, true, Utc::now()));
        }
    }

    #[tokio::test]
    async fn bills_reported_replicas_and_signals_an_exhausted_budget() {
        let registry = Registry::new(Arc::new(Ten));
        let md: std::collections::HashMap<String, String> = [
            ("serverAddress", "http://p:9090"),
            ("query", "up"),
            ("threshold", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::from_metadata(&md).unwrap();
        registry.register(ObjectKey::new("ml", "chat"), settings, md);
        let config: CostConfig =
            yaml_serde::from_str("defaults: {price_per_hour: 100.0, monthly_budget_usd: 1.0}\n")
                .unwrap();
        let signals = Arc::new(Signals::default());
        let mut metrics = prometheus_client::registry::Registry::default();
        let cost = CostLoop::new(
            config,
            None,
            TimeBase::real(),
            signals.clone(),
            &mut metrics,
        );
        let key = ObjectKey::new("ml", "chat");
        assert_eq!(signals.budget(&key), BudgetState::Ok);
        cost.round(&registry).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        cost.round(&registry).await;
        // Ten replicas at 100 $/h burn through a 1 $ budget: the policy gets Exhausted.
        assert_eq!(signals.budget(&key), BudgetState::Exhausted);
        // Without the Kubernetes API there is no running count of its own.
        assert_eq!(signals.running(&key), None);
        let json = cost.cost_json();
        assert_eq!(json["services"][0]["replicas"]["on_demand"], 10);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics).unwrap();
        assert!(text.contains("prescale_cost_usd_total"), "{text}");
        // A dropped registration is no longer billed.
        registry.remove(&key);
        cost.round(&registry).await;
        assert!(cost.cost_json()["services"].as_array().unwrap().is_empty());
    }
}
