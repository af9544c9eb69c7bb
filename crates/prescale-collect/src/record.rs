//! Recording: what a source without history of its own (a RabbitMQ queue, a Redis list, a
//! `/metrics` scrape) reads is written to the embedded history store, so that forecasting has
//! its history and a restart loses nothing.
//!
//! Each read is one durable store transaction: once [`Recorder::record_once`] returns `Ok`,
//! its samples survive a crash (the store's crash test kills a writer mid-transaction and finds
//! every acknowledged sample). A failed read writes nothing: the missing time is a gap in the
//! store, never a zero.
//!
//! Series are named `<source>/<metric>{<labels>}`, e.g.
//! `redis/celery_queue_length{queue="inference"}`, so one store holds several sources.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prescale_store::{Store, StoreError};

use crate::{CollectError, LabelsDisplay, Series, Source};

/// Why a recording step failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The source could not be read (nothing was written).
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// The store refused the samples (nothing was written).
    #[error("history store: {0}")]
    Store(#[from] StoreError),
    /// The blocking store task did not finish (the runtime is shutting down).
    #[error("history store task failed: {0}")]
    Task(String),
}

/// What one read wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// When the read finished.
    pub at: DateTime<Utc>,
    /// Series written, by store name, with the value read.
    pub series: Vec<(String, f64)>,
    /// Samples written.
    pub samples: usize,
    /// Samples skipped because their value was NaN or infinite (a source's own marker for
    /// "no value"; stored gaps, not values).
    pub skipped_not_finite: usize,
}

/// Reads a source and writes what it reads to a [`Store`].
#[derive(Debug)]
pub struct Recorder<S> {
    source: S,
    store: Arc<Store>,
}

impl<S: Source> Recorder<S> {
    /// A recorder of `source` into `store`.
    pub const fn new(source: S, store: Arc<Store>) -> Self {
        Self { source, store }
    }

    /// The source being recorded.
    pub const fn source(&self) -> &S {
        &self.source
    }

    /// The store name of a series read from this recorder's source.
    pub fn series_name(&self, series: &Series) -> String {
        series_name(self.source.kind().as_str(), series)
    }

    /// Reads the source once and writes every finite sample in one durable transaction.
    pub async fn record_once(&self) -> Result<Recorded, RecordError> {
        let read = self.source.collect().await?;
        let mut batch: Vec<(String, Vec<prescale_store::Sample>)> = Vec::new();
        let mut skipped = 0;
        for s in &read {
            let samples: Vec<_> = s
                .samples
                .iter()
                .filter(|p| {
                    let ok = p.value.is_finite();
                    skipped += usize::from(!ok);
                    ok
                })
                .map(|p| (p.timestamp, p.value))
                .collect();
            if !samples.is_empty() {
                batch.push((self.series_name(s), samples));
            }
        }
        let series = batch
            .iter()
            .filter_map(|(name, samples)| samples.last().map(|(_, v)| (name.clone(), *v)))
            .collect();
        let store = Arc::clone(&self.store);
        let samples = tokio::task::spawn_blocking(move || {
            let refs: Vec<(&str, &[prescale_store::Sample])> = batch
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_slice()))
                .collect();
            store.append_batch(&refs)
        })
        .await
        .map_err(|e| RecordError::Task(e.to_string()))??;
        Ok(Recorded {
            at: Utc::now(),
            series,
            samples,
            skipped_not_finite: skipped,
        })
    }
}

/// The store name of `series` read from a source of kind `source`:
/// `<source>/<metric>{<labels>}`.
pub fn series_name(source: &str, series: &Series) -> String {
    format!("{source}/{}", LabelsDisplay(&series.labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Labels, Sample, SourceKind};
    use chrono::TimeZone;

    /// A source that returns prepared reads in turn, or an error once they run out.
    struct Scripted {
        reads: std::sync::Mutex<Vec<Vec<Series>>>,
    }

    impl Source for Scripted {
        fn kind(&self) -> SourceKind {
            SourceKind::Redis
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
        async fn collect(&self) -> crate::Result<Vec<Series>> {
            self.reads.lock().unwrap().pop().ok_or(CollectError::Empty {
                origin: SourceKind::Redis,
                place: "scripted".into(),
            })
        }
    }

    fn series(queue: &str, at: DateTime<Utc>, value: f64) -> Series {
        let mut labels = Labels::new();
        labels.insert("__name__".into(), "celery_queue_length".into());
        labels.insert("queue".into(), queue.into());
        Series::new(
            labels,
            vec![Sample {
                timestamp: at,
                value,
            }],
        )
    }

    fn store(dir: &tempfile::TempDir) -> Arc<Store> {
        let cfg = prescale_store::StoreConfig::default();
        Arc::new(Store::open(&dir.path().join("history.redb"), cfg).unwrap())
    }

    #[tokio::test]
    async fn writes_each_read_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let m = chrono::Duration::minutes(1);
        // Popped from the back: the 09:00 read first.
        let reads = vec![
            vec![series("inference", t0 + m * 2, 9.0)],
            vec![
                series("inference", t0 + m, 7.0),
                series("batch", t0 + m, f64::NAN),
            ],
            vec![series("inference", t0, 3.0)],
        ];
        let name = "redis/celery_queue_length{queue=\"inference\"}";
        {
            let rec = Recorder::new(
                Scripted {
                    reads: std::sync::Mutex::new(reads),
                },
                store(&dir),
            );
            let first = rec.record_once().await.unwrap();
            assert_eq!(first.samples, 1);
            assert_eq!(first.series, vec![(name.to_string(), 3.0)]);
            let second = rec.record_once().await.unwrap();
            assert_eq!((second.samples, second.skipped_not_finite), (1, 1));
            rec.record_once().await.unwrap();
            // The source fails: nothing is written, the error says why.
            let err = rec.record_once().await.unwrap_err();
            assert!(matches!(err, RecordError::Collect(_)), "{err}");
        }
        // Reopened: every acknowledged sample is there; the NaN read is a gap, not a zero.
        let s = store(&dir);
        let got = s.range(name, t0, t0 + m * 3).unwrap();
        assert_eq!(
            got,
            vec![(t0, 3.0), (t0 + m, 7.0), (t0 + m * 2, 9.0)],
            "{got:?}"
        );
        assert_eq!(s.series().unwrap(), vec![name.to_string()]);
    }
}
