//! Bucket and chunk arithmetic, and the chunk keys.
//!
//! Time is counted in milliseconds since the Unix epoch. A tier's buckets are `res_ms` wide and
//! aligned to the epoch; [`BUCKETS_PER_CHUNK`] consecutive buckets form a chunk, the unit of
//! storage. Chunk `c` covers `[c * span_ms, (c + 1) * span_ms)`. A chunk's key is the series id
//! in the high 32 bits and the chunk index in the low 32 bits, so that one series' chunks are
//! contiguous and in time order in the table.

/// Buckets per chunk (fits the chunk's 64-bit presence bitmap).
pub(crate) const BUCKETS_PER_CHUNK: usize = 60;

/// The buckets of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    res_ms: i64,
    span_ms: i64,
}

/// Where a timestamp falls in a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The chunk index.
    pub(crate) chunk: u32,
    /// The bucket within the chunk.
    pub(crate) bucket: usize,
    /// Milliseconds from the bucket's start.
    pub(crate) offset_ms: u32,
}

impl Grid {
    /// The grid of `res_ms`-wide buckets (positive, at most one day).
    pub(crate) fn new(res_ms: i64) -> Self {
        debug_assert!(res_ms > 0 && res_ms <= 86_400_000);
        Self {
            res_ms,
            span_ms: res_ms * BUCKETS_PER_CHUNK as i64,
        }
    }

    /// Width of a bucket.
    pub(crate) fn res_ms(&self) -> i64 {
        self.res_ms
    }

    /// Width of a chunk.
    pub(crate) fn span_ms(&self) -> i64 {
        self.span_ms
    }

    /// Where `ms` falls, or why it cannot be stored.
    pub(crate) fn position(&self, ms: i64) -> Result<Position, &'static str> {
        if ms < 0 {
            return Err("timestamps before 1970-01-01 cannot be stored");
        }
        let chunk = u32::try_from(ms / self.span_ms)
            .map_err(|_| "timestamp is too far in the future for this resolution")?;
        let in_chunk = ms % self.span_ms;
        Ok(Position {
            chunk,
            bucket: (in_chunk / self.res_ms) as usize,
            offset_ms: (in_chunk % self.res_ms) as u32,
        })
    }

    /// Start of chunk `chunk`.
    pub(crate) fn chunk_start(&self, chunk: u32) -> i64 {
        i64::from(chunk) * self.span_ms
    }

    /// Start of bucket `bucket` of chunk `chunk`.
    pub(crate) fn bucket_start(&self, chunk: u32, bucket: usize) -> i64 {
        self.chunk_start(chunk) + bucket as i64 * self.res_ms
    }

    /// The chunk holding `ms`, clamped into the representable chunks (for range queries).
    pub(crate) fn clamped_chunk(&self, ms: i64) -> u32 {
        if ms < 0 {
            0
        } else {
            u32::try_from(ms / self.span_ms).unwrap_or(u32::MAX)
        }
    }
}

/// The key of chunk `chunk` of series `series`.
pub(crate) fn key(series: u32, chunk: u32) -> u64 {
    (u64::from(series) << 32) | u64::from(chunk)
}

/// The series id and chunk index of a key.
pub(crate) fn split_key(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_at_one_minute() {
        let grid = Grid::new(60_000);
        assert_eq!(grid.span_ms(), 3_600_000);
        let p = grid.position(3_600_000 * 5 + 61_500).expect("in range");
        assert_eq!(
            p,
            Position {
                chunk: 5,
                bucket: 1,
                offset_ms: 1_500
            }
        );
        assert_eq!(grid.bucket_start(5, 1), 3_600_000 * 5 + 60_000);
        assert!(grid.position(-1).is_err());
        assert!(grid.position(i64::MAX).is_err());
        assert_eq!(grid.clamped_chunk(-5), 0);
        assert_eq!(grid.clamped_chunk(i64::MAX), u32::MAX);
    }

    #[test]
    fn keys_round_trip_and_sort_by_series_then_time() {
        assert_eq!(split_key(key(7, 42)), (7, 42));
        assert!(key(1, u32::MAX) < key(2, 0));
        assert!(key(1, 3) < key(1, 4));
    }
}
