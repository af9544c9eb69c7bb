//! Rolling-origin backtest, with the protocol of the peer harness.
//!
//! Origins are `t = n − h, n − h − every, …` down to `n − h − span` (inclusive, at least one
//! origin), or the last `count` of them. At each origin the model is fitted on
//! `y[max(0, t − max_train) .. t]` and its forecast of `y[t .. t + h]` is scored
//! ([`crate::metrics`]). Only fit + predict is timed. A model that cannot forecast at an origin
//! (too little history, Crane's "not periodic") is scored on the documented fallback a real
//! autoscaler would use, the last observed value (what a reactive scaler sees), and the
//! fallback is counted.

use std::time::{Duration, Instant};

use prescale_core::Series;
use serde::Serialize;

use crate::conformal::fallback_quantile;
use crate::metrics::{Accumulator, Accuracy, naive_mae};
use crate::model::{FitInput, Model, predict};

/// The backtest protocol.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// Forecast horizon in steps.
    pub horizon: usize,
    /// Steps between origins.
    pub every: usize,
    /// How far back the first origin may be, in steps.
    pub span: usize,
    /// Use only the last `count` origins, if set.
    pub count: Option<usize>,
    /// Longest training window, in steps.
    pub max_train: usize,
    /// The upper quantile that is scored (e.g. 0.9).
    pub upper_level: f64,
}

impl BacktestConfig {
    /// The peers' default protocol for a series with step `step_secs`: 30-minute horizon,
    /// origins every 30 minutes over the last 3 days, training windows of at most 14 days.
    pub fn default_for_step(step_secs: i64) -> Self {
        let steps = |secs: i64| ((secs + step_secs - 1) / step_secs).max(1) as usize;
        Self {
            horizon: steps(1800),
            every: steps(1800),
            span: (3 * 86_400 / step_secs) as usize,
            count: None,
            max_train: (14 * 86_400 / step_secs) as usize,
            upper_level: 0.9,
        }
    }

    /// The origins for a series of `n` points, oldest first.
    pub fn origins(&self, n: usize) -> Vec<usize> {
        let h = self.horizon;
        let every = self.every.max(1);
        if n <= h + 1 {
            return Vec::new();
        }
        let last = n - h;
        let lowest = last.saturating_sub(self.span).max(1);
        let mut out: Vec<usize> = (0..)
            .map(|i| last as i64 - (i * every) as i64)
            .take_while(|&t| t >= lowest as i64)
            .map(|t| t as usize)
            .collect();
        if let Some(c) = self.count {
            out.truncate(c.max(1));
        }
        out.reverse();
        out
    }
}

/// What happened at one origin.
#[derive(Debug, Clone)]
pub struct OriginOutcome {
    /// The origin (index of the first forecast step).
    pub origin: usize,
    /// Point forecast.
    pub point: Vec<f64>,
    /// Upper quantile forecast.
    pub upper: Vec<f64>,
    /// Fit + predict time.
    pub elapsed: Duration,
    /// Why the model could not forecast, when the fallback was used.
    pub fallback: Option<String>,
}

/// Fits `model` at `origin` and forecasts the horizon.
pub fn run_origin(
    model: &dyn Model,
    series: &Series,
    origin: usize,
    cfg: &BacktestConfig,
) -> OriginOutcome {
    let lo = origin.saturating_sub(cfg.max_train);
    let train = &series.values()[lo..origin];
    let input = FitInput {
        values: train,
        start: series.timestamp(lo),
        step_secs: series.step_secs(),
        horizon: cfg.horizon,
    };
    let started = Instant::now();
    let result = model.fit(&input).and_then(|fitted| {
        predict(
            fitted.as_ref(),
            series.timestamp(origin),
            series.step_secs(),
            cfg.horizon,
            &[cfg.upper_level],
        )
    });
    let elapsed = started.elapsed();
    match result {
        Ok(f) => {
            let upper = f
                .quantile(cfg.upper_level)
                .map(<[f64]>::to_vec)
                .unwrap_or_default();
            OriginOutcome {
                origin,
                point: f.point,
                upper,
                elapsed,
                fallback: None,
            }
        }
        Err(e) => {
            let last = train.last().copied().unwrap_or(0.0);
            OriginOutcome {
                origin,
                point: vec![last; cfg.horizon],
                upper: vec![fallback_quantile(last, cfg.upper_level); cfg.horizon],
                elapsed,
                fallback: Some(e.to_string()),
            }
        }
    }
}

/// A model's score over a backtest.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScore {
    /// The model's name.
    pub name: String,
    /// The metrics.
    #[serde(flatten)]
    pub accuracy: Accuracy,
    /// Mean fit + predict time per origin, in milliseconds.
    pub ms_per_origin: f64,
    /// Total fit + predict time, in seconds.
    pub seconds_total: f64,
    /// Number of origins.
    pub origins: usize,
    /// Origins where the model could not forecast and the fallback was scored.
    pub fallbacks: usize,
    /// The first reason for a fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// Scores the outcomes of one model.
pub fn score(
    name: &str,
    series: &Series,
    outcomes: &[OriginOutcome],
    cfg: &BacktestConfig,
) -> ModelScore {
    let y = series.values();
    let season = if 86_400 % series.step_secs() == 0 {
        (86_400 / series.step_secs()) as usize
    } else {
        1
    };
    let mut acc = Accumulator::new(cfg.upper_level);
    let mut total = Duration::ZERO;
    for o in outcomes {
        let end = (o.origin + cfg.horizon).min(y.len());
        let window = &y[o.origin.saturating_sub(cfg.max_train)..o.origin];
        acc.add(
            &y[o.origin..end],
            &o.point,
            &o.upper,
            naive_mae(window, season),
        );
        total += o.elapsed;
    }
    let n = outcomes.len().max(1) as f64;
    ModelScore {
        name: name.to_string(),
        accuracy: acc.finish(),
        ms_per_origin: total.as_secs_f64() * 1000.0 / n,
        seconds_total: total.as_secs_f64(),
        origins: outcomes.len(),
        fallbacks: outcomes.iter().filter(|o| o.fallback.is_some()).count(),
        fallback_reason: outcomes.iter().find_map(|o| o.fallback.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::seasonal_naive::SeasonalNaive;
    use chrono::DateTime;
    use prescale_core::ValueKind;

    #[test]
    fn origins_follow_the_peer_protocol() {
        let cfg = BacktestConfig::default_for_step(60);
        assert_eq!(
            (cfg.horizon, cfg.every, cfg.span, cfg.max_train),
            (30, 30, 4320, 20160)
        );
        let n = 40_000;
        let o = cfg.origins(n);
        assert_eq!(o.len(), 145);
        assert_eq!(*o.last().unwrap(), n - 30);
        assert_eq!(o[0], n - 30 - 4320);
        let five = BacktestConfig::default_for_step(300);
        assert_eq!((five.horizon, five.every), (6, 6));
        let ten = BacktestConfig::default_for_step(600);
        assert_eq!(ten.origins(2016).len(), 145);
        let limited = BacktestConfig {
            count: Some(3),
            ..cfg
        };
        assert_eq!(limited.origins(n), vec![n - 90, n - 60, n - 30]);
        assert!(BacktestConfig::default_for_step(60).origins(20).is_empty());
    }

    #[test]
    fn scores_a_model_and_counts_fallbacks() {
        let values: Vec<f64> = (0..3 * 1440)
            .map(|t| 10.0 + (t % 1440) as f64 / 100.0)
            .collect();
        let series = Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            60,
            values,
            ValueKind::Count,
        )
        .unwrap();
        let cfg = BacktestConfig {
            span: 1440,
            ..BacktestConfig::default_for_step(60)
        };
        let origins = cfg.origins(series.len());
        let outcomes: Vec<_> = origins
            .iter()
            .map(|&o| run_origin(&SeasonalNaive::daily(), &series, o, &cfg))
            .collect();
        let s = score("seasonal_naive_daily", &series, &outcomes, &cfg);
        assert_eq!(s.origins, origins.len());
        assert_eq!(s.fallbacks, 0);
        assert!(s.accuracy.accuracy > 0.999, "{s:?}");
        // Weekly seasonal naive has too little history: every origin falls back.
        let weekly: Vec<_> = origins
            .iter()
            .map(|&o| run_origin(&SeasonalNaive::weekly(), &series, o, &cfg))
            .collect();
        let w = score("seasonal_naive_weekly", &series, &weekly, &cfg);
        assert_eq!(w.fallbacks, origins.len());
        assert!(w.fallback_reason.unwrap().contains("needs at least"));
    }
}
