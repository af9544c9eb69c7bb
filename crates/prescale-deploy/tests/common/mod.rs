//! Shared helpers of the chart tests: finding helm, rendering the chart, splitting and
//! checking what it renders.
//!
//! Without a `helm` binary (on `PATH`, or named by `HELM`) the tests print
//! "skipping: helm not installed" and pass, except when the `CI` environment variable is set:
//! there they fail, so that CI cannot skip them silently (`scripts/install-test-deps.sh`
//! installs helm).

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The chart directory.
pub fn chart() -> PathBuf {
    root().join("charts/prescale")
}

/// The helm binary, or `None` (after saying so) when it is missing and `CI` is unset.
pub fn helm() -> Option<PathBuf> {
    let candidate = std::env::var_os("HELM").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("helm"))
                .find(|p| p.is_file())
        })
    });
    if let Some(path) = candidate
        && Command::new(&path)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "helm is missing and CI is set: the chart tests must run in CI \
         (scripts/install-test-deps.sh installs helm)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "skipping: helm not installed (not on PATH and HELM unset; \
         scripts/install-test-deps.sh installs it)"
    );
    None
}

/// Runs helm with `args`; stdout on success, stderr on failure.
pub fn run(helm: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// What the chart's tests render for: a cluster with KEDA's API (the chart fails without it
/// where it renders KEDA resources, see `keda.checkCrds`).
pub const WITH_KEDA: [&str; 2] = ["--api-versions", "keda.sh/v1alpha1"];

/// `helm template <release> <chart> -n <namespace>` with extra arguments, for a cluster with
/// KEDA ([`WITH_KEDA`]).
pub fn template(
    helm: &Path,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Result<String, String> {
    let chart = chart();
    let chart = chart.to_string_lossy();
    let mut args = vec!["template", release, &chart, "--namespace", namespace];
    args.extend_from_slice(&WITH_KEDA);
    args.extend_from_slice(extra);
    run(helm, &args)
}

/// Renders the chart with a values document written to a temporary file.
pub fn template_with(
    helm: &Path,
    release: &str,
    namespace: &str,
    values: &Value,
) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("values.yaml");
    std::fs::write(
        &file,
        yaml_serde::to_string(values).expect("values as YAML"),
    )
    .expect("write values");
    template(helm, release, namespace, &["-f", &file.to_string_lossy()])
}

/// Asserts that rendering `values` fails with an error containing `expected`.
pub fn assert_rejected(
    helm: &Path,
    release: &str,
    namespace: &str,
    values: &Value,
    expected: &str,
) {
    match template_with(helm, release, namespace, values) {
        Ok(_) => panic!("accepted {values}, expected an error with `{expected}`"),
        Err(e) => assert!(
            e.contains(expected),
            "values {values}\nerror: {e}\nexpected: {expected}"
        ),
    }
}

/// The non-empty documents of rendered YAML.
pub fn documents(rendered: &str) -> Vec<Value> {
    prescale_manifests::parse_manifests(rendered, "rendered.yaml")
        .expect("helm renders YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The documents of one kind.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one document of `kind`.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let all = of_kind(docs, kind);
    assert_eq!(all.len(), 1, "expected one {kind}, found {}", all.len());
    all[0]
}

/// The one document of `kind` whose name ends with `suffix` (the chart's two test pods:
/// `-test` and `-test-grpc`).
pub fn named<'a>(docs: &'a [Value], kind: &str, suffix: &str) -> &'a Value {
    let all: Vec<&Value> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| {
            d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    assert_eq!(
        all.len(),
        1,
        "expected one {kind} named *{suffix}, found {}",
        all.len()
    );
    all[0]
}

/// Whether a document is a KEDA resource.
pub fn is_keda(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|a| a.starts_with("keda.sh/"))
}

/// The values files of `charts/prescale/ci/`.
pub fn ci_values() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("charts/prescale/ci")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    files.sort();
    files
}

/// The example specs of `examples/` and of this crate's `tests/specs/`.
pub fn example_specs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        root().join("examples"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs"),
    ] {
        let entries = std::fs::read_dir(&dir).expect("spec directory");
        files.extend(
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml")),
        );
    }
    files.sort();
    files
}

/// The fields of cert-manager's `Certificate` spec (cert-manager.io/v1).
const CERTIFICATE_SPEC_FIELDS: &[&str] = &[
    "subject",
    "literalSubject",
    "commonName",
    "duration",
    "renewBefore",
    "renewBeforePercentage",
    "dnsNames",
    "ipAddresses",
    "uris",
    "otherNames",
    "emailAddresses",
    "secretName",
    "secretTemplate",
    "keystores",
    "issuerRef",
    "isCA",
    "usages",
    "privateKey",
    "encodeUsagesInRequest",
    "revisionHistoryLimit",
    "additionalOutputFormats",
    "nameConstraints",
];

/// The key usages cert-manager accepts.
const CERTIFICATE_USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

/// Whether `s` is a Go duration as cert-manager parses it (`2160h`, `1h30m`).
fn is_go_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "ms", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// Whether `v` is a non-empty string.
fn non_empty(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

/// Problems of a cert-manager `Certificate` (no schema of its CRD here: the fields and rules
/// of cert-manager.io/v1 that the chart uses, checked structurally). Empty when it is valid.
pub fn certificate_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc["apiVersion"] != "cert-manager.io/v1" {
        problems.push(format!("apiVersion {}", doc["apiVersion"]));
    }
    for field in ["name", "namespace"] {
        if !non_empty(&doc["metadata"][field]) {
            problems.push(format!("metadata.{field} missing"));
        }
    }
    let Some(spec) = doc["spec"].as_object() else {
        problems.push("no spec".into());
        return problems;
    };
    for key in spec.keys() {
        if !CERTIFICATE_SPEC_FIELDS.contains(&key.as_str()) {
            problems.push(format!("spec.{key}: unknown field"));
        }
    }
    if !non_empty(&doc["spec"]["secretName"]) {
        problems.push("spec.secretName missing".into());
    }
    let issuer = &doc["spec"]["issuerRef"];
    if !non_empty(&issuer["name"]) {
        problems.push("spec.issuerRef.name missing".into());
    }
    if let Some(map) = issuer.as_object() {
        for key in map.keys() {
            if !["name", "kind", "group"].contains(&key.as_str()) {
                problems.push(format!("spec.issuerRef.{key}: unknown field"));
            }
        }
    }
    let has_name = [
        "commonName",
        "dnsNames",
        "uris",
        "emailAddresses",
        "ipAddresses",
    ]
    .iter()
    .any(|f| spec.get(*f).is_some_and(|v| !v.is_null()));
    if !has_name {
        problems.push("spec: no commonName, dnsNames, uris, emailAddresses or ipAddresses".into());
    }
    if let Some(names) = spec.get("dnsNames") {
        let ok = names
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(non_empty));
        if !ok {
            problems.push(format!("spec.dnsNames: {names}"));
        }
    }
    for usage in spec
        .get("usages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !usage
            .as_str()
            .is_some_and(|u| CERTIFICATE_USAGES.contains(&u))
        {
            problems.push(format!("spec.usages: {usage} is not a key usage"));
        }
    }
    for field in ["duration", "renewBefore"] {
        if let Some(v) = spec.get(field)
            && !v.as_str().is_some_and(is_go_duration)
        {
            problems.push(format!("spec.{field}: {v} is not a duration"));
        }
    }
    if let Some(key) = spec.get("privateKey") {
        let alg = &key["algorithm"];
        if !alg.is_null() && !["RSA", "ECDSA", "Ed25519"].iter().any(|a| alg == *a) {
            problems.push(format!("spec.privateKey.algorithm: {alg}"));
        }
        let enc = &key["encoding"];
        if !enc.is_null() && enc != "PKCS1" && enc != "PKCS8" {
            problems.push(format!("spec.privateKey.encoding: {enc}"));
        }
        let rot = &key["rotationPolicy"];
        if !rot.is_null() && rot != "Always" && rot != "Never" {
            problems.push(format!("spec.privateKey.rotationPolicy: {rot}"));
        }
    }
    problems
}
