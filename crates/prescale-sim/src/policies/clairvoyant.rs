//! `clairvoyant`: a bound, not an autoscaler. It reads the trace's future, which no real policy
//! can, and starts each pod exactly one cold start before the demand that needs it.
//!
//! At every tick it asks for `ceil(peak rate over [now, now + lead + tick] / capacity)` pods,
//! plus what clears the queue within a minute, and scales down at once (no stabilization, no
//! rate limits, no KEDA polling). Only the cold start's spread (a distribution whose P95 is the
//! lead) can leave it short. Its GPU-hours are close to the least any policy can spend for
//! (almost) no underprovisioned minutes on this trace and cluster: the yardstick for what a
//! target such as "fewer underprovisioned minutes at no more GPU-hours than X" can ask.
//!
//! It is not among the default policies of `prescale backtest`; ask for it with
//! `--policies clairvoyant,...`.

use prescale_core::Series;

use crate::autoscaler::{Autoscaler, Observation};

/// The clairvoyant bound.
#[derive(Debug, Clone)]
pub struct Clairvoyant {
    /// Demand per minute of each trace step.
    rates: Vec<f64>,
    step_secs: f64,
    capacity_per_min: f64,
    lead_secs: f64,
    max_replicas: u32,
}

impl Clairvoyant {
    /// The bound for `series` on pods of `capacity_per_min` whose cold start's P95 is
    /// `lead_secs`.
    pub fn new(series: &Series, capacity_per_min: f64, lead_secs: f64, max_replicas: u32) -> Self {
        let step_secs = series.step_secs().max(1) as f64;
        Self {
            rates: series
                .values()
                .iter()
                .map(|v| {
                    if v.is_finite() {
                        v.max(0.0) * 60.0 / step_secs
                    } else {
                        0.0
                    }
                })
                .collect(),
            step_secs,
            capacity_per_min,
            lead_secs: lead_secs.max(0.0),
            max_replicas,
        }
    }

    /// The peak demand per minute over the trace steps that overlap `[from, to)` seconds.
    fn peak(&self, from: f64, to: f64) -> f64 {
        if self.rates.is_empty() || to <= from {
            return 0.0;
        }
        let last = self.rates.len() - 1;
        let lo = ((from / self.step_secs).floor().max(0.0) as usize).min(last);
        let hi = (((to / self.step_secs).ceil() as usize).saturating_sub(1)).min(last);
        self.rates[lo..=hi.max(lo)]
            .iter()
            .copied()
            .fold(0.0, f64::max)
    }
}

impl Autoscaler for Clairvoyant {
    fn name(&self) -> &'static str {
        "clairvoyant"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let now = obs.elapsed_secs;
        let need = self.peak(now, now + self.lead_secs + obs.tick_secs) + obs.queue;
        let pods = (need / self.capacity_per_min - 1e-9).ceil().max(0.0);
        (pods as u32).min(self.max_replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimConfig, simulate};
    use chrono::DateTime;
    use prescale_core::ValueKind;

    fn series(values: Vec<f64>) -> Series {
        Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            60,
            values,
            ValueKind::Count,
        )
        .unwrap()
    }

    #[test]
    fn looks_ahead_by_the_lead_time() {
        // 10/min per pod, 3-minute lead: at t = 0 it already sees minute 3's 35/min.
        let s = series(vec![0.0, 0.0, 10.0, 35.0, 5.0, 0.0, 0.0, 0.0]);
        let c = Clairvoyant::new(&s, 10.0, 180.0, 100);
        assert_eq!(c.peak(0.0, 195.0), 35.0);
        assert_eq!(c.peak(0.0, 120.0), 0.0);
        assert_eq!(c.peak(300.0, 495.0), 0.0);
        assert_eq!(c.peak(1e6, 2e6), 0.0);
    }

    #[test]
    fn never_underprovisioned_with_a_fixed_cold_start_and_no_waste_when_idle() {
        let mut v = vec![0.0; 30];
        v.extend((0..120).map(|i| 40.0 + 30.0 * ((i as f64) / 9.0).sin().abs()));
        v.extend(vec![0.0; 30]);
        let s = series(v);
        let cfg = SimConfig::new(10.0);
        let mut c = Clairvoyant::new(&s, 10.0, 180.0, 100);
        let (sum, _, _) = simulate(&s, &cfg, &mut c);
        assert_eq!(sum.underprovisioned_minutes, 0.0, "{sum:?}");
        assert!(sum.sla_attainment > 0.999, "{sum:?}");
        // It spends at most the lead's worth of extra pod time per pod start beyond the
        // fluid minimum of ceil(demand / capacity).
        let fluid: f64 = s.values().iter().map(|v| (v / 10.0).ceil()).sum::<f64>() / 60.0;
        assert!(
            sum.gpu_hours >= fluid - 1e-9,
            "{} vs {fluid}",
            sum.gpu_hours
        );
        let slack = sum.cold_starts as f64 * (180.0 + 15.0) / 3600.0;
        assert!(sum.gpu_hours <= fluid + slack, "{sum:?} vs {fluid}");
    }
}
