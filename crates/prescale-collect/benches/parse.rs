//! Parse speed of the two hot inputs (targets in docs/benchmarks.md):
//!
//! - a Prometheus `query_range` response with 40,320 points (28 days of minutes), under 20 ms;
//! - a 1 MB `/metrics` page in the text exposition format, under 10 ms.
//!
//! Both inputs are generated here, shaped like the real ones (vLLM label sets, histogram
//! buckets, Prometheus' JSON layout). `cargo bench -p prescale-collect --bench parse`.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prescale_collect::prometheus::parse_response;
use prescale_collect::scrape::parse_exposition;

/// 28 days of 1-minute points in one series, as `/api/v1/query_range` writes them.
fn range_response(points: usize) -> String {
    let mut body = String::with_capacity(points * 32 + 256);
    body.push_str(
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"vllm","model_name":"meta-llama/Llama-3.1-8B","namespace":"inference"},"values":["#,
    );
    let start = 1_714_521_600u64;
    for i in 0..points {
        if i > 0 {
            body.push(',');
        }
        // Values with the decimals Prometheus prints for rates.
        let value =
            40.0 + 25.0 * ((i as f64) / 229.0).sin() + (i % 7) as f64 * 0.137_931_034_482_758_6;
        let _ = write!(body, "[{},\"{}\"]", start + 60 * i as u64, value);
    }
    body.push_str("]}]}}");
    body
}

/// A vLLM-like page of about `bytes` bytes: gauges, counters and histograms for many engines.
fn exposition_page(bytes: usize) -> String {
    let buckets = [
        "0.3", "0.5", "0.8", "1.0", "1.5", "2.0", "2.5", "5.0", "10.0", "15.0", "20.0", "30.0",
        "40.0", "50.0", "60.0", "+Inf",
    ];
    let mut page = String::with_capacity(bytes + 4096);
    let mut engine = 0;
    while page.len() < bytes {
        let labels = format!("engine=\"{engine}\",model_name=\"meta-llama/Llama-3.1-8B\"");
        let _ = writeln!(
            page,
            "# HELP vllm:num_requests_waiting Number of requests waiting."
        );
        let _ = writeln!(page, "# TYPE vllm:num_requests_waiting gauge");
        let _ = writeln!(
            page,
            "vllm:num_requests_waiting{{{labels}}} {}.0",
            engine % 13
        );
        let _ = writeln!(page, "# TYPE vllm:request_success_total counter");
        for reason in ["stop", "length", "abort"] {
            let _ = writeln!(
                page,
                "vllm:request_success_total{{{labels},finished_reason=\"{reason}\"}} {}.0",
                engine * 31 + 7
            );
        }
        let _ = writeln!(page, "# TYPE vllm:e2e_request_latency_seconds histogram");
        for (i, le) in buckets.iter().enumerate() {
            let _ = writeln!(
                page,
                "vllm:e2e_request_latency_seconds_bucket{{{labels},le=\"{le}\"}} {}.0",
                (i + 1) * 17
            );
        }
        let _ = writeln!(
            page,
            "vllm:e2e_request_latency_seconds_sum{{{labels}}} 1234.5678"
        );
        let _ = writeln!(
            page,
            "vllm:e2e_request_latency_seconds_count{{{labels}}} 272.0"
        );
        engine += 1;
    }
    page
}

fn bench(c: &mut Criterion) {
    let range = range_response(40_320);
    let parsed = parse_response(range.as_bytes(), "bench").expect("the generated response parses");
    assert_eq!(parsed.series[0].samples.len(), 40_320);
    c.bench_function("query_range_40320_points", |b| {
        b.iter(|| parse_response(black_box(range.as_bytes()), "bench").expect("parses"));
    });

    let page = exposition_page(1 << 20);
    let parsed = parse_exposition(&page).expect("the generated page parses");
    assert!(page.len() >= 1 << 20 && parsed.sample_count() > 8_000);
    c.bench_function("exposition_1mb", |b| {
        b.iter(|| parse_exposition(black_box(&page)).expect("parses"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
