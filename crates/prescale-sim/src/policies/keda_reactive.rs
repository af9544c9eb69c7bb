//! `keda_reactive`: KEDA with a Prometheus request-rate trigger, feeding the Kubernetes HPA
//! (guide: anchors §1.4–1.5):
//!
//! - the metric is the arrival rate over the last minute (`rate(...[1m])`), AverageValue target
//!   = one replica's capacity;
//! - KEDA polls every 30 s for activation (0 ↔ 1): active when the metric is above 0; after
//!   300 s (cooldownPeriod) without activity it scales to zero; from zero it sets 1 replica;
//! - from 1 replica up, the HPA syncs every 15 s: `ceil(metric / target)` unless within the 10%
//!   tolerance; KEDA creates the HPA without a `behavior` unless the ScaledObject sets one, so
//!   the HPA's legacy limits apply: scale-up at most max(2 × current, 4) per sync, scale-down
//!   stabilized over 300 s ([`prescale_policy::hpa::Hpa::legacy`]).

use chrono::{DateTime, Utc};
use prescale_policy::hpa::{DEFAULT_TOLERANCE, Hpa, average_value_replicas};

use crate::autoscaler::{Autoscaler, Observation};

/// KEDA + HPA with defaults.
#[derive(Debug)]
pub struct KedaReactive {
    hpa: Hpa,
    polling_secs: f64,
    sync_secs: f64,
    cooldown_secs: f64,
    tolerance: f64,
    last_poll: Option<f64>,
    last_sync: Option<f64>,
    last_active: Option<f64>,
    replicas: u32,
}

impl KedaReactive {
    /// KEDA's and the HPA's defaults, up to `max_replicas`.
    pub fn new(max_replicas: u32) -> Self {
        let tolerance = DEFAULT_TOLERANCE;
        Self {
            hpa: Hpa::legacy(1, max_replicas, 300),
            polling_secs: 30.0,
            sync_secs: 15.0,
            cooldown_secs: 300.0,
            tolerance,
            last_poll: None,
            last_sync: None,
            last_active: None,
            replicas: 0,
        }
    }
}

/// Whether a periodic action last run at `last` is due at `now`.
pub(crate) fn due(last: &mut Option<f64>, now: f64, every: f64) -> bool {
    if last.is_none_or(|l| now - l >= every - 1e-9) {
        *last = Some(now);
        true
    } else {
        false
    }
}

impl Autoscaler for KedaReactive {
    fn name(&self) -> &'static str {
        "keda_reactive"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let t = obs.elapsed_secs;
        let now: DateTime<Utc> = obs.now;
        let metric = obs.rate_over(60.0);
        if due(&mut self.last_poll, t, self.polling_secs) {
            if metric > 0.0 || obs.queue > 0.0 {
                self.last_active = Some(t);
                if self.replicas == 0 {
                    self.replicas = 1;
                }
            } else if self.replicas > 0
                && self.last_active.is_none_or(|a| t - a >= self.cooldown_secs)
            {
                self.replicas = 0;
            }
        }
        if self.replicas > 0 && due(&mut self.last_sync, t, self.sync_secs) {
            let raw =
                average_value_replicas(self.replicas, metric, obs.capacity_per_min, self.tolerance);
            self.replicas = self.hpa.step(now, self.replicas, raw.max(1));
        }
        self.replicas
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
        // ... and 300 s after the last activity KEDA scales to zero.
        assert_eq!(k.desired(&obs(390.0, &[0.0; 4], 0.0)), 0);
    }
}
