//! Golden files: every spec in `examples/` generates exactly the committed YAML in
//! `examples/generated/`, and every generated document passes the KEDA CRD schemas (the
//! embedded trimmed copy, and the full CRDs of `../shared/keda` when that folder exists).
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test -p prescale-manifests
//! --test golden`, and review the diff.

use std::path::{Path, PathBuf};

use prescale_manifests::schema::Schemas;
use prescale_manifests::{generate, parse_manifests, render, rules, validate_manifests};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example specs, sorted by name.
fn example_specs() -> Vec<PathBuf> {
    let dir = repo_root().join("examples");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    specs
}

fn generated_path(spec: &Path) -> PathBuf {
    let name = spec.file_name().expect("a file name");
    repo_root().join("examples/generated").join(name)
}

fn generate_file(spec: &Path) -> String {
    let text = std::fs::read_to_string(spec).expect("the spec is readable");
    let name = spec
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 name");
    let resources = generate(&text, name).unwrap_or_else(|e| panic!("{e}"));
    render(&resources).expect("renders")
}

#[test]
fn examples_cover_the_four_kinds_of_service() {
    let names: Vec<String> = example_specs()
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for expected in [
        "celery-rabbitmq.yaml",
        "celery-redis.yaml",
        "training.yaml",
        "vllm.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "examples/{expected} missing: {names:?}"
        );
    }
}

#[test]
fn generated_yaml_matches_the_committed_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for spec in example_specs() {
        let yaml = generate_file(&spec);
        let golden = generated_path(&spec);
        if update {
            std::fs::write(&golden, &yaml).expect("golden file written");
            continue;
        }
        let committed = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", golden.display()));
        assert!(
            yaml == committed,
            "{} changed; review and regenerate with UPDATE_GOLDEN=1:\n{yaml}",
            golden.display()
        );
        // Same input, same bytes.
        assert_eq!(generate_file(&spec), yaml);
    }
}

#[test]
fn every_generated_document_passes_the_embedded_schemas_and_keda_rules() {
    let schemas = Schemas::embedded().expect("embedded schemas compile");
    for spec in example_specs() {
        let yaml = generate_file(&spec);
        let n = validate_manifests(&yaml, "generated.yaml", &schemas)
            .unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
        assert!(n >= 1);
    }
}

/// The full CRDs of KEDA v2.20.2, when `../shared/keda` is present (a failure when `CI` is
/// set: CI must not skip them).
fn full_crds() -> Option<Vec<Value>> {
    let dir = repo_root().join("../shared/keda");
    assert!(
        dir.is_dir() || std::env::var_os("CI").is_none(),
        "../shared/keda (KEDA's full CRDs) is absent, and CI is set"
    );
    let files = [
        "keda.sh_scaledobjects.yaml",
        "keda.sh_scaledjobs.yaml",
        "keda.sh_triggerauthentications.yaml",
        "keda.sh_clustertriggerauthentications.yaml",
    ];
    let mut crds = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).ok()?;
        crds.extend(parse_manifests(&text, f).expect("the CRD parses"));
    }
    Some(crds)
}

#[test]
fn every_generated_document_passes_the_full_keda_crds() {
    let Some(crds) = full_crds() else {
        println!(
            "SKIPPED: ../shared/keda (the full KEDA CRDs) is absent; the embedded schemas were checked"
        );
        return;
    };
    let schemas = Schemas::from_crds(&crds).expect("the CRD schemas compile");
    let kinds: Vec<&str> = schemas.kinds().collect();
    assert_eq!(
        kinds,
        [
            "ClusterTriggerAuthentication",
            "ScaledJob",
            "ScaledObject",
            "TriggerAuthentication"
        ]
    );
    for spec in example_specs() {
        let yaml = generate_file(&spec);
        for doc in parse_manifests(&yaml, "generated.yaml").expect("parses") {
            let v = schemas.validate(&doc);
            assert!(v.is_empty(), "{}: {v:?}\n{doc:#}", spec.display());
            assert!(rules::check_resource(&doc).is_empty());
        }
    }
}

/// `scripts/trim-keda-schemas.py` in Rust: descriptions removed, pod template reduced.
fn trim(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "description")
                .map(|(k, v)| (k.clone(), trim(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(trim).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_embedded_schemas_are_the_full_crds_trimmed() {
    let Some(crds) = full_crds() else {
        println!("SKIPPED: ../shared/keda is absent; cannot compare the embedded schemas");
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for crd in &crds {
        let kind = crd["spec"]["names"]["kind"].as_str().expect("a kind");
        let mut schema = trim(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
        if kind == "ScaledJob" {
            schema["properties"]["spec"]["properties"]["jobTargetRef"]["properties"]["template"] =
                serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        }
        let file = dir.join(format!("{}.json", kind.to_ascii_lowercase()));
        let text = std::fs::read_to_string(&file).expect("embedded schema file");
        let embedded: Value = serde_json::from_str(&text).expect("JSON");
        assert!(
            embedded == schema,
            "{} differs from the KEDA CRD: run scripts/trim-keda-schemas.py",
            file.display()
        );
    }
    // A document the full CRD rejects is rejected by the embedded copy too.
    let full = Schemas::from_crds(&crds).expect("compile");
    let embedded = Schemas::embedded().expect("compile");
    let bad: Value = serde_json::json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [], "pollingInterval": "30"},
    });
    assert!(!full.validate(&bad).is_empty());
    assert_eq!(full.validate(&bad), embedded.validate(&bad));
}
