//! Regular time series.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a series' values mean; it decides how gaps are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// A per-interval count (requests, jobs, tokens): a missing interval had no events, so
    /// gaps are filled with 0.
    #[default]
    Count,
    /// A gauge sampled at each step (CPU %, queue depth, GPU utilization): gaps are filled by
    /// linear interpolation between the neighbouring samples.
    Gauge,
}

impl std::str::FromStr for ValueKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "count" => Ok(Self::Count),
            "gauge" => Ok(Self::Gauge),
            other => Err(format!(
                "unknown value kind `{other}` (expected `count` or `gauge`)"
            )),
        }
    }
}

/// One observation: the value of the interval that starts at `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Start of the interval.
    pub timestamp: DateTime<Utc>,
    /// The value, finite and non-negative.
    pub value: f64,
}

/// Why a [`Series`] could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    /// The step must be a positive number of seconds.
    #[error("step must be a positive number of seconds, got {0}")]
    BadStep(i64),
    /// A value is NaN, infinite or negative.
    #[error("value at index {index} is {value}: values must be finite and non-negative")]
    BadValue {
        /// Position of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
}

/// A regular time series: value `i` covers the interval starting at `start + i * step`.
///
/// Values are finite and non-negative. Positions that the source did not provide and that were
/// filled in (see [`ValueKind`]) are listed in [`Series::filled`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    start: DateTime<Utc>,
    step_secs: i64,
    values: Vec<f64>,
    kind: ValueKind,
    filled: Vec<usize>,
}

impl Series {
    /// Builds a series, checking the step and every value.
    pub fn new(
        start: DateTime<Utc>,
        step_secs: i64,
        values: Vec<f64>,
        kind: ValueKind,
    ) -> Result<Self, SeriesError> {
        if step_secs <= 0 {
            return Err(SeriesError::BadStep(step_secs));
        }
        if let Some((index, &value)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(SeriesError::BadValue { index, value });
        }
        Ok(Self {
            start,
            step_secs,
            values,
            kind,
            filled: Vec::new(),
        })
    }

    /// Records which positions were filled in; indices must be sorted and in range.
    pub fn with_filled(mut self, filled: Vec<usize>) -> Self {
        debug_assert!(filled.windows(2).all(|w| w[0] < w[1]));
        debug_assert!(filled.last().is_none_or(|&i| i < self.values.len()));
        self.filled = filled;
        self
    }

    /// Start of the first interval.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Step length in seconds.
    pub fn step_secs(&self) -> i64 {
        self.step_secs
    }

    /// The values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// What the values mean.
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// Sorted positions that were filled because the source had no sample there.
    pub fn filled(&self) -> &[usize] {
        &self.filled
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the series has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Start of interval `i` (also valid past the end, for forecast steps).
    pub fn timestamp(&self, i: usize) -> DateTime<Utc> {
        self.start + Duration::seconds(self.step_secs * i as i64)
    }

    /// Start of the interval just after the last value: where a forecast begins.
    pub fn end(&self) -> DateTime<Utc> {
        self.timestamp(self.values.len())
    }

    /// Number of steps in `d` (rounded down, at least 1 for a positive duration).
    pub fn steps_in(&self, d: Duration) -> usize {
        let secs = d.num_seconds();
        if secs <= 0 {
            0
        } else {
            ((secs / self.step_secs) as usize).max(1)
        }
    }

    /// The samples, in order.
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        self.values.iter().enumerate().map(|(i, &value)| Sample {
            timestamp: self.timestamp(i),
            value,
        })
    }

    /// The sub-series of positions `range` (clamped to the series), keeping the filled flags
    /// that fall inside it.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Series {
        let end = range.end.min(self.values.len());
        let start = range.start.min(end);
        let filled = self
            .filled
            .iter()
            .filter(|&&i| i >= start && i < end)
            .map(|&i| i - start)
            .collect();
        Series {
            start: self.timestamp(start),
            step_secs: self.step_secs,
            values: self.values[start..end].to_vec(),
            kind: self.kind,
            filled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn rejects_bad_values_and_steps() {
        assert_eq!(
            Series::new(t0(), 0, vec![1.0], ValueKind::Count),
            Err(SeriesError::BadStep(0))
        );
        let err = Series::new(t0(), 60, vec![1.0, f64::NAN], ValueKind::Count).unwrap_err();
        assert!(matches!(err, SeriesError::BadValue { index: 1, .. }));
        let err = Series::new(t0(), 60, vec![-1.0], ValueKind::Gauge).unwrap_err();
        assert!(err.to_string().contains("non-negative"));
        assert!(Series::new(t0(), 60, vec![f64::INFINITY], ValueKind::Count).is_err());
    }

    #[test]
    fn timestamps_and_slices() {
        let s = Series::new(t0(), 60, vec![1.0, 2.0, 3.0, 4.0], ValueKind::Count)
            .unwrap()
            .with_filled(vec![1, 3]);
        assert_eq!(s.timestamp(2), t0() + Duration::minutes(2));
        assert_eq!(s.end(), t0() + Duration::minutes(4));
        let sub = s.slice(1..3);
        assert_eq!(sub.values(), &[2.0, 3.0]);
        assert_eq!(sub.start(), t0() + Duration::minutes(1));
        assert_eq!(sub.filled(), &[0]);
        assert_eq!(s.slice(3..10).values(), &[4.0]);
        assert_eq!(s.steps_in(Duration::minutes(30)), 30);
        assert_eq!(s.samples().nth(1).unwrap().value, 2.0);
    }

    #[test]
    fn value_kind_parses() {
        assert_eq!("gauge".parse::<ValueKind>(), Ok(ValueKind::Gauge));
        assert!("rate".parse::<ValueKind>().is_err());
    }
}
