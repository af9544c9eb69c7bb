//! The Grafana dashboards of prescale, generated as JSON: autoscaling overview, predictive
//! scaling, and cost. The Helm chart ships them from `charts/prescale/dashboards/*.json`
//! (written by the `prescale-dashboards` binary; a test checks that the committed files are
//! the generated ones) as ConfigMaps for the Grafana sidecar.
//!
//! Every dashboard takes a Prometheus data source (`$datasource`) and filters by `$namespace`
//! and `$service`; every expression uses only the metrics of docs/metrics.md ([`check`]).

mod build;
pub mod check;
mod cost;
mod overview;
mod predictive;

use serde_json::Value;

pub use check::check_dashboard;

/// Every dashboard: its file name (`<uid>.json`) and its JSON model.
pub fn all() -> Vec<(String, Value)> {
    [
        overview::dashboard(),
        predictive::dashboard(),
        cost::dashboard(),
    ]
    .into_iter()
    .map(|d| {
        let uid = d["uid"].as_str().unwrap_or("dashboard").to_string();
        (format!("{uid}.json"), d)
    })
    .collect()
}

/// A dashboard as written to its file: pretty JSON with a final newline.
pub fn render(dashboard: &Value) -> String {
    let mut text = serde_json::to_string_pretty(dashboard).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_dashboards_with_unique_uids_and_panel_ids() {
        let all = all();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "prescale-overview.json",
                "prescale-predictive.json",
                "prescale-cost.json"
            ]
        );
        for (name, d) in &all {
            let mut ids: Vec<u64> = check::panels(d)
                .iter()
                .filter_map(|p| p["id"].as_u64())
                .collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "{name}: panel ids must be unique");
            assert!(render(d).ends_with("}\n"));
        }
    }
}
