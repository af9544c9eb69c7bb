//! The one error type of the collector.
//!
//! Every failure to read a source maps onto a [`CollectError`] variant whose [`kind`]
//! (`unreachable`, `timeout`, `http_5xx`, ...) is stable: it is the `kind` label of
//! `prescale_collector_errors_total` and what callers match on to decide whether to retry,
//! fall back or alert. The message of each variant names the place (URL, query, queue, JSON path
//! or line) and the reason, on one line.
//!
//! [`kind`]: CollectError::kind

use std::fmt;
use std::time::Duration;

/// The sources the collector reads, used as the `source` label of the collector's own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// The Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`).
    Prometheus,
    /// A target's `/metrics` page in the Prometheus exposition format (vLLM, DCGM exporter).
    Scrape,
    /// The RabbitMQ management HTTP API.
    RabbitMq,
    /// Redis lists (Celery's Redis broker).
    Redis,
    /// The NVIDIA driver (NVML).
    Nvml,
}

impl SourceKind {
    /// The label value: `prometheus`, `scrape`, `rabbitmq`, `redis` or `nvml`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Scrape => "scrape",
            Self::RabbitMq => "rabbitmq",
            Self::Redis => "redis",
            Self::Nvml => "nvml",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why reading a source failed.
///
/// `origin` fields name the source kind; `place` fields say where the problem is (a URL, a
/// query, a queue, a JSON path such as `data.result[2].values[17][1]`, or `line 12`).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The configuration is unusable (bad URL, unreadable certificate, zero step, ...).
    #[error("{place}: {reason}")]
    Config {
        /// The setting, e.g. `prometheus url` or `tls.ca_cert`.
        place: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be made (refused, DNS failure, TLS handshake failure, reset).
    #[error("{origin} at {place} is unreachable: {reason}")]
    Unreachable {
        /// The source.
        origin: SourceKind,
        /// The URL or address.
        place: String,
        /// The underlying reason.
        reason: String,
    },
    /// The source did not answer within the timeout.
    #[error("{origin} at {place} did not answer within {after:?}")]
    Timeout {
        /// The source.
        origin: SourceKind,
        /// The URL or address.
        place: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The source answered with a 5xx status.
    #[error("{origin} at {place} answered HTTP {status}: {body}")]
    Http5xx {
        /// The source.
        origin: SourceKind,
        /// The URL.
        place: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The credentials were refused (HTTP 401/403, Redis `NOAUTH`/`WRONGPASS`).
    #[error("{origin} at {place} refused the credentials: {reason}")]
    Unauthorized {
        /// The source.
        origin: SourceKind,
        /// The URL or address.
        place: String,
        /// The status or server message.
        reason: String,
    },
    /// The thing asked for does not exist (HTTP 404, e.g. an unknown RabbitMQ queue or vhost).
    #[error("{origin} at {place}: not found: {reason}")]
    NotFound {
        /// The source.
        origin: SourceKind,
        /// The URL or object.
        place: String,
        /// The server's message.
        reason: String,
    },
    /// Another unexpected 4xx status.
    #[error("{origin} at {place} answered HTTP {status}: {body}")]
    Http4xx {
        /// The source.
        origin: SourceKind,
        /// The URL.
        place: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The answer could not be understood (malformed JSON, wrong shape, bad exposition line).
    #[error("{origin}: {place}: {reason}")]
    BadResponse {
        /// The source.
        origin: SourceKind,
        /// Where in the answer, e.g. `data.result[0].values[3][1]` or `line 12`.
        place: String,
        /// What is wrong.
        reason: String,
    },
    /// Prometheus rejected the query (`"status": "error"`, e.g. a PromQL syntax error).
    #[error("prometheus rejected `{query}`: {error_type}: {message}")]
    QueryError {
        /// The PromQL expression.
        query: String,
        /// Prometheus' `errorType` (`bad_data`, `execution`, `timeout`, ...).
        error_type: String,
        /// Prometheus' `error` message.
        message: String,
    },
    /// The query matched no series (or a range without any sample).
    #[error("{origin}: `{place}` returned no data")]
    Empty {
        /// The source.
        origin: SourceKind,
        /// The query, metric or key.
        place: String,
    },
    /// A sample was NaN or infinite where a finite value is required.
    #[error("{origin}: {place}: value {value} is not finite")]
    NotFinite {
        /// The source.
        origin: SourceKind,
        /// The series and timestamp.
        place: String,
        /// The value (`NaN`, `+Inf` or `-Inf`).
        value: f64,
    },
    /// The newest sample is older than allowed.
    #[error("{origin}: {place}: newest sample is {age:?} old (allowed {max_age:?})")]
    Stale {
        /// The source.
        origin: SourceKind,
        /// The series.
        place: String,
        /// Age of the newest sample.
        age: Duration,
        /// The allowed age.
        max_age: Duration,
    },
    /// A Redis error that is not about connection or credentials (e.g. `WRONGTYPE`).
    #[error("redis at {place}: {reason}")]
    Redis {
        /// The address and key.
        place: String,
        /// The server's message.
        reason: String,
    },
}

impl CollectError {
    /// The stable kind label: `config`, `unreachable`, `timeout`, `http_5xx`, `unauthorized`,
    /// `not_found`, `http_4xx`, `bad_response`, `query_error`, `empty`, `not_finite`, `stale` or
    /// `redis`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Http5xx { .. } => "http_5xx",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound { .. } => "not_found",
            Self::Http4xx { .. } => "http_4xx",
            Self::BadResponse { .. } => "bad_response",
            Self::QueryError { .. } => "query_error",
            Self::Empty { .. } => "empty",
            Self::NotFinite { .. } => "not_finite",
            Self::Stale { .. } => "stale",
            Self::Redis { .. } => "redis",
        }
    }

    /// Whether trying again may help: unreachable, timeout and 5xx answers.
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Http5xx { .. }
        )
    }

    /// A [`CollectError::Config`] error.
    pub(crate) fn config(place: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            place: place.into(),
            reason: reason.into(),
        }
    }

    /// A [`CollectError::BadResponse`] error.
    pub(crate) fn bad(
        origin: SourceKind,
        place: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::BadResponse {
            origin,
            place: place.into(),
            reason: reason.into(),
        }
    }
}

/// Results of the collector.
pub type Result<T, E = CollectError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable_labels() {
        let cases = [
            (CollectError::config("url", "empty"), "config"),
            (
                CollectError::Timeout {
                    origin: SourceKind::Prometheus,
                    place: "http://x".into(),
                    after: Duration::from_secs(1),
                },
                "timeout",
            ),
            (
                CollectError::bad(SourceKind::Scrape, "line 3", "no value"),
                "bad_response",
            ),
            (
                CollectError::Empty {
                    origin: SourceKind::Prometheus,
                    place: "up".into(),
                },
                "empty",
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind, "{err}");
        }
    }

    #[test]
    fn messages_name_the_place_on_one_line() {
        let err = CollectError::Http5xx {
            origin: SourceKind::Prometheus,
            place: "http://127.0.0.1:9090/api/v1/query".into(),
            status: 503,
            body: "overloaded".into(),
        };
        let text = err.to_string();
        assert_eq!(
            text,
            "prometheus at http://127.0.0.1:9090/api/v1/query answered HTTP 503: overloaded"
        );
        assert!(err.is_transient());
        assert!(!CollectError::config("x", "y").is_transient());
    }
}
