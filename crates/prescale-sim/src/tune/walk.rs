//! Walk-forward tuning: when to re-tune, the window replayed, and the margin learned from the
//! tuner's own out-of-sample misses.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_control::Point;
use serde::{Deserialize, Serialize};

use super::{Headroom, Replay, Scored, TuneSetup, pick};
use crate::policies::prescale::ForecastTape;

/// When and how the tuner re-tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunerConfig {
    /// The share of demand to serve within the SLA.
    pub slo: f64,
    /// Seconds between re-tunes (default one day).
    pub every_secs: i64,
    /// History needed before the first tuning (default two days); before it the headroom is
    /// [`Headroom::CONSERVATIVE`].
    pub min_history_secs: i64,
    /// At most this much recent history is replayed (default seven days).
    pub window_secs: i64,
    /// Out-of-sample misses remembered (reported; default 7).
    pub misses_kept: usize,
}

impl Default for TunerConfig {
    fn default() -> Self {
        Self {
            slo: 0.99,
            every_secs: 86_400,
            min_history_secs: 2 * 86_400,
            window_secs: 7 * 86_400,
            misses_kept: 7,
        }
    }
}

/// One tuning: what was chosen, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// When (the history before it was replayed).
    pub at: DateTime<Utc>,
    /// The headroom chosen.
    pub headroom: Headroom,
    /// Its SLA over the replayed window.
    pub predicted_sla: f64,
    /// Its GPU-hours over the replayed window.
    pub predicted_gpu_hours: f64,
    /// The SLA the pick had to reach there: the SLO plus the margin.
    pub target: f64,
    /// The margin: the mean recent out-of-sample shortfall of earlier picks (their window's SLA
    /// minus their SLA on the day after they were chosen), within `[0, 0.9 (1 - SLO)]`.
    pub margin: f64,
    /// Days replayed.
    pub days: f64,
}

/// The walk-forward tuner of one service. See the [module documentation](super). Its state
/// (the last pick, the recent misses, the margin) serializes, so that a restarted server goes on
/// where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuner {
    config: TunerConfig,
    first_seen: Option<DateTime<Utc>>,
    last: Option<Tuning>,
    misses: VecDeque<f64>,
    margin: f64,
}

impl Tuner {
    /// A tuner with `config`.
    pub fn new(config: TunerConfig) -> Self {
        Self {
            config,
            first_seen: None,
            last: None,
            misses: VecDeque::new(),
            margin: 0.0,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &TunerConfig {
        &self.config
    }

    /// The latest tuning.
    pub fn last(&self) -> Option<&Tuning> {
        self.last.as_ref()
    }

    /// The headroom in force.
    pub fn headroom(&self) -> Headroom {
        self.last
            .as_ref()
            .map_or(Headroom::CONSERVATIVE, |t| t.headroom)
    }

    /// Whether a re-tune is due at `now` given the history's first point.
    pub fn due(&self, now: DateTime<Utc>, history_start: Option<DateTime<Utc>>) -> bool {
        let Some(start) = history_start.or(self.first_seen) else {
            return false;
        };
        if now - start < Duration::seconds(self.config.min_history_secs) {
            return false;
        }
        self.last
            .as_ref()
            .is_none_or(|t| now - t.at >= Duration::seconds(self.config.every_secs))
    }

    /// Re-tunes at `now` on `history` (one-minute points before `now`, oldest first); returns
    /// the new tuning, or `None` when the history is too short to replay.
    pub fn retune(
        &mut self,
        now: DateTime<Utc>,
        history: &[Point],
        setup: &TuneSetup,
        tape: Option<Arc<ForecastTape>>,
    ) -> Option<&Tuning> {
        let start = history.first()?.0;
        self.first_seen.get_or_insert(start);
        let end = history.partition_point(|p| p.0 <= now);
        let history = &history[..end];
        // Whole hours (so that the replay's refresh points are the live loop's), an hour of
        // the history kept as lead-in.
        let span = ((now - start).num_seconds() - 3_600).min(self.config.window_secs);
        let from = now - Duration::seconds(span.div_euclid(3_600) * 3_600);
        let replay = Replay::new(history, from, setup)?;
        let tape = match tape {
            Some(t) => t,
            None => replay.fit(&Headroom::CONSERVATIVE).1,
        };
        // Out of sample: how far the last pick's SLA on the day(s) since it was chosen fell
        // below what its window promised (negative when it did better). The margin is the
        // mean of the recent shortfalls: the bias of picking the cheapest setting that just
        // reaches the target on the past, measured on the days that followed. It stays within
        // [0, 0.9 (1 - SLO)]: never chasing 100%.
        let cap = 0.9 * (1.0 - self.config.slo);
        if let Some(last) = &self.last {
            let since = ((last.at - from).num_seconds().max(0) / 3_600) as usize;
            let realized = replay
                .run(&last.headroom, &tape)
                .sla_between(since, usize::MAX);
            tracing::debug!(at = %now, predicted = last.predicted_sla, realized, "SLO mode: the last pick out of sample.");
            self.misses.push_back(last.predicted_sla - realized);
            while self.misses.len() > self.config.misses_kept {
                self.misses.pop_front();
            }
            let mean = self.misses.iter().sum::<f64>() / self.misses.len() as f64;
            self.margin = mean.clamp(0.0, cap);
        }
        let margin = self.margin;
        let target = self.config.slo + margin;
        let scored = replay.search(target, &tape);
        let chosen: &Scored = pick(&scored, target)?;
        self.last = Some(Tuning {
            at: now,
            headroom: chosen.headroom,
            predicted_sla: chosen.sla,
            predicted_gpu_hours: chosen.gpu_hours,
            target,
            margin,
            days: (now - from).num_seconds() as f64 / 86_400.0,
        });
        self.last.as_ref()
    }
}
