//! Scraping the testkit's vLLM load generator over real HTTP: the page, a summary from two
//! scrapes, and every fault the endpoint can show (5xx, malformed page, slow, gone).

use std::time::{Duration, Instant};

use prescale_collect::ml::summary::{CostInputs, from_scrapes};
use prescale_collect::ml::{MetricKind, Workload};
use prescale_collect::scrape::{MetricType, ScrapeClient, ScrapeConfig};
use prescale_collect::{CollectorMetrics, Source, SourceKind};
use prescale_testkit::{Fault, LoadGenerator, LoadProfile, Shape};

fn client(url: &str, metrics: &CollectorMetrics) -> ScrapeClient {
    let mut cfg = ScrapeConfig::new(url);
    cfg.timeout = Duration::from_millis(500);
    cfg.retries = 0;
    ScrapeClient::new(cfg)
        .expect("client")
        .with_metrics(metrics.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn scrapes_the_vllm_page_and_summarises_two_scrapes() {
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(20.0))).expect("load");
    load.set_gauge("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"}", 87.0);
    let metrics = CollectorMetrics::new();
    let c = client(&load.url(), &metrics);

    let first = c.scrape().await.expect("page");
    let t0 = Instant::now();
    let e2e = first
        .family("vllm:e2e_request_latency_seconds")
        .expect("histogram");
    assert_eq!(e2e.kind, MetricType::Histogram);
    let hs = e2e.histograms().expect("buckets");
    assert_eq!(hs.len(), 1);
    assert_eq!(hs[0].buckets.len(), prescale_testkit::E2E_BUCKETS.len() + 1);
    assert_eq!(hs[0].labels["model_name"], "test-model");
    let gpu = first.family("DCGM_FI_DEV_GPU_UTIL").expect("extra line");
    assert_eq!(gpu.samples[0].value, 87.0);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = c.scrape().await.expect("page");
    let elapsed = t0.elapsed();
    let s = from_scrapes(
        Workload::Vllm,
        &first,
        &second,
        elapsed,
        CostInputs::default(),
    );
    // The two requests and the local clock differ by a few milliseconds out of 1.5 s.
    let rate = s.get(MetricKind::RequestRate).expect("rate");
    assert!((rate - 20.0).abs() < 1.0, "{rate}");
    assert!((s.get(MetricKind::LatencyP50).expect("p50") - 0.84).abs() < 1e-6);
    assert!((s.get(MetricKind::LatencyP99).expect("p99") - 4.75).abs() < 1e-6);
    assert_eq!(s.get(MetricKind::RequestsWaiting), Some(10.0));

    // As a Source: one series per sample, named.
    let series = c.collect().await.expect("collect");
    assert!(
        series
            .iter()
            .any(|s| s.name() == Some("vllm:num_requests_waiting") && s.samples[0].value == 10.0)
    );
    assert_eq!(metrics.requests(SourceKind::Scrape), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoint_faults_are_typed_and_counted() {
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(1.0))).expect("load");
    let metrics = CollectorMetrics::new();
    let c = client(&load.url(), &metrics);

    load.set_fault(Some(Fault::Status(500)));
    assert_eq!(c.scrape().await.expect_err("500").kind(), "http_5xx");

    load.set_fault(Some(Fault::Body("ok 1\nbroken{a=\"x\" 2\n".into())));
    let err = c.scrape().await.expect_err("malformed");
    assert_eq!(err.kind(), "bad_response");
    assert!(err.to_string().contains("line 2"), "{err}");

    load.set_fault(Some(Fault::Body("# nothing here\n".into())));
    assert_eq!(c.scrape().await.expect_err("empty").kind(), "empty");

    load.set_fault(Some(Fault::Delay(Duration::from_secs(3))));
    assert_eq!(c.scrape().await.expect_err("slow").kind(), "timeout");

    load.set_fault(Some(Fault::Status(401)));
    assert_eq!(c.scrape().await.expect_err("401").kind(), "unauthorized");

    load.set_fault(None);
    assert!(c.scrape().await.is_ok());

    let url = load.url();
    drop(load);
    let gone = client(&url, &metrics);
    assert_eq!(gone.scrape().await.expect_err("gone").kind(), "unreachable");

    for kind in [
        "http_5xx",
        "bad_response",
        "empty",
        "timeout",
        "unauthorized",
        "unreachable",
    ] {
        assert_eq!(metrics.errors(SourceKind::Scrape, kind), 1, "{kind}");
    }
    assert_eq!(metrics.requests(SourceKind::Scrape), 7);
}
