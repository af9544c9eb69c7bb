//! Walk-forward tuning: when to re-tune, the window replayed, and the margin learned from the
//! tuner's own out-of-sample misses.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_control::Point;
use serde::{Deserialize, Serialize};

use super::{Gate, Headroom, Replay, Scored, TuneSetup, pick};
use crate::policies::prescale::ForecastTape;

/// When and how the tuner re-tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunerConfig {
    /// The share of demand to serve within the SLA.
    pub slo: f64,
    /// Seconds between re-tunes (default one day).
    pub every_secs: i64,
    /// History needed before the first tuning (default one day); before it the headroom is
    /// [`Headroom::CONSERVATIVE`].
    pub min_history_secs: i64,
    /// At most this much recent history is replayed (default seven days).
    pub window_secs: i64,
    /// Out-of-sample misses remembered (reported; default 7).
    pub misses_kept: usize,
    /// The window the SLO is kept over, the error budget's (default 28 days): the replayed
    /// attainment of what ran over it sets the catch-up.
    #[serde(default = "default_budget_window")]
    pub budget_window_secs: i64,
    /// A deficit against the SLO in the budget window is made up over this long (default 7
    /// days): the target rises by the deficit times the budget window's days so far over these.
    #[serde(default = "default_catch_up")]
    pub catch_up_secs: i64,
}

fn default_budget_window() -> i64 {
    28 * 86_400
}

fn default_catch_up() -> i64 {
    7 * 86_400
}

impl Default for TunerConfig {
    fn default() -> Self {
        Self {
            slo: 0.99,
            every_secs: 86_400,
            min_history_secs: 86_400,
            window_secs: 7 * 86_400,
            misses_kept: 7,
            budget_window_secs: default_budget_window(),
            catch_up_secs: default_catch_up(),
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
    /// The SLA the pick had to reach there: the SLO plus the margin plus the catch-up, less the
    /// margin when no candidate reached that.
    pub target: f64,
    /// The margin: the mean recent out-of-sample shortfall of earlier picks (their window's SLA
    /// minus their SLA on the day after they were chosen), within `[0, 0.9 (1 - SLO)]`.
    pub margin: f64,
    /// Days replayed.
    pub days: f64,
    /// The share of demand within the SLA over the budget window so far, as replayed with the
    /// headroom that ran (1 before anything was replayed).
    #[serde(default = "one")]
    pub attainment: f64,
    /// What the target rose by to make up a deficit of `attainment` against the SLO.
    #[serde(default)]
    pub catch_up: f64,
}

fn one() -> f64 {
    1.0
}

/// Demand and the part of it within the SLA over some replayed hours ending at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Realized {
    at: DateTime<Utc>,
    demand: f64,
    within: f64,
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
    #[serde(default)]
    realized: VecDeque<Realized>,
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
            realized: VecDeque::new(),
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

    /// The instant a re-tune is due as of at `now`, given the history's first point, or
    /// `None`. Re-tunes fall on the grid of [`TunerConfig::every_secs`] from the Unix epoch
    /// (midnight UTC when daily), as of the latest grid instant not after `now`, on the history
    /// before it: two server replicas started at different times tune as of the same instants
    /// on the same data. The first tuning is as of that grid instant when enough history
    /// ([`TunerConfig::min_history_secs`]) precedes it, else as of `now` once enough has built
    /// up; the next one is on the grid.
    pub fn due_at(
        &self,
        now: DateTime<Utc>,
        history_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let start = history_start.or(self.first_seen)?;
        let every = self.config.every_secs.max(60);
        let grid = DateTime::from_timestamp(now.timestamp().div_euclid(every) * every, 0)?;
        let enough =
            |t: DateTime<Utc>| t - start >= Duration::seconds(self.config.min_history_secs);
        match &self.last {
            Some(last) => (grid > last.at && enough(grid)).then_some(grid),
            None if enough(grid) => Some(grid),
            None => enough(now).then_some(now),
        }
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
        self.retune_gated(now, history, setup, tape, None)
    }

    /// [`Tuner::retune`] sharing the compute through `gate` ([`Gate`]): the server's re-tunes
    /// take a forecast thread one refresh's fit or one candidate's replay at a time, so that
    /// the other services' refreshes run in between. The same tuning as without a gate.
    pub fn retune_gated(
        &mut self,
        now: DateTime<Utc>,
        history: &[Point],
        setup: &TuneSetup,
        tape: Option<Arc<ForecastTape>>,
        gate: Option<Gate>,
    ) -> Option<&Tuning> {
        let first = history.first()?.0;
        self.first_seen.get_or_insert(first);
        // Whole days of history before `now` (whole hours under a day): two replicas whose
        // histories begin at different minutes of a day replay the same points.
        let held = (now - first).num_seconds();
        let unit = if held >= 86_400 { 86_400 } else { 3_600 };
        let start = now - Duration::seconds(held.div_euclid(unit) * unit);
        let begin = history.partition_point(|p| p.0 < start);
        let end = history.partition_point(|p| p.0 <= now);
        let history = history.get(begin..end)?;
        // Whole hours (so that the replay's refresh points are the live loop's), an hour of
        // the history kept as lead-in.
        let span = ((now - start).num_seconds() - 3_600).min(self.config.window_secs);
        let from = now - Duration::seconds(span.div_euclid(3_600) * 3_600);
        let replay = Replay::new(history, from, setup)?.gated(gate);
        let tape = match tape {
            Some(t) => t,
            None => replay.fit(&Headroom::CONSERVATIVE).1,
        };
        // Out of sample: how far the last pick's SLA on the day(s) since it was chosen fell
        // below what its window promised (negative when it did better). The margin is the
        // mean of the recent shortfalls: the bias of picking the cheapest setting that just
        // reaches the target on the past, measured on the days that followed. It stays within
        // [0, 0.9 (1 - SLO)]: never chasing 100%.
        let slo = self.config.slo;
        let cap = 0.9 * (1.0 - slo);
        let since = self.last.as_ref().map_or(0, |last| {
            ((last.at - from).num_seconds().max(0) / 3_600) as usize
        });
        // What ran since the last tuning (the conservative headroom before the first), as
        // replayed: the error budget's account.
        let ran = replay.run(&self.headroom(), &tape);
        let hours = ran.hourly.get(since..).unwrap_or(&[]);
        self.realized.push_back(Realized {
            at: now,
            demand: hours.iter().map(|h| h.demand).sum(),
            within: hours.iter().map(|h| h.within).sum(),
        });
        if let Some(last) = &self.last {
            let realized = ran.sla_between(since, usize::MAX);
            tracing::debug!(at = %now, predicted = last.predicted_sla, realized, "SLO mode: the last pick out of sample.");
            self.misses.push_back(last.predicted_sla - realized);
            while self.misses.len() > self.config.misses_kept {
                self.misses.pop_front();
            }
            let mean = self.misses.iter().sum::<f64>() / self.misses.len() as f64;
            self.margin = mean.clamp(0.0, cap);
        }
        let (attainment, catch_up) = self.budget(now, start);
        let margin = self.margin;
        let (target, scored) = aim(slo, margin, catch_up, cap, |t| replay.search(t, &tape));
        let chosen: &Scored = pick(&scored, target)?;
        self.last = Some(Tuning {
            at: now,
            headroom: chosen.headroom,
            predicted_sla: chosen.sla,
            predicted_gpu_hours: chosen.gpu_hours,
            target,
            margin,
            days: (now - from).num_seconds() as f64 / 86_400.0,
            attainment,
            catch_up,
        });
        self.last.as_ref()
    }

    /// The error budget at `now`: the attainment of what ran over the budget window (the
    /// service's history starts at `start`), and the catch-up: a deficit against the SLO,
    /// spread over [`TunerConfig::catch_up_secs`] (the longer the deficit has been building,
    /// the more it takes to make it up).
    fn budget(&mut self, now: DateTime<Utc>, start: DateTime<Utc>) -> (f64, f64) {
        let from = now - Duration::seconds(self.config.budget_window_secs);
        while self.realized.front().is_some_and(|r| r.at <= from) {
            self.realized.pop_front();
        }
        let demand: f64 = self.realized.iter().map(|r| r.demand).sum();
        let within: f64 = self.realized.iter().map(|r| r.within).sum();
        let attainment = if demand > 0.0 { within / demand } else { 1.0 };
        let elapsed = (now - start.max(from)).num_seconds() as f64;
        let catch_up = (self.config.slo - attainment).max(0.0) * elapsed
            / self.config.catch_up_secs.max(1) as f64;
        (attainment, catch_up)
    }
}

/// The SLA the pick aims at, and the candidates scored for it (by `search`): the SLO plus the
/// margin plus the catch-up, at most `cap` above the SLO. When no candidate reaches that, the
/// margin is dropped: the target falls to the SLO plus the catch-up. The margin is a hedge
/// against the pick's optimism; when no candidate reaches it, the hedge alone would buy the
/// costliest headroom (on AMZN the tuner held the utilization floor for a week on the margin
/// while 99.2–99.6% of the budget window's demand had been served; docs/slo.md). The deficit's
/// catch-up is never dropped.
fn aim(
    slo: f64,
    margin: f64,
    catch_up: f64,
    cap: f64,
    mut search: impl FnMut(f64) -> Vec<Scored>,
) -> (f64, Vec<Scored>) {
    let top = slo + cap;
    let target = (slo + margin + catch_up).min(top);
    let scored = search(target);
    let without_margin = (slo + catch_up).min(top);
    if without_margin < target && !scored.iter().any(|s| s.robust >= target) {
        return (without_margin, search(without_margin));
    }
    (target, scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(d * 86_400, 0).unwrap()
    }

    #[test]
    fn re_tunes_fall_on_the_grid_whenever_the_tuner_started() {
        let t = Tuner::new(TunerConfig::default());
        let at = |d: i64, h: i64, m: i64| day(d) + Duration::minutes(60 * h + m);
        // History from day 0 09:30: not enough at midnight of day 1, enough at 09:30 of day 1
        // (the first tuning, as of then); with history from day 0 00:00, as of midnight.
        assert_eq!(t.due_at(at(1, 9, 0), Some(at(0, 9, 30))), None);
        assert_eq!(
            t.due_at(at(1, 9, 30), Some(at(0, 9, 30))),
            Some(at(1, 9, 30))
        );
        assert_eq!(t.due_at(at(3, 9, 30), Some(at(0, 9, 30))), Some(day(3)));
        assert_eq!(t.due_at(at(3, 9, 50), Some(at(0, 9, 50))), Some(day(3)));
        // After a tuning, the next is as of the next grid instant.
        let mut tuned = t.clone();
        tuned.last = Some(Tuning {
            at: day(3),
            headroom: Headroom::CONSERVATIVE,
            predicted_sla: 0.99,
            predicted_gpu_hours: 1.0,
            target: 0.99,
            margin: 0.0,
            days: 2.0,
            attainment: 1.0,
            catch_up: 0.0,
        });
        assert_eq!(tuned.due_at(at(3, 23, 59), Some(day(0))), None);
        assert_eq!(tuned.due_at(at(4, 0, 10), Some(day(0))), Some(day(4)));
    }

    /// One candidate per SLA (its robust SLA too), cheapest first.
    fn scored(slas: &[f64]) -> Vec<Scored> {
        slas.iter()
            .enumerate()
            .map(|(i, &sla)| Scored {
                headroom: Headroom::CONSERVATIVE,
                gpu_hours: (i + 1) as f64,
                sla,
                robust: sla,
                hourly: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_margin_out_of_reach_is_dropped_but_a_catch_up_is_not() {
        let mut asked = Vec::new();
        let candidates = scored(&[0.985, 0.992, 0.995]);
        let mut search = |t: f64| {
            asked.push(t);
            candidates.clone()
        };
        // Within reach: the SLO plus the margin plus the catch-up, searched once.
        let (t, _) = aim(0.99, 0.003, 0.001, 0.009, &mut search);
        assert!((t - 0.994).abs() < 1e-12, "{t}");
        // Out of reach (0.99 + 0.008 > 0.995): the margin goes, the catch-up stays.
        let (t, s) = aim(0.99, 0.008, 0.001, 0.009, &mut search);
        assert!((t - 0.991).abs() < 1e-12, "{t}");
        assert_eq!(pick(&s, t).map(|c| c.gpu_hours), Some(2.0));
        // Out of reach without the margin too: the near-best rule picks, as before.
        let (t, s) = aim(0.99, 0.004, 0.006, 0.009, &mut search);
        assert!((t - 0.996).abs() < 1e-12, "{t}");
        assert_eq!(pick(&s, t).map(|c| c.gpu_hours), Some(3.0));
        // The cap bounds both targets.
        let (t, _) = aim(0.99, 0.009, 0.02, 0.009, &mut search);
        assert!((t - 0.999).abs() < 1e-12, "{t}");
        assert_eq!(asked.len(), 6, "{asked:?}");
    }

    #[test]
    fn a_deficit_raises_the_target_until_it_is_made_up() {
        let mut t = Tuner::new(TunerConfig::default());
        let ran = |at, within| Realized {
            at: day(at),
            demand: 100.0,
            within,
        };
        // Two days at 97%: two points short of 99% for two days, made up over seven.
        t.realized.extend([ran(1, 97.0), ran(2, 97.0)]);
        let (attainment, catch_up) = t.budget(day(2), day(0));
        assert!((attainment - 0.97).abs() < 1e-12);
        assert!((catch_up - 0.02 * 2.0 / 7.0).abs() < 1e-12, "{catch_up}");
        // Ahead of the SLO: no catch-up (a surplus is not spent).
        t.realized.extend((3..8).map(|d| ran(d, 100.0)));
        assert_eq!(t.budget(day(7), day(0)).1, 0.0);
        // Days older than the 28-day window leave the account.
        t.realized.clear();
        t.realized.extend([ran(1, 50.0), ran(30, 99.5)]);
        let (attainment, catch_up) = t.budget(day(30), day(0));
        assert_eq!((attainment, catch_up), (0.995, 0.0));
        assert_eq!(t.realized.len(), 1);
    }
}
