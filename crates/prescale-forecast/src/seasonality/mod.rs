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
//! release builds (`cargo bench -p prescale-forecast --bench analysis`).

mod candidates;
mod prepare;
mod spectrum;

use serde::Serialize;

use candidates::{Candidate, classify, cycle_steps, remove_harmonics};
use prepare::standardize;
use spectrum::Analysis;

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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
        let Some(series) = crate::stats::shared_trace("web_nasa_http_1995-07_1min.csv") else {
            return;
        };
        let periods = detect(series.values(), series.step_secs());
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
