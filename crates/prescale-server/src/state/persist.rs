//! What survives a restart: registrations, each service's history and its last decision.
//!
//! The server writes through the [`StateStore`] trait; the embedded store (`prescale-store`,
//! redb) implements it in production (see [`crate::state::store`]), [`MemoryStore`] in tests.
//! Keys and series:
//!
//! - state `registration/{namespace}/{name}`: the trigger metadata (JSON), so that workers
//!   start again before KEDA's first call;
//! - state `decision/{namespace}/{name}`: the last decision ([`SavedDecision`], JSON);
//! - state `accuracy/{namespace}/{name}`: the forecast scorer ([`crate::runtime::accuracy::Accuracy`],
//!   JSON), so that the accuracy window survives a restart;
//! - state `tuning/{namespace}/{name}`: SLO mode's tuner (`prescale_sim::tune::Tuner`, JSON);
//! - series `history/{namespace}/{name}/{hash}`: one-minute demand, where `hash` identifies
//!   the `serverAddress` and `query` (a new query starts a new history).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::demand::source::Point;
use crate::keda::metadata::Settings;
use crate::registry::ObjectKey;
use crate::timebase::stable_hash;

/// A failed store operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct PersistError(pub String);

/// Durable state. Calls block (run them off the async threads).
pub trait StateStore: Send + Sync {
    /// Appends points to a series (timestamps after its last one).
    fn append(&self, series: &str, points: &[Point]) -> Result<(), PersistError>;
    /// The points of a series in `[start, end]`, oldest first.
    fn range(
        &self,
        series: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Point>, PersistError>;
    /// Writes a state value.
    fn put_state(&self, key: &str, value: &[u8]) -> Result<(), PersistError>;
    /// Reads a state value.
    fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>, PersistError>;
    /// Deletes a state value.
    fn delete_state(&self, key: &str) -> Result<(), PersistError>;
    /// Every state whose key starts with `prefix`, sorted by key.
    fn states(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, PersistError>;
}

/// The last decision of a service, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedDecision {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Desired replicas.
    pub desired: u32,
    /// Whether active.
    pub active: bool,
    /// Replicas reported to KEDA.
    pub reported: u32,
    /// Whether KEDA was told active.
    pub reported_active: bool,
    /// Since when live demand has been zero.
    pub zero_since: Option<DateTime<Utc>>,
}

/// The state key of `key`'s registration.
pub fn registration_key(key: &ObjectKey) -> String {
    format!("registration/{}/{}", key.namespace, key.name)
}

/// The state key of `key`'s last decision.
pub fn decision_key(key: &ObjectKey) -> String {
    format!("decision/{}/{}", key.namespace, key.name)
}

/// The state key of `key`'s forecast scorer.
pub fn accuracy_key(key: &ObjectKey) -> String {
    format!("accuracy/{}/{}", key.namespace, key.name)
}

/// The state key of `key`'s SLO-mode tuner.
pub fn tuning_key(key: &ObjectKey) -> String {
    format!("tuning/{}/{}", key.namespace, key.name)
}

/// The history series of `key` with `settings`.
pub fn history_series(key: &ObjectKey, settings: &Settings) -> String {
    let h = stable_hash(&format!("{}\n{}", settings.server_address, settings.query));
    format!("history/{}/{}/{h:016x}", key.namespace, key.name)
}

/// A saved registration: the ScaledObject and its metadata.
pub type SavedRegistration = (ObjectKey, HashMap<String, String>);

/// Saved registrations.
pub fn load_registrations(store: &dyn StateStore) -> Result<Vec<SavedRegistration>, PersistError> {
    let mut out = Vec::new();
    for (k, v) in store.states("registration/")? {
        let mut parts = k.trim_start_matches("registration/").splitn(2, '/');
        let (Some(ns), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        match serde_json::from_slice::<HashMap<String, String>>(&v) {
            Ok(md) => out.push((ObjectKey::new(ns, name), md)),
            Err(e) => {
                tracing::warn!(key = %k, error = %e, "Ignoring an unreadable saved registration.")
            }
        }
    }
    Ok(out)
}

/// A store in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    series: Mutex<HashMap<String, BTreeMap<i64, f64>>>,
    states: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for MemoryStore {
    fn append(&self, series: &str, points: &[Point]) -> Result<(), PersistError> {
        let mut g = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.entry(series.to_string()).or_default();
        for (t, v) in points {
            s.insert(t.timestamp(), *v);
        }
        Ok(())
    }

    fn range(
        &self,
        series: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Point>, PersistError> {
        let g = self.series.lock().unwrap_or_else(|e| e.into_inner());
        Ok(g.get(series)
            .map(|s| {
                s.range(start.timestamp()..=end.timestamp())
                    .filter_map(|(t, v)| Some((DateTime::from_timestamp(*t, 0)?, *v)))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn put_state(&self, key: &str, value: &[u8]) -> Result<(), PersistError> {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>, PersistError> {
        Ok(self
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    fn delete_state(&self, key: &str) -> Result<(), PersistError> {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }

    fn states(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, PersistError> {
        Ok(self
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
