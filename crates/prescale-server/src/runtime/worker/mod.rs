//! One ScaledObject's background loop: collect → forecast → decide → answer. See
//! [`crate::runtime`] for the schedule.
//!
//! Safety rules:
//!
//! - Live data missing (query failed, or an empty result without `ignoreNullValues`): the
//!   policy holds the last decision, or the forecast's need when larger, and never
//!   deactivates ([`Phase::Holding`]).
//! - Forecast missing or older than `forecastStaleAfter` (history unreadable, too short to
//!   fit): decisions are reactive, on live data only; without a forecast the policy never
//!   scales a running service to zero ([`Phase::ReactiveFallback`]).
//! - Until the first decision made on fresh live data, KEDA is answered `UNAVAILABLE`, so
//!   that it and the HPA keep the current replicas.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_control::{Controller, Fill, LiveSignals};

mod answer;
mod persist;
mod tune;

use crate::demand::source::{DemandSource, SourceError};
use crate::keda::metadata::{Mode, Settings};
use crate::registry::status::{
    Analysis, DecisionView, DemandView, ErrorView, ForecastStep, ForecastView, HistoryView,
    Observed, Phase, RECENT_SPAN_SECS,
};
use crate::registry::{Answer, Registration, Slot};
use crate::runtime::accuracy::Accuracy;
use crate::runtime::analysis::{analyse, summary};
use crate::runtime::shared::Shared;
use crate::state::persist::{SavedDecision, history_series};

pub use crate::runtime::config::STEP_SECS;

/// The worker of one registration. See the [module documentation](self).
pub struct Worker {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    reg: Arc<Registration>,
    /// The decision loop (history, model, forecast, idle tracking, policy).
    ctl: Controller,
    shadow: bool,
    series: String,
    accuracy: Accuracy,
    /// Anomalies already counted up to this time.
    anomalies_until: Option<DateTime<Utc>>,
    last: Option<SavedDecision>,
    restored: bool,
    /// Driven by [`Worker::run`] on the runtime's clock (not tick by tick by a caller): it
    /// may decide on that clock while it waits for a computation.
    on_clock: bool,
    /// SLO mode's tuner, when the trigger sets `slo`.
    slo: Option<tune::SloState>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("key", &self.reg.key)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, slot: Arc<Slot>, reg: Arc<Registration>) -> Self {
        let ctl = shared
            .config
            .controller(&reg.settings, &reg.key.to_string());
        let slo = tune::SloState::new(&reg.settings);
        Self {
            shadow: shared.config.dry_run || reg.settings.mode == Mode::ForecastOnly,
            series: history_series(&reg.key, &reg.settings),
            ctl,
            shared,
            slot,
            reg,
            accuracy: Accuracy::default(),
            anomalies_until: None,
            last: None,
            restored: false,
            on_clock: false,
            slo,
        }
    }

    fn settings(&self) -> &Settings {
        &self.reg.settings
    }

    /// Runs until the registration stops: restores saved state, then ticks on the decision
    /// grid (the first tick at once, as of the latest grid point).
    pub async fn run(mut self) {
        self.on_clock = true;
        let mut stopped = self.reg.stopped();
        let time = self.shared.config.time;
        let grids = *self.ctl.grids();
        let mut tick = grids.tick_at(time.now());
        loop {
            self.tick(tick).await;
            tick = grids.next_tick(time.now());
            tokio::select! {
                () = time.sleep_until(tick) => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
        tracing::debug!(scaled_object = %self.reg.key, "Worker stopped.");
    }

    /// One decision tick at `now` (a point of the decision grid): refresh when due, read the
    /// live value, decide, answer.
    pub async fn tick(&mut self, now: DateTime<Utc>) {
        if !self.restored {
            self.restored = true;
            self.restore(now).await;
        }
        if let Some(refresh_at) = self.ctl.refresh_due(now) {
            if self.ctl.forecast().is_none() {
                // No forecast yet (first sight): answer reactively before the backfill and the
                // fit, which may wait for a forecast thread.
                let live = self.live(now).await;
                self.decide(now, live).await;
            }
            match self.refresh(refresh_at).await {
                Ok(()) => {
                    self.measure_latency(refresh_at).await;
                    self.retune(refresh_at).await;
                }
                Err(e) => self.error(now, &e),
            }
        }
        let live = self.live(now).await;
        self.decide(now, live).await;
    }

    /// A forecast thread. While every one is busy (a thousand ScaledObjects refreshing), the
    /// worker goes on deciding on live data and the forecast it has, once per decision
    /// interval, so that KEDA's answer never goes stale behind the queue. (Two replicas of the
    /// server decide alike again once both have refreshed.)
    async fn compute_permit(&mut self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let work = self.shared.compute.clone().acquire_owned();
        self.deciding_until(work).await.ok()
    }

    /// Awaits `work`, deciding on live data and the forecast it has once per decision interval
    /// meanwhile (when on the clock), so that KEDA's answer does not go stale while it waits.
    async fn deciding_until<F: std::future::Future>(&mut self, work: F) -> F::Output {
        if !self.on_clock {
            return work.await;
        }
        tokio::pin!(work);
        let time = self.shared.config.time;
        loop {
            let next = self.ctl.grids().next_tick(time.now());
            tokio::select! {
                biased;
                done = &mut work => return done,
                () = time.sleep_until(next) => {
                    let live = self.live(next).await;
                    self.decide(next, live).await;
                }
            }
        }
    }

    fn source(&self) -> Result<Arc<dyn DemandSource>, SourceError> {
        self.shared.source(&self.settings().server_address)
    }

    fn error(&self, now: DateTime<Utc>, e: &SourceError) {
        tracing::debug!(scaled_object = %self.reg.key, kind = %e.kind, error = %e, "Collection failed.");
        self.reg.update_status(|s| {
            s.last_error = Some(ErrorView {
                at: now,
                kind: e.kind.clone(),
                message: e.message.clone(),
            });
        });
    }

    /// Brings history, model and forecast up to date as of the refresh point `at`.
    async fn refresh(&mut self, at: DateTime<Utc>) -> Result<(), SourceError> {
        if let Some(plan) = self.ctl.fetch_plan(at) {
            let source = self.source()?;
            let step = self.ctl.config().step_secs;
            let points = source
                .range(
                    &self.settings().query,
                    plan.from,
                    plan.to,
                    std::time::Duration::from_secs(step as u64),
                )
                .await?;
            let fill = if self.settings().ignore_null_values {
                Fill::Zero
            } else {
                Fill::Previous
            };
            let appended = self.ctl.ingest(&plan, &points, fill);
            for (t, v) in &appended {
                self.accuracy.observe(*t, *v);
            }
            self.save_history(appended);
        }
        self.forecast_at(at).await;
        if let Some(f) = self.ctl.forecast() {
            let spec = self.ctl.spec();
            let lead = at + Duration::seconds(spec.cold_start_secs);
            let refresh = Duration::milliseconds(self.ctl.config().periods.refresh_ms);
            self.accuracy
                .predict(f, spec.quantile, lead, lead + refresh);
        }
        self.save_accuracy();
        self.publish_refresh(at);
        Ok(())
    }

    /// The forecast as of the refresh point `at`: the controller's fit job, run on a forecast
    /// thread (the fitted model is not kept between refreshes: it is fitted again at the last
    /// refit point and updated, the same forecast for about 1 MB less per ScaledObject).
    /// Patterns, trend and anomalies are analysed at refit points only.
    async fn forecast_at(&mut self, at: DateTime<Utc>) {
        // Copies of the history are made once a forecast thread is free: a thousand
        // ScaledObjects waiting for one do not each hold a copy.
        let permit = self.compute_permit().await;
        let job = self.ctl.fit_job(at);
        let history = self.ctl.history();
        let all = (job.refit())
            .then(|| history.start().map(|start| (start, history.values())))
            .flatten();
        // The fit itself is short (tens of milliseconds): no decision in between, so that two
        // replicas of the server decide alike tick by tick.
        let result = self
            .shared
            .compute(move || {
                let outcome = job.run();
                let analysis = all.map(|(start, all)| (analyse(&all, start, STEP_SECS, at), start));
                (outcome, analysis)
            })
            .await;
        drop(permit);
        let Some((outcome, analysis)) = result else {
            self.ctl.fit_failed();
            return;
        };
        if let Some((analysis, start)) = analysis {
            self.publish_analysis(analysis, start);
            self.shared.telemetry.service(&self.reg.key).refit();
            self.reg.update_status(|s| s.refits += 1);
        }
        self.ctl.finish_refresh(at, outcome);
    }

    fn publish_analysis(&mut self, analysis: Analysis, hist_start: DateTime<Utc>) {
        let metrics = self.shared.telemetry.service(&self.reg.key);
        let (daily, weekly, direction) = summary(&analysis);
        metrics.patterns(daily, weekly, direction);
        let since = self
            .anomalies_until
            .unwrap_or(hist_start - Duration::seconds(1));
        let new = analysis
            .anomalies
            .iter()
            .filter(|a| a.timestamp > since)
            .count();
        metrics.anomalies(new as u64);
        self.anomalies_until = self.ctl.history().last();
        self.reg.update_status(|s| s.analysis = Some(analysis));
    }

    fn publish_refresh(&self, at: DateTime<Utc>) {
        let metrics = self.shared.telemetry.service(&self.reg.key);
        let history = self.ctl.history();
        metrics.history_samples(history.len());
        let acc = self.accuracy.view();
        metrics.accuracy(acc.ratio, acc.coverage);
        let q = self.ctl.spec().quantile;
        let forecast = self
            .ctl
            .forecast()
            .zip(self.ctl.model())
            .map(|(f, (fitted_at, model))| ForecastView {
                made_at: at,
                model: model.to_string(),
                fitted_at,
                quantile: q,
                steps: (0..f.len())
                    .map(|i| ForecastStep {
                        timestamp: f.timestamp(i),
                        point: f.point[i],
                        p50: f.quantile(0.5).map_or(f.point[i], |v| v[i]),
                        upper: f.quantile(q).map_or(f.point[i], |v| v[i]),
                    })
                    .collect(),
            });
        let step_secs = self.ctl.config().step_secs;
        let step = Duration::seconds(step_secs);
        let (day_start, day) = history.window(at - Duration::seconds(RECENT_SPAN_SECS), at);
        let demand = DemandView::new(day_start, step_secs, &day);
        let history = HistoryView {
            samples: history.len(),
            start: history.start(),
            end: history.end().map(|e| e - step),
        };
        self.reg.update_status(|s| {
            s.history = history;
            s.demand = demand;
            s.accuracy = acc;
            s.forecast = forecast;
        });
    }

    /// The live value at `now` (evaluated `data_delay` earlier), after the activation
    /// threshold; `None` when missing.
    async fn live(&mut self, now: DateTime<Utc>) -> Option<(f64, DateTime<Utc>)> {
        let at = self.ctl.live_at(now);
        let s = self.settings();
        let read = match self.source() {
            Ok(source) => source.instant(&s.query, at).await,
            Err(e) => Err(e),
        };
        let value = match read {
            Ok(Some(v)) if v.is_finite() => Some(v.max(0.0)),
            // NaN or an infinity is never a value, whatever ignoreNullValues says.
            Ok(Some(v)) => {
                let e = SourceError::new(
                    "not_finite",
                    format!("query `{}` gave {v}: missing data", s.query),
                );
                self.error(now, &e);
                None
            }
            Ok(None) if s.ignore_null_values => Some(0.0),
            Ok(None) => {
                let e = SourceError::new(
                    "empty",
                    format!(
                        "query `{}` gave an empty result: missing data (set ignoreNullValues: \"true\" if the series vanishes when there is no demand)",
                        s.query
                    ),
                );
                self.error(now, &e);
                None
            }
            Err(e) => {
                self.error(now, &e);
                None
            }
        }?;
        let value = if value <= s.activation_threshold {
            0.0
        } else {
            value
        };
        let metrics = self.shared.telemetry.service(&self.reg.key);
        metrics.observed(value, (now - at).num_milliseconds() as f64 / 1000.0);
        self.reg
            .update_status(|st| st.observed = Some(Observed { value, at }));
        Some((value, at))
    }

    /// The backlog term's optional signals, read at `at` from `source`: `queueQuery` and
    /// `readyQuery` when set (a failed or empty read leaves that part of the term out).
    async fn backlog_signals(
        source: Option<Arc<dyn DemandSource>>,
        queries: [Option<String>; 2],
        at: DateTime<Utc>,
    ) -> (Option<f64>, Option<u32>) {
        let Some(source) = source else {
            return (None, None);
        };
        let mut values = [None, None];
        for (value, query) in values.iter_mut().zip(queries) {
            if let Some(q) = query
                && let Ok(Some(v)) = source.instant(&q, at).await
                && v.is_finite()
                && v >= 0.0
            {
                *value = Some(v);
            }
        }
        let ready = values[1].map(|v| v.round().min(f64::from(u32::MAX)) as u32);
        (values[0], ready)
    }

    /// Decides at `now` and answers KEDA.
    async fn decide(&mut self, now: DateTime<Utc>, live: Option<(f64, DateTime<Utc>)>) {
        // Before any decision on fresh data there is nothing trustworthy to tell KEDA.
        if live.is_none() && self.last.is_none() {
            self.reg.update_status(|s| {
                s.phase = Phase::Starting;
                s.safety = Some(
                    "no live data yet: KEDA is answered UNAVAILABLE and keeps the current replicas"
                        .into(),
                );
            });
            return;
        }
        let s = self.settings();
        let queries = [s.queue_query.clone(), s.ready_query.clone()];
        let source = queries
            .iter()
            .any(Option::is_some)
            .then(|| self.source().ok())
            .flatten();
        let (queue, ready) = Self::backlog_signals(source, queries, self.ctl.live_at(now)).await;
        let signals = &self.shared.signals;
        let input = LiveSignals {
            queue,
            ready: signals.ready(&self.reg.key).or(ready),
            running: signals.running(&self.reg.key),
            budget: signals.budget(&self.reg.key),
            ..LiveSignals::demand(live.map(|l| l.0), live.map_or(now, |l| l.1))
        };
        let decision = self.ctl.decide(now, &input);
        let forecast = self.ctl.fresh_forecast(now);
        let (phase, safety) = match (live, forecast) {
            (None, _) => (
                Phase::Holding,
                Some(format!(
                    "live data missing: holding the last decision ({})",
                    decision.explanation
                )),
            ),
            (Some(_), None) => (
                Phase::ReactiveFallback,
                Some(match (self.ctl.refreshed_at(), self.ctl.forecast()) {
                    (Some(r), Some(_)) => {
                        format!("forecast stale (last refresh {r}): reactive on live data")
                    }
                    (Some(_), None) => format!(
                        "no forecast ({} samples of history, too few to fit): reactive on live data",
                        self.ctl.history().len()
                    ),
                    (None, _) => "no forecast yet: reactive on live data".to_string(),
                }),
            ),
            (Some(_), Some(_)) => (Phase::Ok, None),
        };
        let (reported, reported_active) = self.reported(&decision, live);
        let answer = Answer::new(self.settings(), reported, reported_active, now);
        self.slot.publish(answer);
        self.count_events(&decision);
        let metrics = self.shared.telemetry.service(&self.reg.key);
        let spec = self.ctl.spec();
        metrics.decision(
            decision.desired_replicas,
            decision.reactive_replicas,
            reported_active,
            decision.reason.as_str(),
            spec.cold_start_secs,
            self.shadow,
        );
        if let Some(need) = decision.forecast_need {
            metrics.forecast(0.5, need.p50);
            metrics.forecast(spec.quantile, need.upper);
        }
        metrics.business_hours(spec.calendar.as_ref().is_none_or(|c| c.is_open(now)));
        let saved = SavedDecision {
            at: now,
            desired: decision.desired_replicas,
            active: decision.active,
            reported,
            reported_active,
            zero_since: self.ctl.zero_since(),
        };
        let changed = self.last.as_ref().is_none_or(|l| {
            (
                l.desired,
                l.active,
                l.reported,
                l.reported_active,
                l.zero_since,
            ) != (
                saved.desired,
                saved.active,
                saved.reported,
                saved.reported_active,
                saved.zero_since,
            )
        });
        self.last = Some(saved.clone());
        if changed {
            self.save_decision(saved);
        }
        let view = DecisionView {
            at: now,
            summary: decision.to_string(),
            decision,
        };
        self.reg.update_status(|s| {
            s.phase = phase;
            s.safety = safety;
            s.decision = Some(view);
            s.reported = Some(answer);
            s.note_recent(live.map(|l| l.0));
        });
    }
}
