//! Scrapes a target's `/metrics` page (text exposition format): vLLM and DCGM exporter
//! endpoints when no Prometheus is around.
//!
//! ```no_run
//! use prescale_collect::scrape::{ScrapeClient, ScrapeConfig};
//!
//! # async fn demo() -> Result<(), prescale_collect::CollectError> {
//! let client = ScrapeClient::new(ScrapeConfig::new("http://vllm:8000/metrics"))?;
//! let page = client.scrape().await?;
//! let waiting = page.family("vllm:num_requests_waiting");
//! # Ok(()) }
//! ```

mod parse;

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;

pub use parse::{
    Exposition, ExpositionSample, Histogram, MetricFamily, MetricType, parse_exposition,
};

use crate::error::{CollectError, SourceKind};
use crate::http::{HttpClient, HttpSettings, parse_base_url, take_userinfo};
use crate::metrics::{CollectorMetrics, observe};
use crate::series::{Sample, Series};
use crate::{Auth, Source, TlsOptions};

const SRC: SourceKind = SourceKind::Scrape;

/// How to reach a `/metrics` endpoint.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// The full URL of the page, e.g. `http://vllm:8000/metrics`.
    pub url: String,
    /// Timeout of one request. Default 5 s.
    pub timeout: Duration,
    /// Retries after an unreachable target, a timeout or a 5xx answer. Default 1.
    pub retries: u32,
    /// Wait before the first retry, doubled at each further one. Default 250 ms.
    pub backoff: Duration,
    /// Credentials (`user:password@` in the URL is taken as basic authentication too).
    pub auth: Option<Auth>,
    /// TLS settings for `https://` URLs.
    pub tls: TlsOptions,
}

impl ScrapeConfig {
    /// Defaults for `url`: 5 s timeout, 1 retry.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(5),
            retries: 1,
            backoff: Duration::from_millis(250),
            auth: None,
            tls: TlsOptions::default(),
        }
    }
}

/// A client of one `/metrics` endpoint.
#[derive(Debug, Clone)]
pub struct ScrapeClient {
    http: HttpClient,
    url: Url,
    metrics: Option<CollectorMetrics>,
}

impl ScrapeClient {
    /// Checks the configuration and builds the client. Makes no request.
    pub fn new(cfg: ScrapeConfig) -> Result<Self, CollectError> {
        let mut url = parse_base_url(&cfg.url, "scrape url")?;
        // `parse_base_url` adds a trailing slash for joining; a page URL keeps its own path.
        if !cfg.url.trim().ends_with('/') {
            let path = url.path().trim_end_matches('/').to_owned();
            url.set_path(&path);
        }
        let auth = cfg.auth.or_else(|| take_userinfo(&mut url));
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
            url,
            metrics: None,
        })
    }

    /// Counts requests and errors in `metrics` from now on.
    #[must_use]
    pub fn with_metrics(mut self, metrics: CollectorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The page URL (without credentials).
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Fetches and parses the page. A page without any sample is [`CollectError::Empty`].
    pub async fn scrape(&self) -> Result<Exposition, CollectError> {
        let result = async {
            let body = self.http.get(&self.url).await?;
            let text = std::str::from_utf8(&body).map_err(|e| {
                CollectError::bad(
                    SRC,
                    self.url.as_str(),
                    format!("the page is not UTF-8: {e}"),
                )
            })?;
            let page = parse_exposition(text).map_err(|e| match e {
                CollectError::BadResponse { place, reason, .. } => CollectError::BadResponse {
                    origin: SRC,
                    place: format!("{} {place}", self.url),
                    reason,
                },
                other => other,
            })?;
            if page.sample_count() == 0 {
                return Err(CollectError::Empty {
                    origin: SRC,
                    place: self.url.to_string(),
                });
            }
            Ok(page)
        }
        .await;
        observe(self.metrics.as_ref(), SRC, result)
    }
}

/// Turns a page into series: one per sample, named by `__name__`, stamped with the sample's
/// own timestamp or `now`.
#[must_use]
pub fn exposition_series(page: &Exposition, now: DateTime<Utc>) -> Vec<Series> {
    page.samples()
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.insert("__name__".into(), s.name.clone());
            let timestamp = s
                .timestamp_ms
                .and_then(DateTime::from_timestamp_millis)
                .unwrap_or(now);
            Series::new(
                labels,
                vec![Sample {
                    timestamp,
                    value: s.value,
                }],
            )
        })
        .collect()
}

impl Source for ScrapeClient {
    fn kind(&self) -> SourceKind {
        SRC
    }

    fn describe(&self) -> String {
        self.url.to_string()
    }

    async fn collect(&self) -> Result<Vec<Series>, CollectError> {
        let page = self.scrape().await?;
        Ok(exposition_series(&page, Utc::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_keep_their_path() {
        let c = ScrapeClient::new(ScrapeConfig::new("http://u:p@127.0.0.1:8000/metrics"))
            .expect("valid");
        assert_eq!(c.url().as_str(), "http://127.0.0.1:8000/metrics");
        assert_eq!(c.describe(), "http://127.0.0.1:8000/metrics");
        let err = ScrapeClient::new(ScrapeConfig::new("127.0.0.1:8000")).expect_err("no scheme");
        assert_eq!(err.kind(), "config");
    }

    #[test]
    fn samples_become_named_series() {
        let page = parse_exposition("a{x=\"1\"} 2\nb 3 1000\n").expect("parses");
        let now = DateTime::from_timestamp(50, 0).expect("t");
        let series = exposition_series(&page, now);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].name(), Some("a"));
        assert_eq!(series[0].labels["x"], "1");
        assert_eq!(series[0].samples[0].timestamp, now);
        assert_eq!(series[1].samples[0].timestamp.timestamp(), 1);
    }
}
