//! KEDA external scaler server of prescale.

pub mod grpc;
pub mod metadata;
pub mod proto;
pub mod registry;
pub mod status;
pub mod telemetry;
