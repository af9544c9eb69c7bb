//! The chart's `services` values render the same KEDA resources as `prescale generate` for the
//! same spec, and bad service values fail at `helm template` with the value's path.
//!
//! Needs helm (see tests/common/mod.rs for the skip-or-fail rule).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_rejected, chart, documents, helm, is_keda, run, template, template_with};
use prescale_deploy::values::values_from_spec;
use serde_json::{Value, json};

/// Release and namespace of the comparison: the chart's server is then
/// `prescale.prescale-system.svc:6000`.
const RELEASE: &str = "prescale";
const NAMESPACE: &str = "prescale-system";
const CHART_SCALER: &str = "prescale.prescale-system.svc:6000";

/// Resources keyed by kind, namespace and name.
fn by_identity(docs: Vec<Value>) -> BTreeMap<String, Value> {
    docs.into_iter()
        .map(|d| {
            let id = format!(
                "{} {}/{}",
                d["kind"].as_str().unwrap_or_default(),
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap_or_default()
            );
            (id, d)
        })
        .collect()
}

/// The spec with every predictive trigger without an `address` aimed at the chart's server
/// (what the chart does by default; `prescale generate` defaults to its own address).
fn aimed_at_chart(spec_text: &str) -> String {
    let mut spec: Value = yaml_serde::from_str(spec_text).expect("spec YAML");
    for service in spec["services"].as_array_mut().into_iter().flatten() {
        for t in service["triggers"].as_array_mut().into_iter().flatten() {
            if t["type"] == "predictive" && t.get("address").is_none() {
                t["address"] = json!(CHART_SCALER);
            }
        }
    }
    yaml_serde::to_string(&spec).expect("spec as YAML")
}

fn chart_resources(helm: &Path, values: &Value) -> BTreeMap<String, Value> {
    let rendered =
        template_with(helm, RELEASE, NAMESPACE, values).unwrap_or_else(|e| panic!("{e}"));
    by_identity(documents(&rendered).into_iter().filter(is_keda).collect())
}

#[test]
fn services_values_render_what_prescale_generate_writes() {
    let Some(helm) = helm() else { return };
    let specs = common::example_specs();
    assert!(specs.len() >= 5, "example specs: {specs:?}");
    for path in specs {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("spec");
        let values = values_from_spec(&text, &file).unwrap_or_else(|e| panic!("{e}"));
        let chart = chart_resources(&helm, &values);
        let expected = prescale_manifests::generate(&aimed_at_chart(&text), &file)
            .unwrap_or_else(|e| panic!("{e}"));
        let expected = by_identity(expected);
        assert_eq!(
            chart.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{file}: resources"
        );
        for (id, want) in &expected {
            let got = &chart[id];
            assert!(
                got == want,
                "{file}: {id} differs\nhelm:\n{}\nprescale generate:\n{}",
                yaml_serde::to_string(got).unwrap_or_default(),
                yaml_serde::to_string(want).unwrap_or_default()
            );
        }
    }
}

#[test]
fn the_default_scaler_address_is_the_release_service() {
    let Some(helm) = helm() else { return };
    let values = json!({"services": {"vllm": {"enabled": true}}});
    let rendered =
        template_with(&helm, "ml", "autoscaling", &values).unwrap_or_else(|e| panic!("{e}"));
    let docs = documents(&rendered);
    let so = common::one(&docs, "ScaledObject");
    assert_eq!(so["spec"]["triggers"][0]["type"], "external");
    assert_eq!(
        so["spec"]["triggers"][0]["metadata"]["scalerAddress"],
        "ml-prescale.autoscaling.svc:6000"
    );
    // The server's Service has that name and port.
    let svc = common::one(&docs, "Service");
    assert_eq!(svc["metadata"]["name"], "ml-prescale");
    assert_eq!(svc["spec"]["ports"][0]["port"], 6000);
}

#[test]
fn predictive_shorthand_is_a_first_predictive_trigger() {
    let Some(helm) = helm() else { return };
    let with_shorthand = json!({"services": {"chat": {
        "enabled": true, "kind": "vllm", "namespace": "inference", "minReplicas": 0,
        "predictive": {"enabled": true, "query": "sum(rate(gw_requests_total[1m]))", "push": true,
                       "threshold": 2, "coldStart": "4m", "quantile": 0.95},
        "triggers": [{"type": "vllm-waiting", "threshold": 8}],
    }}});
    let spelled_out = json!({"services": {"chat": {
        "enabled": true, "kind": "vllm", "namespace": "inference", "minReplicas": 0,
        "triggers": [
            {"type": "predictive", "query": "sum(rate(gw_requests_total[1m]))", "push": true,
             "threshold": 2, "coldStart": "4m", "quantile": 0.95},
            {"type": "vllm-waiting", "threshold": 8},
        ],
    }}});
    let a = chart_resources(&helm, &with_shorthand);
    let b = chart_resources(&helm, &spelled_out);
    assert_eq!(a, b);
    let so = &a["ScaledObject inference/chat"];
    assert_eq!(so["spec"]["triggers"][0]["type"], "external-push");
    assert_eq!(
        so["spec"]["triggers"][0]["metadata"]["scalerAddress"],
        CHART_SCALER
    );
}

/// `helm template` with `values` must fail with a message containing `expected`.
fn rejects(helm: &Path, values: Value, expected: &str) {
    assert_rejected(helm, RELEASE, NAMESPACE, &values, expected);
}

fn service(fields: Value) -> Value {
    let mut s = json!({"enabled": true, "kind": "celery", "namespace": "work", "minReplicas": 1,
                       "triggers": [{"type": "cpu"}]});
    if let (Some(s), Some(f)) = (s.as_object_mut(), fields.as_object()) {
        s.extend(f.clone());
    }
    json!({"services": {"w": s}})
}

#[test]
fn schema_rejects_bad_values_naming_the_field() {
    let Some(helm) = helm() else { return };
    let cases = [
        (
            json!({"replicaCount": -1}),
            "replicaCount: Must be greater than or equal to 0",
        ),
        (
            json!({"server": {"grpcPort": 70000}}),
            "server.grpcPort: Must be less than or equal to 65535",
        ),
        (
            json!({"imageTag": "x"}),
            "Additional property imageTag is not allowed",
        ),
        (
            json!({"securityContext": {"readOnlyRootFilesystem": false}}),
            "securityContext.readOnlyRootFilesystem: securityContext.readOnlyRootFilesystem does not match: true",
        ),
        (
            json!({"podSecurityContext": {"runAsNonRoot": false}}),
            "podSecurityContext.runAsNonRoot: podSecurityContext.runAsNonRoot does not match: true",
        ),
        (
            service(json!({"kind": "spark"})),
            "services.w.kind: services.w.kind must be one of the following",
        ),
        (
            service(json!({"minReplicas": -2})),
            "services.w.minReplicas: Must be greater than or equal to 0",
        ),
        (
            service(json!({"name": "Bad_Name"})),
            "services.w.name: Does not match pattern",
        ),
        (
            service(json!({"triggers": [{"type": "rabbitmq", "password": "hunter2"}]})),
            "Additional property password is not allowed",
        ),
        (
            service(json!({"triggers": [{"type": "cpu", "threshold": 0}]})),
            "services.w.triggers.0.threshold: Must be greater than 0",
        ),
        (
            service(json!({"prometheus": "http://admin:secret@prom:9090"})),
            "services.w.prometheus: Does not match pattern",
        ),
        (
            service(json!({"triggers": [{"type": "predictive", "coldStart": "3 minutes"}]})),
            "services.w.triggers.0.coldStart: Does not match pattern",
        ),
        (
            service(json!({"businessHours": {"timezone": "UTC", "replicas": 1, "open": "9am"}})),
            "services.w.businessHours.open: Does not match pattern",
        ),
        (
            service(
                json!({"triggers": [{"type": "rabbitmq", "protocol": "amqps", "secret": {"name": "b"}}]}),
            ),
            "services.w.triggers.0.protocol: services.w.triggers.0.protocol must be one of the following",
        ),
    ];
    for (values, expected) in cases {
        rejects(&helm, values, expected);
    }
}

#[test]
fn cross_field_rules_fail_with_the_value_path() {
    let Some(helm) = helm() else { return };
    let cases = [
        (
            service(json!({"minReplicas": 5, "maxReplicas": 3})),
            "services.w.minReplicas: must be <= maxReplicas (3), got 5",
        ),
        (
            service(json!({"minReplicas": 0})),
            "services.w.minReplicas: scaling to zero needs a demand-side trigger",
        ),
        (
            service(json!({"idleReplicas": 1})),
            "services.w.idleReplicas: must be < minReplicas (1), got 1",
        ),
        (
            service(
                json!({"predictive": {"enabled": true, "query": "sum(rate(gateway_requests_total[1m]))", "threshold": 2, "metricType": "Value"}}),
            ),
            "a predictive trigger takes metricType AverageValue only",
        ),
        (
            service(
                json!({"kind": "training", "triggers": [{"type": "redis", "address": "r:6379"}]}),
            ),
            "services.w: kind `training` needs `job`",
        ),
        (
            service(
                json!({"kind": "training", "cooldownPeriod": 60, "job": {"image": "i"},
                           "triggers": [{"type": "redis", "address": "r:6379"}]}),
            ),
            "services.w.cooldownPeriod: not available for kind `training`",
        ),
        (
            service(json!({"triggers": [{"type": "vllm-waiting"}]})),
            "services.w.triggers[0].type: `vllm-waiting` is not a trigger of kind `celery`",
        ),
        (
            service(json!({"triggers": [{"type": "cpu", "queue": "q"}]})),
            "services.w.triggers[0].queue: not used by trigger type `cpu`",
        ),
        (
            service(json!({"triggers": [{"type": "rabbitmq"}]})),
            "services.w.triggers[0].secret: required for type `rabbitmq`",
        ),
        (
            service(
                json!({"triggers": [{"type": "rabbitmq", "mode": "MessageRate", "protocol": "amqp",
                                     "secret": {"name": "b"}}]}),
            ),
            "services.w.triggers[0].mode: `MessageRate` needs `protocol: http`",
        ),
        (
            service(
                json!({"kind": "training", "job": {"image": "i"}, "triggers": [
                    {"type": "rabbitmq", "mode": "MessageRate", "authentication": {"name": "a"}}]}),
            ),
            "services.w.triggers[0].mode: `MessageRate` needs `protocol: http`",
        ),
        (
            service(
                json!({"triggers": [{"type": "redis", "address": "r:6379", "protocol": "http"}]}),
            ),
            "services.w.triggers[0].protocol: not used by trigger type `redis`",
        ),
        (
            service(
                json!({"triggers": [{"type": "redis", "address": "r:6379", "threshold": 2.5}]}),
            ),
            "services.w.triggers[0].threshold: a Redis list length must be a whole number",
        ),
        (
            service(json!({"triggers": [{"type": "cpu"}, {"type": "memory", "name": "cpu"}]})),
            "services.w.triggers[1].name: duplicate trigger name `cpu`",
        ),
        (
            service(json!({"fallback": {"failureThreshold": 3, "replicas": 2}})),
            "services.w.fallback: KEDA has no fallback for cpu and memory triggers",
        ),
        (
            service(
                json!({"kind": "vllm", "triggers": [{"type": "vllm-kv-cache", "threshold": 80}]}),
            ),
            "services.w.triggers[0].threshold: vllm:kv_cache_usage_perc is a ratio in 0..1",
        ),
        (
            service(
                json!({"predictive": {"enabled": true, "push": true, "query": "sum(q)", "threshold": 2},
                       "triggers": [{"type": "cpu", "push": true}]}),
            ),
            "services.w.triggers[0].push: not used by trigger type `cpu`",
        ),
        (
            service(json!({"predictive": {"enabled": true, "query": "sum(q)"}})),
            "services.w.predictive.threshold: required for type `predictive`: the demand one replica serves",
        ),
        (
            service(
                json!({"businessHours": {"timezone": "UTC", "replicas": 3}, "maxReplicas": 2,
                           "minReplicas": 1}),
            ),
            "services.w.businessHours.replicas: must be in 1..=2 (maxReplicas)",
        ),
        (
            json!({"persistence": {"enabled": true}, "replicaCount": 2}),
            "replicaCount: must be 1 when persistence.enabled is true",
        ),
        (
            json!({"tls": {"enabled": true}}),
            "tls.secretName: required when tls.enabled is true",
        ),
    ];
    for (values, expected) in cases {
        rejects(&helm, values, expected);
    }
    // Two entries for the same ScaledObject.
    let mut twice = service(json!({}));
    twice["services"]["v"] = twice["services"]["w"].clone();
    twice["services"]["v"]["name"] = json!("w");
    rejects(
        &helm,
        twice,
        "services.w.name: duplicate service `work/w` (also services.v)",
    );
}

#[test]
fn every_example_spec_passes_prescale_validation_as_rendered() {
    let Some(helm) = helm() else { return };
    let schemas = prescale_manifests::schema::Schemas::embedded().expect("KEDA schemas");
    for path in common::example_specs() {
        let text = std::fs::read_to_string(&path).expect("spec");
        let values = values_from_spec(&text, "spec").unwrap_or_else(|e| panic!("{e}"));
        let rendered =
            template_with(&helm, RELEASE, NAMESPACE, &values).unwrap_or_else(|e| panic!("{e}"));
        let keda: Vec<Value> = documents(&rendered).into_iter().filter(is_keda).collect();
        let yaml = prescale_manifests::render(&keda).expect("YAML");
        let n = prescale_manifests::validate_manifests(&yaml, &path.to_string_lossy(), &schemas)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, keda.len());
    }
    // And the chart's own example services.
    let rendered = template(
        &helm,
        RELEASE,
        NAMESPACE,
        &[
            "-f",
            &common::chart()
                .join("ci/services-values.yaml")
                .to_string_lossy(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let keda: Vec<Value> = documents(&rendered).into_iter().filter(is_keda).collect();
    assert_eq!(
        keda.len(),
        5,
        "3 scaled resources and 2 TriggerAuthentications"
    );
    let yaml = prescale_manifests::render(&keda).expect("YAML");
    prescale_manifests::validate_manifests(&yaml, "ci/services-values.yaml", &schemas)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Without KEDA's API in the cluster (`.Capabilities`), the chart refuses to render KEDA
/// resources, naming the value that asks for them and what to do; the server alone renders.
#[test]
fn keda_resources_need_kedas_api_in_the_cluster() {
    let Some(helm) = helm() else { return };
    let chart = chart();
    let chart = chart.to_string_lossy();
    let services = common::chart().join("ci/services-values.yaml");
    let services = services.to_string_lossy();
    let bare = |extra: &[&str]| {
        let mut args = vec!["template", RELEASE, &chart, "--namespace", NAMESPACE];
        args.extend_from_slice(extra);
        run(&helm, &args)
    };
    let e = bare(&["-f", &services]).expect_err("no KEDA API");
    assert!(
        e.contains("services.") && e.contains("keda.sh/v1alpha1") && e.contains("keda.checkCrds"),
        "{e}"
    );
    let e = bare(&[
        "--set",
        "tls.enabled=true",
        "--set",
        "tls.secretName=prescale-tls",
    ])
    .expect_err("no KEDA API for the ClusterTriggerAuthentication");
    assert!(e.contains("tls.keda.triggerAuthentication"), "{e}");
    // The server alone needs no KEDA API; with it (or the check off) the services render.
    assert!(bare(&[]).is_ok());
    for extra in [
        &["--api-versions", "keda.sh/v1alpha1"][..],
        &["--set", "keda.checkCrds=false"][..],
    ] {
        let mut args = vec!["-f", &services[..]];
        args.extend_from_slice(extra);
        let docs = documents(&bare(&args).unwrap_or_else(|e| panic!("{e}")));
        assert!(docs.iter().any(|d| d["kind"] == "ScaledObject"));
    }
}
