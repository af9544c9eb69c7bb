//! What the sources return: labelled series of timestamped samples.
//!
//! Values are kept as read: NaN and infinities are reported (see
//! [`Series::check_finite`]), never dropped; missing steps of a range are reported as
//! [`Gap`]s, never filled.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{CollectError, SourceKind};

/// Label names to values, sorted by name (the metric name, if any, is under `__name__`).
pub type Labels = BTreeMap<String, String>;

/// One value at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the value was observed (or evaluated, for an instant query).
    pub timestamp: DateTime<Utc>,
    /// The value, as read: may be NaN or infinite.
    pub value: f64,
}

/// One series: its labels and its samples in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The labels identifying the series.
    pub labels: Labels,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// A stretch of a range with no sample where the step says there should be some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The first missing step.
    pub from: DateTime<Utc>,
    /// The last missing step.
    pub to: DateTime<Utc>,
    /// How many steps are missing.
    pub missing: u64,
}

impl Series {
    /// A series with the given labels and samples.
    #[must_use]
    pub fn new(labels: Labels, samples: Vec<Sample>) -> Self {
        Self { labels, samples }
    }

    /// The metric name (`__name__`), if the series has one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.labels.get("__name__").map(String::as_str)
    }

    /// The newest sample.
    #[must_use]
    pub fn last(&self) -> Option<&Sample> {
        self.samples.last()
    }

    /// Errors with [`CollectError::NotFinite`] at the first NaN or infinite sample.
    pub fn check_finite(&self, source: SourceKind) -> Result<(), CollectError> {
        match self.samples.iter().find(|s| !s.value.is_finite()) {
            None => Ok(()),
            Some(s) => Err(CollectError::NotFinite {
                origin: source,
                place: format!(
                    "{} at {}",
                    LabelsDisplay(&self.labels),
                    s.timestamp.to_rfc3339()
                ),
                value: s.value,
            }),
        }
    }

    /// Errors with [`CollectError::Stale`] when the newest sample is older than `max_age` at
    /// `now` (and with [`CollectError::Empty`] when there is no sample at all).
    pub fn check_fresh(
        &self,
        source: SourceKind,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> Result<(), CollectError> {
        let Some(last) = self.last() else {
            return Err(CollectError::Empty {
                origin: source,
                place: LabelsDisplay(&self.labels).to_string(),
            });
        };
        let age = (now - last.timestamp).to_std().unwrap_or(Duration::ZERO);
        if age > max_age {
            return Err(CollectError::Stale {
                origin: source,
                place: LabelsDisplay(&self.labels).to_string(),
                age,
                max_age,
            });
        }
        Ok(())
    }

    /// The missing steps between `start` and `end` (both inclusive) on a grid of `step`.
    ///
    /// A sample counts for a step when it lies within half a step of it; everything else is a
    /// gap, including missing steps before the first and after the last sample.
    #[must_use]
    pub fn gaps(&self, start: DateTime<Utc>, end: DateTime<Utc>, step: Duration) -> Vec<Gap> {
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
        let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
        if end_ms < start_ms {
            return Vec::new();
        }
        let steps = (end_ms - start_ms) / step_ms + 1;
        let mut gaps = Vec::new();
        let mut open: Option<(i64, u64)> = None;
        let mut samples = self
            .samples
            .iter()
            .map(|s| s.timestamp.timestamp_millis())
            .peekable();
        for i in 0..steps {
            let t = start_ms + i * step_ms;
            while samples.next_if(|&s| s < t - step_ms / 2).is_some() {}
            let present = samples.peek().is_some_and(|&s| s <= t + step_ms / 2);
            if present {
                samples.next();
                if let Some((from, missing)) = open.take() {
                    gaps.push(gap(from, t - step_ms, missing));
                }
            } else {
                open = Some(open.map_or((t, 1), |(from, n)| (from, n + 1)));
            }
        }
        if let Some((from, missing)) = open {
            gaps.push(gap(from, start_ms + (steps - 1) * step_ms, missing));
        }
        gaps
    }
}

fn gap(from_ms: i64, to_ms: i64, missing: u64) -> Gap {
    Gap {
        from: DateTime::from_timestamp_millis(from_ms).unwrap_or_default(),
        to: DateTime::from_timestamp_millis(to_ms).unwrap_or_default(),
        missing,
    }
}

/// Shows labels as `name{a="1",b="2"}` (PromQL selector style).
#[derive(Debug, Clone, Copy)]
pub struct LabelsDisplay<'a>(pub &'a Labels);

impl fmt::Display for LabelsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.0.get("__name__") {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.0.iter().filter(|(k, _)| *k != "__name__") {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(
                f,
                "{k}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        f.write_str("}")
    }
}

/// Parses a sample value as Prometheus writes it: a decimal or exponent number, `NaN`, `+Inf`,
/// `-Inf` (also `Inf`, any case).
pub(crate) fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => {
            let v: f64 = text.parse().ok()?;
            // `f64::from_str` also takes spellings like "infinity"; only the above are valid.
            if v.is_finite() { Some(v) } else { None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("valid")
    }

    fn series(times: &[i64]) -> Series {
        Series::new(
            Labels::new(),
            times
                .iter()
                .map(|&t| Sample {
                    timestamp: at(t),
                    value: 1.0,
                })
                .collect(),
        )
    }

    #[test]
    fn gaps_are_reported_inside_and_at_both_ends() {
        let s = series(&[60, 120, 300, 360]);
        let gaps = s.gaps(at(0), at(480), Duration::from_secs(60));
        assert_eq!(
            gaps,
            vec![
                Gap {
                    from: at(0),
                    to: at(0),
                    missing: 1
                },
                Gap {
                    from: at(180),
                    to: at(240),
                    missing: 2
                },
                Gap {
                    from: at(420),
                    to: at(480),
                    missing: 2
                },
            ]
        );
        assert!(
            series(&[0, 60, 120])
                .gaps(at(0), at(120), Duration::from_secs(60))
                .is_empty()
        );
    }

    #[test]
    fn jittered_samples_still_fill_their_step() {
        let s = series(&[1, 59, 125]);
        assert!(s.gaps(at(0), at(120), Duration::from_secs(60)).is_empty());
        let empty = Series::default();
        assert_eq!(
            empty.gaps(at(0), at(120), Duration::from_secs(60)),
            vec![Gap {
                from: at(0),
                to: at(120),
                missing: 3
            }]
        );
    }

    #[test]
    fn non_finite_and_stale_samples_are_errors() {
        let mut s = series(&[0, 60]);
        assert!(s.check_finite(SourceKind::Prometheus).is_ok());
        s.samples[1].value = f64::INFINITY;
        let err = s.check_finite(SourceKind::Prometheus).expect_err("inf");
        assert_eq!(err.kind(), "not_finite");
        assert!(
            err.to_string().contains("1970-01-01T00:01:00+00:00"),
            "{err}"
        );
        let fresh = s.check_fresh(SourceKind::Prometheus, at(90), Duration::from_secs(60));
        assert!(fresh.is_ok());
        let stale = s
            .check_fresh(SourceKind::Prometheus, at(200), Duration::from_secs(60))
            .expect_err("stale");
        assert_eq!(stale.kind(), "stale");
        let empty = Series::default().check_fresh(SourceKind::Redis, at(0), Duration::ZERO);
        assert_eq!(empty.expect_err("empty").kind(), "empty");
    }

    #[test]
    fn values_parse_as_prometheus_writes_them() {
        assert_eq!(parse_value("1.5e3"), Some(1500.0));
        assert_eq!(parse_value("-0.25"), Some(-0.25));
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("infinity"), None);
        assert_eq!(parse_value("1,5"), None);
        assert_eq!(parse_value(""), None);
    }

    #[test]
    fn labels_display_as_a_selector() {
        let labels: Labels = [("__name__", "up"), ("job", "a\"b")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(LabelsDisplay(&labels).to_string(), "up{job=\"a\\\"b\"}");
    }
}
