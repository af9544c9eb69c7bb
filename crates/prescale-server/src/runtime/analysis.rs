//! Patterns, trend and anomalies of a history, as `prescale forecast` reports them.

use chrono::{DateTime, Duration, Utc};
use prescale_forecast::anomaly::{AnomalyOptions, detect_anomalies};
use prescale_forecast::seasonality::{PeriodLabel, SeasonalityOptions, detect_periods};
use prescale_forecast::trend::{TrendClass, detect_trend};

use crate::registry::status::{Analysis, AnomalyView};

/// Analyses `values` (one per `step_secs`, the first at `start`) at `at`.
pub fn analyse(
    values: &[f64],
    start: DateTime<Utc>,
    step_secs: i64,
    at: DateTime<Utc>,
) -> Analysis {
    let patterns = detect_periods(values, step_secs, &SeasonalityOptions::default());
    let steps_per_day = (86_400 % step_secs == 0).then(|| (86_400 / step_secs) as usize);
    let daily = patterns
        .iter()
        .find(|p| p.label == PeriodLabel::Daily)
        .map(|p| p.steps)
        .or_else(|| {
            steps_per_day.filter(|_| patterns.iter().any(|p| p.label == PeriodLabel::Weekly))
        });
    let trend = detect_trend(values, step_secs, daily);
    let anomalies = detect_anomalies(values, daily, &AnomalyOptions::default());
    Analysis {
        at,
        anomaly_count: anomalies.len(),
        anomalies: anomalies
            .iter()
            .rev()
            .take(20)
            .map(|a| AnomalyView {
                timestamp: start + Duration::seconds(step_secs * a.index as i64),
                value: a.value,
                expected: a.expected,
                score: a.score,
            })
            .collect(),
        patterns,
        trend,
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
}
