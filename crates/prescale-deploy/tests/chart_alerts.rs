//! The chart's PrometheusRule (`prometheusRule.enabled`): prescale's alerts render, their
//! expressions parse and name only metrics of docs/metrics.md, select this release's job, and
//! (with promtool) pass `promtool check rules` and fire on the series they are about, and only
//! on those: `promtool test rules` evaluates every alert expression against synthetic series.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{documents, helm, of_kind, one, template_with};
use prescale_deploy::metrics_doc::DocumentedMetrics;
use prescale_deploy::promql::metric_names;
use serde_json::{Value, json};

fn render(helm: &Path, values: &Value) -> Vec<Value> {
    // Release `prescale`: the fullname, the Service and so the job are `prescale`.
    let rendered = template_with(helm, "prescale", "prescale-system", values)
        .unwrap_or_else(|e| panic!("values {values}: {e}"));
    documents(&rendered)
}

/// The rules of the one PrometheusRule, by alert name.
fn alerts(docs: &[Value]) -> BTreeMap<String, Value> {
    let rule = one(docs, "PrometheusRule");
    rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("alert name").to_string(),
                r.clone(),
            )
        })
        .collect()
}

const ALL: [&str; 6] = [
    "PrescaleStaleAnswers",
    "PrescaleCollectorErrors",
    "PrescaleBudgetNearlySpent",
    "PrescaleBudgetExceeded",
    "PrescaleStoreDown",
    "PrescaleWorkerRestarts",
];

#[test]
fn off_by_default() {
    let Some(helm) = helm() else { return };
    assert!(of_kind(&render(&helm, &json!({})), "PrometheusRule").is_empty());
}

#[test]
fn alerts_render_parse_and_use_documented_metrics() {
    let Some(helm) = helm() else { return };
    let docs = render(
        &helm,
        &json!({"prometheusRule": {
            "enabled": true,
            "labels": {"release": "kube-prometheus-stack"},
            "additionalLabels": {"team": "ml-platform"},
        }}),
    );
    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["name"], "prescale");
    assert_eq!(rule["metadata"]["namespace"], "prescale-system");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let text = std::fs::read_to_string(common::root().join("docs/metrics.md")).expect("docs");
    let documented = DocumentedMetrics::parse(&text).expect("docs/metrics.md");
    let alerts = alerts(&docs);
    assert_eq!(alerts.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut all = ALL.to_vec();
        all.sort_unstable();
        all
    });
    for (name, r) in &alerts {
        let expr = r["expr"].as_str().expect("expr");
        let names = metric_names(name, expr).unwrap_or_else(|e| panic!("{e}"));
        assert!(!names.is_empty(), "{name}: {expr}");
        for metric in &names {
            assert!(metric.starts_with("prescale_"), "{name}: {metric}");
            assert!(
                documented.contains(metric),
                "{name}: {metric} is not in docs/metrics.md"
            );
        }
        // Every selector picks this release's job (one per metric it reads).
        assert_eq!(
            expr.matches(r#"{job="prescale"}"#).count(),
            expr.matches("prescale_").count(),
            "{name}: {expr}"
        );
        assert!(
            r["for"].as_str().is_some_and(|f| f.ends_with('m')),
            "{name}"
        );
        assert!(
            ["warning", "critical"].contains(&r["labels"]["severity"].as_str().unwrap_or("")),
            "{name}"
        );
        assert_eq!(r["labels"]["team"], "ml-platform", "{name}");
        for key in ["summary", "description"] {
            assert!(
                r["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: {key}"
            );
        }
    }
}

#[test]
fn alerts_can_be_turned_off_and_select_other_series() {
    let Some(helm) = helm() else { return };
    let docs = render(
        &helm,
        &json!({"prometheusRule": {
            "enabled": true,
            "selector": r#"job="prescale",cluster="eu""#,
            "alerts": {
                "budget": {"enabled": false},
                "workerRestarts": {"enabled": false},
                "collectorErrors": {"ratio": 0.25, "for": "30m", "severity": "critical"},
            },
        }}),
    );
    let alerts = alerts(&docs);
    assert_eq!(
        alerts.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "PrescaleCollectorErrors",
            "PrescaleStaleAnswers",
            "PrescaleStoreDown"
        ]
    );
    let errors = &alerts["PrescaleCollectorErrors"];
    let expr = errors["expr"].as_str().expect("expr");
    assert!(expr.ends_with("> 0.25"), "{expr}");
    assert!(
        expr.contains(r#"prescale_collector_errors_total{job="prescale",cluster="eu"}"#),
        "{expr}"
    );
    assert_eq!(errors["for"], "30m");
    assert_eq!(errors["labels"]["severity"], "critical");
    // Values outside the schema are refused.
    for bad in [
        json!({"prometheusRule": {"alerts": {"budget": {"warningRatio": 1.5}}}}),
        json!({"prometheusRule": {"alerts": {"storeDown": {"for": "five minutes"}}}}),
        json!({"prometheusRule": {"alerts": {"storeDown": {"threshold": 1}}}}),
    ] {
        assert!(
            template_with(&helm, "prescale", "prescale-system", &bad).is_err(),
            "accepted {bad}"
        );
    }
}

/// An expected sample of `(expr) * 0 + 1`: its labels (no metric name).
fn sample(labels: &str) -> Value {
    json!({"labels": labels, "value": 1})
}

/// `promtool check rules` on the rendered groups, then `promtool test rules`: each alert's
/// expression evaluated against series that should and should not make it fire (as
/// `(expr) * 0 + 1`, so that only which series fire is compared, not extrapolated values), and
/// PrescaleStoreDown's `for` and annotations as an alert.
#[test]
fn promtool_checks_and_fires_the_alerts() {
    let Some(helm) = helm() else { return };
    let Some(promtool) = prescale_testkit::find_binary("promtool") else {
        prescale_testkit::skip_or_fail(
            "promtool is not installed (Debian package `prometheus`; \
             scripts/install-test-deps.sh installs it)",
        );
        return;
    };
    let docs = render(&helm, &json!({"prometheusRule": {"enabled": true}}));
    let rule = one(&docs, "PrometheusRule");
    let alerts = alerts(&docs);
    let dir = tempfile::tempdir().expect("temporary directory");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        yaml_serde::to_string(&json!({"groups": rule["spec"]["groups"]})).expect("YAML"),
    )
    .expect("write rules");
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let p = r#"job="prescale""#;
    let ns = r#"namespace="prescale-system""#;
    let input_series = json!([
        // A stale answer at 11m; the same from another release's job must not alert.
        {"series": format!("prescale_stale_answers_total{{{p},{ns}}}"), "values": "0x10 1x20"},
        {"series": format!("prescale_stale_answers_total{{job=\"other\",{ns}}}"), "values": "0x10 1x20"},
        // Half of the Prometheus requests fail; Redis answers all.
        {"series": format!("prescale_collector_requests_total{{{p},source=\"prometheus\"}}"), "values": "0+10x30"},
        {"series": format!("prescale_collector_errors_total{{{p},source=\"prometheus\",kind=\"connect\"}}"), "values": "0+5x30"},
        {"series": format!("prescale_collector_requests_total{{{p},source=\"redis\"}}"), "values": "0+10x30"},
        {"series": format!("prescale_collector_errors_total{{{p},source=\"redis\",kind=\"timeout\"}}"), "values": "0x30"},
        // Budget: half spent, then 95 %, then over.
        {"series": format!("prescale_budget_used_ratio{{{p},namespace=\"ml\",service=\"llm\"}}"), "values": "0.5x5 0.95x5 1.2x20"},
        // The store goes down at 6m and comes back at 16m; another job's store is down all along.
        {"series": format!("prescale_store_up{{{p},{ns}}}"), "values": "1x5 0x10 1x15"},
        {"series": format!("prescale_store_up{{job=\"other\",{ns}}}"), "values": "0x30"},
        // Two workers restart at 11m.
        {"series": format!("prescale_worker_restarts_total{{{p},{ns}}}"), "values": "0x10 2x20"},
    ]);
    let own = format!("{{{p},{ns}}}");
    // (alert, eval time, the label sets expected to fire then)
    let cases: Vec<(&str, &str, Vec<Value>)> = vec![
        ("PrescaleStaleAnswers", "5m", vec![]),
        ("PrescaleStaleAnswers", "15m", vec![sample(&own)]),
        (
            "PrescaleCollectorErrors",
            "15m",
            vec![sample(r#"{job="prescale",source="prometheus"}"#)],
        ),
        ("PrescaleBudgetNearlySpent", "3m", vec![]),
        (
            "PrescaleBudgetNearlySpent",
            "8m",
            vec![sample(r#"{job="prescale",namespace="ml",service="llm"}"#)],
        ),
        ("PrescaleBudgetNearlySpent", "15m", vec![]),
        ("PrescaleBudgetExceeded", "8m", vec![]),
        (
            "PrescaleBudgetExceeded",
            "15m",
            vec![sample(r#"{job="prescale",namespace="ml",service="llm"}"#)],
        ),
        ("PrescaleStoreDown", "3m", vec![]),
        ("PrescaleStoreDown", "10m", vec![sample(&own)]),
        ("PrescaleStoreDown", "20m", vec![]),
        ("PrescaleWorkerRestarts", "5m", vec![]),
        ("PrescaleWorkerRestarts", "15m", vec![sample(&own)]),
    ];
    let mut tested: Vec<&str> = cases.iter().map(|c| c.0).collect();
    tested.dedup();
    assert_eq!(tested.len(), ALL.len(), "every alert has a case");
    let exprs: Vec<Value> = cases
        .iter()
        .map(|(alert, at, expected)| {
            let expr = alerts[*alert]["expr"].as_str().expect("expr");
            json!({"expr": format!("({expr}) * 0 + 1"), "eval_time": at, "exp_samples": expected})
        })
        .collect();
    // PrescaleStoreDown as an alert: pending (not firing) 2 minutes after the store went down
    // (`for: 5m`), firing at 12m, with its labels and (static) annotations.
    let store = &alerts["PrescaleStoreDown"];
    let firing = json!([{
        "exp_labels": {
            "alertname": "PrescaleStoreDown", "severity": "critical",
            "job": "prescale", "namespace": "prescale-system",
        },
        "exp_annotations": store["annotations"],
    }]);
    let test = json!({
        "rule_files": [rules.to_string_lossy()],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": input_series,
            "promql_expr_test": exprs,
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "PrescaleStoreDown", "exp_alerts": []},
                {"eval_time": "12m", "alertname": "PrescaleStoreDown", "exp_alerts": firing},
            ],
        }],
    });
    let tests = dir.path().join("tests.yaml");
    std::fs::write(&tests, yaml_serde::to_string(&test).expect("YAML")).expect("write tests");
    let out = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&tests)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
