//! What survives a restart.
//!
//! - [`persist`]: the [`persist::StateStore`] the server writes through, its keys and series,
//!   and an in-memory store for tests.
//! - [`store`]: the embedded store (`prescale-store`, redb) behind it in production, reopened
//!   after I/O errors.
//! - [`recover`]: opening the file, moving a damaged one aside.
//! - [`metrics`]: the store's metrics.

pub mod metrics;
pub mod persist;
pub mod recover;
pub mod store;
