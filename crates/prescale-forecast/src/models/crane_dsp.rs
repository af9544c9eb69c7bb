//! Crane EHPA's DSP predictor (`gocrane/crane`, `pkg/prediction/dsp`), re-implemented for
//! side-by-side comparison with our own forecaster.
//!
//! 1. **Preprocess.** Keep the last [`CraneConfig::history_length_secs`] (15 days by default);
//!    at least 48 h are needed ([`ForecastError::TooShort`]), at a step of at most 1 h
//!    ([`ForecastError::InvalidArgument`]). Samples outside the empirical `[P0.1, P99.9]` band
//!    are replaced by the previous (cleaned) sample. Crane's `deTrend()` is a no-op, and so it
//!    is here: no trend is removed. Crane's gap handling does not apply ([`FitInput`] is
//!    regular and gap-filled).
//! 2. **Period.** Only 1 week (first, when 2 whole weeks remain after truncation) and 1 day are
//!    tried, each on the signal truncated to its latest whole periods and standardized. The
//!    99th smallest of the maximum spectral magnitudes of 100 random permutations is the noise
//!    threshold; every bin `k >= 2` above it proposes the period `N / k`, kept if the circular
//!    `ACF = IFFT(|FFT(z)|²) / N` has a peak there (least-squares slope `> 0` over
//!    `[lag − w, lag]`, `< 0` over `[lag, lag + w]`, `w = min(4 h, lag / 2)`). The highest ACF
//!    wins; unless it is exactly a day or a week, the fit fails with
//!    [`ForecastError::NoForecast`].
//! 3. **Estimators** ([`Estimator`]): `fft` (low-pass reconstruction of the whole truncated
//!    history, last period, values `<= 0` replaced by 0.01, times `1 + margin`) and `maxValue`
//!    (per-phase maximum times `1 + margin`); Crane's 8 built-in `fft` variants by default.
//! 4. **Selection.** One-fold backtest: each estimator is fitted on all but the last period and
//!    scored on it with [`asymmetric_mape`]; the best is refitted on the whole history.
//! 5. **Output.** Forecast step `j` is `period_values[j mod P]`, `period_values[0]` being the
//!    phase right after the history.
//!
//! Departures from the Go code:
//! - *Exact match on discrete bins.* Crane compares the winning period with the day and week
//!   durations. Here bin `k` stands for `N / k` steps (its ACF read at the nearest whole lag)
//!   and equals the period `P` only when `k * P == N`, i.e. `k` counts the whole periods of the
//!   truncated signal. As `P >= 24` steps, no other bin even rounds to `P`: no tolerance.
//! - *Centering.* The signal is standardized before the permutation test, which zeroes the
//!   permutation-invariant DC bin that would otherwise dominate every maximum.
//! - *Half spectrum.* A real FFT gives bins `0..=N/2`; in the `fft` estimator's item counts
//!   every bin but DC and Nyquist counts twice, as with its conjugate in Crane's full complex
//!   spectrum, so ranks and thresholds are the same.
//! - *First sample.* Outlier replacement has no previous sample at index 0: it is clamped.
//! - *Shared work.* When the week- and day-truncated signals coincide, the period analysis runs
//!   once, and `fft` variants that differ only in margin share one reconstruction.
//! - *Calibration.* Crane has no quantiles: the winner's backtest residuals on the last period
//!   fill a pooled [`Calibration`], as the forecast does not depend on the horizon step.

use std::fmt;

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use realfft::{RealFftPlanner, num_complex::Complex};
use serde::{Deserialize, Serialize};

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};

const NAME: &str = "crane_dsp";
const DAY_SECS: i64 = 86_400;
const MIN_HISTORY_SECS: i64 = 2 * DAY_SECS;
const MAX_STEP_SECS: i64 = 3_600;
const PEAK_WINDOW_SECS: i64 = 4 * 3_600;
const PERMUTATIONS: usize = 100;
/// The noise threshold is the `NOISE_RANK`-th smallest permutation maximum.
const NOISE_RANK: usize = 99;
const CLIP_LOW: f64 = 0.001;
const CLIP_HIGH: f64 = 0.999;
/// Below this actual value, [`asymmetric_mape`] falls back to the mean absolute error.
const MAPE_MIN_ACTUAL: f64 = 1e-3;
/// Non-positive `fft` reconstructions are replaced by this.
const FLOOR: f64 = 0.01;

/// Default seed of the permutation test (`"crane"` in ASCII).
pub const DEFAULT_SEED: u64 = 0x63_72_61_6e_65;

/// Parameters of Crane's `fft` estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FftParams {
    /// `minNumOfSpectrumItems`: at least this many spectrum items survive the filter (3).
    pub min_items: usize,
    /// `maxNumOfSpectrumItems`: at most about this many low-amplitude items survive (100).
    pub max_items: usize,
    /// `highFrequencyThreshold` in Hz: bins at or below it are always kept (1/3600).
    pub high_frequency_hz: f64,
    /// `lowAmplitudeThreshold`: amplitudes below it are dropped (1.0, in the series' units).
    pub low_amplitude: f64,
    /// `marginFraction`: the estimate is multiplied by `1 + margin_fraction` (0).
    pub margin_fraction: f64,
}

impl Default for FftParams {
    fn default() -> Self {
        Self {
            min_items: 3,
            max_items: 100,
            high_frequency_hz: 1.0 / 3_600.0,
            low_amplitude: 1.0,
            margin_fraction: 0.0,
        }
    }
}

/// One of Crane's estimators of the next period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Low-pass FFT reconstruction of the history, last period.
    Fft(FftParams),
    /// Per-phase maximum over the past periods.
    MaxValue {
        /// The estimate is multiplied by `1 + margin_fraction`.
        margin_fraction: f64,
    },
}

impl Estimator {
    /// Crane's 8 built-in `fft` variants, used when none is configured: `min_items` 3 at
    /// `low_amplitude` 1.0 and `min_items` 50 at `low_amplitude` 0.05, each with margin 0.01,
    /// 0.10, 0.15 and 0.20 (other parameters at their defaults).
    pub fn crane_defaults() -> Vec<Estimator> {
        let mut out = Vec::with_capacity(8);
        for (min_items, low_amplitude) in [(3, 1.0), (50, 0.05)] {
            for margin_fraction in [0.01, 0.10, 0.15, 0.20] {
                out.push(Estimator::Fft(FftParams {
                    min_items,
                    low_amplitude,
                    margin_fraction,
                    ..FftParams::default()
                }));
            }
        }
        out
    }

    fn margin_fraction(&self) -> f64 {
        match self {
            Estimator::Fft(p) => p.margin_fraction,
            Estimator::MaxValue { margin_fraction } => *margin_fraction,
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let params_ok = match self {
            Estimator::Fft(p) => ok(p.high_frequency_hz) && ok(p.low_amplitude),
            Estimator::MaxValue { .. } => true,
        };
        if params_ok && ok(self.margin_fraction()) {
            return Ok(());
        }
        Err(invalid(format!(
            "estimator {self} needs finite, non-negative parameters"
        )))
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Estimator::Fft(p) => write!(
                f,
                "fft(minItems={}, lowAmp={}, margin={})",
                p.min_items, p.low_amplitude, p.margin_fraction
            ),
            Estimator::MaxValue { margin_fraction } => {
                write!(f, "maxValue(margin={margin_fraction})")
            }
        }
    }
}

/// Configuration of [`CraneDsp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CraneConfig {
    /// `historyLength` in seconds: only the latest this much history is used (15 days; at
    /// least 48 h).
    pub history_length_secs: i64,
    /// Estimators competing in the backtest; empty means [`Estimator::crane_defaults`] (the
    /// default).
    pub estimators: Vec<Estimator>,
    /// Seed of the permutation test, for deterministic results ([`DEFAULT_SEED`]).
    pub seed: u64,
}

impl Default for CraneConfig {
    fn default() -> Self {
        Self {
            history_length_secs: 15 * DAY_SECS,
            estimators: Vec::new(),
            seed: DEFAULT_SEED,
        }
    }
}

/// Crane EHPA's DSP predictor as a [`Model`] named `crane_dsp`.
#[derive(Debug, Clone, Default)]
pub struct CraneDsp {
    config: CraneConfig,
}

impl CraneDsp {
    /// A predictor with the given configuration.
    pub fn new(config: CraneConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &CraneConfig {
        &self.config
    }
}

/// The period Crane accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    Week,
}

struct FittedCrane {
    period: Period,
    /// The estimated period; `values[0]` is the phase right after the history.
    values: Vec<f64>,
    estimator: Estimator,
    score: f64,
    metric: &'static str,
    calibration: Calibration,
}

impl Model for CraneDsp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_inner(input)?))
    }
}

impl CraneDsp {
    fn fit_inner(&self, input: &FitInput<'_>) -> Result<FittedCrane> {
        input.validate()?;
        let step = input.step_secs;
        if step > MAX_STEP_SECS {
            return Err(invalid(format!("step {step} s is over {MAX_STEP_SECS} s")));
        }
        let spd = input
            .steps_per_day()
            .ok_or_else(|| invalid(format!("a day is not a whole number of {step} s steps")))?;
        if self.config.history_length_secs < MIN_HISTORY_SECS {
            return Err(invalid(format!(
                "history length {} s is under 48 h",
                self.config.history_length_secs
            )));
        }
        let estimators = if self.config.estimators.is_empty() {
            Estimator::crane_defaults()
        } else {
            self.config.estimators.clone()
        };
        for e in &estimators {
            e.validate()?;
        }

        let keep = usize::try_from(self.config.history_length_secs / step).unwrap_or(usize::MAX);
        let values = &input.values[input.values.len().saturating_sub(keep)..];
        let needed = 2 * spd;
        if values.len() < needed {
            return Err(ForecastError::TooShort {
                model: NAME,
                needed,
                got: values.len(),
            });
        }
        let mut x = values.to_vec();
        clip_outliers(&mut x);

        let mut fft = Fft {
            planner: RealFftPlanner::new(),
        };
        let (period, p) =
            detect_period(&x, spd, step, self.config.seed, &mut fft).ok_or_else(|| {
                ForecastError::NoForecast {
                    model: NAME,
                    reason: "not periodic: the dominant period is neither one day nor one week"
                        .into(),
                }
            })?;
        let x = &x[x.len() % p..];
        let (train, test) = x.split_at(x.len() - p);

        let backtest = estimate_all(&estimators, train, p, step, &mut fft);
        let use_mae = test.iter().any(|&a| a < MAPE_MIN_ACTUAL);
        let mut best: Option<(usize, f64)> = None;
        for (i, pred) in backtest.iter().enumerate() {
            let s = asymmetric_mape(test, pred);
            if !s.is_nan() && best.is_none_or(|(_, b)| s < b) {
                best = Some((i, s));
            }
        }
        let (winner, score) = best.ok_or_else(|| ForecastError::NoForecast {
            model: NAME,
            reason: "no estimator could be scored".into(),
        })?;
        let estimator = estimators[winner];
        let mut calibration = Calibration::new(input.horizon);
        for (&actual, &predicted) in test.iter().zip(&backtest[winner]) {
            calibration.push_pooled(actual, predicted);
        }
        let values = estimate_all(&[estimator], x, p, step, &mut fft).swap_remove(0);
        tracing::debug!(?period, %estimator, score, "crane_dsp fitted");
        Ok(FittedCrane {
            period,
            values,
            estimator,
            score,
            metric: if use_mae { "MAE" } else { "asymmetric MAPE" },
            calibration,
        })
    }
}

impl Fitted for FittedCrane {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let p = self.values.len().max(1);
        (0..horizon)
            .map(|j| self.values.get(j % p).copied().unwrap_or(FLOOR))
            .collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        let period = match self.period {
            Period::Day => "day",
            Period::Week => "week",
        };
        format!(
            "crane_dsp: period {period} ({} steps), estimator {}, backtest {} {:.4}",
            self.values.len(),
            self.estimator,
            self.metric,
            self.score
        )
    }
}

fn invalid(msg: String) -> ForecastError {
    ForecastError::InvalidArgument(format!("{NAME}: {msg}"))
}

/// Crane's asymmetric MAPE (`pkg/prediction/accuracy`): the mean over points of `(p − a) / a`
/// for an over-prediction and `−ln(1 − e) / ln(1.25)` for an under-prediction with relative
/// shortfall `e = (a − p) / a` (10% short scores 0.47, 50% short 3.1, a zero prediction is
/// infinite). When any actual is below 1e-3 it is the mean absolute error instead. Only the
/// common length of the two slices is scored; empty input scores 0.
pub fn asymmetric_mape(actual: &[f64], predicted: &[f64]) -> f64 {
    let n = actual.len().min(predicted.len());
    if n == 0 {
        return 0.0;
    }
    let mae = actual[..n].iter().any(|&a| a < MAPE_MIN_ACTUAL);
    let ln_125 = 1.25f64.ln();
    let error = |(&a, &p): (&f64, &f64)| match (mae, p >= a) {
        (true, _) => (p - a).abs(),
        (false, true) => (p - a) / a,
        // -ln(1 - e) with e = (a - p) / a is ln(a / p).
        (false, false) => (a / p.max(0.0)).ln() / ln_125,
    };
    actual[..n].iter().zip(predicted).map(error).sum::<f64>() / n as f64
}

/// Replaces samples outside the empirical `[P0.1, P99.9]` band by the previous (cleaned)
/// sample; the first sample, having none, is clamped to the band.
fn clip_outliers(x: &mut [f64]) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let mut sorted = x.to_vec();
    // Empirical quantile (gonum `stat.Empirical`): the ceil(p n)-th smallest value.
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    let (lo_rank, hi_rank) = (rank(CLIP_LOW), rank(CLIP_HIGH));
    let hi = *sorted.select_nth_unstable_by(hi_rank, f64::total_cmp).1;
    let lo = *sorted[..=hi_rank]
        .select_nth_unstable_by(lo_rank, f64::total_cmp)
        .1;
    x[0] = x[0].clamp(lo, hi);
    for i in 1..n {
        if x[i] < lo || x[i] > hi {
            x[i] = x[i - 1];
        }
    }
}

/// FFT plans, created once per length and reused.
struct Fft {
    planner: RealFftPlanner<f64>,
}

impl Fft {
    /// The half spectrum `X_0..=X_{N/2}` of `x` (unnormalized).
    fn forward(&mut self, x: &[f64]) -> Vec<Complex<f64>> {
        let plan = self.planner.plan_fft_forward(x.len());
        let mut input = x.to_vec();
        let mut out = plan.make_output_vec();
        let mut scratch = plan.make_scratch_vec();
        // The buffers come from the plan itself, so the lengths always match.
        let _ = plan.process_with_scratch(&mut input, &mut out, &mut scratch);
        out
    }

    /// The real signal of length `n` with half spectrum `spec`, normalized by `1 / n`.
    fn inverse(&mut self, spec: &mut [Complex<f64>], n: usize) -> Vec<f64> {
        let plan = self.planner.plan_fft_inverse(n);
        let mut out = plan.make_output_vec();
        if spec.len() != plan.complex_len() {
            return out;
        }
        // A real signal's DC (and even-length Nyquist) bins are real.
        spec[0].im = 0.0;
        if n.is_multiple_of(2) {
            spec[n / 2].im = 0.0;
        }
        let mut scratch = plan.make_scratch_vec();
        let _ = plan.process_with_scratch(spec, &mut out, &mut scratch);
        let scale = 1.0 / n as f64;
        out.iter_mut().for_each(|v| *v *= scale);
        out
    }
}

/// Crane's `FindPeriod`: week (when 2 whole weeks are available), then day.
fn detect_period(
    x: &[f64],
    spd: usize,
    step_secs: i64,
    seed: u64,
    fft: &mut Fft,
) -> Option<(Period, usize)> {
    let mut analysed: Option<(usize, Option<usize>)> = None;
    for (period, p) in [(Period::Week, 7 * spd), (Period::Day, spd)] {
        let n = (x.len() / p) * p;
        if n < 2 * p {
            continue;
        }
        let bin = match analysed {
            Some((len, bin)) if len == n => bin,
            _ => {
                let bin = strongest_period_bin(&x[x.len() - n..], step_secs, seed, fft);
                analysed = Some((n, bin));
                bin
            }
        };
        // Bin k stands for the period N / k: exactly P when k * P == N.
        if bin.is_some_and(|k| k * p == n) {
            return Some((period, p));
        }
    }
    None
}

/// The periodogram bin whose period wins Crane's permutation test and ACF peak test, if any.
fn strongest_period_bin(x: &[f64], step_secs: i64, seed: u64, fft: &mut Fft) -> Option<usize> {
    let n = x.len();
    if n < 4 {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // A constant (or overflowing) series has no period.
    if !sd.is_finite() || sd <= 1e-9 * mean.abs() {
        return None;
    }
    let z: Vec<f64> = x.iter().map(|v| (v - mean) / sd).collect();

    // Noise threshold: the 99th smallest of 100 permutation maxima (squared magnitudes).
    let plan = fft.planner.plan_fft_forward(n);
    let mut input = plan.make_input_vec();
    let mut spec = plan.make_output_vec();
    let mut scratch = plan.make_scratch_vec();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut perm = z.clone();
    let mut maxima = Vec::with_capacity(PERMUTATIONS);
    for _ in 0..PERMUTATIONS {
        // Fisher-Yates from any arrangement gives a fresh uniform permutation.
        perm.shuffle(&mut rng);
        input.copy_from_slice(&perm);
        plan.process_with_scratch(&mut input, &mut spec, &mut scratch)
            .ok()?;
        maxima.push(
            spec.iter()
                .skip(1)
                .map(|c| c.norm_sqr())
                .fold(0.0, f64::max),
        );
    }
    maxima.sort_by(f64::total_cmp);
    let threshold = *maxima.get(NOISE_RANK - 1)?;

    input.copy_from_slice(&z);
    plan.process_with_scratch(&mut input, &mut spec, &mut scratch)
        .ok()?;
    let candidates: Vec<usize> = (2..spec.len())
        .filter(|&k| spec[k].norm_sqr() > threshold)
        .collect();
    if candidates.is_empty() {
        return None;
    }

    // Circular ACF = IFFT(|FFT(z)|²) / N; `inverse` already divides by N once.
    let mut power: Vec<Complex<f64>> = spec
        .iter()
        .map(|c| Complex::new(c.norm_sqr() / n as f64, 0.0))
        .collect();
    let acf = fft.inverse(&mut power, n);
    let window = usize::try_from(PEAK_WINDOW_SECS / step_secs).unwrap_or(0);
    let mut best: Option<(usize, f64)> = None;
    for k in candidates {
        let lag = (n as f64 / k as f64).round() as usize;
        let w = window.min(lag / 2);
        if w == 0 || !is_peak(&acf, lag, w) {
            continue;
        }
        let v = acf[lag];
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((k, v));
        }
    }
    best.map(|(k, _)| k)
}

/// Crane's peak test: rising least-squares slope over `[lag − w, lag]`, falling over
/// `[lag, lag + w]`.
fn is_peak(acf: &[f64], lag: usize, w: usize) -> bool {
    let (Some(left), Some(right)) = (
        lag.checked_sub(w).and_then(|a| acf.get(a..=lag)),
        acf.get(lag..lag.saturating_add(w + 1)),
    ) else {
        return false;
    };
    slope_sign(left) > 0.0 && slope_sign(right) < 0.0
}

/// The numerator of the least-squares slope of `y` against `0, 1, …` (same sign as the slope).
fn slope_sign(y: &[f64]) -> f64 {
    let mid = (y.len() as f64 - 1.0) / 2.0;
    y.iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - mid) * v)
        .sum()
}

/// A spectrum shared by the `fft` estimators of one signal.
struct Spectrum {
    bins: Vec<Complex<f64>>,
    /// `|X_k| / N` per bin.
    amps: Vec<f64>,
    /// `(amplitude, count)` sorted by decreasing amplitude; `count` is 2 for bins with a
    /// conjugate in the full spectrum, 1 for DC and Nyquist.
    ranked: Vec<(f64, usize)>,
}

impl Spectrum {
    fn new(x: &[f64], fft: &mut Fft) -> Self {
        let n = x.len();
        let bins = fft.forward(x);
        let amps: Vec<f64> = bins.iter().map(|c| c.norm() / n as f64).collect();
        let mut ranked: Vec<(f64, usize)> = amps
            .iter()
            .enumerate()
            .map(|(k, &a)| (a, if k == 0 || 2 * k == n { 1 } else { 2 }))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        Self { bins, amps, ranked }
    }

    /// Amplitude of the `r`-th largest item (1-based) of the full spectrum; `+inf` for
    /// `r = 0`, 0 past the end.
    fn amplitude_at_rank(&self, r: usize) -> f64 {
        if r == 0 {
            return f64::INFINITY;
        }
        let mut seen = 0;
        for &(a, count) in &self.ranked {
            seen += count;
            if seen >= r {
                return a;
            }
        }
        0.0
    }
}

/// The `fft` estimator's last period before the margin, clamped to at least [`FLOOR`]; `n`
/// is the signal length.
fn fft_period(
    s: &Spectrum,
    n: usize,
    params: &FftParams,
    p: usize,
    step_secs: i64,
    fft: &mut Fft,
) -> Vec<f64> {
    let min_amplitude = s
        .amplitude_at_rank(params.max_items)
        .max(params.low_amplitude)
        .min(s.amplitude_at_rank(params.min_items));
    let hz_per_bin = 1.0 / (n as f64 * step_secs as f64);
    let mut bins = s.bins.clone();
    for (k, (c, &a)) in bins.iter_mut().zip(&s.amps).enumerate() {
        if a < min_amplitude && k as f64 * hz_per_bin > params.high_frequency_hz {
            *c = Complex::new(0.0, 0.0);
        }
    }
    let x = fft.inverse(&mut bins, n);
    x[x.len().saturating_sub(p)..]
        .iter()
        .map(|&v| if v > 0.0 { v } else { FLOOR })
        .collect()
}

/// Every estimator's last period (margin applied) on `signal`, whole periods of `p` steps.
fn estimate_all(
    estimators: &[Estimator],
    signal: &[f64],
    p: usize,
    step_secs: i64,
    fft: &mut Fft,
) -> Vec<Vec<f64>> {
    let mut spectrum: Option<Spectrum> = None;
    let mut filtered: Vec<(FftParams, Vec<f64>)> = Vec::new();
    let mut out = Vec::with_capacity(estimators.len());
    for e in estimators {
        let base = match e {
            Estimator::Fft(params) => {
                let same = |q: &FftParams| FftParams {
                    margin_fraction: 0.0,
                    ..*q
                };
                match filtered.iter().find(|(q, _)| same(q) == same(params)) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let s = spectrum.get_or_insert_with(|| Spectrum::new(signal, fft));
                        let v = fft_period(s, signal.len(), params, p, step_secs, fft);
                        filtered.push((*params, v.clone()));
                        v
                    }
                }
            }
            Estimator::MaxValue { .. } => max_per_phase(signal, p),
        };
        let scale = 1.0 + e.margin_fraction();
        out.push(base.into_iter().map(|v| v * scale).collect());
    }
    out
}

/// The per-phase maximum over the whole periods of `signal` (non-negative values).
fn max_per_phase(signal: &[f64], p: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; p];
    for period in signal.chunks_exact(p.max(1)) {
        out.iter_mut().zip(period).for_each(|(o, &v)| *o = o.max(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use rand::Rng;
    use std::f64::consts::TAU;

    /// A standard normal sample (Box-Muller).
    fn gauss(rng: &mut StdRng) -> f64 {
        let u: f64 = rng.random::<f64>().max(1e-12);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }

    fn input(values: &[f64], step_secs: i64, horizon: usize) -> FitInput<'_> {
        FitInput {
            values,
            start: DateTime::from_timestamp(1_700_006_400, 0).unwrap(),
            step_secs,
            horizon,
        }
    }

    /// `days` of a daily sine at `step_secs`, plus Gaussian noise of sd `noise`.
    fn daily(days: usize, step_secs: i64, noise: f64, seed: u64) -> Vec<f64> {
        let spd = (86_400 / step_secs) as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        (0..days * spd)
            .map(|t| {
                let phase = (t % spd) as f64 / spd as f64;
                100.0 + 50.0 * (TAU * phase).sin() + noise * gauss(&mut rng)
            })
            .collect()
    }

    /// Runs the fit and returns the concrete fitted model (the code path of `Model::fit`).
    fn fit_concrete(
        model: &CraneDsp,
        values: &[f64],
        step: i64,
        horizon: usize,
    ) -> Result<FittedCrane> {
        model.fit_inner(&input(values, step, horizon))
    }

    #[test]
    fn daily_sine_is_detected_and_forecast() {
        let all = daily(8, 60, 3.0, 1);
        let (train, next_day) = all.split_at(7 * 1440);
        let f = fit_concrete(&CraneDsp::default(), train, 60, 1440).unwrap();
        assert_eq!(f.period, Period::Day);
        assert_eq!(f.values.len(), 1440);
        let pred = f.predict_point(1440);
        let abs_err: f64 = pred.iter().zip(next_day).map(|(p, a)| (p - a).abs()).sum();
        let wape = abs_err / next_day.iter().sum::<f64>();
        assert!(wape < 0.10, "WAPE {wape}");
        assert!(f.describe().contains("period day"), "{}", f.describe());
    }

    #[test]
    fn weekly_pattern_is_detected_as_week() {
        let spd = 288;
        let mut rng = StdRng::seed_from_u64(2);
        let y: Vec<f64> = (0..28 * spd)
            .map(|t| {
                let day = t / spd;
                let phase = (t % spd) as f64 / spd as f64;
                let level = if day % 7 >= 5 { 30.0 } else { 100.0 };
                level * (1.0 + 0.5 * (TAU * phase).sin()) + 2.0 * gauss(&mut rng)
            })
            .collect();
        let f = fit_concrete(&CraneDsp::default(), &y, 300, 288).unwrap();
        assert_eq!(f.period, Period::Week);
        assert_eq!(f.values.len(), 7 * spd);
        // The forecast starts on day 28, a weekday (28 % 7 == 0); day 33 is a weekend day.
        // Probe at 06:00, away from the midnight jumps the low-pass smooths.
        let p = f.predict_point(7 * spd);
        assert!((p[72] - 150.0).abs() < 10.0, "{}", p[72]);
        assert!((p[5 * spd + 72] - 45.0).abs() < 10.0, "{}", p[5 * spd + 72]);
    }

    #[test]
    fn white_noise_is_not_periodic() {
        let mut rng = StdRng::seed_from_u64(3);
        let y: Vec<f64> = (0..3 * 1440)
            .map(|_| 50.0 + 5.0 * gauss(&mut rng))
            .collect();
        let err = CraneDsp::default().fit(&input(&y, 60, 60)).err().unwrap();
        assert!(
            matches!(
                err,
                ForecastError::NoForecast {
                    model: "crane_dsp",
                    ..
                }
            ),
            "{err}"
        );
        // A constant series neither.
        let flat = vec![7.0; 3 * 1440];
        assert!(matches!(
            CraneDsp::default().fit(&input(&flat, 60, 60)),
            Err(ForecastError::NoForecast { .. })
        ));
    }

    #[test]
    fn short_or_coarse_input_is_rejected() {
        let y = daily(1, 60, 0.0, 4);
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 60, 60)),
            Err(ForecastError::TooShort {
                model: "crane_dsp",
                needed: 2880,
                got: 1440
            })
        ));
        let y = vec![1.0; 100];
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 7_200, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 7, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        let short_history = CraneConfig {
            history_length_secs: 3_600,
            ..CraneConfig::default()
        };
        assert!(matches!(
            CraneDsp::new(short_history).fit(&input(&daily(3, 60, 0.0, 4), 60, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        // History length limits what is used: 3 days given, 2 kept, still enough.
        let two_days = CraneConfig {
            history_length_secs: 2 * 86_400,
            ..CraneConfig::default()
        };
        let f = fit_concrete(&CraneDsp::new(two_days), &daily(3, 300, 1.0, 5), 300, 4).unwrap();
        assert_eq!(f.period, Period::Day);
    }

    #[test]
    fn asymmetric_mape_matches_hand_worked_values() {
        let a = [100.0];
        assert!((asymmetric_mape(&a, &[90.0]) - 0.4722).abs() < 1e-3);
        assert!((asymmetric_mape(&a, &[50.0]) - 3.1063).abs() < 1e-3);
        assert!((asymmetric_mape(&a, &[110.0]) - 0.1).abs() < 1e-12);
        assert_eq!(asymmetric_mape(&a, &[100.0]), 0.0);
        assert_eq!(asymmetric_mape(&a, &[0.0]), f64::INFINITY);
        // Mean over points.
        let two = asymmetric_mape(&[100.0, 100.0], &[110.0, 90.0]);
        assert!((two - (0.1 + 0.4722) / 2.0).abs() < 1e-3);
        // Any actual under 1e-3: mean absolute error.
        assert!((asymmetric_mape(&[0.0, 10.0], &[1.0, 7.0]) - 2.0).abs() < 1e-12);
        assert_eq!(asymmetric_mape(&[], &[]), 0.0);
    }

    #[test]
    fn clipping_replaces_a_spike_by_the_previous_sample() {
        let mut x: Vec<f64> = (0..2000).map(|t| 10.0 + (t % 7) as f64).collect();
        x[1234] = 1e6;
        x[1500] = -1e6;
        let before = (x[1233], x[1499]);
        clip_outliers(&mut x);
        assert_eq!(x[1234], before.0);
        assert_eq!(x[1500], before.1);
        assert!(x.iter().all(|v| (10.0..=16.0).contains(v)));
    }

    #[test]
    fn predictions_are_floored_and_calibrated() {
        // Night-time zeros: the reconstruction dips below 0 and is floored at 0.01.
        let y: Vec<f64> = daily(4, 300, 2.0, 6)
            .iter()
            .map(|v| (v - 120.0).max(0.0))
            .collect();
        let f = fit_concrete(&CraneDsp::default(), &y, 300, 24).unwrap();
        let p = f.predict_point(600);
        // Crane replaces reconstructions <= 0 by 0.01 (then adds the margin); positive values
        // below 0.01 are kept, so the guarantee is positivity, with the floor reached at night.
        let Estimator::Fft(params) = f.estimator else {
            panic!("{}", f.describe())
        };
        let floor = FLOOR * (1.0 + params.margin_fraction);
        assert!(p.iter().all(|&v| v > 0.0));
        assert!(
            p.iter().filter(|&&v| v == floor).count() > 50,
            "{}",
            f.describe()
        );
        assert!(p.iter().all(|&v| v >= floor || v < floor * 0.999));
        let cal = f.calibration().unwrap();
        assert_eq!(cal.len(), 288);
        // Forecast step j continues the last period.
        assert_eq!(p[0], p[288]);
    }

    #[test]
    fn max_value_estimator_and_determinism() {
        let y = daily(3, 600, 5.0, 7);
        let config = CraneConfig {
            estimators: vec![Estimator::MaxValue {
                margin_fraction: 0.1,
            }],
            ..CraneConfig::default()
        };
        let f = fit_concrete(&CraneDsp::new(config.clone()), &y, 600, 12).unwrap();
        // The per-phase maximum over all 3 days of the clipped series, plus 10%.
        let (spd, mut clipped) = (144, y.clone());
        clip_outliers(&mut clipped);
        let day_max = |i: usize| clipped[i].max(clipped[i + spd]).max(clipped[i + 2 * spd]);
        assert_eq!(f.values.len(), spd);
        for (got, want) in f.values.iter().zip((0..spd).map(|i| day_max(i) * 1.1)) {
            assert!((got - want).abs() < 1e-9);
        }
        assert!(
            f.describe().contains("maxValue(margin=0.1)"),
            "{}",
            f.describe()
        );
        let g = fit_concrete(&CraneDsp::new(config), &y, 600, 12).unwrap();
        assert_eq!(f.values, g.values);
        assert!(
            Estimator::crane_defaults().len() == 8 && CraneDsp::default().name() == "crane_dsp"
        );
        let bad = CraneConfig {
            estimators: vec![Estimator::MaxValue {
                margin_fraction: f64::NAN,
            }],
            ..CraneConfig::default()
        };
        assert!(CraneDsp::new(bad).fit(&input(&y, 600, 12)).is_err());
    }

    #[test]
    fn odd_lengths_and_steps_do_not_panic() {
        for (step, n) in [
            (3_600, 48),
            (3_600, 49),
            (1_800, 97),
            (900, 200),
            (120, 2881),
        ] {
            let spd = (86_400 / step) as usize;
            let y: Vec<f64> = (0..n)
                .map(|t| 5.0 + ((t % spd) as f64 / spd as f64 * TAU).cos())
                .collect();
            let _ = CraneDsp::default()
                .fit(&input(&y, step, 3))
                .map(|f| f.predict_point(5));
        }
    }

    #[test]
    #[ignore = "timing; run in release with --ignored --nocapture"]
    fn fit_time_on_two_weeks_of_minutes() {
        // 14 days (one shared week/day analysis) and 15 days (two analyses).
        for days in [14, 15] {
            let y = daily(days, 60, 3.0, 8);
            let model = CraneDsp::default();
            let inp = input(&y, 60, 60);
            println!("{}", model.fit(&inp).unwrap().describe());
            let runs = 20;
            let t0 = std::time::Instant::now();
            for _ in 0..runs {
                std::hint::black_box(model.fit(&inp).unwrap());
            }
            let ms = t0.elapsed().as_secs_f64() * 1e3 / runs as f64;
            println!("crane_dsp fit on {} points: {ms:.2} ms", y.len());
        }
    }
}
