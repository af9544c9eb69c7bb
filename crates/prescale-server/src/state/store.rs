//! The embedded store (`prescale-store`, redb) as the server's [`StateStore`].

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prescale_store::{Store, StoreConfig};

use crate::demand::source::Point;
use crate::state::persist::{PersistError, StateStore};

/// How long history is kept: the longest `history` (90 days) plus margin.
pub const RETENTION: Duration = Duration::from_secs(92 * 86_400);

/// A `prescale-store` file.
#[derive(Debug)]
pub struct EmbeddedStore(Store);

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`: one-minute buckets, no coarser tiers, kept
    /// [`RETENTION`].
    pub fn open(path: &Path) -> Result<Self, PersistError> {
        let config = StoreConfig {
            retention: RETENTION,
            ..StoreConfig::without_tiers()
        };
        Store::open(path, config)
            .map(Self)
            .map_err(|e| PersistError(format!("{}: {e}", path.display())))
    }

    /// Drops history older than the retention before `now`.
    pub fn enforce_retention(&self, now: DateTime<Utc>) -> Result<usize, PersistError> {
        self.0.enforce_retention(now).map_err(err)
    }
}

fn err(e: prescale_store::StoreError) -> PersistError {
    PersistError(e.to_string())
}

impl StateStore for EmbeddedStore {
    fn append(&self, series: &str, points: &[Point]) -> Result<(), PersistError> {
        self.0.append(series, points).map(|_| ()).map_err(err)
    }

    fn range(
        &self,
        series: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Point>, PersistError> {
        // The store's range is half-open; ours is closed.
        self.0
            .range(series, start, end + chrono::Duration::seconds(1))
            .map_err(err)
    }

    fn put_state(&self, key: &str, value: &[u8]) -> Result<(), PersistError> {
        self.0.put_state(key, value).map_err(err)
    }

    fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>, PersistError> {
        self.0.get_state(key).map_err(err)
    }

    fn delete_state(&self, key: &str) -> Result<(), PersistError> {
        self.0.delete_state(key).map(|_| ()).map_err(err)
    }

    fn states(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, PersistError> {
        self.0.states(prefix).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_history_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        {
            let s = EmbeddedStore::open(&path).unwrap();
            let points: Vec<Point> = (0..3)
                .map(|i| (t0 + chrono::Duration::minutes(i), i as f64))
                .collect();
            s.append("history/ns/a/1", &points).unwrap();
            s.put_state("registration/ns/a", b"{}").unwrap();
        }
        let s = EmbeddedStore::open(&path).unwrap();
        let back = s
            .range("history/ns/a/1", t0, t0 + chrono::Duration::minutes(2))
            .unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(s.states("registration/").unwrap().len(), 1);
        s.delete_state("registration/ns/a").unwrap();
        assert!(s.get_state("registration/ns/a").unwrap().is_none());
    }
}
