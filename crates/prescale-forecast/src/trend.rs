//! Trend classification: increasing, decreasing, stable or volatile.
//!
//! [`detect_trend`] works on coarse buckets so that noise and (when the season is known)
//! seasonality do not count as trend:
//!
//! - **Buckets.** With `season_steps = Some(s)` and at least [`MIN_SEASON_BUCKETS`] (6)
//!   whole seasons, each bucket is the mean of one season (several seasons per bucket beyond
//!   [`MAX_BUCKETS`]). With two to five seasons, the mean seasonal profile (estimated after
//!   removing the per-cycle level) is subtracted first and the generic buckets are used. The
//!   generic buckets are about an hour long (longer if that gives more than
//!   [`MAX_BUCKETS`]); a series with fewer than 10 of them is cut into about
//!   [`SHORT_BUCKETS`] buckets instead. A trailing partial bucket is dropped. Fewer than
//!   [`MIN_BUCKETS`] buckets gives [`TrendClass::Stable`] with confidence 0.
//! - **Slope.** The Theil–Sen estimator (median of all pairwise slopes, `O(m^2)` on `m`
//!   buckets), converted to units per day. The relative slope divides it by the mean level
//!   (0 when the mean is 0).
//! - **Significance.** The Mann–Kendall test (normal approximation with tie and continuity
//!   corrections), two-sided p-value `p`. Buckets next to each other are rarely
//!   independent, so the variance of `S` (and Sen's confidence interval of the slope) is
//!   inflated by `(1 + rho) / (1 - rho)`, `rho` the lag-1 autocorrelation of the residuals
//!   around the Theil–Sen line, clipped to `[0, 0.9]` (the AR(1) effective sample size).
//! - **Dispersion.** The robust spread of the buckets around the Theil–Sen line,
//!   `1.4826 * MAD`, less the variance count noise alone would give a bucket mean
//!   (`level / bucket_len`), relative to the mean level.
//!
//! The class is decided in this order:
//!
//! 1. [`TrendClass::Increasing`] / [`TrendClass::Decreasing`] when `p <` [`SIGNIFICANCE`]
//!    (5%), `|relative slope| >=` [`MIN_RELATIVE_SLOPE_PER_DAY`] (1% per day), and the fitted
//!    change over the window is at least [`TREND_DOMINANCE`] (2) times the (count-noise
//!    corrected) spread around the line. Confidence is `1 - p`.
//! 2. [`TrendClass::Volatile`] when the relative dispersion is at least
//!    [`VOLATILE_DISPERSION`] (0.25). Confidence is `min(1, dispersion / 0.5)`.
//! 3. [`TrendClass::Stable`] otherwise. Confidence is the probability that the slope lies
//!    inside the ±1%/day band, from a normal approximation of the Theil–Sen estimate whose
//!    standard error comes from Sen's 95% confidence interval.
//!
//! Without `season_steps`, hourly buckets keep a daily cycle, which then counts as
//! dispersion: pass the dominant period from [`crate::seasonality::detect_periods`] when
//! there is one.

use crate::stats::{cycle_detrend, median, normal_cdf};
use serde::Serialize;

/// Fewest buckets for a trend to be estimated.
pub const MIN_BUCKETS: usize = 4;
/// Fewest whole seasons for buckets of one season each; with fewer (but at least two), the
/// seasonal profile is removed and the generic buckets are used.
pub const MIN_SEASON_BUCKETS: usize = 6;
/// Most buckets (the Theil–Sen slope is quadratic in their number).
pub const MAX_BUCKETS: usize = 300;
/// Number of buckets for series too short for hourly buckets.
pub const SHORT_BUCKETS: usize = 50;
/// Largest lag-1 autocorrelation of the residuals used to inflate the Mann–Kendall variance.
pub const MAX_RESIDUAL_AUTOCORRELATION: f64 = 0.9;
/// Significance level of the Mann–Kendall test.
pub const SIGNIFICANCE: f64 = 0.05;
/// Smallest relative slope (per day, as a fraction of the mean level) of a trend.
pub const MIN_RELATIVE_SLOPE_PER_DAY: f64 = 0.01;
/// Smallest ratio of the fitted change over the window to the spread around the line for a
/// significant slope to be called a trend.
pub const TREND_DOMINANCE: f64 = 2.0;
/// Smallest relative robust dispersion of the buckets around the trend line of a volatile
/// series.
pub const VOLATILE_DISPERSION: f64 = 0.25;

/// The direction of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendClass {
    /// A significant upward trend.
    Increasing,
    /// A significant downward trend.
    Decreasing,
    /// No meaningful trend and moderate dispersion.
    Stable,
    /// No dominant trend but large swings of the level.
    Volatile,
}

/// The trend of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The class.
    pub class: TrendClass,
    /// Theil–Sen slope, in value units per day.
    pub slope_per_day: f64,
    /// The slope relative to the mean level (0.01 = +1% per day); 0 when the mean is 0.
    pub relative_slope_per_day: f64,
    /// Confidence in the class, in `[0, 1]` (see the module documentation).
    pub confidence: f64,
}

impl Trend {
    /// The result for a series too short to say anything.
    fn unknown() -> Self {
        Self {
            class: TrendClass::Stable,
            slope_per_day: 0.0,
            relative_slope_per_day: 0.0,
            confidence: 0.0,
        }
    }
}

/// Classifies the trend of `values` (sampled every `step_secs` seconds), with the season
/// length when known. See the [module documentation](self).
pub fn detect_trend(values: &[f64], step_secs: i64, season_steps: Option<usize>) -> Trend {
    if step_secs <= 0 {
        return Trend::unknown();
    }
    let n = values.len();
    // With a season of too few cycles for season buckets, remove its profile first.
    let season = season_steps.filter(|&s| s >= 2 && n / s >= 2);
    let deseasonalized;
    let (values, season) = match season {
        Some(s) if n / s < MIN_SEASON_BUCKETS => {
            deseasonalized = deseasonalize(values, s);
            (&deseasonalized[..], None)
        }
        _ => (values, season),
    };
    let len = bucket_len(n, step_secs, season);
    let buckets: Vec<f64> = values
        .chunks_exact(len)
        .map(|c| c.iter().map(|v| v / len as f64).sum::<f64>())
        .collect();
    let m = buckets.len();
    if m < MIN_BUCKETS || buckets.iter().any(|v| !v.is_finite()) {
        return Trend::unknown();
    }
    let level = buckets.iter().map(|v| v / m as f64).sum::<f64>();
    let per_day = 86_400.0 / (step_secs as f64 * len as f64); // buckets per day
    let sen = theil_sen(&buckets);
    let slope_per_day = sen.slope * per_day;
    let relative = if level > 0.0 {
        slope_per_day / level
    } else {
        0.0
    };
    let p = sen.p;

    let mut residuals: Vec<f64> = buckets
        .iter()
        .enumerate()
        .map(|(j, b)| b - sen.intercept - sen.slope * j as f64)
        .collect();
    let centre = median(&mut residuals.clone());
    residuals.iter_mut().for_each(|r| *r = (*r - centre).abs());
    let spread = 1.4826 * median(&mut residuals);
    let excess = (spread * spread - level.max(0.0) / len as f64)
        .max(0.0)
        .sqrt();
    let dispersion = if level > 0.0 { excess / level } else { 0.0 };
    let change = sen.slope.abs() * (m - 1) as f64;

    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let (class, confidence) = if p < SIGNIFICANCE
        && relative.abs() >= MIN_RELATIVE_SLOPE_PER_DAY
        && change >= TREND_DOMINANCE * excess
    {
        let class = if sen.slope > 0.0 {
            TrendClass::Increasing
        } else {
            TrendClass::Decreasing
        };
        (class, 1.0 - p)
    } else if dispersion >= VOLATILE_DISPERSION {
        (
            TrendClass::Volatile,
            (dispersion / (2.0 * VOLATILE_DISPERSION)).min(1.0),
        )
    } else {
        let band = MIN_RELATIVE_SLOPE_PER_DAY * level.max(0.0) / per_day; // per bucket
        let se = (sen.upper - sen.lower) / (2.0 * 1.959_964);
        let inside = if se > 0.0 {
            normal_cdf((band - sen.slope) / se) - normal_cdf((-band - sen.slope) / se)
        } else if sen.slope.abs() <= band {
            1.0
        } else {
            0.0
        };
        (TrendClass::Stable, inside)
    };
    Trend {
        class,
        slope_per_day: finite(slope_per_day),
        relative_slope_per_day: finite(relative),
        confidence: finite(confidence).clamp(0.0, 1.0),
    }
}

/// The bucket length in steps (see the module documentation).
fn bucket_len(n: usize, step_secs: i64, season: Option<usize>) -> usize {
    if let Some(s) = season {
        return s.saturating_mul((n / s).div_ceil(MAX_BUCKETS));
    }
    let hourly = ((3_600.0 / step_secs as f64).round() as usize).max(1);
    let len = hourly.max(n.div_ceil(MAX_BUCKETS));
    if n / len < 10 {
        (n / SHORT_BUCKETS).max(1)
    } else {
        len
    }
}

/// `values` less their mean seasonal profile of period `s` (at least two cycles), estimated
/// after removing the per-cycle level so that a trend does not leak into the profile.
fn deseasonalize(values: &[f64], s: usize) -> Vec<f64> {
    let detrended = cycle_detrend(values, s);
    let mut profile = vec![(0.0, 0.0); s];
    for (i, v) in detrended.iter().enumerate() {
        profile[i % s].0 += v;
        profile[i % s].1 += 1.0;
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| v - profile[i % s].0 / profile[i % s].1)
        .collect()
}

/// A Theil–Sen fit on points `(j, y[j])` with the Mann–Kendall test: Sen's 95% interval of
/// the slope and the two-sided p-value, both from the variance of `S` inflated for the
/// lag-1 autocorrelation of the residuals.
struct SenFit {
    slope: f64,
    intercept: f64,
    lower: f64,
    upper: f64,
    p: f64,
}

fn theil_sen(y: &[f64]) -> SenFit {
    let m = y.len();
    let mut slopes = Vec::with_capacity(m * (m - 1) / 2);
    for i in 0..m {
        for j in i + 1..m {
            slopes.push((y[j] - y[i]) / (j - i) as f64);
        }
    }
    let slope = median(&mut slopes);
    let mut offsets: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(j, v)| v - slope * j as f64)
        .collect();
    let intercept = median(&mut offsets.clone());
    // Serially correlated residuals carry less information: AR(1) variance inflation.
    offsets.iter_mut().for_each(|r| *r -= intercept);
    let rho = lag1_autocorrelation(&offsets).clamp(0.0, MAX_RESIDUAL_AUTOCORRELATION);
    let var = mann_kendall_var(y) * (1.0 + rho) / (1.0 - rho);
    let p = if var > 0.0 {
        let z = (mann_kendall_s(y).abs() - 1.0).max(0.0) / var.sqrt();
        (2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0)
    } else {
        1.0
    };
    // Sen's interval: ranks (N -/+ z * sqrt(Var S)) / 2 of the sorted slopes.
    let last = slopes.len() - 1;
    let c = 1.959_964 * var.sqrt();
    let lo_rank = (((slopes.len() as f64 - c) / 2.0).floor().max(0.0) as usize).min(last);
    let hi_rank = (((slopes.len() as f64 + c) / 2.0).ceil() as usize).min(last);
    let lower = *slopes.select_nth_unstable_by(lo_rank, f64::total_cmp).1;
    let upper = *slopes.select_nth_unstable_by(hi_rank, f64::total_cmp).1;
    SenFit {
        slope,
        intercept,
        lower,
        upper,
        p,
    }
}

/// The lag-1 autocorrelation of `r` (0 when undefined).
fn lag1_autocorrelation(r: &[f64]) -> f64 {
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let var: f64 = r.iter().map(|v| (v - mean).powi(2)).sum();
    let cov: f64 = r.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    let rho = cov / var;
    if rho.is_finite() { rho } else { 0.0 }
}

/// The Mann–Kendall statistic `S`.
fn mann_kendall_s(y: &[f64]) -> f64 {
    let mut s = 0i64;
    for i in 0..y.len() {
        for j in i + 1..y.len() {
            s += match y[j].partial_cmp(&y[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    s as f64
}

/// The variance of the Mann–Kendall statistic under no trend, corrected for ties.
fn mann_kendall_var(y: &[f64]) -> f64 {
    let term = |t: f64| t * (t - 1.0) * (2.0 * t + 5.0);
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted
        .chunk_by(|a, b| a == b)
        .filter(|g| g.len() > 1)
        .map(|g| term(g.len() as f64))
        .sum();
    ((term(y.len() as f64) - ties) / 18.0).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn noise(rng: &mut StdRng, sd: f64) -> f64 {
        // Sum of 12 uniforms: approximately normal.
        sd * ((0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0)
    }

    #[test]
    fn ramps_are_increasing_and_decreasing() {
        let mut rng = StdRng::seed_from_u64(1);
        // 7 days of 5-minute steps, +10 per day from 100.
        let up: Vec<f64> = (0..7 * 288)
            .map(|t| 100.0 + 10.0 * t as f64 / 288.0 + noise(&mut rng, 5.0))
            .collect();
        let t = detect_trend(&up, 300, None);
        assert_eq!(t.class, TrendClass::Increasing, "{t:?}");
        assert!((t.slope_per_day - 10.0).abs() < 0.5, "{t:?}");
        assert!(
            (t.relative_slope_per_day - 10.0 / 135.0).abs() < 0.01,
            "{t:?}"
        );
        assert!(t.confidence > 0.99, "{t:?}");

        let down: Vec<f64> = (0..7 * 288)
            .map(|t| (300.0 - 20.0 * t as f64 / 288.0 + noise(&mut rng, 5.0)).max(0.0))
            .collect();
        let t = detect_trend(&down, 300, None);
        assert_eq!(t.class, TrendClass::Decreasing, "{t:?}");
        assert!((t.slope_per_day + 20.0).abs() < 1.0, "{t:?}");
        assert!(t.relative_slope_per_day < -0.05, "{t:?}");
    }

    #[test]
    fn flat_noise_is_stable() {
        let mut rng = StdRng::seed_from_u64(2);
        let flat: Vec<f64> = (0..7 * 1440).map(|_| 50.0 + noise(&mut rng, 7.0)).collect();
        let t = detect_trend(&flat, 60, None);
        assert_eq!(t.class, TrendClass::Stable, "{t:?}");
        assert!(t.relative_slope_per_day.abs() < 0.01, "{t:?}");
        assert!(t.confidence > 0.9, "{t:?}");
    }

    #[test]
    fn regime_jumps_and_swings_are_volatile() {
        let mut rng = StdRng::seed_from_u64(3);
        // Alternating regimes of irregular length (in hours), 5-minute steps.
        let mut regimes = Vec::new();
        for (i, hours) in [7, 13, 5, 11, 17, 3, 9, 15, 6, 10, 14, 8, 12, 4]
            .iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let level = if i % 2 == 0 { 60.0 } else { 240.0 };
            regimes.extend((0..hours * 12).map(|_| level + noise(&mut rng, 8.0)));
        }
        let t = detect_trend(&regimes, 300, None);
        assert_eq!(t.class, TrendClass::Volatile, "{t:?}");
        assert!(t.confidence > 0.5, "{t:?}");

        // A mean-reverting random walk of the log level with large hourly swings.
        let mut log_level = 0.0f64;
        let swings: Vec<f64> = (0..14 * 24 * 60)
            .map(|t| {
                if t % 60 == 0 {
                    log_level = 0.9 * log_level + noise(&mut rng, 0.35);
                }
                (100.0 * log_level.exp() + noise(&mut rng, 3.0)).max(0.0)
            })
            .collect();
        let t = detect_trend(&swings, 60, None);
        assert_eq!(t.class, TrendClass::Volatile, "{t:?}");
    }

    #[test]
    fn seasonal_series_without_trend_is_stable() {
        let mut rng = StdRng::seed_from_u64(4);
        let values: Vec<f64> = (0..14 * 1440)
            .map(|t| {
                let phase = 2.0 * std::f64::consts::PI * t as f64 / 1440.0;
                (100.0 + 60.0 * phase.sin() + noise(&mut rng, 10.0)).max(0.0)
            })
            .collect();
        let t = detect_trend(&values, 60, Some(1440));
        assert_eq!(t.class, TrendClass::Stable, "{t:?}");
        assert!(t.relative_slope_per_day.abs() < 0.01, "{t:?}");
        // The same series with a trend of +3% a day.
        let trending: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(t, v)| v + 3.0 * t as f64 / 1440.0)
            .collect();
        let t = detect_trend(&trending, 60, Some(1440));
        assert_eq!(t.class, TrendClass::Increasing, "{t:?}");
        assert!((t.slope_per_day - 3.0).abs() < 0.3, "{t:?}");
    }

    #[test]
    fn few_seasons_are_deseasonalized_first() {
        let mut rng = StdRng::seed_from_u64(5);
        // Four weeks of 5-minute steps with a weekly pattern (weekends low) and a daily one.
        let weekly = |t: usize| {
            let day = t / 288;
            let phase = 2.0 * std::f64::consts::PI * (t % 288) as f64 / 288.0;
            (if day % 7 >= 5 { 0.4 } else { 1.0 }) * (200.0 - 80.0 * phase.cos())
        };
        let flat: Vec<f64> = (0..28 * 288)
            .map(|t| weekly(t) + noise(&mut rng, 10.0))
            .collect();
        let t = detect_trend(&flat, 300, Some(2016));
        assert_eq!(t.class, TrendClass::Stable, "{t:?}");
        assert!(t.confidence > 0.5, "{t:?}");
        // The same with +2% a day.
        let growing: Vec<f64> = (0..28 * 288)
            .map(|t| weekly(t) * (1.0 + 0.02 * t as f64 / 288.0))
            .collect();
        let t = detect_trend(&growing, 300, Some(2016));
        assert_eq!(t.class, TrendClass::Increasing, "{t:?}");
        assert!(t.relative_slope_per_day > 0.01, "{t:?}");
    }

    #[test]
    fn degenerate_inputs_are_stable_without_confidence() {
        for values in [&[][..], &[1.0][..], &[1.0, 2.0, 3.0][..]] {
            let t = detect_trend(values, 60, None);
            assert_eq!(t.class, TrendClass::Stable);
            assert_eq!(t.confidence, 0.0);
        }
        assert_eq!(detect_trend(&[1.0; 100], 0, None).confidence, 0.0);
        let t = detect_trend(&[0.0; 1000], 60, Some(100));
        assert_eq!(t.class, TrendClass::Stable);
        assert_eq!(t.relative_slope_per_day, 0.0);
        let t = detect_trend(&[7.0; 1000], 60, Some(0));
        assert_eq!(t.class, TrendClass::Stable);
        let huge: Vec<f64> = (0..500)
            .map(|i| if i % 2 == 0 { f64::MAX } else { 0.0 })
            .collect();
        let t = detect_trend(&huge, 60, None);
        assert!(t.confidence.is_finite() && t.slope_per_day.is_finite());
        let _ = detect_trend(&huge, i64::MAX, Some(usize::MAX));
    }
}
