//! Black-box tests of `prescale metrics` against real sources: a Prometheus scraping the
//! testkit's vLLM load generator, the generator's own `/metrics`, and the Redis and RabbitMQ
//! of `scripts/test-services.sh`; plus unreachable sources and bad arguments.
//!
//! Tests that need a service skip with a message when it is absent, and fail then when `CI`
//! is set.

use std::time::Duration;

use assert_cmd::Command;
use prescale_testkit::{
    LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape, TestPrometheus, free_port,
    rabbitmq_declare, rabbitmq_delete, rabbitmq_publish, rabbitmq_url, rabbitmq_wait_depth,
    redis_command, redis_url, require_prometheus, unique_name,
};
use serde_json::Value;

fn prescale() -> Command {
    Command::cargo_bin("prescale").expect("binary built")
}

/// Runs `prescale metrics ARGS --format json`, expects success, parses stdout.
fn json(args: &[&str]) -> Value {
    let out = prescale()
        .arg("metrics")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Runs `prescale metrics ARGS`, expects exit status `code`; returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = prescale().arg("metrics").args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    stderr
}

/// A sample's value by metric name in a `{"samples": [...]}` document.
fn value_of(doc: &Value, name: &str) -> Option<f64> {
    doc["samples"]
        .as_array()?
        .iter()
        .find(|s| s["labels"]["__name__"] == name)?["value"]
        .as_f64()
}

#[test]
fn unreachable_sources_exit_1_with_one_line() {
    let port = free_port().expect("port").to_string();
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec![
                "--prometheus".into(),
                format!("http://127.0.0.1:{port}"),
                "--query".into(),
                "up".into(),
                "--retries".into(),
                "0".into(),
            ],
            "prometheus at http://127.0.0.1:",
        ),
        (
            vec![
                "--scrape".into(),
                format!("http://127.0.0.1:{port}/metrics"),
                "--retries".into(),
                "0".into(),
            ],
            "scrape at http://127.0.0.1:",
        ),
        (
            vec![
                "--redis".into(),
                format!("redis://127.0.0.1:{port}"),
                "--list".into(),
                "celery".into(),
            ],
            "redis at 127.0.0.1:",
        ),
        (
            vec![
                "--rabbitmq".into(),
                format!("http://guest:guest@127.0.0.1:{port}"),
                "--queue".into(),
                "q".into(),
                "--retries".into(),
                "0".into(),
            ],
            "rabbitmq at http://127.0.0.1:",
        ),
    ];
    for (args, start) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = fails(&args, 1);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("error: {start}")), "{stderr}");
        assert!(stderr.contains("unreachable"), "{stderr}");
        assert!(!stderr.contains("guest"), "credentials leaked: {stderr}");
    }
}

#[test]
fn bad_arguments_exit_2() {
    fails(&[], 2);
    fails(&["--redis", "redis://127.0.0.1:1"], 2);
    fails(&["--rabbitmq", "http://h:15672"], 2);
    fails(&["--prometheus", "http://h:9090"], 2);
    fails(
        &[
            "--prometheus",
            "http://h:9090",
            "--query",
            "up",
            "--range",
            "0s",
        ],
        2,
    );
    fails(
        &["--redis", "redis://h:1", "--list", "x", "--kind", "vllm"],
        2,
    );
    // A URL that is not one is a runtime error naming it.
    let stderr = fails(&["--prometheus", "not a url", "--query", "up"], 1);
    assert!(stderr.contains("prometheus url `not a url`"), "{stderr}");
}

#[test]
fn prometheus_queries_ranges_and_the_vllm_summary() {
    if !require_prometheus() {
        return;
    }
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(10.0))).expect("load");
    let prom = TestPrometheus::start(
        PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", load.address()).label("service", "chat")),
    )
    .expect("prometheus");
    prom.wait_for_scrapes("vllm", 6, Duration::from_secs(30))
        .expect("scraped");
    let url = prom.url();

    let doc = json(&[
        "--prometheus",
        &url,
        "--query",
        "sum by (service) (vllm:num_requests_waiting)",
    ]);
    let samples = doc["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 1, "{doc}");
    assert_eq!(samples[0]["value"], 5.0);
    assert_eq!(samples[0]["labels"]["service"], "chat");
    assert!(
        samples[0]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let doc = json(&[
        "--prometheus",
        &url,
        "--query",
        "vllm:kv_cache_usage_perc",
        "--range",
        "3s",
        "--step",
        "1s",
    ]);
    let series = doc["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{doc}");
    assert_eq!(series[0]["labels"]["model_name"], "test-model");
    let values = series[0]["samples"].as_array().expect("samples");
    assert!(
        values.len() >= 3 && values.iter().all(|v| v["value"] == 0.4),
        "{doc}"
    );

    let doc = json(&[
        "--prometheus",
        &url,
        "--service",
        "chat",
        "--kind",
        "vllm",
        "--window",
        "5s",
        "--price",
        "3.6",
    ]);
    let metric = |name: &str| {
        doc["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|x| x["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {doc}"))
    };
    let rate = metric("request_rate");
    assert_eq!(rate["unit"], "requests_per_second");
    assert!(
        rate["value"]
            .as_f64()
            .is_some_and(|v| (v - 10.0).abs() < 0.5),
        "{rate}"
    );
    assert!((metric("latency_p95")["value"].as_f64().expect("p95") - 3.75).abs() < 1e-9);
    assert_eq!(metric("requests_waiting")["value"], 5.0);
    assert!(metric("cost_per_request")["value"].as_f64().is_some());

    let table = prescale()
        .args([
            "metrics",
            "--prometheus",
            &url,
            "--service",
            "chat",
            "--kind",
            "vllm",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success());
    assert!(
        text.contains("latency_p95") && text.contains("req/s"),
        "{text}"
    );
    // Without a price the cost rows say why they are empty.
    assert!(text.contains("needs a price per replica-hour"), "{text}");

    let stderr = fails(&["--prometheus", &url, "--query", "sum(rate("], 1);
    assert!(stderr.contains("bad_data"), "{stderr}");
    let stderr = fails(&["--prometheus", &url, "--query", "vllm:absent"], 1);
    assert!(stderr.contains("returned no data"), "{stderr}");
}

#[test]
fn scrape_page_and_summary() {
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(20.0))).expect("load");
    let url = load.url();
    let doc = json(&["--scrape", &url]);
    assert_eq!(value_of(&doc, "vllm:num_requests_waiting"), Some(10.0));
    assert_eq!(value_of(&doc, "vllm:kv_cache_usage_perc"), Some(0.4));
    let doc = json(&["--scrape", &url, "--kind", "vllm", "--interval", "1s"]);
    let rate = doc["metrics"][0]["value"].as_f64().expect("rate");
    assert_eq!(doc["metrics"][0]["name"], "request_rate");
    assert!((rate - 20.0).abs() < 2.0, "{doc}");
}

#[test]
fn redis_list_length() {
    let Some(url) = redis_url() else { return };
    let list = unique_name("celery");
    redis_command(&url, &["RPUSH", &list, "a", "b", "c", "d", "e"]).expect("rpush");
    let doc = json(&["--redis", &url, "--list", &list]);
    assert_eq!(value_of(&doc, "celery_queue_length"), Some(5.0));
    assert_eq!(doc["samples"][0]["labels"]["queue"], list.as_str());
    redis_command(&url, &["DEL", &list]).expect("cleanup");
}

#[test]
fn rabbitmq_queue_depth() {
    let Some(url) = rabbitmq_url() else { return };
    let queue = unique_name("inference");
    rabbitmq_declare(&url, "/", &queue).expect("declare");
    rabbitmq_publish(&url, "/", &queue, 4).expect("publish");
    rabbitmq_wait_depth(&url, "/", &queue, 4, Duration::from_secs(30)).expect("depth");
    let doc = json(&["--rabbitmq", &url, "--queue", &queue, "--vhost", "/"]);
    assert_eq!(value_of(&doc, "rabbitmq_queue_messages"), Some(4.0));
    assert_eq!(value_of(&doc, "rabbitmq_queue_messages_ready"), Some(4.0));
    let stderr = fails(&["--rabbitmq", &url, "--queue", &unique_name("missing")], 1);
    assert!(stderr.contains("not found"), "{stderr}");
    rabbitmq_delete(&url, "/", &queue).expect("cleanup");
}
