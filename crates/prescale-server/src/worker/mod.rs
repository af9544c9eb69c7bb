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
use prescale_core::Forecast;
use prescale_forecast::model::{FitInput, predict};
use prescale_forecast::models::{ModelKind, ModelOptions};
use prescale_policy::{PolicyInput, ScalingSpec, decide, live_anomalous};

mod answer;
mod persist;

use crate::accuracy::Accuracy;
use crate::analysis::{analyse, summary};
use crate::history::{Fill, History};
use crate::metadata::{Mode, Settings};
use crate::persist::{SavedDecision, history_series};
use crate::registry::{Answer, Registration, Slot};
use crate::runtime::Shared;
use crate::source::{DemandSource, SourceError};
use crate::status::{
    Analysis, DecisionView, ErrorView, ForecastStep, ForecastView, HistoryView, Observed, Phase,
};
use crate::timebase::{floor_to, floor_to_ms, next_after_ms, stable_hash};

/// Step of the history and the forecasts: one minute.
pub const STEP_SECS: i64 = 60;

/// What the latest forecast came from (the fitted model itself is not kept between refreshes:
/// see [`Worker::forecast_at`]).
struct ModelInfo {
    /// The refit point the model was fitted at.
    fitted_at: DateTime<Utc>,
    description: String,
}

/// The worker of one registration. See the [module documentation](self).
pub struct Worker {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    reg: Arc<Registration>,
    spec: ScalingSpec,
    shadow: bool,
    /// Offset of the decision grid, milliseconds.
    tick_offset: i64,
    /// Offset of the refresh grid, milliseconds (a decision tick).
    offset: i64,
    /// Offset of the refit grid, milliseconds (a refresh point).
    refit_offset: i64,
    history: History,
    series: String,
    model: Option<ModelInfo>,
    forecast: Option<Forecast>,
    /// The refresh point of the latest successful refresh.
    refreshed_at: Option<DateTime<Utc>>,
    accuracy: Accuracy,
    /// Anomalies already counted up to this time.
    anomalies_until: Option<DateTime<Utc>>,
    last: Option<SavedDecision>,
    zero_since: Option<DateTime<Utc>>,
    restored: bool,
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
        let s = &reg.settings;
        let mut spec = s.spec();
        spec.window_secs = shared.config.window.as_secs() as i64;
        let refresh = shared.config.refresh_interval.as_millis() as i64;
        let decision = (shared.config.decision_interval.as_millis() as i64).max(1);
        let refit = shared.config.refit_interval.as_millis() as i64;
        // Grids shifted per ScaledObject (a stable hash of its name, the same on every
        // replica), so that a thousand of them do not decide, query Prometheus or refit in the
        // same instant: decisions anywhere in the decision period, refreshes on a decision
        // tick anywhere in the refresh period, refits on a refresh point anywhere in the refit
        // period.
        let hash = stable_hash(&reg.key.to_string());
        let tick_offset = (hash % decision as u64) as i64;
        let ticks = (refresh / decision).max(1) as u64;
        let offset = tick_offset + ((hash >> 16) % ticks) as i64 * decision;
        let refreshes = (refit / refresh.max(1)).max(1) as u64;
        let refit_offset = offset + ((hash >> 32) % refreshes) as i64 * refresh;
        // The history reaches one refit period further back than `history`, so that a fit at
        // the latest refit point always has its whole window, whenever the worker started.
        let keep = s.history_secs + shared.config.refit_interval.as_secs() as i64;
        let max_len = (keep / STEP_SECS) as usize;
        Self {
            shadow: shared.config.dry_run || s.mode == Mode::ForecastOnly,
            series: history_series(&reg.key, s),
            history: History::new(STEP_SECS, max_len),
            spec,
            tick_offset,
            offset,
            refit_offset,
            shared,
            slot,
            reg,
            model: None,
            forecast: None,
            refreshed_at: None,
            accuracy: Accuracy::default(),
            anomalies_until: None,
            last: None,
            zero_since: None,
            restored: false,
        }
    }

    fn settings(&self) -> &Settings {
        &self.reg.settings
    }

    fn secs(d: std::time::Duration) -> i64 {
        d.as_secs() as i64
    }

    /// Runs until the registration stops: restores saved state, then ticks on the decision
    /// grid (the first tick at once, as of the latest grid point).
    pub async fn run(mut self) {
        let mut stopped = self.reg.stopped();
        let time = self.shared.config.time;
        let period = self.shared.config.decision_interval.as_millis() as i64;
        let mut tick = floor_to_ms(time.now(), period, self.tick_offset);
        loop {
            self.tick(tick).await;
            tick = next_after_ms(time.now(), period, self.tick_offset);
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
        let refresh = self.shared.config.refresh_interval.as_millis() as i64;
        let refresh_at = floor_to_ms(now, refresh, self.offset);
        let due = self.refreshed_at != Some(refresh_at);
        if due && self.forecast.is_none() {
            // No forecast yet (first sight): answer reactively before the backfill and the
            // fit, which may wait for a forecast thread.
            let live = self.live(now).await;
            self.decide(now, live).await;
        }
        if due {
            match self.refresh(refresh_at).await {
                Ok(()) => self.refreshed_at = Some(refresh_at),
                Err(e) => self.error(now, &e),
            }
        }
        let live = self.live(now).await;
        self.decide(now, live).await;
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
        let step = Duration::seconds(STEP_SECS);
        let cfg = self.shared.config.clone();
        let settle = Duration::seconds(Self::secs(cfg.data_delay).max(STEP_SECS));
        let last = floor_to(at - settle, STEP_SECS, 0);
        let keep = self.settings().history_secs + Self::secs(cfg.refit_interval);
        let oldest = floor_to(at - Duration::seconds(keep), STEP_SECS, 0);
        let end = self.history.end().filter(|e| *e >= oldest);
        let from = end.unwrap_or(oldest);
        if from <= last {
            let source = self.source()?;
            let points = source
                .range(
                    &self.settings().query,
                    from,
                    last,
                    std::time::Duration::from_secs(STEP_SECS as u64),
                )
                .await?;
            // A new history starts at the first value the source has.
            let from = match (end, points.first()) {
                (Some(e), _) => e,
                (None, Some(p)) => floor_to(p.0, STEP_SECS, 0),
                (None, None) => last + step,
            };
            let fill = if self.settings().ignore_null_values {
                Fill::Zero
            } else {
                Fill::Previous
            };
            let appended = if from <= last {
                self.history.extend(from, last, &points, fill)
            } else {
                Vec::new()
            };
            for (t, v) in &appended {
                self.accuracy.observe(*t, *v);
            }
            self.save_history(appended);
        }
        self.forecast_at(at).await;
        if let Some(f) = &self.forecast {
            let lead = at + Duration::seconds(self.spec.cold_start_secs);
            self.accuracy.predict(
                f,
                self.spec.quantile,
                lead,
                lead + Duration::seconds(Self::secs(cfg.refresh_interval)),
            );
        }
        self.save_accuracy();
        self.publish_refresh(at, step);
        Ok(())
    }

    /// The forecast as of the refresh point `at`: the model fitted at the latest refit point
    /// on the window ending there, updated with the steps since (the incremental update the
    /// simulator runs between refits), then asked for lead + window + one refresh ahead.
    ///
    /// The fitted model is dropped afterwards and fitted again at the next refresh: the same
    /// result as keeping it (the fit and the updates are deterministic), for a fit per refresh
    /// (about 16 ms on 14 days) instead of about 1 MB per ScaledObject held in memory.
    /// Patterns, trend and anomalies are analysed at refit points only.
    async fn forecast_at(&mut self, at: DateTime<Utc>) {
        let cfg = self.shared.config.clone();
        let refit_at = floor_to_ms(at, cfg.refit_interval.as_millis() as i64, self.refit_offset);
        let (Some(hist_start), Some(hist_end)) = (self.history.start(), self.history.end()) else {
            self.model = None;
            self.forecast = None;
            return;
        };
        let refit = self.model.as_ref().is_none_or(|m| m.fitted_at != refit_at);
        // The fit ends at the refit point (or at the history's end when the history is
        // younger); later steps come in as updates.
        let fit_end = refit_at
            .max(hist_start + Duration::seconds(STEP_SECS))
            .min(hist_end);
        let window =
            Duration::seconds(Self::secs(cfg.fit_window).min(self.settings().history_secs));
        // Copies of the history are made once a forecast thread is free: a thousand
        // ScaledObjects waiting for one do not each hold a copy.
        let permit = self.shared.compute.acquire().await;
        let (wstart, values) = self.history.window(fit_end - window, fit_end);
        let (_, new) = self.history.window(fit_end, hist_end);
        let all = refit.then(|| self.history.values());
        let ahead =
            self.spec.cold_start_secs + self.spec.window_secs + Self::secs(cfg.refresh_interval);
        let fit_horizon = (ahead / STEP_SECS) as usize + 1;
        let horizon = ((ahead + (at - hist_end).num_seconds().max(0)) as f64 / STEP_SECS as f64)
            .ceil() as usize
            + 1;
        let levels = [0.5, self.spec.quantile];
        let calendar = self.settings().calendar.clone();
        let job = tokio::task::spawn_blocking(move || {
            let model = ModelKind::Prescale.build_with(&ModelOptions { calendar });
            let fit = |values: &[f64], start| {
                model
                    .fit(&FitInput {
                        values,
                        start,
                        step_secs: STEP_SECS,
                        horizon: fit_horizon,
                    })
                    .ok()
            };
            let mut fitted = fit(&values, wstart);
            if let Some(f) = &mut fitted
                && !f.update(&new)
            {
                // A model that cannot update is fitted on the window ending now.
                let whole: Vec<f64> = values.iter().chain(&new).copied().collect();
                fitted = fit(&whole, wstart);
            }
            let forecast = fitted
                .as_ref()
                .and_then(|f| predict(f.as_ref(), hist_end, STEP_SECS, horizon, &levels).ok());
            let description = fitted.as_ref().map(|f| f.describe());
            let analysis = all.map(|all| analyse(&all, hist_start, STEP_SECS, at));
            (forecast, description, analysis)
        })
        .await;
        drop(permit);
        let Ok((forecast, description, analysis)) = job else {
            self.model = None;
            self.forecast = None;
            return;
        };
        if let Some(analysis) = analysis {
            self.publish_analysis(analysis, hist_start);
            self.shared.telemetry.service(&self.reg.key).refit();
            self.reg.update_status(|s| s.refits += 1);
        }
        self.forecast = forecast;
        self.model = description.map(|description| ModelInfo {
            fitted_at: refit_at,
            description,
        });
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
        self.anomalies_until = self.history.last();
        self.reg.update_status(|s| s.analysis = Some(analysis));
    }

    fn publish_refresh(&self, at: DateTime<Utc>, step: Duration) {
        let metrics = self.shared.telemetry.service(&self.reg.key);
        metrics.history_samples(self.history.len());
        let acc = self.accuracy.view();
        metrics.accuracy(acc.ratio, acc.coverage);
        let q = self.spec.quantile;
        let forecast = self
            .forecast
            .as_ref()
            .zip(self.model.as_ref())
            .map(|(f, m)| ForecastView {
                made_at: at,
                model: m.description.clone(),
                fitted_at: m.fitted_at,
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
        let history = HistoryView {
            samples: self.history.len(),
            start: self.history.start(),
            end: self.history.end().map(|e| e - step),
        };
        self.reg.update_status(|s| {
            s.history = history;
            s.accuracy = acc;
            s.forecast = forecast;
        });
    }

    /// The live value at `now` (evaluated `data_delay` earlier), after the activation
    /// threshold; `None` when missing.
    async fn live(&mut self, now: DateTime<Utc>) -> Option<(f64, DateTime<Utc>)> {
        let at = now - Duration::from_std(self.shared.config.data_delay).unwrap_or_default();
        let s = self.settings();
        let read = match self.source() {
            Ok(source) => source.instant(&s.query, at).await,
            Err(e) => Err(e),
        };
        let value = match read {
            Ok(Some(v)) if v.is_finite() => Some(v.max(0.0)),
            Ok(_) if s.ignore_null_values => Some(0.0),
            Ok(v) => {
                let e = SourceError::new(
                    "empty",
                    format!(
                        "query `{}` gave no usable value ({v:?}) and ignoreNullValues is false",
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

    /// Decides at `now` and answers KEDA.
    async fn decide(&mut self, now: DateTime<Utc>, live: Option<(f64, DateTime<Utc>)>) {
        let cfg = self.shared.config.clone();
        match live {
            Some((v, at)) if v <= 0.0 && self.zero_since.is_none() => {
                self.zero_since = Some(self.zero_run_start(at));
            }
            Some((v, _)) if v <= 0.0 => {}
            Some(_) => self.zero_since = None,
            None => {}
        }
        let stale_after = Duration::from_std(cfg.forecast_stale_after).unwrap_or_default();
        let fresh = self.refreshed_at.is_some_and(|r| now - r <= stale_after);
        let forecast = self.forecast.as_ref().filter(|_| fresh);
        let signals = &self.shared.signals;
        let current = signals
            .running(&self.reg.key)
            .unwrap_or_else(|| self.last.as_ref().map_or(0, |d| d.desired));
        let input = PolicyInput {
            now,
            live_demand: live.map(|l| l.0),
            last_sample_at: live.map(|l| l.1),
            zero_since: self.zero_since,
            forecast,
            current_replicas: current,
            live_anomalous: match (live, forecast) {
                (Some((v, _)), Some(f)) => live_anomalous(f, self.spec.quantile, now, v),
                _ => false,
            },
            budget: signals.budget(&self.reg.key),
        };
        let decision = decide(&self.spec, &input);
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
                Some(match (self.refreshed_at, &self.forecast) {
                    (Some(r), Some(_)) => {
                        format!("forecast stale (last refresh {r}): reactive on live data")
                    }
                    (Some(_), None) => format!(
                        "no forecast ({} samples of history, too few to fit): reactive on live data",
                        self.history.len()
                    ),
                    (None, _) => "no forecast yet: reactive on live data".to_string(),
                }),
            ),
            (Some(_), Some(_)) => (Phase::Ok, None),
        };
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
        let (reported, reported_active) = self.reported(&decision, live);
        let answer = Answer::new(self.settings(), reported, reported_active, now);
        self.slot.publish(answer);
        self.count_events(&decision);
        let metrics = self.shared.telemetry.service(&self.reg.key);
        metrics.decision(
            decision.desired_replicas,
            decision.reactive_replicas,
            reported_active,
            decision.reason.as_str(),
            self.spec.cold_start_secs,
            self.shadow,
        );
        if let Some((from, to)) = decision.window
            && let Some(f) = forecast
        {
            let to = to + Duration::seconds(1);
            for q in [0.5, self.spec.quantile] {
                if let Some(v) = f.max_over(Some(q), from, to) {
                    metrics.forecast(q, v * 60.0 / f.step_secs as f64);
                }
            }
        }
        metrics.business_hours(self.spec.calendar.as_ref().is_none_or(|c| c.is_open(now)));
        let saved = SavedDecision {
            at: now,
            desired: decision.desired_replicas,
            active: decision.active,
            reported,
            reported_active,
            zero_since: self.zero_since,
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
        });
    }
}
