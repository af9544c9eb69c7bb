//! KEDA external scaler server of prescale.

pub mod accuracy;
pub mod analysis;
pub mod config;
pub mod cost;
pub mod grpc;
pub mod history;
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
