//! Seasonal period detection.
//!
//! [`detect_periods`] finds the periods a series repeats with, strongest first, in the spirit
//! of AUTOPERIOD (periodogram hints verified on the autocorrelation) with a permutation
//! significance test like Crane EHPA's:
//!
//! 1. **Preparation.** The values are scaled, clipped at [`WINSOR_MADS`] (8) robust standard
//!    deviations from the median (so a few huge spikes do not dominate), linearly detrended
//!    and standardized. A constant or exactly linear series, or one shorter than
//!    [`MIN_POINTS`], has no period.
//! 2. **Spectra.** The periodogram comes from a real FFT zero-padded to at least `1.5 n`; the
//!    autocorrelation (ACF) is the inverse transform of the power spectrum. The white-noise
//!    null comes from [`PERMUTATIONS`] (40) seeded random permutations of the same values:
//!    the largest ordinate of each is recorded, and a Gumbel law is fitted to those maxima.
//! 3. **Candidates.** Periodogram local maxima above the largest permutation maximum (the
//!    [`MAX_CANDIDATES`] highest and the [`LOWEST_CANDIDATES`] lowest-frequency ones, the
//!    latter for the fundamental of a comb of equal harmonics such as a periodic spike),
//!    with periods from [`MIN_PERIOD_STEPS`] steps to half the series. Each is refined on
//!    the ACF: the highest ACF within one frequency-resolution cell is moved to the highest
//!    ACF within [`HILL_WIDTH`] (10%) of itself until it stays put (so a noise wiggle on the
//!    flank of a hill is not taken for a peak), and must end as a strict local maximum.
//! 4. **Explicit tests.** The daily (86 400 s) and weekly (604 800 s) lags are scored as
//!    well whenever the series holds at least two full cycles of them.
//! 5. **Labels.** A period within [`LABEL_TOLERANCE`] (5%) of a day is
//!    [`PeriodLabel::Daily`] and reported with the exact number of steps in a day (rounded
//!    when the step does not divide a day); likewise [`PeriodLabel::Weekly`]. Any other
//!    period is [`PeriodLabel::Other`] and needs [`MIN_CYCLES_OTHER`] (3) cycles.
//! 6. **Scores.** A period `p` is scored on the standardized series summed into buckets of
//!    `a` steps, `a` the largest divisor of `p` leaving at least
//!    [`STRENGTH_POINTS_PER_CYCLE`] (48) buckets per cycle (so per-step count noise does not
//!    hide a regular load pattern), and detrended at the resolution of its cycles (the
//!    means of whole cycles, linearly interpolated, are subtracted):
//!    - `strength` is the autocorrelation `r` of that series at lag `p / a`, clipped to
//!      `[0, 1]`: roughly the share of the bucketed variation that repeats every `p` steps;
//!    - `confidence` is `(1 - p_spec) * (1 - p_acf)`. `p_spec` is the larger of the Gumbel
//!      tail probability of the largest ordinate within one resolution cell of `1/p` and the
//!      probability that the largest of `m` exponential ordinates exceeds its ratio to the
//!      local background (a log-log least-squares fit of the spectrum from `1/(4p)` to
//!      `4/p`, leaving out the line and its harmonics, so red noise does not pass for a
//!      line); `m` is the number of independent frequencies searched (`n / 2` for an
//!      `Other` period, those within 5% of a day or a week for the labelled ones). `p_acf`
//!      is the normal tail probability of `r * sqrt(pairs * (1 - rho) / (1 + rho))`, `rho`
//!      the lag-1 autocorrelation of what the mean cycle profile leaves (so a slow wander
//!      seen over few cycles counts few independent pairs).
//!
//!    A period is kept with `strength >=` [`MIN_STRENGTH`] (0.1) and `confidence >=
//!    min_confidence` (default 0.99); of periods within 10% of each other the strongest
//!    stays.
//! 7. **Harmonics.** A multiple `p` of a shorter kept period `q` (a week over a day) is kept
//!    only when its autocorrelation beats those at `p - q` and `p + q` by
//!    [`MULTIPLE_MARGIN`]: the longer cycle must add something. A divisor of a longer kept
//!    period (12 h under 24 h) is kept only with at least [`HARMONIC_RATIO`] of its strength.
//!
//! The result is deterministic for a given [`SeasonalityOptions::seed`]. The cost is
//! `O(PERMUTATIONS * n log n)`: about 14 ms for a month of 1-minute data (40 000 points) in
//! release builds.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use serde::Serialize;

use crate::trend::normal_cdf;

/// Values further than this many robust standard deviations from the median are clipped.
pub const WINSOR_MADS: f64 = 8.0;
/// Seconds in a day.
pub const DAY_SECS: i64 = 86_400;
/// Seconds in a week.
pub const WEEK_SECS: i64 = 604_800;
/// Relative distance to a day (or a week) within which a period is labelled daily (weekly).
pub const LABEL_TOLERANCE: f64 = 0.05;
/// Smallest strength of a reported period.
pub const MIN_STRENGTH: f64 = 0.1;
/// Number of random permutations of the significance test.
pub const PERMUTATIONS: usize = 40;
/// Shortest series analysed.
pub const MIN_POINTS: usize = 16;
/// Shortest period, in steps.
pub const MIN_PERIOD_STEPS: usize = 3;
/// Fewest whole cycles in the series for a period other than a day or a week.
pub const MIN_CYCLES_OTHER: usize = 3;
/// Most periodogram peaks verified, highest first.
pub const MAX_CANDIDATES: usize = 12;
/// Lowest-frequency periodogram peaks verified in addition.
pub const LOWEST_CANDIDATES: usize = 4;
/// An ACF peak is the highest autocorrelation within this relative distance; periods this
/// close are merged.
pub const HILL_WIDTH: f64 = 0.1;
/// A period is scored on buckets leaving at least this many per cycle.
pub const STRENGTH_POINTS_PER_CYCLE: usize = 48;
/// How much the autocorrelation at a multiple `p` of a kept period `q` must exceed those at
/// `p - q` and `p + q`.
pub const MULTIPLE_MARGIN: f64 = 0.05;
/// Smallest strength of a divisor of a longer kept period, relative to that period's.
pub const HARMONIC_RATIO: f64 = 0.4;
/// Least half-width of the background fit around a line, in resolution cells.
const BACKGROUND_CELLS: f64 = 5.0;
/// Largest relative drift of a refined period from its periodogram hint.
const CLIMB_SLACK: f64 = 0.1;
/// Euler's constant: `-E[ln X]` for a unit exponential `X`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// What a period corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodLabel {
    /// One day (within 5%).
    Daily,
    /// One week (within 5%).
    Weekly,
    /// Any other period.
    Other,
}

/// A detected seasonal period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Length of the period in steps (exactly a day or a week for those labels).
    pub steps: usize,
    /// Length of the period in seconds (`steps * step_secs`).
    pub seconds: i64,
    /// Daily, weekly or other.
    pub label: PeriodLabel,
    /// How much of the variation repeats with this period, in `[0, 1]` (see the module
    /// documentation).
    pub strength: f64,
    /// How sure the detection is, in `[0, 1]`: the product of the spectral and the
    /// autocorrelation significance.
    pub confidence: f64,
}

/// Options of [`detect_periods`].
#[derive(Debug, Clone)]
pub struct SeasonalityOptions {
    /// Most periods returned (default 3).
    pub max_periods: usize,
    /// Smallest confidence of a returned period (default 0.99: on seeded random walks and
    /// AR(1) noise about 1 series in 200 yields a period, while clear periods score above
    /// 0.999).
    pub min_confidence: f64,
    /// Seed of the random permutations (default `0x5EA5_0A11`).
    pub seed: u64,
}

impl Default for SeasonalityOptions {
    fn default() -> Self {
        Self {
            max_periods: 3,
            min_confidence: 0.99,
            seed: 0x5EA5_0A11,
        }
    }
}

/// Detects the seasonal periods of `values` (sampled every `step_secs` seconds), strongest
/// first. See the [module documentation](self) for the method.
///
/// Returns nothing for a series shorter than [`MIN_POINTS`], a constant series, or a
/// non-positive step.
pub fn detect_periods(values: &[f64], step_secs: i64, opts: &SeasonalityOptions) -> Vec<Period> {
    let n = values.len();
    if n < MIN_POINTS || step_secs <= 0 || opts.max_periods == 0 {
        return Vec::new();
    }
    let Some(analysis) = standardize(values).and_then(|x| Analysis::new(x, opts.seed)) else {
        return Vec::new();
    };
    let mut found: Vec<Candidate> = Vec::new();
    let mut consider = |lag: usize| {
        let (label, steps) = classify(lag, step_secs);
        let other = label == PeriodLabel::Other;
        let min_cycles = if other { MIN_CYCLES_OTHER } else { 2 };
        if steps < MIN_PERIOD_STEPS || steps.saturating_mul(min_cycles) > n {
            return;
        }
        // Independent frequencies searched: a day or a week is a hypothesis fixed in advance
        // (up to the labelling tolerance); any other period was picked from the spectrum.
        let searched = if other {
            n as f64 / 2.0
        } else {
            0.1 * n as f64 / steps as f64
        };
        let (strength, confidence) = analysis.score(steps, searched);
        if strength < MIN_STRENGTH || confidence < opts.min_confidence {
            return;
        }
        let cand = Candidate {
            lag,
            steps,
            label,
            strength,
            confidence,
        };
        let near = |c: &Candidate| c.steps.abs_diff(steps) as f64 <= HILL_WIDTH * c.steps as f64;
        let best = found
            .iter()
            .filter(|c| near(c))
            .fold(cand, |b, c| if c.strength > b.strength { *c } else { b });
        found.retain(|c| !near(c));
        found.push(best);
    };
    for k in analysis.peaks() {
        if let Some(lag) = analysis.refine(k) {
            consider(lag);
        }
    }
    for secs in [DAY_SECS, WEEK_SECS] {
        consider(cycle_steps(secs, step_secs));
    }
    let mut kept = remove_harmonics(&analysis, found);
    kept.sort_by(|a, b| {
        b.strength
            .total_cmp(&a.strength)
            .then(a.steps.cmp(&b.steps))
    });
    kept.truncate(opts.max_periods);
    let period = |c: Candidate| Period {
        steps: c.steps,
        seconds: (c.steps as i64).saturating_mul(step_secs),
        label: c.label,
        strength: c.strength,
        confidence: c.confidence,
    };
    kept.into_iter().map(period).collect()
}

/// A scored period before harmonic removal.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// The ACF hill it was found at.
    lag: usize,
    /// The reported length.
    steps: usize,
    label: PeriodLabel,
    strength: f64,
    confidence: f64,
}

impl Candidate {
    /// Whether this period is a multiple of `q` (by reported length or hill lag).
    fn is_multiple_of(&self, q: &Candidate) -> bool {
        let multiple = |p: usize| is_multiple(p, q.steps) || is_multiple(p, q.lag);
        multiple(self.steps) || multiple(self.lag)
    }
}

/// Number of steps in `secs` seconds, rounded.
fn cycle_steps(secs: i64, step_secs: i64) -> usize {
    (secs as f64 / step_secs as f64).round().max(0.0) as usize
}

/// The label of a lag and the number of steps it is reported with.
fn classify(lag: usize, step_secs: i64) -> (PeriodLabel, usize) {
    let secs = lag as f64 * step_secs as f64;
    for (label, cycle) in [
        (PeriodLabel::Daily, DAY_SECS),
        (PeriodLabel::Weekly, WEEK_SECS),
    ] {
        let steps = cycle_steps(cycle, step_secs);
        if (secs - cycle as f64).abs() <= LABEL_TOLERANCE * cycle as f64 && steps > 0 {
            return (label, steps);
        }
    }
    (PeriodLabel::Other, lag)
}

/// Whether `p` is (close to) an integer multiple `m >= 2` of `q`.
fn is_multiple(p: usize, q: usize) -> bool {
    if q == 0 || p < 2 * q - q / 10 {
        return false;
    }
    let m = (p as f64 / q as f64).round();
    (p as f64 - m * q as f64).abs() <= (0.05 * q as f64).max(1.0)
}

/// Drops multiples that add nothing to a shorter period and divisors that are mere harmonics
/// of a longer one (see the module documentation).
fn remove_harmonics(analysis: &Analysis, mut found: Vec<Candidate>) -> Vec<Candidate> {
    found.sort_by_key(|c| c.steps);
    let mut kept: Vec<Candidate> = Vec::new();
    for cand in found {
        let mut bases = kept.iter().filter(|q| cand.is_multiple_of(q));
        if bases.all(|q| analysis.beats_neighbours(cand.steps, q.steps)) {
            kept.push(cand);
        }
    }
    let all = kept.clone();
    let harmonic = |q: &Candidate| {
        all.iter()
            .any(|p| p.is_multiple_of(q) && q.strength < HARMONIC_RATIO * p.strength)
    };
    kept.retain(|q| !harmonic(q));
    kept
}

/// Scales, winsorizes, linearly detrends and standardizes the values; `None` when nothing
/// varies.
fn standardize(values: &[f64]) -> Option<Vec<f64>> {
    let n = values.len() as f64;
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return None;
    }
    let mut x: Vec<f64> = values.iter().map(|v| v / max).collect();
    // Clip beyond WINSOR_MADS robust standard deviations (unless the MAD is 0).
    let mut buf = x.clone();
    let median = select_median(&mut buf);
    buf.iter_mut().for_each(|v| *v = (*v - median).abs());
    let reach = WINSOR_MADS * 1.4826 * select_median(&mut buf);
    if reach > 0.0 {
        x.iter_mut()
            .for_each(|v| *v = v.clamp(median - reach, median + reach));
    }
    let mean = x.iter().sum::<f64>() / n;
    let mid = (n - 1.0) / 2.0;
    let sxy: f64 = x
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - mid) * (v - mean))
        .sum();
    let sxx: f64 = (0..x.len()).map(|i| (i as f64 - mid).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    x.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v -= mean + slope * (i as f64 - mid));
    let var = x.iter().map(|v| v * v).sum::<f64>() / n;
    if var.is_nan() || var <= 1e-20 {
        return None;
    }
    let sd = var.sqrt();
    x.iter_mut().for_each(|v| *v /= sd);
    Some(x)
}

/// The upper median of a non-empty slice; reorders it.
fn select_median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Subtracts the trend seen at the resolution of whole cycles of length `p`: the means of
/// the full cycles, linearly interpolated between their centres (flat beyond them).
pub(crate) fn cycle_detrend(x: &[f64], p: usize) -> Vec<f64> {
    let means: Vec<f64> = x
        .chunks_exact(p.max(1))
        .map(|c| c.iter().map(|v| v / p as f64).sum::<f64>())
        .collect();
    let (Some(&first), Some(&last)) = (means.first(), means.last()) else {
        return x.to_vec();
    };
    let first_centre = (p as f64 - 1.0) / 2.0;
    let trend = |t: usize| {
        let pos = (t as f64 - first_centre) / p as f64;
        if pos <= 0.0 {
            return first;
        }
        let (j, f) = (pos.floor() as usize, pos.fract());
        match means.get(j + 1) {
            Some(next) => means[j] * (1.0 - f) + next * f,
            None => last,
        }
    };
    x.iter().enumerate().map(|(t, v)| v - trend(t)).collect()
}

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

/// Sums of consecutive buckets of `a` values (a copy when `a` is 1).
fn bucket_sums(x: &[f64], a: usize) -> Vec<f64> {
    x.chunks_exact(a.max(1))
        .map(|c| c.iter().sum::<f64>())
        .collect()
}

/// The largest divisor of `d` leaving at least [`STRENGTH_POINTS_PER_CYCLE`] buckets in a
/// cycle of `p` steps; 1 for short periods.
fn bucket_for(d: usize, p: usize) -> usize {
    (1..=p / STRENGTH_POINTS_PER_CYCLE)
        .rev()
        .find(|&a| d.is_multiple_of(a))
        .unwrap_or(1)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The FFT length: the smallest `2^k`, `3 * 2^k` or `5 * 2^k` of at least `1.5 n + 2` (so
/// the ACF up to lag `n / 2 + 1` does not wrap around).
fn fft_len(n: usize) -> Option<usize> {
    let need = n.checked_add(n / 2 + 2)?;
    let sizes = [1, 3, 5].map(|f| need.div_ceil(f).checked_next_power_of_two()?.checked_mul(f));
    sizes.into_iter().flatten().min()
}

/// The spectra of one standardized series: periodogram, ACF and the permutation null.
struct Analysis {
    x: Vec<f64>,
    /// FFT length (at least `1.5 n`).
    fft_len: usize,
    /// Periodogram ordinates `|X_k|^2 / n`, `k = 0..=fft_len / 2`.
    power: Vec<f64>,
    /// Autocorrelation at lags `0..=n / 2 + 1`.
    acf: Vec<f64>,
    /// Largest permutation maximum: the gate of periodogram candidates.
    gate: f64,
    /// Gumbel location and scale fitted to the permutation maxima.
    gumbel: (f64, f64),
}

impl Analysis {
    fn new(x: Vec<f64>, seed: u64) -> Option<Self> {
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

    /// Periodogram local maxima above the gate: the highest and the lowest-frequency ones.
    fn peaks(&self) -> Vec<usize> {
        let (k_lo, k_hi) = bin_range(self.x.len(), self.fft_len);
        let p = &self.power;
        let is_peak = |&k: &usize| p[k] > self.gate && p[k] >= p[k - 1] && p[k] >= p[k + 1];
        let mut peaks: Vec<usize> = (k_lo..=k_hi.min(p.len() - 2)).filter(is_peak).collect();
        let lowest: Vec<usize> = peaks.iter().take(LOWEST_CANDIDATES).copied().collect();
        peaks.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        peaks.truncate(MAX_CANDIDATES);
        for k in lowest {
            if !peaks.contains(&k) {
                peaks.push(k);
            }
        }
        peaks
    }

    /// The ACF hill that periodogram bin `k` points to (AUTOPERIOD's refinement).
    fn refine(&self, k: usize) -> Option<usize> {
        let (n, f) = (self.x.len() as f64, k as f64 / self.fft_len as f64);
        let lo = 1.0 / (f + 1.0 / n);
        let hi = if f > 1.0 / n { 1.0 / (f - 1.0 / n) } else { n };
        let lag = self.climb(lo.floor() as usize, hi.ceil() as usize)?;
        let ok = lag as f64 >= lo * (1.0 - CLIMB_SLACK) && lag as f64 <= hi * (1.0 + CLIMB_SLACK);
        ok.then_some(lag)
    }

    /// The top of the ACF hill around the highest lag in `[lo, hi]`: the lag moves to the
    /// highest ACF within [`HILL_WIDTH`] of itself until it stays put. `None` when the top is
    /// not a strict local maximum.
    fn climb(&self, lo: usize, hi: usize) -> Option<usize> {
        let a = &self.acf;
        let max_lag = self.x.len() / 2;
        let argmax = |lo: usize, hi: usize| {
            let range = lo.max(MIN_PERIOD_STEPS)..=hi.min(max_lag);
            range.max_by(|&i, &j| a[i].total_cmp(&a[j]).then(j.cmp(&i)))
        };
        let mut best = argmax(lo, hi)?;
        for _ in 0..16 {
            let w = ((best as f64 * HILL_WIDTH).round() as usize).max(2);
            let next = argmax(best.saturating_sub(w), best + w)?;
            if next == best {
                break;
            }
            best = next;
        }
        (a[best] > a[best - 1] && a[best] >= a[best + 1]).then_some(best)
    }

    /// Strength and confidence of period `p`, with `searched` independent frequencies searched
    /// for it.
    fn score(&self, p: usize, searched: f64) -> (f64, f64) {
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
    fn beats_neighbours(&self, p: usize, q: usize) -> bool {
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
fn bin_range(n: usize, fft_len: usize) -> (usize, usize) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn gaussian(rng: &mut StdRng) -> f64 {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn detect(values: &[f64], step: i64) -> Vec<Period> {
        detect_periods(values, step, &SeasonalityOptions::default())
    }

    #[test]
    fn nasa_trace_is_daily() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/traces/web_nasa_http_1995-07_1min.csv"
        );
        let Ok(file) = std::fs::File::open(path) else {
            println!("skipping: {path} is absent");
            return;
        };
        let opts = prescale_core::input::ParseOptions::default();
        let series = prescale_core::input::parse_csv(file, "nasa", &opts).unwrap();
        let started = std::time::Instant::now();
        let periods = detect(series.values(), series.step_secs());
        println!("nasa: {periods:?} in {:?}", started.elapsed());
        let daily = periods
            .iter()
            .find(|p| p.label == PeriodLabel::Daily)
            .expect("daily");
        assert_eq!(daily.steps, 1440);
        assert_eq!(daily.seconds, 86_400);
        assert!(daily.strength > 0.6, "{daily:?}");
        assert!(daily.confidence > 0.99, "{daily:?}");
        assert!(
            periods.iter().all(|p| p.label != PeriodLabel::Other),
            "{periods:?}"
        );
    }

    #[test]
    fn white_noise_has_no_period() {
        for seed in 0..3u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let gauss: Vec<f64> = (0..20_000)
                .map(|_| 100.0 + 10.0 * gaussian(&mut rng))
                .collect();
            assert!(
                detect(&gauss, 60).is_empty(),
                "seed {seed}: {:?}",
                detect(&gauss, 60)
            );
            let uniform: Vec<f64> = (0..5_000).map(|_| rng.random_range(0.0..50.0)).collect();
            assert!(
                detect(&uniform, 300).is_empty(),
                "seed {seed}: {:?}",
                detect(&uniform, 300)
            );
        }
    }

    #[test]
    fn noisy_daily_sine_is_daily() {
        let mut rng = StdRng::seed_from_u64(7);
        let values: Vec<f64> = (0..4 * 1440)
            .map(|t| {
                let phase = 2.0 * std::f64::consts::PI * t as f64 / 1440.0;
                (100.0 + 40.0 * phase.sin() + 15.0 * gaussian(&mut rng)).max(0.0)
            })
            .collect();
        let periods = detect(&values, 60);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(periods[0].label, PeriodLabel::Daily);
        assert_eq!(periods[0].steps, 1440);
        assert!(periods[0].strength > 0.5, "{periods:?}");
    }

    #[test]
    fn weekly_pattern_on_five_minute_steps_is_weekly() {
        let mut rng = StdRng::seed_from_u64(11);
        let per_day = 288;
        let values: Vec<f64> = (0..28 * per_day)
            .map(|t| {
                let day = t / per_day;
                let phase = 2.0 * std::f64::consts::PI * (t % per_day) as f64 / per_day as f64;
                let weekday = if day % 7 >= 5 { 0.35 } else { 1.0 };
                let level = weekday * (200.0 - 100.0 * phase.cos());
                (level + level.sqrt() * gaussian(&mut rng)).max(0.0)
            })
            .collect();
        let periods = detect(&values, 300);
        let weekly = periods.iter().find(|p| p.label == PeriodLabel::Weekly);
        let weekly = weekly.unwrap_or_else(|| panic!("no weekly period: {periods:?}"));
        assert_eq!(weekly.steps, 2016);
        assert_eq!(weekly.seconds, WEEK_SECS);
        assert!(
            periods.iter().any(|p| p.label == PeriodLabel::Daily),
            "{periods:?}"
        );
    }

    #[test]
    fn period_of_37_steps_is_other() {
        let mut rng = StdRng::seed_from_u64(3);
        let pure: Vec<f64> = (0..3_000)
            .map(|t| 20.0 + 8.0 * (t as f64 * 2.0 * std::f64::consts::PI / 37.0).sin())
            .collect();
        let sawtooth: Vec<f64> = (0..3_000)
            .map(|t| (t % 37) as f64 + 2.0 * rng.random::<f64>())
            .collect();
        for values in [pure, sawtooth] {
            let periods = detect(&values, 60);
            assert_eq!(periods.len(), 1, "{periods:?}");
            assert_eq!(periods[0].label, PeriodLabel::Other);
            assert!(periods[0].steps.abs_diff(37) <= 1, "{periods:?}");
            assert_eq!(periods[0].seconds, periods[0].steps as i64 * 60);
        }
    }

    #[test]
    fn other_shapes_and_steps() {
        // A spike every hour (a comb of equal harmonics): the fundamental is found.
        let batch: Vec<f64> = (0..5_000)
            .map(|t| if t % 60 == 0 { 500.0 } else { 0.0 })
            .collect();
        let periods = detect(&batch, 60);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(
            (periods[0].steps, periods[0].label),
            (60, PeriodLabel::Other)
        );
        // Hourly steps, two weeks: daily is 24 steps.
        let mut rng = StdRng::seed_from_u64(8);
        let hourly: Vec<f64> = (0..24 * 14)
            .map(|t| 50.0 + 30.0 * (t as f64 / 24.0 * 2.0 * std::f64::consts::PI).sin())
            .map(|v| v + 5.0 * gaussian(&mut rng))
            .collect();
        let periods = detect(&hourly, 3_600);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(
            (periods[0].steps, periods[0].label),
            (24, PeriodLabel::Daily)
        );
        // A 12-hour cycle is not reported as daily.
        let half_day: Vec<f64> = (0..6 * 1440)
            .map(|t| 100.0 + 50.0 * (t as f64 / 720.0 * 2.0 * std::f64::consts::PI).sin())
            .map(|v| v + 10.0 * gaussian(&mut rng))
            .collect();
        let periods = detect(&half_day, 60);
        assert_eq!(periods.len(), 1, "{periods:?}");
        assert_eq!(periods[0].label, PeriodLabel::Other);
        assert!(periods[0].steps.abs_diff(720) <= 10, "{periods:?}");
    }

    #[test]
    fn red_noise_has_no_period() {
        for seed in 0..4u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (mut level, mut ar) = (1_000.0f64, 0.0f64);
            let walk: Vec<f64> = (0..20_160)
                .map(|_| {
                    level = (level + rng.random_range(-5.0..5.0)).max(0.0);
                    level
                })
                .collect();
            let ar1: Vec<f64> = (0..8_064)
                .map(|_| {
                    ar = 0.95 * ar + rng.random_range(-1.0..1.0);
                    100.0 + ar
                })
                .collect();
            assert!(
                detect(&walk, 60).is_empty(),
                "seed {seed}: {:?}",
                detect(&walk, 60)
            );
            assert!(
                detect(&ar1, 300).is_empty(),
                "seed {seed}: {:?}",
                detect(&ar1, 300)
            );
        }
    }

    /// Timing on the NASA trace: `cargo test --release -p prescale-forecast --lib
    /// seasonality -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing_on_nasa() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/traces/web_nasa_http_1995-07_1min.csv"
        );
        let Ok(file) = std::fs::File::open(path) else {
            println!("skipping: {path} is absent");
            return;
        };
        let opts = prescale_core::input::ParseOptions::default();
        let series = prescale_core::input::parse_csv(file, "nasa", &opts).unwrap();
        let runs = 20;
        let started = std::time::Instant::now();
        for _ in 0..runs {
            detect(series.values(), series.step_secs());
        }
        println!(
            "nasa: {:?} per detect_periods call",
            started.elapsed() / runs
        );
    }

    #[test]
    fn degenerate_inputs_have_no_period() {
        assert!(detect(&[], 60).is_empty());
        assert!(detect(&[5.0; 10], 60).is_empty());
        assert!(detect(&[5.0; 5_000], 60).is_empty());
        assert!(detect(&[0.0; 5_000], 60).is_empty());
        let ramp: Vec<f64> = (0..1_000).map(f64::from).collect();
        assert!(detect(&ramp, 60).is_empty());
        let short: Vec<f64> = (0..12).map(|i| (i % 3) as f64).collect();
        assert!(detect(&short, 60).is_empty());
        let huge: Vec<f64> = (0..500)
            .map(|i| if i % 10 == 0 { f64::MAX } else { 1.0 })
            .collect();
        let _ = detect(&huge, 60);
        assert!(detect(&ramp, 0).is_empty());
        let _ = detect(&ramp, i64::MAX);
    }

    #[test]
    fn detection_is_deterministic() {
        let mut rng = StdRng::seed_from_u64(5);
        let values: Vec<f64> = (0..2_000)
            .map(|t| ((t % 50) as f64 / 10.0).sin() + gaussian(&mut rng))
            .collect();
        assert_eq!(detect(&values, 60), detect(&values, 60));
    }
}
