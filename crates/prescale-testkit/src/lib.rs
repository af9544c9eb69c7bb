//! Test support for prescale: real services on loopback, and known data to read back.
//!
//! Integration tests of the collector, the CLI and the scaler server use real components, not
//! mocks. This crate (not published) starts and fills them:
//!
//! - [`TestPrometheus`]: a real `prometheus` process per test, on a free port with its own
//!   temporary config and data directory, scraping the targets you give it, optionally with
//!   history backfilled by `promtool` ([`PrometheusSetup::backfill`]); it can be stopped and
//!   restarted (fault tests) and is killed on drop. Starts in about 0.1 s.
//! - [`LoadGenerator`]: an HTTP server that exposes vLLM-named metrics
//!   (`vllm:request_success_total`, `vllm:num_requests_waiting`,
//!   `vllm:e2e_request_latency_seconds` histogram, ...) following a known [`Shape`] — a
//!   constant rate, steps, or a replayed trace at a chosen speed — so that assertions can be
//!   exact. Extra series (DCGM, training) and faults can be injected.
//! - Redis and RabbitMQ are started once per run by `scripts/test-services.sh start` (a few
//!   seconds for RabbitMQ); [`redis_url`], [`rabbitmq_url`] and [`amqp_url`] find them, and
//!   [`redis_command`], [`rabbitmq_declare`], [`rabbitmq_publish`] and
//!   [`rabbitmq_wait_depth`] put known data in. Use [`unique_name`] for queues and keys: the
//!   services are shared by all tests of a run.
//!
//! Every `require`/`*_url` helper follows the project rule for real-service tests: when the
//! service is absent the test prints `skipping: ...` to stderr and returns early, except when
//! the `CI` environment variable is set: there it panics, so that CI cannot skip silently.
//!
//! ```no_run
//! use std::time::Duration;
//! use prescale_testkit::*;
//!
//! #[test]
//! fn reads_the_queue_depth() {
//!     if !require_prometheus() {
//!         return;
//!     }
//!     let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(5.0))).unwrap();
//!     let prom = TestPrometheus::start(
//!         PrometheusSetup::new().target(ScrapeTarget::new("vllm", load.address())),
//!     )
//!     .unwrap();
//!     // 5 req/s with 0.5 s of queueing: vllm:num_requests_waiting is 2.5.
//!     prom.wait_for("sum(vllm:num_requests_waiting)", Duration::from_secs(20), |v| v == [2.5])
//!         .unwrap();
//! }
//! ```

pub mod chromium;
pub mod decisions;
pub mod http;
mod loadgen;
mod pki;
mod prometheus;
mod services;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

pub use loadgen::{E2E_BUCKETS, Fault, LoadGenerator, LoadProfile, Shape, TTFT_BUCKETS};
pub use pki::TestPki;
pub use prometheus::{
    BackfillSeries, Labels, PrometheusSetup, ScrapeTarget, TestPrometheus, free_port, openmetrics,
};
pub use services::{
    AMQP_URL_VAR, RABBITMQ_URL_VAR, REDIS_URL_VAR, amqp_url, env_file, rabbitmq_declare,
    rabbitmq_delete, rabbitmq_publish, rabbitmq_queue_json, rabbitmq_url, rabbitmq_wait_depth,
    redis_command, redis_url, service_var, unique_name,
};

/// What went wrong while setting up a test service.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A process or server could not be started.
    #[error("cannot start {what}: {reason}")]
    Start {
        /// What was being started.
        what: String,
        /// Why it failed (with the log tail where there is one).
        reason: String,
    },
    /// An HTTP exchange failed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL (without password).
        url: String,
        /// The reason.
        reason: String,
    },
    /// A service refused or failed a setup operation.
    #[error("{what}: {reason}")]
    Service {
        /// The operation or service.
        what: String,
        /// The reason.
        reason: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
}

/// Whether Prometheus (and promtool) are installed; when not, prints a skip message, or
/// panics when `CI` is set.
#[must_use]
pub fn require_prometheus() -> bool {
    if find_binary("prometheus").is_some() && find_binary("promtool").is_some() {
        return true;
    }
    skip_or_fail(
        "prometheus is not installed (Debian package `prometheus`; \
         scripts/install-test-deps.sh installs it)",
    );
    false
}

/// The path of a shared trace (`../shared/traces/{name}` beside the checkout), or `None`
/// after [`skip_or_fail`] when it is absent: tests that need it fail, not skip, when `CI` is
/// set.
pub fn shared_trace(name: &str) -> Option<PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/traces")
        .join(name);
    if path.is_file() {
        Some(path)
    } else {
        skip_or_fail(&format!(
            "shared trace {name} not found (../shared/traces beside the checkout)"
        ));
        None
    }
}

/// Prints `skipping: {why}` past the test harness' capture, or panics when `CI` is set.
pub fn skip_or_fail(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}, and CI is set: service tests must run in CI"
    );
    let _ = writeln!(std::io::stderr(), "skipping: {why}");
}

/// The path of an executable found on `PATH` (or in `/usr/bin`, `/usr/sbin`).
#[must_use]
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
