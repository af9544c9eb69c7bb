//! `prescale`: the forecast-driven policy, run as `prescale serve` runs it behind KEDA.
//!
//! The loop is the server's own [`prescale_control::Controller`] with the server's defaults
//! (decisions every 15 s, refreshes every 5 minutes, refits every 6 hours, a 10 s data delay,
//! 14 days fitted), on grids aligned to the simulator's ticks. What it reads comes from a
//! **virtual Prometheus** ([`VirtualPrometheus`]) that holds, at every tick, what the demand
//! query `rate(...[1m])` returns there: the arrival rate over the last minute. History is that
//! series sampled every minute, exactly as the server's range queries read it, so the forecast
//! sees what production sees (one minute late, at one-minute steps whatever the trace's step).
//!
//! The signals of the backlog term are optional, as in production ([`Signals`]): by default
//! only what a default chart install provides (the demand query; no queue query, no ready
//! replicas, no Kubernetes API).
//!
//! **KEDA + HPA on top**, as in a cluster ([`KedaHpa`]): KEDA polls `IsActive` (the decision's
//! `active`) every `pollingInterval` and scales 0 ↔ 1 after its `cooldownPeriod`; the HPA
//! reads the metric `desired × threshold` against the `AverageValue` target `threshold` every
//! 15 s, with its tolerance and behavior.
//!
//! **Target utilization** (default 1): the threshold is this share of a pod's capacity (what a
//! user sets below capacity in production).

use std::collections::VecDeque;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_control::{
    Controller, Fill, FitOutcome, Grids, LiveSignals, LoopConfig, Point, RefreshRecord,
};
use prescale_policy::ScalingSpec;

use crate::autoscaler::{Autoscaler, ForecastSample, Observation};
use crate::policies::PolicyOptions;
use crate::policies::keda::KedaHpa;
use crate::tune::{Gate, GateGuard, Headroom, QUANTILES, TuneSetup, Tuner, Tuning};

/// Which optional signals the replay assumes the trigger has (the backlog term's inputs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// A queue query (`queueQuery`: work waiting, in demand units).
    pub queue: bool,
    /// Ready replicas (`readyQuery`, or the Kubernetes API).
    pub ready: bool,
    /// Running replicas from the Kubernetes API (else the last decision counts).
    pub replicas: bool,
}

impl Signals {
    /// Every optional signal.
    pub const ALL: Self = Self {
        queue: true,
        ready: true,
        replicas: true,
    };

    /// The names of the signals assumed, for reports (`demand` always).
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = vec!["demand"];
        for (on, name) in [
            (self.queue, "queue"),
            (self.ready, "ready"),
            (self.replicas, "replicas"),
        ] {
            if on {
                out.push(name);
            }
        }
        out
    }
}

/// What a Prometheus scraping the simulated service would answer for the demand query: the
/// value at every tick, for the last two hours.
#[derive(Debug, Default)]
pub struct VirtualPrometheus {
    samples: VecDeque<Point>,
}

impl VirtualPrometheus {
    const KEEP_SECS: i64 = 7_200;

    /// Records the query's value at `t` (ticks in order).
    pub fn record(&mut self, t: DateTime<Utc>, value: f64) {
        self.samples.push_back((t, value));
        while self
            .samples
            .front()
            .is_some_and(|(s, _)| (t - *s).num_seconds() > Self::KEEP_SECS)
        {
            self.samples.pop_front();
        }
    }

    /// The instant query at `t`: the latest sample at or before `t` (within 5 minutes,
    /// Prometheus' lookback).
    pub fn instant(&self, t: DateTime<Utc>) -> Option<f64> {
        let i = self.samples.partition_point(|(s, _)| *s <= t);
        let (s, v) = *self.samples.get(i.checked_sub(1)?)?;
        ((t - s).num_seconds() <= 300).then_some(v)
    }

    /// The range query over `[from, to]` every `step` seconds.
    pub fn range(&self, from: DateTime<Utc>, to: DateTime<Utc>, step: i64) -> Vec<Point> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            if let Some(v) = self.instant(t) {
                out.push((t, v));
            }
            t += Duration::seconds(step.max(1));
        }
        out
    }
}

/// The prescale policy in the simulator.
pub struct PrescalePolicy {
    controller: Controller,
    prometheus: VirtualPrometheus,
    options: PolicyOptions,
    max_replicas: u32,
    scaler: Option<KedaHpa>,
    /// The latest decision: (active, desired).
    answer: Option<(bool, u32)>,
    sample: Option<ForecastSample>,
    /// Every query value and decision, when recording.
    record: Option<Recording>,
    /// Forecasts recorded, or replayed instead of fitting.
    tape: Tape,
    /// History the loop starts with (restored at the first tick).
    seed: Option<Vec<Point>>,
    /// SLO mode's tuner, the service it tunes for, and its tunings so far.
    slo: Option<(Tuner, TuneSetup, Vec<Tuning>)>,
    /// Taken at each refresh point and held until the next ([`PrescalePolicy::gated`]).
    gate: Option<Gate>,
    held: Option<GateGuard>,
}

/// Each refresh's outcome by refresh point: what a replay with other headroom reuses.
pub type ForecastTape = Vec<(DateTime<Utc>, RefreshRecord)>;

enum Tape {
    Off,
    Record(ForecastTape),
    Replay(Arc<ForecastTape>, usize),
}

/// What a recording replay kept: the demand query's value at every tick (what a Prometheus
/// would answer there) and every decision, for comparisons with the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recording {
    /// The query's value at each tick, oldest first.
    pub query: Vec<Point>,
    /// Each decision tick: its time and the decision.
    pub decisions: Vec<(DateTime<Utc>, prescale_policy::Decision)>,
}

impl PrescalePolicy {
    /// The policy for pods of `capacity_per_min` with a cold start whose P95 is `lead_secs`.
    pub fn new(
        capacity_per_min: f64,
        lead_secs: f64,
        max_replicas: u32,
        options: &PolicyOptions,
    ) -> Self {
        if let Some(slo) = &options.slo {
            let start = Headroom::CONSERVATIVE;
            let plain = PolicyOptions {
                quantile: start.quantile,
                target_utilization: start.utilization,
                slo: None,
                ..options.clone()
            };
            let setup = TuneSetup {
                capacity_per_min,
                cold_start_secs: lead_secs,
                max_replicas,
                sla_secs: slo.sla_secs,
                options: plain,
            };
            let mut p = Self::forecasting_every_candidate(
                capacity_per_min,
                lead_secs,
                max_replicas,
                &setup.options,
            );
            p.slo = Some((Tuner::new(slo.tuner.clone()), setup, Vec::new()));
            return p;
        }
        let utilization = if options.target_utilization > 0.0 {
            options.target_utilization.min(1.0)
        } else {
            1.0
        };
        let mut spec = ScalingSpec::new(capacity_per_min * utilization);
        spec.max_replicas = max_replicas;
        spec.cold_start_secs = lead_secs.round() as i64;
        spec.window_secs = options.window_secs.round() as i64;
        spec.quantile = options.quantile;
        spec.scale_to_zero = options.scale_to_zero;
        spec.min_replicas = options.keda.min_replicas;
        let config = LoopConfig {
            drain_secs: options.drain_secs.round() as i64,
            // The simulator's rates are per minute.
            rate_period_secs: 60,
            // Explanations only when recording (comparisons with the server): the same
            // decisions, written out.
            explain: false,
            ..LoopConfig::default()
        };
        Self {
            controller: Controller::new(spec, config.clone(), Grids::aligned(config.periods)),
            prometheus: VirtualPrometheus::default(),
            options: options.clone(),
            max_replicas,
            scaler: None,
            answer: None,
            sample: None,
            record: None,
            tape: Tape::Off,
            seed: None,
            slo: None,
            gate: None,
            held: None,
        }
    }

    /// The loop at SLO mode's conservative headroom, forecasting every candidate quantile and
    /// recording its forecasts ([`PrescalePolicy::forecast_tape`]): what SLO mode runs before
    /// its first tuning, and what `prescale tune` replays a trace with once.
    pub fn forecasting_every_candidate(
        capacity_per_min: f64,
        lead_secs: f64,
        max_replicas: u32,
        options: &PolicyOptions,
    ) -> Self {
        let start = Headroom::CONSERVATIVE;
        let options = PolicyOptions {
            quantile: start.quantile,
            target_utilization: start.utilization,
            slo: None,
            ..options.clone()
        };
        Self::new(capacity_per_min, lead_secs, max_replicas, &options)
            .with_levels(&QUANTILES)
            .recording_forecasts()
    }

    /// SLO mode's tunings so far (empty outside SLO mode).
    pub fn tunings(&self) -> &[Tuning] {
        self.slo.as_ref().map_or(&[], |s| s.2.as_slice())
    }

    /// SLO mode: re-tunes at the refresh point `now` when due, on the history before it and
    /// the forecasts this loop made (they do not depend on the headroom).
    fn retune(&mut self, now: DateTime<Utc>) {
        let Some((tuner, setup, tunings)) = &mut self.slo else {
            return;
        };
        let history = self.controller.history();
        let Some(at) = tuner.due_at(now, history.start()) else {
            return;
        };
        let points = history.points();
        let keep_from = at - Duration::seconds(tuner.config().window_secs + 7_200);
        let tape = match &mut self.tape {
            Tape::Record(t) => {
                t.retain(|(at, _)| *at >= keep_from);
                Some(Arc::new(t.clone()))
            }
            _ => None,
        };
        if let Some(t) = tuner.retune(at, &points, setup, tape) {
            tracing::debug!(
                at = %t.at,
                quantile = t.headroom.quantile,
                utilization = t.headroom.utilization,
                predicted_sla = t.predicted_sla,
                target = t.target,
                margin = t.margin,
                days = t.days,
                "SLO mode re-tuned."
            );
            tunings.push(t.clone());
            let drain = setup.options.drain_secs.round() as i64;
            t.headroom
                .apply(&mut self.controller, setup.capacity_per_min, drain);
        }
    }

    /// Also forecasts these quantiles (SLO mode: every candidate's).
    #[must_use]
    pub fn with_levels(self, levels: &[f64]) -> Self {
        let config = LoopConfig {
            extra_levels: levels.to_vec(),
            ..self.controller.config().clone()
        };
        self.with_config(config)
    }

    /// Decisions without their explanation (the same numbers, faster: tuning replays).
    #[must_use]
    pub fn unexplained(self) -> Self {
        let config = LoopConfig {
            explain: false,
            ..self.controller.config().clone()
        };
        self.with_config(config)
    }

    fn with_config(mut self, config: LoopConfig) -> Self {
        let ctl = &self.controller;
        self.controller = Controller::new(ctl.spec().clone(), config, *ctl.grids());
        self
    }

    /// Starts with `points` of history (one-minute steps before the replay), as a server
    /// that backfilled them.
    #[must_use]
    pub fn seeded(mut self, points: Vec<Point>) -> Self {
        self.seed = Some(points);
        self
    }

    /// Takes `gate` at each refresh point and holds it until the next (a re-tune's fitting
    /// replay sharing the server's forecast threads, see [`Gate`]).
    #[must_use]
    pub fn gated(mut self, gate: Option<Gate>) -> Self {
        self.gate = gate;
        self
    }

    /// Records every refresh's forecast ([`PrescalePolicy::forecast_tape`]).
    #[must_use]
    pub fn recording_forecasts(mut self) -> Self {
        self.tape = Tape::Record(Vec::new());
        self
    }

    /// Replays recorded forecasts instead of fitting (a refresh the tape lacks fits).
    #[must_use]
    pub fn replaying_forecasts(mut self, tape: Arc<ForecastTape>) -> Self {
        self.tape = Tape::Replay(tape, 0);
        self
    }

    /// The forecasts recorded.
    pub fn forecast_tape(self) -> Option<ForecastTape> {
        match self.tape {
            Tape::Record(t) => Some(t),
            _ => None,
        }
    }

    /// Keeps a [`Recording`] of the replay (decisions with their explanations).
    #[must_use]
    pub fn recording(mut self) -> Self {
        self.record = Some(Recording::default());
        let config = LoopConfig {
            explain: true,
            ..self.controller.config().clone()
        };
        self.with_config(config)
    }

    /// The recording, when kept.
    pub fn recorded(&self) -> Option<&Recording> {
        self.record.as_ref()
    }

    /// The controller (its spec, history and latest forecast).
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// One decision tick of the controller at `now`, reading the virtual Prometheus (and the
    /// signals the options assume) as the server's worker reads the real one.
    fn decision_tick(&mut self, now: DateTime<Utc>, obs: &Observation<'_>, running: u32) {
        if self.controller.refresh_due(now).is_some() && self.controller.forecast().is_none() {
            // As the server: without a forecast, a decision on live data before the refresh.
            self.decide(now, obs, running);
        }
        if self.controller.refresh_due(now).is_some() && self.gate.is_some() {
            // The last turn ends before the next is waited for.
            self.held = None;
            self.held = self.gate.as_ref().map(Gate::enter);
        }
        let ctl = &mut self.controller;
        if let Some(at) = ctl.refresh_due(now) {
            if let Some(plan) = ctl.fetch_plan(at) {
                let step = ctl.config().step_secs;
                let points = self.prometheus.range(plan.from, plan.to, step);
                ctl.ingest(&plan, &points, Fill::Zero);
            }
            let replayed = match &mut self.tape {
                Tape::Replay(tape, i) => {
                    while tape.get(*i).is_some_and(|(t, _)| *t < at) {
                        *i += 1;
                    }
                    tape.get(*i)
                        .filter(|(t, _)| *t == at)
                        .map(|(_, r)| FitOutcome::from(r.clone()))
                }
                _ => None,
            };
            let outcome = replayed.unwrap_or_else(|| ctl.fit_job(at).run());
            if let Tape::Record(tape) = &mut self.tape {
                tape.push((at, outcome.record()));
            }
            ctl.finish_refresh(at, outcome);
            if at == now {
                self.retune(now);
            }
        }
        self.decide(now, obs, running);
    }

    /// Reads the signals and decides at `now`.
    fn decide(&mut self, now: DateTime<Utc>, obs: &Observation<'_>, running: u32) {
        let ctl = &mut self.controller;
        let at = ctl.live_at(now);
        let signals = self.options.signals;
        // An absent series reads as no demand (`ignoreNullValues`, KEDA's default).
        let demand = self.prometheus.instant(at).unwrap_or(0.0);
        let live = LiveSignals {
            queue: signals.queue.then_some(obs.queue),
            ready: signals.ready.then_some(obs.ready),
            running: signals.replicas.then_some(running),
            budget: obs.budget,
            ..LiveSignals::demand(Some(demand), at)
        };
        let decision = ctl.decide(now, &live);
        self.sample = decision.forecast_need.map(|n| ForecastSample {
            p50: n.p50,
            upper: n.upper,
        });
        self.answer = Some((decision.active, decision.desired_replicas));
        if let Some(r) = &mut self.record {
            r.decisions.push((now, decision));
        }
    }
}

impl Autoscaler for PrescalePolicy {
    fn name(&self) -> &'static str {
        "prescale"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let now = obs.now;
        let value = obs.rate_over(60.0);
        self.prometheus.record(now, value);
        if let Some(r) = &mut self.record {
            r.query.push((now, value));
        }
        if self.scaler.is_none() {
            // The loop's grids pass through the replay's first tick, as the server's do
            // through its first decision.
            let ctl = &self.controller;
            let grids = Grids::aligned_to(ctl.config().periods, now);
            self.controller = Controller::new(ctl.spec().clone(), ctl.config().clone(), grids);
            if let Some(points) = self.seed.take() {
                self.controller.history_mut().restore(&points);
            }
        }
        let (keda, max) = (&self.options.keda, self.max_replicas);
        let running = self
            .scaler
            .get_or_insert_with(|| KedaHpa::new(keda, max, now))
            .replicas();
        if self.controller.grids().is_tick(now) {
            self.decision_tick(now, obs, running);
        }
        let scaler = self.scaler.as_mut().expect("created above");
        match self.answer {
            // The server reports `desired × threshold` against the target `threshold`; the
            // HPA's ratio of the two milli-quantities is exactly `desired / current`, which
            // is what `(desired, 1)` gives here, whatever the unit of the threshold.
            Some((active, desired)) => scaler.tick(now, Some(active), &[(f64::from(desired), 1.0)]),
            // UNAVAILABLE: KEDA and the HPA keep the replicas.
            None => scaler.tick(now, None, &[]),
        }
    }

    fn forecast(&self) -> Option<ForecastSample> {
        self.sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimConfig, simulate};
    use chrono::DateTime;
    use prescale_core::synth::{SyntheticSpec, generate};
    use prescale_core::{Series, ValueKind};

    #[test]
    fn a_lower_target_utilization_keeps_spare_capacity() {
        let series = generate(&SyntheticSpec {
            days: 3.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let run = |u: f64| {
            let mut p = PrescalePolicy::new(
                cap,
                180.0,
                1000,
                &PolicyOptions {
                    target_utilization: u,
                    ..PolicyOptions::default()
                },
            );
            simulate(&series, &SimConfig::new(cap), &mut p).0
        };
        let (full, spare) = (run(1.0), run(0.5));
        // Planning at half a pod's capacity: about twice the pods, fewer minutes short.
        assert!(
            spare.mean_replicas > 1.6 * full.mean_replicas,
            "{spare:?} vs {full:?}"
        );
        assert!(
            spare.underprovisioned_minutes < full.underprovisioned_minutes,
            "{spare:?} vs {full:?}"
        );
        // Out-of-range values plan at full capacity.
        assert_eq!(run(0.0).gpu_hours, full.gpu_hours);
    }

    #[test]
    fn wakes_up_before_a_predictable_morning() {
        // Four days of the demo workload: idle 01:00-06:00 every night.
        let series = generate(&SyntheticSpec {
            days: 4.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let cfg = SimConfig::new(cap);
        let mut p = PrescalePolicy::new(cap, 180.0, 100, &PolicyOptions::default());
        let (summary, timeline, _) = simulate(&series, &cfg, &mut p);
        // Nights 2 and 3 are predictable (two days of history): their mornings find a warm pod.
        assert!(summary.warm_first_requests >= 2, "{summary:?}");
        // It scales to zero at night: some chart samples have no replica.
        assert!(timeline.replicas.contains(&0.0));
        assert!(timeline.forecast_p50.is_some());
    }

    #[test]
    fn an_exhausted_budget_drops_the_headroom_but_not_the_live_need() {
        let series = generate(&SyntheticSpec {
            days: 4.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let run = |budget: Option<f64>| {
            let cfg = SimConfig {
                monthly_budget_usd: budget,
                ..SimConfig::new(cap)
            };
            let mut p = PrescalePolicy::new(cap, 180.0, 100, &PolicyOptions::default());
            simulate(&series, &cfg, &mut p).0
        };
        let free = run(None);
        let capped = run(Some(1.0));
        assert!(
            capped.gpu_hours < free.gpu_hours,
            "{} vs {}",
            capped.gpu_hours,
            free.gpu_hours
        );
        // It still serves what live demand needs: most demand is served within the SLA.
        assert!(capped.sla_attainment > 0.5, "{}", capped.sla_attainment);
    }

    #[test]
    fn never_scales_a_busy_service_to_zero_without_a_forecast() {
        let values = vec![100.0; 600];
        let s = Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            60,
            values,
            ValueKind::Count,
        )
        .unwrap();
        let cfg = SimConfig::new(30.0);
        let mut p = PrescalePolicy::new(30.0, 180.0, 100, &PolicyOptions::default());
        let (_, timeline, _) = simulate(&s, &cfg, &mut p);
        // After the first minutes it always holds the 4 replicas 100/min needs.
        assert!(
            timeline.replicas[10..].iter().all(|&r| r >= 4.0),
            "{:?}",
            &timeline.replicas[..20]
        );
    }
}
