//! Reading series: ranges of buckets, the latest sample, the list of series.

use chrono::{DateTime, Utc};
use redb::{ReadOnlyTable, ReadableTable};

use crate::chunk::{self, Rec};
use crate::error::{Result, StoreError};
use crate::grid::key;
use crate::store::{SERIES, Store, chunks};

/// Which aggregate of a bucket's samples a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Aggregation {
    /// The mean of the samples (the default: what a forecaster of rates and gauges needs).
    #[default]
    Mean,
    /// The sum of the samples.
    Sum,
    /// The smallest sample.
    Min,
    /// The largest sample (peaks, for capacity).
    Max,
    /// The latest sample by timestamp (of equal timestamps, the one appended last).
    Last,
    /// How many samples the bucket holds.
    Count,
}

/// The aggregates of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The bucket's start (aligned to its tier's resolution since the Unix epoch).
    pub start: DateTime<Utc>,
    /// Samples aggregated (at least 1).
    pub count: u32,
    /// Sum of the samples.
    pub sum: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// The latest sample.
    pub last: f64,
    /// The timestamp of the latest sample (millisecond precision).
    pub last_at: DateTime<Utc>,
}

impl Bucket {
    /// The mean of the samples.
    pub fn mean(&self) -> f64 {
        self.sum / f64::from(self.count)
    }

    /// The aggregate `aggregation` of this bucket.
    pub fn value(&self, aggregation: Aggregation) -> f64 {
        match aggregation {
            Aggregation::Mean => self.mean(),
            Aggregation::Sum => self.sum,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
            Aggregation::Last => self.last,
            Aggregation::Count => f64::from(self.count),
        }
    }
}

fn rec_value(rec: &Rec, aggregation: Aggregation) -> f64 {
    match aggregation {
        Aggregation::Mean => rec.sum / f64::from(rec.count),
        Aggregation::Sum => rec.sum,
        Aggregation::Min => rec.min,
        Aggregation::Max => rec.max,
        Aggregation::Last => rec.last,
        Aggregation::Count => f64::from(rec.count),
    }
}

impl Store {
    /// The mean of each base bucket of `series` that overlaps `[start, end)`, in time order,
    /// stamped with the bucket's start.
    ///
    /// Buckets without samples are absent (the store does not fill gaps). An unknown series
    /// reads as empty. `start > end` is an error ([`StoreError::InvalidRange`]).
    pub fn range(
        &self,
        series: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        self.range_with(series, 0, start, end, Aggregation::Mean)
    }

    /// Like [`range`](Store::range), with the aggregate and the tier (0 = base, 1.. = the
    /// configured coarser tiers, which hold what the last [`rollup`](Store::rollup) computed).
    pub fn range_with(
        &self,
        series: &str,
        tier: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        aggregation: Aggregation,
    ) -> Result<Vec<(DateTime<Utc>, f64)>> {
        let mut out = Vec::new();
        self.scan(series, tier, start, end, |ms, rec| {
            out.push((self.datetime(ms)?, rec_value(rec, aggregation)));
            Ok(())
        })?;
        Ok(out)
    }

    /// Every aggregate of each bucket of `series` in `tier` that overlaps `[start, end)`.
    pub fn buckets(
        &self,
        series: &str,
        tier: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Bucket>> {
        let mut out = Vec::new();
        self.scan(series, tier, start, end, |ms, rec| {
            out.push(self.bucket(ms, rec)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The latest sample of `series` (by timestamp, millisecond precision), or `None` for a
    /// series without samples.
    pub fn latest(&self, series: &str) -> Result<Option<(DateTime<Utc>, f64)>> {
        let txn = self.begin_read()?;
        let Some(id) = self.lookup(&txn, series)? else {
            return Ok(None);
        };
        let table = self.chunk_table(&txn, 0)?;
        let mut range = table
            .range(key(id, 0)..=key(id, u32::MAX))
            .map_err(|e| self.err(e))?;
        let Some(entry) = range.next_back() else {
            return Ok(None);
        };
        let (k, v) = entry.map_err(|e| self.err(e))?;
        let (k, bytes) = (k.value(), v.value());
        let Some((bucket, rec)) = chunk::last(bytes).map_err(|r| self.corrupt_chunk(0, k, r))?
        else {
            return Ok(None);
        };
        let grid = self.tiers[0].grid;
        let ms =
            grid.bucket_start(crate::grid::split_key(k).1, bucket) + i64::from(rec.last_offset_ms);
        Ok(Some((self.datetime(ms)?, rec.last)))
    }

    /// The names of all series, sorted.
    pub fn series(&self) -> Result<Vec<String>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(SERIES).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (name, _) = entry.map_err(|e| self.err(e))?;
            out.push(name.value().to_string());
        }
        Ok(out)
    }

    /// Calls `f(bucket start ms, record)` for each bucket of `series` in `tier` overlapping
    /// `[start, end)`, in time order.
    fn scan(
        &self,
        series: &str,
        tier: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        mut f: impl FnMut(i64, &Rec) -> Result<()>,
    ) -> Result<()> {
        let spec = self.tiers.get(tier).ok_or(StoreError::UnknownTier {
            tier,
            max: self.tiers.len() - 1,
        })?;
        if start > end {
            return Err(StoreError::InvalidRange { start, end });
        }
        let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
        if start_ms == end_ms || end_ms <= 0 {
            return Ok(());
        }
        let txn = self.begin_read()?;
        let Some(id) = self.lookup(&txn, series)? else {
            return Ok(());
        };
        let table = self.chunk_table(&txn, tier)?;
        let grid = spec.grid;
        let (first, last) = (grid.clamped_chunk(start_ms), grid.clamped_chunk(end_ms - 1));
        let lowest = start_ms - grid.res_ms();
        let range = table
            .range(key(id, first)..=key(id, last))
            .map_err(|e| self.err(e))?;
        for entry in range {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let k = k.value();
            let chunk = crate::grid::split_key(k).1;
            let mut failed = Ok(());
            chunk::for_each(v.value(), |i, rec| {
                let ms = grid.bucket_start(chunk, i);
                if failed.is_ok() && ms > lowest && ms < end_ms {
                    failed = f(ms, &rec);
                }
            })
            .map_err(|r| self.corrupt_chunk(tier, k, r))?;
            failed?;
        }
        Ok(())
    }

    /// The id of `series`, if it has one.
    pub(crate) fn lookup(&self, txn: &redb::ReadTransaction, series: &str) -> Result<Option<u32>> {
        let table = txn.open_table(SERIES).map_err(|e| self.err(e))?;
        Ok(table
            .get(series)
            .map_err(|e| self.err(e))?
            .map(|v| v.value()))
    }

    fn chunk_table(
        &self,
        txn: &redb::ReadTransaction,
        tier: usize,
    ) -> Result<ReadOnlyTable<u64, &'static [u8]>> {
        txn.open_table(chunks(tier)).map_err(|e| self.err(e))
    }

    fn bucket(&self, ms: i64, rec: &Rec) -> Result<Bucket> {
        Ok(Bucket {
            start: self.datetime(ms)?,
            count: rec.count,
            sum: rec.sum,
            min: rec.min,
            max: rec.max,
            last: rec.last,
            last_at: self.datetime(ms + i64::from(rec.last_offset_ms))?,
        })
    }

    /// A stored time as a `DateTime`; out of chrono's range only in a damaged file.
    pub(crate) fn datetime(&self, ms: i64) -> Result<DateTime<Utc>> {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            reason: format!("stored time {ms} ms is out of range"),
        })
    }
}
