//! Cost tracking of `prescale serve`: [`CostConfig`] (prices per GPU type, spot share, budget)
//! resolved per service into the policy crate's `CostSpec`, and [`CostTracker`], which turns
//! running replica counts into replica-hours, GPU-hours and dollars with the policy crate's
//! `CostMeter` — the code the backtest bills with.

mod config;
mod metrics;
mod tracker;

pub use config::{CostConfig, GpuPrice, ResolvedCost, ServiceCost};
pub use tracker::{ByCapacity, CostSnapshot, CostTotals, CostTracker, ServiceCostSnapshot};
