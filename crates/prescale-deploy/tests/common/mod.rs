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

/// `helm template <release> <chart> -n <namespace>` with extra arguments.
pub fn template(
    helm: &Path,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Result<String, String> {
    let chart = chart();
    let chart = chart.to_string_lossy();
    let mut args = vec!["template", release, &chart, "--namespace", namespace];
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
