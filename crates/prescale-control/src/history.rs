//! A service's one-minute demand history: contiguous, gap-filled, bounded.
//!
//! Values are held as `f32` (28 days of one-minute history take 160 KiB per ScaledObject):
//! demand levels need no more than seven significant digits, and every replica of the server
//! rounds the same way.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// A timestamped value: a sample of a query, or a history step.
pub type Point = (DateTime<Utc>, f64);

/// A contiguous history of one value per step.
#[derive(Debug, Clone)]
pub struct History {
    step_secs: i64,
    max_len: usize,
    start: Option<DateTime<Utc>>,
    values: VecDeque<f32>,
}

/// How steps without a value are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// With 0 (an absent series means no demand: KEDA's `ignoreNullValues`).
    Zero,
    /// With the previous value.
    Previous,
}

impl History {
    /// An empty history of `step_secs` steps keeping at most `max_len` values.
    pub fn new(step_secs: i64, max_len: usize) -> Self {
        Self {
            step_secs,
            max_len: max_len.max(1),
            start: None,
            values: VecDeque::new(),
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Timestamp of the first value.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start
    }

    /// Timestamp just after the last value (where the next one goes).
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.start.map(|s| self.at(s, self.values.len()))
    }

    /// Makes room for `more` values, never beyond the bound.
    fn reserve(&mut self, more: usize) {
        let want = (self.values.len() + more).min(self.max_len);
        if want > self.values.capacity() {
            self.values.reserve_exact(want - self.values.len());
        }
    }

    /// Timestamp of the last value.
    pub fn last(&self) -> Option<DateTime<Utc>> {
        let start = self.start?;
        (!self.values.is_empty()).then(|| self.at(start, self.values.len() - 1))
    }

    fn at(&self, start: DateTime<Utc>, i: usize) -> DateTime<Utc> {
        start + chrono::Duration::seconds(self.step_secs * i as i64)
    }

    /// Position of `t` (on the grid) in the history, possibly out of range.
    fn index(&self, t: DateTime<Utc>) -> Option<i64> {
        self.start
            .map(|s| (t - s).num_seconds().div_euclid(self.step_secs))
    }

    /// Appends the steps `from, from + step, ..., to` (on the step grid, `from` = [`Self::end`]
    /// unless the history is empty), taking values from `points` and filling the others.
    /// Unusable values (NaN, infinite) count as missing, negative ones as 0. Returns the
    /// appended points.
    pub fn extend(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        points: &[Point],
        fill: Fill,
    ) -> Vec<Point> {
        if self.end().is_some_and(|e| e != from) {
            // Not contiguous: start over (the caller asks from `end`, so this is a reset).
            self.start = None;
            self.values.clear();
        }
        if self.start.is_none() {
            self.start = Some(from);
        }
        let steps = ((to - from).num_seconds() / self.step_secs + 1).max(0) as usize;
        self.reserve(steps);
        let mut appended = Vec::new();
        let mut p = points.iter().peekable();
        let mut t = from;
        while t <= to {
            while p.peek().is_some_and(|(pt, _)| *pt < t) {
                p.next();
            }
            let v = match p.peek() {
                Some((pt, v)) if *pt == t && v.is_finite() => v.max(0.0),
                _ => match fill {
                    Fill::Zero => 0.0,
                    Fill::Previous => self.values.back().map_or(0.0, |v| f64::from(*v)),
                },
            };
            self.values.push_back(v as f32);
            appended.push((t, v));
            t += chrono::Duration::seconds(self.step_secs);
        }
        while self.values.len() > self.max_len {
            self.values.pop_front();
            self.start = self.start.map(|s| self.at(s, 1));
        }
        appended
    }

    /// Restores stored points (on the grid, oldest first): the longest contiguous run ending
    /// with the last point is kept.
    pub fn restore(&mut self, points: &[Point]) {
        self.start = None;
        self.values.clear();
        let step = chrono::Duration::seconds(self.step_secs);
        let mut first = points.len();
        while first > 0 && (first == points.len() || points[first - 1].0 + step == points[first].0)
        {
            first -= 1;
        }
        if let Some(&(t, _)) = points.get(first) {
            self.start = Some(t);
            self.reserve(points.len() - first);
            self.values
                .extend(points[first..].iter().map(|p| p.1.max(0.0) as f32));
            while self.values.len() > self.max_len {
                self.values.pop_front();
                self.start = self.start.map(|s| self.at(s, 1));
            }
        }
    }

    /// The values of the steps in `[from, to)`, clipped to what is held, with the timestamp
    /// of the first.
    pub fn window(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, Vec<f64>) {
        let (Some(start), Some(a), Some(b)) = (self.start, self.index(from), self.index(to)) else {
            return (from, Vec::new());
        };
        let n = self.values.len() as i64;
        let (a, b) = (a.clamp(0, n), b.clamp(0, n));
        let values = self
            .values
            .range(a as usize..b.max(a) as usize)
            .map(|v| f64::from(*v))
            .collect();
        (self.at(start, a as usize), values)
    }

    /// Every value, oldest first.
    pub fn values(&self) -> Vec<f64> {
        self.values.iter().map(|v| f64::from(*v)).collect()
    }

    /// Every value with its timestamp, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let Some(start) = self.start else {
            return Vec::new();
        };
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (self.at(start, i), f64::from(*v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(min * 60, 0).unwrap()
    }

    #[test]
    fn extends_with_gaps_filled_and_bounded_length() {
        let mut h = History::new(60, 5);
        let got = h.extend(
            t(0),
            t(3),
            &[(t(0), 1.0), (t(2), f64::NAN), (t(3), -2.0)],
            Fill::Previous,
        );
        assert_eq!(
            got.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![1.0, 1.0, 1.0, 0.0]
        );
        assert_eq!(h.end(), Some(t(4)));
        h.extend(t(4), t(5), &[(t(5), 7.0)], Fill::Zero);
        assert_eq!(h.values(), vec![1.0, 1.0, 0.0, 0.0, 7.0]);
        assert_eq!(h.start(), Some(t(1)));
        assert_eq!(h.last(), Some(t(5)));
        let (from, w) = h.window(t(3), t(10));
        assert_eq!((from, w), (t(3), vec![0.0, 0.0, 7.0]));
        assert!(h.window(t(20), t(30)).1.is_empty());
    }

    #[test]
    fn restore_keeps_the_last_contiguous_run() {
        let mut h = History::new(60, 100);
        h.restore(&[(t(0), 1.0), (t(5), 2.0), (t(6), 3.0)]);
        assert_eq!(h.start(), Some(t(5)));
        assert_eq!(h.values(), vec![2.0, 3.0]);
        h.restore(&[]);
        assert!(h.is_empty());
    }
}
