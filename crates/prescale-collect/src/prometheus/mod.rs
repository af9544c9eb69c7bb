//! The Prometheus HTTP API source: instant `query` and `query_range` (history backfill).
//!
//! ```no_run
//! use std::time::Duration;
//! use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig};
//!
//! # async fn demo() -> Result<(), prescale_collect::CollectError> {
//! let client = PrometheusClient::new(PrometheusConfig::new("http://127.0.0.1:9090"))?;
//! let now = client.query("sum(vllm:num_requests_waiting)", None).await?;
//! let end = chrono::Utc::now();
//! let history = client
//!     .query_range("sum(rate(vllm:request_success_total[1m]))", end - chrono::Duration::days(28),
//!                  end, Duration::from_secs(60))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Long ranges are fetched in chunks of at most [`PrometheusConfig::max_points_per_request`]
//! steps (Prometheus refuses more than 11,000 points per series) and merged by series.

mod response;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;

pub use response::{QueryResult, ResultType, parse_response};

use crate::error::{CollectError, SourceKind};
use crate::http::{HttpClient, HttpSettings, parse_base_url, redact, take_userinfo};
use crate::metrics::{CollectorMetrics, observe};
use crate::series::{Labels, Series};
use crate::{Auth, TlsOptions};

const SRC: SourceKind = SourceKind::Prometheus;
/// Prometheus' own limit of points per series in one `query_range`.
pub const PROMETHEUS_MAX_POINTS: u32 = 11_000;

/// How to reach a Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus:9090` or `https://host/prometheus` (a path prefix is
    /// kept). `user:password@` in the URL is taken as basic authentication.
    pub url: String,
    /// Timeout of one HTTP request (connect, send, and read the answer). Default 10 s.
    pub timeout: Duration,
    /// How many times a request is retried after an unreachable server, a timeout or a 5xx
    /// answer. Default 2.
    pub retries: u32,
    /// Wait before the first retry; doubled at each further one (at most 10 s). Default 250 ms.
    pub backoff: Duration,
    /// Credentials.
    pub auth: Option<Auth>,
    /// TLS settings for `https://` URLs.
    pub tls: TlsOptions,
    /// Most steps fetched in one `query_range` request. Default 10,000; at most
    /// [`PROMETHEUS_MAX_POINTS`].
    pub max_points_per_request: u32,
}

impl PrometheusConfig {
    /// Defaults for `url`: 10 s timeout, 2 retries from 250 ms, no auth, system TLS roots.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(250),
            auth: None,
            tls: TlsOptions::default(),
            max_points_per_request: 10_000,
        }
    }
}

/// The result of a range query: series merged over all chunks, with the requested grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeResult {
    /// The series, each with its samples oldest first.
    pub series: Vec<Series>,
    /// Warnings and infos from every chunk (deduplicated).
    pub warnings: Vec<String>,
    /// The requested start.
    pub start: DateTime<Utc>,
    /// The requested end.
    pub end: DateTime<Utc>,
    /// The requested step.
    pub step: Duration,
}

impl RangeResult {
    /// Total samples over all series.
    #[must_use]
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// The missing steps of each series on the requested grid (see [`Series::gaps`]).
    pub fn gaps(&self) -> impl Iterator<Item = (&Series, Vec<crate::series::Gap>)> {
        self.series
            .iter()
            .map(|s| (s, s.gaps(self.start, self.end, self.step)))
    }
}

/// A client of one Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: HttpClient,
    base: Url,
    max_points: u32,
    metrics: Option<CollectorMetrics>,
}

impl PrometheusClient {
    /// Checks the configuration (URL, TLS files, limits) and builds the client. Makes no
    /// request.
    pub fn new(cfg: PrometheusConfig) -> Result<Self, CollectError> {
        let mut base = parse_base_url(&cfg.url, "prometheus url")?;
        let auth = match (cfg.auth, take_userinfo(&mut base)) {
            (Some(a), _) => Some(a),
            (None, from_url) => from_url,
        };
        if cfg.max_points_per_request < 2 || cfg.max_points_per_request > PROMETHEUS_MAX_POINTS {
            return Err(CollectError::config(
                "prometheus max_points_per_request",
                format!(
                    "{} is outside 2..={PROMETHEUS_MAX_POINTS}",
                    cfg.max_points_per_request
                ),
            ));
        }
        let http = HttpClient::new(
            SRC,
            HttpSettings {
                timeout: cfg.timeout,
                retries: cfg.retries,
                backoff: cfg.backoff,
                auth,
                tls: cfg.tls,
            },
        )?;
        Ok(Self {
            http,
            base,
            max_points: cfg.max_points_per_request,
            metrics: None,
        })
    }

    /// Counts requests and errors in `metrics` from now on.
    #[must_use]
    pub fn with_metrics(mut self, metrics: CollectorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The base URL (without credentials).
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// Evaluates `promql` at `at` (default: now, as the server sees it).
    ///
    /// An answer without any series is [`CollectError::Empty`]; NaN and infinite values are
    /// kept in the result (check them with [`Series::check_finite`]).
    pub async fn query(
        &self,
        promql: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<QueryResult, CollectError> {
        let result = self.query_inner(promql, at).await;
        observe(self.metrics.as_ref(), SRC, result)
    }

    async fn query_inner(
        &self,
        promql: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<QueryResult, CollectError> {
        let mut url = self.endpoint("api/v1/query")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("query", promql);
            if let Some(t) = at {
                q.append_pair("time", &unix(t));
            }
        }
        let result = self.fetch(&url, promql).await?;
        if result.is_empty() {
            return Err(CollectError::Empty {
                origin: SRC,
                place: promql.to_owned(),
            });
        }
        Ok(result)
    }

    /// Evaluates `promql` over `[start, end]` every `step`, in as many requests as the
    /// points-per-request limit needs, and merges the chunks by series.
    ///
    /// A range without any sample is [`CollectError::Empty`]; missing steps are not filled (see
    /// [`RangeResult::gaps`]).
    pub async fn query_range(
        &self,
        promql: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<RangeResult, CollectError> {
        let result = self.query_range_inner(promql, start, end, step).await;
        observe(self.metrics.as_ref(), SRC, result)
    }

    async fn query_range_inner(
        &self,
        promql: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<RangeResult, CollectError> {
        let chunks = plan_chunks(start, end, step, self.max_points)?;
        let mut merged = Merger::default();
        let mut warnings: Vec<String> = Vec::new();
        for (from, to) in chunks {
            let mut url = self.endpoint("api/v1/query_range")?;
            url.query_pairs_mut()
                .append_pair("query", promql)
                .append_pair("start", &unix(from))
                .append_pair("end", &unix(to))
                .append_pair("step", &format!("{}", step.as_secs_f64()));
            let part = self.fetch(&url, promql).await?;
            if !matches!(part.result_type, ResultType::Matrix) {
                return Err(CollectError::bad(
                    SRC,
                    "data.resultType",
                    format!(
                        "a range query answered {:?}, not a matrix",
                        part.result_type
                    ),
                ));
            }
            for w in part.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            merged.add(part.series);
        }
        let series = merged.finish();
        if series.iter().all(|s| s.samples.is_empty()) {
            return Err(CollectError::Empty {
                origin: SRC,
                place: promql.to_owned(),
            });
        }
        Ok(RangeResult {
            series,
            warnings,
            start,
            end,
            step,
        })
    }

    fn endpoint(&self, path: &str) -> Result<Url, CollectError> {
        self.base.join(path).map_err(|e| {
            CollectError::config(format!("prometheus url {}", self.base), e.to_string())
        })
    }

    /// One request: Prometheus answers its own errors (bad query: 400, execution: 422,
    /// timeout: 503) with a JSON body, which becomes a typed error.
    async fn fetch(&self, url: &Url, promql: &str) -> Result<QueryResult, CollectError> {
        let resp = self.http.get_raw(url).await?;
        if matches!(resp.status, 400 | 422)
            && let Err(e @ CollectError::QueryError { .. }) = parse_response(&resp.body, promql)
        {
            return Err(e);
        }
        let body = self.http.check_status(url, resp)?;
        parse_response(&body, promql).map_err(|e| match e {
            CollectError::BadResponse { place, reason, .. } => CollectError::BadResponse {
                origin: SRC,
                place: format!("{}: {place}", redact(url)),
                reason,
            },
            other => other,
        })
    }
}

/// One request's share of a range: its first and last grid point.
pub type Chunk = (DateTime<Utc>, DateTime<Utc>);

/// One PromQL expression on one server, as a [`Source`](crate::Source) of its current values.
#[derive(Debug, Clone)]
pub struct PrometheusQuery {
    /// The client.
    pub client: PrometheusClient,
    /// The expression.
    pub promql: String,
}

impl crate::Source for PrometheusQuery {
    fn kind(&self) -> SourceKind {
        SRC
    }

    fn describe(&self) -> String {
        format!("{} `{}`", self.client.url(), self.promql)
    }

    async fn collect(&self) -> Result<Vec<Series>, CollectError> {
        Ok(self.client.query(&self.promql, None).await?.series)
    }
}

/// Splits `[start, end]` on a grid of `step` into consecutive chunks of at most `max_points`
/// grid points each (the next chunk starts one step after the previous one ends).
pub fn plan_chunks(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
    max_points: u32,
) -> Result<Vec<Chunk>, CollectError> {
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    if step_ms < 1 {
        return Err(CollectError::config(
            "query_range step",
            "must be at least 1 ms",
        ));
    }
    if end < start {
        return Err(CollectError::config(
            "query_range",
            format!(
                "end {} is before start {}",
                end.to_rfc3339(),
                start.to_rfc3339()
            ),
        ));
    }
    let per_chunk = i64::from(max_points.max(2)) - 1;
    let (mut from, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
    let mut chunks = Vec::new();
    loop {
        let to = from
            .saturating_add(per_chunk.saturating_mul(step_ms))
            .min(end_ms);
        chunks.push((ms(from), ms(to)));
        // `to` is on the grid unless it is `end`, so the next chunk starts on the grid too.
        let next = to.saturating_add(step_ms);
        if next > end_ms {
            return Ok(chunks);
        }
        from = next;
    }
}

fn ms(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t).unwrap_or_default()
}

/// Unix seconds with millisecond precision, as Prometheus takes them.
fn unix(t: DateTime<Utc>) -> String {
    let ms = t.timestamp_millis();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Merges the series of consecutive chunks, in first-seen order, dropping repeated timestamps.
#[derive(Default)]
struct Merger {
    index: HashMap<Labels, usize>,
    series: Vec<Series>,
}

impl Merger {
    fn add(&mut self, parts: Vec<Series>) {
        for part in parts {
            match self.index.get(&part.labels) {
                Some(&i) => {
                    let target = &mut self.series[i];
                    let last = target.samples.last().map(|s| s.timestamp);
                    target.samples.extend(
                        part.samples
                            .into_iter()
                            .filter(|s| last.is_none_or(|l| s.timestamp > l)),
                    );
                }
                None => {
                    self.index.insert(part.labels.clone(), self.series.len());
                    self.series.push(part);
                }
            }
        }
    }

    fn finish(self) -> Vec<Series> {
        self.series
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Sample;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("valid")
    }

    #[test]
    fn chunks_cover_the_grid_without_overlap_or_holes() {
        let step = Duration::from_secs(60);
        // 28 days of minutes: 40,321 grid points.
        let (start, end) = (at(0), at(28 * 86_400));
        let chunks = plan_chunks(start, end, step, 10_000).expect("plans");
        assert_eq!(chunks.len(), 5);
        let mut points = 0;
        let mut expected_from = start;
        for (from, to) in &chunks {
            assert_eq!(*from, expected_from);
            let n = (*to - *from).num_seconds() / 60 + 1;
            assert!(n <= 10_000, "{n}");
            points += n;
            expected_from = *to + chrono::Duration::seconds(60);
        }
        assert_eq!(points, 40_321);
        assert_eq!(chunks.last().expect("one").1, end);
    }

    #[test]
    fn short_and_degenerate_ranges() {
        let step = Duration::from_secs(15);
        assert_eq!(
            plan_chunks(at(0), at(0), step, 100).expect("one"),
            vec![(at(0), at(0))]
        );
        // An end off the grid: the last chunk still ends at `end`.
        assert_eq!(
            plan_chunks(at(0), at(20), step, 100).expect("one"),
            vec![(at(0), at(20))]
        );
        let two = plan_chunks(at(0), at(30), step, 2).expect("two");
        assert_eq!(two, vec![(at(0), at(15)), (at(30), at(30))]);
        assert_eq!(
            plan_chunks(at(10), at(0), step, 100)
                .expect_err("reversed")
                .kind(),
            "config"
        );
        assert_eq!(
            plan_chunks(at(0), at(10), Duration::ZERO, 100)
                .expect_err("zero")
                .kind(),
            "config"
        );
    }

    #[test]
    fn merging_joins_series_by_labels_in_order() {
        let labels = |v: &str| -> Labels { [("pod".to_owned(), v.to_owned())].into() };
        let s = |l: &str, ts: &[i64]| {
            Series::new(
                labels(l),
                ts.iter()
                    .map(|&t| Sample {
                        timestamp: at(t),
                        value: t as f64,
                    })
                    .collect(),
            )
        };
        let mut m = Merger::default();
        m.add(vec![s("a", &[0, 60]), s("b", &[60])]);
        m.add(vec![s("b", &[60, 120]), s("c", &[120]), s("a", &[120])]);
        let out = m.finish();
        let names: Vec<&str> = out.iter().map(|s| s.labels["pod"].as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let times = |i: usize| {
            out[i]
                .samples
                .iter()
                .map(|s| s.timestamp.timestamp())
                .collect::<Vec<_>>()
        };
        assert_eq!(times(0), [0, 60, 120]);
        assert_eq!(times(1), [60, 120]);
    }

    #[test]
    fn config_is_checked_without_a_request() {
        let mut cfg = PrometheusConfig::new("http://u:p@127.0.0.1:9/prom");
        let client = PrometheusClient::new(cfg.clone()).expect("valid");
        assert_eq!(client.url().as_str(), "http://127.0.0.1:9/prom/");
        cfg.max_points_per_request = 20_000;
        assert_eq!(
            PrometheusClient::new(cfg).expect_err("limit").kind(),
            "config"
        );
        assert_eq!(
            unix(DateTime::from_timestamp_millis(1_500).expect("t")),
            "1.500"
        );
        assert_eq!(
            unix(DateTime::from_timestamp_millis(-1_500).expect("t")),
            "-2.500"
        );
    }
}
