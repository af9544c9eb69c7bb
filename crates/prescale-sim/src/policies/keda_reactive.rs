//! `keda_reactive`: KEDA with a Prometheus request-rate trigger, feeding the Kubernetes HPA
//! (guide: anchors §1.4–1.5):
//!
//! - the metric is the arrival rate over the last minute (`rate(...[1m])`), AverageValue target
//!   = one replica's capacity;
//! - KEDA polls every 30 s for activation (0 ↔ 1): active when the metric is above 0; after
//!   300 s (cooldownPeriod) without activity it scales to zero; from zero it sets 1 replica;
//! - from 1 replica up, the HPA syncs every 15 s: `ceil(metric / target)` unless within the 10%
//!   tolerance, normalized by its `behavior` (the Kubernetes defaults unless the ScaledObject
//!   sets one: scale-up at most max(2 × current, 4) per sync, scale-down stabilized over
//!   300 s).
//!
//! KEDA and the HPA are the policy engine's own ([`crate::policies::keda::KedaHpa`]).

use crate::autoscaler::{Autoscaler, Observation};
use crate::policies::keda::{KedaHpa, KedaSettings};

/// KEDA + HPA with the ScaledObject's settings (KEDA's and the HPA's defaults unless set).
#[derive(Debug)]
pub struct KedaReactive {
    scaler: Option<KedaHpa>,
    settings: KedaSettings,
    max_replicas: u32,
}

impl KedaReactive {
    /// KEDA's and the HPA's defaults, up to `max_replicas`.
    pub fn new(max_replicas: u32) -> Self {
        Self::with_settings(KedaSettings::default(), max_replicas)
    }

    /// With `settings`, up to `max_replicas`.
    pub fn with_settings(settings: KedaSettings, max_replicas: u32) -> Self {
        Self {
            scaler: None,
            settings,
            max_replicas,
        }
    }
}

impl Autoscaler for KedaReactive {
    fn name(&self) -> &'static str {
        "keda_reactive"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let (settings, max) = (&self.settings, self.max_replicas);
        let scaler = self
            .scaler
            .get_or_insert_with(|| KedaHpa::new(settings, max, obs.now));
        let metric = obs.rate_over(60.0);
        let active = metric > 0.0 || obs.queue > 0.0;
        scaler.tick(obs.now, Some(active), &[(metric, obs.capacity_per_min)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn obs(t: f64, rates: &[f64], queue: f64) -> Observation<'_> {
        Observation {
            now: DateTime::from_timestamp(t as i64, 0).unwrap(),
            elapsed_secs: t,
            tick_secs: 15.0,
            history: &[],
            history_start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 60,
            recent_rates: rates,
            queue,
            ready: 0,
            total: 0,
            capacity_per_min: 10.0,
            budget: prescale_policy::BudgetState::Ok,
        }
    }

    #[test]
    fn activates_then_follows_hpa_maths_then_cools_down_to_zero() {
        // Demand stops at 90 s: the last active poll is at 60 s.
        let mut k = KedaReactive::new(100);
        // Idle: stays at zero.
        assert_eq!(k.desired(&obs(0.0, &[0.0; 4], 0.0)), 0);
        // 95/min arrives: the next poll (30 s) activates 1 replica, and the same tick's HPA
        // sync proposes ceil(95/10) = 10, limited to max(2 × 1, 4) = 4.
        assert_eq!(k.desired(&obs(30.0, &[95.0; 4], 0.0)), 4);
        // 15 s later: 4 → 8 (doubling), then 10.
        assert_eq!(k.desired(&obs(45.0, &[95.0; 4], 0.0)), 8);
        assert_eq!(k.desired(&obs(60.0, &[95.0; 4], 0.0)), 10);
        // Within the 10% tolerance (ratio 1.05): no change.
        assert_eq!(k.desired(&obs(75.0, &[105.0; 4], 0.0)), 10);
        // Demand stops: the 300 s scale-down stabilization holds 10 ...
        assert_eq!(k.desired(&obs(90.0, &[0.0; 4], 0.0)), 10);
        // ... and strictly after 300 s since the last active poll KEDA scales to zero.
        assert_eq!(k.desired(&obs(360.0, &[0.0; 4], 0.0)), 10);
        assert_eq!(k.desired(&obs(390.0, &[0.0; 4], 0.0)), 0);
    }
}
