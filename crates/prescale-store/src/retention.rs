//! Downsampling into the coarser tiers, retention, deleting series, and the full check.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::chunk::{self, ChunkBuf};
use crate::error::Result;
use crate::grid::{key, split_key};
use crate::store::{DIRTY, META, SERIES, Store, chunks, horizon_key};

/// What [`Store::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Series known.
    pub series: usize,
    /// Chunks per tier (base first).
    pub chunks: Vec<u64>,
    /// Buckets holding samples per tier (base first).
    pub buckets: Vec<u64>,
    /// Base chunks written since the last rollup.
    pub pending_rollup: u64,
}

impl Store {
    /// Recomputes the coarser tiers' buckets over every base chunk written since the last
    /// rollup, and returns how many base chunks that was (0 without coarser tiers).
    ///
    /// A coarser bucket holds the count, sum, min, max and last of all the base buckets it
    /// covers, so its mean is the mean of the samples (weighted by samples, not buckets). It
    /// is recomputed from the base buckets each time, so late and out-of-order samples are
    /// reflected once the next rollup runs. [`enforce_retention`](Store::enforce_retention)
    /// runs a rollup first, so no base bucket is removed before it is rolled up.
    pub fn rollup(&self) -> Result<usize> {
        let txn = self.begin_write()?;
        let rolled = self.rollup_in(&txn)?;
        txn.commit().map_err(|e| self.err(e))?;
        Ok(rolled)
    }

    fn rollup_in(&self, txn: &WriteTransaction) -> Result<usize> {
        if self.tiers.len() < 2 {
            return Ok(0);
        }
        let mut dirty = txn.open_table(DIRTY).map_err(|e| self.err(e))?;
        let mut keys = Vec::new();
        for entry in dirty.iter().map_err(|e| self.err(e))? {
            keys.push(entry.map_err(|e| self.err(e))?.0.value());
        }
        let base = txn.open_table(chunks(0)).map_err(|e| self.err(e))?;
        let base_grid = self.tiers[0].grid;
        let mut encoded = Vec::with_capacity(2048);
        for tier in 1..self.tiers.len() {
            let grid = self.tiers[tier].grid;
            let covered = (base_grid.span_ms() / grid.res_ms()) as usize;
            let mut table = txn.open_table(chunks(tier)).map_err(|e| self.err(e))?;
            for &k in &keys {
                let (id, c) = split_key(k);
                let start = grid
                    .position(base_grid.chunk_start(c))
                    .map_err(|r| self.corrupt_chunk(0, k, r.to_string()))?;
                let tk = key(id, start.chunk);
                let mut buf = match table.get(tk).map_err(|e| self.err(e))? {
                    Some(bytes) => ChunkBuf::decode(bytes.value())
                        .map_err(|r| self.corrupt_chunk(tier, tk, r))?,
                    None => ChunkBuf::empty(),
                };
                buf.clear(start.bucket, start.bucket + covered);
                if let Some(bytes) = base.get(k).map_err(|e| self.err(e))? {
                    let mut placed = Ok(());
                    chunk::for_each(bytes.value(), |i, rec| {
                        match grid.position(base_grid.bucket_start(c, i)) {
                            Ok(p) => buf.merge(p.bucket, &rec, p.offset_ms),
                            Err(r) => placed = Err(r),
                        }
                    })
                    .map_err(|r| self.corrupt_chunk(0, k, r))?;
                    placed.map_err(|r| self.corrupt_chunk(0, k, r.to_string()))?;
                }
                if buf.is_empty() {
                    table.remove(tk).map_err(|e| self.err(e))?;
                } else {
                    encoded.clear();
                    buf.encode(&mut encoded);
                    table
                        .insert(tk, encoded.as_slice())
                        .map_err(|e| self.err(e))?;
                }
            }
        }
        dirty.retain(|_, _| false).map_err(|e| self.err(e))?;
        Ok(keys.len())
    }

    /// Rolls up (see [`rollup`](Store::rollup)), then removes every bucket older than each
    /// tier's retention before `now`, and returns how many buckets were removed.
    ///
    /// Buckets go by whole chunks (60 buckets): the horizon of a tier is `now - retention`
    /// rounded down to a chunk boundary, so up to one chunk more than the retention is kept.
    /// The base horizon also bounds later appends: samples older than it are skipped. The
    /// horizon never moves back, even if a later call passes an earlier `now`.
    pub fn enforce_retention(&self, now: DateTime<Utc>) -> Result<usize> {
        let txn = self.begin_write()?;
        let rolled = self.rollup_in(&txn)?;
        let ids = self.series_ids(&txn)?;
        let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let now_ms = now.timestamp_millis();
        let mut removed = 0usize;
        for (tier, spec) in self.tiers.iter().enumerate() {
            let span = spec.grid.span_ms();
            let wanted = now_ms.saturating_sub(spec.retention_ms).max(0) / span * span;
            let hk = horizon_key(tier);
            let stored = meta
                .get(hk.as_str())
                .map_err(|e| self.err(e))?
                .map_or(0, |v| v.value() as i64);
            let horizon = wanted.max(stored);
            if horizon > stored {
                meta.insert(hk.as_str(), horizon as u64)
                    .map_err(|e| self.err(e))?;
            }
            let cut = spec.grid.clamped_chunk(horizon);
            if cut == 0 {
                continue;
            }
            let mut table = txn.open_table(chunks(tier)).map_err(|e| self.err(e))?;
            for &id in &ids {
                table
                    .retain_in(key(id, 0)..key(id, cut), |_, v| {
                        removed += chunk::bitmap(v).map_or(0, |b| b.count_ones() as usize);
                        false
                    })
                    .map_err(|e| self.err(e))?;
            }
        }
        drop(meta);
        txn.commit().map_err(|e| self.err(e))?;
        tracing::info!(
            path = %self.path.display(),
            rolled_up_chunks = rolled,
            removed_buckets = removed,
            "Enforced history retention."
        );
        Ok(removed)
    }

    /// Removes series `name` and all its buckets in every tier; returns whether it existed.
    pub fn delete_series(&self, name: &str) -> Result<bool> {
        let txn = self.begin_write()?;
        let id = {
            let mut series = txn.open_table(SERIES).map_err(|e| self.err(e))?;
            series
                .remove(name)
                .map_err(|e| self.err(e))?
                .map(|v| v.value())
        };
        if let Some(id) = id {
            let all = key(id, 0)..=key(id, u32::MAX);
            for tier in 0..self.tiers.len() {
                let mut table = txn.open_table(chunks(tier)).map_err(|e| self.err(e))?;
                table
                    .retain_in(all.clone(), |_, _| false)
                    .map_err(|e| self.err(e))?;
            }
            let mut dirty = txn.open_table(DIRTY).map_err(|e| self.err(e))?;
            dirty
                .retain_in(all, |_, _| false)
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(id.is_some())
    }

    /// Reads and decodes every chunk of every tier, checks that each belongs to a known
    /// series, and counts what the store holds. A damaged chunk gives
    /// [`StoreError::Corrupt`](crate::StoreError::Corrupt) naming the tier, series id and chunk.
    pub fn check(&self) -> Result<StoreStats> {
        let txn = self.begin_read()?;
        let series_table = txn.open_table(SERIES).map_err(|e| self.err(e))?;
        let mut ids = HashSet::new();
        for entry in series_table.iter().map_err(|e| self.err(e))? {
            ids.insert(entry.map_err(|e| self.err(e))?.1.value());
        }
        let mut stats = StoreStats {
            series: ids.len(),
            chunks: Vec::new(),
            buckets: Vec::new(),
            pending_rollup: 0,
        };
        for tier in 0..self.tiers.len() {
            let table = txn.open_table(chunks(tier)).map_err(|e| self.err(e))?;
            let (mut n, mut buckets) = (0, 0);
            for entry in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                let k = k.value();
                if !ids.contains(&split_key(k).0) {
                    return Err(self.corrupt_chunk(tier, k, "no series has this id".to_string()));
                }
                let mut present = 0;
                chunk::for_each(v.value(), |_, _| present += 1)
                    .map_err(|r| self.corrupt_chunk(tier, k, r))?;
                n += 1;
                buckets += present;
            }
            stats.chunks.push(n);
            stats.buckets.push(buckets);
        }
        let dirty = txn.open_table(DIRTY).map_err(|e| self.err(e))?;
        stats.pending_rollup = dirty.len().map_err(|e| self.err(e))?;
        Ok(stats)
    }

    fn series_ids(&self, txn: &WriteTransaction) -> Result<Vec<u32>> {
        let table = txn.open_table(SERIES).map_err(|e| self.err(e))?;
        let mut ids = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            ids.push(entry.map_err(|e| self.err(e))?.1.value());
        }
        Ok(ids)
    }
}
