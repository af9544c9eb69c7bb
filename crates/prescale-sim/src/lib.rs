//! Trace-replay simulator (in progress).

pub mod report;
