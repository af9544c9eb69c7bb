//! The cost metrics the tracker exports are exactly the "Cost" table of docs/metrics.md, with
//! the documented types and labels.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration};
use prescale_core::ManualClock;
use prescale_kube::cost::{CostConfig, CostTracker};
use prometheus_client::registry::Registry;

/// `name -> (type, extra labels)` of the rows of the `## Cost` table.
fn documented() -> BTreeMap<String, (String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let text = std::fs::read_to_string(&path).expect("docs/metrics.md");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Cost"))
        .expect("a Cost section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            (name, (cells[2].to_string(), cells[3].to_string()))
        })
        .collect()
}

#[test]
fn exported_cost_metrics_match_the_documentation() {
    let clock = Arc::new(ManualClock::new(
        DateTime::from_timestamp(1_714_521_600, 0).unwrap(),
    ));
    let mut tracker = CostTracker::new(clock.clone());
    let mut registry = Registry::default();
    tracker.register(&mut registry);
    let config: CostConfig = yaml_serde::from_str(
        "defaults: {price_per_hour: 2.0, spot_discount: 0.5, spot_share: 0.5, monthly_budget_usd: 100}",
    )
    .unwrap();
    tracker.set_service("ns", "svc", config.resolve("ns/svc").unwrap(), 4);
    tracker.observe("ns", "svc", 2).unwrap();
    clock.advance(Duration::minutes(10));
    tracker.observe("ns", "svc", 2).unwrap();

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    // Family name -> type, from `# TYPE` lines; sample names -> label names.
    let mut types = BTreeMap::new();
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') {
            let (name, rest) = line.split_once('{').unwrap();
            let keys: Vec<&str> = rest
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
                .collect();
            labels.insert(name.to_string(), keys.join(","));
        }
    }
    let docs = documented();
    assert_eq!(docs.len(), 9, "{docs:?}");
    let exported: Vec<&String> = labels.keys().collect();
    let documented_names: Vec<&String> = docs.keys().collect();
    assert_eq!(exported, documented_names, "exposition:\n{text}");
    for (name, (kind, extra)) in &docs {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert_eq!(types.get(family), Some(kind), "type of {name}");
        let mut expected = "namespace,service".to_string();
        if extra.contains("capacity") {
            expected.push_str(",capacity");
        }
        assert_eq!(labels.get(name), Some(&expected), "labels of {name}");
    }
}
