//! KEDA's side: the `externalscaler` protocol and the trigger's `scalerMetadata`.
//!
//! - [`proto`]: KEDA's `externalscaler.ExternalScaler` service, generated from
//!   `proto/externalscaler.proto` with protox (no system `protoc`).
//! - [`answer`]: a ScaledObject's key, its metric spec and the answer KEDA gets.
//! - [`metadata`]: the trigger's `scalerMetadata` as [`metadata::Settings`], with errors
//!   naming the key.

pub mod answer;
pub mod metadata;
pub mod proto;
