//! The chart's security between KEDA and the server: TLS certificates issued by cert-manager
//! (the server's, named by its Service's DNS names, into the Secret the Deployment mounts;
//! KEDA's client certificate into the Secret the ClusterTriggerAuthentication reads), mounted
//! so that renewals reach the server; the NetworkPolicy that admits only KEDA's operator to the
//! gRPC port by default; and the messages of values that do not fit together.
//!
//! Needs helm (see tests/common/mod.rs for the skip-or-fail rule).

mod common;

use std::path::Path;

use common::{
    assert_rejected, chart, documents, helm, named, of_kind, one, template, template_with,
};
use serde_json::{Map, Value, json};

fn render(helm: &Path, release: &str, namespace: &str, args: &[&str]) -> Vec<Value> {
    documents(&template(helm, release, namespace, args).unwrap_or_else(|e| panic!("{e}")))
}

fn cert_manager_values() -> String {
    chart()
        .join("ci/cert-manager-values.yaml")
        .to_string_lossy()
        .into_owned()
}

/// The Certificate in `namespace` (not the `helm test` pod's client certificate).
fn certificate_in<'a>(docs: &'a [Value], namespace: &str) -> &'a Value {
    let all: Vec<&Value> = of_kind(docs, "Certificate")
        .into_iter()
        .filter(|c| c["metadata"]["namespace"] == namespace)
        .filter(|c| {
            !c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-test-client"))
        })
        .collect();
    assert_eq!(all.len(), 1, "one Certificate in {namespace}: {all:?}");
    all[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn server_container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn volume<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

#[test]
fn cert_manager_issues_the_server_and_keda_certificates() {
    let Some(helm) = helm() else { return };
    let docs = render(
        &helm,
        "prescale",
        "prescale-system",
        &["-f", &cert_manager_values()],
    );
    assert_eq!(of_kind(&docs, "Certificate").len(), 3);
    for c in of_kind(&docs, "Certificate") {
        let problems = common::certificate_problems(c);
        assert!(problems.is_empty(), "{c}: {problems:?}");
    }
    // The gRPC `helm test` pod's client certificate: in the release's namespace, client auth,
    // mounted by that pod (and only there).
    let test_client = named(&docs, "Certificate", "-test-client");
    assert_eq!(test_client["metadata"]["namespace"], "prescale-system");
    assert!(strings(&test_client["spec"]["usages"]).contains(&"client auth"));
    let grpc_test = named(&docs, "Pod", "-test-grpc");
    assert_eq!(
        grpc_test["spec"]["volumes"][0]["secret"]["secretName"],
        test_client["spec"]["secretName"]
    );
    // Without cert-manager and without a client certificate for it, no gRPC test under
    // mutual TLS (it could not call), and the NetworkPolicy admits no test pod to gRPC.
    let docs_secrets = render(
        &helm,
        "prescale",
        "prescale-system",
        &[
            "--set",
            "tls.enabled=true",
            "--set",
            "tls.secretName=grpc-tls",
        ],
    );
    assert!(of_kind(&docs_secrets, "Pod").iter().all(|p| {
        !p["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .ends_with("-test-grpc")
    }));
    let issuer =
        json!({"name": "prescale-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"});

    // The server's: every name of its Service (and the extra one), server auth.
    let server = certificate_in(&docs, "prescale-system");
    assert_eq!(
        strings(&server["spec"]["dnsNames"]),
        [
            "prescale",
            "prescale.prescale-system",
            "prescale.prescale-system.svc",
            "prescale.prescale-system.svc.cluster.local",
            "prescale.example.internal",
        ]
    );
    let usages = strings(&server["spec"]["usages"]);
    assert!(usages.contains(&"server auth"), "{usages:?}");
    assert!(!usages.contains(&"client auth"), "{usages:?}");
    assert!(
        !usages.contains(&"key encipherment"),
        "ECDSA keys: {usages:?}"
    );
    assert_eq!(server["spec"]["issuerRef"], issuer);
    assert_eq!(server["spec"]["duration"], "2160h");
    assert_eq!(server["spec"]["renewBefore"], "360h");
    assert_eq!(server["spec"]["privateKey"]["rotationPolicy"], "Always");
    assert_eq!(server["spec"]["privateKey"]["encoding"], "PKCS8");
    // The KEDA scaler address the predictive triggers use is one of its names.
    let so = one(&docs, "ScaledObject");
    let address = so["spec"]["triggers"][0]["metadata"]["scalerAddress"]
        .as_str()
        .expect("scalerAddress");
    let host = address.rsplit_once(':').expect("host:port").0;
    assert!(
        strings(&server["spec"]["dnsNames"]).contains(&host),
        "{host}"
    );

    // Into the Secret the Deployment mounts (a default name: tls.secretName is empty), as a
    // directory that updates in place: no subPath for the certificate files.
    let secret = server["spec"]["secretName"].as_str().expect("secretName");
    assert_eq!(secret, "prescale-server-tls");
    let tls = volume(&docs, "tls");
    assert_eq!(tls["secret"]["secretName"], secret);
    let keys: Vec<&str> = tls["secret"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"]);
    let container = server_container(&docs);
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    let tls_mount = mounts.iter().find(|m| m["name"] == "tls").expect("tls");
    assert_eq!(tls_mount["mountPath"], "/etc/prescale/tls");
    assert!(tls_mount.get("subPath").is_none());
    let sub_paths: Vec<&str> = mounts
        .iter()
        .filter(|m| m.get("subPath").is_some())
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(
        sub_paths,
        ["config"],
        "only the config (its checksum rolls the pod)"
    );
    let args = strings(&container["args"]);
    for pair in [
        ["--tls-cert", "/etc/prescale/tls/tls.crt"],
        ["--tls-key", "/etc/prescale/tls/tls.key"],
        ["--tls-client-ca", "/etc/prescale/tls/ca.crt"],
    ] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }

    // KEDA's: client auth, in KEDA's namespace, into the Secret the ClusterTriggerAuthentication
    // reads, with the keys cert-manager writes; same issuer, so the CAs match.
    let keda = certificate_in(&docs, "keda-system");
    assert_eq!(keda["spec"]["secretName"], "prescale-keda-client");
    assert_eq!(keda["spec"]["commonName"], "keda-operator");
    let usages = strings(&keda["spec"]["usages"]);
    assert!(usages.contains(&"client auth"), "{usages:?}");
    assert!(!usages.contains(&"server auth"), "{usages:?}");
    assert_eq!(keda["spec"]["issuerRef"], issuer);
    let cta = one(&docs, "ClusterTriggerAuthentication");
    let refs: Vec<(&str, &str, &str)> = cta["spec"]["secretTargetRef"]
        .as_array()
        .expect("refs")
        .iter()
        .map(|r| {
            (
                r["parameter"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                r["key"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            ("caCert", "prescale-keda-client", "ca.crt"),
            ("tlsClientCert", "prescale-keda-client", "tls.crt"),
            ("tlsClientKey", "prescale-keda-client", "tls.key"),
        ]
    );
    assert_eq!(
        so["spec"]["triggers"][0]["authenticationRef"]["name"],
        cta["metadata"]["name"]
    );
    // The NetworkPolicy follows KEDA's namespace.
    let np = one(&docs, "NetworkPolicy");
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "keda-system"
    );
}

#[test]
fn cert_manager_follows_release_names_and_options() {
    let Some(helm) = helm() else { return };
    let base = json!({
        "tls": {
            "enabled": true,
            "secretName": "grpc-cert",
            "certManager": {
                "enabled": true,
                "issuerRef": {"name": "internal-ca", "kind": "ClusterIssuer"},
                "clusterDomain": "corp.local",
                "privateKey": {"algorithm": "RSA", "size": 3072},
            },
        },
    });
    let docs =
        documents(&template_with(&helm, "edge", "ml", &base).unwrap_or_else(|e| panic!("{e}")));
    let server = certificate_in(&docs, "ml");
    assert_eq!(server["metadata"]["name"], "edge-prescale-server");
    assert_eq!(server["spec"]["secretName"], "grpc-cert");
    assert_eq!(volume(&docs, "tls")["secret"]["secretName"], "grpc-cert");
    assert_eq!(
        strings(&server["spec"]["dnsNames"]),
        [
            "edge-prescale",
            "edge-prescale.ml",
            "edge-prescale.ml.svc",
            "edge-prescale.ml.svc.corp.local",
        ]
    );
    assert_eq!(
        strings(&server["spec"]["usages"]),
        ["digital signature", "key encipherment", "server auth"]
    );
    assert_eq!(server["spec"]["privateKey"]["size"], 3072);
    let keda = certificate_in(&docs, "keda");
    assert_eq!(keda["metadata"]["name"], "edge-prescale-keda-client");

    // Server-side TLS only: KEDA still gets the CA (from its certificate's ca.crt) for the
    // ClusterTriggerAuthentication, the server asks for no client certificate.
    let mut values = base.clone();
    values["tls"]["clientAuth"] = json!(false);
    let docs =
        documents(&template_with(&helm, "edge", "ml", &values).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(of_kind(&docs, "Certificate").len(), 2);
    let args = strings(&server_container(&docs)["args"]);
    assert!(!args.contains(&"--tls-client-ca"), "{args:?}");
    let items = volume(&docs, "tls")["secret"]["items"].to_string();
    assert!(!items.contains("ca.crt"), "{items}");
    let cta = one(&docs, "ClusterTriggerAuthentication");
    assert_eq!(
        cta["spec"]["secretTargetRef"],
        json!([{"parameter": "caCert", "name": "prescale-keda-client", "key": "ca.crt"}])
    );

    // Nothing on KEDA's side is asked for: the server's certificate only.
    values["tls"]["keda"] = json!({"triggerAuthentication": false});
    let docs =
        documents(&template_with(&helm, "edge", "ml", &values).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(of_kind(&docs, "Certificate").len(), 1);
    assert!(of_kind(&docs, "ClusterTriggerAuthentication").is_empty());

    // A namespaced Issuer is fine when KEDA shares the release's namespace.
    let mut values = base.clone();
    values["tls"]["certManager"]["issuerRef"]["kind"] = json!("Issuer");
    values["keda"] = json!({"namespace": "ml"});
    let docs =
        documents(&template_with(&helm, "edge", "ml", &values).unwrap_or_else(|e| panic!("{e}")));
    for c in of_kind(&docs, "Certificate") {
        assert_eq!(c["metadata"]["namespace"], "ml");
        assert_eq!(c["spec"]["issuerRef"]["kind"], "Issuer");
    }

    // A Secret given by hand: no Certificate.
    let docs = render(
        &helm,
        "prescale",
        "prescale-system",
        &[
            "-f",
            &chart().join("ci/hardened-values.yaml").to_string_lossy(),
        ],
    );
    assert!(of_kind(&docs, "Certificate").is_empty());
}

fn rejects(helm: &Path, values: &Value, expected: &str) {
    assert_rejected(helm, "prescale", "prescale-system", values, expected);
}

#[test]
fn tls_values_that_do_not_fit_fail_naming_the_value() {
    let Some(helm) = helm() else { return };
    let cm = |fields: Value| {
        let mut v = json!({
            "tls": {
                "enabled": true,
                "certManager": {"enabled": true, "issuerRef": {"name": "ca"}},
            },
        });
        for (k, f) in fields.as_object().cloned().unwrap_or_default() {
            if k == "keda" {
                v["keda"] = f;
            } else {
                v["tls"]["certManager"][k] = f;
            }
        }
        v
    };
    rejects(
        &helm,
        &json!({"tls": {"enabled": true}}),
        "tls.secretName: required when tls.enabled is true, unless tls.certManager.enabled: \
         the Secret with the server's tls.crt and tls.key and ca.crt (the CA of KEDA's client \
         certificates, for tls.clientAuth)",
    );
    rejects(
        &helm,
        &json!({"tls": {"enabled": true, "clientAuth": false}}),
        "tls.secretName: required when tls.enabled is true, unless tls.certManager.enabled: \
         the Secret with the server's tls.crt and tls.key\n",
    );
    rejects(
        &helm,
        &json!({"tls": {"certManager": {"enabled": true, "issuerRef": {"name": "ca"}}}}),
        "tls.certManager.enabled: needs tls.enabled=true",
    );
    rejects(
        &helm,
        &cm(json!({"issuerRef": {"name": ""}})),
        "tls.certManager.issuerRef.name: required when tls.certManager.enabled is true",
    );
    rejects(
        &helm,
        &cm(json!({"issuerRef": {"name": "ca", "kind": "Issuer"}})),
        "tls.certManager.issuerRef.kind: an Issuer signs only in its own namespace, but KEDA's \
         certificate is issued in keda.namespace (keda), not the release's (prescale-system): \
         use a ClusterIssuer",
    );
    rejects(
        &helm,
        &cm(json!({"privateKey": {"algorithm": "RSA", "size": 1024}})),
        "tls.certManager.privateKey.size: RSA keys need at least 2048 bits, got 1024",
    );
    rejects(
        &helm,
        &cm(json!({"privateKey": {"algorithm": "ECDSA", "size": 2048}})),
        "tls.certManager.privateKey.size: ECDSA keys are 256, 384 or 521 bits, got 2048",
    );
    // Each value alone: the schema.
    for (values, field) in [
        (cm(json!({"duration": "90d"})), "tls.certManager.duration"),
        (cm(json!({"issuer": "ca"})), "tls.certManager"),
        (
            cm(json!({"privateKey": {"algorithm": "DSA"}})),
            "tls.certManager.privateKey.algorithm",
        ),
        (
            cm(json!({"extraDnsNames": ["https://x"]})),
            "tls.certManager.extraDnsNames.0",
        ),
        (
            cm(json!({"keda": {"namespace": "Keda_NS"}})),
            "keda.namespace",
        ),
        (
            cm(json!({"keda": {"operatorLabels": {"app": 1}}})),
            "keda.operatorLabels.app",
        ),
    ] {
        rejects(&helm, &values, field);
    }
}

/// Whether a NetworkPolicy peer admits a pod with `pod_labels` in a namespace named
/// `namespace` (its `kubernetes.io/metadata.name` label); matchLabels only, as the chart uses.
fn admits(peer: &Value, namespace: &str, pod_labels: &Map<String, Value>) -> bool {
    let matches = |selector: &Value, labels: &Map<String, Value>| {
        assert!(
            selector.get("matchExpressions").is_none(),
            "matchExpressions not modelled here"
        );
        selector["matchLabels"]
            .as_object()
            .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    let ns_labels = labels(json!({"kubernetes.io/metadata.name": namespace}));
    assert!(peer.get("ipBlock").is_none(), "ipBlock not modelled here");
    match (peer.get("namespaceSelector"), peer.get("podSelector")) {
        (None, None) => false,
        (Some(ns), None) => matches(ns, &ns_labels),
        // A podSelector alone selects pods of the policy's own namespace.
        (None, Some(pod)) => namespace == "prescale-system" && matches(pod, pod_labels),
        (Some(ns), Some(pod)) => matches(ns, &ns_labels) && matches(pod, pod_labels),
    }
}

/// Whether the rule for `port` admits the pod (a rule without `from` admits everyone).
fn port_admits(np: &Value, port: &str, namespace: &str, labels: &Map<String, Value>) -> bool {
    np["spec"]["ingress"]
        .as_array()
        .expect("ingress")
        .iter()
        .filter(|rule| {
            rule["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["port"] == port))
        })
        .any(|rule| match rule.get("from") {
            None => true,
            Some(from) => from
                .as_array()
                .expect("from")
                .iter()
                .any(|peer| admits(peer, namespace, labels)),
        })
}

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("labels")
}

/// The labels KEDA's chart (kedacore/charts, keda/templates/manager/deployment.yaml) and its
/// metrics API server and admission webhooks give their pods.
fn keda_pods() -> [(&'static str, Map<String, Value>); 3] {
    let common = |name: &str| {
        labels(json!({
            "app": name,
            "name": name,
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": "operator",
            "app.kubernetes.io/instance": "keda",
            "app.kubernetes.io/part-of": "keda-operator",
            "app.kubernetes.io/managed-by": "Helm",
        }))
    };
    [
        ("keda-operator", common("keda-operator")),
        (
            "keda-operator-metrics-apiserver",
            common("keda-operator-metrics-apiserver"),
        ),
        ("keda-admission-webhooks", common("keda-admission-webhooks")),
    ]
}

#[test]
fn network_policy_admits_only_keda_operator_to_grpc_by_default() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, "prescale", "prescale-system", &[]);
    let np = one(&docs, "NetworkPolicy");
    assert_eq!(
        np["spec"]["policyTypes"],
        json!(["Ingress"]),
        "egress stays open"
    );
    let ingress = np["spec"]["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        ingress[0]["ports"],
        json!([{"port": "grpc", "protocol": "TCP"}])
    );
    assert_eq!(
        ingress[0]["from"],
        json!([
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
                "podSelector": {"matchLabels": {"app": "keda-operator"}},
            },
            {"podSelector": {"matchLabels": {
                "app.kubernetes.io/name": "prescale-test",
                "app.kubernetes.io/instance": "prescale",
                "app.kubernetes.io/component": "test-grpc",
            }}},
        ])
    );
    assert_eq!(
        ingress[1]["ports"],
        json!([{"port": "http", "protocol": "TCP"}])
    );
    assert!(ingress[1].get("from").is_none(), "HTTP open by default");
    // It selects the server's pods.
    let deployment = one(&docs, "Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (k, v) in np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("selector")
    {
        assert_eq!(&pod_labels[k], v);
    }

    // Who gets in on gRPC: KEDA's operator, not its other pods, not the same labels elsewhere,
    // not the release's own namespace.
    let [(_, operator), (_, metrics), (_, webhooks)] = keda_pods();
    assert!(port_admits(np, "grpc", "keda", &operator));
    assert!(!port_admits(np, "grpc", "keda", &metrics));
    assert!(!port_admits(np, "grpc", "keda", &webhooks));
    assert!(!port_admits(np, "grpc", "default", &operator));
    let test_pod = named(&docs, "Pod", "-test");
    let test_labels = labels(test_pod["metadata"]["labels"].clone());
    assert!(!port_admits(np, "grpc", "prescale-system", &test_labels));
    // Everyone on HTTP: Prometheus, and the `helm test` pod, which only calls HTTP.
    let prometheus = labels(json!({"app.kubernetes.io/name": "prometheus"}));
    assert!(port_admits(np, "http", "monitoring", &prometheus));
    assert!(port_admits(np, "http", "prescale-system", &test_labels));
    let script = test_pod["spec"]["containers"][0]["command"].to_string();
    assert!(script.contains(":8080"), "{script}");
    assert!(
        !script.contains(":6000"),
        "the test pod calls gRPC: {script}"
    );
    // The gRPC test pod, and only it, gets in on gRPC from the release's namespace.
    let grpc_test = labels(named(&docs, "Pod", "-test-grpc")["metadata"]["labels"].clone());
    assert!(port_admits(np, "grpc", "prescale-system", &grpc_test));
    assert!(!port_admits(np, "grpc", "default", &grpc_test));
    let docs = render(
        &helm,
        "prescale",
        "prescale-system",
        &["--set", "tests.grpc.enabled=false"],
    );
    assert_eq!(of_kind(&docs, "Pod").len(), 1);
    let np = one(&docs, "NetworkPolicy");
    assert!(!port_admits(np, "grpc", "prescale-system", &grpc_test));
}

#[test]
fn network_policy_follows_its_values() {
    let Some(helm) = helm() else { return };
    // KEDA elsewhere, with other labels.
    let docs = documents(
        &template_with(
            &helm,
            "prescale",
            "prescale-system",
            &json!({"keda": {"namespace": "autoscaling", "operatorLabels": {"app.kubernetes.io/name": "keda-operator"}}}),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let np = one(&docs, "NetworkPolicy");
    let [(_, operator), _, _] = keda_pods();
    assert!(port_admits(np, "grpc", "autoscaling", &operator));
    assert!(!port_admits(np, "grpc", "keda", &operator));
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "keda-operator"})
    );

    // grpcFrom replaces the default; httpFrom closes HTTP to it and the test pod.
    let docs = documents(
        &template_with(
            &helm,
            "prescale",
            "prescale-system",
            &json!({"networkPolicy": {
                "grpcFrom": [{"namespaceSelector": {}}],
                "httpFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            }}),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let np = one(&docs, "NetworkPolicy");
    let anyone = labels(json!({"app": "client"}));
    assert!(port_admits(np, "grpc", "default", &anyone));
    assert!(!port_admits(np, "http", "default", &anyone));
    assert!(port_admits(np, "http", "monitoring", &anyone));
    let test_labels = labels(named(&docs, "Pod", "-test")["metadata"]["labels"].clone());
    assert!(port_admits(np, "http", "prescale-system", &test_labels));

    // Off.
    let docs = render(
        &helm,
        "prescale",
        "prescale-system",
        &["--set", "networkPolicy.enabled=false"],
    );
    assert!(of_kind(&docs, "NetworkPolicy").is_empty());
}
