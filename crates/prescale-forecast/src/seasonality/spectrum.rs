//! Spectral machinery: periodogram, autocorrelation (ACF), permutation null and the scores
//! of a period.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use super::prepare::{bucket_for, bucket_sums, gcd};
use super::{MIN_PERIOD_STEPS, MULTIPLE_MARGIN, PERMUTATIONS};
use crate::stats::{cycle_detrend, normal_cdf};

/// Least half-width of the background fit around a line, in resolution cells.
const BACKGROUND_CELLS: f64 = 5.0;
/// Euler's constant: `-E[ln X]` for a unit exponential `X`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The autocorrelation of `y` at `lag`: mean-centred, the lagged products averaged over the
/// `n - lag` pairs, over the variance. 0 when undefined.
fn acf_at(y: &[f64], lag: usize) -> f64 {
    let n = y.len();
    if lag >= n {
        return 0.0;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    let pairs = y
        .iter()
        .zip(&y[lag..])
        .map(|(a, b)| (a - mean) * (b - mean));
    let r = pairs.sum::<f64>() / (n - lag) as f64 / var;
    if r.is_finite() { r } else { 0.0 }
}

/// The lag-1 autocorrelation of what is left of `y` once its mean profile of period `p` is
/// removed, as a share of independent observations `(1 - rho) / (1 + rho)` (AR(1)).
fn independence(y: &[f64], p: usize) -> f64 {
    let mut profile = vec![(0.0, 0.0); p];
    for (i, v) in y.iter().enumerate() {
        profile[i % p].0 += v;
        profile[i % p].1 += 1.0;
    }
    let rest: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, v)| v - profile[i % p].0 / profile[i % p].1)
        .collect();
    let rho = acf_at(&rest, 1).clamp(0.0, 1.0);
    (1.0 - rho) / (1.0 + rho)
}

/// The FFT length: the smallest `2^k`, `3 * 2^k` or `5 * 2^k` of at least `1.5 n + 2` (so
/// the ACF up to lag `n / 2 + 1` does not wrap around).
fn fft_len(n: usize) -> Option<usize> {
    let need = n.checked_add(n / 2 + 2)?;
    let sizes = [1, 3, 5].map(|f| need.div_ceil(f).checked_next_power_of_two()?.checked_mul(f));
    sizes.into_iter().flatten().min()
}

/// The spectra of one standardized series: periodogram, ACF and the permutation null.
pub(super) struct Analysis {
    pub(super) x: Vec<f64>,
    /// FFT length (at least `1.5 n`).
    pub(super) fft_len: usize,
    /// Periodogram ordinates `|X_k|^2 / n`, `k = 0..=fft_len / 2`.
    pub(super) power: Vec<f64>,
    /// Autocorrelation at lags `0..=n / 2 + 1`.
    pub(super) acf: Vec<f64>,
    /// Largest permutation maximum: the gate of periodogram candidates.
    pub(super) gate: f64,
    /// Gumbel location and scale fitted to the permutation maxima.
    gumbel: (f64, f64),
}

impl Analysis {
    pub(super) fn new(x: Vec<f64>, seed: u64) -> Option<Self> {
        let n = x.len();
        let fft_len = fft_len(n)?;
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(fft_len);
        let (mut input, mut scratch) = (fft.make_input_vec(), fft.make_scratch_vec());
        let mut spectrum = fft.make_output_vec();
        let mut transform = |data: &[f64], out: &mut Vec<Complex<f64>>| {
            input[..n].copy_from_slice(data);
            input[n..].iter_mut().for_each(|v| *v = 0.0);
            fft.process_with_scratch(&mut input, out, &mut scratch).ok()
        };
        transform(&x, &mut spectrum)?;
        let power: Vec<f64> = spectrum.iter().map(|c| c.norm_sqr() / n as f64).collect();
        let inverse = planner.plan_fft_inverse(fft_len);
        let mut squared: Vec<Complex<f64>> = power.iter().map(|&p| Complex::new(p, 0.0)).collect();
        let mut autocov = inverse.make_output_vec();
        inverse.process(&mut squared, &mut autocov).ok()?;
        let acf = (0..=n / 2 + 1).map(|l| autocov[l] / autocov[0] * n as f64 / (n - l) as f64);
        let acf: Vec<f64> = acf.map(|r| if r.is_finite() { r } else { 0.0 }).collect();

        let (k_lo, k_hi) = bin_range(n, fft_len);
        let mut rng = SplitMix64(StdRng::seed_from_u64(seed).next_u64());
        let mut shuffled = x.clone();
        let mut maxima = Vec::with_capacity(PERMUTATIONS);
        for _ in 0..PERMUTATIONS {
            rng.shuffle(&mut shuffled);
            transform(&shuffled, &mut spectrum)?;
            let top = spectrum
                .get(k_lo..=k_hi)
                .unwrap_or(&[])
                .iter()
                .map(|c| c.norm_sqr());
            maxima.push(top.fold(0.0f64, f64::max) / n as f64);
        }
        let gate = maxima.iter().fold(0.0f64, |m, &v| m.max(v));
        let mean = maxima.iter().sum::<f64>() / PERMUTATIONS as f64;
        let var =
            maxima.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (PERMUTATIONS - 1) as f64;
        let scale = (var.sqrt() * 6f64.sqrt() / std::f64::consts::PI).max(1e-9);
        let gumbel = (mean - EULER_GAMMA * scale, scale);
        Some(Self {
            x,
            fft_len,
            power,
            acf,
            gate,
            gumbel,
        })
    }

    /// Strength and confidence of period `p`, with `searched` independent frequencies searched
    /// for it.
    pub(super) fn score(&self, p: usize, searched: f64) -> (f64, f64) {
        let a = bucket_for(p, p);
        let lag = p / a;
        let y = cycle_detrend(&bucket_sums(&self.x, a), lag);
        let r = acf_at(&y, lag);
        let pairs = y.len().saturating_sub(lag) as f64 * independence(&y, lag);
        let p_acf = 1.0 - normal_cdf(r * pairs.sqrt());
        let confidence = (1.0 - self.spectral_p(p, searched)) * (1.0 - p_acf);
        let confidence = if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (r.clamp(0.0, 1.0), confidence)
    }

    /// The spectral p-value of a line at period `p` (see the module documentation).
    fn spectral_p(&self, p: usize, searched: f64) -> f64 {
        let centre = self.fft_len as f64 / p as f64;
        let cell = self.fft_len as f64 / self.x.len() as f64;
        let bin = |f: f64| (f.round().max(1.0) as usize).min(self.power.len() - 1);
        let line = &self.power[bin(centre - cell)..=bin(centre + cell)];
        let top = line.iter().fold(0.0f64, |m, &v| m.max(v));
        let (loc, scale) = self.gumbel;
        let p_perm = 1.0 - (-(-(top - loc) / scale).exp()).exp();
        let level = self.background(centre, cell);
        let ratio = if level > 0.0 {
            top / level
        } else {
            f64::INFINITY
        };
        // P(the largest of `searched` unit exponentials exceeds `ratio`).
        let p_line = -(searched.max(1.0) * (-(-ratio).exp()).ln_1p()).exp_m1();
        let p = p_perm.max(p_line);
        if p.is_finite() {
            p.clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// The expected ordinate at bin `centre` under a smooth power-law spectrum: a
    /// least-squares line of log ordinate on log frequency from a quarter to four times
    /// `centre` (at least [`BACKGROUND_CELLS`] cells either side), leaving out 1.5 cells
    /// around the line and its harmonics, plus Euler's constant (`E[ln X]` of an exponential
    /// is `ln E[X] - gamma`).
    fn background(&self, centre: f64, cell: f64) -> f64 {
        let reach = BACKGROUND_CELLS * cell;
        let lo = (centre / 4.0).min(centre - reach).max(1.0) as usize;
        let hi = ((centre * 4.0).max(centre + reach) as usize).min(self.power.len() - 1);
        let off_line = |&k: &usize| {
            let harmonic = (k as f64 / centre).round().max(1.0);
            (k as f64 - harmonic * centre).abs() > 1.5 * cell && self.power[k] > 0.0
        };
        let points: Vec<(f64, f64)> = (lo..=hi)
            .filter(off_line)
            .map(|k| ((k as f64).ln(), self.power[k].ln()))
            .collect();
        let m = points.len() as f64;
        if m < 3.0 {
            return 0.0;
        }
        let (mx, my) = points
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / m, b + y / m));
        let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        (my + slope * (centre.ln() - mx) + EULER_GAMMA).exp()
    }

    /// Whether the autocorrelation at `p` (of the bucketed series detrended per `p`-cycle)
    /// beats those at `p - q` and `p + q` (where enough pairs remain) by [`MULTIPLE_MARGIN`].
    pub(super) fn beats_neighbours(&self, p: usize, q: usize) -> bool {
        let a = bucket_for(gcd(p, q), q);
        let (p, q) = (p / a, q / a);
        let y = cycle_detrend(&bucket_sums(&self.x, a), p);
        let above = if p + q + y.len() / 10 < y.len() {
            acf_at(&y, p + q)
        } else {
            -1.0
        };
        acf_at(&y, p) - acf_at(&y, p.saturating_sub(q)).max(above) >= MULTIPLE_MARGIN
    }
}

/// Periodogram bins whose periods lie between [`MIN_PERIOD_STEPS`] and `n / 2`.
pub(super) fn bin_range(n: usize, fft_len: usize) -> (usize, usize) {
    ((2 * fft_len).div_ceil(n).max(1), fft_len / MIN_PERIOD_STEPS)
}

/// SplitMix64: a small, fast generator for the permutations, seeded from [`StdRng`].
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform random permutation (Fisher–Yates, Lemire's unbiased bounded integers).
    fn shuffle(&mut self, v: &mut [f64]) {
        for i in (1..v.len()).rev() {
            let bound = i as u64 + 1;
            let threshold = bound.wrapping_neg() % bound;
            let mut m = u128::from(self.next()) * u128::from(bound);
            while (m as u64) < threshold {
                m = u128::from(self.next()) * u128::from(bound);
            }
            v.swap(i, (m >> 64) as usize);
        }
    }
}
