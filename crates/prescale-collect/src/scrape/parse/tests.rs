use super::*;

/// The shape of a vLLM 0.x `/metrics` page (prometheus_client text format), trimmed.
const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B"} 7.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="meta-llama/Llama-3.1-8B"} 1234.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="meta-llama/Llama-3.1-8B"} 16.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="meta-llama/Llama-3.1-8B"} 10.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="meta-llama/Llama-3.1-8B"} 60.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B"} 100.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B"} 100.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B"} 71.5
vllm:e2e_request_latency_seconds_created{engine="0",model_name="meta-llama/Llama-3.1-8B"} 1.7145216e+09
"#;

/// The shape of a DCGM exporter page.
const DCGM: &str = "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\r\n\
# TYPE DCGM_FI_DEV_GPU_UTIL gauge\r\n\
DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-5fd4\",device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-1\",namespace=\"inference\",pod=\"vllm-0\"} 87\r\n\
DCGM_FI_DEV_GPU_UTIL{gpu=\"1\",UUID=\"GPU-77aa\",device=\"nvidia1\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-1\"} 0\r\n\
# TYPE DCGM_FI_DEV_FB_USED gauge\r\n\
DCGM_FI_DEV_FB_USED{gpu=\"0\"} 71234\r\n";

#[test]
fn vllm_page_groups_families_and_keeps_colons() {
    let page = parse_exposition(VLLM).expect("parses");
    let names: Vec<&str> = page.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:request_success_total",
            "vllm:e2e_request_latency_seconds"
        ]
    );
    let waiting = page.family("vllm:num_requests_waiting").expect("waiting");
    assert_eq!(waiting.kind, MetricType::Gauge);
    assert_eq!(waiting.samples[0].value, 7.0);
    assert_eq!(
        waiting.samples[0].labels["model_name"],
        "meta-llama/Llama-3.1-8B"
    );
    assert_eq!(
        waiting.help.as_deref(),
        Some("Number of requests waiting to be processed.")
    );
    let success = page.family("vllm:request_success_total").expect("counter");
    assert_eq!(success.kind, MetricType::Counter);
    assert_eq!(success.samples.len(), 2);
    let latency = page
        .family("vllm:e2e_request_latency_seconds")
        .expect("hist");
    assert_eq!(latency.kind, MetricType::Histogram);
    assert_eq!(latency.samples.len(), 6);
    let hs = latency.histograms().expect("buckets");
    assert_eq!(hs.len(), 1);
    assert_eq!(
        hs[0].buckets,
        vec![(0.3, 10.0), (1.0, 60.0), (f64::INFINITY, 100.0)]
    );
    assert_eq!(hs[0].sum, Some(71.5));
    assert_eq!(hs[0].count, Some(100.0));
    assert!(!hs[0].labels.contains_key("le"));
    assert_eq!(page.sample_count(), 10);
}

#[test]
fn dcgm_page_with_crlf() {
    let page = parse_exposition(DCGM).expect("parses");
    let util = page.family("DCGM_FI_DEV_GPU_UTIL").expect("util");
    assert_eq!(util.samples.len(), 2);
    assert_eq!(util.samples[0].labels["modelName"], "NVIDIA H100 80GB HBM3");
    assert_eq!(util.samples[0].value, 87.0);
    assert_eq!(
        page.family("DCGM_FI_DEV_FB_USED").expect("fb").samples[0].value,
        71234.0
    );
}

#[test]
fn escapes_timestamps_special_values_and_untyped() {
    let text = concat!(
        "# HELP weird Help with a \\\\ backslash\\nand a newline.\n",
        "weird{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\n\",empty=\"\"} NaN 1714521600000\n",
        "  indented_metric   +Inf  \n",
        "neg{a=\"1\",} -Inf\n",
        "exp 1.5e-3\n",
        "{\"my.utf8.metric\",\"label.with.dots\"=\"x\"} 2\n",
        "# some free comment\n",
        "# EOF\n",
        "after_eof 1\n",
    );
    let page = parse_exposition(text).expect("parses");
    let weird = page.family("weird").expect("weird");
    assert_eq!(
        weird.help.as_deref(),
        Some("Help with a \\ backslash\nand a newline.")
    );
    let s = &weird.samples[0];
    assert!(s.value.is_nan());
    assert_eq!(s.timestamp_ms, Some(1_714_521_600_000));
    assert_eq!(s.labels["path"], "C:\\dir");
    assert_eq!(s.labels["msg"], "say \"hi\"\n");
    assert_eq!(s.labels["empty"], "");
    assert_eq!(weird.kind, MetricType::Untyped);
    assert_eq!(
        page.family("indented_metric").expect("x").samples[0].value,
        f64::INFINITY
    );
    assert_eq!(
        page.family("neg").expect("x").samples[0].value,
        f64::NEG_INFINITY
    );
    assert_eq!(page.family("exp").expect("x").samples[0].value, 0.0015);
    let utf8 = page.family("my.utf8.metric").expect("quoted name");
    assert_eq!(utf8.samples[0].labels["label.with.dots"], "x");
    assert!(page.family("after_eof").is_none());
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("ok 1\nbroken{a=\"1\" 2\n", "line 2", "expected `,`"),
        ("x{a=1} 2\n", "line 1", "must be quoted"),
        ("x{a=\"1} 2\n", "line 1", "unterminated"),
        ("x 1\n\nx fast\n", "line 3", "not a sample value"),
        ("x 1 yesterday\n", "line 1", "not a timestamp"),
        ("x 1 2 3\n", "line 1", "unexpected"),
        ("x\n", "line 1", "expected a space"),
        ("# TYPE x bogus\nx 1\n", "line 1", "unknown metric type"),
        ("x{a=\"1\",a=\"2\"} 1\n", "line 1", "appears twice"),
        ("x{a=\"\\q\"} 1\n", "line 1", "unknown escape"),
        ("=3\n", "line 1", "expected a metric name"),
        ("x{9a=\"1\"} 1\n", "line 1", "expected a label name"),
    ];
    for (text, line, reason) in cases {
        let err = parse_exposition(text).expect_err(text);
        assert_eq!(err.kind(), "bad_response", "{text}");
        let msg = err.to_string();
        assert!(
            msg.contains(line) && msg.contains(reason),
            "{text:?}: {msg}"
        );
        assert!(msg.starts_with("scrape: "), "{msg}");
    }
}

#[test]
fn histogram_bucket_errors_and_multiple_series() {
    let text = "# TYPE h histogram\n\
                h_bucket{pod=\"a\",le=\"1\"} 1\nh_bucket{pod=\"a\",le=\"+Inf\"} 2\n\
                h_bucket{pod=\"b\",le=\"+Inf\"} 5\nh_sum{pod=\"b\"} 9\nh_count{pod=\"b\"} 5\n";
    let page = parse_exposition(text).expect("parses");
    let hs = page.family("h").expect("h").histograms().expect("ok");
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[1].labels["pod"], "b");
    assert_eq!(hs[1].sum, Some(9.0));
    assert_eq!(hs[0].count, None);
    let bad = parse_exposition("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n").expect("parses");
    let err = bad
        .family("h")
        .expect("h")
        .histograms()
        .expect_err("bad le");
    assert!(err.to_string().contains("le=\"x\""), "{err}");
    let missing = parse_exposition("# TYPE h histogram\nh_bucket 1\n").expect("parses");
    assert!(missing.family("h").expect("h").histograms().is_err());
}

#[test]
fn empty_and_comment_only_pages_have_no_families() {
    assert!(parse_exposition("").expect("ok").families.is_empty());
    let page = parse_exposition("# HELP x y\n# TYPE x gauge\n\n").expect("ok");
    assert_eq!(page.sample_count(), 0);
}
