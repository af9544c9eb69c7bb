//! KEDA external scaler server of prescale (`prescale serve`).
//!
//! KEDA calls this server for every ScaledObject with a prescale trigger. The server keeps one
//! background worker per ScaledObject that reads the demand from Prometheus, forecasts it,
//! decides the replicas with the policy engine, and answers KEDA from the latest decision.
//!
//! Modules, by what they hold:
//!
//! - [`keda`]: KEDA's side: the `externalscaler` protocol ([`keda::proto`], generated from
//!   `proto/externalscaler.proto` with protox, no system `protoc`), the trigger's
//!   `scalerMetadata` ([`keda::metadata`], the contract `prescale generate` writes, with errors
//!   naming the key) and what KEDA is answered ([`keda::answer`]: `replicas × target`, so that
//!   the HPA's `ceil(value / target)` gives the decision).
//! - [`registry`]: registered ScaledObjects, their answers and what is known of each
//!   ([`registry::status`]).
//! - [`api`]: what the server serves: KEDA's gRPC service ([`api::grpc`]: `IsActive`,
//!   `StreamIsActive`, `GetMetricSpec`, `GetMetrics`, `StreamMetricSpec`), `/metrics`,
//!   `/healthz`, `/readyz` and the JSON API ([`api::http`]), and the server's metrics
//!   ([`api::telemetry`]).
//! - [`runtime`]: the background loop (decisions every 15 s, refreshes every 5 minutes,
//!   refits every 6 hours, on per-ScaledObject grids that make replicas of the server agree):
//!   one [`runtime::worker`] per ScaledObject, an I/O adapter around the decision loop of
//!   `prescale-control`, with [`history`], [`runtime::accuracy`], [`runtime::analysis`] and
//!   the safety rules.
//! - [`demand`]: where demand comes from ([`demand::source`], [`demand::prometheus`]).
//! - [`state`]: what survives a restart ([`state::persist`], [`state::store`]: the embedded
//!   store).
//! - [`cost`]: replica-hours and dollars (prescale-kube's cost tracker) and budgets.
//! - [`timebase`]: wall or scaled time.
//! - [`config`], [`tls`], [`server`]: the config file, TLS/mTLS, and the assembled server.
//!
//! See `docs/server.md` for the operator's view.
//!
//! ```
//! use std::collections::HashMap;
//! use chrono::DateTime;
//! use prescale_server::keda::metadata::Settings;
//! use prescale_server::registry::Answer;
//!
//! let metadata: HashMap<String, String> = [
//!     ("scalerAddress", "prescale.prescale-system.svc:6000"),
//!     ("serverAddress", "http://prometheus:9090"),
//!     ("query", "sum(rate(vllm:request_success_total[1m]))*60"),
//!     ("threshold", "120"),
//!     ("coldStart", "4m"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let settings = Settings::from_metadata(&metadata).expect("valid metadata");
//! assert_eq!(settings.cold_start_secs, 240);
//! // A decision of 5 replicas: KEDA gets 600 against a target of 120, and the HPA computes
//! // ceil(600 / 120) = 5.
//! let answer = Answer::new(&settings, 5, true, DateTime::UNIX_EPOCH);
//! assert_eq!((answer.metric_value, settings.target()), (600.0, 120.0));
//!
//! let mut bad = metadata.clone();
//! bad.insert("threshold".into(), "-1".into());
//! let err = Settings::from_metadata(&bad).unwrap_err();
//! assert!(err.to_string().starts_with("scalerMetadata.threshold:"));
//! ```

pub mod api;
pub mod config;
pub mod cost;
pub mod demand;
pub use prescale_control::history;
pub mod keda;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod state;
pub mod timebase;
pub mod tls;
