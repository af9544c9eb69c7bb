//! ML metrics collection for prescale.
//!
//! prescale must see what the services do — inference, training, GPU and queue metrics — from
//! the places where they really live. Each source is a module behind the one [`Source`] trait:
//!
//! - [`prometheus`]: the Prometheus HTTP API, instant `query` and chunked `query_range` for
//!   history backfill, with timeouts, retries, basic/bearer auth and TLS (rustls).
//! - [`scrape`]: a target's `/metrics` page (vLLM, DCGM exporter) in the text exposition
//!   format, with histograms, when no Prometheus is around.
//! - [`rabbitmq`]: queue depth and publish/deliver rates from the management HTTP API.
//! - [`redis`]: list lengths, with the priority sub-lists of Celery's Redis broker.
//! - `nvml` (cargo feature `nvml`): GPU utilization, memory and temperature straight from
//!   the NVIDIA driver, under the DCGM exporter's metric names.
//!
//! [`record`] writes what sources without history of their own read (queues, scrapes) to the
//! embedded history store, one durable transaction per read, so a restart loses nothing.
//!
//! [`ml`] names the ML metrics (request rate, P50/P95/P99 latency, TTFT, tokens/s, queue,
//! KV-cache, GPU, training progress, cost per request and per 1k tokens) with their units,
//! renders their PromQL per service, and reads a workload's summary from Prometheus or from
//! two scrapes.
//!
//! Every failure is a typed [`CollectError`] whose [`kind`](CollectError::kind) labels
//! `prescale_collector_errors_total{source,kind}` (see [`CollectorMetrics`]); nothing panics on
//! what a source sends. Values are kept as read: NaN and infinities are reported, not dropped,
//! and missing steps of a range are reported as [`Gap`]s, never filled with zeros.

pub mod error;
mod http;
pub mod metrics;
pub mod ml;
#[cfg(feature = "nvml")]
pub mod nvml;
pub mod prometheus;
pub mod rabbitmq;
pub mod record;
pub mod redis;
pub mod scrape;
pub mod secret;
pub mod series;

use std::future::Future;

pub use error::{CollectError, Result, SourceKind};
pub use http::{Auth, MAX_BODY_BYTES, TlsOptions, install_crypto_provider};
pub use metrics::CollectorMetrics;
pub use secret::{FileStamp, SecretFile};
pub use series::{Gap, Labels, LabelsDisplay, Sample, Series};

/// A place metrics are read from.
///
/// Implemented by every source; `collect` reads the current values once.
pub trait Source {
    /// Which kind of source this is (the `source` label of the collector's metrics).
    fn kind(&self) -> SourceKind;

    /// Where the values come from, for messages (a URL, a queue, a key).
    fn describe(&self) -> String;

    /// Reads the current values, one series per labelled value.
    fn collect(&self) -> impl Future<Output = Result<Vec<Series>>> + Send;
}
