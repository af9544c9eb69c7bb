//! The dashboards shipped by the chart are the generated ones, valid, and every expression
//! parses and names only metrics of docs/metrics.md.

use std::path::{Path, PathBuf};

use prescale_deploy::dashboards::{self, check::panels, check_dashboard};
use prescale_deploy::metrics_doc::DocumentedMetrics;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn documented() -> DocumentedMetrics {
    let text = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    DocumentedMetrics::parse(&text).expect("docs/metrics.md lists metric names")
}

#[test]
fn committed_dashboards_are_the_generated_ones() {
    let dir = root().join("charts/prescale/dashboards");
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("charts/prescale/dashboards")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    committed.sort();
    let generated = dashboards::all();
    let mut names: Vec<String> = generated.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(committed, names, "dashboard files");
    for (name, dashboard) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(name)).expect("dashboard file");
        assert!(
            on_disk == dashboards::render(dashboard),
            "charts/prescale/dashboards/{name} is stale: run \
             `cargo run -p prescale-deploy --bin prescale-dashboards`"
        );
        // And it is JSON that reads back to the same model.
        let parsed: serde_json::Value = serde_json::from_str(&on_disk).expect("valid JSON");
        assert_eq!(&parsed, dashboard);
    }
}

#[test]
fn every_expression_parses_and_uses_documented_metrics() {
    let docs = documented();
    let mut all_used = std::collections::BTreeSet::new();
    for (name, dashboard) in dashboards::all() {
        let used = check_dashboard(&name, &dashboard, &docs).unwrap_or_else(|e| panic!("{e}"));
        assert!(!used.is_empty(), "{name} queries nothing");
        all_used.extend(used);
    }
    // The dashboards show the cost and decision metrics prescale exports.
    for m in [
        "prescale_replicas",
        "prescale_desired_replicas",
        "prescale_forecast_demand",
        "prescale_forecast_accuracy_ratio",
        "prescale_pattern_detected",
        "prescale_proactive_events_total",
        "prescale_business_hours",
        "prescale_budget_used_ratio",
        "prescale_cost_usd_total",
        "prescale_static_gpu_hours_total",
        "prescale_gpu_hours_total",
        "DCGM_FI_DEV_GPU_UTIL",
        "vllm:e2e_request_latency_seconds_bucket",
        "vllm:num_requests_waiting",
        "keda_scaler_metrics_value",
    ] {
        assert!(all_used.contains(m), "no dashboard uses {m}");
    }
}

#[test]
fn dashboards_cover_the_panels_the_chart_promises() {
    let titles = |uid: &str| -> Vec<String> {
        let (_, d) = dashboards::all()
            .into_iter()
            .find(|(_, d)| d["uid"] == uid)
            .expect("dashboard");
        panels(&d)
            .iter()
            .map(|p| p["title"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let has = |uid: &str, title: &str| {
        assert!(
            titles(uid).iter().any(|t| t.starts_with(title)),
            "{uid} lacks a panel \"{title}\""
        );
    };
    for t in [
        "Replicas by service",
        "Scaling events",
        "GPU utilization",
        "P95 latency",
        "Queue depth",
    ] {
        has("prescale-overview", t);
    }
    for t in [
        "Forecast vs actual",
        "Forecast accuracy",
        "Detected seasonality",
        "Proactive events",
        "Demand heatmap",
        "Business hours",
    ] {
        has("prescale-predictive", t);
    }
    for t in [
        "Monthly budget used",
        "Cost by service",
        "Spot savings",
        "Cost per request",
        "Cost per 1k tokens",
        "GPU-hours saved",
    ] {
        has("prescale-cost", t);
    }
    // The forecast band: P90 is filled down to P50 on a panel repeated per service.
    let (_, predictive) = dashboards::all()
        .into_iter()
        .find(|(_, d)| d["uid"] == "prescale-predictive")
        .expect("dashboard");
    let forecast = panels(&predictive)
        .into_iter()
        .find(|p| p["type"] == "timeseries" && p["title"] == "Forecast vs actual: $service")
        .expect("forecast panel");
    assert_eq!(forecast["repeat"], "service");
    let overrides = forecast["fieldConfig"]["overrides"].to_string();
    assert!(
        overrides.contains(r#""id":"custom.fillBelowTo","value":"P50""#),
        "{overrides}"
    );
}
