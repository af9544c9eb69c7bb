//! The assembled server in-process, on a demand source in memory: KEDA's polling over gRPC,
//! the HTTP API and every documented metric name, mutual TLS, and state kept across a
//! restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{loopback, source};
use prescale_server::demand::source::{
    BoxFuture, DemandSource, MemorySource, Metered, Point, SameSource, SourceError,
};
use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::keda::proto::{GetMetricsRequest, ScaledObjectRef};
use prescale_server::server::{Server, ServerOptions};
use prescale_server::tls::TlsFiles;
use prescale_testkit::{TestPki, http};
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Running {
    grpc: String,
    http: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), prescale_server::server::ServerError>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.done)
            .await
            .expect("graceful shutdown within 10 s")
            .unwrap()
            .unwrap();
    }
}

async fn start(options: ServerOptions, source: Arc<MemorySource>) -> Running {
    start_with(options, source).await
}

async fn start_with(options: ServerOptions, source: Arc<dyn DemandSource>) -> Running {
    let server = Server::bind(options, Some(Arc::new(SameSource(source))))
        .await
        .unwrap();
    let grpc = server.grpc_addr().unwrap().to_string();
    let http = format!("http://{}", server.http_addr().unwrap());
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        grpc,
        http,
        stop: Some(tx),
        done,
    }
}

fn object() -> ScaledObjectRef {
    common::object("chat")
}

async fn get(url: String) -> http::HttpResponse {
    tokio::task::spawn_blocking(move || http::get(&url).unwrap())
        .await
        .unwrap()
}

/// `GetMetricSpec`, `GetMetrics`, `IsActive`, as KEDA polls; returns the replicas the HPA
/// would compute and the activity.
async fn poll(client: &mut ExternalScalerClient<Channel>) -> (f64, bool) {
    let spec = client.get_metric_spec(object()).await.unwrap().into_inner();
    let target = spec.metric_specs[0].target_size_float;
    let value = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(object()),
            metric_name: spec.metric_specs[0].metric_name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .metric_values[0]
        .metric_value_float;
    let active = client
        .is_active(object())
        .await
        .unwrap()
        .into_inner()
        .result;
    ((value / target).ceil(), active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_keda_and_the_http_api() {
    let mut options = loopback();
    options.cost = Some(Default::default());
    let server = start(options, source()).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let (replicas, active) = poll(&mut client).await;
    // The synthetic service is busy at every hour: 20 to 200 requests a minute, 40 each.
    assert!(active);
    assert!((1.0..=10.0).contains(&replicas), "{replicas}");

    assert_eq!(get(format!("{}/healthz", server.http)).await.status, 200);
    assert_eq!(get(format!("{}/readyz", server.http)).await.status, 200);
    let list = get(format!("{}/api/v1/services", server.http)).await;
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["services"][0]["name"], "chat");
    // The first answer is reactive; the forecast follows the backfill.
    let mut one = serde_json::Value::Null;
    for _ in 0..100 {
        let r = get(format!("{}/api/v1/services/inference/chat", server.http)).await;
        assert_eq!(r.status, 200);
        one = serde_json::from_str(&r.body).unwrap();
        if one["phase"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(one["phase"], "ok", "{one}");
    assert!(
        one["analysis"]["patterns"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{one}"
    );
    assert!(one["analysis"]["trend"]["class"].is_string());
    assert!(
        one["forecast"]["steps"]
            .as_array()
            .is_some_and(|s| s.len() > 10)
    );
    assert!(one["decision"]["reason"].is_string());
    assert!(
        one["decision"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("scale to")
    );
    let (replicas, _) = poll(&mut client).await;
    assert_eq!(one["reported"]["replicas"].as_f64(), Some(replicas));
    let missing = get(format!("{}/api/v1/services/inference/nope", server.http)).await;
    assert_eq!(missing.status, 404);
    let cost = get(format!("{}/api/v1/cost", server.http)).await;
    assert_eq!(cost.status, 200, "{}", cost.body);

    // The metrics of the service, the server and the collector (every name of
    // docs/metrics.md is checked in the telemetry's unit tests).
    let metrics = get(format!("{}/metrics", server.http)).await.body;
    for family in [
        "prescale_observed_demand",
        "prescale_forecast_demand",
        "prescale_pattern_detected",
        "prescale_trend_info",
        "prescale_anomalies",
        "prescale_history_samples",
        "prescale_desired_replicas",
        "prescale_reactive_replicas",
        "prescale_decision_active",
        "prescale_decision_info",
        "prescale_lead_seconds",
        "prescale_refits",
        "prescale_shadow_mode",
        "prescale_scaled_objects",
        "prescale_grpc_requests",
        "prescale_grpc_request_duration_seconds",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{metrics}"
        );
    }
    assert!(metrics.contains(r#"prescale_desired_replicas{namespace="inference",service="chat"}"#));
    assert!(metrics.contains(r#"prescale_grpc_requests_total{method="GetMetrics",code="OK"}"#));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = loopback();
    options.data_dir = Some(dir.path().to_path_buf());
    let src = source();
    let first = start(options.clone(), src.clone()).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", first.grpc))
        .await
        .unwrap();
    let (before, _) = poll(&mut client).await;
    // Let the history and the decision reach the store.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.stop().await;

    // History can no longer be read from the source: what the new server holds comes from
    // the store, and it knows the ScaledObject before any call.
    src.fail_ranges(Some(SourceError::new("unreachable", "prometheus is down")));
    let second = start(options, src).await;
    let mut seen = serde_json::Value::Null;
    for _ in 0..50 {
        let one = get(format!("{}/api/v1/services/inference/chat", second.http)).await;
        if one.status == 200 {
            seen = serde_json::from_str(&one.body).unwrap();
            if seen["history"]["samples"].as_u64().unwrap_or(0) > 0 && !seen["reported"].is_null() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen["history"]["samples"].as_u64().unwrap() >= 3 * 1440,
        "{seen}"
    );
    let reported = seen["reported"]["replicas"].as_f64().unwrap();
    assert!((reported - before).abs() <= 2.0, "{reported} vs {before}");
    second.stop().await;
}

async fn tls_client(
    addr: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<ExternalScalerClient<Channel>, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://{addr}")).unwrap();
    if let Some(t) = tls {
        endpoint = endpoint.tls_config(t)?;
    }
    Ok(ExternalScalerClient::new(endpoint.connect().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_as_keda_trigger_authentication_expects() {
    let pki = TestPki::new().unwrap();
    let mut options = loopback();
    options.tls = Some(TlsFiles {
        cert_file: pki.path("server.crt"),
        key_file: pki.path("server.key"),
        client_ca_file: Some(pki.path("ca.crt")),
    });
    let server = start(options, source()).await;
    let ca = Certificate::from_pem(pki.read("ca.crt"));
    // KEDA with caCert, tlsClientCert and tlsClientKey.
    let full = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .identity(Identity::from_pem(
            pki.read("client.crt"),
            pki.read("client.key"),
        ))
        .domain_name("localhost");
    let mut client = tls_client(&server.grpc, Some(full)).await.unwrap();
    let (replicas, _) = poll(&mut client).await;
    assert!(replicas >= 1.0);
    // Without a client certificate, the handshake (or the first call) is refused.
    let no_cert = ClientTlsConfig::new()
        .ca_certificate(ca)
        .domain_name("localhost");
    let refused = match tls_client(&server.grpc, Some(no_cert)).await {
        Err(_) => true,
        Ok(mut c) => c.get_metric_spec(object()).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    // Plaintext is refused.
    let plain = match tls_client(&server.grpc, None).await {
        Err(_) => true,
        Ok(mut c) => c.get_metric_spec(object()).await.is_err(),
    };
    assert!(plain, "a plaintext client was served");
    server.stop().await;
}

/// KEDA's client as its TriggerAuthentication configures it from `pki`'s files.
fn keda_tls(pki: &TestPki) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.read("ca.crt")))
        .identity(Identity::from_pem(
            pki.read("client.crt"),
            pki.read("client.key"),
        ))
        .domain_name("localhost")
}

/// Whether a new connection with `tls` is served.
async fn served(addr: &str, tls: ClientTlsConfig) -> bool {
    match tls_client(addr, Some(tls)).await {
        Err(_) => false,
        Ok(mut c) => c.get_metric_spec(object()).await.is_ok(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificates_are_served_without_a_restart() {
    let old = TestPki::new().unwrap();
    let new = TestPki::new().unwrap();
    // The server's files, as a mounted Secret: replaced in place on renewal.
    let dir = tempfile::tempdir().unwrap();
    let install = |pki: &TestPki| {
        for (from, to) in [
            ("server.crt", "tls.crt"),
            ("server.key", "tls.key"),
            ("ca.crt", "ca.crt"),
        ] {
            let staged = dir.path().join(format!("{to}.new"));
            std::fs::copy(pki.path(from), &staged).unwrap();
            std::fs::rename(&staged, dir.path().join(to)).unwrap();
        }
    };
    install(&old);
    let mut options = loopback();
    options.tls = Some(TlsFiles {
        cert_file: dir.path().join("tls.crt"),
        key_file: dir.path().join("tls.key"),
        client_ca_file: Some(dir.path().join("ca.crt")),
    });
    let server = start(options, source()).await;
    // Idle connections that never finish a handshake do not hold others up.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(tokio::net::TcpStream::connect(&server.grpc).await.unwrap());
    }
    let mut kept = tls_client(&server.grpc, Some(keda_tls(&old)))
        .await
        .unwrap();
    poll(&mut kept).await;
    assert!(!served(&server.grpc, keda_tls(&new)).await);
    install(&new);
    // New connections get the new certificate and CA; the old client is refused.
    assert!(
        served(&server.grpc, keda_tls(&new)).await,
        "renewal not picked up"
    );
    assert!(!served(&server.grpc, keda_tls(&old)).await);
    // A broken renewal keeps the last good files.
    std::fs::write(dir.path().join("tls.crt"), "garbage").unwrap();
    assert!(served(&server.grpc, keda_tls(&new)).await);
    // A connection made before the renewal goes on.
    poll(&mut kept).await;
    drop(idle);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_object_keda_stopped_asking_about_expires() {
    let mut options = loopback();
    options.registration_ttl = Some(Duration::from_secs(2));
    let server = start(options, source()).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    poll(&mut client).await;
    let url = format!("{}/api/v1/services/inference/chat", server.http);
    assert_eq!(get(url.clone()).await.status, 200);
    // KEDA stops asking (the ScaledObject was deleted): gone within the TTL and a sweep.
    let mut gone = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if get(url.clone()).await.status == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "still registered");
    // Its series go too (at once, or when its worker ends the tick it was in).
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = get(format!("{}/metrics", server.http)).await.body;
        if !metrics.contains(r#"service="chat""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("prescale_registrations_expired_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"service="chat""#),
        "its series stay:\n{metrics}"
    );
    // Asked again: registered again.
    poll(&mut client).await;
    assert_eq!(get(url).await.status, 200);
    server.stop().await;
}

/// A scripted Prometheus over the test's history: its live read panics on the first `panics`
/// calls and hangs from call `hang_after` on; it counts its history reads (each takes a few
/// milliseconds) and the most in flight at once.
struct Scripted {
    inner: Arc<MemorySource>,
    panics: usize,
    hang_after: usize,
    calls: std::sync::atomic::AtomicUsize,
}

impl Scripted {
    fn new(panics: usize, hang_after: usize) -> Self {
        Self {
            inner: source(),
            panics,
            hang_after,
            calls: Default::default(),
        }
    }
}

impl DemandSource for Scripted {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(
            n >= self.panics,
            "a hostile answer the worker does not survive"
        );
        Box::pin(async move {
            if n >= self.hang_after {
                std::future::pending::<()>().await;
            }
            self.inner.instant(query, at).await
        })
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        self.inner.range(query, start, end, step)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicked_worker_restarts_and_is_counted() {
    let faulty = Arc::new(Scripted::new(1, usize::MAX));
    let server = start_with(loopback(), faulty).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    // The first call waits for the first decision: the worker panicked before it, restarted
    // after a second, and answers.
    let mut answered = false;
    for _ in 0..40 {
        if client.is_active(object()).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(answered, "no answer after the restart");
    let metrics = get(format!("{}/metrics", server.http)).await.body;
    assert!(
        metrics.contains("prescale_worker_restarts_total 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_worker_answers_unavailable_not_its_old_decision() {
    let mut options = loopback();
    options.runtime.decision_interval = Duration::from_secs(1);
    // The live read hangs from the third call on: decisions stop.
    let faulty = Arc::new(Scripted::new(0, 2));
    let server = start_with(options, faulty).await;
    let mut client = ExternalScalerClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    assert!(client.is_active(object()).await.is_ok());
    // Four decision intervals later the last decision is too old to be told.
    let mut refused = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Err(status) = client.is_active(object()).await {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("the old decision was still answered");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("no decision for"), "{status:?}");
    let metrics = get(format!("{}/metrics", server.http)).await.body;
    assert!(
        !metrics.contains("prescale_stale_answers_total 0"),
        "{metrics}"
    );
    server.stop().await;
}

/// The status code of `GET path` on `http` (`http://host:port`), with `Authorization: Bearer
/// token` when given.
fn status_of(http: &str, path: &str, token: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let addr = http.trim_start_matches("http://");
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_can_require_a_token_and_follows_its_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("api-token");
    std::fs::write(&token, "first\n").unwrap();
    let mut options = loopback();
    options.api_token_file = Some(token.clone());
    let server = start(options, source()).await;
    let http = server.http.clone();
    let check = move |path: &'static str, token: Option<&'static str>| {
        let http = http.clone();
        async move {
            tokio::task::spawn_blocking(move || status_of(&http, path, token))
                .await
                .unwrap()
        }
    };
    assert_eq!(check("/api/v1/services", None).await, 401);
    assert_eq!(check("/api/v1/services", Some("wrong")).await, 401);
    assert_eq!(check("/api/v1/services", Some("first")).await, 200);
    // Metrics and health checks stay open (Prometheus, the kubelet).
    assert_eq!(check("/metrics", None).await, 200);
    assert_eq!(check("/healthz", None).await, 200);
    // Rotated: the new token works at once, the old one no more.
    std::fs::write(&token, "second\n").unwrap();
    assert_eq!(check("/api/v1/services", Some("second")).await, 200);
    assert_eq!(check("/api/v1/services", Some("first")).await, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_backfills_a_few_objects_at_a_time() {
    let counting = Arc::new(Metered::new(source(), Duration::from_millis(5)));
    let mut options = loopback();
    options.runtime.history_reads = 3;
    // 200 ScaledObjects known at start and no saved history: every one backfills.
    options.preregistered = (0..200)
        .map(|i| {
            let mut so = object();
            so.name = format!("chat-{i}");
            (
                prescale_server::registry::ObjectKey::new(so.namespace, so.name),
                so.scaler_metadata,
            )
        })
        .collect();
    let server = start_with(options, counting.clone()).await;
    let started = std::time::Instant::now();
    while counting.reads() < 200 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counting.reads() >= 200, "backfill incomplete");
    let most = counting.most_at_once();
    assert!((1..=3).contains(&most), "{most} history reads at once");
    server.stop().await;
}
