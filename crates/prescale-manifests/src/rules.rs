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
