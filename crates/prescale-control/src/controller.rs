//! The [`Controller`]: one service's decision loop as a clock-driven state machine.
//!
//! A caller (the server's worker, the simulator's `prescale` policy) runs it at every decision
//! tick in this order, doing the I/O in between:
//!
//! 1. [`Controller::refresh_due`]: whether the tick starts a refresh. If so, and no forecast
//!    exists yet, the caller may decide once on live data before the refresh (the server does,
//!    so that KEDA gets an answer before a slow backfill).
//! 2. [`Controller::fetch_plan`]: the history steps to read; the caller reads them (a
//!    Prometheus range query) and hands them to [`Controller::ingest`].
//! 3. [`Controller::fit_job`]: the model's work for this refresh (a refit at refit points, an
//!    update otherwise), as a [`FitJob`] the caller runs on any thread
//!    ([`FitJob::run`]) and hands back to [`Controller::finish_refresh`].
//! 4. [`Controller::live_at`]: when to read the live value; the caller reads the signals
//!    ([`LiveSignals`]) and calls [`Controller::decide`], which returns the [`Decision`].
//!
//! Every rule lives here once: the grids, the fit window and horizon, the series' own unit,
//! the live need with its backlog term, the idle tracking, the anomaly flag and the policy.

use chrono::{DateTime, Duration, Utc};
use prescale_core::Forecast;
use prescale_forecast::model::Fitted;
use prescale_forecast::models::ModelOptions;
use prescale_policy::{
    BudgetState, Decision, PolicyInput, ScalingSpec, decide, decide_unexplained,
};

use crate::anomaly::live_anomalous;
pub use crate::fit::{FitJob, FitOutcome, RefreshRecord};
use crate::grid::{Grids, Periods, floor_to};
use crate::history::{Fill, History, Point};

/// The series' own unit is chosen so that its mean level over the fit window is this many
/// units: the model's absolute floors (a residual scale of at least 1, a count-like noise of
/// at least `sqrt(1)`) then mean the same share of the level whatever the query's unit.
/// Chosen near the mean levels (per step) of the request traces the model was designed on,
/// so that those forecasts barely change.
pub const REFERENCE_LEVEL: f64 = 100.0;

/// Settings of the loop (the server's runtime settings and a service's trigger metadata; the
/// simulator uses the same defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct LoopConfig {
    /// Step of the history and the forecasts, seconds (60).
    pub step_secs: i64,
    /// The decision, refresh and refit periods.
    pub periods: Periods,
    /// How long ago the live value and the last history step are read (Prometheus' scrape
    /// and rule delay), milliseconds.
    pub data_delay_ms: i64,
    /// A forecast older than this (since its refresh) is not used, seconds.
    pub forecast_stale_after_secs: i64,
    /// At most this much history is fitted on, seconds (also bounded by `history_secs`).
    pub fit_window_secs: i64,
    /// History kept and fitted on, seconds (the trigger's `history`).
    pub history_secs: i64,
    /// Whether the fitted model is kept between refreshes (updated in place) or fitted again
    /// at the last refit point at every refresh (the same forecast, for less memory).
    pub keep_model: bool,
    /// Seconds in which a backlog is cleared (at least 60).
    pub drain_secs: i64,
    /// Seconds of the demand's rate unit: 1 for per second, 60 for per minute. Only the
    /// backlog term needs it (a queue is a count, the demand a rate).
    pub rate_period_secs: i64,
    /// Forecast quantiles computed besides P50 and the spec's quantile (SLO mode's tuner
    /// forecasts once with every candidate quantile; empty by default).
    pub extra_levels: Vec<f64>,
    /// Whether decisions carry their explanation (replays that score many settings turn it
    /// off: the same decisions, much faster).
    pub explain: bool,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            step_secs: 60,
            periods: Periods {
                decision_ms: 15_000,
                refresh_ms: 300_000,
                refit_ms: 6 * 3_600_000,
            },
            data_delay_ms: 10_000,
            forecast_stale_after_secs: 900,
            fit_window_secs: 14 * 86_400,
            history_secs: 14 * 86_400,
            keep_model: true,
            drain_secs: 300,
            rate_period_secs: 60,
            extra_levels: Vec::new(),
            explain: true,
        }
    }
}

impl LoopConfig {
    /// Steps of history kept: the history plus one refit period, so that a fit at the latest
    /// refit point always has its whole window, whenever the loop started.
    pub fn history_len(&self) -> usize {
        let keep = self.history_secs + self.periods.refit_ms / 1000;
        (keep / self.step_secs.max(1)).max(1) as usize
    }
}

/// What the caller read at a decision tick. Absent signals are `None`; an absent queue or
/// ready count drops that part of the backlog term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveSignals {
    /// The demand query's value (after the activation threshold), `None` when missing.
    pub demand: Option<f64>,
    /// When it was sampled.
    pub at: DateTime<Utc>,
    /// Work waiting, in demand units (e.g. `vllm:num_requests_waiting`), when known.
    pub queue: Option<f64>,
    /// Ready replicas, when known.
    pub ready: Option<u32>,
    /// Replicas running now according to the Kubernetes API, when known (else the last
    /// decision counts).
    pub running: Option<u32>,
    /// The monthly budget state.
    pub budget: BudgetState,
}

impl LiveSignals {
    /// Only the demand value, sampled at `at`.
    pub const fn demand(demand: Option<f64>, at: DateTime<Utc>) -> Self {
        Self {
            demand,
            at,
            queue: None,
            ready: None,
            running: None,
            budget: BudgetState::Ok,
        }
    }
}

/// The history steps a refresh reads (inclusive, on the step grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPlan {
    /// First step to read.
    pub from: DateTime<Utc>,
    /// Last step to read.
    pub to: DateTime<Utc>,
    /// Whether the history is empty (a new history starts at the first value read).
    pub fresh: bool,
}

/// The model state kept between refreshes.
struct ModelState {
    fitted_at: DateTime<Utc>,
    description: String,
    unit: f64,
    /// The fitted model (when kept) and the history end it has seen.
    fitted: Option<(Box<dyn Fitted>, DateTime<Utc>)>,
}

/// One service's decision loop. See the [module documentation](self).
pub struct Controller {
    spec: ScalingSpec,
    config: LoopConfig,
    grids: Grids,
    history: History,
    model: Option<ModelState>,
    forecast: Option<Forecast>,
    refreshed_at: Option<DateTime<Utc>>,
    last_desired: Option<u32>,
    zero_since: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("grids", &self.grids)
            .field("history", &self.history.len())
            .field("refreshed_at", &self.refreshed_at)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A loop for `spec` (its window, quantile, cold start, calendar, bounds) with `config`,
    /// on `grids`.
    pub fn new(spec: ScalingSpec, config: LoopConfig, grids: Grids) -> Self {
        let history = History::new(config.step_secs, config.history_len());
        Self {
            spec,
            config,
            grids,
            history,
            model: None,
            forecast: None,
            refreshed_at: None,
            last_desired: None,
            zero_since: None,
        }
    }

    /// The spec decided with.
    pub fn spec(&self) -> &ScalingSpec {
        &self.spec
    }

    /// Changes the headroom the loop decides with (SLO mode's tuner): the forecast quantile
    /// (a level the forecasts carry: the spec's or one of [`LoopConfig::extra_levels`]), the
    /// demand one replica is given (capacity times the target utilization) and the drain
    /// time. The history, model and forecast stay.
    pub fn set_headroom(&mut self, quantile: f64, capacity_per_replica: f64, drain_secs: i64) {
        self.spec.quantile = quantile;
        self.spec.capacity_per_replica = capacity_per_replica;
        self.config.drain_secs = drain_secs;
    }

    /// The loop's settings.
    pub fn config(&self) -> &LoopConfig {
        &self.config
    }

    /// The grids.
    pub fn grids(&self) -> &Grids {
        &self.grids
    }

    /// The history held.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The history, for restoring saved points.
    pub fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    /// The latest forecast (in demand units), fresh or not.
    pub fn forecast(&self) -> Option<&Forecast> {
        self.forecast.as_ref()
    }

    /// The refit point and description of the model behind the latest forecast.
    pub fn model(&self) -> Option<(DateTime<Utc>, &str)> {
        self.model
            .as_ref()
            .map(|m| (m.fitted_at, m.description.as_str()))
    }

    /// The series' own unit (demand units per [`REFERENCE_LEVEL`]) of the latest fit.
    pub fn unit(&self) -> Option<f64> {
        self.model.as_ref().map(|m| m.unit)
    }

    /// The refresh point of the latest successful refresh.
    pub fn refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.refreshed_at
    }

    /// The forecast when fresh at `now` (refreshed within `forecast_stale_after_secs`).
    pub fn fresh_forecast(&self, now: DateTime<Utc>) -> Option<&Forecast> {
        let stale_after = Duration::seconds(self.config.forecast_stale_after_secs);
        let fresh = self.refreshed_at.is_some_and(|r| now - r <= stale_after);
        self.forecast.as_ref().filter(|_| fresh)
    }

    /// When live demand became zero, if it is zero.
    pub fn zero_since(&self) -> Option<DateTime<Utc>> {
        self.zero_since
    }

    /// The last decision's replicas.
    pub fn last_desired(&self) -> Option<u32> {
        self.last_desired
    }

    /// Restores a saved decision (its replicas and idle start) after a restart.
    pub fn restore_decision(&mut self, desired: u32, zero_since: Option<DateTime<Utc>>) {
        self.last_desired = Some(desired);
        self.zero_since = zero_since;
    }

    /// The refresh point `now` starts, if a refresh is due (none done at the current refresh
    /// point yet).
    pub fn refresh_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = self.grids.refresh_at(now);
        (self.refreshed_at != Some(at)).then_some(at)
    }

    /// The history steps the refresh at `at` reads: from the history's end (or as far back as
    /// the history keeps) to the last settled step. `None` when nothing is new.
    pub fn fetch_plan(&self, at: DateTime<Utc>) -> Option<FetchPlan> {
        let step = self.config.step_secs;
        let delay = (self.config.data_delay_ms + 999) / 1000;
        let settle = Duration::seconds(delay.max(step));
        let last = floor_to(at - settle, step, 0);
        let keep = self.config.history_len() as i64 * step;
        let oldest = floor_to(at - Duration::seconds(keep), step, 0);
        let end = self.history.end().filter(|e| *e >= oldest);
        let from = end.unwrap_or(oldest);
        (from <= last).then_some(FetchPlan {
            from,
            to: last,
            fresh: end.is_none(),
        })
    }

    /// Appends what was read for `plan` (missing steps filled by `fill`); returns the appended
    /// points.
    pub fn ingest(&mut self, plan: &FetchPlan, points: &[Point], fill: Fill) -> Vec<Point> {
        let step = self.config.step_secs;
        // A new history starts at the first value the source has.
        let from = if plan.fresh {
            match points.first() {
                Some(p) => floor_to(p.0, step, 0).max(plan.from),
                None => return Vec::new(),
            }
        } else {
            plan.from
        };
        if from > plan.to {
            return Vec::new();
        }
        self.history.extend(from, plan.to, points, fill)
    }

    /// The model's work for the refresh at `at`: at a new refit point, a fit on the window
    /// ending there plus an update with the steps since; otherwise an update of the kept model
    /// (or, without one, the same fit again). Takes the kept model along.
    pub fn fit_job(&mut self, at: DateTime<Utc>) -> FitJob {
        let step = self.config.step_secs;
        let ahead = self.spec.cold_start_secs
            + self.spec.window_secs
            + self.config.periods.refresh_ms / 1000;
        let fit_horizon = (ahead / step) as usize + 1;
        let options = ModelOptions {
            calendar: self.spec.calendar.clone(),
        };
        let mut levels = vec![0.5, self.spec.quantile];
        for l in &self.config.extra_levels {
            if l.is_finite() && *l > 0.0 && *l < 1.0 && !levels.contains(l) {
                levels.push(*l);
            }
        }
        let fallback_unit = self.spec.capacity_per_replica / REFERENCE_LEVEL;
        let (Some(hist_start), Some(hist_end)) = (self.history.start(), self.history.end()) else {
            return FitJob {
                refit_at: self.grids.refit_at(at),
                refit: true,
                unit: None,
                fallback_unit,
                kept: None,
                fit_start: at,
                fit_values: Vec::new(),
                new_values: Vec::new(),
                fit_horizon,
                horizon: fit_horizon,
                hist_end: None,
                step_secs: step,
                levels,
                options,
            };
        };
        let refit_at = self.grids.refit_for(at, hist_start);
        let horizon = ((ahead + (at - hist_end).num_seconds().max(0)) as f64 / step as f64).ceil()
            as usize
            + 1;
        let refit = self.model.as_ref().is_none_or(|m| m.fitted_at != refit_at);
        let kept = if refit {
            None
        } else {
            self.model.as_mut().and_then(|m| m.fitted.take())
        };
        let unit = (!refit)
            .then(|| self.model.as_ref().map(|m| m.unit))
            .flatten();
        if let Some((fitted, seen)) = kept {
            let (_, new_values) = self.history.window(seen, hist_end);
            return FitJob {
                refit_at,
                refit,
                unit,
                fallback_unit,
                kept: Some(fitted),
                fit_start: hist_start,
                fit_values: Vec::new(),
                new_values,
                fit_horizon,
                horizon,
                hist_end: Some(hist_end),
                step_secs: step,
                levels,
                options,
            };
        }
        // The fit ends at the refit point (or at the history's end when the history is
        // younger); later steps come in as updates.
        let fit_end = refit_at
            .max(hist_start + Duration::seconds(step))
            .min(hist_end);
        let window = Duration::seconds(self.config.fit_window_secs.min(self.config.history_secs));
        let (fit_start, fit_values) = self.history.window(fit_end - window, fit_end);
        let (_, new_values) = self.history.window(fit_end, hist_end);
        FitJob {
            refit_at,
            refit,
            unit,
            fallback_unit,
            kept: None,
            fit_start,
            fit_values,
            new_values,
            fit_horizon,
            horizon,
            hist_end: Some(hist_end),
            step_secs: step,
            levels,
            options,
        }
    }

    /// Takes the outcome of the refresh at `at`: the forecast, and the model when kept.
    pub fn finish_refresh(&mut self, at: DateTime<Utc>, outcome: FitOutcome) {
        self.refreshed_at = Some(at);
        self.forecast = outcome.forecast;
        self.model = outcome.description.map(|description| ModelState {
            fitted_at: outcome.refit_at,
            description,
            unit: outcome.unit,
            fitted: outcome.fitted.filter(|_| self.config.keep_model),
        });
    }

    /// A fit job that did not come back (its thread failed): no model, no forecast; the next
    /// refresh fits again.
    pub fn fit_failed(&mut self) {
        self.model = None;
        self.forecast = None;
    }

    /// When the live value of the tick at `now` is read: `data_delay` earlier.
    pub fn live_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::milliseconds(self.config.data_delay_ms)
    }

    /// The live need from `signals`: the demand, plus the backlog cleared within the drain
    /// time when the signals for it are known (the queue, and when demand exceeds the ready
    /// capacity, the shortfall that piles up over one cold start). `None` without demand.
    pub fn live_need(&self, signals: &LiveSignals) -> Option<f64> {
        let demand = signals.demand?;
        let period = self.config.rate_period_secs.max(1) as f64;
        let drain = self.config.drain_secs.max(60) as f64 / period;
        let queue = signals
            .queue
            .filter(|q| q.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        let shortfall = signals.ready.map_or(0.0, |ready| {
            (demand - f64::from(ready) * self.spec.capacity_per_replica).max(0.0)
        });
        let lead = self.spec.cold_start_secs as f64 / period;
        Some(demand + (queue + shortfall * lead) / drain)
    }

    /// When zero live demand seen first at `at` began: the step after the history's last
    /// non-zero value (or `at` when the history ends in demand), so that every replica of the
    /// server, whenever it started, counts the idle time from the same data.
    fn zero_run_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let (Some(start), Some(end)) = (self.history.start(), self.history.end()) else {
            return at;
        };
        let values = self.history.values();
        match values.iter().rposition(|v| *v > 0.0) {
            None => start.min(at),
            Some(i) if i + 1 == values.len() => at.min(end),
            Some(i) => (start + Duration::seconds(self.config.step_secs * (i as i64 + 1))).min(at),
        }
    }

    /// Decides at `now` from `signals` (see the [module documentation](self)).
    pub fn decide(&mut self, now: DateTime<Utc>, signals: &LiveSignals) -> Decision {
        let demand = signals.demand.filter(|v| v.is_finite()).map(|v| v.max(0.0));
        let signals = LiveSignals { demand, ..*signals };
        match demand {
            Some(v) if v <= 0.0 && self.zero_since.is_none() => {
                self.zero_since = Some(self.zero_run_start(signals.at));
            }
            Some(v) if v <= 0.0 => {}
            Some(_) => self.zero_since = None,
            None => {}
        }
        let need = self.live_need(&signals);
        let unit = self.unit().unwrap_or(1.0);
        let forecast = self.fresh_forecast(now);
        let anomalous = match (demand, forecast) {
            (Some(v), Some(f)) => live_anomalous(f, self.spec.quantile, now, v, unit),
            _ => false,
        };
        let input = PolicyInput {
            now,
            live_demand: need,
            last_sample_at: need.map(|_| signals.at),
            zero_since: self.zero_since,
            forecast,
            current_replicas: signals
                .running
                .unwrap_or_else(|| self.last_desired.unwrap_or(0)),
            live_anomalous: anomalous,
            budget: signals.budget,
        };
        let decision = if self.config.explain {
            decide(&self.spec, &input)
        } else {
            decide_unexplained(&self.spec, &input)
        };
        self.last_desired = Some(decision.desired_replicas);
        decision
    }
}
