//! What every worker of a runtime shares: its configuration, demand sources, telemetry, the
//! compute limit, the store and the cost loop's signals.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::api::telemetry::Telemetry;
use crate::cost::Signals;
use crate::demand::source::{Bounded, DemandSource, Scaled, SourceError, SourceFactory};
use crate::runtime::config::RuntimeConfig;
use crate::state::persist::StateStore;

/// What every worker shares.
pub(crate) struct Shared {
    pub(crate) config: RuntimeConfig,
    pub(crate) sources: Arc<dyn SourceFactory>,
    pub(crate) cache: Mutex<HashMap<String, Arc<dyn DemandSource>>>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) compute: Arc<Semaphore>,
    /// Re-tunes in progress at once (`forecast_threads`): each holds a copy of its history
    /// while its pieces wait their turns at [`Shared::compute`].
    pub(crate) tune_slots: Arc<Semaphore>,
    /// The threads SLO mode's replays run their candidates on (`forecast_threads` of them, so
    /// that tuning never takes the cores KEDA's calls are answered on); `None` if they could
    /// not be started (the replays then run on the calling thread's pool).
    pub(crate) tune_pool: Option<Arc<rayon::ThreadPool>>,
    /// The threads forecast fits run on (`forecast_threads` of them, `prescale-compute-N`),
    /// apart from the runtime's blocking pool (store I/O, pages); `None` if they could not be
    /// started (fits then run on the blocking pool).
    pub(crate) compute_pool: Option<Arc<rayon::ThreadPool>>,
    pub(crate) store: std::sync::RwLock<Option<Arc<dyn StateStore>>>,
    pub(crate) signals: Arc<Signals>,
}

impl Shared {
    /// Runs `work` on a compute thread (the caller holds a [`Shared::compute`] permit, so
    /// that the threads never queue work); `None` when it panicked (the panic is logged).
    pub(crate) async fn compute<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let guarded = move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|e| {
                    let message = e
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| e.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(panic = %message, "A forecast computation panicked.");
                })
                .ok()
        };
        match &self.compute_pool {
            Some(pool) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pool.spawn(move || {
                    let _ = tx.send(guarded());
                });
                rx.await.ok().flatten()
            }
            None => tokio::task::spawn_blocking(guarded).await.ok().flatten(),
        }
    }

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
        let mut s: Arc<dyn DemandSource> = Arc::new(Bounded::new(
            self.sources.source(server_address)?,
            self.config.history_reads,
        ));
        if !self.config.time.is_real() {
            s = Arc::new(Scaled::new(s, self.config.time));
        }
        cache.insert(server_address.to_string(), s.clone());
        Ok(s)
    }
}
