//! Faults around `prescale serve`, with a real Prometheus scraping a load generator:
//! Prometheus killed and restarted, StreamIsActive clients that disconnect, malformed
//! metadata, and a server restart (SIGTERM) that keeps its state.
//!
//! Needs Prometheus; skipped with a message without it (failing when `CI` is set).

mod serve_support;

use std::time::{Duration, Instant};

use prescale_testkit::{
    BackfillSeries, LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape,
    TestPrometheus, require_prometheus,
};
use serve_support::{Serve, object, poll};

/// Fast decisions; live values read 1 s back (the scrape interval).
const CONFIG: &str = "runtime: {decision_interval: 5s, data_delay: 1s}\n";

struct Setup {
    _load: LoadGenerator,
    prom: TestPrometheus,
    dir: tempfile::TempDir,
}

/// 5 requests per second with 0.5 s of queueing: 2.5 requests waiting, scraped every second,
/// with the same for the last six hours backfilled (so that there is a history to fit).
fn setup() -> Option<Setup> {
    if !require_prometheus() {
        return None;
    }
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(5.0))).unwrap();
    let labels = load.scraped_labels("vllm");
    let now = chrono::Utc::now();
    let samples = (1..=6 * 240)
        .rev()
        .map(|i| (now - chrono::Duration::seconds(15 * i), 2.5))
        .collect();
    let history = BackfillSeries {
        name: "vllm:num_requests_waiting".into(),
        kind: "gauge",
        labels,
        samples,
    };
    let prom = TestPrometheus::start(
        PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", load.address()))
            .backfill(history),
    )
    .unwrap();
    Some(Setup {
        _load: load,
        prom,
        dir: tempfile::tempdir().unwrap(),
    })
}

fn so(prom: &str) -> prescale_server::keda::proto::ScaledObjectRef {
    object(
        "inference",
        "llama",
        &[
            ("serverAddress", prom),
            ("query", "sum(vllm:num_requests_waiting)"),
            ("threshold", "1"),
            ("history", "6h"),
            // A fixed headroom (the expert override): these tests are about faults.
            ("quantile", "0.9"),
        ],
    )
}

/// Polls until `pred` holds for the answer, or panics after `limit`.
async fn wait_for(
    serve: &Serve,
    so: &prescale_server::keda::proto::ScaledObjectRef,
    limit: Duration,
    pred: impl Fn(&serde_json::Value, Option<(u32, bool)>) -> bool,
) -> (serde_json::Value, Option<(u32, bool)>) {
    let mut client = serve.client().await;
    let started = Instant::now();
    loop {
        let answer = poll(&mut client, so).await.ok();
        let status = serve.api("/api/v1/services/inference/llama");
        if pred(&status, answer) {
            return (status, answer);
        }
        assert!(
            started.elapsed() < limit,
            "timed out; last status {status}\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_holds_then_recovers() {
    let Some(mut s) = setup() else { return };
    let serve = Serve::start(s.dir.path(), CONFIG);
    let so = so(&s.prom.url());
    // 2.5 waiting at 1 per replica: 3 replicas.
    wait_for(&serve, &so, Duration::from_secs(40), |_, a| {
        a == Some((3, true))
    })
    .await;
    s.prom.stop();
    let (status, answer) = wait_for(&serve, &so, Duration::from_secs(30), |st, _| {
        st["phase"] == "holding"
    })
    .await;
    // Held: never fewer replicas, never inactive, and the reason is exposed.
    assert_eq!(answer, Some((3, true)), "{status}");
    assert!(
        status["safety"]
            .as_str()
            .unwrap()
            .contains("live data missing"),
        "{status}"
    );
    assert_eq!(status["last_error"]["kind"], "unreachable", "{status}");
    assert_eq!(status["decision"]["reason"], "stale", "{status}");
    for _ in 0..10 {
        let mut client = serve.client().await;
        assert_eq!(poll(&mut client, &so).await.ok(), Some((3, true)));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    s.prom.restart().unwrap();
    wait_for(&serve, &so, Duration::from_secs(40), |st, a| {
        st["phase"] != "holding" && a == Some((3, true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_is_active_survives_client_disconnects() {
    let Some(s) = setup() else { return };
    let serve = Serve::start(s.dir.path(), CONFIG);
    let so = so(&s.prom.url());
    wait_for(&serve, &so, Duration::from_secs(40), |_, a| {
        a.is_some_and(|a| a.1)
    })
    .await;
    for _ in 0..3 {
        // A client opens the stream, reads the current state, and goes away.
        let mut client = serve.client().await;
        let mut stream = client
            .stream_is_active(so.clone())
            .await
            .unwrap()
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(5), stream.message()).await;
        assert!(first.unwrap().unwrap().unwrap().result);
        drop(stream);
        drop(client);
    }
    // The server still answers, and a new stream gets the current state at once.
    let mut client = serve.client().await;
    assert_eq!(poll(&mut client, &so).await.unwrap(), (3, true));
    let mut stream = client
        .stream_is_active(so.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().unwrap().result);
    let metrics = prescale_testkit::http::get(&format!("{}/metrics", serve.http))
        .unwrap()
        .body;
    assert!(
        metrics.contains(r#"prescale_grpc_requests_total{method="StreamIsActive",code="OK"} 4"#),
        "{metrics}"
    );
    assert!(
        !serve.log_tail().contains("panicked"),
        "{}",
        serve.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_metadata_is_refused_and_harms_nothing() {
    let Some(s) = setup() else { return };
    let serve = Serve::start(s.dir.path(), CONFIG);
    let prom = s.prom.url();
    let mut client = serve.client().await;
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[
                ("serverAddress", &prom),
                ("query", "up"),
                ("threshold", "-1"),
            ],
            "threshold",
        ),
        (
            &[
                ("serverAddress", &prom),
                ("query", "up"),
                ("threshold", "1"),
                ("quantile", "1.5"),
            ],
            "quantile",
        ),
        (
            &[
                ("serverAddress", &prom),
                ("query", "up"),
                ("threshold", "1"),
                ("coldStart", "-3m"),
            ],
            "coldStart",
        ),
        (
            &[
                ("serverAddress", &prom),
                ("query", "up"),
                ("threshold", "1"),
                ("mode", "yolo"),
            ],
            "mode",
        ),
        (
            &[
                ("serverAddress", "prometheus:9090"),
                ("query", "up"),
                ("threshold", "1"),
            ],
            "serverAddress",
        ),
        (&[("serverAddress", &prom), ("threshold", "1")], "query"),
    ];
    for (md, key) in cases {
        let bad = object("inference", "broken", md);
        let err = client.get_metric_spec(bad.clone()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{key}: {err:?}");
        assert!(
            err.message().contains(&format!("scalerMetadata.{key}")),
            "{err:?}"
        );
        assert_eq!(
            client.is_active(bad).await.unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
    // Nothing was registered; a good ScaledObject still works.
    assert_eq!(
        serve.api("/api/v1/services")["services"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    wait_for(&serve, &so(&prom), Duration::from_secs(40), |_, a| {
        a == Some((3, true))
    })
    .await;
    assert_eq!(
        prescale_testkit::http::get(&format!("{}/healthz", serve.http))
            .unwrap()
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_its_state() {
    let Some(s) = setup() else { return };
    let mut serve = Serve::start(s.dir.path(), CONFIG);
    let so = so(&s.prom.url());
    let (before, _) = wait_for(&serve, &so, Duration::from_secs(40), |st, a| {
        a == Some((3, true)) && st["history"]["samples"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let (grpc, http) = (
        serve.grpc.clone(),
        serve.http.trim_start_matches("http://").to_string(),
    );
    assert!(
        serve.terminate(),
        "SIGTERM must end the server cleanly:\n{}",
        serve.log_tail()
    );
    // Same data directory, no KEDA call yet: the ScaledObject is known and its history is
    // back.
    let serve = Serve::start_on(s.dir.path(), CONFIG, &grpc, &http);
    let started = Instant::now();
    let after = loop {
        let st = serve.api("/api/v1/services/inference/llama");
        if st["history"]["samples"].as_u64().unwrap_or(0) > 0 && !st["reported"].is_null() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not restored: {st}\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        after["history"]["start"] == before["history"]["start"]
            || after["history"]["samples"].as_u64() >= before["history"]["samples"].as_u64(),
        "{before}\n{after}"
    );
    assert!(
        serve.log_tail().contains("Restored history"),
        "{}",
        serve.log_tail()
    );
    let mut client = serve.client().await;
    assert_eq!(poll(&mut client, &so).await.unwrap(), (3, true));
}
