//! Demand from Prometheus, through `prescale-collect`'s client (instant `query` for the live
//! value, chunked `query_range` for history; typed errors counted in
//! `prescale_collector_requests_total` and `prescale_collector_errors_total`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig};
use prescale_collect::{Auth, CollectError, CollectorMetrics, Series, TlsOptions};

use crate::demand::source::{BoxFuture, DemandSource, Point, SourceError, SourceFactory};

/// Builds a Prometheus client per `serverAddress`.
#[derive(Debug, Clone)]
pub struct PrometheusSources {
    metrics: CollectorMetrics,
    /// Timeout of one HTTP request (default 5 s).
    pub timeout: Duration,
    /// Retries after a transient failure (default 1).
    pub retries: u32,
    /// Credentials sent to the Prometheus servers of `allowed` that no `servers` entry
    /// matches (the server's own; KEDA forwards none). Never sent anywhere else.
    pub auth: Option<Auth>,
    /// TLS options for HTTPS Prometheus servers (its client certificate, a credential, only
    /// where `auth` goes).
    pub tls: TlsOptions,
    /// Credentials and TLS for particular servers, replacing `auth` and `tls` for them.
    pub servers: Vec<ServerAccess>,
    /// The Prometheus URL prefixes a `serverAddress` may name (empty: any); the section's own
    /// credentials go only to these.
    pub allowed: Vec<String>,
}

/// How well the base URL `base` matches `address`: the length of `base` (trailing slashes
/// ignored) when `address` is that URL or lies under it (the rest starts with `/`). The one
/// rule for `prometheus.servers` entries and `prometheus.allowed`.
pub fn url_prefix_match(base: &str, address: &str) -> Option<usize> {
    let base = base.trim_end_matches('/');
    let rest = address.trim_end_matches('/').strip_prefix(base)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(base.len())
}

/// Whether `address` is under one of `allowed` (every address when `allowed` is empty).
pub fn is_allowed(allowed: &[String], address: &str) -> bool {
    allowed.is_empty()
        || allowed
            .iter()
            .any(|a| url_prefix_match(a, address).is_some())
}

/// Credentials and TLS for the Prometheus servers at `url` (see [`ServerAccess::matches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAccess {
    /// Base URL.
    pub url: String,
    /// Credentials.
    pub auth: Option<Auth>,
    /// TLS options.
    pub tls: TlsOptions,
}

impl ServerAccess {
    /// How well this entry matches `server_address`: the length of its URL when the address
    /// is that URL or lies under it (the rest starts with `/`; trailing slashes ignored).
    pub fn matches(&self, server_address: &str) -> Option<usize> {
        url_prefix_match(&self.url, server_address)
    }
}

impl PrometheusSources {
    /// Clients counting their requests and errors in `metrics`.
    pub fn new(metrics: CollectorMetrics) -> Self {
        Self {
            metrics,
            timeout: Duration::from_secs(5),
            retries: 1,
            auth: None,
            tls: TlsOptions::default(),
            servers: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// The credentials and TLS options for `server_address`: the longest matching entry of
    /// `servers`; else the section's own when the address is in `allowed` (a non-empty list);
    /// else none, and the section's TLS without its client certificate. A credential never
    /// goes to an address it was not configured for.
    pub fn access(&self, server_address: &str) -> (Option<Auth>, TlsOptions) {
        if let Some((_, s)) = self
            .servers
            .iter()
            .filter_map(|s| s.matches(server_address).map(|n| (n, s)))
            .max_by_key(|(n, _)| *n)
        {
            return (s.auth.clone(), s.tls.clone());
        }
        if !self.allowed.is_empty() && is_allowed(&self.allowed, server_address) {
            return (self.auth.clone(), self.tls.clone());
        }
        let anonymous = TlsOptions {
            client_cert: None,
            client_key: None,
            ..self.tls.clone()
        };
        (None, anonymous)
    }
}

impl SourceFactory for PrometheusSources {
    fn source(&self, server_address: &str) -> Result<Arc<dyn DemandSource>, SourceError> {
        let mut cfg = PrometheusConfig::new(server_address);
        cfg.timeout = self.timeout;
        cfg.retries = self.retries;
        let (auth, tls) = self.access(server_address);
        if auth.is_some() {
            cfg.auth = auth;
        }
        cfg.tls = tls;
        let client = PrometheusClient::new(cfg)
            .map_err(|e| convert(&e))?
            .with_metrics(self.metrics.clone());
        Ok(Arc::new(Prometheus(client)))
    }
}

/// One Prometheus server.
struct Prometheus(PrometheusClient);

fn convert(e: &CollectError) -> SourceError {
    SourceError::new(e.kind(), e.to_string())
}

/// The one series of a result; more is an error naming the query.
fn one<'a>(query: &str, series: &'a [Series]) -> Result<Option<&'a Series>, SourceError> {
    let with_samples: Vec<&Series> = series.iter().filter(|s| !s.samples.is_empty()).collect();
    match with_samples.len() {
        0 => Ok(None),
        1 => Ok(Some(with_samples[0])),
        n => Err(SourceError::new(
            "many_series",
            format!(
                "query `{query}` returned {n} series; aggregate it into one (e.g. with sum(...))"
            ),
        )),
    }
}

impl DemandSource for Prometheus {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        Box::pin(async move {
            match self.0.query(query, Some(at)).await {
                Ok(r) => Ok(one(query, &r.series)?.and_then(|s| s.samples.last().map(|x| x.value))),
                Err(CollectError::Empty { .. }) => Ok(None),
                Err(e) => Err(convert(&e)),
            }
        })
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        Box::pin(async move {
            match self.0.query_range(query, start, end, step).await {
                // Samples outside the requested window (a broken or hostile Prometheus) are
                // dropped: the first one returned becomes the history's start.
                Ok(r) => Ok(one(query, &r.series)?
                    .map(|s| {
                        s.samples
                            .iter()
                            .filter(|x| x.timestamp >= start && x.timestamp <= end)
                            .map(|x| (x.timestamp, x.value))
                            .collect()
                    })
                    .unwrap_or_default()),
                Err(CollectError::Empty { .. }) => Ok(Vec::new()),
                Err(e) => Err(convert(&e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-request HTTP server answering a Prometheus vector of 42; returns its URL and the
    /// request it received.
    async fn fake_prometheus() -> (String, tokio::task::JoinHandle<String>) {
        fake_answering(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"42"]}]}}"#,
        )
        .await
    }

    /// A one-request HTTP server answering `body`.
    async fn fake_answering(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0_u8; 8192];
            let n = sock.read(&mut buf).await.unwrap();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (url, task)
    }

    #[tokio::test]
    async fn credentials_go_only_where_they_were_configured() {
        let (a, request_a) = fake_prometheus().await;
        let (b, request_b) = fake_prometheus().await;
        let (c, request_c) = fake_prometheus().await;
        let mut sources = PrometheusSources::new(CollectorMetrics::default());
        sources.auth = Some(Auth::Bearer("default".into()));
        // The section's own credentials go to the allowed Prometheus without an entry (b) only.
        sources.allowed = vec![b.clone(), format!("{a}/")];
        sources.servers = vec![ServerAccess {
            url: format!("{a}/"),
            auth: Some(Auth::Basic {
                user: "u".into(),
                password: "p".into(),
            }),
            tls: TlsOptions::default(),
        }];
        for url in [&a, &b, &c] {
            let source = sources.source(url).unwrap();
            let v = source.instant("sum(up)", Utc::now()).await.unwrap();
            assert_eq!(v, Some(42.0));
        }
        // a: its servers entry's credentials replace the section's.
        let a = request_a.await.unwrap().to_ascii_lowercase();
        assert!(a.contains("authorization: basic dtpw"), "{a}"); // base64("u:p")
        // b: allowed, no entry: the section's.
        let b = request_b.await.unwrap().to_ascii_lowercase();
        assert!(b.contains("authorization: bearer default"), "{b}");
        // c: neither allowed nor an entry (a ScaledObject naming an address the caller
        // controls, on a server without an allowlist): nothing.
        let c = request_c.await.unwrap().to_ascii_lowercase();
        assert!(!c.contains("authorization"), "{c}");
    }

    #[test]
    fn allowed_prefixes_match_whole_path_segments() {
        let allowed = vec![
            "http://prom:9090/".to_string(),
            "https://thanos/api".to_string(),
        ];
        assert!(is_allowed(&allowed, "http://prom:9090"));
        assert!(is_allowed(&allowed, "http://prom:9090/select/0"));
        assert!(is_allowed(&allowed, "https://thanos/api/v1"));
        assert!(!is_allowed(&allowed, "http://prom:90901"));
        assert!(!is_allowed(&allowed, "http://prom:9090.evil.example"));
        assert!(!is_allowed(&allowed, "https://thanos/apix"));
        assert!(!is_allowed(&allowed, "http://attacker:9090"));
        assert!(is_allowed(&[], "http://anything:1"));
    }

    #[test]
    fn the_longest_matching_url_wins() {
        let entry = |url: &str, token: &str| ServerAccess {
            url: url.into(),
            auth: Some(Auth::Bearer(token.into())),
            tls: TlsOptions::default(),
        };
        let mut sources = PrometheusSources::new(CollectorMetrics::default());
        sources.servers = vec![
            entry("https://thanos:9091", "root"),
            entry("https://thanos:9091/tenant-a/", "tenant"),
        ];
        let token = |addr: &str| match sources.access(addr).0 {
            Some(Auth::Bearer(t)) => t.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(token("https://thanos:9091"), "root");
        assert_eq!(token("https://thanos:9091/tenant-b"), "root");
        assert_eq!(token("https://thanos:9091/tenant-a"), "tenant");
        assert_eq!(token("https://thanos:9091/tenant-a/prometheus"), "tenant");
        // Not a path boundary, another port, another host: the defaults (none).
        assert_eq!(token("https://thanos:90911"), "None");
        assert_eq!(token("https://thanos-2:9091"), "None");
    }

    #[tokio::test]
    async fn without_an_allowlist_the_sections_credentials_go_nowhere() {
        // The leak this closes: a ScaledObject whose serverAddress points at a listener the
        // caller controls got the server's token.
        let (url, request) = fake_prometheus().await;
        let mut sources = PrometheusSources::new(CollectorMetrics::default());
        sources.auth = Some(Auth::Bearer("t0ken".into()));
        let source = sources.source(&url).unwrap();
        let v = source.instant("sum(up)", Utc::now()).await.unwrap();
        assert_eq!(v, Some(42.0));
        let request = request.await.unwrap().to_ascii_lowercase();
        assert!(!request.contains("authorization"), "{request}");
        assert!(!request.contains("t0ken"), "{request}");
        // Listed, it gets them.
        let (url, request) = fake_prometheus().await;
        sources.allowed = vec![url.clone()];
        let source = sources.source(&url).unwrap();
        source.instant("sum(up)", Utc::now()).await.unwrap();
        let request = request.await.unwrap().to_ascii_lowercase();
        assert!(request.contains("authorization: bearer t0ken"), "{request}");
    }

    #[tokio::test]
    async fn samples_outside_the_requested_window_are_dropped() {
        // An ancient one (t = 1 s), two inside, one in the future.
        let (url, _) = fake_answering(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"7"],[1700000000,"1"],[1700000060,"2"],[4102444800,"9"]]}]}}"#,
        )
        .await;
        let sources = PrometheusSources::new(CollectorMetrics::default());
        let source = sources.source(&url).unwrap();
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        let points = source
            .range(
                "q",
                at(1_699_999_940),
                at(1_700_000_120),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        assert_eq!(values, [1.0, 2.0]);
    }
}
