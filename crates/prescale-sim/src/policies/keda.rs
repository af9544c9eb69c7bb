//! KEDA and the HPA on top of a policy's metric, through the policy engine's own
//! [`KedaScaler`] (activation 0 ↔ 1 at polls, cooldown before zero) and [`Hpa`] (the
//! `AverageValue` proposal with its tolerance, stabilization windows and rate-limit
//! policies), with the ScaledObject's settings ([`KedaSettings`]: KEDA's and the HPA's
//! defaults unless set). Every KEDA-driven policy scales through this, as on a cluster.

use chrono::{DateTime, Utc};
use prescale_policy::hpa::{
    Behavior, DEFAULT_DOWNSCALE_STABILIZATION_SECS, DEFAULT_SYNC_SECS, DEFAULT_TOLERANCE,
    average_value_replicas,
};
use prescale_policy::keda::{DEFAULT_COOLDOWN_SECS, DEFAULT_POLLING_SECS};
use prescale_policy::{Hpa, KedaScaler};

/// A ScaledObject's scaling settings as KEDA and the HPA apply them.
#[derive(Debug, Clone, PartialEq)]
pub struct KedaSettings {
    /// `pollingInterval`, seconds (KEDA's default 30).
    pub polling_secs: i64,
    /// `cooldownPeriod`, seconds (KEDA's default 300).
    pub cooldown_secs: i64,
    /// `initialCooldownPeriod`, seconds (KEDA's default 0).
    pub initial_cooldown_secs: i64,
    /// `minReplicaCount` (0: scale to zero allowed).
    pub min_replicas: u32,
    /// The HPA's `behavior`. `None` (KEDA's default: the ScaledObject sets no
    /// `advanced.horizontalPodAutoscalerConfig.behavior`) is an HPA without one, which the
    /// controller normalizes the legacy way: scale-up at most `max(2 × current, 4)` per sync,
    /// scale-down stabilized over 300 s.
    pub behavior: Option<Behavior>,
    /// The HPA's sync period, seconds (15).
    pub sync_secs: i64,
    /// The HPA's tolerance (0.1).
    pub tolerance: f64,
}

impl Default for KedaSettings {
    fn default() -> Self {
        Self {
            polling_secs: DEFAULT_POLLING_SECS,
            cooldown_secs: DEFAULT_COOLDOWN_SECS,
            initial_cooldown_secs: 0,
            min_replicas: 0,
            behavior: None,
            sync_secs: DEFAULT_SYNC_SECS,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// The HPA of `settings` between `min` and `max`.
fn hpa(settings: &KedaSettings, min: u32, max: u32) -> Hpa {
    match &settings.behavior {
        Some(b) => Hpa::new(b.clone(), min, max),
        None => Hpa::legacy(min, max, DEFAULT_DOWNSCALE_STABILIZATION_SECS),
    }
}

/// KEDA's scale loop and the HPA it creates, for one simulated workload.
#[derive(Debug)]
pub struct KedaHpa {
    keda: Option<KedaScaler>,
    hpa: Hpa,
    sync_secs: i64,
    tolerance: f64,
    last_sync: Option<DateTime<Utc>>,
    replicas: u32,
}

impl KedaHpa {
    /// KEDA (created at `created_at`) and its HPA (`minReplicas = max(min, 1)`) up to
    /// `max_replicas`, starting at zero replicas (one when `min_replicas` is above zero).
    pub fn new(settings: &KedaSettings, max_replicas: u32, created_at: DateTime<Utc>) -> Self {
        let mut keda = KedaScaler::new(settings.min_replicas, created_at);
        keda.polling_secs = settings.polling_secs;
        keda.cooldown_secs = settings.cooldown_secs;
        keda.initial_cooldown_secs = settings.initial_cooldown_secs;
        Self {
            keda: Some(keda),
            hpa: hpa(settings, settings.min_replicas.max(1), max_replicas),
            sync_secs: settings.sync_secs.max(1),
            tolerance: settings.tolerance,
            last_sync: None,
            replicas: settings.min_replicas,
        }
    }

    /// An HPA alone (no KEDA: never at zero), starting at `min_replicas`.
    pub fn hpa_only(settings: &KedaSettings, min_replicas: u32, max_replicas: u32) -> Self {
        let min = min_replicas.max(1);
        Self {
            keda: None,
            hpa: hpa(settings, min, max_replicas),
            sync_secs: settings.sync_secs.max(1),
            tolerance: settings.tolerance,
            last_sync: None,
            replicas: min,
        }
    }

    /// The replicas now.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Whether KEDA polls at `now` (it then asks `IsActive`).
    pub fn poll_due(&self, now: DateTime<Utc>) -> bool {
        self.keda.as_ref().is_some_and(|k| k.is_due(now))
    }

    /// Whether the HPA syncs at `now` (it then asks for the metrics).
    pub fn sync_due(&self, now: DateTime<Utc>) -> bool {
        self.last_sync
            .is_none_or(|l| (now - l).num_seconds() >= self.sync_secs)
    }

    /// One tick at `now`: KEDA's poll when due with the trigger's `active` answer (`None`: the
    /// scaler gave no answer, KEDA does nothing), then the HPA's sync when due with the
    /// metrics' values against their `AverageValue` targets (`(value, target)` pairs; the
    /// largest proposal wins). Returns the replicas.
    pub fn tick(
        &mut self,
        now: DateTime<Utc>,
        active: Option<bool>,
        metrics: &[(f64, f64)],
    ) -> u32 {
        if let Some(keda) = &mut self.keda
            && let Some(active) = active
            && let Some(set) = keda.tick(now, active, self.replicas)
        {
            self.replicas = set;
        }
        if self.sync_due(now) {
            self.last_sync = Some(now);
            if self.replicas > 0 && !metrics.is_empty() {
                let raw = metrics
                    .iter()
                    .map(|&(value, target)| {
                        average_value_replicas(self.replicas, value, target, self.tolerance)
                    })
                    .max()
                    .unwrap_or(self.replicas);
                self.replicas = self.hpa.step(now, self.replicas, raw);
            }
        }
        self.replicas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn activation_then_staged_scale_up_then_cooldown() {
        let mut k = KedaHpa::new(&KedaSettings::default(), 100, t(0));
        // Inactive at the first poll: stays at zero.
        assert_eq!(k.tick(t(0), Some(false), &[(0.0, 10.0)]), 0);
        // Active: KEDA sets 1, and the same tick's sync proposes 10, limited to 4 per sync.
        assert_eq!(k.tick(t(30), Some(true), &[(100.0, 10.0)]), 4);
        assert_eq!(k.tick(t(45), None, &[(100.0, 10.0)]), 8);
        assert_eq!(k.tick(t(60), Some(true), &[(100.0, 10.0)]), 10);
        // Within the tolerance: no change.
        assert_eq!(k.tick(t(75), None, &[(105.0, 10.0)]), 10);
        // Inactive: the HPA holds its minimum (one) after stabilization, KEDA takes it to
        // zero only after the 300 s cooldown since the last active poll (60 s).
        for s in (90..=360).step_by(15) {
            let r = k.tick(t(s), Some(false), &[(0.0, 10.0)]);
            assert!(r >= 1, "at {s} s: {r}");
        }
        assert_eq!(k.tick(t(390), Some(false), &[(0.0, 10.0)]), 0);
        // No answer from the scaler: KEDA does nothing.
        assert_eq!(k.tick(t(420), None, &[(50.0, 10.0)]), 0);
    }

    #[test]
    fn hpa_only_never_reaches_zero() {
        let mut k = KedaHpa::hpa_only(&KedaSettings::default(), 1, 10);
        assert_eq!(k.tick(t(0), None, &[(0.0, 10.0)]), 1);
        assert_eq!(k.tick(t(15), None, &[(35.0, 10.0), (12.0, 10.0)]), 4);
        // With the Kubernetes default behavior (set explicitly): up to 4 pods more per sync.
        let settings = KedaSettings {
            behavior: Some(Behavior::default()),
            ..KedaSettings::default()
        };
        let mut k = KedaHpa::hpa_only(&settings, 1, 10);
        assert_eq!(k.tick(t(0), None, &[(100.0, 10.0)]), 5);
    }
}
