//! Whether a live value is a spike against the forecast for its minute.
//!
//! The forecast's median for the step holding `now` is the expected value; its scale is the
//! spread of the provisioning quantile above the median, read as a normal's
//! (`(upper − median) / z(quantile)`), floored by `sqrt(max(median, 1))` in the series' own
//! unit (`level`: the unit in which the series' mean level is [`crate::REFERENCE_LEVEL`], see
//! [`crate::Controller`]), so that the flag does not depend on the unit of the query. A live value more than
//! [`LIVE_ANOMALY_Z`] scales above the median is anomalous. Only spikes count: a drop is
//! handled by the stale and scale-to-zero rules, never by this flag.
//!
//! The flag changes the decision's reason, not its replicas: the live need is always served,
//! and a spike cannot raise the predictive need, which comes from the forecast (whose fit
//! filters anomalies out).

use chrono::{DateTime, Utc};
use prescale_core::Forecast;
use prescale_core::stats::normal_quantile;

/// Robust z-score above which a live value is a spike.
pub const LIVE_ANOMALY_Z: f64 = 6.0;

/// Whether `live_per_min` at `now` is a spike against `forecast` (see the
/// [module documentation](self)); `unit` is the series' own unit (a positive number of demand
/// units per minute; 1 when unknown). False when the forecast does not cover `now` (within one
/// step before its start) or the value is not finite.
pub fn live_anomalous(
    forecast: &Forecast,
    quantile: f64,
    now: DateTime<Utc>,
    live_per_min: f64,
    unit: f64,
) -> bool {
    let step = forecast.step_secs;
    if step <= 0 || forecast.point.is_empty() || !live_per_min.is_finite() {
        return false;
    }
    let unit = if unit.is_finite() && unit > 0.0 {
        unit
    } else {
        1.0
    };
    let offset = (now - forecast.start).num_seconds();
    if offset < -step {
        return false;
    }
    let i = usize::try_from(offset.max(0) / step).unwrap_or(usize::MAX);
    let Some(&median) = forecast.point.get(i) else {
        return false;
    };
    let per_min = 60.0 / step as f64 / unit;
    let live_per_min = live_per_min / unit;
    let median = median.max(0.0) * per_min;
    let spread = match forecast.quantile(quantile).and_then(|q| q.get(i)) {
        Some(&upper) if quantile > 0.5 && quantile < 1.0 => {
            (upper * per_min - median).max(0.0) / normal_quantile(quantile)
        }
        _ => 0.0,
    };
    let scale = spread.max(median.max(1.0).sqrt());
    (live_per_min - median) / scale > LIVE_ANOMALY_Z
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescale_core::QuantileForecast;

    fn forecast(point: f64, p90: f64) -> Forecast {
        Forecast {
            start: DateTime::from_timestamp(600, 0).unwrap(),
            step_secs: 60,
            point: vec![point; 10],
            quantiles: vec![QuantileForecast {
                level: 0.9,
                values: vec![p90; 10],
            }],
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn flags_spikes_beyond_six_scales_of_the_band() {
        // Median 100, P90 125.6: scale (25.6 / 1.2816) = 20 > sqrt(100) = 10.
        let f = forecast(100.0, 125.631_03);
        assert!(!live_anomalous(&f, 0.9, at(700), 210.0, 1.0));
        assert!(live_anomalous(&f, 0.9, at(700), 230.0, 1.0));
        // Drops are never flagged.
        assert!(!live_anomalous(&f, 0.9, at(700), 0.0, 1.0));
    }

    #[test]
    fn the_count_noise_floor_applies_without_a_band() {
        // No P99 in the forecast: scale sqrt(100) = 10, threshold 160.
        let f = forecast(100.0, 100.0);
        assert!(!live_anomalous(&f, 0.99, at(700), 155.0, 1.0));
        assert!(live_anomalous(&f, 0.99, at(700), 165.0, 1.0));
    }

    #[test]
    fn the_flag_does_not_depend_on_the_unit() {
        // The same forecast and value in units 1/60 and 1000 times as large, each with its own
        // unit: the same answers.
        for k in [1.0 / 60.0, 1.0, 60.0, 1000.0] {
            let f = forecast(100.0 * k, 100.0 * k);
            assert!(!live_anomalous(&f, 0.99, at(700), 155.0 * k, k), "k = {k}");
            assert!(live_anomalous(&f, 0.99, at(700), 165.0 * k, k), "k = {k}");
        }
    }

    #[test]
    fn only_within_the_forecast() {
        let f = forecast(100.0, 125.0);
        // One step before the start counts as the first step; earlier or after the end not.
        assert!(live_anomalous(&f, 0.9, at(560), 1e6, 1.0));
        assert!(!live_anomalous(&f, 0.9, at(500), 1e6, 1.0));
        assert!(!live_anomalous(&f, 0.9, at(600 + 600), 1e6, 1.0));
        assert!(!live_anomalous(&f, 0.9, at(700), f64::NAN, 1.0));
    }
}
