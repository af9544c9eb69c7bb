//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use prescale_store::{Store, StoreConfig};

/// 2024-05-01T00:00:00Z, the start of the test data.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
}

/// `t0() + minutes`.
pub fn minute(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// A temporary directory and the path of a store file inside it.
pub fn temp_store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("history.redb");
    (dir, path)
}

/// A new store with `config` in a temporary directory.
pub fn open_temp(config: StoreConfig) -> (tempfile::TempDir, PathBuf, Store) {
    let (dir, path) = temp_store_path();
    let store = Store::open(&path, config).expect("a new store");
    (dir, path, store)
}
