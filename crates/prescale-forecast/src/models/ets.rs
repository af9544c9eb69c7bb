//! Holt-Winters exponential smoothing (ETS with additive errors, additive damped trend and an
//! additive daily season).
//!
//! The daily season is used when the training window holds at least two days; otherwise the
//! model is Holt's damped trend without a season. Parameters come from a fixed grid (α in
//! 0.02–0.9, β in {0, 0.01, 0.05}, γ in {0, 0.05, 0.1, 0.2}, φ = 0.98) by the mean squared
//! error over the forecast horizon from origins in the last week of the window (R's
//! `opt.crit = "amse"`), or by one-step error when the window is too short; see the
//! `smoothing` module. The calibration uses the filter's own h-step forecasts from
//! every origin of the calibration window (each made with data before its origin).

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};
use crate::smoothing::{Criterion, HwStates, fit_grid};

/// The Holt-Winters model.
#[derive(Debug, Clone, Copy)]
pub struct Ets {
    /// Use the daily season when at least two days of data exist.
    pub seasonal: bool,
    /// Length of the calibration window, in days.
    pub calibration_days: f64,
}

impl Default for Ets {
    fn default() -> Self {
        Self {
            seasonal: true,
            calibration_days: super::CALIBRATION_DAYS,
        }
    }
}

struct FittedEts {
    states: HwStates,
    calibration: Calibration,
}

impl Model for Ets {
    fn name(&self) -> &'static str {
        "ets"
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        input.validate()?;
        let y = input.values;
        if y.len() < 3 {
            return Err(ForecastError::TooShort {
                model: "ets",
                needed: 3,
                got: y.len(),
            });
        }
        let m = match input.steps_per_day() {
            Some(spd) if self.seasonal && y.len() >= 2 * spd => spd,
            _ => 0,
        };
        // Score the grid on the forecast horizon over the last week (or the second half of a
        // shorter window), from an origin every third of a horizon.
        let n = y.len();
        let from = n
            .saturating_sub(super::calibration_steps(7.0, input.step_secs))
            .max(n / 2)
            .max(2 * m);
        let crit = if from + input.horizon < n {
            Criterion::Horizon {
                h: input.horizon,
                from,
                stride: (input.horizon / 3).max(1),
            }
        } else {
            Criterion::OneStep
        };
        let states = fit_grid(y, m, true, crit);
        let cal = super::calibration_steps(self.calibration_days, input.step_secs);
        let warmup = if m > 0 { 2 * m } else { (y.len() / 3).max(1) };
        let calibration = super::backcast(y, input.horizon, cal, warmup, |o, t| {
            states.forecast_from(o, t)
        });
        Ok(Box::new(FittedEts {
            states,
            calibration,
        }))
    }
}

impl Fitted for FittedEts {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let n = self.states.len();
        (n..n + horizon)
            .map(|t| self.states.forecast_from(n, t))
            .collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        let p = self.states.params;
        format!(
            "Holt-Winters α={} β={} γ={} φ={} season={} steps",
            p.alpha, p.beta, p.gamma, p.phi, self.states.m
        )
    }
}
