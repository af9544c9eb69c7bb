//! `prescale serve`'s command line: bad config files, flags and addresses are clear errors.

use assert_cmd::Command;
use predicates::prelude::*;

fn serve() -> Command {
    let mut c = Command::cargo_bin("prescale").unwrap();
    c.arg("serve");
    c
}

#[test]
fn a_bad_config_file_names_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.yaml");
    config_fails(
        &file,
        "grpc_adr: 127.0.0.1:6000\n",
        &["serve.yaml", "grpc_adr"],
    );
    config_fails(
        &file,
        "scaled_objects: [{namespace: a, name: b, metadata: {serverAddress: 'http://p', query: up, threshold: 0}}]\n",
        &["scaled_objects[0].metadata.threshold"],
    );
    config_fails(
        &file,
        "runtime: {refresh_interval: 7s}\n",
        &["refresh_interval"],
    );
    serve()
        .arg("--config")
        .arg(dir.path().join("missing.yaml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.yaml"));
}

#[test]
fn bad_flags_and_busy_addresses_are_errors() {
    serve()
        .args(["--grpc-addr", "not-an-address"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--grpc-addr"));
    serve()
        .args(["--tls-cert", "a.crt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tls-key"));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    serve()
        .args(["--grpc-addr", &addr, "--http-addr", "127.0.0.1:0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("cannot listen on {addr}")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), "junk").unwrap();
    serve()
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("tls.crt").and(predicate::str::contains("not PEM")));
}

/// Runs `prescale serve --config FILE` with `yaml` in FILE; asserts it fails with exit code 1
/// and an error containing every one of `expected`.
fn config_fails(file: &std::path::Path, yaml: &str, expected: &[&str]) {
    std::fs::write(file, yaml).unwrap();
    let out = serve().arg("--config").arg(file).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for e in expected {
        assert!(stderr.contains(e), "`{e}` not in: {stderr}");
    }
}

#[test]
fn prometheus_credentials_come_from_files_named_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.yaml");
    config_fails(
        &file,
        "prometheus: {bearer_token_file: /nonexistent/token}\n",
        &["prometheus.bearer_token_file", "/nonexistent/token"],
    );
    let token = dir.path().join("token");
    std::fs::write(&token, "t\n").unwrap();
    let both = format!(
        "prometheus: {{bearer_token_file: {0}, basic_auth: {{username: u, password_file: {0}}}}}\n",
        token.display()
    );
    config_fails(&file, &both, &["not both"]);
    // The section's own credentials need the addresses they may go to.
    config_fails(
        &file,
        &format!("prometheus: {{bearer_token_file: {}}}\n", token.display()),
        &["prometheus.allowed", "prometheus.servers"],
    );
    config_fails(
        &file,
        "prometheus: {allowed: ['prometheus:9090']}\n",
        &["prometheus.allowed[0]"],
    );
    // Per-server entries: errors name the entry.
    config_fails(
        &file,
        "prometheus: {servers: [{url: 'https://a:9091'}, {url: 'https://b:9091', bearer_token_file: /nonexistent/b}]}\n",
        &["prometheus.servers[1].bearer_token_file", "/nonexistent/b"],
    );
    config_fails(
        &file,
        "prometheus: {servers: [{url: 'thanos:9091'}]}\n",
        &["prometheus.servers[0].url"],
    );
}
