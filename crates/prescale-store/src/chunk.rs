//! The encoding of a chunk: the aggregates of up to [`BUCKETS_PER_CHUNK`] buckets of one series.
//!
//! ```text
//! u64 LE   presence bitmap: bit i set = bucket i holds samples (bits 60..64 are zero)
//! then, for each present bucket in order:
//!   u32 LE count         samples aggregated (at least 1)
//!   u32 LE last_offset   milliseconds from the bucket's start to the last sample
//!   count = 1:  f64 LE value                  (16 bytes in all)
//!   count > 1:  f64 LE sum, min, max, last    (40 bytes in all)
//! ```
//!
//! Absent buckets take no space, and a bucket of one sample (a source sampled at the store's
//! resolution, or a backfill at that step) takes 16 bytes: a full chunk of such buckets is 968
//! bytes, so that four fit in one 4 KiB page. A full chunk of multi-sample buckets is 2,408
//! bytes.

use crate::grid::BUCKETS_PER_CHUNK;

/// Bytes of the record of a bucket of one sample.
const SINGLE_BYTES: usize = 16;
/// Bytes of the record of a bucket of several samples.
const MULTI_BYTES: usize = 40;
/// Bytes of the presence bitmap.
const HEADER_BYTES: usize = 8;
/// The bits a bitmap may have set.
const VALID_BITS: u64 = (1u64 << BUCKETS_PER_CHUNK) - 1;

/// The aggregates of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rec {
    /// Samples aggregated (at least 1).
    pub(crate) count: u32,
    /// Milliseconds from the bucket's start to the latest sample.
    pub(crate) last_offset_ms: u32,
    /// Sum of the samples.
    pub(crate) sum: f64,
    /// Smallest sample.
    pub(crate) min: f64,
    /// Largest sample.
    pub(crate) max: f64,
    /// The latest sample (by timestamp; of equal timestamps, the one appended last).
    pub(crate) last: f64,
}

impl Rec {
    const EMPTY: Rec = Rec {
        count: 0,
        last_offset_ms: 0,
        sum: 0.0,
        min: 0.0,
        max: 0.0,
        last: 0.0,
    };

    /// Adds one sample taken `offset_ms` after the bucket's start; returns false (and changes
    /// nothing) for a repeat of the latest sample (same offset, same value).
    fn add(&mut self, offset_ms: u32, value: f64) -> bool {
        if self.count > 0 && offset_ms == self.last_offset_ms && value == self.last {
            return false;
        }
        if self.count == 0 {
            *self = Rec {
                count: 1,
                last_offset_ms: offset_ms,
                sum: value,
                min: value,
                max: value,
                last: value,
            };
            return true;
        }
        self.count = self.count.saturating_add(1);
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if offset_ms >= self.last_offset_ms {
            self.last_offset_ms = offset_ms;
            self.last = value;
        }
        true
    }

    /// Folds in the aggregates of `other`, whose bucket starts `shift_ms` after this one's
    /// (rollup into a coarser tier).
    fn merge(&mut self, other: &Rec, shift_ms: u32) {
        let other_last = other.last_offset_ms.saturating_add(shift_ms);
        if self.count == 0 {
            *self = Rec {
                last_offset_ms: other_last,
                ..*other
            };
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other_last >= self.last_offset_ms {
            self.last_offset_ms = other_last;
            self.last = other.last;
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.last_offset_ms.to_le_bytes());
        if self.count == 1 {
            out.extend_from_slice(&self.last.to_le_bytes());
        } else {
            out.extend_from_slice(&self.sum.to_le_bytes());
            out.extend_from_slice(&self.min.to_le_bytes());
            out.extend_from_slice(&self.max.to_le_bytes());
            out.extend_from_slice(&self.last.to_le_bytes());
        }
    }

    fn encoded_len(&self) -> usize {
        if self.count == 1 {
            SINGLE_BYTES
        } else {
            MULTI_BYTES
        }
    }

    /// Reads the record at the start of `b`; returns it and its length.
    fn read(b: &[u8]) -> Result<(Rec, usize), String> {
        let short = || format!("bucket record cut short ({} bytes left)", b.len());
        if b.len() < SINGLE_BYTES {
            return Err(short());
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let f64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            f64::from_le_bytes(a)
        };
        let (count, last_offset_ms) = (u32_at(0), u32_at(4));
        let (rec, len) = match count {
            0 => return Err("bucket record with a count of 0".to_string()),
            1 => {
                let value = f64_at(8);
                let rec = Rec {
                    count,
                    last_offset_ms,
                    sum: value,
                    min: value,
                    max: value,
                    last: value,
                };
                (rec, SINGLE_BYTES)
            }
            _ if b.len() < MULTI_BYTES => return Err(short()),
            _ => {
                let rec = Rec {
                    count,
                    last_offset_ms,
                    sum: f64_at(8),
                    min: f64_at(16),
                    max: f64_at(24),
                    last: f64_at(32),
                };
                (rec, MULTI_BYTES)
            }
        };
        if !(rec.min.is_finite() && rec.max.is_finite() && rec.last.is_finite()) || rec.sum.is_nan()
        {
            return Err("bucket record with a non-finite value".to_string());
        }
        if rec.min > rec.max || rec.last < rec.min || rec.last > rec.max {
            return Err(format!(
                "bucket record with min {} > max {} or last {} outside them",
                rec.min, rec.max, rec.last
            ));
        }
        Ok((rec, len))
    }
}

/// A decoded chunk, for updates.
#[derive(Debug, Clone)]
pub(crate) struct ChunkBuf {
    present: u64,
    recs: [Rec; BUCKETS_PER_CHUNK],
}

impl ChunkBuf {
    /// A chunk with no buckets.
    pub(crate) fn empty() -> Self {
        Self {
            present: 0,
            recs: [Rec::EMPTY; BUCKETS_PER_CHUNK],
        }
    }

    /// Decodes `bytes`, or says why they are not a chunk.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut buf = Self::empty();
        for_each(bytes, |i, rec| {
            buf.recs[i] = rec;
        })?;
        buf.present = bitmap(bytes)?;
        Ok(buf)
    }

    /// Appends the encoding of this chunk to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let present = || {
            self.recs
                .iter()
                .enumerate()
                .filter(|(i, _)| self.present & (1 << i) != 0)
                .map(|(_, rec)| rec)
        };
        out.reserve(HEADER_BYTES + present().map(Rec::encoded_len).sum::<usize>());
        out.extend_from_slice(&self.present.to_le_bytes());
        for rec in present() {
            rec.write(out);
        }
    }

    /// Whether no bucket holds samples.
    pub(crate) fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// Adds a sample to bucket `bucket`, `offset_ms` after its start; returns false for a
    /// repeat of the bucket's latest sample, which is skipped.
    pub(crate) fn add(&mut self, bucket: usize, offset_ms: u32, value: f64) -> bool {
        let added = self.recs[bucket].add(offset_ms, value);
        self.present |= 1 << bucket;
        added
    }

    /// Folds `rec` into bucket `bucket`; `rec`'s bucket starts `shift_ms` after it.
    pub(crate) fn merge(&mut self, bucket: usize, rec: &Rec, shift_ms: u32) {
        self.recs[bucket].merge(rec, shift_ms);
        self.present |= 1 << bucket;
    }

    /// Empties buckets `from..to`.
    pub(crate) fn clear(&mut self, from: usize, to: usize) {
        for i in from..to {
            self.recs[i] = Rec::EMPTY;
            self.present &= !(1 << i);
        }
    }
}

/// The presence bitmap of an encoded chunk (its header; the records are not read).
pub(crate) fn bitmap(bytes: &[u8]) -> Result<u64, String> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Err(format!(
            "chunk of {} bytes is shorter than its header",
            bytes.len()
        ));
    };
    let mut a = [0u8; 8];
    a.copy_from_slice(header);
    let present = u64::from_le_bytes(a);
    if present & !VALID_BITS != 0 {
        return Err(format!(
            "chunk bitmap {present:#x} marks buckets past {BUCKETS_PER_CHUNK}"
        ));
    }
    Ok(present)
}

/// Calls `f(bucket, record)` for each present bucket of an encoded chunk, in order, and
/// checks that the records fill the chunk exactly.
pub(crate) fn for_each(bytes: &[u8], mut f: impl FnMut(usize, Rec)) -> Result<(), String> {
    let mut present = bitmap(bytes)?;
    let mut at = HEADER_BYTES;
    while present != 0 {
        let i = present.trailing_zeros() as usize;
        present &= present - 1;
        let (rec, len) = Rec::read(&bytes[at..])?;
        f(i, rec);
        at += len;
    }
    if at != bytes.len() {
        return Err(format!(
            "chunk is {} bytes but its records end at {at}",
            bytes.len()
        ));
    }
    Ok(())
}

/// The last present bucket of an encoded chunk.
pub(crate) fn last(bytes: &[u8]) -> Result<Option<(usize, Rec)>, String> {
    let mut last = None;
    for_each(bytes, |i, rec| last = Some((i, rec)))?;
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(buf: &ChunkBuf) -> Vec<u8> {
        let mut out = Vec::new();
        buf.encode(&mut out);
        out
    }

    #[test]
    fn aggregates_and_round_trips() {
        let mut buf = ChunkBuf::empty();
        buf.add(3, 10_000, 2.0);
        buf.add(3, 50_000, 4.0);
        buf.add(3, 20_000, 9.0); // out of order: not the last
        buf.add(59, 0, -1.5);
        let bytes = encoded(&buf);
        assert_eq!(
            bytes.len(),
            8 + 40 + 16,
            "one bucket of three samples, one of one"
        );
        let mut seen = Vec::new();
        for_each(&bytes, |i, r| seen.push((i, r))).expect("valid chunk");
        assert_eq!(seen.len(), 2);
        let (i, r) = seen[0];
        assert_eq!(i, 3);
        assert_eq!(
            (r.count, r.sum, r.min, r.max, r.last),
            (3, 15.0, 2.0, 9.0, 4.0)
        );
        assert_eq!(r.last_offset_ms, 50_000);
        assert_eq!(seen[1].0, 59);
        assert_eq!(
            last(&bytes).expect("valid").map(|(i, r)| (i, r.last)),
            Some((59, -1.5))
        );
        let again = ChunkBuf::decode(&bytes).expect("valid chunk");
        assert_eq!(encoded(&again), bytes);
    }

    #[test]
    fn equal_timestamps_keep_the_later_write_as_last() {
        let mut buf = ChunkBuf::empty();
        assert!(buf.add(0, 5, 1.0));
        assert!(buf.add(0, 5, 3.0));
        let (_, r) = last(&encoded(&buf)).expect("valid").expect("a bucket");
        assert_eq!((r.count, r.last), (2, 3.0));
    }

    #[test]
    fn a_repeat_of_the_latest_sample_is_skipped() {
        let mut buf = ChunkBuf::empty();
        assert!(buf.add(0, 5, 1.0));
        assert!(!buf.add(0, 5, 1.0));
        assert!(buf.add(0, 6, 1.0), "another timestamp is another sample");
        assert!(buf.add(0, 5, 1.0), "not the latest any more");
        let (_, r) = last(&encoded(&buf)).expect("valid").expect("a bucket");
        assert_eq!((r.count, r.sum), (3, 3.0));
    }

    #[test]
    fn merge_shifts_the_last_offset() {
        let mut a = ChunkBuf::empty();
        a.add(0, 1_000, 5.0);
        let mut b = ChunkBuf::empty();
        b.add(0, 500, 7.0);
        let rb = last(&encoded(&b)).expect("valid").expect("a bucket").1;
        let mut tier = ChunkBuf::empty();
        let ra = last(&encoded(&a)).expect("valid").expect("a bucket").1;
        tier.merge(0, &rb, 60_000);
        tier.merge(0, &ra, 0);
        let (_, r) = last(&encoded(&tier)).expect("valid").expect("a bucket");
        assert_eq!(
            (r.count, r.sum, r.last, r.last_offset_ms),
            (2, 12.0, 7.0, 60_500)
        );
        tier.clear(0, 60);
        assert!(tier.is_empty());
    }

    #[test]
    fn damaged_chunks_are_reported_not_panicked_on() {
        let mut buf = ChunkBuf::empty();
        buf.add(1, 0, 1.0);
        let good = encoded(&buf);
        assert!(ChunkBuf::decode(&good[..good.len() - 1]).is_err());
        assert!(ChunkBuf::decode(&good[..4]).is_err());
        let mut extra_bit = good.clone();
        extra_bit[7] = 0x80;
        assert!(ChunkBuf::decode(&extra_bit).is_err());
        let mut zero_count = good.clone();
        zero_count[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(ChunkBuf::decode(&zero_count).is_err());
        let mut nan = good.clone();
        nan[8 + 8..8 + 16].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(ChunkBuf::decode(&nan).is_err());
        // A count of 2 needs a 40-byte record.
        let mut long_count = good.clone();
        long_count[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(ChunkBuf::decode(&long_count).is_err());
        let mut trailing = good;
        trailing.push(0);
        assert!(ChunkBuf::decode(&trailing).is_err());
        assert!(ChunkBuf::decode(&[]).is_err());
    }
}
