//! Chart values from a `prescale generate` spec: each service of the spec becomes an entry of
//! `services` with `enabled: true` and the same fields, so that `helm template` and
//! `prescale generate` can be compared on the same input.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The chart's own example entries; spec services never land on these keys (their defaults
/// would be merged in).
const CHART_KEYS: &[&str] = &["vllm", "celery", "training"];

/// The values key of a spec service: `<namespace>-<name>`, unique per spec and never one of
/// the chart's example keys (it has a `-`).
pub fn service_key(service: &Value) -> String {
    let name = service.get("name").and_then(Value::as_str).unwrap_or("");
    let namespace = service
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    format!("{namespace}-{name}")
}

/// `{services: {<key>: {enabled: true, ...}}}` for the services of the spec `text`.
pub fn values_from_spec(text: &str, file: &str) -> Result<Value> {
    let bad = |reason: String| Error::Spec {
        file: file.to_string(),
        reason,
    };
    let spec: Value = yaml_serde::from_str(text).map_err(|e| bad(e.to_string()))?;
    let services = spec
        .get("services")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `services` list".into()))?;
    let mut entries = Map::new();
    for (i, service) in services.iter().enumerate() {
        let Some(fields) = service.as_object() else {
            return Err(bad(format!("services[{i}]: not a mapping")));
        };
        let key = service_key(service);
        if CHART_KEYS.contains(&key.as_str()) || entries.contains_key(&key) {
            return Err(bad(format!("services[{i}]: duplicate key `{key}`")));
        }
        let mut entry = Map::new();
        entry.insert("enabled".into(), Value::Bool(true));
        entry.extend(fields.clone());
        entries.insert(key, Value::Object(entry));
    }
    let mut values = Map::new();
    values.insert("services".into(), Value::Object(entries));
    Ok(Value::Object(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_services_become_enabled_entries() {
        let v = values_from_spec(
            "services:\n  - name: chat\n    namespace: inference\n    kind: vllm\n    triggers: [{type: predictive}]\n  - name: w\n    kind: celery\n    triggers: []\n",
            "s.yaml",
        )
        .unwrap();
        let chat = &v["services"]["inference-chat"];
        assert_eq!(chat["enabled"], true);
        assert_eq!(chat["kind"], "vllm");
        assert_eq!(chat["name"], "chat");
        assert_eq!(chat["triggers"][0]["type"], "predictive");
        assert_eq!(v["services"]["default-w"]["kind"], "celery");
        let err = values_from_spec("services: 3", "s.yaml").unwrap_err();
        assert_eq!(err.to_string(), "s.yaml: no `services` list");
        let dup = "services:\n  - {name: a, kind: vllm}\n  - {name: a, kind: vllm}\n";
        assert!(
            values_from_spec(dup, "s.yaml")
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
    }
}
