//! What survives a restart.
//!
//! - [`persist`]: the [`persist::StateStore`] the server writes through, its keys and series,
//!   and an in-memory store for tests.
//! - [`store`]: the embedded store (`prescale-store`, redb) behind it in production.

pub mod persist;
pub mod store;
