//! KEDA rules that the CRD schemas cannot express, checked on manifests: what the admission
//! webhook or the operator would reject at runtime.

use std::collections::BTreeSet;

use prescale_policy::Formula;
use prescale_policy::metadata::is_supply_side_query;
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

/// Whether a trigger is prescale's predictive trigger: KEDA's `external` (or
/// `external-push`) trigger carrying prescale's metadata (a Prometheus `serverAddress` and a
/// `threshold`, or their `*FromEnv` forms).
fn is_prescale(trigger: &Value) -> bool {
    let ty = str_at(trigger, "type").unwrap_or_default();
    let has = |key: &str| {
        trigger.pointer(&format!("/metadata/{key}")).is_some()
            || trigger
                .pointer(&format!("/metadata/{key}FromEnv"))
                .is_some()
    };
    (ty == "external" || ty == "external-push") && has("serverAddress") && has("threshold")
}

/// A prescale trigger's demand query, if it reads series the service's pods emit.
fn supply_side_query(trigger: &Value) -> Option<&str> {
    trigger
        .pointer("/metadata/query")
        .and_then(Value::as_str)
        .filter(|q| is_prescale(trigger) && is_supply_side_query(q))
}

/// Whether a `rabbitmq` trigger in `MessageRate` mode reads the management API: `protocol:
/// http`, or `auto` (the default) with an `http(s)://` host in the metadata. True for other
/// modes, which AMQP serves too.
fn rabbitmq_over_http(trigger: &Value) -> bool {
    let md = |key: &str| {
        trigger
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
    };
    if md("mode") != Some("MessageRate") {
        return true;
    }
    match md("protocol").unwrap_or("auto") {
        "http" => true,
        "auto" => md("host").is_some_and(|h| h.starts_with("http://") || h.starts_with("https://")),
        _ => false,
    }
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
    let mut prescale = None;
    for (i, t) in triggers.iter().enumerate() {
        let path = format!("spec.triggers[{i}]");
        let ty = str_at(t, "type").unwrap_or_default();
        if is_prescale(t) {
            if let Some(first) = prescale {
                out.push(violation(
                    format!("{path}.type"),
                    format!(
                        "one prescale trigger per {kind} (spec.triggers[{first}] is one): KEDA \
                         names the {kind}, not the trigger, to the prescale server, so two would \
                         be refused or replace each other"
                    ),
                ));
            }
            prescale = Some(i);
            if str_at(t, "metricType").is_some_and(|m| m != "AverageValue") {
                out.push(violation(
                    format!("{path}.metricType"),
                    "a prescale trigger takes `AverageValue` only: its value is replicas × \
                     threshold, which the HPA divides by the replicas; under `Value` it \
                     multiplies the replicas again",
                ));
            }
        }
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
        if ty == "rabbitmq" && !rabbitmq_over_http(t) {
            out.push(violation(
                format!("{path}.metadata.protocol"),
                "`mode: MessageRate` needs `protocol: http`: KEDA reads the publish rate from the \
                 RabbitMQ management API, and over AMQP has the ready messages only (with the \
                 host in a TriggerAuthentication, `auto` cannot be checked here: set `http`)",
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
    if let Some((i, query)) = triggers
        .iter()
        .enumerate()
        .find_map(|(i, t)| supply_side_query(t).map(|q| (i, q)))
        .filter(|_| to_zero)
    {
        out.push(violation(
            format!("spec.triggers[{i}].metadata.query"),
            format!(
                "with scale-to-zero the prescale query must measure demand, not supply: `{query}` \
                 reads series the pods emit, which vanish at zero replicas (the forecast learns \
                 censored demand and cannot wake the service); query a gateway or ingress"
            ),
        ));
    }
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

/// What KEDA accepts but is likely wrong, for one resource: with `scalingModifiers`, a
/// trigger the formula does not refer to is still queried at every poll and its errors still
/// mark the ScaledObject as failing, while its value is never used.
pub fn warnings(doc: &Value) -> Vec<Violation> {
    let Some(formula) = doc
        .pointer("/spec/advanced/scalingModifiers/formula")
        .and_then(Value::as_str)
        .and_then(|f| Formula::parse(f).ok())
    else {
        return Vec::new();
    };
    let variables = formula.variables();
    let empty = Vec::new();
    let triggers = doc
        .pointer("/spec/triggers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    triggers
        .iter()
        .enumerate()
        .filter(|(_, t)| !is_resource(str_at(t, "type").unwrap_or_default()))
        .filter(|(_, t)| str_at(t, "name").is_none_or(|n| !variables.iter().any(|v| v == n)))
        .map(|(i, t)| {
            violation(
                format!("spec.triggers[{i}]"),
                format!(
                    "trigger `{}` is not in scalingModifiers.formula: KEDA still queries it, \
                     and its errors mark the ScaledObject as failing, but its value is never \
                     used (refer to it, or remove it)",
                    str_at(t, "name").unwrap_or("(unnamed)")
                ),
            )
        })
        .collect()
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

    fn prescale(name: &str, query: &str, metric_type: Option<&str>) -> Value {
        let mut t = json!({"type": "external", "name": name, "metadata": {
            "scalerAddress": "prescale:6000", "serverAddress": "http://p", "query": query,
            "threshold": "2"}});
        if let Some(m) = metric_type {
            t["metricType"] = json!(m);
        }
        t
    }

    const GATEWAY: &str = "sum(rate(gateway_requests_total[1m]))";

    #[test]
    fn one_prescale_trigger_per_scaled_object() {
        let one = json!([prescale("a", GATEWAY, None)]);
        assert!(check_resource(&so(1, one)).is_empty());
        let two = json!([prescale("a", GATEWAY, None), prescale("b", GATEWAY, None)]);
        let v = check_resource(&so(1, two));
        assert_eq!(paths(&v), ["spec.triggers[1].type"]);
        assert!(
            v[0].message.contains("one prescale trigger"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn a_prescale_trigger_takes_average_value_only() {
        let t = json!([prescale("a", GATEWAY, Some("Value"))]);
        assert_eq!(
            paths(&check_resource(&so(1, t))),
            ["spec.triggers[0].metricType"]
        );
        let t = json!([prescale("a", GATEWAY, Some("AverageValue"))]);
        assert!(check_resource(&so(1, t)).is_empty());
    }

    #[test]
    fn supply_side_demand_with_scale_to_zero_is_flagged() {
        let vllm = json!([prescale(
            "a",
            "sum(rate(vllm:request_success_total[1m]))",
            None
        )]);
        assert!(check_resource(&so(1, vllm.clone())).is_empty());
        assert_eq!(
            paths(&check_resource(&so(0, vllm))),
            ["spec.triggers[0].metadata.query"]
        );
        assert!(check_resource(&so(0, json!([prescale("a", GATEWAY, None)]))).is_empty());
    }

    #[test]
    fn triggers_a_formula_ignores_are_warned_about() {
        let doc = json!({"kind": "ScaledObject", "spec": {
        "advanced": {"scalingModifiers": {"formula": "max(a, b / 2)", "target": "1"}},
        "triggers": [
            prescale("a", GATEWAY, None),
            {"type": "prometheus", "name": "b", "metadata": {}},
            {"type": "prometheus", "name": "kv_cache", "metadata": {}},
            {"type": "cpu", "name": "cpu", "metadata": {"value": "50"}},
        ]}});
        let w = warnings(&doc);
        assert_eq!(paths(&w), ["spec.triggers[2]"]);
        assert!(w[0].message.contains("`kv_cache`"), "{}", w[0].message);
        assert!(warnings(&so(0, json!([prescale("a", GATEWAY, None)]))).is_empty());
    }

    #[test]
    fn message_rate_needs_the_http_protocol() {
        let rabbit = |md: Value| json!([{"type": "rabbitmq", "metadata": md}]);
        for ok in [
            json!({"queueName": "q", "mode": "MessageRate", "protocol": "http"}),
            json!({"queueName": "q", "mode": "MessageRate", "host": "https://u:p@r:15672/v"}),
            json!({"queueName": "q", "mode": "QueueLength", "protocol": "amqp"}),
        ] {
            assert!(
                check_resource(&so(1, rabbit(ok.clone()))).is_empty(),
                "{ok}"
            );
        }
        for bad in [
            json!({"queueName": "q", "mode": "MessageRate", "protocol": "amqp"}),
            json!({"queueName": "q", "mode": "MessageRate"}),
            json!({"queueName": "q", "mode": "MessageRate", "host": "amqp://u:p@r:5672/v"}),
        ] {
            let v = check_resource(&so(1, rabbit(bad.clone())));
            assert_eq!(paths(&v), ["spec.triggers[0].metadata.protocol"], "{bad}");
            assert!(v[0].message.contains("protocol: http"), "{}", v[0].message);
        }
    }

    #[test]
    fn other_kinds_have_no_rules() {
        assert!(check_resource(&json!({"kind": "TriggerAuthentication"})).is_empty());
        assert!(check_resource(&Value::Null).is_empty());
    }
}
