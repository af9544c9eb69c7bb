//! What the server serves: KEDA's gRPC service and the HTTP side.
//!
//! - [`grpc`]: KEDA's `externalscaler.ExternalScaler` service (`IsActive`, `StreamIsActive`,
//!   `GetMetricSpec`, `GetMetrics`, `StreamMetricSpec`), answered from the registry.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` and the JSON API.
//! - [`page`]: the operators' page (`/` and `/services/{namespace}/{name}`), server-rendered
//!   HTML from the JSON API's status structs.
//! - [`telemetry`]: the server's own metrics (the contract of `docs/metrics.md`).

pub mod grpc;
pub mod http;
pub mod page;
pub mod telemetry;
