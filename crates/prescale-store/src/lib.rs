//! Embedded, crash-safe history store of prescale.
//!
//! Samples from sources without a history of their own (RabbitMQ, Redis, scrapes) and the
//! history `prescale serve` backfills from Prometheus are kept in one file, so that a restart
//! loses nothing; so are the server's small state records (registered ScaledObjects, latest
//! decisions). The file is a [redb](https://docs.rs/redb) database: pure Rust, ACID,
//! copy-on-write, crash-safe. Every write is one transaction committed with `fsync` before the
//! call returns.
//!
//! ## Model
//!
//! - A **series** is named by a string. Its samples `(timestamp, value)` are aggregated into
//!   **buckets** of [`StoreConfig::resolution`] (default 1 minute, aligned to the Unix epoch).
//!   A bucket keeps the count, sum, min, max and last value of its samples; reads return one
//!   [`Aggregation`] of them (the mean by default) stamped with the bucket's start. Buckets
//!   without samples are absent: the store never fills gaps.
//! - **Tiers**: optional coarser buckets (default: 5 minutes kept 366 days) computed from the
//!   base buckets by [`Store::rollup`], which [`Store::enforce_retention`] runs first.
//! - **Retention**: [`Store::enforce_retention`] removes buckets older than each tier's
//!   retention (default 35 days for the base tier).
//! - **State records**: [`Store::put_state`] and friends keep small `key → bytes` values.
//!
//! ## Layout
//!
//! Buckets are stored by **chunks** of 60 consecutive buckets of one series (1 hour at 1-minute
//! resolution), keyed by `series id << 32 | chunk index`, so that a series' chunks are
//! contiguous and in time order: reading 28 days of one series reads 672 consecutive entries.
//! A chunk holds a 64-bit presence bitmap and, per present bucket, 16 bytes for a bucket of
//! one sample or 40 bytes for more (count, offset of the last sample, sum, min, max, last).
//! Appending reads, updates and rewrites each touched chunk once per transaction; batch
//! samples ([`Store::append_batch`]) to spread the `fsync` over many.
//!
//! ## Faults
//!
//! - A damaged file ([`StoreError::is_damaged`]: truncated, overwritten, not a store) fails
//!   [`Store::open`]; [`Store::verify`] reads every page against its checksum, so damage is
//!   found at once rather than by the read that meets it.
//! - After an I/O error (a full disk) the engine fails every later write
//!   ([`StoreError::needs_reopen`]) until the `Store` is dropped and the file opened again;
//!   what was committed before is intact.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use prescale_store::{Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let store = Store::open(&dir.path().join("history.redb"), StoreConfig::default())
//!     .expect("a new store");
//! let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
//! let samples: Vec<_> = (0..8)
//!     .map(|i| (t0 + chrono::Duration::seconds(15 * i), i as f64))
//!     .collect();
//! // Four 15-second samples per 1-minute bucket.
//! assert_eq!(store.append("rabbitmq/orders", &samples).expect("stored"), 8);
//! let history = store
//!     .range("rabbitmq/orders", t0, t0 + chrono::Duration::minutes(5))
//!     .expect("readable");
//! assert_eq!(history, vec![(t0, 1.5), (t0 + chrono::Duration::minutes(1), 5.5)]);
//! assert_eq!(
//!     store.latest("rabbitmq/orders").expect("readable"),
//!     Some((t0 + chrono::Duration::seconds(105), 7.0))
//! );
//! store.put_state("scaledobject/default/chat", br#"{"replicas":3}"#).expect("stored");
//! ```

mod chunk;
mod config;
mod error;
mod grid;
mod read;
mod retention;
mod state;
mod store;
mod write;

pub use config::{StoreConfig, Tier};
pub use error::{Result, StoreError};
pub use read::{Aggregation, Bucket};
pub use retention::StoreStats;
pub use store::Store;
pub use write::WriteBatch;

/// One sample: its timestamp and value.
pub type Sample = (chrono::DateTime<chrono::Utc>, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }
}
