//! KEDA external scaler server of prescale.

pub mod accuracy;
pub mod analysis;
pub mod grpc;
pub mod history;
pub mod metadata;
pub mod persist;
pub mod proto;
pub mod registry;
pub mod runtime;
pub mod source;
pub mod status;
pub mod telemetry;
pub mod timebase;
pub mod worker;
