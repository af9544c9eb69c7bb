//! The Prometheus client against a real Prometheus (Debian's `prometheus`) scraping the
//! testkit's vLLM load generator, and against history backfilled with `promtool`.
//!
//! Skips with a message when Prometheus is not installed, and fails then when `CI` is set.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use prescale_collect::ml::summary::{CostInputs, from_prometheus};
use prescale_collect::ml::{MetricKind, Selector, Workload};
use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig, ResultType};
use prescale_collect::{CollectorMetrics, SourceKind};
use prescale_testkit::{
    BackfillSeries, LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape,
    TestPrometheus, require_prometheus,
};

const WAIT: Duration = Duration::from_secs(30);

fn client(prom: &TestPrometheus, metrics: &CollectorMetrics) -> PrometheusClient {
    let mut cfg = PrometheusConfig::new(prom.url());
    cfg.retries = 1;
    cfg.backoff = Duration::from_millis(50);
    cfg.timeout = Duration::from_secs(5);
    PrometheusClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone())
}

/// A load generator at 10 req/s scraped every second as service `chat`.
fn scraped_service() -> (LoadGenerator, TestPrometheus) {
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(10.0))).expect("load");
    let prom = TestPrometheus::start(
        PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", load.address()).label("service", "chat")),
    )
    .expect("prometheus starts");
    // Enough scrapes for rate() over a 5 s window.
    prom.wait_for_scrapes("vllm", 6, WAIT).expect("scraped");
    (load, prom)
}

fn close(actual: Option<f64>, expected: f64, tolerance: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() <= tolerance)
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_the_load_generator_through_prometheus() {
    if !require_prometheus() {
        return;
    }
    let (_load, prom) = scraped_service();
    let metrics = CollectorMetrics::new();
    let c = client(&prom, &metrics);

    // Gauges are exact: 10 req/s × 0.5 s of queueing.
    let r = c
        .query("sum(vllm:num_requests_waiting{service=\"chat\"})", None)
        .await
        .expect("query");
    assert_eq!(r.result_type, ResultType::Vector);
    assert_eq!(r.values().map(|(_, v)| v).collect::<Vec<_>>(), vec![5.0]);

    // Raw series keep every label, the target's `service` included.
    let raw = c
        .query("vllm:kv_cache_usage_perc", None)
        .await
        .expect("query");
    let labels = &raw.series[0].labels;
    assert_eq!(labels["__name__"], "vllm:kv_cache_usage_perc");
    assert_eq!(labels["service"], "chat");
    assert_eq!(labels["model_name"], "test-model");

    // A range over 3 s of the scraped period, every second: one sample per step, no gap.
    let end = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("trunc")
        - chrono::Duration::seconds(1);
    let start = end - chrono::Duration::seconds(2);
    let range = c
        .query_range(
            "sum(vllm:num_requests_waiting)",
            start,
            end,
            Duration::from_secs(1),
        )
        .await
        .expect("range");
    assert_eq!(range.series.len(), 1);
    assert_eq!(range.series[0].samples.len(), 3);
    assert!(range.series[0].samples.iter().all(|s| s.value == 5.0));
    assert!(range.gaps().all(|(_, g)| g.is_empty()));
    assert_eq!(metrics.requests(SourceKind::Prometheus), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn vllm_summary_from_prometheus() {
    if !require_prometheus() {
        return;
    }
    let (_load, prom) = scraped_service();
    let c = client(&prom, &CollectorMetrics::new());
    let cost = CostInputs {
        price_per_hour: Some(3.6),
        replicas: None,
    };
    let s = from_prometheus(
        &c,
        Workload::Vllm,
        &Selector::label("service", "chat"),
        "5s",
        cost,
    )
    .await
    .expect("summary");
    let get = |k| s.get(k);
    // rate() extrapolates over the window edges: allow 5 %.
    assert!(close(get(MetricKind::RequestRate), 10.0, 0.5), "{s:?}");
    assert!(
        close(get(MetricKind::PromptTokensPerSecond), 2000.0, 100.0),
        "{s:?}"
    );
    assert!(
        close(get(MetricKind::GenerationTokensPerSecond), 1000.0, 50.0),
        "{s:?}"
    );
    // The latency mix is 0.2 s (40 %), 0.9 s (50 %), 4 s (10 %) in vLLM's buckets:
    // P50 interpolated in (0.8, 1], P95 and P99 in (2.5, 5].
    assert!(close(get(MetricKind::LatencyP50), 0.84, 1e-9), "{s:?}");
    assert!(close(get(MetricKind::LatencyP95), 3.75, 1e-9), "{s:?}");
    assert!(close(get(MetricKind::LatencyP99), 4.75, 1e-9), "{s:?}");
    // TTFT 0.03 s (90 %) and 0.2 s (10 %): P50 in (0.02, 0.04], P99 in (0.1, 0.25].
    assert!(
        close(get(MetricKind::TtftP50), 0.02 + 0.02 * (0.5 / 0.9), 1e-9),
        "{s:?}"
    );
    assert!(
        close(get(MetricKind::TtftP99), 0.1 + 0.15 * 0.9, 1e-9),
        "{s:?}"
    );
    assert_eq!(get(MetricKind::RequestsWaiting), Some(5.0));
    assert!(close(get(MetricKind::RequestsRunning), 9.3, 1e-9), "{s:?}");
    assert_eq!(get(MetricKind::KvCacheUsage), Some(0.4));
    assert_eq!(get(MetricKind::Replicas), Some(1.0));
    // 3.6 $/h × 1 replica = 0.001 $/s over ≈10 req/s.
    assert!(
        close(get(MetricKind::CostPerRequest), 0.0001, 0.00001),
        "{s:?}"
    );
    assert!(
        close(
            get(MetricKind::CostPer1kTokens),
            0.001 / 3000.0 * 1000.0,
            0.00002
        ),
        "{s:?}"
    );
    // Another service has no data: reported missing, not zero.
    let other = from_prometheus(
        &c,
        Workload::Vllm,
        &Selector::label("service", "absent"),
        "5s",
        cost,
    )
    .await
    .expect("summary");
    assert!(
        other.readings.iter().all(|r| r.value.is_none()),
        "{other:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backfilled_history_in_chunks_with_a_marked_gap() {
    if !require_prometheus() {
        return;
    }
    // Two days of minute samples ending three hours ago, with minutes 600..620 missing.
    let end: DateTime<Utc> = (Utc::now() - chrono::Duration::hours(3))
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("trunc");
    let start = end - chrono::Duration::days(2);
    let minutes = (end - start).num_minutes();
    let value = |m: i64| 100.0 + (m % 1440) as f64 / 10.0;
    let samples: Vec<(DateTime<Utc>, f64)> = (0..=minutes)
        .filter(|m| !(600..620).contains(m))
        .map(|m| (start + chrono::Duration::minutes(m), value(m)))
        .collect();
    let series = BackfillSeries {
        name: "demand".into(),
        kind: "gauge",
        labels: [("service".to_owned(), "chat".to_owned())].into(),
        samples,
    };
    let prom = TestPrometheus::start(PrometheusSetup::new().backfill(series)).expect("starts");
    let metrics = CollectorMetrics::new();
    let mut cfg = PrometheusConfig::new(prom.url());
    // Force several requests for the 2,881 steps.
    cfg.max_points_per_request = 1_000;
    let c = PrometheusClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone());
    let r = c
        .query_range(
            "demand{service=\"chat\"}",
            start,
            end,
            Duration::from_secs(60),
        )
        .await
        .expect("range");
    assert_eq!(r.series.len(), 1);
    let s = &r.series[0];
    // Prometheus carries the last sample forward for up to 5 minutes (lookback), so only
    // the rest of the 20-minute hole is missing.
    for sample in &s.samples {
        let m = (sample.timestamp - start).num_minutes();
        let expected = if (600..620).contains(&m) {
            value(599)
        } else {
            value(m)
        };
        assert_eq!(sample.value, expected, "minute {m}");
    }
    let gaps: Vec<_> = r.gaps().flat_map(|(_, g)| g).collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = gaps[0];
    assert_eq!(gap.to, start + chrono::Duration::minutes(619));
    assert!(
        (14..=15).contains(&gap.missing),
        "lookback leaves 14-15 of 20 missing: {gap:?}"
    );
    assert_eq!(s.samples.len() as u64 + gap.missing, minutes as u64 + 1);
    assert_eq!(metrics.requests(SourceKind::Prometheus), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_of_a_real_server_are_typed_and_counted() {
    if !require_prometheus() {
        return;
    }
    let (load, mut prom) = scraped_service();
    let metrics = CollectorMetrics::new();
    let c = client(&prom, &metrics);

    let err = c.query("sum(rate(", None).await.expect_err("syntax");
    assert_eq!(err.kind(), "query_error", "{err}");
    assert!(err.to_string().contains("bad_data"), "{err}");

    let err = c
        .query("vllm:no_such_metric", None)
        .await
        .expect_err("empty");
    assert_eq!(err.kind(), "empty");

    // NaN and +Inf come back as values and are reported by check_finite.
    for (q, expected) in [("0/0", f64::NAN), ("1/0", f64::INFINITY)] {
        let r = c.query(q, None).await.expect("scalar");
        assert_eq!(r.result_type, ResultType::Scalar);
        let v = r.series[0].samples[0].value;
        assert!(v.is_nan() == expected.is_nan() && (v.is_nan() || v == expected));
        let err = r.series[0]
            .check_finite(SourceKind::Prometheus)
            .expect_err("not finite");
        assert_eq!(err.kind(), "not_finite");
    }

    // The target goes away: its series turn stale and instant queries come back empty.
    drop(load);
    prom.wait_for("up{job=\"vllm\"}", WAIT, |v| v == [0.0])
        .expect("target down");
    let err = c
        .query("vllm:num_requests_waiting", None)
        .await
        .expect_err("stale");
    assert_eq!(err.kind(), "empty");
    // Some seconds without samples, then the history ends well before now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = Utc::now();
    let range = c
        .query_range(
            "vllm:num_requests_waiting",
            end - chrono::Duration::seconds(60),
            end,
            Duration::from_secs(1),
        )
        .await
        .expect("history is still there");
    let stale = range.series[0]
        .check_fresh(SourceKind::Prometheus, end, Duration::from_secs(2))
        .expect_err("stale");
    assert_eq!(stale.kind(), "stale");

    // Prometheus itself goes away, then comes back.
    prom.stop();
    let err = c.query("up", None).await.expect_err("down");
    assert_eq!(err.kind(), "unreachable", "{err}");
    prom.restart().expect("restarts");
    assert!(c.query("up", None).await.is_ok());

    for kind in ["query_error", "empty", "unreachable"] {
        assert!(
            metrics.errors(SourceKind::Prometheus, kind) >= 1,
            "{kind} not counted"
        );
    }
}
