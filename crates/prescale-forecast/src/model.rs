//! The shared fit/predict interface of every model.
//!
//! A [`Model`] is an unfitted configuration; [`Model::fit`] returns a [`Fitted`] model that
//! gives a point forecast and the *backcast*: honest h-step-ahead forecasts made from past
//! origins inside the training window, which [`crate::conformal`] turns into calibrated
//! quantiles. [`predict`] combines the two into a [`Forecast`].

use chrono::{DateTime, Duration, Utc};
use prescale_core::{Forecast, Series};

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};

/// What a model is fitted on: the values, where they sit in time, and the horizon the
/// forecasts (and so the calibration) are for.
#[derive(Debug, Clone, Copy)]
pub struct FitInput<'a> {
    /// The training values, oldest first; finite and non-negative.
    pub values: &'a [f64],
    /// Start of the interval of `values[0]`.
    pub start: DateTime<Utc>,
    /// Step length in seconds.
    pub step_secs: i64,
    /// Number of steps the forecasts will cover (and the calibration is made for).
    pub horizon: usize,
}

impl<'a> FitInput<'a> {
    /// A fit input over a whole series.
    pub fn from_series(series: &'a Series, horizon: usize) -> Self {
        Self {
            values: series.values(),
            start: series.start(),
            step_secs: series.step_secs(),
            horizon,
        }
    }

    /// Start of interval `i` (also past the end).
    pub fn timestamp(&self, i: usize) -> DateTime<Utc> {
        self.start + Duration::seconds(self.step_secs * i as i64)
    }

    /// Number of steps in a day, when a day is a whole number of steps.
    pub fn steps_per_day(&self) -> Option<usize> {
        (86_400 % self.step_secs == 0).then(|| (86_400 / self.step_secs) as usize)
    }

    /// Position of interval `i` within its UTC day, in steps (requires [`Self::steps_per_day`]).
    pub fn phase_of_day(&self, i: usize) -> usize {
        let spd = self.steps_per_day().unwrap_or(1) as i64;
        let t = self.timestamp(i).timestamp();
        (t.rem_euclid(86_400) / self.step_secs).rem_euclid(spd) as usize
    }

    /// Checks the values and the horizon.
    pub fn validate(&self) -> Result<()> {
        if self.horizon == 0 {
            return Err(ForecastError::InvalidArgument(
                "horizon must be at least one step".into(),
            ));
        }
        if self.step_secs <= 0 {
            return Err(ForecastError::InvalidArgument(
                "step must be positive".into(),
            ));
        }
        if let Some((index, &value)) = self
            .values
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(ForecastError::BadValue { index, value });
        }
        Ok(())
    }
}

/// An unfitted model: a configuration that can be fitted to a series.
pub trait Model: Send + Sync {
    /// The model's stable name (`prescale`, `ets`, `crane_dsp`, ...).
    fn name(&self) -> &'static str;

    /// Fits the model. Implementations call [`FitInput::validate`] first.
    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>>;
}

/// A fitted model.
pub trait Fitted: Send {
    /// Point forecast of the `horizon` steps after the training window.
    fn predict_point(&self, horizon: usize) -> Vec<f64>;

    /// Out-of-sample errors of past forecasts made inside the training window, for conformal
    /// quantiles. `None` when the window was too short to produce any.
    fn calibration(&self) -> Option<&Calibration>;

    /// One line saying what was fitted (parameters, the chosen sub-model, ...).
    fn describe(&self) -> String;

    /// Extends the fitted model with `new` observations that follow its data, without
    /// refitting, so that forecasts between scheduled refits start from the latest data.
    /// Returns `false` (and changes nothing) when the model cannot do that; the caller then
    /// refits.
    fn update(&mut self, new: &[f64]) -> bool {
        let _ = new;
        false
    }
}

/// Default quantile levels.
pub const DEFAULT_QUANTILES: [f64; 2] = [0.5, 0.9];

/// Validates quantile levels: each in (0, 1); returns them sorted and deduplicated.
pub fn check_quantiles(levels: &[f64]) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(levels.len());
    for &q in levels {
        if !(q > 0.0 && q < 1.0) {
            return Err(ForecastError::InvalidArgument(format!(
                "quantile {q} is outside (0, 1)"
            )));
        }
        out.push(q);
    }
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    Ok(out)
}

/// Turns a fitted model into a [`Forecast`] starting at `start` with the given quantiles.
///
/// Quantiles come from the model's [`Calibration`]; without one (a window too short to
/// calibrate), the documented fallback of [`crate::conformal::fallback_quantile`] is used. Quantiles
/// are made non-decreasing in their level and never negative.
pub fn predict(
    fitted: &dyn Fitted,
    start: DateTime<Utc>,
    step_secs: i64,
    horizon: usize,
    levels: &[f64],
) -> Result<Forecast> {
    let levels = check_quantiles(levels)?;
    let point: Vec<f64> = fitted
        .predict_point(horizon)
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    let quantiles = crate::conformal::quantile_forecasts(fitted.calibration(), &point, &levels);
    Ok(Forecast {
        start,
        step_secs,
        point,
        quantiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_levels_are_checked_and_sorted() {
        assert_eq!(check_quantiles(&[0.9, 0.5, 0.9]).unwrap(), vec![0.5, 0.9]);
        assert!(check_quantiles(&[1.0]).is_err());
        assert!(check_quantiles(&[0.0]).is_err());
        assert!(check_quantiles(&[f64::NAN]).is_err());
    }

    #[test]
    fn phase_of_day_follows_the_utc_clock() {
        let values = [0.0; 10];
        let input = FitInput {
            values: &values,
            start: DateTime::from_timestamp(86_400 * 3 + 3_600, 0).unwrap(),
            step_secs: 300,
            horizon: 6,
        };
        assert_eq!(input.steps_per_day(), Some(288));
        assert_eq!(input.phase_of_day(0), 12);
        assert_eq!(input.phase_of_day(2), 14);
        assert!(input.validate().is_ok());
        let bad = [1.0, -1.0];
        assert!(matches!(
            FitInput {
                values: &bad,
                ..input
            }
            .validate(),
            Err(ForecastError::BadValue { index: 1, .. })
        ));
    }
}
