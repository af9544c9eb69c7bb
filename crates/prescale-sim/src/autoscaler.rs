//! The interface between the simulator and an autoscaling policy.

use chrono::{DateTime, Utc};
use prescale_forecast::model::FitInput;

/// What an autoscaler can see at a tick: exactly what a real one would see at that moment.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Seconds since the start of the simulation.
    pub elapsed_secs: f64,
    /// The simulation tick in seconds.
    pub tick_secs: f64,
    /// The trace steps that have completed before `now` (values per step, as in the trace).
    pub history: &'a [f64],
    /// Start of the first history step.
    pub history_start: DateTime<Utc>,
    /// Trace step in seconds.
    pub step_secs: i64,
    /// Arrival rate per minute of each past tick, oldest first (the last hour at most): what a
    /// metrics pipeline scraping the service would hold.
    pub recent_rates: &'a [f64],
    /// Units waiting in the queue.
    pub queue: f64,
    /// Ready pods.
    pub ready: u32,
    /// Pods requested (ready or starting).
    pub total: u32,
    /// Demand units one ready pod serves per minute.
    pub capacity_per_min: f64,
    /// Whether this month's spend, projected at the current burn, stays within the monthly
    /// budget (always `Ok` without one).
    pub budget: prescale_policy::BudgetState,
}

impl<'a> Observation<'a> {
    /// The last `max_secs` of completed history as a model's fit input for `horizon` steps.
    pub fn recent_history(&self, max_secs: f64, horizon: usize) -> FitInput<'a> {
        let n = self.history.len();
        let from = n.saturating_sub((max_secs / self.step_secs as f64) as usize);
        FitInput {
            values: &self.history[from..],
            start: self.history_start + chrono::Duration::seconds(self.step_secs * from as i64),
            step_secs: self.step_secs,
            horizon,
        }
    }

    /// The mean arrival rate per minute over the last `secs` seconds (at least one tick), like a
    /// PromQL `rate(...[window])`; 0 before any tick.
    pub fn rate_over(&self, secs: f64) -> f64 {
        let n = ((secs / self.tick_secs).round() as usize).clamp(1, self.recent_rates.len().max(1));
        let tail = &self.recent_rates[self.recent_rates.len().saturating_sub(n)..];
        if tail.is_empty() {
            0.0
        } else {
            tail.iter().sum::<f64>() / tail.len() as f64
        }
    }
}

/// A forecast an autoscaler used, for the report's forecast band (per minute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastSample {
    /// Median forecast of the demand rate per minute for the window the policy provisions for.
    pub p50: f64,
    /// The upper forecast the policy provisions for.
    pub upper: f64,
}

/// An autoscaling policy in the simulator.
pub trait Autoscaler {
    /// The policy's name in reports.
    fn name(&self) -> &'static str;

    /// The desired number of pods at this tick (the simulator applies it at once; the policy
    /// implements its own polling interval, stabilization and limits).
    fn desired(&mut self, obs: &Observation<'_>) -> u32;

    /// The forecast the policy last acted on, if it forecasts.
    fn forecast(&self) -> Option<ForecastSample> {
        None
    }
}
