use super::*;
use crate::scrape::parse_exposition;

/// Two vLLM pages 10 s apart, two engines: 50 more successes, 5000 prompt and 2000
/// generated tokens, and latency observations 20 ≤ 0.5 s, 20 more ≤ 1 s, 10 above.
fn pages() -> (Exposition, Exposition) {
    let before = "\
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine=\"0\",finished_reason=\"stop\"} 100
vllm:request_success_total{engine=\"1\",finished_reason=\"stop\"} 200
vllm:prompt_tokens_total{engine=\"0\"} 10000
vllm:generation_tokens_total{engine=\"0\"} 3000
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.5\"} 100
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1.0\"} 200
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 300
vllm:num_requests_waiting{engine=\"0\"} 1
vllm:num_requests_running{engine=\"0\"} 2
vllm:num_requests_running{engine=\"1\"} 2
";
    let after = "\
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine=\"0\",finished_reason=\"stop\"} 130
vllm:request_success_total{engine=\"1\",finished_reason=\"stop\"} 220
vllm:prompt_tokens_total{engine=\"0\"} 15000
vllm:generation_tokens_total{engine=\"0\"} 5000
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.5\"} 110
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1.0\"} 220
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 330
vllm:e2e_request_latency_seconds_bucket{engine=\"1\",le=\"0.5\"} 10
vllm:e2e_request_latency_seconds_bucket{engine=\"1\",le=\"1.0\"} 20
vllm:e2e_request_latency_seconds_bucket{engine=\"1\",le=\"+Inf\"} 20
vllm:num_requests_waiting{engine=\"0\"} 4
vllm:num_requests_waiting{engine=\"1\"} 3
vllm:kv_cache_usage_perc{engine=\"0\"} 0.25
vllm:kv_cache_usage_perc{engine=\"1\"} 0.75
vllm:num_requests_running{engine=\"0\"} 5
vllm:num_requests_running{engine=\"1\"} 1
";
    (
        parse_exposition(before).expect("before"),
        parse_exposition(after).expect("after"),
    )
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn scrapes_give_interval_rates_quantiles_and_gauges() {
    let (before, after) = pages();
    let cost = CostInputs {
        price_per_hour: Some(3.6),
        replicas: None,
    };
    let s = from_scrapes(
        Workload::Vllm,
        &before,
        &after,
        Duration::from_secs(10),
        cost,
    );
    let kinds: Vec<MetricKind> = s.readings.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, Workload::Vllm.kinds());
    assert!(close(s.get(MetricKind::RequestRate), 5.0));
    assert!(close(s.get(MetricKind::PromptTokensPerSecond), 500.0));
    assert!(close(s.get(MetricKind::GenerationTokensPerSecond), 200.0));
    // Interval observations (engine 0 deltas + engine 1 new): 20 ≤ 0.5, 40 ≤ 1, 50 total.
    // P50: rank 25 in (0.5, 1]: 0.5 + 0.5 * 5/20.
    assert!(close(s.get(MetricKind::LatencyP50), 0.625));
    assert!(close(s.get(MetricKind::LatencyP95), 1.0));
    assert!(close(s.get(MetricKind::RequestsWaiting), 7.0));
    assert!(close(s.get(MetricKind::RequestsRunning), 6.0));
    assert!(close(s.get(MetricKind::KvCacheUsage), 0.5));
    assert!(close(s.get(MetricKind::Replicas), 2.0));
    // 3.6 $/h × 2 replicas = 0.002 $/s; 5 req/s → 0.0004 $/request; 700 tok/s → per 1k.
    assert!(close(s.get(MetricKind::CostPerRequest), 0.0004));
    assert!(close(
        s.get(MetricKind::CostPer1kTokens),
        0.002 / 700.0 * 1000.0
    ));
    let ttft = s
        .readings
        .iter()
        .find(|r| r.kind == MetricKind::TtftP95)
        .expect("ttft");
    assert_eq!(ttft.value, None);
    assert_eq!(ttft.note.as_deref(), Some("no data"));
}

#[test]
fn counter_resets_and_idle_intervals() {
    let before = parse_exposition(
        "vllm:request_success_total 500\nvllm:e2e_request_latency_seconds_bucket{le=\"1\"} 9\n\
         vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 9\n",
    )
    .expect("before");
    // The server restarted: the counter is back at 20, the histogram saw nothing new.
    let after = parse_exposition(
        "vllm:request_success_total 20\nvllm:e2e_request_latency_seconds_bucket{le=\"1\"} 9\n\
         vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 9\n",
    )
    .expect("after");
    let s = from_scrapes(
        Workload::Vllm,
        &before,
        &after,
        Duration::from_secs(4),
        CostInputs::default(),
    );
    assert!(close(s.get(MetricKind::RequestRate), 5.0));
    let p95 = s
        .readings
        .iter()
        .find(|r| r.kind == MetricKind::LatencyP95)
        .expect("p95");
    assert_eq!(
        p95.value, None,
        "no observation in the interval is no data, not 0"
    );
    assert!(p95.note.as_deref().is_some_and(|n| n.contains("no data")));
    let cost = s
        .readings
        .iter()
        .find(|r| r.kind == MetricKind::CostPerRequest)
        .expect("cost");
    assert_eq!(cost.note.as_deref(), Some("needs a price per replica-hour"));
}

#[test]
fn gpu_and_training_from_scrapes() {
    let page = |step: f64| {
        parse_exposition(&format!(
            "DCGM_FI_DEV_GPU_UTIL{{gpu=\"0\"}} 80\nDCGM_FI_DEV_GPU_UTIL{{gpu=\"1\"}} 40\n\
             DCGM_FI_DEV_FB_USED{{gpu=\"0\"}} 1000\nDCGM_FI_DEV_FB_USED{{gpu=\"1\"}} 500\n\
             DCGM_FI_DEV_GPU_TEMP{{gpu=\"0\"}} 61\nDCGM_FI_DEV_GPU_TEMP{{gpu=\"1\"}} 70\n\
             training_step {step}\ntraining_total_steps 1000\ntraining_epoch 2\n\
             training_loss 0.5\ntraining_accuracy 0.9\n"
        ))
        .expect("page")
    };
    let gpu = from_scrapes(
        Workload::Gpu,
        &page(100.0),
        &page(120.0),
        Duration::from_secs(10),
        CostInputs::default(),
    );
    assert!(close(gpu.get(MetricKind::GpuUtilization), 60.0));
    assert!(close(gpu.get(MetricKind::GpuMemoryUsed), 1500.0));
    assert!(close(gpu.get(MetricKind::GpuTemperature), 70.0));
    let t = from_scrapes(
        Workload::Training,
        &page(100.0),
        &page(120.0),
        Duration::from_secs(10),
        CostInputs::default(),
    );
    assert!(close(t.get(MetricKind::TrainingStep), 120.0));
    // 880 steps left at 2 steps/s.
    assert!(close(t.get(MetricKind::TrainingEta), 440.0));
    assert!(close(t.get(MetricKind::TrainingLoss), 0.5));
    assert!(close(t.get(MetricKind::TrainingAccuracy), 0.9));
    let stalled = from_scrapes(
        Workload::Training,
        &page(120.0),
        &page(120.0),
        Duration::from_secs(10),
        CostInputs::default(),
    );
    assert_eq!(stalled.get(MetricKind::TrainingEta), None);
}
