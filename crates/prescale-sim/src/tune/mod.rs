//! SLO mode's tuner: the cheapest headroom that keeps a service's SLO on its own history.
//!
//! The user states an SLO (a share of demand served within the SLA, e.g. 99% within 500 ms
//! of queueing delay); the tuner picks the headroom (the forecast quantile and the target
//! utilization) by replaying the service's own recent history through the same controller
//! and simulator as `prescale backtest` (the service's cold start and capacity):
//!
//! - [`Replay`]: candidates over the last days of the history. Forecasts do not depend on the
//!   headroom, so they are made once (the live loop's own, or one replay's, with every
//!   candidate's quantile) and the candidates replay only the decisions.
//! - [`Tuner`]: walk-forward. At each re-tune (daily, once [`TunerConfig::min_history_secs`]
//!   of history exists; a documented conservative headroom before) it replays the last
//!   [`TunerConfig::window_secs`] and picks the cheapest candidate whose SLA there, less one
//!   standard error of its daily SLAs ([`Scored::robust`]), is at least the target: the SLO
//!   plus a margin plus a catch-up (less the margin when no candidate reaches that: a hedge
//!   alone never buys the costliest headroom). The margin is learned from the tuner's own
//!   out-of-sample misses: how far each earlier pick's SLA on the day after it was chosen fell
//!   below what its window promised. The catch-up spends the error budget: a deficit of what
//!   ran (as replayed) against the SLO over [`TunerConfig::budget_window_secs`] raises the
//!   target until it is made up. Settings chosen at `t` use only history before `t`.

mod gate;
mod walk;

pub use gate::{Gate, GateGuard};
pub use walk::{Tuner, TunerConfig, Tuning};

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_control::{Controller, Point};
use prescale_core::{Series, ValueKind};
use rayon::prelude::*;

use crate::engine::{HourScore, SimConfig, simulate_hourly};
use crate::policies::PolicyOptions;
use crate::policies::prescale::{ForecastTape, PrescalePolicy};

/// A headroom setting: what SLO mode chooses.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Headroom {
    /// The forecast quantile provisioned for.
    pub quantile: f64,
    /// The share of a replica's capacity planned with.
    pub utilization: f64,
}

impl Headroom {
    /// The headroom before the first tuning (too little history to replay): P95 at 70% of
    /// capacity, chosen to keep a 99% SLO through the first days on most services at the
    /// price of GPU-hours (see docs/slo.md).
    pub const CONSERVATIVE: Self = Self {
        quantile: 0.95,
        utilization: 0.7,
    };

    /// Decides with this headroom from now on in `ctl`, for replicas that serve `capacity`
    /// (the trigger's `threshold`: the target utilization applies to it) and a backlog
    /// cleared in `drain_secs`. The server's worker and the simulator's policy both apply a
    /// tuning through this.
    pub fn apply(&self, ctl: &mut Controller, capacity: f64, drain_secs: i64) {
        let u = if self.utilization > 0.0 {
            self.utilization.min(1.0)
        } else {
            1.0
        };
        ctl.set_headroom(self.quantile, capacity * u, drain_secs);
    }
}

/// The forecast quantiles SLO mode may choose.
pub const QUANTILES: [f64; 7] = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99];

/// The target utilizations SLO mode may choose.
pub const UTILIZATIONS: [f64; 9] = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];

/// Every candidate headroom, from the least to the most.
pub fn candidates() -> Vec<Headroom> {
    UTILIZATIONS
        .iter()
        .flat_map(|&utilization| {
            QUANTILES.iter().map(move |&quantile| Headroom {
                quantile,
                utilization,
            })
        })
        .collect()
}

/// What the tuner knows of the service.
#[derive(Debug, Clone)]
pub struct TuneSetup {
    /// Demand one replica serves, per minute (the trigger's `threshold`, per minute).
    pub capacity_per_min: f64,
    /// The cold start the user declared, seconds.
    pub cold_start_secs: f64,
    /// Most replicas.
    pub max_replicas: u32,
    /// The SLA on the queueing delay, seconds.
    pub sla_secs: f64,
    /// The policy's other settings (KEDA, window, drain, signals, scale to zero).
    pub options: PolicyOptions,
}

/// One candidate replayed over the scored days.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scored {
    /// The candidate.
    pub headroom: Headroom,
    /// GPU-hours over the scored days.
    pub gpu_hours: f64,
    /// Share of the demand within the SLA over the scored days.
    pub sla: f64,
    /// What the pick compares with the target: the SLA less one standard error of the mean of
    /// its daily SLAs. A setting that reached the SLO on average but missed it by far on some
    /// days (a high utilization, say) is a riskier bet on the next day than one that kept it
    /// every day; the cheapest candidate by the plain SLA is the one most likely to disappoint
    /// out of sample.
    pub robust: f64,
    /// The scored days hour by hour.
    #[serde(skip)]
    pub hourly: Vec<HourScore>,
}

impl Scored {
    /// The SLA over the scored hours `[from, to)` (hours since the scored start).
    pub fn sla_between(&self, from: usize, to: usize) -> f64 {
        sla_of(
            self.hourly
                .get(from..to.min(self.hourly.len()))
                .unwrap_or(&[]),
        )
    }
}

/// GPU-hours and SLA of some hours.
fn totals(hours: &[HourScore]) -> (f64, f64) {
    (hours.iter().map(|h| h.gpu_hours).sum(), sla_of(hours))
}

fn sla_of(hours: &[HourScore]) -> f64 {
    let demand: f64 = hours.iter().map(|h| h.demand).sum();
    let within: f64 = hours.iter().map(|h| h.within).sum();
    if demand > 0.0 { within / demand } else { 1.0 }
}

/// Standard errors of the daily SLAs taken off a candidate's SLA before it is compared with
/// the target (see [`Scored::robust`]).
pub const ROBUST_SE: f64 = 1.0;

/// `sla` less [`ROBUST_SE`] standard errors of the mean of the SLAs of whole days (a trailing
/// part of at least 12 hours counts as a day); `sla` itself with fewer than two days.
fn robust_sla(sla: f64, hours: &[HourScore]) -> f64 {
    let days: Vec<f64> = hours
        .chunks(24)
        .filter(|c| c.len() >= 12)
        .map(sla_of)
        .collect();
    if days.len() < 2 {
        return sla;
    }
    let n = days.len() as f64;
    let mean = days.iter().sum::<f64>() / n;
    let var = days.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    sla - ROBUST_SE * (var / n).sqrt()
}

/// The lead-in replayed before the scored days (not scored): the cluster starts empty.
const LEAD_IN_SECS: i64 = 3_600;

/// A tuning replay made ready: the scored days as a series, the history before them as the
/// loop's seed, and the simulated cluster of the service.
pub struct Replay {
    series: Series,
    seed: Vec<Point>,
    sim: SimConfig,
    skip: usize,
    setup: TuneSetup,
    gate: Option<Gate>,
}

impl Replay {
    /// The replay of the history (one-minute points, each the demand per minute over the
    /// minute ending at its timestamp, oldest first) from `from` to its end: the points
    /// before `from` less an hour seed the loop's history, the hour before `from` is replayed
    /// unscored (the cluster starts empty). `None` when less than an hour follows `from`.
    pub fn new(history: &[Point], from: DateTime<Utc>, setup: &TuneSetup) -> Option<Self> {
        let end = history.last()?.0;
        let first = history.first()?.0;
        let lead_in = (from - Duration::seconds(LEAD_IN_SECS)).max(first);
        if end - from < Duration::seconds(LEAD_IN_SECS) {
            return None;
        }
        let split = history.partition_point(|p| p.0 <= lead_in);
        // The point at t is the minute before t: the series' step starting at t - 1 min.
        let values: Vec<f64> = history[split..].iter().map(|p| p.1.max(0.0)).collect();
        let series = Series::new(lead_in, 60, values, ValueKind::Count).ok()?;
        let mut sim = SimConfig::new(setup.capacity_per_min);
        sim.cold_start = crate::ColdStart::Fixed(setup.cold_start_secs);
        sim.sla_secs = setup.sla_secs;
        Some(Self {
            series,
            seed: history[..split].to_vec(),
            sim,
            skip: usize::try_from((from - lead_in).num_seconds() / 3_600).unwrap_or(0),
            setup: setup.clone(),
            gate: None,
        })
    }

    /// Shares the compute with others through `gate` ([`Gate`]): the fitting replay takes it
    /// at each refresh point and holds it until the next, each candidate's replay holds it
    /// while it runs.
    #[must_use]
    pub fn gated(mut self, gate: Option<Gate>) -> Self {
        self.gate = gate;
        self
    }

    fn policy(&self, h: &Headroom) -> PrescalePolicy {
        let options = PolicyOptions {
            quantile: h.quantile,
            target_utilization: h.utilization,
            ..self.setup.options.clone()
        };
        PrescalePolicy::new(
            self.setup.capacity_per_min,
            self.setup.cold_start_secs,
            self.setup.max_replicas,
            &options,
        )
        .with_levels(&QUANTILES)
        .unexplained()
        .seeded(self.seed.clone())
    }

    fn score(&self, h: &Headroom, hourly: &[HourScore]) -> Scored {
        let scored = hourly.get(self.skip..).unwrap_or(&[]).to_vec();
        let (gpu_hours, sla) = totals(&scored);
        Scored {
            headroom: *h,
            gpu_hours,
            sla,
            robust: robust_sla(sla, &scored),
            hourly: scored,
        }
    }

    /// The replayed series (the lead-in hour, then the scored days).
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// The simulated cluster.
    pub fn sim(&self) -> &SimConfig {
        &self.sim
    }

    /// Another policy over the same scored days (an incumbent, the clairvoyant bound): its
    /// GPU-hours and SLA there.
    pub fn score_policy(&self, policy: &mut dyn crate::Autoscaler) -> (f64, f64) {
        let (_, _, _, hourly) = simulate_hourly(&self.series, &self.sim, policy);
        totals(hourly.get(self.skip..).unwrap_or(&[]))
    }

    /// `h` replayed, fitting the forecasts; returns them too.
    pub fn fit(&self, h: &Headroom) -> (Scored, Arc<ForecastTape>) {
        let mut p = self
            .policy(h)
            .recording_forecasts()
            .gated(self.gate.clone());
        let (_, _, _, hourly) = simulate_hourly(&self.series, &self.sim, &mut p);
        let scored = self.score(h, &hourly);
        (scored, Arc::new(p.forecast_tape().unwrap_or_default()))
    }

    /// `h` replayed on recorded forecasts (refreshes the tape lacks are fitted).
    pub fn run(&self, h: &Headroom, tape: &Arc<ForecastTape>) -> Scored {
        let _held = self.gate.as_ref().map(Gate::enter);
        let mut p = self.policy(h).replaying_forecasts(tape.clone());
        let (_, _, _, hourly) = simulate_hourly(&self.series, &self.sim, &mut p);
        self.score(h, &hourly)
    }

    /// Every candidate (for the frontier), in parallel.
    pub fn all(&self, candidates: &[Headroom], tape: &Arc<ForecastTape>) -> Vec<Scored> {
        candidates.par_iter().map(|h| self.run(h, tape)).collect()
    }

    /// For each target utilization (in parallel), the smallest quantile whose SLA reaches
    /// `target` (a binary search: the SLA grows with the quantile), and every candidate it
    /// replayed on the way.
    pub fn search(&self, target: f64, tape: &Arc<ForecastTape>) -> Vec<Scored> {
        UTILIZATIONS
            .par_iter()
            .flat_map_iter(|&utilization| {
                let at = |i: usize| Headroom {
                    quantile: QUANTILES[i],
                    utilization,
                };
                let mut seen = Vec::new();
                let (mut lo, mut hi) = (0usize, QUANTILES.len() - 1);
                let top = self.run(&at(hi), tape);
                let reaches = top.robust >= target;
                seen.push(top);
                if reaches {
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        let s = self.run(&at(mid), tape);
                        if s.robust >= target {
                            hi = mid;
                        } else {
                            lo = mid + 1;
                        }
                        seen.push(s);
                    }
                }
                seen
            })
            .collect()
    }
}

/// How close to the best SLA a candidate must come when none reaches the target: the
/// frontier is flat at its top, and the last hundredth of a point there costs the most.
pub const NEAR_BEST: f64 = 0.001;

/// The cheapest candidate whose SLA is at least `target`; without one, the cheapest within
/// [`NEAR_BEST`] of the best SLA.
pub fn pick(scored: &[Scored], target: f64) -> Option<&Scored> {
    let cheapest = |a: &&Scored, b: &&Scored| a.gpu_hours.total_cmp(&b.gpu_hours);
    scored
        .iter()
        .filter(|s| s.robust >= target)
        .min_by(cheapest)
        .or_else(|| {
            let best = scored.iter().map(|s| s.robust).fold(f64::NAN, f64::max);
            scored
                .iter()
                .filter(|s| s.robust >= best - NEAR_BEST)
                .min_by(cheapest)
        })
}

/// The candidates no other beats on both GPU-hours and SLA, cheapest first.
pub fn frontier(scored: &[Scored]) -> Vec<&Scored> {
    let mut all: Vec<&Scored> = scored.iter().collect();
    all.sort_by(|a, b| a.gpu_hours.total_cmp(&b.gpu_hours));
    let mut out: Vec<&Scored> = Vec::new();
    for s in all {
        if out.last().is_none_or(|l| s.sla > l.sla) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(quantile: f64, utilization: f64, gpu_hours: f64, sla: f64) -> Scored {
        Scored {
            headroom: Headroom {
                quantile,
                utilization,
            },
            gpu_hours,
            sla,
            robust: sla,
            hourly: Vec::new(),
        }
    }

    #[test]
    fn the_pick_is_the_cheapest_that_reaches_the_target() {
        let all = [
            scored(0.5, 1.0, 100.0, 0.95),
            scored(0.9, 1.0, 120.0, 0.991),
            scored(0.5, 0.7, 130.0, 0.993),
            scored(0.99, 0.5, 200.0, 0.999),
        ];
        assert_eq!(pick(&all, 0.99).unwrap().gpu_hours, 120.0);
        assert_eq!(pick(&all, 0.992).unwrap().gpu_hours, 130.0);
        // Unreachable: the cheapest within NEAR_BEST of the best.
        let near = [
            scored(0.9, 0.6, 150.0, 0.9985),
            scored(0.99, 0.4, 300.0, 0.999),
        ];
        assert_eq!(pick(&near, 0.9995).unwrap().gpu_hours, 150.0);
        assert!(pick(&[], 0.99).is_none());
    }

    #[test]
    fn the_frontier_keeps_only_undominated_candidates() {
        let all = [
            scored(0.5, 1.0, 100.0, 0.95),
            scored(0.7, 1.0, 110.0, 0.94),
            scored(0.9, 1.0, 120.0, 0.99),
            scored(0.5, 0.5, 150.0, 0.985),
        ];
        let f: Vec<f64> = frontier(&all).iter().map(|s| s.gpu_hours).collect();
        assert_eq!(f, [100.0, 120.0]);
    }

    #[test]
    fn the_sla_of_some_hours_weighs_them_by_demand() {
        let mut s = scored(0.9, 1.0, 0.0, 0.0);
        s.hourly = vec![
            HourScore {
                demand: 100.0,
                within: 100.0,
                gpu_hours: 1.0,
            },
            HourScore {
                demand: 300.0,
                within: 150.0,
                gpu_hours: 1.0,
            },
        ];
        assert_eq!(s.sla_between(0, 2), 250.0 / 400.0);
        assert_eq!(s.sla_between(1, usize::MAX), 0.5);
        assert_eq!(s.sla_between(5, 9), 1.0);
    }

    #[test]
    fn candidates_cover_every_quantile_at_every_utilization() {
        let c = candidates();
        assert_eq!(c.len(), QUANTILES.len() * UTILIZATIONS.len());
        assert!(c.contains(&Headroom::CONSERVATIVE));
    }
}
