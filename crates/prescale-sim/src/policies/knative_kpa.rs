//! `knative_kpa`: the Knative Pod Autoscaler (knative/serving `pkg/autoscaler/scaling`), with
//! its defaults, on the demand rate (the RPS metric):
//!
//! - per-pod target = capacity × 0.7 (container-concurrency-target-percentage 70%);
//! - stable window 60 s, panic window 6 s (10%), panic threshold 200%;
//! - `ready = max(1, ready pods)`, `maxUp = ceil(1000 × ready)`, `maxDown = floor(ready / 2)`
//!   (max-scale-down-rate 2.0);
//! - `dspc = ceil(stableAvg / target)`, `dppc = ceil(panicAvg / target)`, each clamped to
//!   `[maxDown, maxUp]`;
//! - panic when `dppc / ready ≥ 2`; while panicking the desired count is `max(dspc, dppc)` and
//!   may only grow; panic ends once the panic ratio stayed below the threshold for a whole
//!   stable window;
//! - scale to zero once the desired count has been 0 for the 30 s grace period (the activator
//!   buffers requests meanwhile; here they wait in the queue);
//! - a decision every tick (Knative ticks every 2 s; the simulator's tick, at most 15 s, is
//!   coarser; windows shorter than a tick cover one tick).

use crate::autoscaler::{Autoscaler, Observation};

/// KPA settings (Knative defaults).
#[derive(Debug, Clone, Copy)]
pub struct KpaConfig {
    /// Target utilization of a pod's capacity.
    pub target_utilization: f64,
    /// Stable window, seconds.
    pub stable_window_secs: f64,
    /// Panic window, seconds.
    pub panic_window_secs: f64,
    /// Panic threshold (2.0 = 200%).
    pub panic_threshold: f64,
    /// Max scale-up rate.
    pub max_scale_up_rate: f64,
    /// Max scale-down rate.
    pub max_scale_down_rate: f64,
    /// Scale-to-zero grace period, seconds.
    pub scale_to_zero_grace_secs: f64,
    /// Minimum scale (0 allows scale to zero).
    pub min_scale: u32,
}

impl Default for KpaConfig {
    fn default() -> Self {
        Self {
            target_utilization: 0.7,
            stable_window_secs: 60.0,
            panic_window_secs: 6.0,
            panic_threshold: 2.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            scale_to_zero_grace_secs: 30.0,
            min_scale: 0,
        }
    }
}

/// The KPA state.
#[derive(Debug, Clone)]
pub struct KnativeKpa {
    config: KpaConfig,
    panicking_since: Option<f64>,
    below_threshold_since: Option<f64>,
    max_panic_pods: u32,
    zero_since: Option<f64>,
    last: u32,
}

impl KnativeKpa {
    /// A KPA with `config`.
    pub fn new(config: KpaConfig) -> Self {
        Self {
            config,
            panicking_since: None,
            below_threshold_since: None,
            max_panic_pods: 0,
            zero_since: None,
            last: 0,
        }
    }

    /// One decision from the window averages (per minute) at `now` (seconds).
    pub fn decide(
        &mut self,
        now: f64,
        stable_avg: f64,
        panic_avg: f64,
        ready: u32,
        capacity: f64,
    ) -> u32 {
        let c = self.config;
        let target = (capacity * c.target_utilization).max(0.01);
        let ready_f = ready.max(1) as f64;
        let max_up = (c.max_scale_up_rate * ready_f).ceil();
        let max_down = if ready == 0 {
            0.0
        } else {
            (ready_f / c.max_scale_down_rate).floor()
        };
        let dspc = (stable_avg / target).ceil().clamp(max_down, max_up) as u32;
        let dppc = (panic_avg / target).ceil().clamp(max_down, max_up) as u32;
        let panic_ratio = dppc as f64 / ready_f;
        let over = panic_ratio >= c.panic_threshold;
        if over {
            self.below_threshold_since = None;
            if self.panicking_since.is_none() {
                self.panicking_since = Some(now);
                self.max_panic_pods = ready;
            }
        } else if self.panicking_since.is_some() {
            let since = *self.below_threshold_since.get_or_insert(now);
            if now - since >= c.stable_window_secs {
                self.panicking_since = None;
                self.below_threshold_since = None;
                self.max_panic_pods = 0;
            }
        }
        let mut desired = if self.panicking_since.is_some() {
            let d = dspc.max(dppc).max(self.max_panic_pods);
            self.max_panic_pods = d;
            d
        } else {
            dspc
        };
        desired = desired.max(c.min_scale);
        if desired == 0 {
            let since = *self.zero_since.get_or_insert(now);
            if now - since < c.scale_to_zero_grace_secs {
                desired = self.last.max(1).min(ready.max(1));
            }
        } else {
            self.zero_since = None;
        }
        self.last = desired;
        desired
    }
}

impl Default for KnativeKpa {
    fn default() -> Self {
        Self::new(KpaConfig::default())
    }
}

impl Autoscaler for KnativeKpa {
    fn name(&self) -> &'static str {
        "knative_kpa"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        // Work buffered by the activator counts as demand, as its requests are in flight.
        let backlog = obs.queue / (self.config.stable_window_secs / 60.0);
        let stable = obs.rate_over(self.config.stable_window_secs) + backlog;
        let panic = obs.rate_over(self.config.panic_window_secs) + backlog;
        self.decide(
            obs.elapsed_secs,
            stable,
            panic,
            obs.ready,
            obs.capacity_per_min,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_mode_targets_seventy_percent() {
        let mut k = KnativeKpa::default();
        // 10 pods of 100/min: target 70/min each; 630/min stable → 9 pods.
        assert_eq!(k.decide(0.0, 630.0, 630.0, 10, 100.0), 9);
    }

    #[test]
    fn scale_down_is_at_most_halving() {
        let mut k = KnativeKpa::default();
        assert_eq!(k.decide(0.0, 10.0, 10.0, 10, 100.0), 5);
    }

    #[test]
    fn panic_mode_when_the_short_window_doubles_and_never_shrinks() {
        let mut k = KnativeKpa::default();
        // 4 ready pods; a burst: panic avg 700/min → dppc 10 ≥ 2 × 4 → panic, desired 10.
        assert_eq!(k.decide(0.0, 300.0, 700.0, 4, 100.0), 10);
        // Next tick the burst fades but panic holds the count (only grows).
        assert_eq!(k.decide(2.0, 300.0, 100.0, 10, 100.0), 10);
        // After a full stable window below the threshold, panic ends: stable decides.
        assert_eq!(k.decide(61.0, 300.0, 100.0, 10, 100.0), 10);
        assert_eq!(k.decide(62.0, 300.0, 100.0, 10, 100.0), 5);
    }

    #[test]
    fn scale_to_zero_after_the_grace_period() {
        let mut k = KnativeKpa::default();
        assert_eq!(k.decide(0.0, 0.0, 0.0, 1, 100.0), 1);
        assert_eq!(k.decide(29.0, 0.0, 0.0, 1, 100.0), 1);
        assert_eq!(k.decide(30.0, 0.0, 0.0, 1, 100.0), 0);
        // From zero, demand wakes it: ready counts as 1, 50/min → 1 pod.
        assert_eq!(k.decide(40.0, 50.0, 50.0, 0, 100.0), 1);
    }
}
