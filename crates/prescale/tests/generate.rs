//! Black-box tests of `prescale generate` and `prescale validate`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn prescale() -> Command {
    Command::cargo_bin("prescale").expect("binary built")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, content).expect("write fixture");
    p
}

const SPEC: &str = "\
services:
  - name: chat
    kind: vllm
    minReplicas: 0
    triggers:
      - type: predictive
        query: sum(rate(gw[1m]))
        threshold: 5
      - type: vllm-waiting
        threshold: 8
";

#[test]
fn generate_prints_the_golden_yaml_of_an_example() {
    let golden = std::fs::read_to_string(example("generated/vllm.yaml")).expect("golden file");
    prescale()
        .args(["generate", "-f"])
        .arg(example("vllm.yaml"))
        .assert()
        .success()
        .stdout(golden);
}

#[test]
fn generate_reads_standard_input_and_is_deterministic() {
    let run = || {
        prescale()
            .args(["generate", "-f", "-"])
            .write_stdin(SPEC)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let first = run();
    assert_eq!(first, run());
    let text = String::from_utf8(first).expect("UTF-8");
    assert!(text.starts_with("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"));
    assert!(text.contains("type: external"));
}

#[test]
fn generate_writes_one_file_per_resource_into_a_directory() {
    let dir = TempDir::new().expect("temp dir");
    let out = dir.path().join("keda");
    prescale()
        .args(["generate", "-f"])
        .arg(example("celery-rabbitmq.yaml"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("output dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pipelines_embed-worker-queue_triggerauthentication.yaml",
            "pipelines_embed-worker_scaledobject.yaml"
        ]
    );
    // Each file is a valid manifest on its own.
    for n in names {
        prescale()
            .args(["validate", "--manifests"])
            .arg(out.join(n))
            .assert()
            .success()
            .stdout(predicate::str::contains("1 resource(s) valid"));
    }
}

#[test]
fn a_bad_spec_fails_with_one_line_naming_file_line_column_and_field() {
    let dir = TempDir::new().expect("temp dir");
    let spec = write(
        &dir,
        "services.yaml",
        &SPEC.replace("threshold: 8", "threshold: -1"),
    );
    for cmd in ["generate", "validate"] {
        let out = prescale()
            .args([cmd, "-f"])
            .arg(&spec)
            .assert()
            .code(1)
            .stdout("")
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            err,
            format!(
                "error: {}:10:9: services[0].triggers[1].threshold: must be > 0\n",
                spec.display()
            )
        );
    }
}

#[test]
fn validate_accepts_every_example_and_its_generated_manifests() {
    for name in [
        "vllm.yaml",
        "celery-rabbitmq.yaml",
        "celery-redis.yaml",
        "training.yaml",
    ] {
        prescale()
            .args(["validate", "-f"])
            .arg(example(name))
            .assert()
            .success()
            .stdout(predicate::str::contains("service(s) valid"));
        prescale()
            .args(["validate", "--manifests"])
            .arg(example(&format!("generated/{name}")))
            .assert()
            .success();
    }
}

#[test]
fn validate_warns_about_triggers_a_formula_ignores() {
    let dir = TempDir::new().expect("temp dir");
    let spec = write(
        &dir,
        "s.yaml",
        "services:\n  - name: chat\n    kind: vllm\n    scalingModifiers: {formula: 'waiting / 10', target: 1}\n    triggers:\n      - type: vllm-waiting\n      - type: vllm-kv-cache\n        threshold: 0.85\n",
    );
    let out = prescale()
        .args(["validate", "-f"])
        .arg(&spec)
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(
        err.starts_with(&format!(
            "warning: {}:7:9: services[0].triggers[1]: trigger `kv_cache` is not in scalingModifiers.formula",
            spec.display()
        )),
        "{err}"
    );
    let generated = prescale()
        .args(["generate", "-f"])
        .arg(&spec)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let manifests = write(
        &dir,
        "m.yaml",
        &String::from_utf8(generated).expect("UTF-8"),
    );
    prescale()
        .args(["validate", "--manifests"])
        .arg(&manifests)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "spec.triggers[1]: trigger `kv_cache` is not in scalingModifiers.formula",
        ));
    // The examples have none.
    for name in ["vllm.yaml", "vllm-slo.yaml"] {
        prescale()
            .args(["validate", "-f"])
            .arg(example(name))
            .assert()
            .success()
            .stderr(predicate::str::is_empty());
    }
}

#[test]
fn celery_reads_rabbitmq_over_http_and_is_warned_about_amqp() {
    let dir = TempDir::new().expect("temp dir");
    let spec = |protocol: &str| {
        format!(
            "services:\n  - name: w\n    kind: celery\n    triggers:\n      - type: rabbitmq\n{protocol}        secret: {{name: broker}}\n"
        )
    };
    let http = write(&dir, "http.yaml", &spec(""));
    prescale()
        .args(["generate", "-f"])
        .arg(&http)
        .assert()
        .success()
        .stdout(predicate::str::contains("protocol: http"));
    prescale()
        .args(["validate", "-f"])
        .arg(&http)
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    let amqp = write(&dir, "amqp.yaml", &spec("        protocol: amqp\n"));
    prescale()
        .args(["validate", "-f"])
        .arg(&amqp)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            ":6:9: services[0].triggers[0].protocol: over AMQP KEDA counts ready messages only",
        ));
}

#[test]
fn validate_rejects_a_second_prescale_trigger_and_metric_type_value() {
    let dir = TempDir::new().expect("temp dir");
    let trigger = |name: &str, extra: &str| {
        format!(
            "  - type: external\n    name: {name}\n{extra}    metadata: {{scalerAddress: 'prescale:6000', serverAddress: 'http://p:9090', query: 'sum(rate(gw[1m]))', threshold: '2.01'}}\n"
        )
    };
    let head = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 1\n  triggers:\n";
    let cases = [
        (
            format!("{head}{}{}", trigger("a", ""), trigger("b", "")),
            ":11:5: spec.triggers[1].type: one prescale trigger per ScaledObject",
        ),
        (
            format!("{head}{}", trigger("a", "    metricType: Value\n")),
            ":10:5: spec.triggers[0].metricType: a prescale trigger takes `AverageValue` only",
        ),
    ];
    for (text, expected) in cases {
        let file = write(&dir, "m.yaml", &text);
        prescale()
            .args(["validate", "--manifests"])
            .arg(&file)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn validate_rejects_manifests_keda_would_reject() {
    let dir = TempDir::new().expect("temp dir");
    let cases = [
        (
            "cpu-only at zero",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 0\n  triggers:\n  - type: cpu\n    metricType: Utilization\n    metadata: {value: '70'}\n",
            ":6:3: spec.minReplicaCount: cpu/memory-only triggers cannot scale to zero",
        ),
        (
            "unknown trigger type",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 1\n  triggers:\n  - type: rabbit\n    metadata: {queueName: q}\n",
            ":8:5: spec.triggers[0].type: unknown KEDA trigger type `rabbit`",
        ),
        (
            "formula with an unknown trigger",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 1\n  advanced:\n    scalingModifiers: {formula: 'a + b', target: '2'}\n  triggers:\n  - type: redis\n    name: a\n    metadata: {address: 'r:6379', listName: q}\n",
            ":8:24: spec.advanced.scalingModifiers.formula: unknown trigger name `b`",
        ),
        (
            "vLLM metrics cannot wake from zero",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  triggers:\n  - type: prometheus\n    metadata: {serverAddress: 'http://p:9090', query: 'sum(vllm:num_requests_waiting)', threshold: '5'}\n",
            ":4:1: spec.minReplicaCount: scaling to zero needs an activation signal",
        ),
        (
            "MessageRate over AMQP",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 1\n  triggers:\n  - type: rabbitmq\n    metadata:\n      queueName: q\n      mode: MessageRate\n      protocol: amqp\n      value: '5'\n",
            ":12:7: spec.triggers[0].metadata.protocol: `mode: MessageRate` needs `protocol: http`",
        ),
        (
            "schema: wrong type",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {name: w}\n  pollingInterval: soon\n  triggers:\n  - type: cron\n    metadata: {timezone: UTC, start: '0 9 * * *', end: '0 17 * * *', desiredReplicas: '1'}\n",
            ":6:3: spec.pollingInterval: \"soon\" is not of type \"integer\"",
        ),
        (
            "schema: unknown field",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: j}\nspec:\n  jobTargetRef: {template: {}}\n  maxReplicas: 3\n  triggers:\n  - type: redis\n    metadata: {address: 'r:6379', listName: q}\n",
            ":6:3: spec.maxReplicas: Additional properties are not allowed",
        ),
    ];
    for (what, text, expected) in cases {
        let file = write(&dir, "m.yaml", text);
        let out = prescale()
            .args(["validate", "--manifests"])
            .arg(&file)
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone();
        let err = String::from_utf8(out).expect("UTF-8");
        assert!(
            err.starts_with(&format!("error: {}{expected}", file.display())),
            "{what}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
    }
}

#[test]
fn explain_documents_every_trigger_type_and_help_has_examples() {
    let out = prescale()
        .args(["generate", "--explain"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).expect("UTF-8");
    for t in [
        "vllm-waiting",
        "vllm-kv-cache",
        "vllm-ttft",
        "gpu-utilization",
        "rabbitmq",
        "redis",
        "predictive",
        "scalingModifiers",
        "businessHours",
        "idleReplicas",
    ] {
        assert!(text.contains(t), "--explain lacks {t}");
    }
    for cmd in ["generate", "validate"] {
        prescale()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
}

#[test]
fn an_empty_manifest_file_is_an_error() {
    prescale()
        .args(["validate", "--manifests", "-"])
        .write_stdin("# nothing\n")
        .assert()
        .code(1)
        .stderr("error: <stdin>: no resources to validate\n");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    prescale()
        .args(["generate", "-f", "/nonexistent/services.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot read /nonexistent/services.yaml",
        ));
}

#[test]
fn validate_checks_the_items_of_a_kubectl_list() {
    let dir = TempDir::new().expect("temp dir");
    let generated =
        std::fs::read_to_string(example("generated/celery-redis.yaml")).expect("golden file");
    let docs: Vec<&str> = generated.split("---\n").collect();
    let indent = |d: &str| {
        d.lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("- {l}")
                } else {
                    format!("  {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}\n",
        docs.iter()
            .map(|d| indent(d))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let file = write(&dir, "list.yaml", &list);
    prescale()
        .args(["validate", "--manifests"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("2 resource(s) valid"));
    let bad = write(
        &dir,
        "bad.yaml",
        &list.replace("type: redis", "type: rediss"),
    );
    prescale()
        .args(["validate", "--manifests"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "items[1].spec.triggers[0].type: unknown KEDA trigger type `rediss`",
        ));
}
