//! What the server's integration tests share: the synthetic workload as a source, loopback
//! addresses, and a ScaledObject with a fixed headroom.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_server::demand::source::MemorySource;
use prescale_server::keda::proto::ScaledObjectRef;
use prescale_server::server::ServerOptions;

/// The demand query of [`object`], answered by [`source`].
pub const QUERY: &str = "sum(rate(vllm:request_success_total[1m]))*60";

/// Four days of the synthetic workload ending now, one value per minute, under [`QUERY`].
pub fn source() -> Arc<MemorySource> {
    let now = Utc::now().timestamp();
    let start = DateTime::from_timestamp(now - now % 60 - 4 * 86_400, 0).unwrap();
    let s = generate(&SyntheticSpec {
        start,
        days: 4.0 + 10.0 / 1440.0,
        ..SyntheticSpec::default()
    });
    let m = MemorySource::new();
    m.set(QUERY, s.start(), 60, s.values().to_vec());
    Arc::new(m)
}

/// Server options on free loopback ports.
pub fn loopback() -> ServerOptions {
    ServerOptions {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..ServerOptions::default()
    }
}

/// Trigger metadata on [`QUERY`] with a fixed headroom: these tests are about the service,
/// not SLO mode's tuning.
pub fn metadata() -> HashMap<String, String> {
    [
        ("scalerAddress", "prescale:6000"),
        ("serverAddress", "http://prometheus:9090"),
        ("query", QUERY),
        ("threshold", "40"),
        ("history", "3d"),
        ("quantile", "0.9"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The ScaledObject `inference/<name>` with [`metadata`].
pub fn object(name: &str) -> ScaledObjectRef {
    ScaledObjectRef {
        name: name.into(),
        namespace: "inference".into(),
        scaler_metadata: metadata(),
    }
}
