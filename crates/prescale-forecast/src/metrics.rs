//! Forecast accuracy metrics.
//!
//! Over all forecast points of all origins of a backtest:
//!
//! - `accuracy = 1 − WAPE`, `WAPE = Σ|y − ŷ| / Σ|y|` (point forecast);
//! - `MASE`: per origin, the forecast MAE over the in-sample MAE of seasonal naive (first
//!   season, or lag 1 when the window is shorter) on that origin's training window; averaged;
//! - `upper_coverage`: share of points with `y ≤` the upper quantile (P90 by default; an
//!   optional [tolerance](Accumulator::with_coverage_tolerance) is added to the quantile);
//! - `pinball_upper`: mean pinball loss of the upper quantile, `max(q(y − u), (q − 1)(y − u))`,
//!   and the same divided by the mean actual (`pinball_upper_scaled`), comparable across traces;
//! - `underforecast_20pct`: share of points where the point forecast is more than 20% below the
//!   actual (`ŷ < 0.8 y`); `underforecast_20pct_upper` the same for the upper quantile, i.e.
//!   what an autoscaler provisioning at that quantile would have missed by more than 20%;
//! - `noise_ceiling`: for count data, the accuracy a perfect forecast of the Poisson mean would
//!   get, `1 − Σ √(2y/π) / Σ y` (the mean absolute deviation of a Poisson(λ) count is about
//!   `√(2λ/π)`); no point forecast can do much better on truly random arrivals.
//!
//! These are the definitions of the peer harness (`peers.py`), so figures compare.

use serde::Serialize;

/// Accumulates forecast outcomes.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    level: f64,
    tolerance: f64,
    abs_err: f64,
    abs_actual: f64,
    pinball: f64,
    covered: usize,
    under: usize,
    under_upper: usize,
    points: usize,
    mase_sum: f64,
    mase_origins: usize,
    noise: f64,
}

/// The metrics of a set of forecasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    /// 1 − WAPE of the point forecast.
    pub accuracy: f64,
    /// Mean absolute scaled error against in-sample seasonal naive.
    pub mase: f64,
    /// The upper quantile level scored (e.g. 0.9).
    pub upper_level: f64,
    /// Share of actuals at or below the upper quantile.
    pub upper_coverage: f64,
    /// Mean pinball loss of the upper quantile.
    pub pinball_upper: f64,
    /// `pinball_upper` divided by the mean actual.
    pub pinball_upper_scaled: f64,
    /// Share of points where the point forecast is > 20% below the actual.
    pub underforecast_20pct: f64,
    /// Share of points where the upper quantile is > 20% below the actual.
    pub underforecast_20pct_upper: f64,
    /// Best accuracy possible against pure Poisson count noise (count data).
    pub noise_ceiling: f64,
    /// Number of scored points.
    pub points: usize,
}

impl Accumulator {
    /// An accumulator scoring the upper quantile `upper_level` (e.g. 0.9).
    pub fn new(upper_level: f64) -> Self {
        Self {
            level: upper_level,
            ..Default::default()
        }
    }

    /// The same accumulator counting an actual up to `tolerance` above the upper quantile as
    /// covered (for forecasts converted between units, whose round trip is not exact); 0 by
    /// default. Only the coverage depends on it.
    #[must_use]
    pub fn with_coverage_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Adds one origin's forecast. `naive_mae` is the in-sample seasonal-naive MAE of its
    /// training window (ignored for MASE when not positive).
    pub fn add(&mut self, actual: &[f64], point: &[f64], upper: &[f64], naive_mae: f64) {
        let q = self.level;
        let mut origin_err = 0.0;
        for ((&y, &p), &u) in actual.iter().zip(point).zip(upper) {
            let e = (y - p).abs();
            origin_err += e;
            self.abs_err += e;
            self.abs_actual += y.abs();
            let d = y - u;
            self.pinball += if d >= 0.0 { q * d } else { (q - 1.0) * d };
            self.covered += usize::from(y <= u + self.tolerance);
            self.under += usize::from(p < 0.8 * y);
            self.under_upper += usize::from(u < 0.8 * y);
            self.noise += (2.0 * y.max(0.0) / std::f64::consts::PI).sqrt();
            self.points += 1;
        }
        let m = actual.len().min(point.len()).min(upper.len());
        if m > 0 && naive_mae > 0.0 {
            self.mase_sum += origin_err / m as f64 / naive_mae;
            self.mase_origins += 1;
        }
    }

    /// The metrics so far (NaN where undefined, e.g. no points).
    pub fn finish(&self) -> Accuracy {
        let n = self.points as f64;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Accuracy {
            accuracy: 1.0 - ratio(self.abs_err, self.abs_actual),
            mase: ratio(self.mase_sum, self.mase_origins as f64),
            upper_level: self.level,
            upper_coverage: ratio(self.covered as f64, n),
            pinball_upper: ratio(self.pinball, n),
            pinball_upper_scaled: ratio(self.pinball, self.abs_actual),
            underforecast_20pct: ratio(self.under as f64, n),
            underforecast_20pct_upper: ratio(self.under_upper as f64, n),
            noise_ceiling: 1.0 - ratio(self.noise, self.abs_actual),
            points: self.points,
        }
    }
}

/// In-sample MAE of seasonal naive with season `m` (lag 1 when the window is not longer than
/// `m`); 0 for windows of fewer than two points.
pub fn naive_mae(window: &[f64], m: usize) -> f64 {
    let lag = if m >= 1 && window.len() > m { m } else { 1 };
    if window.len() <= lag {
        return 0.0;
    }
    let sum: f64 = window.windows(lag + 1).map(|w| (w[lag] - w[0]).abs()).sum();
    sum / (window.len() - lag) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_worked_example() {
        let mut acc = Accumulator::new(0.9);
        // actual, point, upper
        acc.add(&[10.0, 20.0], &[12.0, 15.0], &[11.0, 19.0], 5.0);
        let a = acc.finish();
        // WAPE = (2 + 5) / 30.
        assert!((a.accuracy - (1.0 - 7.0 / 30.0)).abs() < 1e-12);
        // MASE = mean error 3.5 / 5.
        assert!((a.mase - 0.7).abs() < 1e-12);
        assert_eq!(a.upper_coverage, 0.5);
        // Pinball: y=10,u=11 → 0.1 * 1; y=20,u=19 → 0.9 * 1; mean 0.5.
        assert!((a.pinball_upper - 0.5).abs() < 1e-12);
        // 15 < 16 → under-forecast by more than 20% once; upper 19 ≥ 16 → never.
        assert_eq!(a.underforecast_20pct, 0.5);
        assert_eq!(a.underforecast_20pct_upper, 0.0);
        assert_eq!(a.points, 2);
    }

    #[test]
    fn coverage_tolerance_only_moves_the_coverage() {
        let score = |tolerance| {
            let mut acc = Accumulator::new(0.9).with_coverage_tolerance(tolerance);
            acc.add(&[10.0, 20.0], &[12.0, 15.0], &[10.0 - 1e-12, 19.0], 5.0);
            acc.finish()
        };
        let (exact, tolerant) = (score(0.0), score(1e-9));
        assert_eq!(exact.upper_coverage, 0.0);
        assert_eq!(tolerant.upper_coverage, 0.5);
        assert_eq!(
            Accuracy {
                upper_coverage: 0.0,
                ..tolerant
            },
            exact
        );
    }

    #[test]
    fn naive_mae_uses_the_season_or_lag_one() {
        assert_eq!(naive_mae(&[1.0, 2.0, 1.0, 2.0], 2), 0.0);
        assert_eq!(naive_mae(&[1.0, 2.0, 4.0], 5), 1.5);
        assert_eq!(naive_mae(&[1.0], 1), 0.0);
    }

    #[test]
    fn noise_ceiling_matches_poisson_theory() {
        // For y ≈ λ = 100 everywhere, 1 − √(2·100/π)/100 ≈ 0.92.
        let mut acc = Accumulator::new(0.9);
        acc.add(&[100.0; 10], &[100.0; 10], &[100.0; 10], 1.0);
        assert!(
            (acc.finish().noise_ceiling - (1.0 - (200.0 / std::f64::consts::PI).sqrt() / 100.0))
                .abs()
                < 1e-12
        );
    }

    proptest! {
        #[test]
        fn perfect_forecasts_score_perfectly(y in prop::collection::vec(0.1f64..1e5, 1..100)) {
            let mut acc = Accumulator::new(0.9);
            acc.add(&y, &y, &y, 1.0);
            let a = acc.finish();
            prop_assert!((a.accuracy - 1.0).abs() < 1e-12);
            prop_assert_eq!(a.upper_coverage, 1.0);
            prop_assert_eq!(a.pinball_upper, 0.0);
            prop_assert_eq!(a.mase, 0.0);
        }

        #[test]
        fn metrics_are_bounded_and_scale_free(
            rows in prop::collection::vec((0.0f64..1e4, 0.0f64..1e4, 0.0f64..1e4), 1..100),
            c in 0.01f64..100.0,
        ) {
            let y: Vec<f64> = rows.iter().map(|r| r.0).collect();
            let p: Vec<f64> = rows.iter().map(|r| r.1).collect();
            let u: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let mut a1 = Accumulator::new(0.9);
            a1.add(&y, &p, &u, 1.0);
            let a = a1.finish();
            prop_assert!(a.upper_coverage >= 0.0 && a.upper_coverage <= 1.0);
            prop_assert!(a.pinball_upper >= 0.0);
            prop_assert!(a.underforecast_20pct >= 0.0 && a.underforecast_20pct <= 1.0);
            if y.iter().sum::<f64>() > 0.0 {
                prop_assert!(a.accuracy <= 1.0);
                let s = |v: &[f64]| v.iter().map(|x| x * c).collect::<Vec<_>>();
                let mut a2 = Accumulator::new(0.9);
                a2.add(&s(&y), &s(&p), &s(&u), c);
                let b = a2.finish();
                prop_assert!((a.accuracy - b.accuracy).abs() < 1e-9);
                prop_assert!((a.upper_coverage - b.upper_coverage).abs() < 1e-12);
                prop_assert!((a.pinball_upper * c - b.pinball_upper).abs() <= 1e-9 * (1.0 + b.pinball_upper));
                prop_assert!((a.mase - b.mase).abs() < 1e-9 * (1.0 + a.mase));
            }
        }
    }
}
