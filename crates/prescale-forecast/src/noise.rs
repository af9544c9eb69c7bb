//! The noise model of a series, without a unit assumed.
//!
//! Two things in the models need a sense of "how small is small": the floor of the relative
//! residual scale of [`crate::conformal`] (so that a forecast near zero does not produce
//! unbounded ratios) and the band of a series too short to calibrate. For **counts per step**
//! (requests, jobs, tokens) the count itself is the unit: the floor is one event and the band of
//! an uncalibrated forecast is Poisson, `ŷ + z_q·√max(ŷ, 1)`. Those floors are only meaningful
//! for counts, so they apply only when the series is declared a count ([`NoiseModel::Counts`]) or
//! detected as one: every value a whole number ([`NoiseModel::Detect`], the default). Rates and
//! gauges ([`NoiseModel::Dispersion`], or non-integer values) get both from their own dispersion:
//! `σ`, the robust standard deviation of one-step changes (`1.4826 · median|Δy| / √2`), is the
//! standard deviation of the uncalibrated band `ŷ + z_q·σ` and the anomaly floor; the same at
//! the series' quiet times (its lowest quarter of values), but at least a thousandth of the
//! mean level, is the floor of the residual scale, so that a service idle at night keeps bands
//! near zero at night. Both scale with the series, so a series multiplied by `c > 0` gets the
//! same forecast multiplied by `c`.

use prescale_core::stats::normal_quantile;
use serde::Serialize;

use crate::anomaly::MAD_SCALE;

/// How the noise of a series is modelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseModel {
    /// Counts when every value is a whole number, otherwise [`NoiseModel::Dispersion`].
    #[default]
    Detect,
    /// Counts per step: a floor of one event, Poisson bands without calibration.
    Counts,
    /// No unit: the floor and the uncalibrated band come from the series' dispersion.
    Dispersion,
}

/// The noise model resolved for one series: see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Whether the count floors apply.
    pub counts: bool,
    /// Robust standard deviation of one-step changes, in the series' unit (0 for a constant
    /// series).
    pub sigma: f64,
    /// The same at the series' quiet times (both values of a step within the lowest quarter
    /// of the values), but at least a thousandth of the mean level: the floor of the residual
    /// scale.
    pub quiet: f64,
}

impl Default for Noise {
    /// Counts (the floors the models used before any unit was inferred).
    fn default() -> Self {
        Self {
            counts: true,
            sigma: 1.0,
            quiet: 1.0,
        }
    }
}

impl Noise {
    /// The noise model of `values` under `model`.
    pub fn of(values: &[f64], model: NoiseModel) -> Self {
        let counts = match model {
            NoiseModel::Counts => true,
            NoiseModel::Dispersion => false,
            NoiseModel::Detect => is_counts(values),
        };
        if counts {
            return Self::default();
        }
        Self {
            counts,
            sigma: dispersion(values),
            quiet: quiet_dispersion(values),
        }
    }

    /// The smallest normalizing scale of a residual: one event for counts, the quiet-time
    /// dispersion otherwise (never zero: the smallest positive `f64` for a series of zeros).
    pub fn floor(&self) -> f64 {
        if self.counts {
            1.0
        } else {
            self.quiet.max(f64::MIN_POSITIVE)
        }
    }

    /// The normalizing scale of a residual at predicted value `x`: `max(x, floor)`.
    pub fn scale(&self, x: f64) -> f64 {
        x.max(self.floor())
    }

    /// The standard deviation of the noise around an expected value `x`, for anomaly
    /// detection and uncalibrated bands: Poisson `√max(x, 1)` for counts, `σ` otherwise.
    pub fn sd_at(&self, x: f64) -> f64 {
        if self.counts {
            x.max(1.0).sqrt()
        } else {
            self.sigma
        }
    }

    /// The band of a forecast that has no calibration: `point + z_level · sd_at(point)`.
    pub fn fallback_quantile(&self, point: f64, level: f64) -> f64 {
        point + normal_quantile(level) * self.sd_at(point)
    }
}

/// Whether `values` look like counts per step: non-empty, and every value a whole number.
pub fn is_counts(values: &[f64]) -> bool {
    !values.is_empty()
        && values
            .iter()
            .all(|v| v.is_finite() && (v - v.round()).abs() <= 1e-9 * v.abs().max(1.0))
}

/// The dispersion of the one-step changes at the quiet times of `values` (both values of the
/// step at most the lower quartile), at least a thousandth of the mean level. A service idle
/// at night gets a floor near zero (its quiet changes are zero), so that its bands at idle stay
/// near zero; a Poisson-like series gets about the noise of its quietest hours. With fewer
/// than ten quiet steps, the dispersion of all of them.
pub fn quiet_dispersion(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
    let mut sorted = values.to_vec();
    let lower = *sorted.select_nth_unstable_by((n - 1) / 4, f64::total_cmp).1;
    let quiet: Vec<f64> = values
        .windows(2)
        .filter(|w| w[0].max(w[1]) <= lower)
        .map(|w| (w[1] - w[0]).abs())
        .collect();
    let sigma = if quiet.len() >= 10 {
        change_dispersion(quiet)
    } else {
        dispersion(values)
    };
    sigma.max(1e-3 * mean)
}

/// Robust standard deviation of the one-step changes of `values`: `1.4826 · median|Δy| / √2`,
/// or, when more than half of the changes are zero, the mean absolute change times `√(π/4)`
/// (the same for normal noise); 0 for a constant or one-point series.
pub fn dispersion(values: &[f64]) -> f64 {
    change_dispersion(values.windows(2).map(|w| (w[1] - w[0]).abs()).collect())
}

/// [`dispersion`] from the absolute changes.
fn change_dispersion(mut d: Vec<f64>) -> f64 {
    if d.is_empty() {
        return 0.0;
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let mid = d.len() / 2;
    let median = *d.select_nth_unstable_by(mid, f64::total_cmp).1;
    let sigma = if median > 0.0 {
        MAD_SCALE * median / std::f64::consts::SQRT_2
    } else {
        mean * (std::f64::consts::PI / 4.0).sqrt()
    };
    if sigma.is_finite() { sigma } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_numbers() {
        assert!(is_counts(&[0.0, 3.0, 1e6]));
        assert!(!is_counts(&[0.0, 3.5]));
        assert!(!is_counts(&[]));
        let n = Noise::of(&[1.0, 2.0], NoiseModel::Detect);
        assert!(n.counts && n.floor() == 1.0);
        let g = Noise::of(&[1.0, 2.0], NoiseModel::Dispersion);
        assert!(!g.counts);
        assert!(Noise::of(&[1.5, 2.0], NoiseModel::Counts).counts);
    }

    #[test]
    fn dispersion_scales_with_the_series() {
        let y: Vec<f64> = (0..500)
            .map(|i| 50.0 + ((i * 7919) % 101) as f64 / 10.0)
            .collect();
        let s = dispersion(&y);
        assert!(s > 0.0);
        let c = 0.0137;
        let scaled: Vec<f64> = y.iter().map(|v| v * c).collect();
        assert!((dispersion(&scaled) - c * s).abs() < 1e-12 * s);
        assert_eq!(dispersion(&[3.0; 10]), 0.0);
        // Mostly flat with a few steps: the mean absolute change.
        let steps: Vec<f64> = (0..100)
            .map(|i| if i % 10 == 0 { 1.0 } else { 0.0 })
            .collect();
        assert!(dispersion(&steps) > 0.0);
        let n = Noise::of(&[3.0; 10], NoiseModel::Dispersion);
        assert!(n.floor() > 0.0);
        // Idle at night (zeros), noisy by day: the floor is a thousandth of the mean level,
        // far below the day's noise.
        let day_night: Vec<f64> = (0..400)
            .map(|i| {
                if i % 100 < 40 {
                    0.0
                } else {
                    100.0 + ((i * 37) % 11) as f64
                }
            })
            .collect();
        let n = Noise::of(&day_night, NoiseModel::Dispersion);
        let mean = day_night.iter().sum::<f64>() / 400.0;
        assert!((n.floor() - 1e-3 * mean).abs() < 1e-12, "{n:?}");
        assert!(n.sigma > 1.0, "{n:?}");
        let scaled: Vec<f64> = day_night.iter().map(|v| v * 7.5).collect();
        assert!((quiet_dispersion(&scaled) - 7.5 * n.quiet).abs() < 1e-9);
    }
}
