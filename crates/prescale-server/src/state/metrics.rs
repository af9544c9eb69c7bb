//! The store's metrics (`prescale_store_*` of `docs/metrics.md`).
//!
//! Created before the store is opened (a damaged file is counted while opening) and registered
//! with the server's other metrics afterwards; clones share their values.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why the store was recovered, as in `prescale_store_recoveries_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The file was damaged: moved aside, a new one started.
    Corrupt,
    /// The store was reopened after an I/O error.
    Reopen,
}

impl Recovery {
    /// The label value: `corrupt` or `reopen`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Corrupt => "corrupt",
            Self::Reopen => "reopen",
        }
    }
}

/// The store's counters and gauges.
#[derive(Debug, Clone, Default)]
pub struct StoreMetrics {
    up: Gauge<i64, std::sync::atomic::AtomicI64>,
    pending: Gauge<i64, std::sync::atomic::AtomicI64>,
    errors: Family<ErrorLabels, Counter<u64, AtomicU64>>,
    recoveries: Family<ReasonLabels, Counter<u64, AtomicU64>>,
}

impl StoreMetrics {
    /// All values zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the metrics with `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "prescale_store_up",
            "1 while the store writes, 0 while it waits to be reopened",
            self.up.clone(),
        );
        registry.register(
            "prescale_store_pending_writes",
            "State records and history samples held in memory until the store can write them",
            self.pending.clone(),
        );
        registry.register(
            "prescale_store_errors",
            "Store operations that failed, by error",
            self.errors.clone(),
        );
        registry.register(
            "prescale_store_recoveries",
            "Store recoveries: a damaged file moved aside (corrupt), a reopen after an I/O error (reopen)",
            self.recoveries.clone(),
        );
    }

    /// Sets whether the store writes.
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// Sets the writes held in memory.
    pub fn set_pending(&self, n: usize) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// One failed operation; `error` is [`prescale_store::StoreError::metric_label`].
    pub fn error(&self, error: &'static str) {
        self.errors.get_or_create(&ErrorLabels { error }).inc();
    }

    /// One recovery.
    pub fn recovered(&self, why: Recovery) {
        self.recoveries
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }

    /// The recoveries counted for `why` (for tests and logs).
    pub fn recoveries(&self, why: Recovery) -> u64 {
        self.recoveries
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .get()
    }
}
