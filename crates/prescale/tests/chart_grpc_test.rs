//! The chart's gRPC `helm test` pod (charts/prescale/templates/tests/test-grpc.yaml) runs its
//! script here, with grpcurl, against a real `prescale serve`: plaintext, TLS, and mutual TLS
//! (a call with a client certificate, verifying the server's, then one without, which must be
//! refused). The script passes against the server its values describe and fails against one
//! that does not match them.
//!
//! Needs helm and grpcurl (CI installs both); without them the test says "skipping: ..." and
//! passes, except when `CI` is set.

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use prescale_testkit::{TestPki, find_binary, skip_or_fail};
use serve_support::Serve;

fn tool(name: &str) -> Option<PathBuf> {
    let found = find_binary(name).or_else(|| {
        let p = PathBuf::from("/usr/local/bin").join(name);
        p.is_file().then_some(p)
    });
    if found.is_none() {
        skip_or_fail(&format!(
            "{name} is not installed (scripts/install-test-deps.sh installs it)"
        ));
    }
    found
}

/// The gRPC test pod's script, rendered with `values` (`--set` pairs).
fn script(helm: &Path, values: &[&str]) -> String {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/prescale");
    let mut cmd = Command::new(helm);
    cmd.args(["template", "prescale"])
        .arg(&chart)
        .args(["--namespace", "prescale-system"])
        .args(["--api-versions", "keda.sh/v1alpha1"])
        .args(["--show-only", "templates/tests/test-grpc.yaml"]);
    for v in values {
        cmd.args(["--set", v]);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    let docs = prescale_manifests::parse_manifests(&rendered, "test-grpc.yaml").expect("YAML");
    let command = &docs[0]["spec"]["containers"][0]["command"];
    assert_eq!(command[0], "sh");
    command[2].as_str().expect("the script").to_string()
}

/// Runs the script as the pod would (`sh -ec`) against `addr`, with the client certificate
/// directory `client` (`ca.crt`, `tls.crt`, `tls.key`); (success, output).
fn run(script: &str, addr: &str, client: &Path, grpcurl: &Path) -> (bool, String) {
    let dir = grpcurl.parent().expect("grpcurl's directory");
    let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let out = Command::new("sh")
        .args(["-ec", script])
        .env("PRESCALE_GRPC_ADDR", addr)
        .env("PRESCALE_GRPC_SERVERNAME", "localhost")
        .env("PRESCALE_GRPC_CLIENT_DIR", client)
        .env("PATH", path)
        .output()
        .expect("run sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A client certificate directory as the test pod mounts it: `ca` verifies the server, the
/// certificate and key are `client`'s.
fn client_dir(ca: &TestPki, client: &TestPki) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    for (from, pki, to) in [
        ("ca.crt", ca, "ca.crt"),
        ("client.crt", client, "tls.crt"),
        ("client.key", client, "tls.key"),
    ] {
        std::fs::copy(pki.path(from), dir.path().join(to)).expect("copy");
    }
    dir
}

#[test]
fn the_grpc_helm_test_passes_against_the_server_its_values_describe() {
    let (Some(helm), Some(grpcurl)) = (tool("helm"), tool("grpcurl")) else {
        return;
    };
    let pki = TestPki::new().expect("test PKI");
    let tls = |client_auth: bool| {
        let ca = if client_auth {
            format!(", client_ca_file: {}", pki.path("ca.crt").display())
        } else {
            String::new()
        };
        format!(
            "tls: {{cert_file: {}, key_file: {}{ca}}}\n",
            pki.path("server.crt").display(),
            pki.path("server.key").display()
        )
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let plain = Serve::start(dirs[0].path(), "");
    let server_tls = Serve::start(dirs[1].path(), &tls(false));
    let mutual = Serve::start(dirs[2].path(), &tls(true));

    let plain_script = script(&helm, &[]);
    let tls_script = script(
        &helm,
        &[
            "tls.enabled=true",
            "tls.secretName=prescale-tls",
            "tls.clientAuth=false",
        ],
    );
    let mutual_script = script(
        &helm,
        &[
            "tls.enabled=true",
            "tls.secretName=prescale-tls",
            "tests.grpc.clientSecretName=prescale-test-client",
        ],
    );
    assert!(plain_script.contains("-plaintext"), "{plain_script}");
    assert!(
        plain_script.contains("prescale.prescale-system.svc:6000"),
        "{plain_script}"
    );
    let trusted = client_dir(&pki, &pki);
    let stranger = TestPki::new().expect("another PKI");
    let untrusted = client_dir(&pki, &stranger);
    let c = trusted.path();

    // Each script passes against the server its values describe.
    let (ok, out) = run(&plain_script, &plain.grpc, c, &grpcurl);
    assert!(
        ok && out.contains("answers KEDA's external scaler"),
        "{out}"
    );
    let (ok, out) = run(&tls_script, &server_tls.grpc, c, &grpcurl);
    assert!(
        ok && out.contains("answers KEDA's external scaler"),
        "{out}"
    );
    let (ok, out) = run(&mutual_script, &mutual.grpc, c, &grpcurl);
    assert!(
        ok && out.contains("refuses callers without a client certificate"),
        "{out}"
    );

    // And fails against one that does not match them.
    let (ok, out) = run(&mutual_script, &server_tls.grpc, c, &grpcurl);
    assert!(
        !ok && out.contains("answered a gRPC caller without a client certificate"),
        "{out}"
    );
    let (ok, out) = run(&mutual_script, &mutual.grpc, untrusted.path(), &grpcurl);
    assert!(
        !ok && out.contains("FAIL: no gRPC answer with a client"),
        "{out}"
    );
    let (ok, out) = run(&plain_script, &mutual.grpc, c, &grpcurl);
    assert!(!ok && out.contains("FAIL: no gRPC answer"), "{out}");
    let (ok, out) = run(&mutual_script, &plain.grpc, c, &grpcurl);
    assert!(!ok && out.contains("FAIL: no gRPC answer"), "{out}");
    // Nothing listening.
    let closed = format!("127.0.0.1:{}", prescale_testkit::free_port().expect("port"));
    let (ok, out) = run(&plain_script, &closed, c, &grpcurl);
    assert!(!ok && out.contains("FAIL: no gRPC answer"), "{out}");
}
