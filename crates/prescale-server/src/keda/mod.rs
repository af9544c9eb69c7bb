//! KEDA's side: the `externalscaler` protocol and the trigger's `scalerMetadata`.
//!
//! - [`proto`]: KEDA's `externalscaler.ExternalScaler` service, generated from
//!   `proto/externalscaler.proto` with protox (no system `protoc`).
//! - [`metadata`]: the trigger's `scalerMetadata` as [`metadata::Settings`], with errors
//!   naming the key.

pub mod metadata;
pub mod proto;
