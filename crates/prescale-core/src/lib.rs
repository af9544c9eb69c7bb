//! Shared vocabulary of prescale.
//!
//! This crate holds the types every other prescale crate speaks in, and nothing that performs
//! I/O on its own:
//!
//! - [`Series`] and [`Sample`]: a regular (fixed-step) time series of non-negative, finite values,
//!   with the positions that were filled in because the source had gaps.
//! - [`Forecast`]: a point forecast plus any number of quantile forecasts (P50, P90, ...).
//! - [`Clock`]: injected time, so that policies and simulations can run on a virtual clock.
//! - [`input`]: parsers that turn `timestamp,value` CSV text and Prometheus `query_range` JSON
//!   into a [`Series`], with errors that name the source, the line and the reason.
//! - [`synth`]: a deterministic synthetic load generator for demos and tests.
//!
//! ```
//! use prescale_core::input::{parse_csv, ParseOptions};
//!
//! let text = "timestamp,value\n\
//!             2024-01-01T00:00:00Z,10\n\
//!             2024-01-01T00:01:00Z,12\n\
//!             2024-01-01T00:03:00Z,9\n";
//! let series = parse_csv(text.as_bytes(), "example.csv", &ParseOptions::default())
//!     .expect("a valid trace");
//! assert_eq!(series.step_secs(), 60);
//! // The missing 00:02 step of a count series is filled with 0 and flagged.
//! assert_eq!(series.values(), &[10.0, 12.0, 0.0, 9.0]);
//! assert_eq!(series.filled(), &[2]);
//! ```

pub mod calendar;
pub mod clock;
pub mod forecast;
pub mod input;
pub mod series;
pub mod stats;
pub mod synth;

pub use clock::{Clock, ManualClock, SystemClock};
pub use forecast::{Forecast, QuantileForecast};
pub use series::{Sample, Series, SeriesError, ValueKind};
