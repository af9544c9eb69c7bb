//! The embedded store (`prescale-store`, redb) as the server's [`StateStore`], reopened after
//! I/O errors.
//!
//! After one I/O error (a full disk) redb fails every later write until the database is
//! opened again. [`EmbeddedStore`] then marks itself down: state writes (put, delete) and
//! history appends are kept in memory (the latest value per key, at most
//! [`MAX_PENDING_SAMPLES`] samples per series) and answered `Ok`, reads fail. [`maintain`]
//! (or the next operation) reopens the file, at most once per backoff step (1 s doubling to
//! [`MAX_REOPEN_BACKOFF`]), and writes what was kept in one transaction: persistence resumes
//! once the disk can take it, without losing what the server acknowledged meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prescale_store::{Store, StoreError, WriteBatch};
use tokio::sync::watch;

use crate::demand::source::Point;
use crate::state::metrics::{Recovery, StoreMetrics};
use crate::state::persist::{PersistError, StateStore};
use crate::state::recover::open_recovering;

pub use crate::state::recover::RETENTION;

/// The longest wait between two reopen attempts.
pub const MAX_REOPEN_BACKOFF: Duration = Duration::from_secs(30);
/// The most samples of one series kept in memory while the store is down (a week of minutes);
/// older ones are dropped first.
pub const MAX_PENDING_SAMPLES: usize = 7 * 1440;
/// How often [`maintain`] checks whether the store needs reopening.
const MAINTAIN_EVERY: Duration = Duration::from_secs(1);
/// How often [`maintain`] drops history past the retention.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Writes accepted while the store was down, written when it reopens.
#[derive(Debug, Default)]
struct Pending {
    /// State key → new value (`None`: deleted).
    states: BTreeMap<String, Option<Vec<u8>>>,
    /// Series → samples, oldest first.
    samples: HashMap<String, Vec<Point>>,
    /// Samples dropped beyond [`MAX_PENDING_SAMPLES`] since the store went down.
    dropped: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.states.len() + self.samples.values().map(Vec::len).sum::<usize>()
    }
}

/// When the next reopen may be tried.
#[derive(Debug)]
struct Backoff {
    next: Instant,
    wait: Duration,
}

/// A `prescale-store` file, reopened after I/O errors.
#[derive(Debug)]
pub struct EmbeddedStore {
    path: PathBuf,
    /// `None` after a failed reopen.
    db: RwLock<Option<Store>>,
    /// Set on an I/O error, cleared by a reopen that wrote everything pending.
    down: AtomicBool,
    pending: Mutex<Pending>,
    backoff: Mutex<Backoff>,
    metrics: StoreMetrics,
}

/// Why an operation did not reach the file.
enum Failure {
    /// The store is down (waiting to be reopened).
    Down,
    /// The operation failed.
    Store(StoreError),
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path`: one-minute buckets, no coarser tiers, kept
    /// [`RETENTION`]. A damaged file is moved aside and a new one started
    /// ([`open_recovering`]), counted in `metrics`.
    pub fn open(path: &Path, metrics: StoreMetrics) -> Result<Self, PersistError> {
        let store = open_recovering(path, &metrics, Utc::now().timestamp())?;
        metrics.set_up(true);
        metrics.set_pending(0);
        Ok(Self {
            path: path.to_path_buf(),
            db: RwLock::new(Some(store)),
            down: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            backoff: Mutex::new(Backoff {
                next: Instant::now(),
                wait: Duration::from_secs(1),
            }),
            metrics,
        })
    }

    /// Whether the store is down, waiting to be reopened.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Drops history older than the retention before `now`.
    pub fn enforce_retention(&self, now: DateTime<Utc>) -> Result<usize, PersistError> {
        self.run(|s| s.enforce_retention(now))
            .map_err(|f| self.err(f))
    }

    /// Reopens the store if it is down and the backoff allows, then writes what is pending.
    /// Returns whether the store is up afterwards. Blocks (file I/O).
    pub fn heal(&self) -> bool {
        if !self.is_down() {
            return true;
        }
        {
            let mut b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if now < b.next {
                return false;
            }
            b.next = now + b.wait;
            b.wait = (b.wait * 2).min(MAX_REOPEN_BACKOFF);
        }
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !self.is_down() {
            return true;
        }
        // The engine refuses a second open of the file while the first is alive.
        drop(db.take());
        let store = match open_recovering(&self.path, &self.metrics, Utc::now().timestamp()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "The store could not be reopened; retrying.");
                return false;
            }
        };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let written = pending.len();
        if let Err(e) = write_pending(&store, &pending) {
            self.metrics.error(e.metric_label());
            if e.needs_reopen() {
                tracing::warn!(error = %e, "The reopened store cannot write yet; retrying.");
                return false;
            }
            tracing::error!(error = %e, writes = written, "Dropped writes kept while the store was down: they do not fit the store.");
        }
        if pending.dropped > 0 {
            tracing::warn!(
                samples = pending.dropped,
                "History samples beyond the in-memory limit were not kept while the store was down."
            );
        }
        *pending = Pending::default();
        *db = Some(store);
        self.down.store(false, Ordering::Release);
        *self.backoff.lock().unwrap_or_else(|e| e.into_inner()) = Backoff {
            next: Instant::now(),
            wait: Duration::from_secs(1),
        };
        self.metrics.set_pending(0);
        self.metrics.set_up(true);
        self.metrics.recovered(Recovery::Reopen);
        tracing::info!(path = %self.path.display(), writes = written, "Store reopened: persistence resumed, the writes kept meanwhile are on disk.");
        true
    }

    /// Runs `op` on the open store; an I/O error marks the store down.
    fn run<T>(&self, op: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, Failure> {
        if self.is_down() && !self.heal() {
            return Err(Failure::Down);
        }
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        let Some(store) = db.as_ref() else {
            return Err(Failure::Down);
        };
        op(store).map_err(|e| {
            self.metrics.error(e.metric_label());
            if e.needs_reopen() && !self.down.swap(true, Ordering::AcqRel) {
                self.metrics.set_up(false);
                tracing::error!(path = %self.path.display(), error = %e, "The store failed to write: keeping writes in memory and reopening it until the disk takes them.");
            }
            Failure::Store(e)
        })
    }

    /// Runs the write `op`; when it cannot reach the file because of an I/O error, `keep`
    /// records it in `pending` and the write counts as done.
    fn write(
        &self,
        op: impl Fn(&Store) -> Result<(), StoreError>,
        keep: impl FnOnce(&mut Pending),
    ) -> Result<(), PersistError> {
        // A reopen between the failure and the keeping: one more try on the reopened store.
        for _ in 0..2 {
            match self.run(&op) {
                Ok(()) => return Ok(()),
                Err(Failure::Store(e)) if !e.needs_reopen() => {
                    return Err(self.err(Failure::Store(e)));
                }
                Err(_) => {
                    let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    if self.is_down() {
                        keep(&mut pending);
                        self.metrics.set_pending(pending.len());
                        return Ok(());
                    }
                }
            }
        }
        Err(self.err(Failure::Down))
    }

    fn err(&self, f: Failure) -> PersistError {
        match f {
            Failure::Down => PersistError(format!(
                "{}: store is down after an I/O error, waiting to be reopened",
                self.path.display()
            )),
            Failure::Store(e) => PersistError(e.to_string()),
        }
    }
}

/// Writes `pending` to `store` in one transaction.
fn write_pending(store: &Store, pending: &Pending) -> Result<(), StoreError> {
    if pending.len() == 0 {
        return Ok(());
    }
    let mut batch = WriteBatch::new();
    for (series, samples) in &pending.samples {
        batch.append(series, samples);
    }
    for (key, value) in &pending.states {
        match value {
            Some(v) => batch.put_state(key, v),
            None => batch.delete_state(key),
        };
    }
    store.write(&batch).map(|_| ())
}

impl StateStore for EmbeddedStore {
    fn append(&self, series: &str, points: &[Point]) -> Result<(), PersistError> {
        self.write(
            |s| s.append(series, points).map(|_| ()),
            |p| {
                let kept = p.samples.entry(series.to_string()).or_default();
                kept.extend_from_slice(points);
                if kept.len() > MAX_PENDING_SAMPLES {
                    let extra = kept.len() - MAX_PENDING_SAMPLES;
                    kept.drain(..extra);
                    p.dropped += extra;
                }
            },
        )
    }

    fn range(
        &self,
        series: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Point>, PersistError> {
        // The store's range is half-open; ours is closed.
        self.run(|s| s.range(series, start, end + chrono::Duration::seconds(1)))
            .map_err(|f| self.err(f))
    }

    fn put_state(&self, key: &str, value: &[u8]) -> Result<(), PersistError> {
        self.write(
            |s| s.put_state(key, value),
            |p| {
                p.states.insert(key.to_string(), Some(value.to_vec()));
            },
        )
    }

    fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>, PersistError> {
        self.run(|s| s.get_state(key)).map_err(|f| self.err(f))
    }

    fn delete_state(&self, key: &str) -> Result<(), PersistError> {
        self.write(
            |s| s.delete_state(key).map(|_| ()),
            |p| {
                p.states.insert(key.to_string(), None);
            },
        )
    }

    fn states(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, PersistError> {
        self.run(|s| s.states(prefix)).map_err(|f| self.err(f))
    }
}

/// Keeps the store in shape until `stopped`: reopens it when it is down (checked every
/// second, tried as the backoff allows) and drops history past the retention once an hour.
pub async fn maintain(
    store: std::sync::Arc<EmbeddedStore>,
    time: crate::timebase::TimeBase,
    mut stopped: watch::Receiver<bool>,
) {
    let mut retention_due = Instant::now();
    loop {
        let retention = Instant::now() >= retention_due;
        if retention {
            retention_due = Instant::now() + RETENTION_EVERY;
        }
        if retention || store.is_down() {
            let s = store.clone();
            let now = time.now();
            let done = tokio::task::spawn_blocking(move || {
                s.heal();
                if retention && let Err(e) = s.enforce_retention(now) {
                    tracing::warn!(error = %e, "Retention failed.");
                }
            })
            .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "Store maintenance failed.");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(MAINTAIN_EVERY) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
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
            let s = EmbeddedStore::open(&path, StoreMetrics::new()).unwrap();
            let points: Vec<Point> = (0..3)
                .map(|i| (t0 + chrono::Duration::minutes(i), i as f64))
                .collect();
            s.append("history/ns/a/1", &points).unwrap();
            s.put_state("registration/ns/a", b"{}").unwrap();
        }
        let s = EmbeddedStore::open(&path, StoreMetrics::new()).unwrap();
        let back = s
            .range("history/ns/a/1", t0, t0 + chrono::Duration::minutes(2))
            .unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(s.states("registration/").unwrap().len(), 1);
        s.delete_state("registration/ns/a").unwrap();
        assert!(s.get_state("registration/ns/a").unwrap().is_none());
    }

    #[test]
    fn invalid_writes_are_errors_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(&dir.path().join("s.redb"), StoreMetrics::new()).unwrap();
        let t0 = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        assert!(s.append("history/x", &[(t0, f64::NAN)]).is_err());
        assert!(s.put_state("", b"{}").is_err());
        assert!(!s.is_down());
        assert_eq!(s.pending.lock().unwrap().len(), 0);
    }
}
