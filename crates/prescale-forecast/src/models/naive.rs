//! The simplest baselines: the last value (`naive`) and the last value plus the mean change
//! (`drift`).
//!
//! - `naive`: `ŷ_{n+k} = y_n` for every step: what a reactive autoscaler sees, and at short
//!   horizons on bursty series a hard baseline.
//! - `drift`: `ŷ_{n+k} = y_n + k · (y_n − y_1) / (n − 1)`, the last value plus `k` times the
//!   mean first difference of the training window (the random walk with drift).
//!
//! Both are calibrated on their own backcasts over the calibration window: the forecast from
//! every origin `o` uses `y[..o]` only.

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};

/// The last value.
#[derive(Debug, Clone, Copy)]
pub struct Naive {
    /// Length of the calibration window, in days.
    pub calibration_days: f64,
}

impl Default for Naive {
    fn default() -> Self {
        Self {
            calibration_days: super::CALIBRATION_DAYS,
        }
    }
}

/// The last value plus the mean first difference per step.
#[derive(Debug, Clone, Copy)]
pub struct Drift {
    /// Length of the calibration window, in days.
    pub calibration_days: f64,
}

impl Default for Drift {
    fn default() -> Self {
        Self {
            calibration_days: super::CALIBRATION_DAYS,
        }
    }
}

struct FittedLast {
    last: f64,
    /// Change per step (0 for `naive`).
    slope: f64,
    calibration: Calibration,
}

/// The drift forecast of `t` from origin `o` (data `y[..o]`, `o >= 1`).
fn drift_from(y: &[f64], o: usize, t: usize) -> f64 {
    let slope = if o >= 2 {
        (y[o - 1] - y[0]) / (o - 1) as f64
    } else {
        0.0
    };
    y[o - 1] + slope * (t + 1 - o) as f64
}

fn fit_last(
    name: &'static str,
    input: &FitInput<'_>,
    calibration_days: f64,
    drift: bool,
) -> Result<Box<dyn Fitted>> {
    input.validate()?;
    let y = input.values;
    let n = y.len();
    let needed = if drift { 2 } else { 1 };
    if n < needed {
        return Err(ForecastError::TooShort {
            model: name,
            needed,
            got: n,
        });
    }
    let window = super::calibration_steps(calibration_days, input.step_secs);
    let calibration = if drift {
        super::backcast(y, input.horizon, window, 2, |o, t| drift_from(y, o, t))
    } else {
        super::backcast(y, input.horizon, window, 1, |o, _| y[o - 1])
    };
    let slope = if drift && n >= 2 {
        (y[n - 1] - y[0]) / (n - 1) as f64
    } else {
        0.0
    };
    Ok(Box::new(FittedLast {
        last: y[n - 1],
        slope,
        calibration,
    }))
}

impl Model for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        fit_last(self.name(), input, self.calibration_days, false)
    }
}

impl Model for Drift {
    fn name(&self) -> &'static str {
        "drift"
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        fit_last(self.name(), input, self.calibration_days, true)
    }
}

impl Fitted for FittedLast {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        (1..=horizon)
            .map(|k| self.last + self.slope * k as f64)
            .collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        if self.slope == 0.0 {
            format!("last value {}", self.last)
        } else {
            format!(
                "last value {} with drift {} per step",
                self.last, self.slope
            )
        }
    }

    fn update(&mut self, new: &[f64]) -> bool {
        if new.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return false;
        }
        // The drift's mean change would need the window's first value and length; only the
        // last value moves (a refit restores the drift).
        if let Some(&v) = new.last() {
            self.last = v;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn input(y: &[f64]) -> FitInput<'_> {
        FitInput {
            values: y,
            start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 60,
            horizon: 3,
        }
    }

    #[test]
    fn naive_repeats_and_drift_extends_the_mean_change() {
        let y = [1.0, 2.0, 4.0, 7.0];
        let naive = Naive::default().fit(&input(&y)).unwrap();
        assert_eq!(naive.predict_point(3), vec![7.0; 3]);
        let drift = Drift::default().fit(&input(&y)).unwrap();
        // Mean first difference (7 - 1) / 3 = 2.
        assert_eq!(drift.predict_point(3), vec![9.0, 11.0, 13.0]);
        assert!(drift.calibration().is_some());
        assert_eq!(drift_from(&y, 3, 3), 4.0 + 1.5);
        assert!(matches!(
            Drift::default().fit(&input(&[1.0])),
            Err(ForecastError::TooShort { needed: 2, .. })
        ));
        let mut naive = naive;
        assert!(naive.update(&[5.0]));
        assert_eq!(naive.predict_point(1), vec![5.0]);
    }
}
