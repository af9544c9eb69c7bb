//! Kubernetes side of prescale: how many replicas really run, and what they cost.
//!
//! - [`ReplicaSource`]: reads the running replicas of a [`Workload`] — a Deployment or
//!   StatefulSet (`status.replicas`, `readyReplicas`), a ScaledObject through the HPA KEDA made
//!   for it (`keda-hpa-<name>`), or a ScaledJob through its Jobs. [`KubeReplicaSource`] asks the
//!   Kubernetes API (kube-rs, rustls); [`StaticReplicas`] answers what it was told.
//! - [`cost`]: [`CostConfig`](cost::CostConfig) prices replicas per GPU type, on demand and on
//!   spot, with a monthly budget; [`CostTracker`](cost::CostTracker) accumulates replica-hours,
//!   GPU-hours and dollars per service with `prescale_policy::CostMeter` (the backtest's
//!   code), exports the cost metrics of docs/metrics.md into a `prometheus-client` registry
//!   and gives a serialisable snapshot for `/api/v1/cost`.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{DateTime, Duration};
//! use prescale_core::ManualClock;
//! use prescale_kube::cost::{CostConfig, CostTracker};
//!
//! let config: CostConfig = yaml_serde::from_str(
//!     "gpu_types: {a100: {price_per_hour: 3.0, spot_discount: 0.5}}\n\
//!      defaults: {gpu_type: a100, spot_share: 0.5}",
//! )
//! .expect("cost settings");
//! let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_700_000_000, 0).unwrap()));
//! let mut tracker = CostTracker::new(clock.clone());
//! tracker.set_service("inference", "chat", config.resolve("inference/chat")?, 8);
//! tracker.observe("inference", "chat", 4)?; // 2 on demand, 2 on spot from now on
//! clock.advance(Duration::hours(1));
//! tracker.observe("inference", "chat", 4)?;
//! let chat = &tracker.snapshot().services[0];
//! assert_eq!(chat.replica_hours.on_demand, 2.0);
//! assert_eq!(chat.total_cost_usd, 2.0 * 3.0 + 2.0 * 1.5);
//! assert_eq!(chat.gpu_hours_saved, 8.0 - 4.0);
//! # Ok::<(), prescale_kube::Error>(())
//! ```

pub mod cost;
mod error;
mod kube_source;
mod replicas;

pub use error::{Error, Result};
pub use kube_source::{KubeReplicaSource, SCALED_JOB_LABEL};
pub use replicas::{
    ReplicaFuture, ReplicaSource, Replicas, StaticReplicas, Workload, WorkloadKind,
};
