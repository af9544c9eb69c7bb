//! The Helm chart: `helm lint --strict`, `helm template` with the default values, every
//! `charts/prescale/ci/*-values.yaml` and every example spec as values, each rendered object
//! validated (built-in kinds against the strict Kubernetes v1.33 schemas, KEDA resources
//! against the KEDA CRDs and rules, cert-manager Certificates structurally); the server runs
//! non-root on a read-only root filesystem; RBAC grants only the reads of crates/prescale-kube;
//! the optional resources.
//!
//! Needs helm (see tests/common/mod.rs for the skip-or-fail rule).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{
    WITH_KEDA, chart, ci_values, documents, helm, is_keda, named, of_kind, one, run, template,
};
use prescale_deploy::kubernetes::KubeSchemas;
use prescale_deploy::values::values_from_spec;
use serde_json::{Value, json};

/// Checks every rendered object; returns the kinds seen.
fn validate_all(name: &str, rendered: &str, schemas: &KubeSchemas) -> BTreeSet<String> {
    let keda_schemas = prescale_manifests::schema::Schemas::embedded().expect("KEDA schemas");
    let docs = documents(rendered);
    let mut kinds = BTreeSet::new();
    let mut keda = Vec::new();
    for d in &docs {
        let kind = d["kind"].as_str().unwrap_or_default().to_string();
        let id = format!("{name}: {kind} {}", d["metadata"]["name"]);
        assert!(
            d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{id}: no name"
        );
        if is_keda(d) {
            keda.push(d.clone());
        } else if schemas.knows(d) {
            let errors = schemas.validate(d);
            assert!(errors.is_empty(), "{id}:\n{}", errors.join("\n"));
        } else if kind == "ServiceMonitor" {
            // No schema of the Prometheus Operator CRD here: the fields it requires.
            assert_eq!(d["apiVersion"], "monitoring.coreos.com/v1", "{id}");
            assert!(d["spec"]["selector"]["matchLabels"].is_object(), "{id}");
            assert_eq!(d["spec"]["endpoints"][0]["port"], "http", "{id}");
            assert_eq!(d["spec"]["endpoints"][0]["path"], "/metrics", "{id}");
        } else if kind == "PrometheusRule" {
            // No schema of the Prometheus Operator CRD here: its shape (tests/chart_alerts.rs
            // checks the alerts themselves).
            assert_eq!(d["apiVersion"], "monitoring.coreos.com/v1", "{id}");
            let groups = d["spec"]["groups"].as_array().expect("groups");
            for rule in groups
                .iter()
                .flat_map(|g| g["rules"].as_array().expect("rules"))
            {
                assert!(
                    rule["alert"].is_string() && rule["expr"].is_string(),
                    "{id}"
                );
            }
        } else if kind == "PodDisruptionBudget" {
            // Not in the trimmed Kubernetes schemas: its fields, structurally.
            assert_eq!(d["apiVersion"], "policy/v1", "{id}");
            assert!(d["spec"]["selector"]["matchLabels"].is_object(), "{id}");
            assert!(
                d["spec"]["minAvailable"].is_null() != d["spec"]["maxUnavailable"].is_null(),
                "{id}: one of minAvailable and maxUnavailable"
            );
        } else if kind == "Certificate" {
            // No schema of cert-manager's CRD here: its fields and rules, structurally.
            let problems = common::certificate_problems(d);
            assert!(problems.is_empty(), "{id}:\n{}", problems.join("\n"));
        } else {
            panic!("{id}: no schema to check this kind against");
        }
        kinds.insert(kind);
    }
    if !keda.is_empty() {
        let yaml = prescale_manifests::render(&keda).expect("YAML");
        let n = prescale_manifests::validate_manifests(&yaml, name, &keda_schemas)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(n, keda.len());
    }
    kinds
}

#[test]
fn lint_strict_with_default_and_ci_values() {
    let Some(helm) = helm() else { return };
    let chart = chart();
    let chart = chart.to_string_lossy();
    run(&helm, &["lint", "--strict", &chart]).unwrap_or_else(|e| panic!("default values: {e}"));
    for file in ci_values() {
        let f = file.to_string_lossy();
        run(&helm, &["lint", "--strict", &chart, "-f", &f]).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

/// The rendered server config parses as `prescale serve` reads it, and its
/// `prometheus.allowed` admits every `serverAddress` the chart's ScaledObjects name.
fn config_allows_every_server_address(name: &str, rendered: &str) {
    let docs = documents(rendered);
    let cm = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["config.yaml"].is_string())
        .unwrap_or_else(|| panic!("{name}: no config"));
    let text = cm["data"]["config.yaml"].as_str().expect("text");
    let config = prescale_server::config::ServerConfig::parse(text, name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let allowed = &config.prometheus.allowed;
    assert!(!allowed.is_empty(), "{name}: no allowlist");
    for so in of_kind(&docs, "ScaledObject") {
        for t in so["spec"]["triggers"].as_array().into_iter().flatten() {
            if let Some(addr) = t["metadata"]["serverAddress"].as_str() {
                assert!(
                    prescale_server::demand::prometheus::is_allowed(allowed, addr),
                    "{name}: {addr} not in {allowed:?}"
                );
            }
        }
    }
}

#[test]
fn every_values_file_renders_valid_objects() {
    let Some(helm) = helm() else { return };
    let schemas = KubeSchemas::embedded().expect("Kubernetes schemas");
    let rendered =
        template(&helm, "prescale", "prescale-system", &[]).unwrap_or_else(|e| panic!("{e}"));
    let kinds = validate_all("default values", &rendered, &schemas);
    let expected: BTreeSet<String> = [
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "NetworkPolicy",
        "Pod",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, expected, "default values");

    let mut all_kinds = BTreeSet::new();
    for file in ci_values() {
        let f = file.to_string_lossy();
        let rendered = template(&helm, "prescale", "prescale-system", &["-f", &f])
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        all_kinds.extend(validate_all(&f, &rendered, &schemas));
    }
    for path in common::example_specs() {
        let text = std::fs::read_to_string(&path).expect("spec");
        let name = path.to_string_lossy();
        let values = values_from_spec(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        let rendered = common::template_with(&helm, "prescale", "prescale-system", &values)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        all_kinds.extend(validate_all(&name, &rendered, &schemas));
        config_allows_every_server_address(&name, &rendered);
    }
    for kind in [
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ClusterTriggerAuthentication",
        "Certificate",
        "TriggerAuthentication",
        "ScaledObject",
        "ScaledJob",
    ] {
        assert!(all_kinds.contains(kind), "no values file renders a {kind}");
    }
}

#[test]
fn the_server_runs_non_root_on_a_read_only_root_filesystem() {
    let Some(helm) = helm() else { return };
    for extra in [
        vec![],
        vec![
            "-f".to_string(),
            chart()
                .join("ci/hardened-values.yaml")
                .to_string_lossy()
                .into_owned(),
        ],
    ] {
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        let docs = documents(
            &template(&helm, "prescale", "prescale-system", &args)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let deployment = one(&docs, "Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert!(
            pod["securityContext"]["runAsUser"]
                .as_u64()
                .is_some_and(|u| u > 0)
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert!(c["resources"]["requests"]["cpu"].is_string());
        assert!(c["resources"]["requests"]["memory"].is_string());
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["startupProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        let ports: Vec<(String, u64)> = c["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["containerPort"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            ports,
            [("grpc".to_string(), 6000), ("http".to_string(), 8080)]
        );
        let args: Vec<&str> = c["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            &args[..9],
            [
                "serve",
                "--grpc-addr",
                "0.0.0.0:6000",
                "--http-addr",
                "0.0.0.0:8080",
                "--data-dir",
                "/var/lib/prescale",
                "--config",
                "/etc/prescale/config.yaml"
            ]
        );
        // Writable mounts: the data directory and /tmp only.
        let writable: Vec<&str> = c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter(|m| m["readOnly"] != true)
            .filter_map(|m| m["mountPath"].as_str())
            .collect();
        assert_eq!(writable, ["/var/lib/prescale", "/tmp"]);
        // The test pod is hardened too, and the Service does not select it.
        let test_pod = named(&docs, "Pod", "-test");
        assert_eq!(test_pod["metadata"]["annotations"]["helm.sh/hook"], "test");
        assert_eq!(test_pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            test_pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
        let selector = one(&docs, "Service")["spec"]["selector"]
            .as_object()
            .expect("selector")
            .clone();
        let test_labels = test_pod["metadata"]["labels"].as_object().expect("labels");
        assert!(selector.iter().any(|(k, v)| test_labels.get(k) != Some(v)));
        let pod_labels = pod_labels(deployment);
        assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    }
}

fn pod_labels(deployment: &Value) -> serde_json::Map<String, Value> {
    deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// The reads of crates/prescale-kube (its module documentation has the same table).
fn expected_rules() -> Value {
    json!([
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["get"]},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]},
    ])
}

/// Values under which the server reads the Kubernetes API: `kubernetes` with cost tracking.
const READS_KUBERNETES: [&str; 4] = [
    "--set",
    "config.kubernetes=true",
    "--set",
    "config.cost.defaults.price_per_hour=3",
];

fn no_rbac(docs: &[serde_json::Value]) -> bool {
    ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        .iter()
        .all(|k| of_kind(docs, k).is_empty())
}

fn token_mounted(docs: &[serde_json::Value]) -> &serde_json::Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"]
}

#[test]
fn rbac_only_where_the_server_reads_the_kubernetes_api() {
    let Some(helm) = helm() else { return };
    // The defaults, and `kubernetes` without cost (running replicas are read only for cost):
    // no RBAC, no token.
    for extra in [
        &[][..],
        &["--set", "config.kubernetes=true"][..],
        &["--set", "config.cost.defaults.price_per_hour=3"][..],
        &[
            "--set",
            "config.cost.defaults.price_per_hour=3",
            "--set",
            "rbac.namespaces={inference}",
        ][..],
    ] {
        let docs = documents(
            &template(&helm, "prescale", "prescale-system", extra)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert!(no_rbac(&docs), "RBAC rendered with {extra:?}");
        assert_eq!(token_mounted(&docs), false, "{extra:?}");
    }
    // `--kubernetes` as an extra argument counts like the config's `kubernetes`.
    let docs = documents(
        &template(
            &helm,
            "prescale",
            "prescale-system",
            &[
                "--set",
                "config.cost.defaults.price_per_hour=3",
                "--set",
                "server.extraArgs={--kubernetes}",
            ],
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(of_kind(&docs, "ClusterRole").len(), 1);
    assert_eq!(token_mounted(&docs), true);
}

#[test]
fn rbac_grants_only_what_the_server_reads() {
    let Some(helm) = helm() else { return };
    let docs = documents(
        &template(&helm, "prescale", "prescale-system", &READS_KUBERNETES)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(token_mounted(&docs), true);
    let role = one(&docs, "ClusterRole");
    assert_eq!(role["rules"], expected_rules());
    for rule in role["rules"].as_array().expect("rules") {
        for verb in rule["verbs"].as_array().expect("verbs") {
            assert!(
                verb == "get" || verb == "list",
                "a write or watch verb: {verb}"
            );
        }
        assert!(!rule.to_string().contains('*'), "a wildcard: {rule}");
    }
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "prescale", "namespace": "prescale-system"}])
    );
    let deployment = one(&docs, "Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "prescale"
    );

    // Limited to namespaces: Roles there, no ClusterRole.
    let docs = documents(
        &template(
            &helm,
            "prescale",
            "prescale-system",
            &[
                &READS_KUBERNETES[..],
                &["--set", "rbac.namespaces={inference,workers}"],
            ]
            .concat(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    let roles = of_kind(&docs, "Role");
    let namespaces: Vec<&str> = roles
        .iter()
        .filter_map(|r| r["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(namespaces, ["inference", "workers"]);
    for r in roles {
        assert_eq!(r["rules"], expected_rules());
    }
    assert_eq!(of_kind(&docs, "RoleBinding").len(), 2);

    // No RBAC at all when asked.
    let docs = documents(
        &template(
            &helm,
            "prescale",
            "prescale-system",
            &[&READS_KUBERNETES[..], &["--set", "rbac.create=false"]].concat(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(no_rbac(&docs));
}

#[test]
fn optional_resources_follow_their_values() {
    let Some(helm) = helm() else { return };
    let hardened = chart().join("ci/hardened-values.yaml");
    let docs = documents(
        &template(
            &helm,
            "prescale",
            "prescale-system",
            &["-f", &hardened.to_string_lossy()],
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let deployment = one(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    // Persistence: the claim is mounted at the data directory, one pod at a time.
    let pvc = one(&docs, "PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "10Gi");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let data = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "data")
        .expect("data volume");
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        pvc["metadata"]["name"]
    );
    // TLS: the server's Secret mounted, the flags passed, KEDA's ClusterTriggerAuthentication.
    let args = pod["containers"][0]["args"].to_string();
    for flag in [
        "--tls-cert",
        "/etc/prescale/tls/tls.crt",
        "--tls-key",
        "--tls-client-ca",
        "/etc/prescale/tls/ca.crt",
    ] {
        assert!(args.contains(flag), "{flag} in {args}");
    }
    let tls = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "tls")
        .expect("tls volume");
    assert_eq!(tls["secret"]["secretName"], "prescale-server-tls");
    let cta = one(&docs, "ClusterTriggerAuthentication");
    let params: Vec<&str> = cta["spec"]["secretTargetRef"]
        .as_array()
        .expect("refs")
        .iter()
        .filter_map(|r| r["parameter"].as_str())
        .collect();
    assert_eq!(params, ["caCert", "tlsClientCert", "tlsClientKey"]);
    let so = one(&docs, "ScaledObject");
    assert_eq!(
        so["spec"]["triggers"][0]["authenticationRef"],
        json!({"name": cta["metadata"]["name"], "kind": "ClusterTriggerAuthentication"})
    );
    // NetworkPolicy: gRPC from KEDA's operator, HTTP from monitoring and the test pod.
    let np = one(&docs, "NetworkPolicy");
    let ingress = np["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress[0]["ports"][0]["port"], "grpc");
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "keda"
    );
    assert_eq!(ingress[1]["ports"][0]["port"], "http");
    assert_eq!(ingress[1]["from"].as_array().map(Vec::len), Some(2));
    let test_pod = named(&docs, "Pod", "-test");
    let peer = ingress[1]["from"][1]["podSelector"]["matchLabels"]
        .as_object()
        .expect("test pod peer");
    assert!(
        peer.iter()
            .all(|(k, v)| test_pod["metadata"]["labels"][k] == *v)
    );
    for (k, v) in np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("selector")
    {
        assert_eq!(&pod_labels(deployment)[k], v);
    }
    // ServiceMonitor with the Prometheus selector label; config file rendered.
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let cm = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| c["data"]["config.yaml"].is_string())
        .expect("config");
    // The config as given, with the allowlist of the Prometheus the chart is configured with
    // (no service enabled here: the default one).
    assert_eq!(
        cm["data"]["config.yaml"],
        "cost:\n  defaults:\n    price_per_hour: 3\nkubernetes: true\nprometheus:\n  allowed:\n  - \
         http://prometheus-operated.monitoring.svc:9090\nruntime:\n  max_scaled_objects: 200\n"
    );
    // The server reads the Kubernetes API (cost with `kubernetes`): the token is mounted and
    // a Role per listed namespace is rendered, no ClusterRole.
    assert_eq!(
        deployment["spec"]["template"]["spec"]["automountServiceAccountToken"],
        true
    );
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert_eq!(of_kind(&docs, "Role").len(), 2);
    assert!(
        deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"].is_string()
    );
}

#[test]
fn dashboards_ship_as_sidecar_config_maps() {
    let Some(helm) = helm() else { return };
    let docs = documents(
        &template(&helm, "prescale", "prescale-system", &[]).unwrap_or_else(|e| panic!("{e}")),
    );
    let maps: Vec<&Value> = of_kind(&docs, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    let generated = prescale_deploy::dashboards::all();
    assert_eq!(maps.len(), generated.len());
    for (file, dashboard) in generated {
        let map = maps
            .iter()
            .find(|m| m["data"][&file].is_string())
            .unwrap_or_else(|| panic!("no ConfigMap holds {file}"));
        let shipped: Value =
            serde_json::from_str(map["data"][&file].as_str().unwrap_or_default()).expect("JSON");
        assert_eq!(shipped, dashboard, "{file}");
        assert_eq!(map["metadata"]["namespace"], "prescale-system");
    }
    let none = documents(
        &template(
            &helm,
            "prescale",
            "prescale-system",
            &["--set", "dashboards.enabled=false"],
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(
        of_kind(&none, "ConfigMap").len(),
        1,
        "only the server's configuration"
    );
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from)
        .expect("read directory")
        .filter_map(Result::ok)
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn notes_name_the_scaler_address_and_enabled_services() {
    let Some(helm) = helm() else { return };
    // `helm template` does not render NOTES.txt and `helm install --dry-run` needs a cluster:
    // render it through `tpl` from a copy of the chart.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let copy = dir.path().join("prescale");
    copy_tree(&chart(), &copy);
    std::fs::copy(copy.join("templates/NOTES.txt"), copy.join("notes.txt")).expect("copy notes");
    std::fs::write(
        copy.join("templates/notes-rendered.yaml"),
        "notes: |-\n{{ tpl (.Files.Get \"notes.txt\") . | indent 2 }}\n",
    )
    .expect("write template");
    let values = chart().join("ci/services-values.yaml");
    let rendered = run(
        &helm,
        &[
            "template",
            "prescale",
            &copy.to_string_lossy(),
            "--namespace",
            "prescale-system",
            "-f",
            &values.to_string_lossy(),
            "--show-only",
            "templates/notes-rendered.yaml",
            WITH_KEDA[0],
            WITH_KEDA[1],
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let notes = documents(&rendered)[0]["notes"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        notes.contains("KEDA external scaler (gRPC): prescale.prescale-system.svc:6000"),
        "{notes}"
    );
    for service in [
        "inference/vllm (vllm)",
        "workers/celery (celery)",
        "training/training (training)",
    ] {
        assert!(notes.contains(service), "{service} in {notes}");
    }
    assert!(
        notes.contains("helm test prescale -n prescale-system"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "NetworkPolicy: gRPC only from KEDA's operator (pods app=keda-operator in namespace \
             keda); HTTP from anywhere."
        ),
        "{notes}"
    );
}
