//! KEDA external scaler server of prescale (`prescale serve`).
//!
//! KEDA calls this server for every ScaledObject with a prescale trigger. The server keeps one
//! background worker per ScaledObject that reads the demand from Prometheus, forecasts it,
//! decides the replicas with the policy engine, and answers KEDA from the latest decision.
//!
//! - [`proto`], [`grpc`]: KEDA's `externalscaler.ExternalScaler` service (`IsActive`,
//!   `StreamIsActive`, `GetMetricSpec`, `GetMetrics`, `StreamMetricSpec`), generated from
//!   `proto/externalscaler.proto` with protox (no system `protoc`).
//! - [`metadata`]: the trigger's `scalerMetadata`, with errors naming the key.
//! - [`registry`]: registered ScaledObjects and what KEDA is answered ([`registry::Answer`]:
//!   `replicas × target`, so that the HPA's `ceil(value / target)` gives the decision).
//! - [`runtime`], [`worker`]: the background loop (decisions every 15 s, refreshes every
//!   5 minutes, refits every 6 hours, on per-ScaledObject grids that make replicas of the
//!   server agree), with [`history`], [`accuracy`], [`analysis`] and the safety rules.
//! - [`source`], [`prometheus`]: where demand comes from; [`timebase`]: wall or scaled time.
//! - [`persist`], [`store`]: what survives a restart (the embedded store).
//! - [`http`], [`telemetry`], [`status`]: `/metrics`, `/healthz`, `/readyz` and the JSON API.
//! - [`cost`]: replica-hours and dollars (prescale-kube's cost tracker) and budgets.
//! - [`config`], [`tls`], [`server`]: the config file, TLS/mTLS, and the assembled server.
//!
//! See `docs/server.md` for the operator's view.
//!
//! ```
//! use std::collections::HashMap;
//! use chrono::DateTime;
//! use prescale_server::metadata::Settings;
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

pub mod accuracy;
pub mod analysis;
pub mod config;
pub mod cost;
pub mod grpc;
pub use prescale_control::history;
pub mod http;
pub mod metadata;
pub mod persist;
pub mod prometheus;
pub mod proto;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod source;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod timebase;
pub mod tls;
pub mod worker;
