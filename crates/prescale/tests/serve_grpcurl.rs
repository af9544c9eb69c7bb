//! `prescale serve` called by grpcurl, a client we did not write: server reflection (v1alpha,
//! which grpcurl 1.8 uses), the proto file in the repository, and the wire format of every
//! call, against a real Prometheus scraping a load generator.
//!
//! Needs `grpcurl` (CI installs it) and Prometheus; without them the tests print
//! "skipping: ..." and pass, except when `CI` is set.

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use prescale_testkit::{
    LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape, TestPrometheus, find_binary,
    require_prometheus, skip_or_fail,
};
use serve_support::Serve;

fn grpcurl() -> Option<PathBuf> {
    let found = find_binary("grpcurl").or_else(|| {
        let p = PathBuf::from("/usr/local/bin/grpcurl");
        p.is_file().then_some(p)
    });
    if found.is_none() {
        skip_or_fail("grpcurl is not installed (scripts/install-test-deps.sh installs it)");
    }
    found
}

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../prescale-server/proto")
}

/// Runs grpcurl; returns (success, stdout + stderr).
/// `grpcurl -plaintext EXTRA -d DATA ADDR externalscaler.ExternalScaler/METHOD`.
fn call(bin: &Path, extra: &[&str], data: &str, addr: &str, method: &str) -> (bool, String) {
    let method = format!("externalscaler.ExternalScaler/{method}");
    let mut args = vec!["-plaintext"];
    args.extend_from_slice(extra);
    args.extend(["-d", data, addr, &method]);
    run(bin, &args)
}

fn run(bin: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const METADATA: &str = r#""scalerMetadata":{"scalerAddress":"prescale:6000","serverAddress":"PROM","query":"sum(rate(vllm:request_success_total[5s]))","threshold":"2","quantile":"0.9"}"#;

#[test]
fn grpcurl_speaks_the_keda_contract() {
    let Some(bin) = grpcurl() else { return };
    if !require_prometheus() {
        return;
    }
    let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(5.0))).unwrap();
    let prom = TestPrometheus::start(
        PrometheusSetup::new().target(ScrapeTarget::new("vllm", load.address())),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        dir.path(),
        "runtime: {decision_interval: 5s, data_delay: 1s}\n",
    );
    let addr = serve.grpc.as_str();
    let md = METADATA.replace("PROM", &prom.url());
    let object = format!(r#"{{"name":"llama","namespace":"inference",{md}}}"#);

    // Reflection.
    let (ok, text) = run(&bin, &["-plaintext", addr, "list"]);
    assert!(
        ok && text.contains("externalscaler.ExternalScaler"),
        "{text}"
    );
    let (ok, text) = run(
        &bin,
        &[
            "-plaintext",
            addr,
            "describe",
            "externalscaler.ExternalScaler",
        ],
    );
    assert!(ok, "{text}");
    for rpc in [
        "IsActive",
        "StreamIsActive",
        "GetMetricSpec",
        "GetMetrics",
        "StreamMetricSpec",
    ] {
        assert!(
            text.contains(&format!("rpc {rpc}")),
            "{rpc} missing: {text}"
        );
    }

    // The metric spec, from the repository's proto file (no reflection).
    let proto = proto_dir();
    let (ok, text) = call(
        &bin,
        &[
            "-import-path",
            proto.to_str().unwrap(),
            "-proto",
            "externalscaler.proto",
        ],
        &object,
        addr,
        "GetMetricSpec",
    );
    assert!(ok, "{text}");
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(spec["metricSpecs"][0]["metricName"], "prescale");
    assert_eq!(spec["metricSpecs"][0]["targetSizeFloat"], 2.0);
    assert_eq!(spec["metricSpecs"][0]["targetSize"], "2");

    // 5 requests/s at 2 per replica (a fixed headroom, `quantile`): 3 replicas, 6 = 3 × 2 as the
    // metric value (the history is too short to forecast: reactive, on live data).
    let request = format!(r#"{{"scaledObjectRef":{object},"metricName":"prescale"}}"#);
    let started = Instant::now();
    let values = loop {
        let (ok, text) = call(&bin, &[], &request, addr, "GetMetrics");
        if ok {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["metricValues"][0]["metricValueFloat"] == 6.0 {
                break v;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no decision of 3 replicas: {text}\n{}",
            serve.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(values["metricValues"].as_array().unwrap().len(), 1);
    assert_eq!(values["metricValues"][0]["metricName"], "prescale");
    assert_eq!(values["metricValues"][0]["metricValue"], "6");
    let (ok, text) = call(&bin, &[], &object, addr, "IsActive");
    assert!(ok, "{text}");
    let active: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(active["result"], true);

    // The stream sends the current state at once, then stays open.
    let (ok, text) = call(&bin, &["-max-time", "2"], &object, addr, "StreamIsActive");
    assert!(!ok, "the stream should stay open until -max-time");
    assert!(text.contains(r#""result": true"#), "{text}");
    let (_, text) = call(&bin, &["-max-time", "2"], &object, addr, "StreamMetricSpec");
    assert!(text.contains(r#""targetSizeFloat": 2"#), "{text}");

    // Bad metadata: InvalidArgument naming the key.
    let bad = object.replace(r#""threshold":"2""#, r#""threshold":"-2""#);
    let (ok, text) = call(&bin, &[], &bad, addr, "IsActive");
    assert!(!ok);
    assert!(
        text.contains("InvalidArgument") && text.contains("scalerMetadata.threshold"),
        "{text}"
    );
}
