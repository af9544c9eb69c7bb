//! What a cluster admin expects of a chart (as kedacore/charts has them): a
//! PodDisruptionBudget, topology spread, the rollout history limit, ServiceMonitor relabelings,
//! and extra volumes, mounts and objects for what the server configuration names.
//!
//! Needs helm (see tests/common/mod.rs for the skip-or-fail rule).

mod common;

use std::path::Path;

use common::{assert_rejected, documents, helm, of_kind, one, template_with};
use serde_json::{Value, json};

fn render(helm: &Path, values: &Value) -> Vec<Value> {
    let rendered = template_with(helm, "ml", "autoscaling", values)
        .unwrap_or_else(|e| panic!("values {values}: {e}"));
    documents(&rendered)
}

fn rejects(helm: &Path, values: &Value, expected: &str) {
    assert_rejected(helm, "ml", "autoscaling", values, expected);
}

#[test]
fn a_disruption_budget_comes_with_more_than_one_replica_or_when_asked() {
    let Some(helm) = helm() else { return };
    let pdbs = |values: Value| {
        of_kind(&render(&helm, &values), "PodDisruptionBudget")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(pdbs(json!({})).is_empty(), "one replica: no budget");
    let docs = render(&helm, &json!({"replicaCount": 2}));
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"].get("maxUnavailable"), None);
    assert_eq!(pdb["metadata"]["namespace"], "autoscaling");
    let deployment = one(&docs, "Deployment");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert!(pdbs(json!({"replicaCount": 2, "podDisruptionBudget": {"enabled": false}})).is_empty());
    let forced = pdbs(json!({"podDisruptionBudget": {"enabled": true}}));
    assert_eq!(forced.len(), 1);
    let max = pdbs(json!({"replicaCount": 3,
        "podDisruptionBudget": {"minAvailable": null, "maxUnavailable": "50%"}}));
    assert_eq!(max[0]["spec"]["maxUnavailable"], "50%");
    assert_eq!(max[0]["spec"].get("minAvailable"), None);
    rejects(
        &helm,
        &json!({"replicaCount": 2, "podDisruptionBudget": {"maxUnavailable": 1}}),
        "podDisruptionBudget: set either minAvailable or maxUnavailable, not both",
    );
    rejects(
        &helm,
        &json!({"podDisruptionBudget": {"minAvailble": 1}}),
        "Additional property minAvailble is not allowed",
    );
}

#[test]
fn deployment_takes_history_limit_and_topology_spread() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &json!({}));
    let d = one(&docs, "Deployment");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        d["spec"]["template"]["spec"].get("topologySpreadConstraints"),
        None
    );
    let docs = render(
        &helm,
        &json!({"revisionHistoryLimit": 2, "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "{{ .Release.Name }}"}},
        }]}),
    );
    let d = one(&docs, "Deployment");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 2);
    let spread = &d["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(
        spread["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"],
        "ml"
    );
    rejects(
        &helm,
        &json!({"revisionHistoryLimit": -1}),
        "revisionHistoryLimit: Must be greater than or equal to 0",
    );
}

#[test]
fn extra_volumes_mounts_and_objects_reach_the_server() {
    let Some(helm) = helm() else { return };
    let docs = render(
        &helm,
        &json!({
            "extraVolumes": [{"name": "prom-auth", "secret": {"secretName": "{{ .Release.Name }}-prom"}}],
            "extraVolumeMounts": [{"name": "prom-auth", "mountPath": "/etc/prescale/prom", "readOnly": true}],
            "extraObjects": [
                {"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "{{ .Release.Name }}-prom", "namespace": "{{ .Release.Namespace }}"},
                 "stringData": {"token": "t"}},
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  a: b\n",
            ],
        }),
    );
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().expect("volumes");
    let extra = volumes
        .iter()
        .find(|v| v["name"] == "prom-auth")
        .expect("the extra volume");
    assert_eq!(extra["secret"]["secretName"], "ml-prom");
    assert!(
        volumes.iter().any(|v| v["name"] == "config"),
        "the chart's own volumes stay"
    );
    let mounts = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "prom-auth" && m["mountPath"] == "/etc/prescale/prom"),
        "{mounts:?}"
    );
    let secret = one(&docs, "Secret");
    assert_eq!(secret["metadata"]["name"], "ml-prom");
    assert_eq!(secret["metadata"]["namespace"], "autoscaling");
    assert!(
        of_kind(&docs, "ConfigMap")
            .iter()
            .any(|c| c["metadata"]["name"] == "ml-extra" && c["data"]["a"] == "b")
    );
    rejects(
        &helm,
        &json!({"extraVolumeMounts": [{"name": "x"}]}),
        "mountPath is required",
    );
}

#[test]
fn service_monitor_takes_relabelings() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &json!({"serviceMonitor": {"enabled": true}}));
    let endpoint = &one(&docs, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!(endpoint.get("relabelings"), None);
    assert_eq!(endpoint.get("metricRelabelings"), None);
    let relabel = json!([{"action": "replace", "targetLabel": "cluster", "replacement": "eu"}]);
    let drop = json!([{"action": "drop", "sourceLabels": ["__name__"], "regex": "go_.*"}]);
    let docs = render(
        &helm,
        &json!({"serviceMonitor": {"enabled": true, "relabelings": relabel, "metricRelabelings": drop}}),
    );
    let endpoint = &one(&docs, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!(endpoint["relabelings"], relabel);
    assert_eq!(endpoint["metricRelabelings"], drop);
    assert_eq!(endpoint["honorLabels"], true);
}
