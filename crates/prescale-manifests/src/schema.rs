//! Validation of manifests against the KEDA CRD schemas.
//!
//! The crate embeds the `openAPIV3Schema` of the ScaledObject, ScaledJob,
//! TriggerAuthentication and ClusterTriggerAuthentication CRDs of KEDA v2.20.2 (descriptions
//! removed, the ScaledJob pod template reduced to `type: object`; regenerate with
//! `scripts/trim-keda-schemas.py`). Objects with `properties` are made closed
//! (`additionalProperties: false`, unless they preserve unknown fields), as the API server's
//! strict field validation rejects unknown fields.

use std::collections::BTreeMap;

use serde_json::Value;

/// The trigger types KEDA v2.20.2 knows (`schema/generated/scalers-schema.yaml`).
pub const KNOWN_TRIGGER_TYPES: &[&str] = &[
    "activemq",
    "apache-kafka",
    "arangodb",
    "artemis-queue",
    "aws-cloudwatch",
    "aws-dynamodb",
    "aws-dynamodb-streams",
    "aws-kinesis-stream",
    "aws-sqs-queue",
    "azure-app-insights",
    "azure-blob",
    "azure-data-explorer",
    "azure-eventhub",
    "azure-log-analytics",
    "azure-monitor",
    "azure-pipelines",
    "azure-queue",
    "azure-servicebus",
    "beanstalkd",
    "cassandra",
    "couchdb",
    "cpu",
    "cron",
    "datadog",
    "dynatrace",
    "elastic-forecast",
    "elasticsearch",
    "etcd",
    "external",
    "external-push",
    "forgejo-runner",
    "gcp-cloudtasks",
    "gcp-pubsub",
    "gcp-stackdriver",
    "gcp-storage",
    "github-runner",
    "graphite",
    "huawei-cloudeye",
    "ibmmq",
    "influxdb",
    "kafka",
    "kubernetes-resource",
    "kubernetes-workload",
    "liiklus",
    "loki",
    "memory",
    "metrics-api",
    "mongodb",
    "mssql",
    "mysql",
    "nats-jetstream",
    "new-relic",
    "nsq",
    "opensearch",
    "openstack-metric",
    "openstack-swift",
    "postgresql",
    "predictkube",
    "prometheus",
    "pulsar",
    "rabbitmq",
    "redis",
    "redis-cluster",
    "redis-cluster-streams",
    "redis-sentinel",
    "redis-sentinel-streams",
    "redis-streams",
    "selenium-grid",
    "solace-direct-messaging",
    "solace-event-queue",
    "solarwinds",
    "solr",
    "splunk",
    "splunk-observability",
    "sumologic",
    "temporal",
];

const EMBEDDED: [(&str, &str); 4] = [
    ("ScaledObject", include_str!("../schemas/scaledobject.json")),
    ("ScaledJob", include_str!("../schemas/scaledjob.json")),
    (
        "TriggerAuthentication",
        include_str!("../schemas/triggerauthentication.json"),
    ),
    (
        "ClusterTriggerAuthentication",
        include_str!("../schemas/clustertriggerauthentication.json"),
    ),
];

/// One schema violation: the field path (`spec.triggers[0].type`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted field path in the document.
    pub path: String,
    /// The validator's message.
    pub message: String,
}

/// Compiled schemas by resource kind.
pub struct Schemas {
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("kinds", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Schemas {
    /// The schemas embedded in the crate.
    pub fn embedded() -> Result<Self, String> {
        let mut pairs = Vec::new();
        for (kind, text) in EMBEDDED {
            let schema: Value =
                serde_json::from_str(text).map_err(|e| format!("embedded {kind} schema: {e}"))?;
            pairs.push((kind.to_string(), schema));
        }
        Self::from_schemas(pairs)
    }

    /// Schemas from full CRD documents (`apiextensions.k8s.io/v1` CustomResourceDefinition
    /// values): the `openAPIV3Schema` of each CRD's first version, keyed by its kind.
    pub fn from_crds(crds: &[Value]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for crd in crds {
            let kind = crd
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .ok_or("a CRD without spec.names.kind")?;
            let schema = crd
                .pointer("/spec/versions/0/schema/openAPIV3Schema")
                .ok_or_else(|| format!("CRD {kind} has no openAPIV3Schema"))?;
            pairs.push((kind.to_string(), schema.clone()));
        }
        Self::from_schemas(pairs)
    }

    fn from_schemas(pairs: Vec<(String, Value)>) -> Result<Self, String> {
        let mut validators = BTreeMap::new();
        for (kind, mut schema) in pairs {
            close_objects(&mut schema);
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&schema)
                .map_err(|e| format!("{kind} schema: {e}"))?;
            validators.insert(kind, v);
        }
        Ok(Self { validators })
    }

    /// The kinds these schemas cover.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.validators.keys().map(String::as_str)
    }

    /// Validates one resource by its `kind`; a kind without schema is a violation.
    pub fn validate(&self, doc: &Value) -> Vec<Violation> {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        let Some(v) = self.validators.get(kind) else {
            let known: Vec<&str> = self.kinds().collect();
            return vec![Violation {
                path: "kind".into(),
                message: format!(
                    "unknown kind `{kind}` (expected one of {})",
                    known.join(", ")
                ),
            }];
        };
        v.iter_errors(doc)
            .map(|e| {
                let mut path = pointer_to_path(&e.instance_path().to_string());
                let message = e.to_string();
                // Point at the first unexpected field rather than its parent.
                if let Some(field) = message
                    .strip_prefix("Additional properties are not allowed ('")
                    .and_then(|rest| rest.split('\'').next())
                {
                    path = if path.is_empty() {
                        field.to_string()
                    } else {
                        format!("{path}.{field}")
                    };
                }
                Violation { path, message }
            })
            .collect()
    }
}

/// `/spec/triggers/0/type` → `spec.triggers[0].type`.
pub(crate) fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Adds `additionalProperties: false` to every object schema with `properties` that does
/// not already say what other keys may hold or preserve unknown fields.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let open = map.contains_key("additionalProperties")
                || map
                    .get("x-kubernetes-preserve-unknown-fields")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            if map.contains_key("properties") && !open {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                close_objects(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            pointer_to_path("/spec/triggers/0/type"),
            "spec.triggers[0].type"
        );
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(
            pointer_to_path("/metadata/labels/a~1b"),
            "metadata.labels.a/b"
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_violations() {
        let s = Schemas::embedded().expect("compile");
        let doc = serde_json::json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "cpu", "metadata": {}}],
                     "minReplicas": 1},
        });
        let v = s.validate(&doc);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].path, "spec.minReplicas");
        assert!(v[0].message.contains("minReplicas"), "{}", v[0].message);
        let v = s.validate(&serde_json::json!({"kind": "Deployment"}));
        assert_eq!(v[0].path, "kind");
    }
}
