//! The one decision loop of prescale, shared by `prescale serve` and `prescale backtest`.
//!
//! A [`Controller`] owns everything one service's loop decides: the decision, refresh and
//! refit grids ([`grid`]), the one-minute [`history`], the forecast model's lifecycle (fit at
//! refit points, incremental updates in between, forecasts one cold start plus one window
//! ahead), the series' own unit, the live need with its backlog term, the idle tracking for
//! scale-to-zero, the live anomaly flag ([`anomaly`]), the business calendar and the policy
//! ([`prescale_policy::decide`]). It does no I/O and reads no clock: the caller passes the
//! time and what it read. The server's worker is one caller (Prometheus and the Kubernetes API
//! in, KEDA's answer out); the simulator's `prescale` policy is the other (its virtual
//! Prometheus in, KEDA and the HPA of the simulated cluster out). A test replays a real trace
//! through both and checks that every decision is the same.
//!
//! **No unit assumed.** Demand may be in requests per second, per minute or anything else:
//! the model sees the history in the series' own unit (its mean level over the fit window is
//! [`REFERENCE_LEVEL`]), the policy's thresholds are shares of one replica's capacity, and the
//! backlog term converts a queue (a count) with the rate's declared period
//! ([`LoopConfig::rate_period_secs`]). Multiplying the demand and the threshold by the same
//! factor leaves every replica decision unchanged (property-tested).
//!
//! ```
//! use chrono::{DateTime, Duration};
//! use prescale_control::{Controller, Fill, Grids, LiveSignals, LoopConfig};
//! use prescale_policy::ScalingSpec;
//!
//! let config = LoopConfig::default();
//! let grids = Grids::aligned(config.periods);
//! let mut ctl = Controller::new(ScalingSpec::new(10.0), config, grids);
//! let start = DateTime::from_timestamp(1_700_000_000 / 300 * 300, 0).expect("a valid time");
//! // Two hours of 35 units per minute, read as a Prometheus range query would give them.
//! let now = start + Duration::hours(2);
//! let at = ctl.refresh_due(now).expect("the first refresh is due");
//! let plan = ctl.fetch_plan(at).expect("history to read");
//! let points: Vec<_> = (0..120).map(|m| (start + Duration::minutes(m), 35.0)).collect();
//! ctl.ingest(&plan, &points, Fill::Previous);
//! let job = ctl.fit_job(at);
//! ctl.finish_refresh(at, job.run());
//! let d = ctl.decide(now, &LiveSignals::demand(Some(35.0), ctl.live_at(now)));
//! assert_eq!(d.desired_replicas, 4); // ceil(35 / 10), the forecast needs no more
//! assert!(d.active);
//! ```

pub mod anomaly;
pub mod controller;
pub mod fit;
pub mod grid;
pub mod history;

pub use controller::{
    Controller, FetchPlan, FitJob, FitOutcome, LiveSignals, LoopConfig, REFERENCE_LEVEL,
    RefreshRecord,
};
pub use grid::{Grids, Periods};
pub use history::{Fill, History, Point};
