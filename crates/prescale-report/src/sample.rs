//! Downsampling of long timelines for drawing.
//!
//! A 30-day timeline at one sample a minute has 43,200 samples per series; a chart a thousand
//! pixels wide cannot show more than a few points per pixel, so each series is cut into buckets
//! of consecutive samples and each bucket becomes one or two points. Non-finite values (NaN
//! forecasts before the first origin, say) are gaps: they split a series into segments.

use std::ops::Range;

/// At most this many points are drawn per series.
pub(crate) const MAX_POINTS: usize = 1500;

/// A contiguous run of drawn points `(time, value)`, time in seconds since the Unix epoch.
pub(crate) type Segment = Vec<(f64, f64)>;

/// A contiguous run of band points `(time, low, high)`.
pub(crate) type BandSegment = Vec<(f64, f64, f64)>;

/// The regular sample grid of a timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Grid {
    /// Time of sample 0, seconds since the Unix epoch.
    pub(crate) start: f64,
    /// Seconds between samples (positive).
    pub(crate) step: f64,
}

impl Grid {
    /// Time of sample `index`.
    pub(crate) fn time(&self, index: usize) -> f64 {
        self.start + self.step * index as f64
    }

    /// Time of the middle of the samples `range`.
    fn middle(&self, range: &Range<usize>) -> f64 {
        let last = range.end.saturating_sub(1).max(range.start);
        (self.time(range.start) + self.time(last)) / 2.0
    }
}

/// How a bucket of samples becomes drawn points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduce {
    /// The smallest and the largest value, in time order (two points a bucket): peaks and dips
    /// both stay visible. For demand, capacity and replicas.
    MinMax,
    /// The mean of the finite values, at the middle of the bucket. For forecast medians.
    Mean,
    /// The last finite value. For cumulative series.
    Last,
}

/// Splits `len` samples into at most `buckets` runs of equal length (the last may be shorter).
fn buckets(len: usize, buckets: usize) -> impl Iterator<Item = Range<usize>> {
    let size = len.div_ceil(buckets.max(1)).max(1);
    (0..len)
        .step_by(size)
        .map(move |start| start..(start + size).min(len))
}

/// Reduces `values` on `grid` to at most about [`MAX_POINTS`] points, as segments without gaps.
pub(crate) fn downsample(values: &[f64], grid: Grid, reduce: Reduce) -> Vec<Segment> {
    let per_bucket = if reduce == Reduce::MinMax { 2 } else { 1 };
    let mut out = Segments::default();
    for range in buckets(values.len(), MAX_POINTS / per_bucket) {
        let finite = || {
            range
                .clone()
                .filter_map(|i| values[i].is_finite().then_some((i, values[i])))
        };
        let Some(first) = finite().next() else {
            out.gap();
            continue;
        };
        match reduce {
            Reduce::MinMax => {
                let (mut low, mut high) = (first, first);
                for (i, v) in finite() {
                    if v < low.1 {
                        low = (i, v);
                    }
                    if v > high.1 {
                        high = (i, v);
                    }
                }
                let (a, b) = if low.0 <= high.0 {
                    (low, high)
                } else {
                    (high, low)
                };
                out.push((grid.time(a.0), a.1));
                if b.0 != a.0 {
                    out.push((grid.time(b.0), b.1));
                }
            }
            Reduce::Mean => {
                let (sum, n) = finite().fold((0.0, 0usize), |(s, n), (_, v)| (s + v, n + 1));
                out.push((grid.middle(&range), sum / n as f64));
            }
            Reduce::Last => {
                let (i, v) = finite().next_back().unwrap_or(first);
                out.push((grid.time(i), v));
            }
        }
    }
    out.finish()
}

/// The band between `low` and `high` (say a P50 and an upper forecast): per bucket, the smallest
/// low and the largest high over the samples where both are finite. At most about
/// [`MAX_POINTS`] / 2 buckets, so that the band's outline has at most about [`MAX_POINTS`] points.
pub(crate) fn band(low: &[f64], high: &[f64], grid: Grid) -> Vec<BandSegment> {
    let len = low.len().min(high.len());
    let mut segments = Vec::new();
    let mut current: BandSegment = Vec::new();
    for range in buckets(len, MAX_POINTS / 2) {
        let mut bounds: Option<(f64, f64)> = None;
        for i in range.clone() {
            let (l, h) = (low[i], high[i]);
            if l.is_finite() && h.is_finite() {
                let (l, h) = (l.min(h), l.max(h));
                bounds = Some(bounds.map_or((l, h), |(bl, bh)| (bl.min(l), bh.max(h))));
            }
        }
        match bounds {
            Some((l, h)) => current.push((grid.middle(&range), l, h)),
            None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// Collects points into segments, closing one at each gap.
#[derive(Default)]
struct Segments {
    done: Vec<Segment>,
    current: Segment,
}

impl Segments {
    fn push(&mut self, point: (f64, f64)) {
        self.current.push(point);
    }

    fn gap(&mut self) {
        if !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    fn finish(mut self) -> Vec<Segment> {
        self.gap();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: Grid = Grid {
        start: 1000.0,
        step: 60.0,
    };

    fn points(segments: &[Segment]) -> usize {
        segments.iter().map(Vec::len).sum()
    }

    #[test]
    fn short_series_are_kept_as_they_are() {
        let values = [1.0, 2.0, 3.0];
        for reduce in [Reduce::MinMax, Reduce::Mean, Reduce::Last] {
            let segments = downsample(&values, GRID, reduce);
            assert_eq!(
                segments,
                vec![vec![(1000.0, 1.0), (1060.0, 2.0), (1120.0, 3.0)]]
            );
        }
    }

    #[test]
    fn gaps_split_segments() {
        let values = [1.0, f64::NAN, f64::NAN, 4.0, f64::INFINITY, 6.0];
        let segments = downsample(&values, GRID, Reduce::MinMax);
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[1], vec![(1180.0, 4.0)]);
        assert!(downsample(&[f64::NAN; 10], GRID, Reduce::Mean).is_empty());
        assert!(downsample(&[], GRID, Reduce::Last).is_empty());
    }

    #[test]
    fn long_series_keep_peaks_dips_and_the_end() {
        let n = 43_200;
        let mut values: Vec<f64> = (0..n).map(|i| 10.0 + (i % 7) as f64).collect();
        values[12_345] = 1000.0;
        values[23_456] = -5.0;
        let minmax = downsample(&values, GRID, Reduce::MinMax);
        assert!(points(&minmax) <= MAX_POINTS);
        let all: Vec<f64> = minmax.iter().flatten().map(|p| p.1).collect();
        assert!(all.contains(&1000.0) && all.contains(&-5.0));
        assert!(minmax[0].windows(2).all(|w| w[0].0 < w[1].0), "time order");

        let cumulative: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let last = downsample(&cumulative, GRID, Reduce::Last);
        assert!(points(&last) <= MAX_POINTS);
        assert_eq!(*last[0].last().unwrap(), (GRID.time(n - 1), (n - 1) as f64));

        let mean = downsample(&cumulative, GRID, Reduce::Mean);
        assert!(points(&mean) <= MAX_POINTS && points(&mean) > MAX_POINTS / 2);
    }

    #[test]
    fn band_takes_the_envelope_and_skips_gaps() {
        let low = [1.0, 2.0, f64::NAN, 3.0];
        let high = [2.0, 1.0, 5.0, 4.0];
        assert_eq!(
            band(&low, &high, GRID),
            vec![
                vec![(1000.0, 1.0, 2.0), (1060.0, 1.0, 2.0)],
                vec![(1180.0, 3.0, 4.0)]
            ]
        );
        let n = 43_200;
        let low: Vec<f64> = (0..n).map(|i| (i % 100) as f64).collect();
        let high: Vec<f64> = low.iter().map(|v| v + 10.0).collect();
        let segments = band(&low, &high, GRID);
        assert_eq!(segments.len(), 1);
        assert!(segments[0].len() <= MAX_POINTS / 2);
        assert!(segments[0].iter().all(|&(_, l, h)| l + 10.0 <= h));
        let lowest = segments[0]
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        let highest = segments[0]
            .iter()
            .map(|p| p.2)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((lowest, highest), (0.0, 109.0));
        assert!(band(&[], &[1.0], GRID).is_empty());
    }
}
