//! The background runtime: one worker per registered ScaledObject.
//!
//! Every worker runs the loop the simulator's `prescale` policy runs (see
//! `prescale-sim/src/policies/prescale.rs`), so that backtests describe what the server does:
//!
//! - **Decisions** every [`RuntimeConfig::decision_interval`] (15 s), on a wall-clock grid:
//!   the live value of the query (evaluated [`RuntimeConfig::data_delay`] in the past, so that
//!   the data has settled), the latest forecast and [`prescale_policy::decide`].
//! - **Refreshes** every [`RuntimeConfig::refresh_interval`] (5 min): the completed one-minute
//!   steps since the last refresh are read with a range query (on first sight: the whole
//!   `history`, the backfill), the model is brought up to date with them (incremental update)
//!   and forecasts lead + window + one refresh ahead with P50 and the service's quantile.
//! - **Refits** every [`RuntimeConfig::refit_interval`] (6 h): the `prescale` model is refit on
//!   the last [`RuntimeConfig::fit_window`] (14 days) of history ending at the refit point,
//!   and patterns, trend and anomalies are analysed.
//!
//! Refresh and refit points lie on grids shifted by a per-ScaledObject offset (a stable hash
//! of its name, so that a thousand services do not all query Prometheus at the same second);
//! a refresh computes everything *as of* its grid point, even when retried later. Two servers
//! reading the same Prometheus therefore fit the same data at the same points, update with the
//! same steps and decide at the same ticks: they give KEDA the same answers.
//!
//! Forecast fits run on the blocking pool, at most [`RuntimeConfig::forecast_threads`] at a
//! time, never on the request path.
//!
//! - [`worker`]: one ScaledObject's loop and its safety rules.
//! - [`accuracy`]: the rolling 24-hour score of past forecasts.
//! - [`analysis`]: patterns, trend and anomalies of the history, at refits.

pub mod accuracy;
pub mod analysis;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::api::telemetry::Telemetry;
use crate::cost::Signals;
use crate::demand::source::{DemandSource, Scaled, SourceError, SourceFactory};
use crate::keda::metadata::Settings;
use crate::registry::{Registration, Slot, Starter};
use crate::runtime::worker::Worker;
use crate::state::persist::StateStore;
use crate::timebase::TimeBase;
use prescale_control::{Controller, Grids, LoopConfig, Periods};

/// Schedules and limits of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Decision period (default 15 s, the HPA's sync period).
    pub decision_interval: Duration,
    /// Forecast refresh period (default 5 min).
    pub refresh_interval: Duration,
    /// Model refit period (default 6 h).
    pub refit_interval: Duration,
    /// How far in the past the live value is evaluated, and how long a one-minute step must
    /// have been over before it is read into the history (default 10 s: Prometheus' default
    /// scrape timeout).
    pub data_delay: Duration,
    /// A forecast older than this is not used: decisions fall back to reactive (default
    /// 15 min, three refreshes).
    pub forecast_stale_after: Duration,
    /// History the model is fitted on (default 14 days; the `history` key bounds it).
    pub fit_window: Duration,
    /// Forecast window after the lead time (default 5 min).
    pub window: Duration,
    /// Shadow mode for every service: KEDA gets reactive values only.
    pub dry_run: bool,
    /// Concurrent forecast fits (default: one less than the cores, at least one).
    pub forecast_threads: usize,
    /// Server time.
    pub time: TimeBase,
    /// Every service's grids through this instant instead of spread by a hash of its name
    /// (replays that compare the server with `prescale backtest`, whose grids pass through
    /// the trace's first timestamp).
    pub grid_origin: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        // The loop's defaults are the controller's (the backtest runs the same).
        let l = LoopConfig::default();
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        Self {
            decision_interval: ms(l.periods.decision_ms),
            refresh_interval: ms(l.periods.refresh_ms),
            refit_interval: ms(l.periods.refit_ms),
            data_delay: ms(l.data_delay_ms),
            forecast_stale_after: secs(l.forecast_stale_after_secs),
            fit_window: secs(l.fit_window_secs),
            window: secs(prescale_policy::ScalingSpec::new(1.0).window_secs),
            dry_run: false,
            forecast_threads: cores.saturating_sub(1).max(1),
            time: TimeBase::real(),
            grid_origin: None,
        }
    }
}

impl RuntimeConfig {
    /// The decision loop of a service with `settings`, named `key` (its grids are spread by
    /// a hash of the name unless `grid_origin` is set).
    pub fn controller(&self, settings: &Settings, key: &str) -> Controller {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut spec = settings.spec();
        spec.window_secs = self.window.as_secs() as i64;
        let config = LoopConfig {
            step_secs: crate::runtime::worker::STEP_SECS,
            periods: Periods {
                decision_ms: ms(self.decision_interval).max(1),
                refresh_ms: ms(self.refresh_interval).max(1),
                refit_ms: ms(self.refit_interval).max(1),
            },
            data_delay_ms: ms(self.data_delay),
            forecast_stale_after_secs: self.forecast_stale_after.as_secs() as i64,
            fit_window_secs: self.fit_window.as_secs() as i64,
            history_secs: settings.history_secs,
            // The server does not keep fitted models between refreshes (memory).
            keep_model: false,
            drain_secs: settings.drain_secs,
            rate_period_secs: settings.rate_period_secs,
        };
        let grids = match self.grid_origin {
            Some(origin) => Grids::aligned_to(config.periods, origin),
            None => Grids::spread(config.periods, key),
        };
        Controller::new(spec, config, grids)
    }

    /// Checks the schedules: each at least one second, the refresh a multiple of the decision
    /// interval, the refit a multiple of the refresh, the data delay at most one minute.
    pub fn validate(&self) -> Result<(), String> {
        let s = |d: Duration| d.as_secs();
        for (name, d) in [
            ("decision_interval", self.decision_interval),
            ("refresh_interval", self.refresh_interval),
            ("refit_interval", self.refit_interval),
            ("forecast_stale_after", self.forecast_stale_after),
            ("fit_window", self.fit_window),
        ] {
            if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                return Err(format!("{name} must be a whole number of seconds >= 1"));
            }
        }
        if s(self.refresh_interval) % s(self.decision_interval) != 0 {
            return Err("refresh_interval must be a multiple of decision_interval".into());
        }
        if s(self.refresh_interval) % 60 != 0
            || s(self.refit_interval) % s(self.refresh_interval) != 0
        {
            return Err(
                "refresh_interval must be whole minutes, and refit_interval a multiple of it"
                    .into(),
            );
        }
        if self.data_delay > Duration::from_secs(60) {
            return Err("data_delay must be at most 1m".into());
        }
        if self.forecast_threads == 0 {
            return Err("forecast_threads must be at least 1".into());
        }
        Ok(())
    }
}

/// What every worker shares.
pub(crate) struct Shared {
    pub(crate) config: RuntimeConfig,
    sources: Arc<dyn SourceFactory>,
    cache: Mutex<HashMap<String, Arc<dyn DemandSource>>>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) compute: Semaphore,
    store: std::sync::RwLock<Option<Arc<dyn StateStore>>>,
    pub(crate) signals: Arc<Signals>,
}

impl Shared {
    /// The store, until it is closed.
    pub(crate) fn store(&self) -> Option<Arc<dyn StateStore>> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The source of `server_address` (built once).
    pub(crate) fn source(
        &self,
        server_address: &str,
    ) -> Result<Arc<dyn DemandSource>, SourceError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache.get(server_address) {
            return Ok(s.clone());
        }
        let mut s = self.sources.source(server_address)?;
        if !self.config.time.is_real() {
            s = Arc::new(Scaled::new(s, self.config.time));
        }
        cache.insert(server_address.to_string(), s.clone());
        Ok(s)
    }
}

/// The runtime: starts a [`Worker`] for every registration (it is the registry's
/// [`Starter`]).
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime reading demand from `sources`, saving to `store`, spawning on the current
    /// tokio runtime (call from within one).
    pub fn new(
        config: RuntimeConfig,
        sources: Arc<dyn SourceFactory>,
        telemetry: Arc<Telemetry>,
        store: Option<Arc<dyn StateStore>>,
    ) -> Self {
        Self::with_signals(
            config,
            sources,
            telemetry,
            store,
            Arc::new(Signals::default()),
        )
    }

    /// Like [`Runtime::new`], with the budget states and replica counts of a cost loop.
    pub fn with_signals(
        config: RuntimeConfig,
        sources: Arc<dyn SourceFactory>,
        telemetry: Arc<Telemetry>,
        store: Option<Arc<dyn StateStore>>,
        signals: Arc<Signals>,
    ) -> Self {
        let permits = config.forecast_threads.max(1);
        Self {
            shared: Arc::new(Shared {
                config,
                sources,
                cache: Mutex::new(HashMap::new()),
                telemetry,
                compute: Semaphore::new(permits),
                store: std::sync::RwLock::new(store),
                signals,
            }),
            handle: tokio::runtime::Handle::current(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Lets go of the store (at shutdown, after the workers ended), so that it closes even
    /// while connections still hold the gRPC service.
    pub fn close_store(&self) {
        *self.shared.store.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Waits (at most `limit`) for every started worker to end (after their registrations
    /// were stopped); returns whether all ended.
    pub async fn join(&self, limit: std::time::Duration) -> bool {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        tokio::time::timeout(limit, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .is_ok()
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// Budget states and running replicas the workers read (written by the cost loop).
    pub fn signals(&self) -> Arc<Signals> {
        self.shared.signals.clone()
    }

    /// A worker for `registration` in `slot`, not started (tests drive its ticks).
    pub fn worker(&self, slot: Arc<Slot>, registration: Arc<Registration>) -> Worker {
        Worker::new(self.shared.clone(), slot, registration)
    }
}

impl Starter for Runtime {
    fn start(&self, slot: Arc<Slot>, registration: Arc<Registration>) {
        let worker = self.worker(slot, registration);
        let task = self.handle.spawn(worker.run());
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    fn forgotten(&self, registration: &Registration) {
        self.shared
            .telemetry
            .forget(&registration.key, registration.settings.quantile);
        if let Some(store) = self.shared.store() {
            let keys = [
                crate::state::persist::registration_key(&registration.key),
                crate::state::persist::decision_key(&registration.key),
                crate::state::persist::accuracy_key(&registration.key),
            ];
            self.handle.spawn_blocking(move || {
                for k in keys {
                    if let Err(e) = store.delete_state(&k) {
                        tracing::warn!(key = %k, error = %e, "Could not delete saved state.");
                    }
                }
            });
        }
    }
}
