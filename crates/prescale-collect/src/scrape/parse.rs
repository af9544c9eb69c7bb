//! A parser for the Prometheus text exposition format (version 0.0.4), which is what vLLM's
//! and the DCGM exporter's `/metrics` endpoints serve; the OpenMetrics additions that appear in
//! the wild (`# EOF`, `_created` series, float-second timestamps are not used) are accepted.
//!
//! Written here rather than taken from crates.io: `prometheus-parse` (0.2/0.3) matches metric
//! names with `\w+`, so it rejects the colon in `vllm:num_requests_waiting`, splits labels on
//! `,` and `=` without honouring quotes or escapes, and silently skips lines it cannot read.
//! This parser follows the format's grammar, reports the line of every error, and parses a
//! 1 MB page in a few milliseconds (see `benches/parse.rs`).

use std::collections::HashMap;

use crate::error::{CollectError, SourceKind};
use crate::series::{Labels, parse_value};

/// The declared type of a metric family (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing count (`<name>_total` in OpenMetrics style).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets `<name>_bucket{le=...}`, `<name>_sum`, `<name>_count`.
    Histogram,
    /// Quantiles `<name>{quantile=...}`, `<name>_sum`, `<name>_count`.
    Summary,
    /// No `# TYPE` line, or `untyped`/`unknown`.
    Untyped,
}

impl MetricType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" | "gaugehistogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" | "unknown" | "info" | "stateset" => Self::Untyped,
            _ => return None,
        })
    }

    /// The sample-name suffixes a family of this type may use.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::Summary => &["_sum", "_count", "_created"],
            Self::Gauge | Self::Untyped => &[],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpositionSample {
    /// The sample's name as written (e.g. `vllm:e2e_request_latency_seconds_bucket`).
    pub name: String,
    /// Its labels (without the name).
    pub labels: Labels,
    /// The value; NaN and infinities are kept.
    pub value: f64,
    /// The optional timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// All samples of one metric family, with its `# HELP` and `# TYPE`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name (for a histogram, without `_bucket`/`_sum`/`_count`).
    pub name: String,
    /// The declared type.
    pub kind: MetricType,
    /// The help text, unescaped.
    pub help: Option<String>,
    /// The samples in page order.
    pub samples: Vec<ExpositionSample>,
}

/// One histogram series (one label set without `le`): cumulative buckets, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The labels shared by the buckets (without `le`).
    pub labels: Labels,
    /// `(upper bound, cumulative count)` by increasing bound; the last bound is `+Inf` on a
    /// well-formed page.
    pub buckets: Vec<(f64, f64)>,
    /// `<name>_sum`, if present.
    pub sum: Option<f64>,
    /// `<name>_count`, if present.
    pub count: Option<f64>,
}

impl MetricFamily {
    /// The histogram series of a histogram family, one per label set (without `le`).
    ///
    /// Errors when a bucket has no `le` label or an unreadable one.
    pub fn histograms(&self) -> Result<Vec<Histogram>, CollectError> {
        let mut out: Vec<Histogram> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let bucket = format!("{}_bucket", self.name);
        let sum = format!("{}_sum", self.name);
        let count = format!("{}_count", self.name);
        for s in &self.samples {
            let mut labels = s.labels.clone();
            let le = labels.remove("le");
            let slot = *index.entry(labels.clone()).or_insert_with(|| {
                out.push(Histogram {
                    labels,
                    buckets: Vec::new(),
                    sum: None,
                    count: None,
                });
                out.len() - 1
            });
            let h = &mut out[slot];
            if s.name == bucket {
                let le = le.ok_or_else(|| {
                    CollectError::bad(SRC, &s.name, "a histogram bucket without an `le` label")
                })?;
                let bound = parse_value(&le).ok_or_else(|| {
                    CollectError::bad(SRC, &s.name, format!("le={le:?} is not a number"))
                })?;
                h.buckets.push((bound, s.value));
            } else if s.name == sum {
                h.sum = Some(s.value);
            } else if s.name == count {
                h.count = Some(s.value);
            }
        }
        for h in &mut out {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out.retain(|h| !h.buckets.is_empty());
        Ok(out)
    }
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// The families in page order.
    pub families: Vec<MetricFamily>,
}

impl Exposition {
    /// The family called `name`.
    #[must_use]
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Every sample of every family, in page order within each family.
    pub fn samples(&self) -> impl Iterator<Item = &ExpositionSample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }

    /// Number of samples.
    #[must_use]
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

const SRC: SourceKind = SourceKind::Scrape;

/// Parses a whole page. Errors name the line (1-based) and the reason.
pub fn parse_exposition(text: &str) -> Result<Exposition, CollectError> {
    let mut p = Builder::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let err = |reason: String| CollectError::bad(SRC, format!("line {}", i + 1), reason);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if p.comment(comment).map_err(err)? {
                break;
            }
            continue;
        }
        let sample = parse_sample(trimmed).map_err(err)?;
        p.sample(sample);
    }
    Ok(p.finish())
}

#[derive(Default)]
struct Builder {
    families: Vec<MetricFamily>,
    by_name: HashMap<String, usize>,
    /// The family of the previous sample, so that runs of samples skip the lookup.
    current: Option<usize>,
}

impl Builder {
    /// Handles a comment line (after `#`); true at `# EOF`.
    fn comment(&mut self, rest: &str) -> Result<bool, String> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let (keyword, rest) = split_word(rest);
        match keyword {
            "HELP" | "TYPE" => {
                let (name, value) = split_word(rest.trim_start_matches([' ', '\t']));
                if name.is_empty() || !is_metric_name(name) {
                    return Err(format!(
                        "# {keyword} needs a valid metric name, found {name:?}"
                    ));
                }
                let value = value.strip_prefix([' ', '\t']).unwrap_or(value);
                let slot = self.family_slot(name);
                let family = &mut self.families[slot];
                if keyword == "HELP" {
                    family.help = Some(unescape(value, false)?);
                } else {
                    let value = value.trim();
                    family.kind = MetricType::parse(value)
                        .ok_or_else(|| format!("unknown metric type {value:?} for {name}"))?;
                }
                Ok(false)
            }
            "EOF" => Ok(true),
            _ => Ok(false),
        }
    }

    fn family_slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        self.families.push(MetricFamily {
            name: name.to_owned(),
            kind: MetricType::Untyped,
            help: None,
            samples: Vec::new(),
        });
        self.by_name
            .insert(name.to_owned(), self.families.len() - 1);
        self.families.len() - 1
    }

    fn sample(&mut self, sample: ExpositionSample) {
        let slot = match self
            .current
            .filter(|&i| belongs(&self.families[i], &sample.name))
        {
            Some(i) => i,
            None => self.lookup(&sample.name),
        };
        self.current = Some(slot);
        self.families[slot].samples.push(sample);
    }

    /// The family a sample name belongs to: its own, or the one it is a suffix series of.
    fn lookup(&mut self, name: &str) -> usize {
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
            if let Some(base) = name.strip_suffix(suffix)
                && let Some(&i) = self.by_name.get(base)
                && self.families[i].kind.suffixes().contains(&suffix)
            {
                return i;
            }
        }
        self.family_slot(name)
    }

    fn finish(mut self) -> Exposition {
        // Families declared by `# HELP`/`# TYPE` alone, without samples, are dropped.
        self.families.retain(|f| !f.samples.is_empty());
        Exposition {
            families: self.families,
        }
    }
}

fn belongs(family: &MetricFamily, name: &str) -> bool {
    name == family.name
        || name
            .strip_prefix(family.name.as_str())
            .is_some_and(|suffix| family.kind.suffixes().contains(&suffix))
}

/// Parses `name{labels} value [timestamp]` (or `{"name", labels} value` with a quoted name).
fn parse_sample(line: &str) -> Result<ExpositionSample, String> {
    let bytes = line.as_bytes();
    let name_end = bytes
        .iter()
        .position(|&b| !is_name_byte(b))
        .unwrap_or(bytes.len());
    let mut name = line[..name_end].to_owned();
    let mut pos = name_end;
    let mut labels = Labels::new();
    if bytes.get(pos) == Some(&b'{') {
        pos = parse_labels(line, pos + 1, &mut labels, &mut name)?;
    }
    if name.is_empty() {
        return Err(format!(
            "expected a metric name at the start of {:?}",
            shorten(line)
        ));
    }
    let rest = &line[pos..];
    if !rest.starts_with([' ', '\t']) {
        return Err(format!(
            "expected a space and a value after {name}, found {:?}",
            shorten(rest)
        ));
    }
    let mut parts = rest.split([' ', '\t']).filter(|s| !s.is_empty());
    let value_text = parts.next().ok_or_else(|| format!("{name} has no value"))?;
    let value = parse_value(value_text)
        .ok_or_else(|| format!("{value_text:?} is not a sample value (metric {name})"))?;
    let timestamp_ms = match parts.next() {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("{t:?} is not a timestamp in milliseconds (metric {name})"))?,
        ),
    };
    if let Some(extra) = parts.next() {
        return Err(format!(
            "unexpected {extra:?} after the timestamp (metric {name})"
        ));
    }
    Ok(ExpositionSample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses labels from just after `{` to just after `}`; returns the position after `}`.
fn parse_labels(
    line: &str,
    mut pos: usize,
    labels: &mut Labels,
    name: &mut String,
) -> Result<usize, String> {
    let bytes = line.as_bytes();
    loop {
        pos = skip_spaces(bytes, pos);
        match bytes.get(pos) {
            Some(b'}') => return Ok(pos + 1),
            None => return Err("unterminated label set: missing `}`".into()),
            _ => {}
        }
        // A label name, or a quoted string (a quoted label name, or the metric name).
        let key = if bytes[pos] == b'"' {
            let (text, next) = parse_quoted(line, pos + 1)?;
            pos = next;
            text
        } else {
            let end = bytes[pos..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                .map_or(bytes.len(), |n| pos + n);
            if end == pos || bytes[pos].is_ascii_digit() {
                return Err(format!(
                    "expected a label name at {:?}",
                    shorten(&line[pos..])
                ));
            }
            let key = line[pos..end].to_owned();
            pos = end;
            key
        };
        pos = skip_spaces(bytes, pos);
        if bytes.get(pos) == Some(&b'=') {
            pos = skip_spaces(bytes, pos + 1);
            if bytes.get(pos) != Some(&b'"') {
                return Err(format!("the value of label {key} must be quoted"));
            }
            let (value, next) = parse_quoted(line, pos + 1)?;
            pos = next;
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} appears twice"));
            }
        } else if name.is_empty() {
            *name = key;
        } else {
            return Err(format!("expected `=` after label name {key}"));
        }
        pos = skip_spaces(bytes, pos);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => {}
            _ => {
                return Err(format!(
                    "expected `,` or `}}` after label {:?}",
                    labels.keys().last()
                ));
            }
        }
    }
}

/// Parses a quoted string starting just after its opening quote; returns the unescaped text
/// and the position after the closing quote.
fn parse_quoted(line: &str, start: usize) -> Result<(String, usize), String> {
    let bytes = line.as_bytes();
    let mut i = start;
    let mut has_escape = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let raw = &line[start..i];
                let text = if has_escape {
                    unescape(raw, true)?
                } else {
                    raw.to_owned()
                };
                return Ok((text, i + 1));
            }
            b'\\' => {
                has_escape = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    Err("unterminated quoted string".into())
}

/// Resolves `\\`, `\n` and (in label values) `\"`.
fn unescape(raw: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            // The format allows other backslashes in help text to stand for themselves.
            Some(other) if !quotes => {
                out.push('\\');
                out.push(other);
            }
            Some(other) => return Err(format!("unknown escape `\\{other}` in a label value")),
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_metric_name(name: &str) -> bool {
    !name.as_bytes()[0].is_ascii_digit() && name.bytes().all(is_name_byte)
}

fn split_word(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests;
