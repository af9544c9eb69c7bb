//! The time axis of the charts: ticks at round UTC times, labelled in UTC.

use std::ops::Range;

use chrono::DateTime;
use plotters::coord::ranged1d::{
    KeyPointHint, KeyPointWeight, NoDefaultFormatting, Ranged, ValueFormatter,
};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Tick steps, smallest first; beyond the last, multiples of it.
const STEPS: &[i64] = &[
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    WEEK,
    2 * WEEK,
    4 * WEEK,
];

/// 1970-01-01 was a Thursday: week ticks are shifted by four days to fall on Mondays.
const MONDAY: i64 = 4 * DAY;

/// A time axis over `[start, end]` in seconds since the Unix epoch, with at most `labels` ticks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeAxis {
    start: f64,
    end: f64,
    labels: usize,
}

impl TimeAxis {
    /// An axis over `[start, end]` (widened to an hour if empty or inverted) with at most
    /// `labels` labelled ticks.
    pub(crate) fn new(start: f64, end: f64, labels: usize) -> Self {
        let start = if start.is_finite() { start } else { 0.0 };
        let end = if end.is_finite() && end > start {
            end
        } else {
            start + HOUR as f64
        };
        Self {
            start,
            end,
            labels: labels.max(2),
        }
    }

    /// The step between ticks such that at most `max` ticks fall in the range.
    fn step(&self, max: usize) -> i64 {
        let max = max.max(1);
        for &step in STEPS {
            if self.tick_span(step).1 <= max as u64 {
                return step;
            }
        }
        let largest = STEPS[STEPS.len() - 1];
        let intervals = max.saturating_sub(1).max(1) as f64;
        let multiple = ((self.end - self.start) / (largest as f64 * intervals))
            .ceil()
            .max(1.0);
        largest.saturating_mul(multiple as i64)
    }

    /// The first tick index, the number of ticks and the offset for ticks at multiples of
    /// `step` (weeks aligned on Mondays) within the range.
    fn tick_span(&self, step: i64) -> (f64, u64, f64) {
        let offset = if step % WEEK == 0 { MONDAY as f64 } else { 0.0 };
        let step = step as f64;
        let first = ((self.start - offset) / step).ceil();
        let last = ((self.end - offset) / step).floor();
        let count = if last >= first {
            (last - first) as u64 + 1
        } else {
            0
        };
        (first, count, offset)
    }

    /// The ticks at multiples of `step` within the range.
    fn ticks_with(&self, step: i64) -> impl Iterator<Item = f64> + use<> {
        let (first, count, offset) = self.tick_span(step);
        let step = step as f64;
        (0..count).map(move |k| (first + k as f64) * step + offset)
    }

    /// The label of a tick at `secs`: the time, with the date when the axis spans days, or the
    /// date alone for steps of whole days.
    pub(crate) fn label(&self, secs: f64) -> String {
        let Some(time) = DateTime::from_timestamp(secs.round() as i64, 0) else {
            return String::new();
        };
        let format = if self.step(self.labels) % DAY == 0 {
            "%b %d"
        } else if self.end - self.start > DAY as f64 {
            "%b %d %H:%M"
        } else {
            "%H:%M"
        };
        time.format(format).to_string()
    }
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.start) / (self.end - self.start);
        let pixel = f64::from(limit.0) + share * f64::from(limit.1 - limit.0);
        // A saturating cast; NaN maps to the axis start.
        pixel.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => {
                let max = hint.max_num_points().min(self.labels);
                self.ticks_with(self.step(max)).collect()
            }
            // No light grid lines along time.
            KeyPointWeight::Any => Vec::new(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.start..self.end
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::coord::ranged1d::BoldPoints;

    /// 2024-01-01T00:00:00Z, a Monday.
    const JAN1: f64 = 1_704_067_200.0;

    fn ticks(axis: &TimeAxis) -> Vec<String> {
        axis.key_points(BoldPoints(axis.labels))
            .iter()
            .map(|&t| axis.label(t))
            .collect()
    }

    #[test]
    fn hours_within_a_day() {
        let axis = TimeAxis::new(JAN1 + 600.0, JAN1 + 6.0 * 3600.0, 8);
        assert_eq!(
            ticks(&axis),
            ["01:00", "02:00", "03:00", "04:00", "05:00", "06:00"]
        );
    }

    #[test]
    fn days_and_weeks() {
        let axis = TimeAxis::new(JAN1, JAN1 + 3.0 * 86_400.0, 8);
        assert_eq!(
            ticks(&axis)[..3],
            ["Jan 01 00:00", "Jan 01 12:00", "Jan 02 00:00"]
        );
        let axis = TimeAxis::new(JAN1, JAN1 + 30.0 * 86_400.0, 8);
        assert_eq!(
            ticks(&axis),
            ["Jan 01", "Jan 08", "Jan 15", "Jan 22", "Jan 29"]
        );
        let axis = TimeAxis::new(JAN1, JAN1 + 10.0 * 86_400.0, 8);
        assert_eq!(
            ticks(&axis),
            ["Jan 02", "Jan 04", "Jan 06", "Jan 08", "Jan 10"]
        );
    }

    #[test]
    fn degenerate_ranges_do_not_panic() {
        let axis = TimeAxis::new(JAN1, JAN1, 8);
        assert_eq!(axis.range(), JAN1..JAN1 + 3600.0);
        assert!(!ticks(&axis).is_empty());
        let axis = TimeAxis::new(f64::NAN, f64::NAN, 0);
        assert!(axis.key_points(BoldPoints(0)).len() <= 2);
        let axis = TimeAxis::new(0.0, 1e12, 8);
        assert!(axis.key_points(BoldPoints(8)).len() <= 8);
        assert_eq!(axis.label(f64::MAX), "");
        assert!(axis.key_points(7usize).is_empty());
    }

    #[test]
    fn maps_linearly() {
        let axis = TimeAxis::new(0.0, 100.0, 8);
        assert_eq!(axis.map(&0.0, (10, 110)), 10);
        assert_eq!(axis.map(&50.0, (10, 110)), 60);
        assert_eq!(axis.map(&100.0, (10, 110)), 110);
    }
}
