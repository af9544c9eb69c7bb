//! Forecasts with quantiles.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One quantile of a forecast: `values[i]` is the `level` quantile of the value at step `i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileForecast {
    /// The quantile level in (0, 1), e.g. 0.9 for P90.
    pub level: f64,
    /// One value per forecast step.
    pub values: Vec<f64>,
}

/// A forecast of a regular series: a point forecast and quantile forecasts over the same steps.
///
/// Step `i` covers the interval starting at `start + i * step_secs`, the same convention as
/// [`Series`](crate::Series) (a timestamp is the start of the interval its value covers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Start of the first forecast step.
    pub start: DateTime<Utc>,
    /// Step length in seconds.
    pub step_secs: i64,
    /// Point forecast, one value per step.
    pub point: Vec<f64>,
    /// Quantile forecasts, sorted by ascending level, each as long as `point`.
    pub quantiles: Vec<QuantileForecast>,
}

impl Forecast {
    /// Number of forecast steps.
    pub fn len(&self) -> usize {
        self.point.len()
    }

    /// Whether the forecast has no steps.
    pub fn is_empty(&self) -> bool {
        self.point.is_empty()
    }

    /// The values of the quantile at `level`, if the forecast carries it (compared to 1e-9).
    pub fn quantile(&self, level: f64) -> Option<&[f64]> {
        self.quantiles
            .iter()
            .find(|q| (q.level - level).abs() < 1e-9)
            .map(|q| q.values.as_slice())
    }

    /// Start of step `i`.
    pub fn timestamp(&self, i: usize) -> DateTime<Utc> {
        self.start + Duration::seconds(self.step_secs * i as i64)
    }

    /// The largest value of the `level` quantile (or of the point forecast when `level` is
    /// `None`) over the steps whose start lies in `[from, to)`; `None` when no step does.
    pub fn max_over(
        &self,
        level: Option<f64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<f64> {
        let values = match level {
            Some(l) => self.quantile(l)?,
            None => &self.point,
        };
        values
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let t = self.timestamp(*i);
                t >= from && t < to
            })
            .map(|(_, v)| *v)
            .reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Forecast {
        Forecast {
            start: DateTime::from_timestamp(600, 0).unwrap(),
            step_secs: 60,
            point: vec![1.0, 2.0, 3.0],
            quantiles: vec![
                QuantileForecast {
                    level: 0.5,
                    values: vec![1.0, 2.0, 3.0],
                },
                QuantileForecast {
                    level: 0.9,
                    values: vec![2.0, 4.0, 3.5],
                },
            ],
        }
    }

    #[test]
    fn quantile_lookup_and_window_max() {
        let f = sample();
        assert_eq!(f.len(), 3);
        assert_eq!(f.quantile(0.9), Some(&[2.0, 4.0, 3.5][..]));
        assert!(f.quantile(0.95).is_none());
        let from = DateTime::from_timestamp(660, 0).unwrap();
        let to = DateTime::from_timestamp(780, 0).unwrap();
        assert_eq!(f.max_over(Some(0.9), from, to), Some(4.0));
        assert_eq!(f.max_over(None, from, to), Some(3.0));
        assert_eq!(f.max_over(None, to, to), None);
    }

    #[test]
    fn round_trips_through_json() {
        let f = sample();
        let json = serde_json::to_string(&f).unwrap();
        let back: Forecast = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
