//! Crane's preprocessing (outlier clipping) and `FindPeriod`: permutation noise threshold,
//! circular ACF and peak test.

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use realfft::num_complex::Complex;

use super::fft::Fft;

const PEAK_WINDOW_SECS: i64 = 4 * 3_600;
const PERMUTATIONS: usize = 100;
/// The noise threshold is the `NOISE_RANK`-th smallest permutation maximum.
const NOISE_RANK: usize = 99;
const CLIP_LOW: f64 = 0.001;
const CLIP_HIGH: f64 = 0.999;

/// The period Crane accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Period {
    Day,
    Week,
}

/// Replaces samples outside the empirical `[P0.1, P99.9]` band by the previous (cleaned)
/// sample; the first sample, having none, is clamped to the band.
pub(super) fn clip_outliers(x: &mut [f64]) {
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

/// Crane's `FindPeriod`: week (when 2 whole weeks are available), then day.
pub(super) fn detect_period(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
