//! The Prometheus client against a scripted HTTP server on loopback: retries with backoff on
//! 5xx, timeouts, refused connections, credentials, API errors, malformed answers, empty
//! results and chunked ranges. Every fault must come back as its typed error and be counted
//! in `prescale_collector_errors_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use chrono::{DateTime, Utc};
use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig};
use prescale_collect::{Auth, CollectorMetrics, SourceKind};
use std::collections::HashMap;

/// Answers a call: call number, query parameters, headers.
type Answer =
    dyn Fn(usize, &HashMap<String, String>, &HeaderMap) -> (StatusCode, String) + Send + Sync;

/// What the scripted server answers, by call number.
#[derive(Clone)]
struct Script {
    calls: Arc<AtomicUsize>,
    answer: Arc<Answer>,
}

async fn handler(
    State(script): State<Script>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let n = script.calls.fetch_add(1, Ordering::SeqCst);
    if params.get("query").is_some_and(|q| q == "slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    (script.answer)(n, &params, &headers)
}

/// Serves the script on a free loopback port; returns the base URL and the call counter.
async fn serve(
    answer: impl Fn(usize, &HashMap<String, String>, &HeaderMap) -> (StatusCode, String)
    + Send
    + Sync
    + 'static,
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let script = Script {
        calls: calls.clone(),
        answer: Arc::new(answer),
    };
    let app = Router::new()
        .route("/api/v1/query", get(handler))
        .route("/api/v1/query_range", get(handler))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}"), calls)
}

fn client(url: &str, metrics: &CollectorMetrics) -> PrometheusClient {
    let mut cfg = PrometheusConfig::new(url);
    cfg.timeout = Duration::from_millis(500);
    cfg.retries = 2;
    cfg.backoff = Duration::from_millis(10);
    PrometheusClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone())
}

const ONE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"5"]}]}}"#;

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let (url, calls) = serve(|n, _, _| {
        if n < 2 {
            (StatusCode::SERVICE_UNAVAILABLE, "busy".into())
        } else {
            (StatusCode::OK, ONE.into())
        }
    })
    .await;
    let metrics = CollectorMetrics::new();
    let r = client(&url, &metrics)
        .query("up", None)
        .await
        .expect("third try works");
    assert_eq!(r.values().map(|(_, v)| v).collect::<Vec<_>>(), vec![5.0]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(metrics.requests(SourceKind::Prometheus), 1);
    assert_eq!(metrics.errors(SourceKind::Prometheus, "http_5xx"), 0);
}

#[tokio::test]
async fn persistent_5xx_is_http_5xx_after_the_retries() {
    let (url, calls) =
        serve(|_, _, _| (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>".into())).await;
    let metrics = CollectorMetrics::new();
    let err = client(&url, &metrics)
        .query("up", None)
        .await
        .expect_err("5xx");
    assert_eq!(err.kind(), "http_5xx");
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(metrics.errors(SourceKind::Prometheus, "http_5xx"), 1);
}

#[tokio::test]
async fn slow_server_times_out() {
    let (url, _) = serve(|_, _, _| (StatusCode::OK, ONE.into())).await;
    let metrics = CollectorMetrics::new();
    let mut cfg = PrometheusConfig::new(url);
    cfg.timeout = Duration::from_millis(200);
    cfg.retries = 0;
    let c = PrometheusClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone());
    let err = c.query("slow", None).await.expect_err("timeout");
    assert_eq!(err.kind(), "timeout", "{err}");
    assert_eq!(metrics.errors(SourceKind::Prometheus, "timeout"), 1);
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let metrics = CollectorMetrics::new();
    let err = client(&format!("http://127.0.0.1:{port}"), &metrics)
        .query("up", None)
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), "unreachable", "{err}");
    assert!(!err.to_string().contains('\n'));
    assert_eq!(metrics.errors(SourceKind::Prometheus, "unreachable"), 1);
}

#[tokio::test]
async fn credentials_are_sent_and_refusals_are_unauthorized() {
    let (url, _) = serve(|_, _, headers| {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer s3cret") => (StatusCode::OK, ONE.into()),
            // "user:pw" in base64
            Some("Basic dXNlcjpwdw==") => (StatusCode::OK, ONE.into()),
            _ => (StatusCode::UNAUTHORIZED, "Unauthorized".into()),
        }
    })
    .await;
    let metrics = CollectorMetrics::new();
    let mut cfg = PrometheusConfig::new(url.clone());
    cfg.auth = Some(Auth::Bearer("s3cret".into()));
    let ok = PrometheusClient::new(cfg).expect("client");
    assert!(ok.query("up", None).await.is_ok());
    let basic = url.replace("http://", "http://user:pw@");
    assert!(client(&basic, &metrics).query("up", None).await.is_ok());
    let mut wrong = PrometheusConfig::new(url);
    wrong.auth = Some(Auth::Basic {
        user: "user".into(),
        password: "nope".into(),
    });
    let err = PrometheusClient::new(wrong)
        .expect("client")
        .with_metrics(metrics.clone())
        .query("up", None)
        .await
        .expect_err("401");
    assert_eq!(err.kind(), "unauthorized");
    assert!(!err.to_string().contains("nope"), "{err}");
    assert_eq!(metrics.errors(SourceKind::Prometheus, "unauthorized"), 1);
}

#[tokio::test]
async fn api_errors_malformed_and_empty_answers() {
    let (url, _) = serve(|_, params, _| match params.get("query").map(String::as_str) {
        Some("sum(") => (
            StatusCode::BAD_REQUEST,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#.into(),
        ),
        Some("garbage") => (StatusCode::OK, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"fast"]}]}}"#.into()),
        Some("truncated") => (StatusCode::OK, r#"{"status":"success","data":{"resu"#.into()),
        Some("nan") => (StatusCode::OK, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"NaN"]}]}}"#.into()),
        _ => (StatusCode::OK, r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.into()),
    })
    .await;
    let metrics = CollectorMetrics::new();
    let c = client(&url, &metrics);
    let kind = |r: Result<_, prescale_collect::CollectError>| {
        r.map(|_: prescale_collect::prometheus::QueryResult| ())
            .expect_err("fails")
            .kind()
    };
    assert_eq!(kind(c.query("sum(", None).await), "query_error");
    assert_eq!(kind(c.query("garbage", None).await), "bad_response");
    assert_eq!(kind(c.query("truncated", None).await), "bad_response");
    assert_eq!(kind(c.query("absent_metric", None).await), "empty");
    let nan = c
        .query("nan", None)
        .await
        .expect("NaN is data, not a transport error");
    let err = nan.series[0]
        .check_finite(SourceKind::Prometheus)
        .expect_err("NaN");
    assert_eq!(err.kind(), "not_finite");
    assert!(err.to_string().contains("{a=\"b\"}"), "{err}");
    for kind in ["query_error", "bad_response", "empty"] {
        assert!(metrics.errors(SourceKind::Prometheus, kind) >= 1, "{kind}");
    }
    assert_eq!(metrics.errors(SourceKind::Prometheus, "bad_response"), 2);
}

#[tokio::test]
async fn long_ranges_are_fetched_in_chunks_and_merged() {
    // Answers every chunk with one sample per step of the asked range.
    let (url, calls) = serve(|_, params, _| {
        let f = |k: &str| params[k].parse::<f64>().expect("number");
        let (start, end, step) = (f("start"), f("end"), f("step"));
        assert!((end - start) / step + 1.0 <= 11_000.0, "chunk over the limit");
        let mut values = Vec::new();
        let mut t = start;
        while t <= end + 1e-9 {
            values.push(format!("[{t},\"{}\"]", t / 60.0));
            t += step;
        }
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"job":"x"}},"values":[{}]}}]}}}}"#,
            values.join(",")
        );
        (StatusCode::OK, body)
    })
    .await;
    let metrics = CollectorMetrics::new();
    let c = client(&url, &metrics);
    let start = DateTime::<Utc>::from_timestamp(1_700_000_040, 0).expect("t");
    let end = start + chrono::Duration::days(28);
    let r = c
        .query_range("requests", start, end, Duration::from_secs(60))
        .await
        .expect("range");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.sample_count(), 40_321);
    let s = &r.series[0];
    assert!(
        s.samples
            .windows(2)
            .all(|w| (w[1].timestamp - w[0].timestamp).num_seconds() == 60)
    );
    assert_eq!(s.samples[0].value, 1_700_000_040.0 / 60.0);
    assert!(r.gaps().all(|(_, gaps)| gaps.is_empty()));
    assert_eq!(metrics.requests(SourceKind::Prometheus), 1);
}

#[tokio::test]
async fn a_huge_body_is_refused_not_held() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // With a content length over the bound: refused before reading.
    let big = "x".repeat(prescale_collect::MAX_BODY_BYTES + 1);
    let (url, _) = serve(move |_, _, _| (StatusCode::OK, big.clone())).await;
    let metrics = CollectorMetrics::new();
    let err = client(&url, &metrics)
        .query("up", None)
        .await
        .expect_err("too long");
    assert_eq!(err.kind(), "bad_response", "{err}");
    assert!(err.to_string().contains("over"), "{err}");
    // Streamed without a length (chunked), forever: read up to the bound, then refused.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0_u8; 4096];
        let _ = sock.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "y".repeat(1 << 20));
        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    let mut cfg = PrometheusConfig::new(url);
    cfg.timeout = Duration::from_secs(20);
    cfg.retries = 0;
    let c = PrometheusClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone());
    let err = c.query("up", None).await.expect_err("endless");
    assert_eq!(err.kind(), "bad_response", "{err}");
    assert!(err.to_string().contains("over"), "{err}");
}
