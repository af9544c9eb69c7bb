//! Appending samples.

use redb::{ReadableTable, Table, WriteTransaction};

use crate::Sample;
use crate::chunk::ChunkBuf;
use crate::error::{Result, StoreError};
use crate::grid::{Position, key};
use crate::store::{DIRTY, META, SERIES, STATE, Store, chunks, horizon_key};

/// Longest series name or state key, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// Samples of many series and state-record changes, written together in one transaction by
/// [`Store::write`]: all of it is stored, or none.
///
/// For example, history backfilled from Prometheus and the record of how far the backfill
/// got, so that a crash cannot leave one without the other.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use prescale_store::{Store, StoreConfig, WriteBatch};
///
/// # let dir = tempfile::tempdir().expect("a temporary directory");
/// # let store = Store::open(&dir.path().join("h.redb"), StoreConfig::default()).expect("opens");
/// let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
/// let samples = [(t, 12.0)];
/// let mut batch = WriteBatch::new();
/// batch
///     .append("prometheus/chat", &samples)
///     .put_state("backfill/prometheus/chat", b"2024-05-01T00:00:00Z");
/// assert_eq!(store.write(&batch).expect("stored"), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WriteBatch<'a> {
    samples: Vec<(&'a str, &'a [Sample])>,
    states: Vec<(&'a str, Option<&'a [u8]>)>,
}

impl<'a> WriteBatch<'a> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples of `series` (as [`Store::append`] would write them).
    pub fn append(&mut self, series: &'a str, samples: &'a [Sample]) -> &mut Self {
        self.samples.push((series, samples));
        self
    }

    /// Sets state record `key` to `value` (as [`Store::put_state`]).
    pub fn put_state(&mut self, key: &'a str, value: &'a [u8]) -> &mut Self {
        self.states.push((key, Some(value)));
        self
    }

    /// Removes state record `key` (as [`Store::delete_state`]).
    pub fn delete_state(&mut self, key: &'a str) -> &mut Self {
        self.states.push((key, None));
        self
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.states.is_empty()
    }
}

/// One series' samples, checked and placed on the base grid, in time order.
struct Prepared<'a> {
    name: &'a str,
    /// (milliseconds since the epoch, position, value), sorted by time (stable).
    samples: Vec<(i64, Position, f64)>,
}

impl Store {
    /// Appends samples to `series` and returns how many were stored.
    ///
    /// Durable when it returns `Ok`: the write is committed with `fsync`, so a crash after the
    /// return loses nothing. All or nothing: on an error nothing of the call is stored.
    ///
    /// - A NaN or infinite value rejects the call ([`StoreError::NonFinite`]), as does a
    ///   timestamp before 1970 ([`StoreError::TimestampOutOfRange`]) or an empty or over-long
    ///   name ([`StoreError::InvalidName`]).
    /// - Samples may come in any order, across calls too: each lands in its bucket.
    /// - A sample equal to its bucket's latest sample (same millisecond, same value) is a
    ///   duplicate: it is skipped and not counted. So re-sending the latest sample, or a
    ///   backfill written at the store's resolution (one sample per bucket), changes nothing.
    ///   Any other repeated sample counts again in its bucket's count, sum and mean. Of two
    ///   different values at the same timestamp, the one appended last is the bucket's `last`.
    /// - Samples older than the retention horizon set by the last
    ///   [`enforce_retention`](Store::enforce_retention) are skipped (they would be removed at
    ///   once) and not counted in the return value.
    pub fn append(&self, series: &str, samples: &[Sample]) -> Result<usize> {
        self.append_batch(&[(series, samples)])
    }

    /// Appends samples of many series in one transaction (one `fsync`), and returns how many
    /// were stored. The rules of [`append`](Store::append) apply; a series may appear more
    /// than once. This is the fast path for collectors and backfills.
    pub fn append_batch(&self, batch: &[(&str, &[Sample])]) -> Result<usize> {
        let prepared = self.prepare(batch)?;
        let txn = self.begin_write()?;
        let written = self.write_prepared(&txn, &prepared)?;
        txn.commit().map_err(|e| self.err(e))?;
        Ok(written)
    }

    /// Writes a [`WriteBatch`] in one transaction and returns how many samples were stored.
    /// The rules of [`append`](Store::append) and [`put_state`](Store::put_state) apply; state
    /// changes apply in the order they were added. All or nothing, durable when it returns.
    pub fn write(&self, batch: &WriteBatch<'_>) -> Result<usize> {
        let prepared = self.prepare(&batch.samples)?;
        for (key, _) in &batch.states {
            check_name("state key", key)?;
        }
        let txn = self.begin_write()?;
        let written = self.write_prepared(&txn, &prepared)?;
        if !batch.states.is_empty() {
            let mut table = txn.open_table(STATE).map_err(|e| self.err(e))?;
            for &(key, value) in &batch.states {
                match value {
                    Some(value) => table.insert(key, value).map(|_| ()),
                    None => table.remove(key).map(|_| ()),
                }
                .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(written)
    }

    /// Checks every sample and places it on the base grid, before anything is written.
    fn prepare<'a>(&self, batch: &[(&'a str, &[Sample])]) -> Result<Vec<Prepared<'a>>> {
        let grid = self.tiers[0].grid;
        batch
            .iter()
            .map(|&(name, samples)| {
                check_name("series name", name)?;
                let mut out = Vec::with_capacity(samples.len());
                for (index, &(timestamp, value)) in samples.iter().enumerate() {
                    if !value.is_finite() {
                        return Err(StoreError::NonFinite {
                            series: name.to_string(),
                            index,
                            timestamp,
                            value,
                        });
                    }
                    let ms = timestamp.timestamp_millis();
                    let position =
                        grid.position(ms)
                            .map_err(|reason| StoreError::TimestampOutOfRange {
                                series: name.to_string(),
                                index,
                                timestamp,
                                reason,
                            })?;
                    out.push((ms, position, value));
                }
                if !out.is_sorted_by_key(|s| s.0) {
                    out.sort_by_key(|s| s.0);
                }
                Ok(Prepared { name, samples: out })
            })
            .collect()
    }

    /// Writes prepared samples in `txn`; returns how many were stored.
    fn write_prepared(&self, txn: &WriteTransaction, prepared: &[Prepared<'_>]) -> Result<usize> {
        let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let mut series = txn.open_table(SERIES).map_err(|e| self.err(e))?;
        let mut table = txn.open_table(chunks(0)).map_err(|e| self.err(e))?;
        let mut dirty = if self.tiers.len() > 1 {
            Some(txn.open_table(DIRTY).map_err(|e| self.err(e))?)
        } else {
            None
        };
        let horizon = meta
            .get(horizon_key(0).as_str())
            .map_err(|e| self.err(e))?
            .map_or(i64::MIN, |v| v.value() as i64);
        let mut written = 0;
        let mut encoded = Vec::with_capacity(2048);
        for p in prepared {
            let start = p.samples.partition_point(|s| s.0 < horizon);
            let samples = &p.samples[start..];
            if samples.is_empty() {
                continue;
            }
            let id = self.series_id(&mut meta, &mut series, p.name)?;
            for group in samples.chunk_by(|a, b| a.1.chunk == b.1.chunk) {
                let k = key(id, group[0].1.chunk);
                let mut buf = match table.get(k).map_err(|e| self.err(e))? {
                    Some(bytes) => ChunkBuf::decode(bytes.value())
                        .map_err(|reason| self.corrupt_chunk(0, k, reason))?,
                    None => ChunkBuf::empty(),
                };
                let before = written;
                for &(_, pos, value) in group {
                    written += usize::from(buf.add(pos.bucket, pos.offset_ms, value));
                }
                if written == before {
                    continue; // Only duplicates.
                }
                encoded.clear();
                buf.encode(&mut encoded);
                table
                    .insert(k, encoded.as_slice())
                    .map_err(|e| self.err(e))?;
                if let Some(dirty) = dirty.as_mut() {
                    dirty.insert(k, ()).map_err(|e| self.err(e))?;
                }
            }
        }
        Ok(written)
    }

    /// The id of series `name`, allocated if new.
    fn series_id(
        &self,
        meta: &mut Table<&str, u64>,
        series: &mut Table<&str, u32>,
        name: &str,
    ) -> Result<u32> {
        if let Some(id) = series.get(name).map_err(|e| self.err(e))? {
            return Ok(id.value());
        }
        let next = meta
            .get("next_series_id")
            .map_err(|e| self.err(e))?
            .map_or(0, |v| v.value());
        let id = u32::try_from(next).map_err(|_| StoreError::TooManySeries {
            path: self.path.clone(),
        })?;
        meta.insert("next_series_id", next + 1)
            .map_err(|e| self.err(e))?;
        series.insert(name, id).map_err(|e| self.err(e))?;
        Ok(id)
    }
}

/// Checks a series name or state key: non-empty, at most [`MAX_NAME_BYTES`] bytes.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_NAME_BYTES {
        "must be at most 1024 bytes"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName {
        what,
        name: name.chars().take(100).collect(),
        reason,
    })
}
