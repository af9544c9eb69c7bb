//! Trace input: `timestamp,value` CSV and Prometheus `query_range` JSON.
//!
//! Both formats go through the same checks and the same gap policy:
//!
//! - timestamps must strictly increase;
//! - the step is inferred as the median difference between consecutive timestamps;
//! - every difference must be a whole number of steps, within a tolerance
//!   ([`ParseOptions::tolerance`], default 10% of the step); a difference of `k` steps with
//!   `k >= 2` is a gap of `k - 1` missing steps;
//! - missing steps are filled according to the series' [`ValueKind`]: counts with 0, gauges by
//!   linear interpolation; every filled position is listed in [`Series::filled`] and a gap
//!   longer than [`ParseOptions::max_gap_steps`] is an error rather than a silent fill;
//! - values must be finite and non-negative;
//! - timestamps are snapped onto the grid `start + i * step` (the jitter allowed by the
//!   tolerance is dropped).
//!
//! Every error names the source, the place (line, or JSON path) and the reason.

mod csv;
mod prometheus;

use chrono::{DateTime, Utc};

use crate::series::{Series, ValueKind};

pub use self::csv::parse_csv;
pub use self::prometheus::parse_prometheus_matrix;

/// Options shared by the parsers.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// What the values mean, which decides the gap policy.
    pub kind: ValueKind,
    /// Allowed deviation of a timestamp difference from a whole number of steps, as a fraction
    /// of the step.
    pub tolerance: f64,
    /// The longest gap (in missing steps) that is filled; a longer one is an error.
    pub max_gap_steps: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            kind: ValueKind::Count,
            tolerance: 0.1,
            max_gap_steps: 1440,
        }
    }
}

/// Where in the input a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The whole input.
    Input,
    /// A 1-based line of a text input.
    Line(u64),
    /// A path inside a JSON document, e.g. `data.result[0].values[3]`.
    Json(String),
}

/// What is wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputErrorKind {
    /// The input could not be read.
    Io,
    /// The input holds nothing.
    Empty,
    /// The first line is not the `timestamp,value` header.
    MissingHeader,
    /// A row does not have the expected shape.
    Malformed,
    /// A timestamp cannot be parsed.
    BadTimestamp,
    /// A timestamp is not after the previous one.
    NonIncreasing,
    /// A timestamp is off the inferred step grid beyond the tolerance.
    Irregular,
    /// A gap is longer than the allowed maximum.
    GapTooLong,
    /// A value cannot be parsed, or is NaN, infinite or negative.
    BadValue,
    /// There are no data rows (or fewer than two, so no step can be inferred).
    NoData,
    /// The JSON is not a successful Prometheus `query_range` matrix with one series.
    Prometheus,
}

/// A problem with a trace, naming the source, the place and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", location(.source_name, .place))]
pub struct InputError {
    /// The file name (or other label) of the input.
    pub source_name: String,
    /// Where the problem is.
    pub place: Place,
    /// What kind of problem it is.
    pub kind: InputErrorKind,
    /// A human-readable explanation.
    pub reason: String,
}

fn location(source: &str, place: &Place) -> String {
    match place {
        Place::Input => source.to_string(),
        Place::Line(l) => format!("{source}:{l}"),
        Place::Json(p) => format!("{source}: {p}"),
    }
}

impl InputError {
    pub(crate) fn new(
        source: &str,
        place: Place,
        kind: InputErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            source_name: source.to_string(),
            place,
            kind,
            reason: reason.into(),
        }
    }
}

/// One raw point before regularization, with its place in the input.
#[derive(Debug, Clone)]
pub(crate) struct RawPoint {
    pub(crate) millis: i64,
    pub(crate) value: f64,
    pub(crate) place: Place,
}

/// Checks a value: finite and non-negative.
pub(crate) fn check_value(source: &str, place: &Place, value: f64) -> Result<f64, InputError> {
    if value.is_nan() {
        return Err(InputError::new(
            source,
            place.clone(),
            InputErrorKind::BadValue,
            "value is NaN",
        ));
    }
    if value.is_infinite() {
        return Err(InputError::new(
            source,
            place.clone(),
            InputErrorKind::BadValue,
            format!("value is {value}: values must be finite"),
        ));
    }
    if value < 0.0 {
        return Err(InputError::new(
            source,
            place.clone(),
            InputErrorKind::BadValue,
            format!("value {value} is negative: values must be non-negative"),
        ));
    }
    Ok(value)
}

/// Infers the step, checks the grid, fills gaps and builds the series.
pub(crate) fn regularize(
    source: &str,
    points: Vec<RawPoint>,
    opts: &ParseOptions,
) -> Result<Series, InputError> {
    if points.len() < 2 {
        return Err(InputError::new(
            source,
            Place::Input,
            InputErrorKind::NoData,
            format!(
                "{} data row(s): at least two are needed to infer the step",
                points.len()
            ),
        ));
    }
    for w in points.windows(2) {
        if w[1].millis <= w[0].millis {
            return Err(InputError::new(
                source,
                w[1].place.clone(),
                InputErrorKind::NonIncreasing,
                format!(
                    "timestamp {} is not after the previous one ({})",
                    fmt_millis(w[1].millis),
                    fmt_millis(w[0].millis)
                ),
            ));
        }
    }
    let step_ms = infer_step(&points);
    if step_ms % 1000 != 0 {
        return Err(InputError::new(
            source,
            Place::Input,
            InputErrorKind::Irregular,
            format!("inferred step of {step_ms} ms is not a whole number of seconds"),
        ));
    }
    // Each timestamp is placed on the grid t0 + k * step; it must lie within the tolerance of
    // its grid point (checking against the grid, not the previous row, keeps jitter from adding
    // up over a long trace).
    let tol = (step_ms as f64 * opts.tolerance).max(0.0);
    let t0 = points[0].millis;
    let mut values = Vec::with_capacity(points.len());
    let mut filled = Vec::new();
    values.push(points[0].value);
    let mut prev_k = 0usize;
    for w in points.windows(2) {
        let offset = (w[1].millis - t0) as f64;
        let k = (offset / step_ms as f64).round();
        if k as usize <= prev_k || (offset - k * step_ms as f64).abs() > tol {
            return Err(InputError::new(
                source,
                w[1].place.clone(),
                InputErrorKind::Irregular,
                format!(
                    "timestamp {} is {} s after the previous one, off the {} s step grid \
                     (tolerance {:.0}% of a step)",
                    fmt_millis(w[1].millis),
                    (w[1].millis - w[0].millis) as f64 / 1000.0,
                    step_ms / 1000,
                    opts.tolerance * 100.0
                ),
            ));
        }
        let k = k as usize;
        let missing = k - prev_k - 1;
        prev_k = k;
        if missing > opts.max_gap_steps {
            return Err(InputError::new(
                source,
                w[1].place.clone(),
                InputErrorKind::GapTooLong,
                format!(
                    "gap of {missing} missing steps before {} exceeds the limit of {}",
                    fmt_millis(w[1].millis),
                    opts.max_gap_steps
                ),
            ));
        }
        for j in 1..=missing {
            filled.push(values.len());
            let v = match opts.kind {
                ValueKind::Count => 0.0,
                ValueKind::Gauge => {
                    let frac = j as f64 / (missing + 1) as f64;
                    w[0].value + (w[1].value - w[0].value) * frac
                }
            };
            values.push(v);
        }
        values.push(w[1].value);
    }
    let start = DateTime::<Utc>::from_timestamp_millis(points[0].millis).ok_or_else(|| {
        InputError::new(
            source,
            points[0].place.clone(),
            InputErrorKind::BadTimestamp,
            "timestamp out of range",
        )
    })?;
    let series = Series::new(start, step_ms / 1000, values, opts.kind).map_err(|e| {
        InputError::new(
            source,
            Place::Input,
            InputErrorKind::BadValue,
            e.to_string(),
        )
    })?;
    Ok(series.with_filled(filled))
}

/// The step: the mean of the differences near the (lower) median difference, rounded to whole
/// seconds when it is at least a second. Averaging removes scrape jitter; the lower median keeps
/// gaps from inflating the estimate.
fn infer_step(points: &[RawPoint]) -> i64 {
    let mut diffs: Vec<i64> = points
        .windows(2)
        .map(|w| w[1].millis - w[0].millis)
        .collect();
    let mid = (diffs.len() - 1) / 2;
    let median = *diffs.select_nth_unstable(mid).1;
    let near: Vec<i64> = diffs
        .iter()
        .copied()
        .filter(|d| (d - median).abs() * 4 <= median)
        .collect();
    let mean = near.iter().sum::<i64>() as f64 / near.len() as f64;
    if mean >= 1000.0 {
        ((mean / 1000.0).round() as i64) * 1000
    } else {
        mean.round() as i64
    }
}

fn fmt_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}
