//! The background runtime: one worker per registered ScaledObject.
//!
//! Every worker drives the decision loop of `prescale-control` (the [`prescale_control::Controller`]
//! the simulator's `prescale` policy drives too), so that backtests describe what the server does:
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
//! Forecast fits run on `forecast_threads` compute threads of their own
//! (`prescale-compute-N`), one at a time per thread in the order the workers asked
//! ([`RuntimeConfig::forecast_threads`]), never on the request path; SLO mode's re-tunes take
//! the same turns one piece at a time.
//!
//! - [`config`]: the schedules and limits, and the controller they configure.
//! - [`worker`]: one ScaledObject's I/O around the controller, and its safety rules.
//! - [`accuracy`]: the rolling 24-hour score of past forecasts.
//! - [`analysis`]: patterns, trend and anomalies of the history, at refits.

pub mod accuracy;
pub mod analysis;
pub mod config;
mod priority;
mod shared;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::api::telemetry::Telemetry;
use crate::cost::Signals;
use crate::demand::source::SourceFactory;
use crate::registry::{Registration, Slot, Starter};
use crate::runtime::shared::Shared;
use crate::runtime::worker::Worker;
use crate::state::persist::StateStore;

pub use config::{RuntimeConfig, STEP_SECS};

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
        let idle = config.idle_priority;
        Self {
            shared: Arc::new(Shared {
                config,
                sources,
                cache: Mutex::new(HashMap::new()),
                telemetry,
                compute: Arc::new(Semaphore::new(permits)),
                tune_slots: Arc::new(Semaphore::new(permits)),
                tune_pool: rayon::ThreadPoolBuilder::new()
                    .num_threads(permits)
                    .thread_name(|i| format!("prescale-tune-{i}"))
                    .start_handler(move |_| priority::lower_if(idle))
                    .build()
                    .map(Arc::new)
                    .inspect_err(|e| tracing::warn!(error = %e, "No tuning threads: SLO mode's replays use the default pool."))
                    .ok(),
                compute_pool: rayon::ThreadPoolBuilder::new()
                    .num_threads(permits)
                    .thread_name(|i| format!("prescale-compute-{i}"))
                    .start_handler(move |_| priority::lower_if(idle))
                    .build()
                    .map(Arc::new)
                    .inspect_err(|e| tracing::warn!(error = %e, "No compute threads: fits run on the blocking pool."))
                    .ok(),
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

/// The first wait before a panicked worker restarts; it doubles up to [`MAX_RESTART_BACKOFF`].
const RESTART_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest wait before a panicked worker restarts.
const MAX_RESTART_BACKOFF: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a registration's worker until the registration stops; a worker that panics is
/// counted (`prescale_worker_restarts_total`) and restarted after a backoff (1 s, doubling to
/// a minute), from the saved state, so that one bad input does not freeze KEDA's answer.
async fn supervise(shared: Arc<Shared>, slot: Arc<Slot>, registration: Arc<Registration>) {
    let mut backoff = RESTART_BACKOFF;
    let mut stopped = registration.stopped();
    loop {
        let worker = Worker::new(shared.clone(), slot.clone(), registration.clone());
        let mut run = tokio::spawn(worker.run());
        let finished = tokio::select! {
            r = &mut run => Some(r),
            _ = stopped.wait_for(|s| *s) => None,
        };
        let result = match finished {
            Some(r) => r,
            // Stopped: a worker stuck in a read (a Prometheus that never answers) is not
            // waited for long.
            None => match tokio::time::timeout(std::time::Duration::from_secs(2), &mut run).await {
                Ok(r) => r,
                Err(_) => {
                    run.abort();
                    break;
                }
            },
        };
        match result {
            Err(e) if e.is_panic() && !*stopped.borrow() => {
                shared.telemetry.worker_restarted();
                tracing::error!(scaled_object = %slot.key, backoff_secs = backoff.as_secs(), "Worker panicked; restarting.");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
            }
            _ => break,
        }
    }
    // Dropped from the registry while its worker was in the middle of a tick: what that tick
    // wrote to /metrics after the registry forgot it goes too.
    if registration.is_forgotten() {
        shared
            .telemetry
            .forget(&registration.key, registration.settings.quantile);
    }
}

impl Starter for Runtime {
    fn start(&self, slot: Arc<Slot>, registration: Arc<Registration>) {
        let task = self
            .handle
            .spawn(supervise(self.shared.clone(), slot, registration));
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
                crate::state::persist::tuning_key(&registration.key),
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
