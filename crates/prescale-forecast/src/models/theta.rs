//! The Theta method (Assimakopoulos & Nikolopoulos 2000), as statsforecast's `AutoTheta`
//! family, reduced to the standard (θ = 2) and the optimised-θ models.
//!
//! 1. **Seasonality test** (statsforecast's): with at least two days of data, the daily lag
//!    `m` is seasonal when `|r_m| > 1.645 · √((1 + 2 Σ_{i<m} r_i²) / n)` (the autocorrelation
//!    at the lag beyond the 90% bound of the Bartlett standard error). The autocorrelations
//!    come from one FFT.
//! 2. **Classical decomposition** when seasonal: the centred moving average of order `m`
//!    (`2 × m` for even `m`) is the trend; each phase's seasonal index is the mean ratio of the
//!    series to the trend (the mean difference when a value is not positive: additive
//!    decomposition), normalised to a mean of 1 (0). The series is deseasonalised, forecast,
//!    and the indices are put back.
//! 3. **Theta lines**: simple exponential smoothing with drift, the form Hyndman & Billah (2003)
//!    showed the Theta method to be:
//!    `ŷ_{n+h} = ℓ_n + (1 − 1/θ) · b · (h − 1 + 1/α − (1 − α)^n / α)` with `ℓ` the SES level and
//!    `b` the least-squares slope of the (deseasonalised) series. θ = 2 is the standard Theta
//!    method (drift = half the slope); θ = 1 is SES. α (from a grid of 0.01–1) and θ (from
//!    1–6) minimise the one-step-ahead squared error, as statsforecast does; the standard θ = 2
//!    is in the grid, so the optimised model is never worse in sample.
//!
//! Every forecast from an origin `o`, in the selection and in the calibration, uses the slope
//! of `y[..o]` only (prefix sums make that O(1) per origin).

use realfft::RealFftPlanner;

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};

/// The Theta model.
#[derive(Debug, Clone)]
pub struct Theta {
    /// Length of the calibration window, in days.
    pub calibration_days: f64,
    /// The α grid of the SES level.
    pub alphas: Vec<f64>,
    /// The θ grid (θ = 2: the standard Theta method).
    pub thetas: Vec<f64>,
}

impl Default for Theta {
    fn default() -> Self {
        Self {
            calibration_days: super::CALIBRATION_DAYS,
            alphas: vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0],
            thetas: vec![1.0, 1.5, 2.0, 3.0, 4.0, 6.0],
        }
    }
}

/// Least-squares slopes of every prefix of a series, from running sums.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixSlope {
    /// `(Σ y_i, Σ i · y_i)` over `y[..=t]`.
    sums: Vec<(f64, f64)>,
}

impl PrefixSlope {
    pub(crate) fn new(y: &[f64]) -> Self {
        let mut s = (0.0, 0.0);
        let sums = y
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                s.0 += v;
                s.1 += i as f64 * v;
                s
            })
            .collect();
        Self { sums }
    }

    /// The least-squares slope of `y[..o]` on its index (0 for fewer than two points).
    pub(crate) fn slope(&self, o: usize) -> f64 {
        if o < 2 {
            return 0.0;
        }
        let (sy, sty) = self.sums[o - 1];
        ols_slope(o, sy, sty)
    }
}

/// The least-squares slope of a growing series on its index, from running sums.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunningSlope {
    n: usize,
    sy: f64,
    sty: f64,
}

impl RunningSlope {
    /// Adds the next value.
    pub(crate) fn push(&mut self, v: f64) {
        self.sy += v;
        self.sty += self.n as f64 * v;
        self.n += 1;
    }

    /// The slope of the values so far (0 for fewer than two).
    pub(crate) fn slope(&self) -> f64 {
        ols_slope(self.n, self.sy, self.sty)
    }
}

/// The least-squares slope of `n` values on their index `0..n`, from `Σ y` and `Σ i·y`.
fn ols_slope(n: usize, sy: f64, sty: f64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n = n as f64;
    let st = n * (n - 1.0) / 2.0;
    let stt = (n - 1.0) * n * (2.0 * n - 1.0) / 6.0;
    let den = n * stt - st * st;
    if den == 0.0 {
        0.0
    } else {
        (n * sty - st * sy) / den
    }
}

/// The Theta drift multiplier of step `k` (1-based) from origin `o`:
/// `k − 1 + 1/α − (1 − α)^o / α`.
pub(crate) fn theta_steps(alpha: f64, o: usize, k: usize) -> f64 {
    // (1 − α)^o is below 1e-17 once α·o > 40: skip the power.
    let decay = if alpha * o as f64 > 40.0 {
        0.0
    } else {
        (1.0 - alpha).powi(o.min(i32::MAX as usize) as i32)
    };
    (k - 1) as f64 + (1.0 - decay) / alpha
}

/// A seasonal decomposition: per-phase indices, multiplicative or additive.
#[derive(Debug, Clone)]
struct Season {
    index: Vec<f64>,
    multiplicative: bool,
}

impl Season {
    fn remove(&self, t: usize, v: f64) -> f64 {
        let s = self.index[t % self.index.len()];
        if self.multiplicative { v / s } else { v - s }
    }

    fn add(&self, t: usize, v: f64) -> f64 {
        let s = self.index[t % self.index.len()];
        if self.multiplicative { v * s } else { v + s }
    }
}

/// statsforecast's seasonality test at lag `m` (see the module documentation).
fn is_seasonal(y: &[f64], m: usize) -> bool {
    let n = y.len();
    if m < 2 || n < 2 * m {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let len = (2 * n).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(len);
    let inv = planner.plan_fft_inverse(len);
    let mut buf = vec![0.0; len];
    for (b, v) in buf.iter_mut().zip(y) {
        *b = v - mean;
    }
    let mut spec = fwd.make_output_vec();
    if fwd.process(&mut buf, &mut spec).is_err() {
        return false;
    }
    for c in &mut spec {
        *c = realfft::num_complex::Complex::new(c.norm_sqr(), 0.0);
    }
    if inv.process(&mut spec, &mut buf).is_err() {
        return false;
    }
    let c0 = buf[0];
    if c0 <= 0.0 {
        return false;
    }
    let r = |k: usize| buf[k] / c0;
    let sum: f64 = (1..m).map(|k| r(k) * r(k)).sum();
    r(m).abs() > 1.645 * ((1.0 + 2.0 * sum) / n as f64).sqrt()
}

/// Classical decomposition with season `m` (see the module documentation).
fn decompose(y: &[f64], m: usize) -> Option<Season> {
    let n = y.len();
    if n < 2 * m || m < 2 {
        return None;
    }
    let multiplicative = y.iter().all(|&v| v > 0.0);
    // Centred moving average of order m (2 x m for even m), from prefix sums.
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for &v in y {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let half = m / 2;
    let window_mean = |a: usize, b: usize| (prefix[b] - prefix[a]) / (b - a) as f64;
    let (mut sums, mut counts) = (vec![0.0; m], vec![0usize; m]);
    for t in half..n.saturating_sub(half) {
        let trend = if m % 2 == 1 {
            window_mean(t - half, t + half + 1)
        } else {
            if t + half + 1 > n {
                continue;
            }
            0.5 * (window_mean(t - half, t + half) + window_mean(t + 1 - half, t + half + 1))
        };
        let d = if multiplicative {
            if trend <= 0.0 {
                continue;
            }
            y[t] / trend
        } else {
            y[t] - trend
        };
        sums[t % m] += d;
        counts[t % m] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let mut index: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| s / c as f64)
        .collect();
    let mean = index.iter().sum::<f64>() / m as f64;
    if multiplicative {
        if mean <= 0.0 || index.iter().any(|&s| s <= 0.0) {
            return None;
        }
        index.iter_mut().for_each(|s| *s /= mean);
    } else {
        index.iter_mut().for_each(|s| *s -= mean);
    }
    Some(Season {
        index,
        multiplicative,
    })
}

struct FittedTheta {
    season: Option<Season>,
    alpha: f64,
    theta: f64,
    /// SES level after each (deseasonalised) observation.
    level: Vec<f64>,
    slope: PrefixSlope,
    calibration: Calibration,
}

impl FittedTheta {
    /// The forecast of `t` from origin `o` (data before `o`, `o >= 1`).
    fn forecast_from(&self, o: usize, t: usize) -> f64 {
        let w = 1.0 - 1.0 / self.theta;
        let d = self.level[o - 1] + w * self.slope.slope(o) * theta_steps(self.alpha, o, t + 1 - o);
        match &self.season {
            Some(s) => s.add(t, d),
            None => d,
        }
    }
}

/// SES levels of `x` with smoothing `alpha`, from the mean of the first ten values.
pub(crate) fn ses(x: &[f64], alpha: f64) -> Vec<f64> {
    let k = x.len().clamp(1, 10);
    let mut l = x.iter().take(k).sum::<f64>() / k as f64;
    x.iter()
        .map(|&v| {
            l += alpha * (v - l);
            l
        })
        .collect()
}

impl Model for Theta {
    fn name(&self) -> &'static str {
        "theta"
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        input.validate()?;
        let y = input.values;
        let n = y.len();
        if n < 3 {
            return Err(ForecastError::TooShort {
                model: "theta",
                needed: 3,
                got: n,
            });
        }
        let season = input
            .steps_per_day()
            .filter(|&m| is_seasonal(y, m))
            .and_then(|m| decompose(y, m));
        let x: Vec<f64> = match &season {
            Some(s) => y.iter().enumerate().map(|(t, &v)| s.remove(t, v)).collect(),
            None => y.to_vec(),
        };
        let slope = PrefixSlope::new(&x);
        let warmup = 2;
        // The slope before every origin, once for the whole grid.
        let slopes: Vec<f64> = (0..n).map(|t| slope.slope(t)).collect();
        let mut best = (f64::INFINITY, 0.1, 2.0);
        let mut sse = vec![0.0; self.thetas.len()];
        for &alpha in &self.alphas {
            let level = ses(&x, alpha);
            sse.iter_mut().for_each(|e| *e = 0.0);
            // (1 − α)^t, updated step by step.
            let mut decay = (1.0 - alpha).powi(warmup as i32);
            for t in warmup..n {
                let drift = slopes[t] * (1.0 - decay) / alpha;
                decay *= 1.0 - alpha;
                for (e, &theta) in sse.iter_mut().zip(&self.thetas) {
                    let f = level[t - 1] + (1.0 - 1.0 / theta) * drift;
                    *e += (x[t] - f) * (x[t] - f);
                }
            }
            for (&e, &theta) in sse.iter().zip(&self.thetas) {
                if e < best.0 {
                    best = (e, alpha, theta);
                }
            }
        }
        let (_, alpha, theta) = best;
        let mut fitted = FittedTheta {
            season,
            alpha,
            theta,
            level: ses(&x, alpha),
            slope,
            calibration: Calibration::default(),
        };
        let window = super::calibration_steps(self.calibration_days, input.step_secs);
        fitted.calibration = super::backcast(y, input.horizon, window, warmup, |o, t| {
            fitted.forecast_from(o, t)
        });
        Ok(Box::new(fitted))
    }
}

impl Fitted for FittedTheta {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let n = self.level.len();
        (n..n + horizon).map(|t| self.forecast_from(n, t)).collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        let season = match &self.season {
            Some(s) if s.multiplicative => {
                format!(", multiplicative season of {} steps", s.index.len())
            }
            Some(s) => format!(", additive season of {} steps", s.index.len()),
            None => String::new(),
        };
        format!("Theta θ={} α={}{season}", self.theta, self.alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn prefix_slopes_are_least_squares() {
        let y = [1.0, 3.0, 5.0, 7.0, 20.0];
        let s = PrefixSlope::new(&y);
        assert!((s.slope(4) - 2.0).abs() < 1e-12);
        assert_eq!(s.slope(1), 0.0);
        // Slope of [1, 3, 5, 7, 20]: x̄ = 2, ȳ = 7.2, Σ(x−x̄)(y−ȳ) = 42, Σ(x−x̄)² = 10.
        assert!((s.slope(5) - 4.2).abs() < 1e-12);
        let mut r = RunningSlope::default();
        for v in y {
            r.push(v);
        }
        assert!((r.slope() - 4.2).abs() < 1e-12);
    }

    #[test]
    fn standard_theta_is_ses_plus_half_the_slope() {
        // A noiseless line: SES with α = 1 sits on the last value, and the drift of the θ = 2
        // line is half the slope, so the optimised θ extrapolates the whole slope instead.
        let y: Vec<f64> = (0..200).map(|t| 10.0 + 0.5 * t as f64).collect();
        let input = FitInput {
            values: &y,
            start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 3600 * 7,
            horizon: 4,
        };
        let f = Theta::default().fit(&input).unwrap();
        let p = f.predict_point(4);
        assert!(
            (p[0] - (y[199] + 0.5)).abs() < 0.2,
            "{p:?} {}",
            f.describe()
        );
        assert!(p[3] > p[0]);
        let standard = Theta {
            thetas: vec![2.0],
            alphas: vec![1.0],
            ..Theta::default()
        }
        .fit(&input)
        .unwrap();
        // α = 1: ŷ_{n+h} = y_n + b/2 · h.
        let p = standard.predict_point(2);
        assert!((p[0] - (y[199] + 0.25)).abs() < 1e-9, "{p:?}");
        assert!((p[1] - (y[199] + 0.5)).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn a_daily_season_is_detected_and_removed() {
        let m = 24;
        let y: Vec<f64> = (0..m * 14)
            .map(|t| {
                100.0 * (1.0 + 0.5 * (std::f64::consts::TAU * (t % m) as f64 / m as f64).sin())
            })
            .collect();
        assert!(is_seasonal(&y, m));
        let s = decompose(&y, m).unwrap();
        assert!(s.multiplicative);
        assert!((s.index[6] - 1.5).abs() < 0.01, "{:?}", s.index);
        let input = FitInput {
            values: &y,
            start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 3600,
            horizon: 24,
        };
        let f = Theta::default().fit(&input).unwrap();
        assert!(f.describe().contains("season"), "{}", f.describe());
        let p = f.predict_point(24);
        for (k, v) in p.iter().enumerate() {
            assert!((v - y[k]).abs() < 2.0, "{k}: {v} vs {}", y[k]);
        }
        let noise: Vec<f64> = (0..500).map(|i| ((i * 7919) % 101) as f64).collect();
        assert!(!is_seasonal(&noise, 24));
    }
}
