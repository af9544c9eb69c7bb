//! Appending samples.

use redb::{ReadableTable, Table, WriteTransaction};

use crate::Sample;
use crate::chunk::ChunkBuf;
use crate::error::{Result, StoreError};
use crate::grid::{Position, key};
use crate::store::{DIRTY, META, SERIES, Store, chunks, horizon_key};

/// Longest series name or state key, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

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
    /// - Appending is not idempotent: a sample appended twice (same timestamp, or not) counts
    ///   twice in its bucket's count, sum and mean (min, max and last are unaffected when the
    ///   value is the same). Of samples with equal timestamps, the one appended last is the
    ///   bucket's `last`.
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
                for &(_, pos, value) in group {
                    buf.add(pos.bucket, pos.offset_ms, value);
                }
                encoded.clear();
                buf.encode(&mut encoded);
                table
                    .insert(k, encoded.as_slice())
                    .map_err(|e| self.err(e))?;
                if let Some(dirty) = dirty.as_mut() {
                    dirty.insert(k, ()).map_err(|e| self.err(e))?;
                }
                written += group.len();
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
