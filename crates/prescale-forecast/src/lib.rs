//! Load forecasting for prescale.
//!
//! - Pattern analysis: [`seasonality`] (daily, weekly and other periods with strength),
//!   [`trend`] (increasing / decreasing / stable / volatile), [`anomaly`] (robust spike
//!   detection and cleaning), [`calendar`] (business hours and holidays); [`analysis`]
//!   chains the first three into the one pipeline every report uses.
//! - Models behind one fit/predict interface ([`model::Model`], [`model::Fitted`]), one file
//!   each in [`models`]: seasonal naive, the last value, drift, Theta, Holt-Winters ETS,
//!   MSTL, Crane EHPA's DSP predictor, and `prescale`, the automatic model that picks per
//!   series by rolling-origin error.
//! - Calibrated quantiles from out-of-sample residuals: [`conformal`], with the noise floors of
//!   [`noise`] (count floors for counts only; no unit assumed otherwise).
//! - Accuracy metrics and the rolling-origin backtest: [`metrics`], [`backtest`].

pub mod analysis;
pub mod anomaly;
pub mod backtest;
pub use prescale_core::calendar;
pub mod conformal;
pub mod error;
pub mod metrics;
pub mod model;
pub mod models;
pub mod noise;
pub mod seasonality;
mod smoothing;
mod stats;
pub mod trend;

pub use error::{ForecastError, Result};
pub use model::{FitInput, Fitted, Model, predict};
