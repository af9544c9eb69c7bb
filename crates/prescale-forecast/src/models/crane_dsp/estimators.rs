//! Crane's estimators of the next period (`fft`, `maxValue`), its asymmetric MAPE and the
//! backtest selection.

use std::fmt;

use realfft::num_complex::Complex;
use serde::{Deserialize, Serialize};

use super::fft::Fft;
use super::invalid;
use crate::error::Result;

/// Below this actual value, [`asymmetric_mape`] falls back to the mean absolute error.
pub(super) const MAPE_MIN_ACTUAL: f64 = 1e-3;
/// Non-positive `fft` reconstructions are replaced by this.
pub(super) const FLOOR: f64 = 0.01;

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

    pub(super) fn validate(&self) -> Result<()> {
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

/// Crane's selection: the index and [`asymmetric_mape`] score of the best backtest prediction
/// of `test` (NaN scores skipped, the first of equal scores kept), if any.
pub(super) fn select(test: &[f64], backtest: &[Vec<f64>]) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, pred) in backtest.iter().enumerate() {
        let s = asymmetric_mape(test, pred);
        if !s.is_nan() && best.is_none_or(|(_, b)| s < b) {
            best = Some((i, s));
        }
    }
    best
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
pub(super) fn estimate_all(
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
}
