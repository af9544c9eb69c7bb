//! Redis list lengths: the queue depth of Celery's Redis broker.
//!
//! Celery's Redis transport (kombu) keeps a queue as a list named after the queue; with
//! message priorities it adds one list per priority step, named `<queue>\x06\x16<priority>`
//! (priority 0 stays in the plain list). [`RedisClient::queue_length`] reads the plain list and
//! every priority list (1 to 9) in one round trip and reports them separately and summed.
//!
//! ```no_run
//! use prescale_collect::redis::{RedisClient, RedisConfig};
//!
//! # async fn demo() -> Result<(), prescale_collect::CollectError> {
//! let client = RedisClient::new(RedisConfig::new("redis://127.0.0.1:6379/0"))?;
//! let depth = client.queue_length("celery").await?;
//! println!("{} waiting", depth.total);
//! # Ok(()) }
//! ```

use std::time::Duration;

use ::redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError};
use chrono::Utc;

use crate::Source;
use crate::error::{CollectError, SourceKind};
use crate::metrics::{CollectorMetrics, observe};
use crate::series::{Labels, Sample, Series};

const SRC: SourceKind = SourceKind::Redis;
/// kombu's separator between a queue name and its priority (`\x06\x16`).
pub const PRIORITY_SEPARATOR: &str = "\x06\x16";

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS).
    pub url: String,
    /// Timeout to connect and for each command. Default 5 s.
    pub timeout: Duration,
}

impl RedisConfig {
    /// Defaults for `url`: 5 s timeout.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The depth of one Celery queue on Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLength {
    /// The queue (list) name.
    pub queue: String,
    /// Messages in all lists.
    pub total: u64,
    /// `(priority, length)` for the plain list (priority 0) and each non-empty priority list.
    pub by_priority: Vec<(u8, u64)>,
}

/// A Redis client for list lengths.
#[derive(Debug, Clone)]
pub struct RedisClient {
    client: Client,
    place: String,
    timeout: Duration,
    metrics: Option<CollectorMetrics>,
}

impl RedisClient {
    /// Checks the URL and builds the client. Makes no connection.
    pub fn new(cfg: RedisConfig) -> Result<Self, CollectError> {
        let client = Client::open(cfg.url.trim()).map_err(|e| {
            CollectError::config(format!("redis url `{}`", redact(&cfg.url)), e.to_string())
        })?;
        let info = client.get_connection_info();
        let place = format!("{}/{}", info.addr(), info.redis_settings().db());
        Ok(Self {
            client,
            place,
            timeout: cfg.timeout,
            metrics: None,
        })
    }

    /// Counts requests and errors in `metrics` from now on.
    #[must_use]
    pub fn with_metrics(mut self, metrics: CollectorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The server address and database, e.g. `127.0.0.1:6379/0`.
    #[must_use]
    pub fn place(&self) -> &str {
        &self.place
    }

    /// `LLEN` of one list. A missing key is a length of 0 (an idle queue), as in Redis.
    pub async fn list_length(&self, key: &str) -> Result<u64, CollectError> {
        let result = async {
            let mut con = self.connect().await?;
            ::redis::cmd("LLEN")
                .arg(key)
                .query_async::<u64>(&mut con)
                .await
                .map_err(|e| self.error(key, &e))
        }
        .await;
        observe(self.metrics.as_ref(), SRC, result)
    }

    /// The depth of a Celery queue: the plain list plus its priority lists, in one round trip.
    pub async fn queue_length(&self, queue: &str) -> Result<QueueLength, CollectError> {
        let result = async {
            let mut con = self.connect().await?;
            let mut pipe = ::redis::pipe();
            pipe.cmd("LLEN").arg(queue);
            for p in 1..=9u8 {
                pipe.cmd("LLEN")
                    .arg(format!("{queue}{PRIORITY_SEPARATOR}{p}"));
            }
            let lengths: Vec<u64> = pipe
                .query_async(&mut con)
                .await
                .map_err(|e| self.error(queue, &e))?;
            let by_priority: Vec<(u8, u64)> = (0u8..)
                .zip(lengths)
                .filter(|&(p, n)| p == 0 || n > 0)
                .collect();
            Ok(QueueLength {
                queue: queue.to_owned(),
                total: by_priority.iter().map(|&(_, n)| n).sum(),
                by_priority,
            })
        }
        .await;
        observe(self.metrics.as_ref(), SRC, result)
    }

    async fn connect(&self) -> Result<::redis::aio::MultiplexedConnection, CollectError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.error("", &e))
    }

    fn error(&self, key: &str, e: &RedisError) -> CollectError {
        let place = if key.is_empty() {
            self.place.clone()
        } else {
            format!("{} key {key:?}", self.place)
        };
        let auth = matches!(e.kind(), ErrorKind::AuthenticationFailed)
            || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"));
        if auth {
            CollectError::Unauthorized {
                origin: SRC,
                place,
                reason: e.to_string(),
            }
        } else if e.is_timeout() {
            CollectError::Timeout {
                origin: SRC,
                place,
                after: self.timeout,
            }
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            CollectError::Unreachable {
                origin: SRC,
                place,
                reason: e.to_string(),
            }
        } else {
            CollectError::Redis {
                place,
                reason: e.to_string(),
            }
        }
    }
}

/// One Celery queue on Redis as a [`Source`]: series `celery_queue_length{queue}` (total) and
/// `celery_queue_length{queue,priority}` per non-empty priority list.
#[derive(Debug, Clone)]
pub struct RedisQueue {
    /// The client.
    pub client: RedisClient,
    /// The queue (list) name.
    pub queue: String,
}

impl Source for RedisQueue {
    fn kind(&self) -> SourceKind {
        SRC
    }

    fn describe(&self) -> String {
        format!("redis {} list {:?}", self.client.place(), self.queue)
    }

    async fn collect(&self) -> Result<Vec<Series>, CollectError> {
        let depth = self.client.queue_length(&self.queue).await?;
        let timestamp = Utc::now();
        let series = |priority: Option<u8>, value: u64| {
            let mut labels = Labels::new();
            labels.insert("__name__".into(), "celery_queue_length".into());
            labels.insert("queue".into(), depth.queue.clone());
            if let Some(p) = priority {
                labels.insert("priority".into(), p.to_string());
            }
            #[allow(clippy::cast_precision_loss)] // list lengths stay far below 2^53
            Series::new(
                labels,
                vec![Sample {
                    timestamp,
                    value: value as f64,
                }],
            )
        };
        let mut out = vec![series(None, depth.total)];
        if depth.by_priority.len() > 1 {
            out.extend(depth.by_priority.iter().map(|&(p, n)| series(Some(p), n)));
        }
        Ok(out)
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        let c = RedisClient::new(RedisConfig::new("redis://127.0.0.1:16379/2")).expect("valid");
        assert_eq!(c.place(), "127.0.0.1:16379/2");
        let err = RedisClient::new(RedisConfig::new("http://x:pw@host")).expect_err("scheme");
        assert_eq!(err.kind(), "config");
        assert!(!err.to_string().contains("pw"), "{err}");
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://***@h:1/0");
    }
}
