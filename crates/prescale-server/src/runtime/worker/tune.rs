//! SLO mode in the server: the walk-forward tuner of `prescale-sim` (the same one
//! `prescale backtest --slo` runs), re-tuning daily on the worker's own history, on a forecast
//! thread (never on KEDA's request path), within the runtime's compute limit.

use chrono::{DateTime, Utc};
use prescale_sim::policies::PolicyOptions;
use prescale_sim::policies::keda::KedaSettings;
use prescale_sim::tune::{Gate, GateGuard, TuneSetup, Tuner, TunerConfig};

use super::Worker;
use crate::keda::metadata::Settings;

/// A service's tuner and what it knows of the service.
pub(crate) struct SloState {
    /// Taken while a re-tune runs on a forecast thread.
    tuner: Option<Tuner>,
    config: TunerConfig,
    setup: TuneSetup,
    /// Demand per minute per unit of the query (its rate period): the simulator counts per
    /// minute.
    per_min: f64,
}

impl SloState {
    /// The state for `settings`, when they set `slo`.
    pub(crate) fn new(settings: &Settings) -> Option<Self> {
        let slo = settings.slo?;
        let per_min = 60.0 / settings.rate_period_secs.max(1) as f64;
        let config = TunerConfig {
            slo,
            ..TunerConfig::default()
        };
        let setup = TuneSetup {
            capacity_per_min: settings.threshold * per_min,
            cold_start_secs: settings.cold_start_secs as f64,
            max_replicas: settings.max_replicas,
            sla_secs: settings.sla_ms as f64 / 1000.0,
            options: PolicyOptions {
                drain_secs: settings.drain_secs as f64,
                scale_to_zero: settings.scale_to_zero,
                keda: KedaSettings {
                    min_replicas: settings.min_replicas,
                    ..KedaSettings::default()
                },
                ..PolicyOptions::default()
            },
        };
        Some(Self {
            tuner: Some(Tuner::new(config.clone())),
            config,
            setup,
            per_min,
        })
    }
}

impl Worker {
    /// SLO mode with a `latencyQuery`: reads the measured latency as of the refresh point `at`
    /// and reports it beside the predicted attainment (it never changes a decision; a failed
    /// read only logs).
    pub(super) async fn measure_latency(&mut self, at: DateTime<Utc>) {
        let settings = &self.reg.settings;
        let (Some(_), Some(query)) = (settings.slo, settings.latency_query.clone()) else {
            return;
        };
        let Ok(source) = self.source() else {
            return;
        };
        match source.instant(&query, self.ctl.live_at(at)).await {
            Ok(Some(v)) if v.is_finite() && v >= 0.0 => {
                self.shared
                    .telemetry
                    .service(&self.reg.key)
                    .measured_latency(v);
                self.reg
                    .update_status(|s| s.measured_latency_seconds = Some(v));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(scaled_object = %self.reg.key, error = %e, "latencyQuery failed.");
            }
        }
    }

    /// SLO mode: re-tunes at the refresh point `at` when due (as of the tuner's grid instant,
    /// on the history before it), and decides with the chosen headroom from then on.
    pub(super) async fn retune(&mut self, at: DateTime<Utc>) {
        let history = self.ctl.history();
        let Some(state) = &mut self.slo else {
            return;
        };
        let (Some(tuner), Some(start)) = (state.tuner.take(), history.start()) else {
            return;
        };
        // As of the tuner's grid instant (the same for every replica), not this refresh.
        let Some(at) = tuner.due_at(at, Some(start)) else {
            state.tuner = Some(tuner);
            return;
        };
        let per_min = state.per_min;
        let setup = state.setup.clone();
        let config = state.config.clone();
        // A re-tune replays a week: about a second for most services, minutes for a large one.
        // It holds a tuning slot (so that at most `forecast_threads` copies of a history are
        // held), and takes a forecast thread one refresh's fit or one candidate's replay at a
        // time, in turn with the other services' refreshes ([`Gate`]). The worker waits for it
        // without deciding for up to [`retune_patience`], so that every replica decides each
        // tick with the same headroom; past that it goes on deciding with the headroom in force
        // until the new one is chosen, so that the answer does not go stale.
        let slot = self
            .deciding_until(self.shared.tune_slots.clone().acquire_owned())
            .await
            .ok();
        let mut points = self.ctl.history().points();
        points.iter_mut().for_each(|p| p.1 *= per_min);
        let pool = self.shared.tune_pool.clone();
        let compute = self.shared.compute.clone();
        let handle = tokio::runtime::Handle::current();
        let gate = Gate::new(move || {
            let permit = handle.block_on(compute.clone().acquire_owned()).ok();
            GateGuard::new(permit)
        });
        let job = tokio::task::spawn_blocking(move || {
            let mut tuner = tuner;
            let mut run = || {
                tuner
                    .retune_gated(at, &points, &setup, None, Some(gate.clone()))
                    .cloned()
            };
            // The candidates replay in parallel on the tuning threads only.
            let tuning = match &pool {
                Some(pool) => pool.install(run),
                None => run(),
            };
            (tuner, tuning)
        });
        tokio::pin!(job);
        let patience = retune_patience(&self.shared.config);
        let result = match tokio::time::timeout(patience, &mut job).await {
            Ok(done) => done,
            Err(_) => {
                tracing::debug!(scaled_object = %self.reg.key, "A long re-tune: deciding meanwhile.");
                self.deciding_until(job).await
            }
        };
        drop(slot);
        let (tuner, tuning) = match result {
            Ok(r) => r,
            // The thread failed: start over (the conservative headroom stays until a tuning).
            Err(_) => (Tuner::new(config), None),
        };
        if tuning.is_some() {
            self.save_tuner(&tuner);
        }
        let Some(state) = &mut self.slo else {
            return;
        };
        state.tuner = Some(tuner);
        let Some(t) = tuning else {
            return;
        };
        self.apply(t);
    }

    /// A saved tuner (after a restart), when it tunes for the same SLO: the loop goes on with
    /// its last pick, its misses and its margin.
    pub(super) fn restore_tuner(&mut self, saved: Tuner) {
        let Some(state) = &mut self.slo else {
            return;
        };
        if saved.config() != &state.config {
            return;
        }
        let last = saved.last().cloned();
        state.tuner = Some(saved);
        if let Some(t) = last {
            tracing::info!(scaled_object = %self.reg.key, at = %t.at, "Restored the SLO tuning.");
            self.apply(t);
        }
    }

    /// Decides with `t`'s headroom from now on, and shows it.
    fn apply(&mut self, t: prescale_sim::tune::Tuning) {
        let settings = &self.reg.settings;
        t.headroom
            .apply(&mut self.ctl, settings.threshold, settings.drain_secs);
        tracing::info!(
            scaled_object = %self.reg.key,
            quantile = t.headroom.quantile,
            utilization = t.headroom.utilization,
            predicted_sla = t.predicted_sla,
            margin = t.margin,
            "SLO mode re-tuned."
        );
        self.shared.telemetry.service(&self.reg.key).tuning(
            settings.slo.unwrap_or(0.0),
            settings.sla_ms as f64 / 1000.0,
            &t,
        );
        self.reg.update_status(|s| s.tuning = Some(t));
    }
}

/// How long (real time) a worker waits for its re-tune without deciding: two decision
/// intervals, at least 10 s (the answer goes stale after [`crate::server::STALE_DECISIONS`]).
fn retune_patience(config: &crate::runtime::RuntimeConfig) -> std::time::Duration {
    config
        .time
        .real_duration(config.decision_interval * 2)
        .max(std::time::Duration::from_secs(10))
}
