//! What the server serves: KEDA's gRPC service and the HTTP side.
//!
//! - [`grpc`]: KEDA's `externalscaler.ExternalScaler` service (`IsActive`, `StreamIsActive`,
//!   `GetMetricSpec`, `GetMetrics`, `StreamMetricSpec`), answered from the registry.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` and the JSON API.
//! - [`telemetry`]: the server's own metrics (the contract of `docs/metrics.md`).

pub mod grpc;
pub mod http;
pub mod telemetry;
