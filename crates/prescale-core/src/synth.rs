//! A deterministic synthetic request-rate generator, for demos and tests.
//!
//! The shape imitates an interactive ML service: a daily cycle with a morning and an evening
//! peak, quieter weekends, a slow trend, Poisson count noise and occasional short spikes.
//! The same [`SyntheticSpec`] (seed included) always gives the same series.

use std::f64::consts::PI;

use chrono::{DateTime, Datelike, Timelike, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, Poisson};
use serde::{Deserialize, Serialize};

use crate::series::{Series, ValueKind};

/// Parameters of a synthetic series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSpec {
    /// First timestamp (UTC).
    pub start: DateTime<Utc>,
    /// Length in days.
    pub days: f64,
    /// Step in seconds.
    pub step_secs: i64,
    /// Mean count per step at the daily trough on a weekday.
    pub base: f64,
    /// Mean count per step at the daily peak on a weekday.
    pub peak: f64,
    /// Weekend level relative to weekdays (e.g. 0.7).
    pub weekend_factor: f64,
    /// Relative growth over the whole series (e.g. 0.1 for +10%).
    pub growth: f64,
    /// Expected number of spikes per day (each lasts 5 minutes at 4x the level).
    pub spikes_per_day: f64,
    /// Hours of the UTC day with no demand at all, `(from, to)`, e.g. `(1.0, 6.0)`: idle nights
    /// in which a service can scale to zero.
    pub idle_hours: Option<(f64, f64)>,
    /// Day (from the start, fractional) of one 30-minute surge at 5x the level that no pattern
    /// explains: an anomaly.
    pub anomaly_day: Option<f64>,
    /// Random seed.
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        Self {
            // A Monday, so that weekdays and weekends fall at the same places every time.
            start: DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01T00:00:00Z"),
            days: 21.0,
            step_secs: 60,
            base: 20.0,
            peak: 200.0,
            weekend_factor: 0.7,
            growth: 0.1,
            spikes_per_day: 1.0,
            idle_hours: None,
            anomaly_day: None,
            seed: 42,
        }
    }
}

impl SyntheticSpec {
    /// The workload of `prescale demo`: two weeks of 1-minute requests of an internal LLM
    /// service, busy on weekdays, quieter on weekends, idle from 01:00 to 06:00 UTC, two
    /// short bursts a day and one unexplained 30-minute surge on day 10.
    pub fn demo() -> Self {
        Self {
            days: 14.0,
            base: 5.0,
            peak: 300.0,
            weekend_factor: 0.5,
            growth: 0.05,
            spikes_per_day: 2.0,
            idle_hours: Some((1.0, 6.0)),
            anomaly_day: Some(9.6),
            seed: 7,
            ..Self::default()
        }
    }
}

/// The daily shape in [0, 1]: a trough around 04:00, peaks near 10:00 and 20:00.
fn daily_shape(hour: f64) -> f64 {
    let bump = |center: f64, width: f64| {
        let d = (hour - center + 12.0).rem_euclid(24.0) - 12.0;
        (-0.5 * (d / width).powi(2)).exp()
    };
    let base = 0.5 - 0.5 * (2.0 * PI * (hour - 4.0) / 24.0).cos();
    (0.35 * base + 0.65 * bump(10.0, 1.8).max(0.9 * bump(20.0, 2.2))).clamp(0.0, 1.0)
}

/// Generates the series described by `spec`.
pub fn generate(spec: &SyntheticSpec) -> Series {
    let n = (spec.days * 86_400.0 / spec.step_secs as f64)
        .round()
        .max(0.0) as usize;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let spike_steps = (300 / spec.step_secs).max(1) as usize;
    let p_spike = spec.spikes_per_day * spec.step_secs as f64 / 86_400.0;
    let mut spike_left = 0usize;
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let t = spec.start + chrono::Duration::seconds(spec.step_secs * i as i64);
        let hour = t.hour() as f64 + t.minute() as f64 / 60.0;
        let weekend = t.weekday().number_from_monday() >= 6;
        let mut mean = spec.base + (spec.peak - spec.base) * daily_shape(hour);
        if weekend {
            mean *= spec.weekend_factor;
        }
        mean *= 1.0 + spec.growth * i as f64 / n.max(1) as f64;
        if spike_left == 0 && rng.random::<f64>() < p_spike {
            spike_left = spike_steps;
        }
        if spike_left > 0 {
            mean *= 4.0;
            spike_left -= 1;
        }
        let day = i as f64 * spec.step_secs as f64 / 86_400.0;
        if spec
            .anomaly_day
            .is_some_and(|d| day >= d && day < d + 30.0 / 1440.0)
        {
            mean *= 5.0;
        }
        if spec
            .idle_hours
            .is_some_and(|(from, to)| hour >= from && hour < to)
        {
            mean = 0.0;
        }
        let v = if mean > 0.0 {
            Poisson::new(mean)
                .map(|p| p.sample(&mut rng))
                .unwrap_or(mean)
        } else {
            0.0
        };
        values.push(v);
    }
    Series::new(spec.start, spec.step_secs, values, ValueKind::Count)
        .expect("generated values are finite and non-negative")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let spec = SyntheticSpec {
            days: 7.0,
            ..Default::default()
        };
        let a = generate(&spec);
        let b = generate(&spec);
        assert_eq!(a, b);
        assert_eq!(a.len(), 7 * 1440);
        // Monday 10:00 is far busier than Monday 04:00.
        let at = |h: usize| a.values()[h * 60 - 5..h * 60 + 5].iter().sum::<f64>();
        assert!(at(10) > 4.0 * at(4), "{} vs {}", at(10), at(4));
        let other = generate(&SyntheticSpec { seed: 7, ..spec });
        assert_ne!(a.values(), other.values());
    }

    #[test]
    fn demo_workload_has_idle_nights_and_an_anomaly() {
        let s = generate(&SyntheticSpec::demo());
        assert_eq!(s.len(), 14 * 1440);
        let v = s.values();
        // 02:00-05:59 on every day is idle.
        for d in 0..14 {
            assert!(v[d * 1440 + 120..d * 1440 + 360].iter().all(|&x| x == 0.0));
        }
        // The surge: day 9.6 is 14:24 on day 9 (a Wednesday).
        let at = (9.6 * 1440.0) as usize;
        let surge = v[at..at + 30].iter().sum::<f64>();
        let week_before = v[at - 7 * 1440..at - 7 * 1440 + 30].iter().sum::<f64>();
        assert!(surge > 3.0 * week_before, "{surge} vs {week_before}");
    }

    #[test]
    fn daily_shape_is_bounded() {
        for k in 0..=240 {
            let v = daily_shape(k as f64 / 10.0);
            assert!((0.0..=1.0).contains(&v));
        }
        assert!(daily_shape(10.0) > 0.8 && daily_shape(4.0) < 0.1);
    }
}
