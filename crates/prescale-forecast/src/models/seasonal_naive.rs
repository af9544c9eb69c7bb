//! Seasonal naive: "the same time yesterday" (or last week).
//!
//! `ŷ_{n+k} = y_{n+k−m⌈(k+1)/m⌉}` for `k = 0, 1, …` with `m` the season in steps. The residuals
//! `y_t − y_{t−m}` over the calibration window are exact out-of-sample errors for every horizon
//! step below `m`, so they are pooled.

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};
use crate::noise::{Noise, NoiseModel};

/// Which season to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    /// One day.
    Daily,
    /// One week.
    Weekly,
}

/// The seasonal naive model.
#[derive(Debug, Clone, Copy)]
pub struct SeasonalNaive {
    /// The season to repeat.
    pub season: Season,
    /// Length of the calibration window, in days.
    pub calibration_days: f64,
}

impl SeasonalNaive {
    /// Same time yesterday.
    pub fn daily() -> Self {
        Self {
            season: Season::Daily,
            calibration_days: super::CALIBRATION_DAYS,
        }
    }

    /// Same time last week.
    pub fn weekly() -> Self {
        Self {
            season: Season::Weekly,
            calibration_days: super::CALIBRATION_DAYS,
        }
    }
}

struct FittedNaive {
    last_season: Vec<f64>,
    calibration: Calibration,
    m: usize,
}

impl Model for SeasonalNaive {
    fn name(&self) -> &'static str {
        match self.season {
            Season::Daily => "seasonal_naive_daily",
            Season::Weekly => "seasonal_naive_weekly",
        }
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        input.validate()?;
        let spd = input.steps_per_day().ok_or_else(|| {
            ForecastError::InvalidArgument(format!(
                "a day is not a whole number of {} s steps",
                input.step_secs
            ))
        })?;
        let m = match self.season {
            Season::Daily => spd,
            Season::Weekly => 7 * spd,
        };
        let y = input.values;
        let n = y.len();
        if n < m {
            return Err(ForecastError::TooShort {
                model: self.name(),
                needed: m,
                got: n,
            });
        }
        let mut calibration =
            Calibration::with_noise(input.horizon, Noise::of(y, NoiseModel::Detect));
        let cal = super::calibration_steps(self.calibration_days, input.step_secs);
        for t in n.saturating_sub(cal).max(m)..n {
            calibration.push_pooled(y[t], y[t - m]);
        }
        Ok(Box::new(FittedNaive {
            last_season: y[n - m..].to_vec(),
            calibration,
            m,
        }))
    }
}

impl Fitted for FittedNaive {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        (0..horizon).map(|k| self.last_season[k % self.m]).collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        format!("seasonal naive, season {} steps", self.m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn repeats_yesterday() {
        let y: Vec<f64> = (0..3 * 24).map(|t| (t % 24) as f64).collect();
        let input = FitInput {
            values: &y,
            start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 3600,
            horizon: 30,
        };
        let f = SeasonalNaive::daily().fit(&input).unwrap();
        let p = f.predict_point(30);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[23], 23.0);
        assert_eq!(p[24], 0.0);
        // A perfectly periodic series has zero residuals.
        assert!(f.calibration().is_some());
        assert!(matches!(
            SeasonalNaive::weekly().fit(&input),
            Err(ForecastError::TooShort { needed: 168, .. })
        ));
    }
}
