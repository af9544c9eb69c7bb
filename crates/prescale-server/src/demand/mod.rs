//! Where demand comes from.
//!
//! - [`source`]: the [`source::DemandSource`] a worker reads (live value and history), the
//!   in-memory source of tests and benchmarks, and sources on scaled time.
//! - [`prometheus`]: the production source, Prometheus through `prescale-collect`.

pub mod prometheus;
pub mod source;
