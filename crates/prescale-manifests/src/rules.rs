//! KEDA rules that the CRD schemas cannot express, checked on manifests: what the admission
//! webhook or the operator would reject at runtime.

use std::collections::BTreeSet;

use prescale_policy::Formula;
use serde_json::Value;

use crate::schema::{KNOWN_TRIGGER_TYPES, Violation};

fn violation(path: impl Into<String>, message: impl Into<String>) -> Violation {
    Violation {
        path: path.into(),
        message: message.into(),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn is_resource(t: &str) -> bool {
    t == "cpu" || t == "memory"
}

/// Whether a trigger exists while the workload has no pods, so that it can activate it:
/// not cpu/memory, and not a Prometheus query of pod-emitted vLLM or GPU series.
fn is_demand_side(trigger: &Value) -> bool {
    let t = str_at(trigger, "type").unwrap_or_default();
    if is_resource(t) {
        return false;
    }
    if t == "prometheus" {
        let query = trigger
            .pointer("/metadata/query")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return !(query.contains("vllm:") || query.contains("DCGM_"));
    }
    true
}

/// Metadata keys KEDA requires in the trigger itself for the trigger types prescale generates
/// (keys that may come from a TriggerAuthentication, such as the RabbitMQ `host`, are not
/// listed).
const REQUIRED_METADATA: &[(&str, &[&str])] = &[
    ("prometheus", &["serverAddress", "query", "threshold"]),
    ("rabbitmq", &["queueName"]),
    ("redis", &["listName"]),
    ("external", &["scalerAddress"]),
    ("external-push", &["scalerAddress"]),
    ("cron", &["timezone", "start", "end", "desiredReplicas"]),
    ("cpu", &["value"]),
    ("memory", &["value"]),
];

/// The runtime rules for one resource (ScaledObject or ScaledJob; other kinds have none).
pub fn check_resource(doc: &Value) -> Vec<Violation> {
    let kind = str_at(doc, "kind").unwrap_or_default();
    if kind != "ScaledObject" && kind != "ScaledJob" {
        return Vec::new();
    }
    let mut out = Vec::new();
    let empty = Vec::new();
    let spec = doc.get("spec").unwrap_or(&Value::Null);
    let triggers = spec
        .get("triggers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut names = BTreeSet::new();
    for (i, t) in triggers.iter().enumerate() {
        let path = format!("spec.triggers[{i}]");
        let ty = str_at(t, "type").unwrap_or_default();
        if !KNOWN_TRIGGER_TYPES.contains(&ty) {
            out.push(violation(
                format!("{path}.type"),
                format!("unknown KEDA trigger type `{ty}`"),
            ));
        }
        let required = REQUIRED_METADATA
            .iter()
            .find(|(t, _)| *t == ty)
            .map_or(&[][..], |(_, keys)| *keys);
        for key in required {
            if t.pointer(&format!("/metadata/{key}")).is_none() {
                out.push(violation(
                    format!("{path}.metadata"),
                    format!("`{ty}` trigger needs metadata `{key}`"),
                ));
            }
        }
        if kind == "ScaledJob" && is_resource(ty) {
            out.push(violation(
                format!("{path}.type"),
                "cpu and memory triggers are not available for a ScaledJob",
            ));
        }
        if let Some(name) = str_at(t, "name")
            && !names.insert(name.to_string())
        {
            out.push(violation(
                format!("{path}.name"),
                format!("duplicate trigger name `{name}`"),
            ));
        }
        if t.get("useCachedMetrics").and_then(Value::as_bool) == Some(true)
            && (is_resource(ty) || ty == "cron")
        {
            out.push(violation(
                format!("{path}.useCachedMetrics"),
                format!("not supported for `{ty}` triggers"),
            ));
        }
        if str_at(t, "metricType") == Some("Utilization") && !is_resource(ty) {
            out.push(violation(
                format!("{path}.metricType"),
                "`Utilization` is only for cpu and memory triggers",
            ));
        }
    }
    if kind == "ScaledObject" {
        check_scaled_object(spec, triggers, &mut out);
    }
    out
}

fn check_scaled_object(spec: &Value, triggers: &[Value], out: &mut Vec<Violation>) {
    let int = |k: &str| spec.get(k).and_then(Value::as_i64);
    let min = int("minReplicaCount").unwrap_or(0);
    let idle = int("idleReplicaCount");
    if let Some(idle) = idle
        && idle >= min
    {
        out.push(violation(
            "spec.idleReplicaCount",
            format!("must be < minReplicaCount ({min})"),
        ));
    }
    let to_zero = min == 0 || idle == Some(0);
    let field = if min == 0 {
        "spec.minReplicaCount"
    } else {
        "spec.idleReplicaCount"
    };
    let types: Vec<&str> = triggers
        .iter()
        .map(|t| str_at(t, "type").unwrap_or_default())
        .collect();
    if to_zero && !types.is_empty() && types.iter().all(|t| is_resource(t)) {
        out.push(violation(
            field,
            "cpu/memory-only triggers cannot scale to zero (KEDA rejects minReplicaCount 0 with them)",
        ));
    } else if to_zero && !triggers.is_empty() && !triggers.iter().any(is_demand_side) {
        out.push(violation(
            field,
            "scaling to zero needs an activation signal that exists at zero pods (a queue, \
             gateway metric or the prescale external scaler): vLLM and GPU series vanish with the pods",
        ));
    }
    let Some(modifiers) = spec.pointer("/advanced/scalingModifiers") else {
        return;
    };
    match str_at(modifiers, "target").map(str::parse::<f64>) {
        Some(Ok(t)) if t.is_finite() && t > 0.0 => {}
        _ => out.push(violation(
            "spec.advanced.scalingModifiers.target",
            "must be a number > 0",
        )),
    }
    let Some(formula) = str_at(modifiers, "formula") else {
        out.push(violation(
            "spec.advanced.scalingModifiers.formula",
            "required with scalingModifiers",
        ));
        return;
    };
    match Formula::parse(formula) {
        Err(e) => out.push(violation(
            "spec.advanced.scalingModifiers.formula",
            e.to_string(),
        )),
        Ok(f) => {
            let names: BTreeSet<&str> = triggers
                .iter()
                .filter(|t| !is_resource(str_at(t, "type").unwrap_or_default()))
                .filter_map(|t| str_at(t, "name"))
                .collect();
            for v in f.variables() {
                if !names.contains(v.as_str()) {
                    out.push(violation(
                        "spec.advanced.scalingModifiers.formula",
                        format!("unknown trigger name `{v}`"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn so(min: i64, triggers: Value) -> Value {
        json!({"kind": "ScaledObject", "spec": {"minReplicaCount": min, "triggers": triggers}})
    }

    fn paths(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.path.as_str()).collect()
    }

    #[test]
    fn required_metadata_and_unknown_types() {
        let v = check_resource(&so(
            1,
            json!([{"type": "prometheus", "metadata": {"query": "up"}}, {"type": "kafkaa", "metadata": {}}]),
        ));
        assert_eq!(
            paths(&v),
            [
                "spec.triggers[0].metadata",
                "spec.triggers[0].metadata",
                "spec.triggers[1].type"
            ]
        );
        assert!(v[0].message.contains("serverAddress"));
    }

    #[test]
    fn scale_to_zero_needs_a_signal_that_exists_at_zero() {
        let cpu = json!([{"type": "cpu", "metadata": {"value": "50"}}]);
        assert!(check_resource(&so(1, cpu.clone())).is_empty());
        assert!(
            check_resource(&so(0, cpu))[0]
                .message
                .contains("cpu/memory-only")
        );
        let gpu = json!([{"type": "prometheus", "metadata": {
            "serverAddress": "http://p", "query": "avg(DCGM_FI_DEV_GPU_UTIL)", "threshold": "80"}}]);
        assert_eq!(
            paths(&check_resource(&so(0, gpu))),
            ["spec.minReplicaCount"]
        );
        let queue = json!([{"type": "redis", "metadata": {"listName": "q", "address": "r:6379"}}]);
        assert!(check_resource(&so(0, queue)).is_empty());
    }

    #[test]
    fn other_kinds_have_no_rules() {
        assert!(check_resource(&json!({"kind": "TriggerAuthentication"})).is_empty());
        assert!(check_resource(&Value::Null).is_empty());
    }
}
