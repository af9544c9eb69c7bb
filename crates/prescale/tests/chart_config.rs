//! `prescale serve --check-config`, and every server configuration the Helm chart renders from
//! its CI values files (charts/prescale/ci) passes it: an install with any of them starts
//! rather than crash-looping on a config the server rejects.
//!
//! The chart part needs helm (skipped without it, except when `CI` is set).

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(config: &Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("prescale")
        .expect("the prescale binary")
        .args(["serve", "--check-config", "--config"])
        .arg(config)
        .env_remove("PRESCALE_KUBERNETES")
        .assert()
}

#[test]
fn check_config_accepts_a_good_config_and_names_what_is_wrong_in_a_bad_one() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let good = dir.path().join("good.yaml");
    // An address in use would stop `serve`; `--check-config` binds nothing.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("address");
    std::fs::write(
        &good,
        format!(
            "grpc_addr: {addr}\nhttp_addr: {addr}\nkubernetes: true\n\
             cost: {{defaults: {{price_per_hour: 3.0}}}}\nruntime: {{decision_interval: 15s}}\n"
        ),
    )
    .expect("write");
    check(&good)
        .success()
        .stdout(predicate::str::contains("configuration OK"));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "log_format: json\n").expect("write");
    check(&bad)
        .failure()
        .stderr(predicate::str::contains("bad.yaml").and(predicate::str::contains("log_format")));

    // Credentials are read as serve reads them: a missing token file is an error.
    std::fs::write(
        &bad,
        "prometheus:\n  servers: [{url: \"https://thanos:9091\", bearer_token_file: /nonexistent/token}]\n",
    )
    .expect("write");
    check(&bad)
        .failure()
        .stderr(predicate::str::contains("bearer_token_file"));
}

/// helm, or `None` after saying why (a failure when `CI` is set).
fn helm() -> Option<PathBuf> {
    let found = std::env::var_os("HELM")
        .map(PathBuf::from)
        .or_else(|| prescale_testkit::find_binary("helm"));
    if found.is_none() {
        prescale_testkit::skip_or_fail(
            "helm is not installed (scripts/install-test-deps.sh installs it)",
        );
    }
    found
}

#[test]
fn every_ci_values_file_renders_a_config_the_server_accepts() {
    let Some(helm) = helm() else { return };
    let chart = root().join("charts/prescale");
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart.join("ci"))
        .expect("charts/prescale/ci")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "CI values files: {files:?}");
    let dir = tempfile::tempdir().expect("temporary directory");
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let out = Process::new(&helm)
            .arg("template")
            .arg("prescale")
            .arg(&chart)
            .args(["--namespace", "prescale-system"])
            // A cluster with KEDA (the chart checks for its API).
            .args(["--api-versions", "keda.sh/v1alpha1", "-f"])
            .arg(file)
            .output()
            .expect("run helm");
        assert!(
            out.status.success(),
            "{name}: helm template: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8_lossy(&out.stdout);
        let docs = prescale_manifests::parse_manifests(&rendered, &name).expect("rendered YAML");
        let configs: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "ConfigMap")
            .filter_map(|d| d["data"]["config.yaml"].as_str())
            .collect();
        assert_eq!(configs.len(), 1, "{name}: the server's ConfigMap");
        let config = dir.path().join(format!("{name}.config.yaml"));
        std::fs::write(&config, configs[0]).expect("write");
        let output = Command::cargo_bin("prescale")
            .expect("the prescale binary")
            .args(["serve", "--check-config", "--config"])
            .arg(&config)
            .env_remove("PRESCALE_KUBERNETES")
            .output()
            .expect("run prescale");
        assert!(
            output.status.success(),
            "{name}: the server rejects the rendered config:\n{}\n{}",
            configs[0],
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
