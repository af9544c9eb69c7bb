//! Robust anomaly detection, to keep spikes and collection gaps from distorting model fits.
//!
//! Each point gets a robust *expected* value and a robust residual *scale*; a point whose
//! robust z-score `(value - expected) / scale` exceeds [`AnomalyOptions::threshold`]
//! (default 6) in absolute value is an anomaly, upward (spikes) or downward (drops, such as a
//! collection gap reading 0 inside a busy series).
//!
//! **Expected value.**
//!
//! - With a season of `s >= 2` steps and at least two whole seasons: a *seasonal median* (the
//!   median of the same phase over groups of up to [`SEASON_CYCLES`] (7) consecutive cycles;
//!   a group of fewer than [`FEW_CYCLES`] (5) cycles also takes the neighbouring phase on
//!   each side when `s >= 24`, so one spike cannot drag a median of two or three values)
//!   plus a *level correction*: the medians of the deseasonalized series over blocks of
//!   `window` steps, linearly interpolated between block centres. `window = 0` picks
//!   `clamp(s / 12, 15, 240)` steps (two hours of a 1-minute daily season), so a drop of up
//!   to half a block is still flagged. A spike that recurs at the same phase every cycle
//!   (a daily batch job) is part of the seasonal median, not an anomaly.
//! - Otherwise: a centered rolling (Hampel) median over `window` points (an even window is
//!   widened by one), truncated at the ends; `window = 0` picks [`DEFAULT_WINDOW`] (61)
//!   points, so runs of up to 30 odd points are still flagged.
//!
//! Expected values are never negative.
//!
//! **Scale.** Over consecutive blocks of `max(2 * window, 120)` points, `1.4826 * MAD` of the
//! residuals, floored by the count-noise scale: `scale_i = max(1.4826 * MAD_block,
//! sqrt(max(expected_i, 1)))`. The floor keeps Poisson-like count series with small values
//! (noise about `sqrt(level)`) from being over-flagged and gives a scale to stretches whose
//! residuals are all zero. It assumes counts: [`detect_anomalies_with`] takes the floor from a
//! [`Noise`] model instead, which for rates and gauges is the series' own dispersion.
//!
//! The cost is `O(n)` with a season and `O(n * window)` without (a sorted window is kept,
//! nothing is re-sorted per point); `cargo bench -p prescale-forecast --bench analysis`
//! times it.

use crate::noise::Noise;
use crate::stats::median;
use serde::Serialize;

/// Consistency constant of the MAD for normally distributed residuals.
pub const MAD_SCALE: f64 = 1.4826;
/// Most consecutive cycles pooled by the seasonal median.
pub const SEASON_CYCLES: usize = 7;
/// Below this many cycles in a group, the seasonal median also takes the neighbouring phases.
pub const FEW_CYCLES: usize = 5;
/// Rolling-median window used without a season when [`AnomalyOptions::window`] is 0.
pub const DEFAULT_WINDOW: usize = 61;
/// Smallest block over which the residual MAD is computed.
pub const MIN_SCALE_BLOCK: usize = 120;

/// Options of [`detect_anomalies`].
#[derive(Debug, Clone)]
pub struct AnomalyOptions {
    /// Robust z-score beyond which a point is an anomaly (default 6).
    pub threshold: f64,
    /// Window of the baseline in steps; 0 (the default) chooses it from the season (see the
    /// module documentation).
    pub window: usize,
}

impl Default for AnomalyOptions {
    fn default() -> Self {
        Self {
            threshold: 6.0,
            window: 0,
        }
    }
}

/// An anomalous point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// Position in the series.
    pub index: usize,
    /// The observed value.
    pub value: f64,
    /// The robust expected value (what [`clean`] puts in its place).
    pub expected: f64,
    /// Robust z-score: `(value - expected) / scale`, positive for spikes, negative for drops.
    pub score: f64,
}

/// Detects the anomalies of `values`, sorted by index. `season_steps` is the dominant season
/// when known (see [`crate::seasonality::detect_periods`]). See the
/// [module documentation](self) for the method.
pub fn detect_anomalies(
    values: &[f64],
    season_steps: Option<usize>,
    opts: &AnomalyOptions,
) -> Vec<Anomaly> {
    detect_anomalies_with(values, season_steps, opts, &Noise::default())
}

/// [`detect_anomalies`] with the scale floored by `noise` ([`Noise::sd_at`] of the expected
/// value: the Poisson floor for counts, the series' own dispersion otherwise) instead of the
/// count floor.
pub fn detect_anomalies_with(
    values: &[f64],
    season_steps: Option<usize>,
    opts: &AnomalyOptions,
    noise: &Noise,
) -> Vec<Anomaly> {
    if values.is_empty() {
        return Vec::new();
    }
    let (expected, window) = baseline(values, season_steps, opts.window);
    let residuals: Vec<f64> = values.iter().zip(&expected).map(|(v, e)| v - e).collect();
    let block = window.saturating_mul(2).max(MIN_SCALE_BLOCK);
    let mut out = Vec::new();
    for (b, chunk) in residuals.chunks(block).enumerate() {
        let mut centred = chunk.to_vec();
        let centre = median(&mut centred.clone());
        centred.iter_mut().for_each(|r| *r = (*r - centre).abs());
        let spread = MAD_SCALE * median(&mut centred);
        for (k, &r) in chunk.iter().enumerate() {
            let i = b * block + k;
            let scale = spread.max(noise.sd_at(expected[i]));
            let score = r / scale;
            if score.abs() > opts.threshold {
                out.push(Anomaly {
                    index: i,
                    value: values[i],
                    expected: expected[i],
                    score,
                });
            }
        }
    }
    out
}

/// The robust expected values that [`detect_anomalies`] compares the values with.
pub fn expected_values(
    values: &[f64],
    season_steps: Option<usize>,
    opts: &AnomalyOptions,
) -> Vec<f64> {
    baseline(values, season_steps, opts.window).0
}

/// A copy of `values` with each anomaly replaced by its expected value (anomalies out of
/// range, or with a non-finite expected value, are ignored).
pub fn clean(values: &[f64], anomalies: &[Anomaly]) -> Vec<f64> {
    let mut out = values.to_vec();
    for a in anomalies {
        if let Some(slot) = out.get_mut(a.index)
            && a.expected.is_finite()
        {
            *slot = a.expected.max(0.0);
        }
    }
    out
}

/// Expected values and the effective window.
fn baseline(values: &[f64], season_steps: Option<usize>, window: usize) -> (Vec<f64>, usize) {
    let n = values.len();
    match season_steps {
        Some(s) if s >= 2 && n / s >= 2 => {
            let block = if window > 0 {
                window
            } else {
                (s / 12).clamp(15, 240)
            };
            (seasonal_baseline(values, s, block), block)
        }
        _ => {
            let w = if window > 0 { window } else { DEFAULT_WINDOW };
            let mut e = rolling_median(values, w);
            e.iter_mut().for_each(|v| *v = v.max(0.0));
            (e, w)
        }
    }
}

/// Seasonal median plus block-median level correction (see the module documentation).
fn seasonal_baseline(x: &[f64], s: usize, block: usize) -> Vec<f64> {
    let n = x.len();
    let cycles = n.div_ceil(s);
    let groups = (cycles / SEASON_CYCLES).max(1);
    let group_of = |c: usize| (c / SEASON_CYCLES).min(groups - 1);
    let mut profile = vec![0.0; groups * s];
    let mut buf = Vec::with_capacity(3 * 2 * SEASON_CYCLES);
    for g in 0..groups {
        let first = g * SEASON_CYCLES;
        let last = if g + 1 == groups {
            cycles
        } else {
            first + SEASON_CYCLES
        };
        // Few cycles: widen to the neighbouring phases so one spike cannot drag the median.
        let reach = isize::from(last - first < FEW_CYCLES && s >= 24);
        for p in 0..s {
            buf.clear();
            for c in first..last {
                for d in -reach..=reach {
                    let i = (c * s + p) as isize + d;
                    if i >= 0 && (i as usize) < n {
                        buf.push(x[i as usize]);
                    }
                }
            }
            profile[g * s + p] = median(&mut buf);
        }
    }
    let seasonal: Vec<f64> = (0..n)
        .map(|i| profile[group_of(i / s) * s + i % s])
        .collect();
    let deseasonalized: Vec<f64> = x.iter().zip(&seasonal).map(|(v, m)| v - m).collect();
    let level = block_median_curve(&deseasonalized, block);
    seasonal
        .iter()
        .zip(level)
        .map(|(m, l)| (m + l).max(0.0))
        .collect()
}

/// Medians of consecutive blocks of `block` points, linearly interpolated between block
/// centres and flat beyond the first and last centre.
fn block_median_curve(d: &[f64], block: usize) -> Vec<f64> {
    let block = block.max(1);
    // Block starts; a last block shorter than half a block joins the one before it, so that
    // the latest few points (a drop-out in progress) cannot make a block median of their own.
    let mut starts: Vec<usize> = (0..d.len()).step_by(block).collect();
    if starts.len() > 1 && d.len() - starts[starts.len() - 1] < block.div_ceil(2) {
        starts.pop();
    }
    let mut buf = Vec::with_capacity(2 * block);
    let meds: Vec<(f64, f64)> = starts
        .iter()
        .enumerate()
        .map(|(b, &lo)| {
            let hi = starts.get(b + 1).copied().unwrap_or(d.len());
            buf.clear();
            buf.extend_from_slice(&d[lo..hi]);
            let centre = lo as f64 + ((hi - lo) as f64 - 1.0) / 2.0;
            (centre, median(&mut buf))
        })
        .collect();
    let mut j = 0;
    (0..d.len())
        .map(|i| {
            let t = i as f64;
            while j + 1 < meds.len() && meds[j + 1].0 <= t {
                j += 1;
            }
            let (c0, m0) = meds[j];
            match meds.get(j + 1) {
                Some(&(c1, m1)) if t > c0 => {
                    let f = (t - c0) / (c1 - c0);
                    m0 * (1.0 - f) + m1 * f
                }
                _ => m0,
            }
        })
        .collect()
}

/// Centered rolling median over `w` points (`w / 2` either side, truncated at the ends),
/// keeping a sorted window.
fn rolling_median(x: &[f64], w: usize) -> Vec<f64> {
    let n = x.len();
    let half = w.max(1) / 2;
    let mut win: Vec<f64> = Vec::with_capacity(2 * half + 1);
    let insert = |win: &mut Vec<f64>, v: f64| {
        let pos = win.partition_point(|a| a.total_cmp(&v).is_lt());
        win.insert(pos, v);
    };
    for &v in &x[..half.min(n)] {
        insert(&mut win, v);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(&v) = x.get(i + half) {
            insert(&mut win, v);
        }
        if i > half {
            let old = x[i - half - 1];
            let pos = win.partition_point(|a| a.total_cmp(&old).is_lt());
            if pos < win.len() {
                win.remove(pos);
            }
        }
        out.push(sorted_median(&win));
    }
    out
}

/// Median of a sorted slice (0 when empty).
fn sorted_median(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => v[n / 2 - 1] / 2.0 + v[n / 2] / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A Poisson draw (Knuth's method below 30, a rounded normal approximation above).
    fn poisson(rng: &mut StdRng, lambda: f64) -> f64 {
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let (mut k, mut p) = (0.0, 1.0);
            loop {
                p *= rng.random::<f64>();
                if p <= limit {
                    return k;
                }
                k += 1.0;
            }
        }
        let z = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
        (lambda + lambda.sqrt() * z).round().max(0.0)
    }

    fn daily_rate(t: usize) -> f64 {
        let phase = 2.0 * std::f64::consts::PI * (t % 1440) as f64 / 1440.0;
        60.0 - 45.0 * phase.cos()
    }

    #[test]
    fn spikes_in_a_seasonal_poisson_series_are_found_and_cleaned() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 14 * 1440;
        let mut values: Vec<f64> = (0..n).map(|t| poisson(&mut rng, daily_rate(t))).collect();
        let spikes: Vec<usize> = (0..40).map(|k| 300 + k * 497).collect();
        for &i in &spikes {
            values[i] = 5.0 * daily_rate(i);
        }
        let found = detect_anomalies(&values, Some(1440), &AnomalyOptions::default());
        let flagged: Vec<usize> = found.iter().map(|a| a.index).collect();
        for i in &spikes {
            assert!(flagged.contains(i), "spike at {i} missed");
        }
        let false_positives = flagged.iter().filter(|i| !spikes.contains(i)).count();
        assert!(
            false_positives * 200 < n,
            "{false_positives} false positives"
        );
        assert!(
            found
                .iter()
                .all(|a| a.score > 0.0 || !spikes.contains(&a.index))
        );
        let cleaned = clean(&values, &found);
        assert_eq!(cleaned.len(), values.len());
        for &i in &spikes {
            let truth = daily_rate(i);
            assert!(
                (cleaned[i] - truth).abs() < 0.3 * truth,
                "{i}: {} vs {truth}",
                cleaned[i]
            );
        }
    }

    #[test]
    fn zero_runs_in_busy_series_are_flagged() {
        let mut rng = StdRng::seed_from_u64(2);
        let n = 7 * 1440;
        let mut seasonal: Vec<f64> = (0..n).map(|t| poisson(&mut rng, daily_rate(t))).collect();
        // A 25-minute collection gap at the busy time of day 3.
        let gap = 3 * 1440 + 700..3 * 1440 + 725;
        seasonal[gap.clone()].iter_mut().for_each(|v| *v = 0.0);
        let found = detect_anomalies(&seasonal, Some(1440), &AnomalyOptions::default());
        for i in gap.clone() {
            assert!(
                found.iter().any(|a| a.index == i && a.score < 0.0),
                "gap point {i} missed"
            );
        }
        assert!(
            found.len() < gap.len() + n / 200,
            "{} anomalies",
            found.len()
        );

        let mut flat: Vec<f64> = (0..5_000).map(|_| poisson(&mut rng, 200.0)).collect();
        flat[2_000..2_020].iter_mut().for_each(|v| *v = 0.0);
        let found = detect_anomalies(&flat, None, &AnomalyOptions::default());
        let flagged: Vec<usize> = found.iter().map(|a| a.index).collect();
        assert_eq!(flagged, (2_000..2_020).collect::<Vec<_>>());
    }

    #[test]
    fn recurring_spikes_are_expected() {
        let mut rng = StdRng::seed_from_u64(5);
        let n = 10 * 1440;
        let values: Vec<f64> = (0..n)
            .map(|t| {
                if t % 1440 == 120 {
                    600.0
                } else {
                    poisson(&mut rng, daily_rate(t))
                }
            })
            .collect();
        let found = detect_anomalies(&values, Some(1440), &AnomalyOptions::default());
        assert!(found.iter().all(|a| a.index % 1440 != 120), "{found:?}");
        assert!(found.len() * 200 < n, "{} anomalies", found.len());
    }

    #[test]
    fn white_noise_has_almost_no_anomalies() {
        let mut rng = StdRng::seed_from_u64(3);
        let gauss: Vec<f64> = (0..20_000)
            .map(|_| 100.0 + 10.0 * ((0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0))
            .collect();
        assert!(detect_anomalies(&gauss, None, &AnomalyOptions::default()).len() <= 2);
        assert!(detect_anomalies(&gauss, Some(1440), &AnomalyOptions::default()).len() <= 2);
        let small: Vec<f64> = (0..20_000).map(|_| poisson(&mut rng, 0.5)).collect();
        assert!(detect_anomalies(&small, None, &AnomalyOptions::default()).len() <= 2);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let opts = AnomalyOptions::default();
        assert!(detect_anomalies(&[], Some(24), &opts).is_empty());
        assert!(detect_anomalies(&[5.0], None, &opts).is_empty());
        assert!(detect_anomalies(&[0.0; 1000], Some(10), &opts).is_empty());
        assert!(detect_anomalies(&[3.0; 1000], None, &opts).is_empty());
        let huge: Vec<f64> = (0..300)
            .map(|i| if i % 7 == 0 { f64::MAX } else { 1.0 })
            .collect();
        let _ = detect_anomalies(&huge, Some(7), &opts);
        let _ = detect_anomalies(
            &huge,
            None,
            &AnomalyOptions {
                threshold: f64::NAN,
                window: 1,
            },
        );
        let _ = detect_anomalies(&huge, Some(usize::MAX), &opts);
        assert_eq!(clean(&[1.0, 2.0], &[]), vec![1.0, 2.0]);
        let stray = Anomaly {
            index: 9,
            value: 0.0,
            expected: 1.0,
            score: 0.0,
        };
        assert_eq!(clean(&[1.0, 2.0], &[stray]), vec![1.0, 2.0]);
    }

    #[test]
    fn rolling_median_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(4);
        let x: Vec<f64> = (0..200)
            .map(|_| rng.random_range(0.0..10.0_f64).floor())
            .collect();
        for w in [1, 2, 5, 31, 500] {
            let fast = rolling_median(&x, w);
            let half = w / 2;
            for i in 0..x.len() {
                let mut win = x[i.saturating_sub(half)..(i + half + 1).min(x.len())].to_vec();
                assert_eq!(fast[i], median(&mut win), "w {w} i {i}");
            }
        }
    }

    proptest! {
        #[test]
        fn detection_never_panics_and_is_well_formed(
            values in prop::collection::vec(
                prop_oneof![0.0f64..1e6, Just(0.0), 1e300f64..f64::MAX],
                0..400,
            ),
            season in prop::option::of(0usize..60),
            window in 0usize..50,
            threshold in 0.0f64..20.0,
        ) {
            let opts = AnomalyOptions { threshold, window };
            let found = detect_anomalies(&values, season, &opts);
            prop_assert!(found.windows(2).all(|w| w[0].index < w[1].index));
            prop_assert!(found.iter().all(|a| a.index < values.len()));
            prop_assert_eq!(clean(&values, &found).len(), values.len());
            prop_assert_eq!(expected_values(&values, season, &opts).len(), values.len());
        }
    }
}
