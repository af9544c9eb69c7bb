//! The analysis pipeline of one history: seasonal periods, then the trend and the anomalies
//! with the daily cycle as their season.
//!
//! [`analyse`] is the one place the three detectors are chained; `prescale forecast` and the
//! server's status both report its [`SeriesAnalysis`]:
//!
//! 1. [`detect_periods`] finds the periods, strongest first.
//! 2. The season used next is the [daily period](daily_period): the `Daily` period when one
//!    was found, otherwise the number of steps in a day when only a `Weekly` period was (a
//!    weekly cycle implies a daily phase too, if the step divides a day), otherwise none.
//! 3. [`detect_trend`] and [`detect_anomalies`] run with that season.

use serde::Serialize;

use crate::anomaly::{Anomaly, AnomalyOptions, detect_anomalies};
use crate::seasonality::{DAY_SECS, Period, PeriodLabel, SeasonalityOptions, detect_periods};
use crate::trend::{Trend, detect_trend};

/// How many of the latest anomalies a report lists (the CLI's JSON, the server's status).
pub const REPORTED_ANOMALIES: usize = 20;

/// Options of [`analyse`].
#[derive(Debug, Clone, Default)]
pub struct AnalysisOptions {
    /// Options of the period detection.
    pub seasonality: SeasonalityOptions,
    /// Options of the anomaly detection.
    pub anomalies: AnomalyOptions,
}

/// Patterns, trend and anomalies of a history. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesAnalysis {
    /// Seasonal periods found, strongest first.
    pub patterns: Vec<Period>,
    /// The season (in steps) the trend and the anomalies were computed with: see
    /// [`daily_period`].
    pub daily_period: Option<usize>,
    /// The trend.
    pub trend: Trend,
    /// The anomalous points, sorted by index (position in the analysed values).
    pub anomalies: Vec<Anomaly>,
}

impl SeriesAnalysis {
    /// The latest `n` anomalies, newest first.
    pub fn latest_anomalies(&self, n: usize) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().rev().take(n)
    }
}

/// Analyses `values`, sampled every `step_secs` seconds. See the [module
/// documentation](self).
pub fn analyse(values: &[f64], step_secs: i64, opts: &AnalysisOptions) -> SeriesAnalysis {
    let patterns = detect_periods(values, step_secs, &opts.seasonality);
    let daily = daily_period(&patterns, step_secs);
    SeriesAnalysis {
        trend: detect_trend(values, step_secs, daily),
        anomalies: detect_anomalies(values, daily, &opts.anomalies),
        daily_period: daily,
        patterns,
    }
}

/// The daily cycle in steps: the `Daily` period of `patterns`, or, when only a `Weekly` one
/// was found, the steps in a day (when `step_secs` divides a day); `None` otherwise.
pub fn daily_period(patterns: &[Period], step_secs: i64) -> Option<usize> {
    let has = |label| patterns.iter().find(|p| p.label == label);
    has(PeriodLabel::Daily).map(|p| p.steps).or_else(|| {
        let steps_per_day =
            (step_secs > 0 && DAY_SECS % step_secs == 0).then(|| (DAY_SECS / step_secs) as usize);
        steps_per_day.filter(|_| has(PeriodLabel::Weekly).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(label: PeriodLabel, steps: usize) -> Period {
        Period {
            steps,
            seconds: steps as i64 * 60,
            label,
            strength: 0.5,
            confidence: 1.0,
        }
    }

    #[test]
    fn daily_period_prefers_the_daily_pattern() {
        let weekly = period(PeriodLabel::Weekly, 10_080);
        let daily = period(PeriodLabel::Daily, 1_440);
        let other = period(PeriodLabel::Other, 90);
        assert_eq!(daily_period(&[weekly.clone(), daily], 60), Some(1_440));
        assert_eq!(
            daily_period(&[other.clone(), weekly.clone()], 60),
            Some(1_440)
        );
        let weekly_only = std::slice::from_ref(&weekly);
        assert_eq!(daily_period(weekly_only, 300), Some(288));
        // A step that does not divide a day gives no daily phase.
        assert_eq!(daily_period(weekly_only, 7 * 60), None);
        assert_eq!(daily_period(weekly_only, 0), None);
        assert_eq!(daily_period(&[other], 60), None);
        assert_eq!(daily_period(&[], 60), None);
    }

    #[test]
    fn analysis_chains_the_detectors_with_the_daily_season() {
        // 10 days of 5-minute steps with a daily cycle and one spike.
        let spd = 288;
        let mut values: Vec<f64> = (0..10 * spd)
            .map(|t| {
                let phase = (t % spd) as f64 / spd as f64;
                100.0 + 50.0 * (std::f64::consts::TAU * phase).sin() + (t % 7) as f64
            })
            .collect();
        values[5 * spd + 17] += 1_000.0;
        let opts = AnalysisOptions::default();
        let a = analyse(&values, 300, &opts);
        assert_eq!(a.daily_period, Some(spd), "{:?}", a.patterns);
        assert_eq!(a.patterns, detect_periods(&values, 300, &opts.seasonality));
        assert_eq!(a.trend, detect_trend(&values, 300, Some(spd)));
        assert_eq!(
            a.anomalies,
            detect_anomalies(&values, Some(spd), &opts.anomalies)
        );
        assert!(a.anomalies.iter().any(|x| x.index == 5 * spd + 17));
        let latest: Vec<_> = a.latest_anomalies(1).collect();
        assert_eq!(latest, [a.anomalies.last().unwrap()]);
    }

    #[test]
    fn short_and_degenerate_series_have_no_season() {
        let a = analyse(&[1.0; 10], 60, &AnalysisOptions::default());
        assert!(a.patterns.is_empty());
        assert_eq!(a.daily_period, None);
        assert!(
            analyse(&[], 0, &AnalysisOptions::default())
                .anomalies
                .is_empty()
        );
    }
}
