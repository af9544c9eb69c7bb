//! The autoscaling policies compared by the backtest, one file each.

pub mod knative_kpa;
pub mod static_peak;
