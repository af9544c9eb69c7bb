//! Patterns, trend and anomalies of a history, as `prescale forecast` reports them: the
//! pipeline is [`prescale_forecast::analysis::analyse`]; here its result only becomes the
//! status view (timestamps, the latest anomalies).

use chrono::{DateTime, Duration, Utc};
use prescale_forecast::analysis::{self, AnalysisOptions, REPORTED_ANOMALIES, SeriesAnalysis};
use prescale_forecast::seasonality::PeriodLabel;
use prescale_forecast::trend::TrendClass;

use crate::registry::status::{Analysis, AnomalyView};

/// Analyses `values` (one per `step_secs`, the first at `start`) at `at`.
pub fn analyse(
    values: &[f64],
    start: DateTime<Utc>,
    step_secs: i64,
    at: DateTime<Utc>,
) -> Analysis {
    let analysis = analysis::analyse(values, step_secs, &AnalysisOptions::default());
    view(analysis, start, step_secs, at)
}

/// The status view of `a`, the analysis at `at` of values one per `step_secs` from `start`:
/// the anomalies' timestamps, the latest [`REPORTED_ANOMALIES`] first.
pub fn view(
    a: SeriesAnalysis,
    start: DateTime<Utc>,
    step_secs: i64,
    at: DateTime<Utc>,
) -> Analysis {
    Analysis {
        at,
        anomaly_count: a.anomalies.len(),
        anomalies: a
            .latest_anomalies(REPORTED_ANOMALIES)
            .map(|x| AnomalyView {
                timestamp: start + Duration::seconds(step_secs * x.index as i64),
                value: x.value,
                expected: x.expected,
                score: x.score,
            })
            .collect(),
        patterns: a.patterns,
        trend: a.trend,
    }
}

/// Whether a daily and a weekly period were found, and the trend label.
pub fn summary(a: &Analysis) -> (bool, bool, &'static str) {
    let has = |l| a.patterns.iter().any(|p| p.label == l);
    let direction = match a.trend.class {
        TrendClass::Increasing => "increasing",
        TrendClass::Decreasing => "decreasing",
        TrendClass::Stable => "stable",
        TrendClass::Volatile => "volatile",
    };
    (has(PeriodLabel::Daily), has(PeriodLabel::Weekly), direction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescale_core::synth::{SyntheticSpec, generate};

    #[test]
    fn finds_the_daily_cycle_of_the_synthetic_trace() {
        let s = generate(&SyntheticSpec {
            days: 8.0,
            ..SyntheticSpec::default()
        });
        let a = analyse(s.values(), s.start(), s.step_secs(), s.end());
        let (daily, _, _) = summary(&a);
        assert!(daily, "{:?}", a.patterns);
        assert!(a.anomalies.len() <= 20);
        assert!(
            a.anomalies
                .windows(2)
                .all(|w| w[0].timestamp >= w[1].timestamp)
        );
    }

    #[test]
    fn the_view_dates_the_latest_anomalies_newest_first() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let at = start + Duration::days(1);
        let s = generate(&SyntheticSpec {
            days: 1.0,
            ..SyntheticSpec::default()
        });
        let mut a = analysis::analyse(s.values(), 60, &AnalysisOptions::default());
        a.anomalies = (0..25)
            .map(|i| prescale_forecast::anomaly::Anomaly {
                index: 10 * i,
                value: i as f64,
                expected: 1.0,
                score: 7.0,
            })
            .collect();
        let v = view(a.clone(), start, 60, at);
        assert_eq!(v.at, at);
        assert_eq!(v.anomaly_count, 25);
        assert_eq!(v.anomalies.len(), REPORTED_ANOMALIES);
        assert_eq!(v.anomalies[0].timestamp, start + Duration::minutes(240));
        assert_eq!(v.anomalies[0].value, 24.0);
        assert_eq!(v.anomalies[19].timestamp, start + Duration::minutes(50));
        assert_eq!((v.patterns, v.trend), (a.patterns, a.trend));
    }
}
