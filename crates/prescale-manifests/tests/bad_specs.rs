//! Malformed specs, each with the exact error it must produce: file, line, column, field path
//! and message.

use prescale_manifests::generate;

/// A valid spec the cases start from (line numbers below refer to the modified text).
const BASE: &str = "\
services:
  - name: chat
    namespace: inference
    kind: vllm
    minReplicas: 0
    maxReplicas: 4
    triggers:
      - type: vllm-waiting
        threshold: 8
      - type: predictive
        query: sum(rate(gw[1m]))
        threshold: 5
  - name: worker
    kind: celery
    triggers:
      - type: rabbitmq
        secret:
          name: broker
";

/// (what is wrong, text replaced, replacement, expected error).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "predictive without a query",
        "        query: sum(rate(gw[1m]))\n",
        "",
        "services.yaml:10:9: services[0].triggers[1].query: required for type `predictive`: the demand the forecast learns from",
    ),
    (
        "predictive without a threshold",
        "        threshold: 5\n",
        "",
        "services.yaml:10:9: services[0].triggers[1].threshold: required for type `predictive`: the demand one replica serves, in the query's unit",
    ),
    (
        "threshold zero",
        "threshold: 8",
        "threshold: 0",
        "services.yaml:9:9: services[0].triggers[0].threshold: must be > 0",
    ),
    (
        "unknown field",
        "    minReplicas: 0\n",
        "    minReplica: 0\n",
        "services.yaml:5:5: services[0]: unknown field `minReplica`, expected one of",
    ),
    (
        "unknown kind",
        "kind: vllm",
        "kind: triton",
        "services.yaml:4:11: services[0].kind: unknown variant `triton`, expected one of `vllm`, `celery`, `training`",
    ),
    (
        "unknown trigger type",
        "type: vllm-waiting",
        "type: vllm-queue",
        "services.yaml:8:15: services[0].triggers[0].type: unknown variant `vllm-queue`",
    ),
    (
        "inline password",
        "          name: broker\n",
        "          name: broker\n        password: hunter2\n",
        "services.yaml:19:9: services[1].triggers[0].password: credentials must not be inline: put the password in a Secret and reference it with `secret`",
    ),
    (
        "inline broker URL",
        "          name: broker\n",
        "          name: broker\n        host: amqp://guest:guest@rabbitmq:5672/\n",
        "services.yaml:19:9: services[1].triggers[0].host: credentials must not be inline: put the broker URL in a Secret and reference it with `secret`",
    ),
    (
        "min above max",
        "minReplicas: 0",
        "minReplicas: 5",
        "services.yaml:5:5: services[0].minReplicas: must be <= maxReplicas (4), got 5",
    ),
    (
        "scale to zero without demand-side trigger",
        "      - type: predictive\n        query: sum(rate(gw[1m]))\n        threshold: 5\n",
        "      - type: gpu-utilization\n",
        "services.yaml:5:5: services[0].minReplicas: scaling to zero needs a demand-side trigger (predictive, rabbitmq, redis or prometheus): vLLM, GPU, cpu and memory metrics vanish with the pods and cannot wake the service",
    ),
    (
        "cpu-only celery worker at zero",
        "      - type: rabbitmq\n        secret:\n          name: broker\n",
        "      - type: cpu\n    minReplicas: 0\n",
        "services.yaml:17:5: services[1].minReplicas: scaling to zero needs a demand-side trigger",
    ),
    (
        "formula with an unknown trigger",
        "    triggers:\n      - type: vllm-waiting",
        "    scalingModifiers:\n      formula: max(predictive, queue)\n      target: 1\n    triggers:\n      - type: vllm-waiting",
        "services.yaml:8:7: services[0].scalingModifiers.formula: unknown trigger name `queue` (triggers: predictive, waiting)",
    ),
    (
        "formula syntax error",
        "    triggers:\n      - type: vllm-waiting",
        "    scalingModifiers:\n      formula: max(predictive,\n      target: 1\n    triggers:\n      - type: vllm-waiting",
        "services.yaml:8:7: services[0].scalingModifiers.formula: syntax error",
    ),
    (
        "trigger of another kind",
        "      - type: rabbitmq\n",
        "      - type: vllm-kv-cache\n",
        "services.yaml:16:9: services[1].triggers[0].type: `vllm-kv-cache` is not a trigger of kind `celery`",
    ),
    (
        "rabbitmq without secret",
        "        secret:\n          name: broker\n",
        "        queue: tasks\n",
        "services.yaml:16:9: services[1].triggers[0].secret: required for type `rabbitmq`: the Secret holding the broker URL",
    ),
    (
        "kv cache as percent",
        "      - type: predictive\n        query: sum(rate(gw[1m]))\n        threshold: 5\n",
        "      - type: predictive\n        query: sum(rate(gw[1m]))\n        threshold: 5\n      - type: vllm-kv-cache\n        threshold: 80\n",
        "services.yaml:14:9: services[0].triggers[2].threshold: vllm:kv_cache_usage_perc is a ratio in 0..1 (0.8 = 80 %)",
    ),
    (
        "bad service name",
        "name: chat",
        "name: Chat_Server",
        "services.yaml:2:5: services[0].name: must be a DNS label of at most 50 characters (a-z, 0-9, -)",
    ),
    (
        "duplicate trigger names",
        "      - type: predictive\n        query: sum(rate(gw[1m]))\n        threshold: 5\n",
        "      - type: predictive\n        query: sum(rate(gw[1m]))\n        threshold: 5\n      - type: vllm-running\n        name: waiting\n",
        "services.yaml:14:9: services[0].triggers[2].name: duplicate trigger name `waiting` (set `name`)",
    ),
    (
        "negative replicas",
        "maxReplicas: 4",
        "maxReplicas: -4",
        "services.yaml:6:18: services[0].maxReplicas: invalid type: integer `-4`, expected u32",
    ),
    (
        "field of another trigger type",
        "        threshold: 8\n",
        "        threshold: 8\n        queue: celery\n",
        "services.yaml:10:9: services[0].triggers[0].queue: not used by trigger type `vllm-waiting`",
    ),
    (
        "idle not below min",
        "    kind: celery\n",
        "    kind: celery\n    idleReplicas: 1\n",
        "services.yaml:15:5: services[1].idleReplicas: must be < minReplicas (1), got 1",
    ),
    (
        "bad business-hours time zone",
        "    maxReplicas: 4\n",
        "    maxReplicas: 4\n    businessHours:\n      timezone: Mars/Olympus\n      replicas: 1\n",
        "services.yaml:7:5: services[0].businessHours: unknown time zone `Mars/Olympus` (expected an IANA name such as `Europe/Berlin`)",
    ),
    (
        "training without job",
        "kind: celery",
        "kind: training",
        "services.yaml:13:5: services[1]: kind `training` needs `job`",
    ),
    (
        "redis address with credentials",
        "      - type: rabbitmq\n        secret:\n          name: broker\n",
        "      - type: redis\n        address: user:secret@redis:6379\n",
        "services.yaml:17:9: services[1].triggers[0].address: credentials must not be inline",
    ),
    (
        "bad behavior",
        "    maxReplicas: 4\n",
        "    maxReplicas: 4\n    behavior:\n      scaleDown:\n        stabilizationWindowSeconds: 7200\n",
        "services.yaml:9:9: services[0].behavior.scaleDown.stabilizationWindowSeconds: must be in [0, 3600], got 7200",
    ),
    (
        "secret and authentication",
        "          name: broker\n",
        "          name: broker\n        authentication:\n          name: shared\n          cluster: true\n",
        "services.yaml:19:9: services[1].triggers[0].authentication: give either `secret` or `authentication`, not both",
    ),
    (
        "fallback with cpu-only triggers",
        "      - type: rabbitmq\n        secret:\n          name: broker\n",
        "      - type: cpu\n    fallback:\n      failureThreshold: 3\n      replicas: 2\n",
        "services.yaml:17:5: services[1].fallback: KEDA has no fallback for cpu and memory triggers: add another trigger or drop it",
    ),
    (
        "fallback with a fractional modifiers target",
        "    triggers:\n      - type: vllm-waiting",
        "    fallback: {failureThreshold: 3, replicas: 1}\n    scalingModifiers:\n      formula: max(predictive, waiting)\n      target: 2.5\n    triggers:\n      - type: vllm-waiting",
        "services.yaml:10:7: services[0].scalingModifiers.target: must be a whole number when `fallback` is set (KEDA's fallback needs it)",
    ),
    (
        "bad label value",
        "    kind: celery\n",
        "    kind: celery\n    labels:\n      team: ml platform\n",
        "services.yaml:16:7: services[1].labels.team: a label value has at most 63 characters: alphanumerics, `-`, `_`, `.`",
    ),
    (
        "bad behavior policy period",
        "    maxReplicas: 4\n",
        "    maxReplicas: 4\n    behavior:\n      scaleUp:\n        policies:\n          - {type: Pods, value: 2, periodSeconds: 0}\n",
        "services.yaml:10:36: services[0].behavior.scaleUp.policies[0].periodSeconds: must be in [1, 1800], got 0",
    ),
    (
        "behavior in the wrong spelling",
        "    maxReplicas: 4\n",
        "    maxReplicas: 4\n    behavior:\n      scale_down: {}\n",
        "services.yaml:8:7: services[0].behavior: unknown field `scale_down`, expected `scaleUp` or `scaleDown`",
    ),
    (
        "cold start the server cannot read",
        "        threshold: 5\n",
        "        threshold: 5\n        coldStart: 3 minutes and a bit\n",
        "services.yaml:13:9: services[0].triggers[1].coldStart: `3 minutes and a bit`: expected number at 10 (e.g. 3m, 14d)",
    ),
    (
        "slo with a quantile",
        "        threshold: 5\n",
        "        threshold: 5\n        slo: 0.99\n        quantile: 0.9\n",
        "services.yaml:13:9: services[0].triggers[1].slo: set either slo (the headroom is tuned) or quantile (fixed), not both",
    ),
    (
        "sla without slo",
        "        threshold: 5\n",
        "        threshold: 5\n        sla: 500ms\n",
        "services.yaml:13:9: services[0].triggers[1].sla: only with `slo` (SLO mode)",
    ),
    (
        "two predictive triggers",
        "      - type: vllm-waiting\n        threshold: 8\n",
        "      - type: predictive\n        name: batch\n        query: sum(rate(batch[1m]))\n        threshold: 8\n",
        "services.yaml:12:9: services[0].triggers[1].type: one predictive trigger per service (triggers[0] is one)",
    ),
    (
        "predictive under metricType Value",
        "        threshold: 5\n",
        "        threshold: 5\n        metricType: Value\n",
        "services.yaml:13:9: services[0].triggers[1].metricType: a predictive trigger takes `AverageValue` only",
    ),
    (
        "supply-side predictive query with scale-to-zero",
        "query: sum(rate(gw[1m]))",
        "query: sum(rate(vllm:request_success_total[1m]))",
        "services.yaml:11:9: services[0].triggers[1].query: with scale-to-zero the predictive query must measure demand, not supply",
    ),
    (
        "MessageRate over AMQP",
        "      - type: rabbitmq\n        secret:\n",
        "      - type: rabbitmq\n        mode: MessageRate\n        protocol: amqp\n        secret:\n",
        "services.yaml:17:9: services[1].triggers[0].mode: `MessageRate` needs `protocol: http`: KEDA reads the publish rate from the RabbitMQ management API",
    ),
    (
        "unknown RabbitMQ protocol",
        "      - type: rabbitmq\n        secret:\n",
        "      - type: rabbitmq\n        protocol: amqps\n        secret:\n",
        "services.yaml:17:9: services[1].triggers[0].protocol: must be http or amqp, got `amqps`",
    ),
    (
        "protocol on a redis trigger",
        "      - type: rabbitmq\n        secret:\n          name: broker\n",
        "      - type: redis\n        address: redis:6379\n        protocol: http\n",
        "services.yaml:18:9: services[1].triggers[0].protocol: not used by trigger type `redis`",
    ),
    (
        "not YAML",
        "kind: vllm",
        "kind: \"vllm",
        "services.yaml:19:1: found unexpected end of stream",
    ),
];

#[test]
fn each_malformed_spec_gives_its_error() {
    assert!(CASES.len() >= 15);
    let mut failures = Vec::new();
    for (what, from, to, expected) in CASES {
        assert!(BASE.contains(from), "{what}: `{from}` not in the base spec");
        let text = BASE.replacen(from, to, 1);
        match generate(&text, "services.yaml") {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(e) => {
                let got = e.to_string();
                if !got.starts_with(expected) {
                    failures.push(format!("{what}:\n  expected {expected}\n  got      {got}"));
                }
                if got.contains('\n') {
                    failures.push(format!("{what}: not one line: {got}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_base_spec_is_valid() {
    let resources = generate(BASE, "services.yaml").expect("valid");
    let kinds: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["ScaledObject", "TriggerAuthentication", "ScaledObject"]
    );
}
