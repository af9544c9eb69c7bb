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
//! forecasts from producing unbounded ratios. A step with fewer than [`MIN_PER_STEP`]
//! residuals uses the residuals of all steps pooled. A model with no calibration at all (a
//! window too short to backcast) gets the Poisson fallback of [`fallback_quantile`].

use prescale_core::QuantileForecast;

/// Fewest residuals for a step to use its own distribution rather than the pooled one.
pub const MIN_PER_STEP: usize = 30;

/// The normalizing scale of a residual at predicted value `x`.
pub fn scale(x: f64) -> f64 {
    x.max(1.0)
}

/// Normalized out-of-sample residuals, per horizon step and pooled.
///
/// Residuals are stored once, per step; the pooled distribution is the union of the steps plus
/// the residuals recorded with [`Calibration::push_pooled`], built only when a step needs it.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    per_step: Vec<Vec<f64>>,
    unstepped: Vec<f64>,
}

impl Calibration {
    /// An empty calibration for forecasts of `horizon` steps.
    pub fn new(horizon: usize) -> Self {
        Self {
            per_step: vec![Vec::new(); horizon],
            unstepped: Vec::new(),
        }
    }

    /// Records the outcome of step `k` (0-based) of a past forecast.
    pub fn push(&mut self, k: usize, actual: f64, predicted: f64) {
        let r = (actual - predicted) / scale(predicted);
        if !r.is_finite() {
            return;
        }
        match self.per_step.get_mut(k) {
            Some(v) => v.push(r),
            None => self.unstepped.push(r),
        }
    }

    /// Records a residual that belongs to no particular step (pooled only).
    pub fn push_pooled(&mut self, actual: f64, predicted: f64) {
        let r = (actual - predicted) / scale(predicted);
        if r.is_finite() {
            self.unstepped.push(r);
        }
    }

    /// Number of residuals recorded.
    pub fn len(&self) -> usize {
        self.per_step.iter().map(Vec::len).sum::<usize>() + self.unstepped.len()
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
        let mut buf = self.residuals(k);
        if buf.is_empty() {
            return levels
                .iter()
                .map(|&q| fallback_quantile(point, q))
                .collect();
        }
        let s = scale(point);
        levels
            .iter()
            .map(|&q| point + conformal_quantile(&mut buf, q) * s)
            .collect()
    }
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
/// noise around the point forecast, `point + z_q * sqrt(max(point, 1))`.
pub fn fallback_quantile(point: f64, level: f64) -> f64 {
    point + normal_quantile(level) * point.max(1.0).sqrt()
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

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
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.9) - 1.281_551_565_5).abs() < 1e-6);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.326_347_874).abs() < 1e-6);
    }

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
}
