//! Scaling policy engine of prescale: forecasts and live signals in, replica decisions out,
//! with the semantics of the KEDA and Kubernetes HPA machinery it runs on.
//!
//! Pure library code: no I/O, no clocks of its own (every function takes `now`).
//!
//! - [`hpa`]: Kubernetes HPA maths — the `AverageValue` replica proposal with its tolerance
//!   band, and the controller's normalization (stabilization windows, rate-limit policies,
//!   bounds), one sync at a time.
//! - [`keda`]: KEDA's activation loop — 0 ↔ 1 (or idle ↔ min) at polling ticks, with the
//!   cooldown before scaling to zero.
//! - [`formula`]: KEDA `scalingModifiers` formulas (an expr-lang subset) over trigger values.
//! - [`trigger`]: several signals into one proposal — max (KEDA's default), weighted score, or
//!   formula.
//! - [`spec`]: a service's [`ScalingSpec`] (capacity, bounds, lead time, window, quantile,
//!   scale-to-zero, calendar, behavior, cost), with defaults and validation.
//! - [`engine`]: the prescale policy, [`decide`]: proactive replicas for the forecast over
//!   `[now + lead, now + lead + window]`, never below the live need; safe scale-to-zero and
//!   predictive wake-up; budget cap.
//! - [`decision`]: the [`Decision`] and its [`Reason`], explainable in one line.
//! - [`metadata`]: the predictive trigger's `scalerMetadata` contract, read by the server and
//!   written by the generator.
//! - [`quantity`]: how KEDA turns the external scaler's floats into milli quantities (2.19
//!   truncates, 2.20 rounds), and the floats that read the same under both.
//! - [`cost`]: prices, the [`CostMeter`] shared by the simulator and the server, and the
//!   monthly [`BudgetState`].
//!
//! ```
//! use chrono::{DateTime, Duration};
//! use prescale_core::Forecast;
//! use prescale_policy::{decide, PolicyInput, Reason, ScalingSpec};
//!
//! let now = DateTime::from_timestamp(1_718_000_000, 0).expect("a valid time");
//! // Demand resumes in 5 minutes: 60 requests/min, after 5 idle minutes (point forecast only).
//! let forecast = Forecast {
//!     start: now,
//!     step_secs: 60,
//!     point: (0..20).map(|i| if i < 5 { 0.0 } else { 60.0 }).collect(),
//!     quantiles: vec![],
//! };
//! let spec = ScalingSpec::new(50.0); // 50 requests/min per replica, 180 s cold start
//! let input = PolicyInput {
//!     live_demand: Some(0.0),
//!     last_sample_at: Some(now - Duration::seconds(10)),
//!     zero_since: Some(now - Duration::hours(2)),
//!     forecast: Some(&forecast),
//!     ..PolicyInput::new(now, 0)
//! };
//! let decision = decide(&spec, &input);
//! // At zero replicas, the forecast resumption lies within the lead time and window: wake up.
//! assert_eq!(decision.reason, Reason::Wakeup);
//! assert_eq!(decision.desired_replicas, 2); // ceil(60 / 50)
//! assert!(decision.active);
//! println!("{decision}");
//! ```

pub mod cost;
pub mod decision;
pub mod engine;
mod error;
pub mod formula;
pub mod hpa;
pub mod keda;
pub mod metadata;
pub mod quantity;
pub mod spec;
pub mod trigger;
mod util;

pub use cost::{BudgetState, CostMeter, CostSpec, SpotSpec};
pub use decision::{Decision, ForecastNeed, Reason};
pub use engine::{NO_DEMAND_SHARE, PolicyInput, decide, decide_unexplained};
pub use error::PolicyError;
pub use formula::{Formula, FormulaError};
pub use hpa::{Behavior, Hpa, average_value_replicas};
pub use keda::KedaScaler;
pub use spec::ScalingSpec;
pub use trigger::{Combine, Combined, Signal, combine};
