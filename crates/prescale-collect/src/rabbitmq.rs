//! RabbitMQ queue depth and publish/deliver rates from the management HTTP API
//! (`GET /api/queues/{vhost}/{queue}`), the same fields KEDA's `rabbitmq` scaler reads in
//! `http` mode.
//!
//! ```no_run
//! use prescale_collect::rabbitmq::{RabbitMqClient, RabbitMqConfig};
//!
//! # async fn demo() -> Result<(), prescale_collect::CollectError> {
//! let client = RabbitMqClient::new(RabbitMqConfig::new("http://guest:guest@127.0.0.1:15672"))?;
//! let q = client.queue("/", "inference").await?;
//! println!("{} messages, {:?}/s published", q.messages, q.publish_rate);
//! # Ok(()) }
//! ```
//!
//! The management API samples queue statistics periodically (every 5 s by default), so a
//! count read right after a publish may lag by that much.

use std::time::Duration;

use chrono::Utc;
use reqwest::Url;
use serde::Deserialize;

use crate::error::{CollectError, SourceKind};
use crate::http::{HttpClient, HttpSettings, parse_base_url, redact, take_userinfo};
use crate::metrics::{CollectorMetrics, observe};
use crate::series::{Labels, Sample, Series};
use crate::{Auth, Source, TlsOptions};

const SRC: SourceKind = SourceKind::RabbitMq;

/// How to reach the RabbitMQ management API.
#[derive(Debug, Clone)]
pub struct RabbitMqConfig {
    /// Base URL of the management API, e.g. `http://guest:guest@rabbitmq:15672` (a path prefix
    /// is kept). `user:password@` is taken as basic authentication.
    pub url: String,
    /// Timeout of one request. Default 5 s.
    pub timeout: Duration,
    /// Retries after an unreachable server, a timeout or a 5xx answer. Default 2.
    pub retries: u32,
    /// Wait before the first retry, doubled at each further one. Default 250 ms.
    pub backoff: Duration,
    /// Credentials, if not in the URL.
    pub auth: Option<Auth>,
    /// TLS settings for `https://` URLs.
    pub tls: TlsOptions,
}

impl RabbitMqConfig {
    /// Defaults for `url`: 5 s timeout, 2 retries.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(250),
            auth: None,
            tls: TlsOptions::default(),
        }
    }
}

/// What the management API says about one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    /// The virtual host.
    pub vhost: String,
    /// The queue.
    pub name: String,
    /// Ready plus unacknowledged messages.
    pub messages: u64,
    /// Messages ready for delivery.
    pub messages_ready: u64,
    /// Messages delivered but not yet acknowledged.
    pub messages_unacknowledged: u64,
    /// Consumers attached.
    pub consumers: u64,
    /// Messages published per second (absent until the queue has seen a publish).
    pub publish_rate: Option<f64>,
    /// Messages delivered or fetched per second (absent until the queue has seen one).
    pub deliver_get_rate: Option<f64>,
}

#[derive(Deserialize)]
struct RawQueue {
    #[serde(default)]
    messages: Option<u64>,
    #[serde(default)]
    messages_ready: Option<u64>,
    #[serde(default)]
    messages_unacknowledged: Option<u64>,
    #[serde(default)]
    consumers: Option<u64>,
    #[serde(default)]
    message_stats: Option<RawStats>,
}

#[derive(Deserialize)]
struct RawStats {
    #[serde(default)]
    publish_details: Option<RawRate>,
    #[serde(default)]
    deliver_get_details: Option<RawRate>,
}

#[derive(Deserialize)]
struct RawRate {
    rate: f64,
}

/// A client of one RabbitMQ management API.
#[derive(Debug, Clone)]
pub struct RabbitMqClient {
    http: HttpClient,
    base: Url,
    metrics: Option<CollectorMetrics>,
}

impl RabbitMqClient {
    /// Checks the configuration and builds the client. Makes no request.
    pub fn new(cfg: RabbitMqConfig) -> Result<Self, CollectError> {
        if cfg.url.trim_start().starts_with("amqp") {
            return Err(CollectError::config(
                "rabbitmq url",
                "give the management API URL (http://user:password@host:15672), not an AMQP URL",
            ));
        }
        let mut base = parse_base_url(&cfg.url, "rabbitmq url")?;
        let auth = cfg.auth.or_else(|| take_userinfo(&mut base));
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

    /// Reads one queue. An unknown vhost or queue is [`CollectError::NotFound`]; a queue whose
    /// statistics the broker has not sampled yet is [`CollectError::Empty`].
    pub async fn queue(&self, vhost: &str, name: &str) -> Result<QueueStats, CollectError> {
        let result = async {
            let mut url = self.base.join("api/queues/").map_err(|e| {
                CollectError::config(format!("rabbitmq url {}", self.base), e.to_string())
            })?;
            url.path_segments_mut()
                .map_err(|()| CollectError::config("rabbitmq url", "cannot hold a path"))?
                .pop_if_empty()
                .push(vhost)
                .push(name);
            let body = self.http.get(&url).await?;
            parse_queue(&body, vhost, name).map_err(|e| match e {
                CollectError::BadResponse { place, reason, .. } => CollectError::BadResponse {
                    origin: SRC,
                    place: format!("{}: {place}", redact(&url)),
                    reason,
                },
                other => other,
            })
        }
        .await;
        observe(self.metrics.as_ref(), SRC, result)
    }
}

/// Parses the JSON of `GET /api/queues/{vhost}/{name}`.
pub fn parse_queue(body: &[u8], vhost: &str, name: &str) -> Result<QueueStats, CollectError> {
    let raw: RawQueue = serde_json::from_slice(body).map_err(|e| {
        CollectError::bad(
            SRC,
            format!("line {} column {}", e.line(), e.column()),
            format!("not a management API queue object: {e}"),
        )
    })?;
    let (Some(messages), Some(ready), Some(unacked)) = (
        raw.messages,
        raw.messages_ready,
        raw.messages_unacknowledged,
    ) else {
        return Err(CollectError::Empty {
            origin: SRC,
            place: format!("queue {name:?} in vhost {vhost:?} (statistics not sampled yet)"),
        });
    };
    let stats = raw.message_stats;
    let rate = |f: fn(&RawStats) -> Option<&RawRate>| stats.as_ref().and_then(f).map(|r| r.rate);
    Ok(QueueStats {
        vhost: vhost.to_owned(),
        name: name.to_owned(),
        messages,
        messages_ready: ready,
        messages_unacknowledged: unacked,
        consumers: raw.consumers.unwrap_or(0),
        publish_rate: rate(|s| s.publish_details.as_ref()),
        deliver_get_rate: rate(|s| s.deliver_get_details.as_ref()),
    })
}

/// One queue as a [`Source`]: series `rabbitmq_queue_messages`, `..._ready`,
/// `..._unacknowledged`, `rabbitmq_queue_consumers`, and the publish and deliver rates when
/// known, each labelled `vhost` and `queue`.
#[derive(Debug, Clone)]
pub struct RabbitMqQueue {
    /// The client.
    pub client: RabbitMqClient,
    /// The virtual host (`/` by default in RabbitMQ).
    pub vhost: String,
    /// The queue.
    pub queue: String,
}

impl Source for RabbitMqQueue {
    fn kind(&self) -> SourceKind {
        SRC
    }

    fn describe(&self) -> String {
        format!(
            "rabbitmq {} vhost {:?} queue {:?}",
            self.client.url(),
            self.vhost,
            self.queue
        )
    }

    async fn collect(&self) -> Result<Vec<Series>, CollectError> {
        let q = self.client.queue(&self.vhost, &self.queue).await?;
        Ok(queue_series(&q))
    }
}

/// The series of one queue's statistics, stamped now.
#[must_use]
#[allow(clippy::cast_precision_loss)] // message counts stay far below 2^53
pub fn queue_series(q: &QueueStats) -> Vec<Series> {
    let timestamp = Utc::now();
    let values = [
        ("rabbitmq_queue_messages", Some(q.messages as f64)),
        (
            "rabbitmq_queue_messages_ready",
            Some(q.messages_ready as f64),
        ),
        (
            "rabbitmq_queue_messages_unacknowledged",
            Some(q.messages_unacknowledged as f64),
        ),
        ("rabbitmq_queue_consumers", Some(q.consumers as f64)),
        ("rabbitmq_queue_publish_rate", q.publish_rate),
        ("rabbitmq_queue_deliver_get_rate", q.deliver_get_rate),
    ];
    values
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value?;
            let labels: Labels = [
                ("__name__".to_owned(), name.to_owned()),
                ("vhost".to_owned(), q.vhost.clone()),
                ("queue".to_owned(), q.name.clone()),
            ]
            .into();
            Some(Series::new(labels, vec![Sample { timestamp, value }]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from RabbitMQ 3.10 (`GET /api/queues/%2F/inference`), trimmed.
    const QUEUE: &str = r#"{"arguments":{},"auto_delete":false,"consumers":2,
        "durable":true,"messages":12,"messages_ready":9,"messages_unacknowledged":3,
        "message_stats":{"publish":40,"publish_details":{"rate":1.6},
                         "deliver_get":28,"deliver_get_details":{"rate":0.8}},
        "name":"inference","node":"rabbit@localhost","state":"running","vhost":"/"}"#;

    #[test]
    fn queue_objects_parse_with_rates() {
        let q = parse_queue(QUEUE.as_bytes(), "/", "inference").expect("parses");
        assert_eq!(
            (q.messages, q.messages_ready, q.messages_unacknowledged),
            (12, 9, 3)
        );
        assert_eq!(q.consumers, 2);
        assert_eq!(q.publish_rate, Some(1.6));
        assert_eq!(q.deliver_get_rate, Some(0.8));
        let series = queue_series(&q);
        assert_eq!(series.len(), 6);
        assert_eq!(series[0].name(), Some("rabbitmq_queue_messages"));
        assert_eq!(series[0].labels["vhost"], "/");
        assert_eq!(series[0].samples[0].value, 12.0);
    }

    #[test]
    fn fresh_queues_and_garbage() {
        let fresh = r#"{"name":"new","vhost":"/","durable":true}"#;
        let err = parse_queue(fresh.as_bytes(), "/", "new").expect_err("no stats yet");
        assert_eq!(err.kind(), "empty");
        let err = parse_queue(b"<html>", "/", "q").expect_err("garbage");
        assert_eq!(err.kind(), "bad_response");
        let err = parse_queue(
            br#"{"messages":-1,"messages_ready":0,"messages_unacknowledged":0}"#,
            "/",
            "q",
        )
        .expect_err("negative");
        assert_eq!(err.kind(), "bad_response");
    }

    #[test]
    fn amqp_urls_are_refused_with_advice() {
        let err = RabbitMqClient::new(RabbitMqConfig::new("amqp://guest:guest@h:5672/"))
            .expect_err("amqp");
        assert!(err.to_string().contains("management API"), "{err}");
        let c = RabbitMqClient::new(RabbitMqConfig::new("http://guest:guest@h:15672")).expect("ok");
        assert_eq!(c.url().as_str(), "http://h:15672/");
    }
}
