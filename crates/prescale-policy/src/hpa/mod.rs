//! Kubernetes Horizontal Pod Autoscaler maths, after `pkg/controller/podautoscaler`
//! (`replica_calculator.go`, `horizontal.go`).
//!
//! Two parts:
//!
//! - [`average_value_replicas`]: the replica proposal of one external metric with an
//!   `AverageValue` target (how KEDA triggers reach the HPA), with the tolerance band.
//! - [`Hpa`]: the controller's normalization of a proposal, one sync at a time. With a
//!   [`Behavior`] (`spec.behavior` set, [`Hpa::new`]) it follows
//!   `normalizeDesiredReplicasWithBehaviors`: a stabilization window per direction
//!   (`stabilizeRecommendationWithBehaviors`), then the rate limits computed from the scale
//!   events inside each policy's period (`calculateScaleUpLimitWithScalingRules`,
//!   `calculateScaleDownLimitWithBehaviors`), then `[min, max]`. Without one ([`Hpa::legacy`],
//!   what an HPA without `behavior` gets, e.g. one KEDA creates for a ScaledObject with no
//!   `advanced.horizontalPodAutoscalerConfig.behavior`) it follows `normalizeDesiredReplicas`:
//!   the maximum recommendation of the downscale stabilization window (controller flag, 5 min)
//!   and a scale-up cap of `max(2 × current, 4)` per sync.
//!
//! Worked examples (pinned by the tests below): with the default behavior, from 1 replica and a
//! large proposal, syncs 15 s apart give 1 → 5 → 10 → 20 (`max(+4 pods, +100 %)` per 15 s); the
//! legacy cap gives 1 → 4 → 8 → 16.
//!
//! The caller drives time: [`Hpa::step`] is one HPA sync (every 15 s by default) at `now`.

mod behavior;

use chrono::{DateTime, Utc};

pub use behavior::{Behavior, RatePolicy, Rule, SelectPolicy};

use crate::util::{ceil_replicas, minus_secs};

/// Default HPA tolerance: proposals within ±10 % of the current replicas are ignored.
pub const DEFAULT_TOLERANCE: f64 = 0.1;

/// Default HPA sync period (kube-controller-manager `--horizontal-pod-autoscaler-sync-period`).
pub const DEFAULT_SYNC_SECS: i64 = 15;

/// Default downscale stabilization window (controller flag
/// `--horizontal-pod-autoscaler-downscale-stabilization`, and the default of
/// `behavior.scaleDown.stabilizationWindowSeconds`).
pub const DEFAULT_DOWNSCALE_STABILIZATION_SECS: i64 = 300;

/// The replicas an external metric with an `AverageValue` target proposes
/// (`GetExternalPerPodMetricReplicas`): with `ratio = metric_sum / (target_per_pod × current)`,
/// the current count when `current > 0` and `|1 − ratio| ≤ tolerance`, otherwise
/// `ceil(metric_sum / target_per_pod)`.
///
/// The proposal does not depend on the current count outside the tolerance band. At zero
/// replicas it is `ceil(metric_sum / target_per_pod)`. A target that is not a finite number
/// above zero proposes no change (`current`); a negative or NaN sum counts as 0.
///
/// ```
/// use prescale_policy::hpa::average_value_replicas;
/// // KEDA docs: AverageValue, queue length 20, threshold 5 → 4 replicas.
/// assert_eq!(average_value_replicas(1, 20.0, 5.0, 0.1), 4);
/// // Within the tolerance band: 10 replicas at ratio 1.05 stay 10.
/// assert_eq!(average_value_replicas(10, 52.5, 5.0, 0.1), 10);
/// ```
pub fn average_value_replicas(
    current: u32,
    metric_sum: f64,
    target_per_pod: f64,
    tolerance: f64,
) -> u32 {
    if !(target_per_pod.is_finite() && target_per_pod > 0.0) {
        return current;
    }
    let sum = if metric_sum.is_nan() || metric_sum < 0.0 {
        0.0
    } else {
        metric_sum
    };
    if current > 0 {
        let ratio = sum / (target_per_pod * f64::from(current));
        if (1.0 - ratio).abs() <= tolerance {
            return current;
        }
    }
    ceil_replicas(sum / target_per_pod)
}

/// A recommendation or scale event with its time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamped {
    at: DateTime<Utc>,
    value: i64,
    outdated: bool,
}

/// The HPA controller's state for one target: its recommendation history and scale events.
/// See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Hpa {
    /// `None`: no `behavior` (legacy normalization).
    behavior: Option<Behavior>,
    min_replicas: u32,
    max_replicas: u32,
    /// Downscale stabilization of the legacy path (controller flag).
    downscale_stabilization_secs: i64,
    recommendations: Vec<Stamped>,
    scale_up_events: Vec<Stamped>,
    scale_down_events: Vec<Stamped>,
}

impl Hpa {
    /// An HPA with `spec.behavior` set to `behavior`, between `min_replicas` and
    /// `max_replicas`. KEDA gives its HPA `minReplicas = max(minReplicaCount, 1)`; at zero
    /// replicas with `min_replicas > 0` the HPA does not scale (KEDA owns 0 ↔ 1).
    pub fn new(behavior: Behavior, min_replicas: u32, max_replicas: u32) -> Self {
        Self {
            behavior: Some(behavior),
            ..Self::legacy(
                min_replicas,
                max_replicas,
                DEFAULT_DOWNSCALE_STABILIZATION_SECS,
            )
        }
    }

    /// An HPA without `spec.behavior`: the maximum recommendation of the last
    /// `downscale_stabilization_secs` (the controller flag, 300 s by default) and a scale-up
    /// cap of `max(2 × current, 4)` per sync.
    pub fn legacy(min_replicas: u32, max_replicas: u32, downscale_stabilization_secs: i64) -> Self {
        Self {
            behavior: None,
            min_replicas,
            max_replicas,
            downscale_stabilization_secs,
            recommendations: Vec::new(),
            scale_up_events: Vec::new(),
            scale_down_events: Vec::new(),
        }
    }

    /// The behavior, `None` for a legacy HPA.
    pub fn behavior(&self) -> Option<&Behavior> {
        self.behavior.as_ref()
    }

    /// The lower bound (`minReplicas`).
    pub const fn min_replicas(&self) -> u32 {
        self.min_replicas
    }

    /// The upper bound (`maxReplicas`).
    pub const fn max_replicas(&self) -> u32 {
        self.max_replicas
    }

    /// One HPA sync at `now`: the replica count the controller sets, given the `current`
    /// count of the target and the metrics' proposal `raw_desired` (the largest per-metric
    /// proposal, e.g. from [`average_value_replicas`]).
    ///
    /// As in `reconcileAutoscaler`: the first sync records `current` as the initial
    /// recommendation; at zero replicas with `min_replicas > 0` nothing happens (0 is
    /// returned); a count above `max_replicas` or below `min_replicas` is brought back into
    /// range directly; otherwise the proposal is normalized (stabilization, rate limits,
    /// bounds). Every change is recorded as a scale event for later rate limits.
    pub fn step(&mut self, now: DateTime<Utc>, current: u32, raw_desired: u32) -> u32 {
        if self.recommendations.is_empty() {
            self.recommendations.push(Stamped {
                at: now,
                value: i64::from(current),
                outdated: false,
            });
        }
        if current == 0 && self.min_replicas != 0 {
            return 0;
        }
        let desired = if current > self.max_replicas {
            self.max_replicas
        } else if current < self.min_replicas {
            self.min_replicas
        } else {
            let (cur, raw) = (i64::from(current), i64::from(raw_desired));
            let out = if self.behavior.is_some() {
                self.normalize_with_behavior(now, cur, raw)
            } else {
                self.normalize_legacy(now, cur, raw)
            };
            u32::try_from(out.max(0)).unwrap_or(u32::MAX)
        };
        if desired != current {
            self.store_scale_event(now, i64::from(current), i64::from(desired));
        }
        desired
    }

    /// `normalizeDesiredReplicas`: downscale stabilization, then `convertDesiredReplicasWithRules`.
    fn normalize_legacy(&mut self, now: DateTime<Utc>, current: i64, raw: i64) -> i64 {
        let cutoff = minus_secs(now, self.downscale_stabilization_secs);
        let mut stabilized = raw;
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at < cutoff {
                old = Some(i);
            } else {
                stabilized = stabilized.max(rec.value);
            }
        }
        self.record_recommendation(old, now, raw);
        let scale_up_limit = (2 * current).max(4);
        let max_allowed = i64::from(self.max_replicas).min(scale_up_limit);
        if stabilized < i64::from(self.min_replicas) {
            i64::from(self.min_replicas)
        } else {
            stabilized.min(max_allowed)
        }
    }

    /// `normalizeDesiredReplicasWithBehaviors`.
    fn normalize_with_behavior(&mut self, now: DateTime<Utc>, current: i64, raw: i64) -> i64 {
        let stabilized = self.stabilize_with_behavior(now, current, raw);
        self.convert_with_behavior_rate(now, current, stabilized)
    }

    /// `stabilizeRecommendationWithBehaviors`.
    fn stabilize_with_behavior(&mut self, now: DateTime<Utc>, current: i64, raw: i64) -> i64 {
        let Some(b) = &self.behavior else {
            return raw;
        };
        let up_cutoff = minus_secs(now, b.scale_up.stabilization_secs);
        let down_cutoff = minus_secs(now, b.scale_down.stabilization_secs);
        let (mut up, mut down) = (raw, raw);
        let mut old = None;
        for (i, rec) in self.recommendations.iter().enumerate() {
            if rec.at > up_cutoff {
                up = up.min(rec.value);
            }
            if rec.at > down_cutoff {
                down = down.max(rec.value);
            }
            if rec.at < up_cutoff && rec.at < down_cutoff {
                old = Some(i);
            }
        }
        self.record_recommendation(old, now, raw);
        current.max(up).min(down)
    }

    fn record_recommendation(&mut self, old: Option<usize>, now: DateTime<Utc>, value: i64) {
        let rec = Stamped {
            at: now,
            value,
            outdated: false,
        };
        match old.and_then(|i| self.recommendations.get_mut(i)) {
            Some(slot) => *slot = rec,
            None => self.recommendations.push(rec),
        }
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn convert_with_behavior_rate(&self, now: DateTime<Utc>, current: i64, desired: i64) -> i64 {
        let Some(b) = &self.behavior else {
            return desired;
        };
        let (min, max) = (i64::from(self.min_replicas), i64::from(self.max_replicas));
        if desired > current {
            let limit = self.scale_up_limit(now, current, &b.scale_up).max(current);
            desired.min(max.min(limit))
        } else if desired < current {
            let limit = self
                .scale_down_limit(now, current, &b.scale_down)
                .min(current);
            desired.max(min.max(limit))
        } else {
            desired
        }
    }

    /// Replicas at the start of a policy's period: the current count minus the additions and
    /// plus the removals of the events inside the period.
    fn period_start(&self, now: DateTime<Utc>, current: i64, period_secs: i64) -> i64 {
        let cutoff = minus_secs(now, period_secs);
        let change = |events: &[Stamped]| -> i64 {
            events
                .iter()
                .filter(|e| e.at > cutoff)
                .map(|e| e.value)
                .sum()
        };
        current - change(&self.scale_up_events) + change(&self.scale_down_events)
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn scale_up_limit(&self, now: DateTime<Utc>, current: i64, rule: &Rule) -> i64 {
        let pick: fn(i64, i64) -> i64 = match rule.select {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => i64::min,
            SelectPolicy::Max => i64::max,
        };
        let init = if rule.select == SelectPolicy::Min {
            i64::from(i32::MAX)
        } else {
            i64::from(i32::MIN)
        };
        rule.policies.iter().fold(init, |acc, p| {
            let start = self.period_start(now, current, p.period_secs());
            let proposed = match *p {
                RatePolicy::Pods { value, .. } => start + i64::from(value),
                RatePolicy::Percent { value, .. } => {
                    (start as f64 * (1.0 + f64::from(value) / 100.0)).ceil() as i64
                }
            };
            pick(acc, proposed)
        })
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    fn scale_down_limit(&self, now: DateTime<Utc>, current: i64, rule: &Rule) -> i64 {
        let pick: fn(i64, i64) -> i64 = match rule.select {
            SelectPolicy::Disabled => return current,
            SelectPolicy::Min => i64::max,
            SelectPolicy::Max => i64::min,
        };
        let init = if rule.select == SelectPolicy::Min {
            i64::from(i32::MIN)
        } else {
            i64::from(i32::MAX)
        };
        rule.policies.iter().fold(init, |acc, p| {
            let start = self.period_start(now, current, p.period_secs());
            let proposed = match *p {
                RatePolicy::Pods { value, .. } => start - i64::from(value),
                // Go's int32(float64) truncates toward zero.
                RatePolicy::Percent { value, .. } => {
                    (start as f64 * (1.0 - f64::from(value) / 100.0)).trunc() as i64
                }
            };
            pick(acc, proposed)
        })
    }

    /// `storeScaleEvent`: nothing for a legacy HPA; otherwise the change is stored, reusing
    /// the slot of an event older than the direction's longest policy period.
    fn store_scale_event(&mut self, now: DateTime<Utc>, prev: i64, new: i64) {
        let Some(b) = &self.behavior else {
            return;
        };
        let (events, longest, change) = if new > prev {
            (
                &mut self.scale_up_events,
                b.scale_up.longest_period(),
                new - prev,
            )
        } else {
            (
                &mut self.scale_down_events,
                b.scale_down.longest_period(),
                prev - new,
            )
        };
        let cutoff = minus_secs(now, longest);
        let mut old = None;
        for (i, e) in events.iter_mut().enumerate() {
            if e.at < cutoff {
                e.outdated = true;
            }
            if e.outdated {
                old = Some(i);
            }
        }
        let event = Stamped {
            at: now,
            value: change,
            outdated: false,
        };
        match old.and_then(|i| events.get_mut(i)) {
            Some(slot) => *slot = event,
            None => events.push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::plus_secs;

    fn t(secs: i64) -> DateTime<Utc> {
        plus_secs(DateTime::from_timestamp(1_700_000_000, 0).unwrap(), secs)
    }

    #[test]
    fn tolerance_band_and_docs_example() {
        // 10 replicas, target 5 per pod: a sum of 52.5 is ratio 1.05 → stays 10.
        assert_eq!(average_value_replicas(10, 52.5, 5.0, 0.1), 10);
        // Ratio 1.2 → ceil(60 / 5) = 12 (computed from the product: no floating-point 13).
        assert_eq!(average_value_replicas(10, 60.0, 5.0, 0.1), 12);
        assert_eq!(average_value_replicas(10, 10.0 * 5.0 * 1.2, 5.0, 0.1), 12);
        // Ratio 0.95 → stays; 0.8 → 8.
        assert_eq!(average_value_replicas(10, 47.5, 5.0, 0.1), 10);
        assert_eq!(average_value_replicas(10, 40.0, 5.0, 0.1), 8);
        // keda.md 1.6 docs example: queue 20, threshold 5 → 4 replicas, from any count.
        for current in [0, 1, 3, 7] {
            assert_eq!(average_value_replicas(current, 20.0, 5.0, 0.1), 4);
        }
        // From zero: ceil(sum / target); an empty queue proposes 0.
        assert_eq!(average_value_replicas(0, 0.0, 5.0, 0.1), 0);
        assert_eq!(average_value_replicas(0, 0.1, 5.0, 0.1), 1);
        // Bad inputs never panic.
        assert_eq!(average_value_replicas(3, 10.0, 0.0, 0.1), 3);
        assert_eq!(average_value_replicas(3, 10.0, f64::NAN, 0.1), 3);
        assert_eq!(average_value_replicas(3, f64::NAN, 5.0, 0.1), 0);
        assert_eq!(average_value_replicas(3, f64::INFINITY, 5.0, 0.1), u32::MAX);
    }

    /// Runs syncs every 15 s from `start` replicas with a constant proposal; returns the
    /// counts after each sync.
    fn ramp(hpa: &mut Hpa, start: u32, raw: u32, syncs: i64) -> Vec<u32> {
        let mut current = start;
        (0..syncs)
            .map(|i| {
                current = hpa.step(t(15 * i), current, raw);
                current
            })
            .collect()
    }

    #[test]
    fn default_behavior_scales_up_by_max_of_4_pods_and_100_percent_per_15s() {
        let mut hpa = Hpa::new(Behavior::default(), 1, 100);
        // From 1: max(1 + 4, 2) = 5, then max(9, 10) = 10, then 20, 40, 80, 100 (max).
        assert_eq!(
            ramp(&mut hpa, 1, 1000, 7),
            vec![5, 10, 20, 40, 80, 100, 100]
        );
        // From 4: max(8, 8) = 8 → 16.
        let mut hpa = Hpa::new(Behavior::default(), 1, 100);
        assert_eq!(ramp(&mut hpa, 4, 1000, 2), vec![8, 16]);
    }

    #[test]
    fn scale_events_inside_the_period_count_against_the_limit() {
        let mut hpa = Hpa::new(Behavior::default(), 1, 100);
        assert_eq!(hpa.step(t(0), 1, 50), 5);
        // 10 s later the +4 event is inside the 15 s period: period start is 1 again.
        assert_eq!(hpa.step(t(10), 5, 50), 5);
        // At 15 s the event is exactly at the cutoff (not after it): start is 5.
        assert_eq!(hpa.step(t(15), 5, 50), 10);
    }

    #[test]
    fn legacy_hpa_caps_scale_up_at_twice_or_four() {
        let mut hpa = Hpa::legacy(1, 100, DEFAULT_DOWNSCALE_STABILIZATION_SECS);
        assert!(hpa.behavior().is_none());
        assert_eq!(ramp(&mut hpa, 1, 1000, 4), vec![4, 8, 16, 32]);
    }

    #[test]
    fn scale_down_stabilization_holds_the_max_of_the_last_300s() {
        for mut hpa in [
            Hpa::new(Behavior::default(), 1, 100),
            Hpa::legacy(1, 100, DEFAULT_DOWNSCALE_STABILIZATION_SECS),
        ] {
            // First sync records 10 (current) as the initial recommendation.
            assert_eq!(hpa.step(t(0), 10, 10), 10);
            assert_eq!(hpa.step(t(100), 10, 8), 10);
            assert_eq!(hpa.step(t(200), 10, 3), 10);
            // At 301 s the recommendations at 0 s have left the window: max(8, 3, 3) = 8.
            assert_eq!(hpa.step(t(301), 10, 3), 8);
            // At 401 s only the 3s remain.
            assert_eq!(hpa.step(t(401), 8, 3), 3);
        }
    }

    #[test]
    fn scale_down_rate_is_limited_by_percent_and_pods_policies() {
        let behavior = Behavior {
            scale_down: Rule {
                stabilization_secs: 0,
                policies: vec![
                    RatePolicy::Pods {
                        value: 2,
                        period_secs: 60,
                    },
                    RatePolicy::Percent {
                        value: 10,
                        period_secs: 60,
                    },
                ],
                select: SelectPolicy::Max,
            },
            ..Behavior::default()
        };
        let mut hpa = Hpa::new(behavior.clone(), 1, 100);
        // Max change: min(50 - 2, trunc(50 × 0.9) = 45) = 45.
        assert_eq!(hpa.step(t(0), 50, 1), 45);
        // Within the minute the 5 removed count: start 50 again → 45, no further.
        assert_eq!(hpa.step(t(30), 45, 1), 45);
        assert_eq!(hpa.step(t(61), 45, 1), 40); // trunc(45 × 0.9) = 40
        // Min change picks the smaller step: max(48, 45) = 48.
        let mut min = behavior;
        min.scale_down.select = SelectPolicy::Min;
        let mut hpa = Hpa::new(min, 1, 100);
        assert_eq!(hpa.step(t(0), 50, 1), 48);
    }

    #[test]
    fn disabled_select_blocks_a_direction() {
        let mut behavior = Behavior::default();
        behavior.scale_down.select = SelectPolicy::Disabled;
        behavior.scale_down.stabilization_secs = 0;
        let mut hpa = Hpa::new(behavior.clone(), 1, 100);
        assert_eq!(hpa.step(t(0), 10, 2), 10);
        assert_eq!(hpa.step(t(600), 10, 2), 10);
        assert_eq!(hpa.step(t(615), 10, 20), 20); // up still works
        let mut behavior = Behavior::default();
        behavior.scale_up.select = SelectPolicy::Disabled;
        let mut hpa = Hpa::new(behavior, 1, 100);
        assert_eq!(hpa.step(t(0), 3, 30), 3);
    }

    #[test]
    fn scale_up_stabilization_takes_the_minimum_of_the_window() {
        let mut behavior = Behavior::default();
        behavior.scale_up.stabilization_secs = 60;
        let mut hpa = Hpa::new(behavior, 1, 100);
        assert_eq!(hpa.step(t(0), 2, 2), 2);
        // A one-sync spike to 8 is held back by the 2 recorded at 0 s.
        assert_eq!(hpa.step(t(15), 2, 8), 2);
        assert_eq!(hpa.step(t(30), 2, 6), 2);
        // At 61 s the window holds 8 (15 s), 6 (30 s) and now 7: min 6.
        assert_eq!(hpa.step(t(61), 2, 7), 6);
    }

    #[test]
    fn bounds_and_zero_replicas() {
        let mut hpa = Hpa::new(Behavior::default(), 2, 10);
        assert_eq!(hpa.step(t(0), 0, 5), 0, "KEDA owns 0 → 1");
        assert_eq!(hpa.step(t(15), 1, 1), 2, "below min: straight to min");
        assert_eq!(hpa.step(t(30), 14, 14), 10, "above max: straight to max");
        assert_eq!(hpa.step(t(45), 10, 50), 10);
        // With min 0 (HPAScaleToZero) the HPA itself scales from zero, 4 pods at a time.
        let mut hpa = Hpa::new(Behavior::default(), 0, 10);
        assert_eq!(hpa.step(t(0), 0, 9), 4);
        assert_eq!(hpa.min_replicas(), 0);
        assert_eq!(hpa.max_replicas(), 10);
    }

    #[test]
    fn histories_stay_bounded() {
        let mut hpa = Hpa::new(Behavior::default(), 1, 100);
        let mut current = 1;
        for i in 0..10_000 {
            let raw = if (i / 40) % 2 == 0 { 60 } else { 3 };
            current = hpa.step(t(15 * i), current, raw);
        }
        // 300 s window / 15 s syncs ≈ 21 recommendations; events within 15 s.
        assert!(
            hpa.recommendations.len() <= 22,
            "{}",
            hpa.recommendations.len()
        );
        assert!(hpa.scale_up_events.len() <= 3);
        assert!(hpa.scale_down_events.len() <= 3);
    }

    #[test]
    fn extreme_times_and_windows_do_not_panic() {
        let mut behavior = Behavior::default();
        behavior.scale_down.stabilization_secs = i64::MAX;
        behavior.scale_up.policies = vec![RatePolicy::Percent {
            value: u32::MAX,
            period_secs: i64::MIN,
        }];
        let mut hpa = Hpa::new(behavior, 0, u32::MAX);
        for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, t(0)] {
            let _ = hpa.step(now, 5, u32::MAX);
            let _ = hpa.step(now, u32::MAX, 0);
        }
        let mut legacy = Hpa::legacy(0, u32::MAX, i64::MIN);
        let _ = legacy.step(t(0), u32::MAX, u32::MAX);
    }
}
