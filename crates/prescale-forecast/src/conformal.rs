//! Conformal quantiles from out-of-sample residuals.
//!
//! Every model reports, in a [`Calibration`], the errors of forecasts it made from past origins
//! inside its training window, each forecast using only data before its origin (a backcast).
//! The quantile `q` of step `k` of a new forecast is then
//!
//! ```text
//! point[k] + Q_q(r_k) * s(point[k]),   r = (actual - predicted) / s(predicted),   s(x) = max(x, 1)
//! ```
//!
//! where `Q_q(r_k)` is the split-conformal quantile (the `ceil((n + 1) q)`-th smallest) of the
//! normalized residuals of step `k`. Relative residuals make bands wider at busy times and
//! narrower at quiet ones; on the shared request traces they gave upper-quantile coverage closer
//! to the target than square-root (Poisson-like) scaling, because real load is over-dispersed
//! and bursts scale with the level (`docs/benchmarks.md`). The floor of 1 keeps near-zero
//! forecasts from producing unbounded ratios. That floor of 1 is one event, so it holds for
//! counts per step only: a calibration made [`Calibration::with_noise`] takes the floor from
//! the series' [`Noise`] model instead (one event for counts, the series' own dispersion for
//! rates and gauges), which makes the bands scale with the series. A step with fewer than
//! [`MIN_PER_STEP`] residuals uses the residuals of all steps pooled. A model with no
//! calibration at all (a window too short to backcast) gets the Poisson fallback of
//! [`fallback_quantile`], or the noise model's fallback ([`Noise::fallback_quantile`]) when its
//! empty calibration carries one.

use prescale_core::QuantileForecast;

use crate::noise::Noise;

/// Fewest residuals for a step to use its own distribution rather than the pooled one.
pub const MIN_PER_STEP: usize = 30;

/// The normalizing scale of a residual at predicted value `x`, for counts (a floor of one
/// event); [`Noise::scale`] is the general form.
pub fn scale(x: f64) -> f64 {
    x.max(1.0)
}

/// Normalized out-of-sample residuals, per horizon step and pooled.
///
/// Residuals are stored once, per step; the pooled distribution is the union of the steps plus
/// the residuals recorded with [`Calibration::push_pooled`], built only when a step needs it.
///
/// The residual scale `max(forecast, floor)` has two regimes, and so do the residuals: above the
/// floor they are relative errors, below it they are errors in units of the floor. The second
/// kind (forecasts of about zero: a service idle at night, a collection gap) are kept apart and
/// used only for forecasts below the floor. Pooled with the first, a wake-up after an idle night
/// (forecast 0, then the day's level: hundreds of floors) would read as a relative error of
/// hundreds, and the upper quantiles of every busy forecast would be hundreds of times the
/// forecast.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    per_step: Vec<Vec<f64>>,
    unstepped: Vec<f64>,
    /// Residuals of forecasts below the floor, all steps pooled.
    low: Vec<f64>,
    /// Shift of the P90 level found by [`coverage_shift`] (0: none).
    upper_shift: f64,
    /// Whether the per-step residuals are sorted ([`Calibration::finish`]).
    sorted: bool,
    /// The floor of the residual scale and the band without residuals.
    noise: Noise,
}

impl Calibration {
    /// An empty calibration for forecasts of `horizon` steps.
    pub fn new(horizon: usize) -> Self {
        Self::with_noise(horizon, Noise::default())
    }

    /// An empty calibration whose residual scale is floored, and whose band without residuals
    /// is made, by `noise` ([`Calibration::new`] uses the count floors).
    pub fn with_noise(horizon: usize, noise: Noise) -> Self {
        Self {
            per_step: vec![Vec::new(); horizon],
            unstepped: Vec::new(),
            low: Vec::new(),
            upper_shift: 0.0,
            sorted: false,
            noise,
        }
    }

    /// The noise model of the calibration.
    pub fn noise(&self) -> &Noise {
        &self.noise
    }

    /// Sorts the residuals once, so that every later quantile is a lookup instead of a
    /// selection over a copy (forecasts made often from one fit, e.g. between refits).
    pub fn finish(mut self) -> Self {
        for v in &mut self.per_step {
            v.sort_by(f64::total_cmp);
        }
        self.low.sort_by(f64::total_cmp);
        self.sorted = true;
        self
    }

    /// Records the outcome of step `k` (0-based) of a past forecast.
    pub fn push(&mut self, k: usize, actual: f64, predicted: f64) {
        self.sorted = false;
        let r = (actual - predicted) / self.noise.scale(predicted);
        if !r.is_finite() {
            return;
        }
        if self.is_low(predicted) {
            self.low.push(r);
            return;
        }
        match self.per_step.get_mut(k) {
            Some(v) => v.push(r),
            None => self.unstepped.push(r),
        }
    }

    /// Records a residual that belongs to no particular step (pooled only).
    pub fn push_pooled(&mut self, actual: f64, predicted: f64) {
        self.sorted = false;
        let r = (actual - predicted) / self.noise.scale(predicted);
        if !r.is_finite() {
            return;
        }
        if self.is_low(predicted) {
            self.low.push(r);
        } else {
            self.unstepped.push(r);
        }
    }

    /// Whether a forecast lies below the floor of the residual scale (see the type's
    /// documentation).
    fn is_low(&self, predicted: f64) -> bool {
        predicted < self.noise.floor()
    }

    /// Applies an adaptive shift of the upper levels (see [`coverage_shift`]): a level `q > 0.5`
    /// is used as `q + shift * (1 - q) / 0.1`, so that P90 moves by `shift` and the levels
    /// above it proportionally less, clamped to `[0.5, 0.995]`.
    pub fn with_upper_shift(mut self, shift: f64) -> Self {
        self.upper_shift = if shift.is_finite() { shift } else { 0.0 };
        self
    }

    /// The level actually used for a requested level.
    fn effective_level(&self, q: f64) -> f64 {
        if q <= 0.5 || self.upper_shift == 0.0 {
            return q;
        }
        (q + self.upper_shift * (1.0 - q) / 0.1).clamp(0.5, 0.995)
    }

    /// Number of residuals recorded.
    pub fn len(&self) -> usize {
        self.per_step.iter().map(Vec::len).sum::<usize>() + self.unstepped.len() + self.low.len()
    }

    /// Whether no residual was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the normalized residuals used for step `k`.
    fn residuals(&self, k: usize) -> Vec<f64> {
        match self.per_step.get(k) {
            Some(v) if v.len() >= MIN_PER_STEP => v.clone(),
            _ => self
                .per_step
                .iter()
                .flatten()
                .chain(&self.unstepped)
                .copied()
                .collect(),
        }
    }

    /// The calibrated `level` quantiles of step `k`, given the point forecast `point`.
    pub fn quantiles(&self, k: usize, point: f64, levels: &[f64]) -> Vec<f64> {
        let s = self.noise.scale(point);
        let low = (self.is_low(point) && self.low.len() >= MIN_PER_STEP)
            .then(|| self.low_quantiles(levels));
        match low.or_else(|| self.normalized_quantiles(k, levels)) {
            Some(r) => r.into_iter().map(|r| point + r * s).collect(),
            None => levels
                .iter()
                .map(|&q| self.noise.fallback_quantile(point, q))
                .collect(),
        }
    }

    /// The quantiles of the normalized residuals of step `k` at `levels` (after the upper
    /// shift); `None` without residuals.
    pub fn normalized_quantiles(&self, k: usize, levels: &[f64]) -> Option<Vec<f64>> {
        if let Some(v) = self
            .per_step
            .get(k)
            .filter(|v| self.sorted && v.len() >= MIN_PER_STEP)
        {
            return Some(self.sorted_quantiles(v, levels));
        }
        let mut buf = self.residuals(k);
        if buf.is_empty() {
            // Only forecasts below the floor were scored: their residuals are all there is.
            return (!self.low.is_empty()).then(|| self.low_quantiles(levels));
        }
        Some(
            levels
                .iter()
                .map(|&q| conformal_quantile(&mut buf, self.effective_level(q)))
                .collect(),
        )
    }

    /// The quantiles at `levels` of the residuals of forecasts below the floor.
    fn low_quantiles(&self, levels: &[f64]) -> Vec<f64> {
        if self.sorted {
            return self.sorted_quantiles(&self.low, levels);
        }
        let mut buf = self.low.clone();
        levels
            .iter()
            .map(|&q| conformal_quantile(&mut buf, self.effective_level(q)))
            .collect()
    }

    /// The split-conformal quantiles at `levels` (after the upper shift) of `sorted`, sorted
    /// and not empty: a lookup at rank `⌈(n + 1) q⌉`.
    fn sorted_quantiles(&self, sorted: &[f64], levels: &[f64]) -> Vec<f64> {
        let n = sorted.len();
        levels
            .iter()
            .map(|&q| {
                let rank = (((n + 1) as f64 * self.effective_level(q)).ceil() as usize).clamp(1, n);
                sorted[rank - 1]
            })
            .collect()
    }
}

/// An adaptive correction of the P90 level, in the spirit of adaptive conformal inference:
/// how far a P90 calibrated on a sliding window of past residuals missed its target on the
/// residuals that came next.
///
/// `residuals` holds `(origin, normalized residual)` pairs sorted by origin. The origins from
/// `check_from` on are cut into `chunks` consecutive chunks; each chunk is scored against the
/// P90 of the residuals whose origins lie in the `window` steps before it (ending `gap` steps
/// before it, so that only outcomes known at the chunk's start are used). The result is
/// `0.9 − mean coverage`, clamped to `[−0.05, 0.05]`: positive when past bands were too narrow.
pub fn coverage_shift(
    residuals: &[(usize, f64)],
    check_from: usize,
    window: usize,
    gap: usize,
    chunks: usize,
) -> f64 {
    let Some(&(last, _)) = residuals.last() else {
        return 0.0;
    };
    if chunks == 0 || last < check_from {
        return 0.0;
    }
    let span = (last + 1 - check_from).div_ceil(chunks).max(1);
    let mut covered = 0usize;
    let mut total = 0usize;
    let mut buf = Vec::new();
    for c in 0..chunks {
        let lo = check_from + c * span;
        let hi = lo + span;
        let prior_hi = lo.saturating_sub(gap);
        let prior_lo = prior_hi.saturating_sub(window);
        buf.clear();
        buf.extend(
            residuals
                .iter()
                .filter(|(o, _)| (prior_lo..prior_hi).contains(o))
                .map(|r| r.1),
        );
        if buf.len() < MIN_PER_STEP {
            continue;
        }
        let q90 = conformal_quantile(&mut buf, 0.9);
        for &(_, r) in residuals.iter().filter(|(o, _)| (lo..hi).contains(o)) {
            covered += usize::from(r <= q90);
            total += 1;
        }
    }
    if total == 0 {
        return 0.0;
    }
    (0.9 - covered as f64 / total as f64).clamp(-0.05, 0.05)
}

/// The split-conformal quantile: the `ceil((n + 1) q)`-th smallest value (clamped to the
/// sample). Reorders `values`.
pub fn conformal_quantile(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    debug_assert!(n > 0);
    let rank = (((n + 1) as f64 * q).ceil() as usize).clamp(1, n);
    *values.select_nth_unstable_by(rank - 1, f64::total_cmp).1
}

/// The quantile used when a model has no calibration: a normal approximation of Poisson count
/// noise around the point forecast, `point + z_q * sqrt(max(point, 1))` (for counts; see
/// [`Noise::fallback_quantile`]).
pub fn fallback_quantile(point: f64, level: f64) -> f64 {
    Noise::default().fallback_quantile(point, level)
}

pub use prescale_core::stats::normal_quantile;

/// Builds the quantile forecasts for `levels` (sorted ascending) around `point`, made
/// non-decreasing in the level and non-negative.
pub fn quantile_forecasts(
    calibration: Option<&Calibration>,
    point: &[f64],
    levels: &[f64],
) -> Vec<QuantileForecast> {
    let mut out: Vec<QuantileForecast> = levels
        .iter()
        .map(|&level| QuantileForecast {
            level,
            values: Vec::with_capacity(point.len()),
        })
        .collect();
    for (k, &p) in point.iter().enumerate() {
        let qs = match calibration {
            Some(c) => c.quantiles(k, p, levels),
            None => levels.iter().map(|&q| fallback_quantile(p, q)).collect(),
        };
        let mut floor = 0.0f64;
        for (slot, v) in out.iter_mut().zip(qs) {
            let v = v.max(floor);
            floor = v;
            slot.values.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_quantile_uses_the_finite_sample_rank() {
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        // ceil(10 * 0.9) = 9th smallest.
        assert_eq!(conformal_quantile(&mut v, 0.9), 9.0);
        assert_eq!(conformal_quantile(&mut v, 0.5), 5.0);
        assert_eq!(conformal_quantile(&mut v, 0.01), 1.0);
    }

    #[test]
    fn quantiles_cover_what_they_were_calibrated_on() {
        // Residuals uniform on [-10, 10] around a point of 100 (scale 100): P90 ~ 100 + 8.
        let mut c = Calibration::new(1);
        for i in 0..=200 {
            let err = -10.0 + 20.0 * i as f64 / 200.0;
            c.push(0, 100.0 + err, 100.0);
        }
        let q = c.quantiles(0, 100.0, &[0.5, 0.9]);
        assert!((q[0] - 100.0).abs() < 0.2, "{q:?}");
        assert!((q[1] - 108.0).abs() < 0.3, "{q:?}");
    }

    #[test]
    fn short_steps_fall_back_to_the_pool_and_empty_to_poisson() {
        let mut c = Calibration::new(3);
        for i in 0..40 {
            c.push(0, 10.0 + (i % 5) as f64, 10.0);
        }
        c.push(2, 50.0, 10.0);
        // Step 2 has one residual: the pooled distribution is used instead.
        let q2 = c.quantiles(2, 10.0, &[0.5]);
        assert!(q2[0] < 15.0, "{q2:?}");
        let empty = Calibration::new(3);
        let q = empty.quantiles(0, 100.0, &[0.9]);
        assert!((q[0] - (100.0 + 1.2816 * 10.0)).abs() < 0.01);
    }

    #[test]
    fn quantile_forecasts_are_monotone_and_non_negative() {
        let mut c = Calibration::new(2);
        for i in 0..100 {
            c.push(0, (i % 7) as f64, 3.0);
            c.push(1, (i % 3) as f64, 3.0);
        }
        let qf = quantile_forecasts(Some(&c), &[0.0, 3.0], &[0.1, 0.5, 0.9]);
        for k in 0..2 {
            let col: Vec<f64> = qf.iter().map(|q| q.values[k]).collect();
            assert!(col.windows(2).all(|w| w[0] <= w[1]), "{col:?}");
            assert!(col.iter().all(|&v| v >= 0.0));
        }
    }

    #[test]
    fn coverage_shift_widens_bands_when_noise_grows() {
        // Residuals uniform in [-1, 1] for origins 0..1000, then in [-2, 2]: a P90 calibrated on
        // the quiet past covers the loud chunks less than 90% of the time.
        let pairs: Vec<(usize, f64)> = (0..2000)
            .map(|o| {
                let u = ((o * 7919) % 1000) as f64 / 500.0 - 1.0;
                (o, if o < 1000 { u } else { 2.0 * u })
            })
            .collect();
        let shift = coverage_shift(&pairs, 1000, 500, 0, 4);
        assert!(shift > 0.03, "{shift}");
        // Stationary residuals need no correction.
        let flat: Vec<(usize, f64)> = (0..2000)
            .map(|o| (o, ((o * 7919) % 1000) as f64 / 500.0 - 1.0))
            .collect();
        assert!(coverage_shift(&flat, 1000, 500, 0, 4).abs() < 0.02);
        assert_eq!(coverage_shift(&[], 0, 10, 0, 4), 0.0);
    }

    #[test]
    fn upper_shift_moves_upper_levels_only() {
        let mut c = Calibration::new(1);
        for i in 0..=1000 {
            c.push(0, 100.0 + (i as f64 - 500.0) / 10.0, 100.0);
        }
        let base = c.quantiles(0, 100.0, &[0.5, 0.9]);
        let shifted = c
            .clone()
            .with_upper_shift(0.05)
            .quantiles(0, 100.0, &[0.5, 0.9]);
        assert_eq!(base[0], shifted[0]);
        assert!(shifted[1] > base[1], "{base:?} {shifted:?}");
    }

    #[test]
    fn finishing_changes_no_quantile() {
        let mut c = Calibration::new(2);
        for i in 0..200 {
            c.push(0, 100.0 + ((i * 37) % 101) as f64, 100.0);
            c.push(1, 90.0 + ((i * 53) % 97) as f64, 100.0);
        }
        let levels = [0.1, 0.5, 0.9, 0.99];
        let before: Vec<Vec<f64>> = (0..2).map(|k| c.quantiles(k, 120.0, &levels)).collect();
        let c = c.with_upper_shift(0.02);
        let shifted: Vec<Vec<f64>> = (0..2).map(|k| c.quantiles(k, 120.0, &levels)).collect();
        let done = c.finish();
        let after: Vec<Vec<f64>> = (0..2).map(|k| done.quantiles(k, 120.0, &levels)).collect();
        assert_eq!(shifted, after);
        assert_eq!(before[0][1], after[0][1]);
    }

    #[test]
    fn wake_ups_from_zero_do_not_inflate_the_bands_of_busy_forecasts() {
        // A gauge with a floor of 0.3: busy forecasts of 100 miss by ±10%; forecasts of 0
        // (idle nights, collection gaps) are followed by the day's level 10% of the time.
        let noise = Noise {
            counts: false,
            sigma: 1.0,
            quiet: 0.3,
        };
        let mut cal = Calibration::with_noise(1, noise);
        for i in 0..200 {
            let miss = f64::from(i % 21 - 10) / 100.0;
            cal.push(0, 100.0 * (1.0 + miss), 100.0);
            cal.push(0, if i % 10 == 0 { 100.0 } else { 0.0 }, 0.0);
        }
        let cal = cal.finish();
        // Busy: the P99 is the busy misses' (+10%), not 100 / 0.3 floors above the forecast.
        let busy = cal.quantiles(0, 100.0, &[0.9, 0.99]);
        assert!(busy[1] <= 110.0 + 1e-9, "{busy:?}");
        assert!(busy[0] >= 107.0, "{busy:?}");
        // At zero: the wake-ups, in units of the floor (the P99 is the day's level).
        let idle = cal.quantiles(0, 0.0, &[0.5, 0.99]);
        assert_eq!(idle[0], 0.0);
        assert!((idle[1] - 100.0).abs() < 1e-9, "{idle:?}");
    }
}
