//! Trace-replay simulator of prescale.
//!
//! A trace of demand (the CSV format of `prescale forecast`) is replayed on a virtual cluster
//! with a virtual clock: pods with a cold start, a capacity per ready pod, a FIFO queue for
//! excess demand with a queueing-delay measurement, optional spot preemptions, and billing. The
//! policies (`static_peak`, `keda_reactive`, `knative_kpa`, `crane_dsp`, `prescale`) see only
//! what a real autoscaler would see at each moment.

pub mod autoscaler;
mod cluster;
pub mod engine;
pub mod policies;
mod queue;
pub mod report;
pub mod run;
pub mod tune;

pub use autoscaler::{Autoscaler, ForecastSample, Observation};
pub use cluster::ColdStart;
pub use engine::{HourScore, SimConfig, Spot, default_capacity, simulate, simulate_hourly};
