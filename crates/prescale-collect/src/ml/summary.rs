//! A workload's ML metrics in one go: from Prometheus (one query per kind), or from two
//! scrapes of a `/metrics` page some seconds apart (rates and latency quantiles over the
//! interval) when no Prometheus is around.
//!
//! A kind without data (no traffic, series absent, NaN from an empty histogram) is reported
//! as missing with the reason; it is never shown as 0. Failures to reach the source abort the
//! whole summary with their typed error.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{MetricKind, Selector, Workload, histogram_quantile};
use crate::error::CollectError;
use crate::prometheus::PrometheusClient;
use crate::scrape::Exposition;

/// One metric of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// What was measured.
    pub kind: MetricKind,
    /// The value, in `kind.unit()`; `None` when there is no data.
    pub value: Option<f64>,
    /// Why the value is missing (or what it was derived from).
    pub note: Option<String>,
}

impl Reading {
    fn value(kind: MetricKind, value: f64) -> Self {
        if value.is_finite() {
            Self {
                kind,
                value: Some(value),
                note: None,
            }
        } else {
            Self::missing(kind, format!("no data ({value}): no samples in the window"))
        }
    }

    fn missing(kind: MetricKind, note: impl Into<String>) -> Self {
        Self {
            kind,
            value: None,
            note: Some(note.into()),
        }
    }
}

/// What cost figures need beyond the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostInputs {
    /// Price of one replica-hour in dollars.
    pub price_per_hour: Option<f64>,
    /// Replicas serving; when absent, the number of engines reporting metrics.
    pub replicas: Option<f64>,
}

/// The readings of one workload at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The workload kind.
    pub workload: Workload,
    /// When it was read.
    pub at: DateTime<Utc>,
    /// One reading per kind of the workload, in [`Workload::kinds`] order.
    pub readings: Vec<Reading>,
}

impl Summary {
    /// The value of `kind`, if read.
    #[must_use]
    pub fn get(&self, kind: MetricKind) -> Option<f64> {
        self.readings
            .iter()
            .find(|r| r.kind == kind)
            .and_then(|r| r.value)
    }
}

/// Reads a workload from Prometheus: the [`MetricKind::promql`] of each kind on `sel`, rates
/// over `window` (e.g. `1m`), then the derived cost kinds.
pub async fn from_prometheus(
    client: &PrometheusClient,
    workload: Workload,
    sel: &Selector,
    window: &str,
    cost: CostInputs,
) -> Result<Summary, CollectError> {
    let at = Utc::now();
    let mut readings = Vec::new();
    for &kind in workload.kinds() {
        let Some(promql) = kind.promql(sel, window) else {
            continue;
        };
        let reading = match client.query(&promql, Some(at)).await {
            Ok(result) => match result.values().next() {
                Some((_, v)) => Reading::value(kind, v),
                None => Reading::missing(kind, "no data"),
            },
            Err(CollectError::Empty { .. }) => Reading::missing(kind, "no data"),
            Err(e @ CollectError::QueryError { .. }) => Reading::missing(kind, e.to_string()),
            Err(e) => return Err(e),
        };
        readings.push(reading);
    }
    add_costs(workload, &mut readings, cost);
    Ok(Summary {
        workload,
        at,
        readings,
    })
}

/// Reads a workload from two scrapes of the same page taken `elapsed` apart: counters become
/// rates over the interval (a counter reset counts from 0), histograms give the quantiles of
/// the observations made in the interval, gauges are read from the later page.
#[must_use]
pub fn from_scrapes(
    workload: Workload,
    before: &Exposition,
    after: &Exposition,
    elapsed: Duration,
    cost: CostInputs,
) -> Summary {
    let secs = elapsed.as_secs_f64();
    let rate = |name: &str| -> Option<f64> {
        let now = sums_by_labels(after, name);
        if now.is_empty() || secs <= 0.0 {
            return None;
        }
        let then = sums_by_labels(before, name);
        let delta: f64 = now
            .iter()
            .map(|(labels, &v)| match then.get(labels) {
                Some(&p) if v >= p => v - p,
                _ => v,
            })
            .sum();
        Some(delta / secs)
    };
    let quantile = |name: &str, q: f64| -> Option<f64> {
        let buckets = interval_buckets(before, after, name);
        (!buckets.is_empty()).then(|| histogram_quantile(q, &buckets))
    };
    let values = |name: &'static str| gauge_values(after, name);
    let sum = |name: &'static str| values(name).reduce(|a, b| a + b);
    let max = |name: &'static str| values(name).reduce(f64::max);
    #[allow(clippy::cast_precision_loss)]
    let count = |name: &'static str| Some(values(name).count() as f64).filter(|&n| n > 0.0);
    let avg = |name: &'static str| Some(sum(name)? / count(name)?);
    let e2e = "vllm:e2e_request_latency_seconds";
    let ttft = "vllm:time_to_first_token_seconds";
    let mut readings: Vec<Reading> = workload
        .kinds()
        .iter()
        .filter(|k| k.promql(&Selector::raw(""), "1m").is_some())
        .map(|&kind| {
            use MetricKind as K;
            let value = match kind {
                K::RequestRate => rate("vllm:request_success_total"),
                K::LatencyP50 | K::LatencyP95 | K::LatencyP99 => {
                    kind.quantile().and_then(|q| quantile(e2e, q))
                }
                K::TtftP50 | K::TtftP95 | K::TtftP99 => {
                    kind.quantile().and_then(|q| quantile(ttft, q))
                }
                K::PromptTokensPerSecond => rate("vllm:prompt_tokens_total"),
                K::GenerationTokensPerSecond => rate("vllm:generation_tokens_total"),
                K::RequestsWaiting => sum("vllm:num_requests_waiting"),
                K::RequestsRunning => sum("vllm:num_requests_running"),
                K::KvCacheUsage => avg("vllm:kv_cache_usage_perc"),
                K::Replicas => count("vllm:num_requests_running"),
                K::GpuUtilization => avg("DCGM_FI_DEV_GPU_UTIL"),
                K::GpuMemoryUsed => sum("DCGM_FI_DEV_FB_USED"),
                K::GpuTemperature => max("DCGM_FI_DEV_GPU_TEMP"),
                K::TrainingStep => max("training_step"),
                K::TrainingEpoch => max("training_epoch"),
                K::TrainingEta => (|| {
                    let left = max("training_total_steps")? - max("training_step")?;
                    let speed = rate("training_step")?;
                    (speed > 0.0).then(|| left / speed)
                })(),
                K::TrainingLoss => avg("training_loss"),
                K::TrainingAccuracy => avg("training_accuracy"),
                K::CostPerRequest | K::CostPer1kTokens => None,
            };
            match value {
                Some(v) => Reading::value(kind, v),
                None => Reading::missing(kind, "no data"),
            }
        })
        .collect();
    add_costs(workload, &mut readings, cost);
    Summary {
        workload,
        at: Utc::now(),
        readings,
    }
}

/// The values of the samples called `name`.
fn gauge_values<'a>(page: &'a Exposition, name: &'a str) -> impl Iterator<Item = f64> + 'a {
    page.samples()
        .filter(move |s| s.name == name)
        .map(|s| s.value)
}

/// Counter values of samples called `name`, by label set.
fn sums_by_labels(page: &Exposition, name: &str) -> BTreeMap<Vec<(String, String)>, f64> {
    let mut out = BTreeMap::new();
    for s in page.samples().filter(|s| s.name == name) {
        let key: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        *out.entry(key).or_insert(0.0) += s.value;
    }
    out
}

/// The buckets of histogram `name` summed over all series, counting only what was observed
/// between the two pages.
fn interval_buckets(before: &Exposition, after: &Exposition, name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let now = sums_by_labels(after, &bucket);
    let then = sums_by_labels(before, &bucket);
    let mut pairs: Vec<(f64, f64)> = Vec::new();
    for (labels, v) in &now {
        let Some(le) = labels
            .iter()
            .find(|(k, _)| k == "le")
            .and_then(|(_, v)| crate::series::parse_value(v))
        else {
            continue;
        };
        let delta = match then.get(labels) {
            Some(&p) if *v >= p => v - p,
            _ => *v,
        };
        pairs.push((le, delta));
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum the series: one bucket per bound.
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (le, n) in pairs {
        match buckets.last_mut() {
            Some(last) if last.0 == le => last.1 += n,
            _ => buckets.push((le, n)),
        }
    }
    buckets
}

/// Appends the cost kinds of `workload` from the readings already made.
fn add_costs(workload: Workload, readings: &mut Vec<Reading>, cost: CostInputs) {
    let get = |k: MetricKind, rs: &[Reading]| rs.iter().find(|r| r.kind == k).and_then(|r| r.value);
    for &kind in workload.kinds() {
        if !matches!(
            kind,
            MetricKind::CostPerRequest | MetricKind::CostPer1kTokens
        ) {
            continue;
        }
        let Some(price) = cost.price_per_hour else {
            readings.push(Reading::missing(kind, "needs a price per replica-hour"));
            continue;
        };
        let Some(replicas) = cost
            .replicas
            .or_else(|| get(MetricKind::Replicas, readings))
        else {
            readings.push(Reading::missing(kind, "needs the number of replicas"));
            continue;
        };
        let dollars_per_second = price * replicas / 3600.0;
        let reading = if kind == MetricKind::CostPerRequest {
            match get(MetricKind::RequestRate, readings) {
                Some(r) if r > 0.0 => Reading::value(kind, dollars_per_second / r),
                _ => Reading::missing(kind, "no requests served"),
            }
        } else {
            let tokens = get(MetricKind::PromptTokensPerSecond, readings).unwrap_or(0.0)
                + get(MetricKind::GenerationTokensPerSecond, readings).unwrap_or(0.0);
            if tokens > 0.0 {
                Reading::value(kind, dollars_per_second / tokens * 1000.0)
            } else {
                Reading::missing(kind, "no tokens processed")
            }
        };
        readings.push(reading);
    }
}

#[cfg(test)]
mod tests;
