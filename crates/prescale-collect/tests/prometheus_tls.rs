//! The Prometheus client against a real Prometheus (Debian's `prometheus`) that serves HTTPS
//! only, demands a client certificate from its CA, and basic authentication (its
//! `--web.config.file`): the settings a secured production Prometheus has.
//!
//! Skips with a message when Prometheus is not installed, and fails then when `CI` is set.

use std::time::Duration;

use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig};
use prescale_collect::{Auth, CollectError, SecretFile, TlsOptions};
use prescale_testkit::{PrometheusSetup, TestPki, TestPrometheus, require_prometheus};

const USER: &str = "prescale";
const PASSWORD: &str = "s3cret";
/// bcrypt of [`PASSWORD`] at cost 4 (Prometheus' `basic_auth_users` takes bcrypt hashes).
const PASSWORD_BCRYPT: &str = "$2b$04$Xg0z6Q.xHOAjfXMZw8HLPOKxwahL80dvmLRLpVKBKykEmslAXroIS";

fn secured(pki: &TestPki) -> TestPrometheus {
    let p = |name: &str| pki.path(name).display().to_string();
    let web = format!(
        "tls_server_config:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: \"{}\"\n\
         basic_auth_users:\n  {USER}: \"{PASSWORD_BCRYPT}\"\n",
        p("server.crt"),
        p("server.key"),
        p("ca.crt"),
    );
    TestPrometheus::start(PrometheusSetup::new().web_config(web)).expect("prometheus starts")
}

fn config(prom: &TestPrometheus, pki: &TestPki) -> PrometheusConfig {
    let mut cfg = PrometheusConfig::new(prom.url());
    cfg.retries = 0;
    cfg.timeout = Duration::from_secs(5);
    cfg.auth = Some(Auth::Basic {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    cfg.tls = TlsOptions {
        ca_cert: Some(pki.path("ca.crt")),
        client_cert: Some(pki.path("client.crt")),
        client_key: Some(pki.path("client.key")),
        insecure_skip_verify: false,
    };
    cfg
}

async fn one(cfg: PrometheusConfig) -> Result<Vec<f64>, CollectError> {
    let client = PrometheusClient::new(cfg)?;
    let r = client.query("vector(7)", None).await?;
    Ok(r.values().map(|(_, v)| v).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_client_certificate_and_basic_auth() {
    if !require_prometheus() {
        return;
    }
    let pki = TestPki::new().expect("pki");
    let prom = secured(&pki);
    assert!(
        prom.url().starts_with("https://localhost:"),
        "{}",
        prom.url()
    );

    // Everything a secured Prometheus asks for: the answer comes back.
    assert_eq!(one(config(&prom, &pki)).await.expect("query"), vec![7.0]);

    // A wrong password: 401, typed as such.
    let mut wrong = config(&prom, &pki);
    wrong.auth = Some(Auth::Basic {
        user: USER.into(),
        password: "nope".into(),
    });
    let e = one(wrong).await.expect_err("wrong password");
    assert_eq!(e.kind(), "unauthorized", "{e}");

    // No credentials at all: 401 too.
    let mut anonymous = config(&prom, &pki);
    anonymous.auth = None;
    let e = one(anonymous).await.expect_err("no credentials");
    assert_eq!(e.kind(), "unauthorized", "{e}");

    // No client certificate: the server ends the handshake; an error, never an answer.
    let mut no_cert = config(&prom, &pki);
    no_cert.tls.client_cert = None;
    no_cert.tls.client_key = None;
    let e = one(no_cert).await.expect_err("no client certificate");
    assert!(
        matches!(e.kind(), "unreachable" | "bad_response"),
        "{}: {e}",
        e.kind()
    );

    // The system roots only (the test CA not trusted): the server certificate is refused.
    let mut untrusted = config(&prom, &pki);
    untrusted.tls.ca_cert = None;
    let e = one(untrusted).await.expect_err("untrusted server");
    assert_eq!(e.kind(), "unreachable", "{e}");
    assert!(e.to_string().contains("localhost"), "{e}");

    // Plain HTTP to an HTTPS port: an error naming the place, not a hang.
    let mut plain = config(&prom, &pki);
    plain.url = prom.url().replace("https://", "http://");
    let e = one(plain).await.expect_err("plain http");
    assert_ne!(e.kind(), "config", "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_password_and_client_certificate_are_used_without_a_new_client() {
    if !require_prometheus() {
        return;
    }
    let pki = TestPki::new().expect("pki");
    let other = TestPki::new().expect("a second, untrusted pki");
    let prom = secured(&pki);
    // The client's files, as mounted Secrets: replaced in place on rotation.
    let dir = tempfile::tempdir().expect("dir");
    let put = |name: &str, text: &str| {
        let staged = dir.path().join(format!("{name}.new"));
        std::fs::write(&staged, text).expect("write");
        std::fs::rename(&staged, dir.path().join(name)).expect("rename");
    };
    put("password", "an-old-password");
    put("client.crt", &other.read("client.crt"));
    put("client.key", &other.read("client.key"));
    let mut cfg = config(&prom, &pki);
    cfg.auth = Some(Auth::BasicFile {
        user: USER.into(),
        password: SecretFile::load(&dir.path().join("password"), "basic_auth.password_file")
            .expect("password file"),
    });
    cfg.tls.client_cert = Some(dir.path().join("client.crt"));
    cfg.tls.client_key = Some(dir.path().join("client.key"));
    let client = PrometheusClient::new(cfg).expect("client");
    let query = || client.query("vector(7)", None);
    // A client certificate from a CA Prometheus does not trust: refused.
    let e = query().await.expect_err("untrusted client certificate");
    assert_ne!(e.kind(), "config", "{e}");
    // The certificate is renewed by the trusted CA: the same client now passes TLS, and the
    // old password is refused.
    put("client.crt", &pki.read("client.crt"));
    put("client.key", &pki.read("client.key"));
    let e = query().await.expect_err("old password");
    assert_eq!(e.kind(), "unauthorized", "{e}");
    // The password is rotated: answered.
    put("password", PASSWORD);
    let r = query().await.expect("rotated credentials");
    assert_eq!(r.values().map(|(_, v)| v).collect::<Vec<_>>(), vec![7.0]);
}
