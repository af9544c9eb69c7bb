//! What the RabbitMQ and predictive triggers generate: the RabbitMQ protocol (management API
//! for Celery, so that prefetched tasks count), and an authentication for the predictive
//! trigger's TLS connection to the prescale server.

use prescale_manifests::schema::Schemas;
use prescale_manifests::{generate, render, spec_warnings, validate_manifests};
use serde_json::{Value, json};

fn spec(kind: &str, trigger: &str) -> String {
    let job = if kind == "training" {
        "    job:\n      image: train:1\n"
    } else {
        ""
    };
    format!(
        "services:\n  - name: svc\n    namespace: ns\n    kind: {kind}\n{job}    triggers:\n{trigger}"
    )
}

const RABBIT: &str = "      - type: rabbitmq\n        secret:\n          name: broker\n";

/// The first trigger of the scaled resource (the last resource) of `text`, after checking
/// that the whole output passes the KEDA schemas and rules.
fn first_trigger(text: &str) -> Value {
    let resources = generate(text, "s.yaml").unwrap_or_else(|e| panic!("{e}"));
    let yaml = render(&resources).expect("YAML");
    let schemas = Schemas::embedded().expect("schemas");
    validate_manifests(&yaml, "out.yaml", &schemas).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    resources.last().expect("a resource")["spec"]["triggers"][0].clone()
}

#[test]
fn celery_reads_rabbitmq_over_the_management_api_by_default() {
    let t = first_trigger(&spec("celery", RABBIT));
    assert_eq!(t["metadata"]["protocol"], "http", "{t}");
    let amqp = RABBIT.replace("secret:", "protocol: amqp\n        secret:");
    let t = first_trigger(&spec("celery", &amqp));
    assert_eq!(t["metadata"]["protocol"], "amqp", "{t}");
}

#[test]
fn training_leaves_the_protocol_to_keda_unless_set() {
    let t = first_trigger(&spec("training", RABBIT));
    assert_eq!(t["metadata"].get("protocol"), None, "{t}");
    let rate = RABBIT.replace("secret:", "mode: MessageRate\n        secret:");
    let err = generate(&spec("training", &rate), "s.yaml").unwrap_err();
    assert!(err.to_string().contains("needs `protocol: http`"), "{err}");
    let rate = rate.replace("mode:", "protocol: http\n        mode:");
    let t = first_trigger(&spec("training", &rate));
    assert_eq!(t["metadata"]["protocol"], "http", "{t}");
    assert_eq!(t["metadata"]["mode"], "MessageRate", "{t}");
}

#[test]
fn celery_over_amqp_is_warned_about() {
    assert!(
        spec_warnings(&spec("celery", RABBIT), "s.yaml")
            .expect("valid")
            .is_empty()
    );
    let amqp = RABBIT.replace("secret:", "protocol: amqp\n        secret:");
    let w = spec_warnings(&spec("celery", &amqp), "s.yaml").expect("valid");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "services[0].triggers[0].protocol");
    assert!(w[0].message.contains("prefetched"), "{}", w[0].message);
}

#[test]
fn a_predictive_trigger_takes_an_authentication_for_tls() {
    let predictive = "      - type: predictive\n        query: sum(rate(gw[1m]))\n        \
                      threshold: 2\n        address: prescale.ops.svc:6000\n";
    for (auth, want) in [
        (
            "        authentication:\n          name: prescale-tls\n          cluster: true\n",
            json!({"name": "prescale-tls", "kind": "ClusterTriggerAuthentication"}),
        ),
        (
            "        authentication:\n          name: prescale-client\n",
            json!({"name": "prescale-client"}),
        ),
    ] {
        let t = first_trigger(&spec("vllm", &format!("{predictive}{auth}")));
        assert_eq!(t["type"], "external");
        assert_eq!(t["authenticationRef"], want, "{t}");
    }
    let t = first_trigger(&spec("vllm", predictive));
    assert_eq!(t.get("authenticationRef"), None, "{t}");
}
