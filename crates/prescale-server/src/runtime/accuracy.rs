//! Accuracy of past forecasts: each step's forecast made one lead time ahead, scored against
//! what then happened, over a rolling 24 hours. The scorer is saved (JSON) after every refresh
//! and restored at start, so a restart keeps the window. The metrics are those of the
//! backtest ([`prescale_forecast::metrics`]).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use prescale_core::Forecast;
use prescale_forecast::metrics::Accumulator;
use serde::{Deserialize, Serialize};

use crate::registry::status::AccuracyView;

/// How long scored steps are kept.
const WINDOW_SECS: i64 = 86_400;
/// How far above the forecast quantile an actual still counts as covered (equal up to
/// floating-point rounding).
const COVERAGE_TOLERANCE: f64 = 1e-9;

/// The scorer. See the [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Step timestamp → (point, upper) forecast.
    pending: BTreeMap<i64, (f64, f64)>,
    /// (timestamp, actual, point, upper).
    scored: VecDeque<(i64, f64, f64, f64)>,
}

impl Accuracy {
    /// Records the forecast of the steps in `[from, to)` (steps already recorded keep their
    /// earlier forecast).
    pub fn predict(
        &mut self,
        forecast: &Forecast,
        quantile: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        let upper = forecast.quantile(quantile).unwrap_or(&forecast.point);
        for (i, (&point, &up)) in forecast.point.iter().zip(upper).enumerate() {
            let t = forecast.timestamp(i);
            if t >= from && t < to {
                self.pending.entry(t.timestamp()).or_insert((point, up));
            }
        }
    }

    /// Scores the step at `t` with its actual value.
    pub fn observe(&mut self, t: DateTime<Utc>, actual: f64) {
        let ts = t.timestamp();
        if let Some((p, u)) = self.pending.remove(&ts) {
            self.scored.push_back((ts, actual, p, u));
        }
        // Forecasts of steps already past without an actual are dropped.
        self.pending = self.pending.split_off(&ts);
        while self.scored.front().is_some_and(|s| s.0 <= ts - WINDOW_SECS) {
            self.scored.pop_front();
        }
    }

    /// 1 − WAPE and coverage over the window.
    pub fn view(&self) -> AccuracyView {
        // The quantile level only weighs the pinball loss, which the view does not report.
        let mut acc = Accumulator::default().with_coverage_tolerance(COVERAGE_TOLERANCE);
        for &(_, actual, point, upper) in &self.scored {
            acc.add(&[actual], &[point], &[upper], 0.0);
        }
        let m = acc.finish();
        AccuracyView {
            ratio: (!m.accuracy.is_nan()).then_some(m.accuracy),
            coverage: (m.points > 0).then_some(m.upper_coverage),
            scored: m.points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescale_core::QuantileForecast;

    #[test]
    fn scores_forecasts_made_ahead() {
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        let f = Forecast {
            start: t0,
            step_secs: 60,
            point: vec![10.0, 10.0, 10.0, 10.0],
            quantiles: vec![QuantileForecast {
                level: 0.9,
                values: vec![12.0; 4],
            }],
        };
        let mut a = Accuracy::default();
        a.predict(
            &f,
            0.9,
            t0 + chrono::Duration::minutes(1),
            t0 + chrono::Duration::minutes(3),
        );
        assert_eq!(a.view().scored, 0);
        a.observe(t0, 5.0); // not predicted: ignored
        a.observe(t0 + chrono::Duration::minutes(1), 8.0);
        a.observe(t0 + chrono::Duration::minutes(2), 14.0);
        let v = a.view();
        assert_eq!(v.scored, 2);
        // WAPE = (2 + 4) / 22.
        assert!((v.ratio.unwrap() - (1.0 - 6.0 / 22.0)).abs() < 1e-12);
        assert_eq!(v.coverage, Some(0.5));
    }

    #[test]
    fn empty_zero_and_rounding_cases() {
        let mut a = Accuracy::default();
        assert_eq!(
            a.view(),
            AccuracyView {
                ratio: None,
                coverage: None,
                scored: 0
            }
        );
        // All-zero actuals: no WAPE, but a coverage.
        a.scored.push_back((0, 0.0, 1.0, 2.0));
        assert_eq!(a.view().ratio, None);
        assert_eq!(a.view().coverage, Some(1.0));
        // An actual above the quantile by rounding only is covered; clearly above is not.
        a.scored.push_back((60, 3.0, 3.0, 3.0 - 1e-12));
        a.scored.push_back((120, 5.0, 4.0, 4.5));
        let v = a.view();
        assert_eq!(v.scored, 3);
        assert_eq!(v.coverage, Some(2.0 / 3.0));
        // WAPE = (1 + 0 + 1) / 8.
        assert!((v.ratio.unwrap() - (1.0 - 2.0 / 8.0)).abs() < 1e-12);
    }
}
