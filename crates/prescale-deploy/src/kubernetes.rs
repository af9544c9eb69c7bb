//! Validation of built-in Kubernetes objects against the strict JSON schemas of Kubernetes
//! v1.33 (`schemas/kubernetes-v1.33-strict.json`, see `schemas/SOURCE.md`): unknown fields,
//! wrong types and missing required fields are reported with the field's path.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Error, Result};

const SCHEMAS: &str = include_str!("../schemas/kubernetes-v1.33-strict.json");

/// The schemas of the built-in kinds the chart renders.
pub struct KubeSchemas {
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl std::fmt::Debug for KubeSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSchemas")
            .field("kinds", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `apiVersion/kind`, e.g. `apps/v1/Deployment`.
fn key(resource: &Value) -> Option<String> {
    let api = resource.get("apiVersion")?.as_str()?;
    let kind = resource.get("kind")?.as_str()?;
    Some(format!("{api}/{kind}"))
}

impl KubeSchemas {
    /// The embedded schemas, compiled.
    pub fn embedded() -> Result<Self> {
        let doc: Value =
            serde_json::from_str(SCHEMAS).map_err(|e| Error::Schema(format!("embedded: {e}")))?;
        let defs = doc
            .get("$defs")
            .cloned()
            .ok_or_else(|| Error::Schema("embedded: no $defs".into()))?;
        let kinds = doc
            .get("kinds")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Schema("embedded: no kinds".into()))?;
        let mut validators = BTreeMap::new();
        for (kind, reference) in kinds {
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": reference,
                "$defs": defs,
            });
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .map_err(|e| Error::Schema(format!("{kind}: {e}")))?;
            validators.insert(kind.clone(), v);
        }
        Ok(Self { validators })
    }

    /// Whether a schema exists for the resource's `apiVersion` and `kind`.
    pub fn knows(&self, resource: &Value) -> bool {
        key(resource).is_some_and(|k| self.validators.contains_key(&k))
    }

    /// The violations of `resource` (empty when valid), each `path: message`; a resource of
    /// an unknown kind is one violation.
    pub fn validate(&self, resource: &Value) -> Vec<String> {
        let Some(k) = key(resource) else {
            return vec!["apiVersion/kind: missing".into()];
        };
        let Some(validator) = self.validators.get(&k) else {
            return vec![format!("{k}: no schema for this kind")];
        };
        validator
            .iter_errors(resource)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i",
                        "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    #[test]
    fn accepts_valid_and_names_the_bad_field() {
        let s = KubeSchemas::embedded().unwrap();
        let d = deployment();
        assert!(s.knows(&d));
        assert_eq!(s.validate(&d), Vec::<String>::new());

        let mut typo = d.clone();
        typo["spec"]["template"]["spec"]["containers"][0]["ports"][0] =
            json!({"containerport": 80});
        let errors = s.validate(&typo).join("\n");
        assert!(
            errors.contains("/spec/template/spec/containers/0/ports/0"),
            "{errors}"
        );
        assert!(errors.contains("containerport"), "{errors}");

        let mut missing = d.clone();
        missing["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert!(s.validate(&missing).join("\n").contains("\"name\""));

        let mut wrong_type = d;
        wrong_type["spec"]["replicas"] = json!("two");
        assert!(
            s.validate(&wrong_type)
                .join("\n")
                .contains("/spec/replicas")
        );

        let unknown = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
        assert!(!s.knows(&unknown));
        assert_eq!(
            s.validate(&unknown),
            vec!["example.com/v1/Widget: no schema for this kind"]
        );
    }
}
