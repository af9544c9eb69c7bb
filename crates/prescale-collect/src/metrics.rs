//! The collector's own telemetry: requests made and errors by typed kind.
//!
//! Names and labels are fixed in `docs/metrics.md`:
//! `prescale_collector_requests_total{source}` and
//! `prescale_collector_errors_total{source,kind}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::error::{CollectError, SourceKind};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    source: &'static str,
    kind: &'static str,
}

/// Counters of collection requests and errors.
///
/// Cheap to clone (the families are reference-counted): give a clone to every source and
/// [`register`](Self::register) one of them once.
///
/// ```
/// use prescale_collect::{CollectorMetrics, SourceKind};
/// use prometheus_client::registry::Registry;
///
/// let metrics = CollectorMetrics::new();
/// let mut registry = Registry::default();
/// metrics.register(&mut registry);
/// metrics.request(SourceKind::Redis);
/// assert_eq!(metrics.requests(SourceKind::Redis), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CollectorMetrics {
    requests: Family<SourceLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
}

impl CollectorMetrics {
    /// Fresh counters, all zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers both families (`prescale_collector_requests_total`,
    /// `prescale_collector_errors_total`) in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "prescale_collector_requests",
            "Collection requests made, by source",
            self.requests.clone(),
        );
        registry.register(
            "prescale_collector_errors",
            "Collection errors, by source and typed kind",
            self.errors.clone(),
        );
    }

    /// Counts one request to `source`.
    pub fn request(&self, source: SourceKind) {
        self.requests
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .inc();
    }

    /// Counts `err` under its [`kind`](CollectError::kind) and logs it.
    pub fn error(&self, source: SourceKind, err: &CollectError) {
        tracing::warn!(source = source.as_str(), kind = err.kind(), error = %err, "Collection failed.");
        self.errors
            .get_or_create(&ErrorLabels {
                source: source.as_str(),
                kind: err.kind(),
            })
            .inc();
    }

    /// Requests counted so far for `source`.
    #[must_use]
    pub fn requests(&self, source: SourceKind) -> u64 {
        self.requests
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .get()
    }

    /// Errors counted so far for `source` and `kind`.
    #[must_use]
    pub fn errors(&self, source: SourceKind, kind: &'static str) -> u64 {
        self.errors
            .get_or_create(&ErrorLabels {
                source: source.as_str(),
                kind,
            })
            .get()
    }
}

/// Counts a request and, on failure, the error, around one source read.
pub(crate) fn observe<T>(
    metrics: Option<&CollectorMetrics>,
    source: SourceKind,
    result: Result<T, CollectError>,
) -> Result<T, CollectError> {
    if let Some(m) = metrics {
        m.request(source);
        if let Err(e) = &result {
            m.error(source, e);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn exposes_the_documented_names_and_labels() {
        let metrics = CollectorMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let clone = metrics.clone();
        let err = CollectError::Empty {
            origin: SourceKind::Prometheus,
            place: "up".into(),
        };
        let _ = observe(Some(&clone), SourceKind::Prometheus, Err::<(), _>(err));
        let _ = observe(Some(&clone), SourceKind::Prometheus, Ok(()));
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        assert!(
            text.contains("prescale_collector_requests_total{source=\"prometheus\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "prescale_collector_errors_total{source=\"prometheus\",kind=\"empty\"} 1"
            ),
            "{text}"
        );
        assert_eq!(metrics.errors(SourceKind::Prometheus, "empty"), 1);
        assert_eq!(metrics.errors(SourceKind::Prometheus, "timeout"), 0);
    }
}
