//! Checks of a dashboard's JSON model: the fields Grafana needs, a panel layout without
//! overlaps, every PromQL expression (panels, variables, annotations) parsing, and every
//! metric it names documented in docs/metrics.md.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::metrics_doc::DocumentedMetrics;
use crate::promql;

/// Panel types the dashboards may use (Grafana's built-in panels).
const PANEL_TYPES: &[&str] = &[
    "row",
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "state-timeline",
    "heatmap",
];

/// Every panel, nested ones (in rows) included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

fn invalid(place: &str, reason: impl Into<String>) -> Error {
    Error::PromQl {
        place: place.to_string(),
        expr: String::new(),
        reason: reason.into(),
    }
}

/// Checks one expression and adds its metric names to `used`.
fn expression(
    place: &str,
    expr: &str,
    docs: &DocumentedMetrics,
    used: &mut BTreeSet<String>,
) -> Result<()> {
    for name in promql::metric_names(place, expr)? {
        if !docs.contains(&name) {
            return Err(Error::PromQl {
                place: place.to_string(),
                expr: expr.to_string(),
                reason: format!(
                    "metric `{name}` is neither exported by prescale nor a listed upstream metric \
                     (docs/metrics.md)"
                ),
            });
        }
        used.insert(name);
    }
    Ok(())
}

/// Checks `dashboard` (named `file` in errors); returns the metric names it uses.
pub fn check_dashboard(
    file: &str,
    dashboard: &Value,
    docs: &DocumentedMetrics,
) -> Result<BTreeSet<String>> {
    for field in ["uid", "title"] {
        if dashboard[field].as_str().is_none_or(str::is_empty) {
            return Err(invalid(
                file,
                format!("`{field}` must be a non-empty string"),
            ));
        }
    }
    if !dashboard["schemaVersion"].is_u64() {
        return Err(invalid(file, "`schemaVersion` must be a number"));
    }
    let mut used = BTreeSet::new();
    let mut boxes: Vec<(u64, u64, u64, u64, String)> = Vec::new();
    for p in panels(dashboard) {
        let title = p["title"].as_str().unwrap_or_default();
        let place = format!("{file}: panel \"{title}\"");
        let kind = p["type"].as_str().unwrap_or_default();
        if !PANEL_TYPES.contains(&kind) || title.is_empty() || !p["id"].is_u64() {
            return Err(invalid(
                &place,
                "needs an id, a title and a known panel type",
            ));
        }
        let g = &p["gridPos"];
        let (Some(x), Some(y), Some(w), Some(h)) = (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        ) else {
            return Err(invalid(&place, "gridPos needs x, y, w and h"));
        };
        if w == 0 || h == 0 || x + w > 24 {
            return Err(invalid(&place, "gridPos must lie within the 24 columns"));
        }
        if let Some((.., other)) = boxes
            .iter()
            .find(|(bx, by, bw, bh, _)| x < bx + bw && *bx < x + w && y < by + bh && *by < y + h)
        {
            return Err(invalid(&place, format!("overlaps panel \"{other}\"")));
        }
        boxes.push((x, y, w, h, title.to_string()));
        if kind == "row" {
            continue;
        }
        if p["datasource"]["type"] != "prometheus" {
            return Err(invalid(&place, "must query the Prometheus data source"));
        }
        let targets = p["targets"].as_array().map_or(&[][..], Vec::as_slice);
        if targets.is_empty() {
            return Err(invalid(&place, "has no query"));
        }
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            if t["refId"].as_str().is_none_or(str::is_empty) {
                return Err(invalid(&place, "every query needs a refId"));
            }
            expression(&place, expr, docs, &mut used)?;
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or_default();
        let place = format!("{file}: variable `{name}`");
        let query = v["query"]["query"].as_str().unwrap_or_default();
        let selector = promql::label_values_selector(query).ok_or_else(|| {
            invalid(
                &place,
                format!("`{query}` is not label_values(selector, label)"),
            )
        })?;
        expression(&place, selector, docs, &mut used)?;
    }
    for a in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(expr) = a["expr"].as_str() {
            let name = a["name"].as_str().unwrap_or_default();
            expression(
                &format!("{file}: annotation `{name}`"),
                expr,
                docs,
                &mut used,
            )?;
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs() -> DocumentedMetrics {
        DocumentedMetrics::parse(
            "## A\n| `prescale_replicas` | gauge |\n## Upstream metrics\n- `vllm:num_requests_waiting`\n",
        )
        .unwrap()
    }

    fn board(expr: &str) -> Value {
        json!({
            "uid": "u", "title": "t", "schemaVersion": 39,
            "panels": [{"id": 1, "type": "timeseries", "title": "p",
                        "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                        "targets": [{"refId": "A", "expr": expr}]}],
            "templating": {"list": []}, "annotations": {"list": []},
        })
    }

    #[test]
    fn accepts_documented_metrics_and_rejects_others() {
        let used = check_dashboard("d.json", &board("sum(prescale_replicas)"), &docs()).unwrap();
        assert_eq!(used.into_iter().collect::<Vec<_>>(), ["prescale_replicas"]);
        let err = check_dashboard("d.json", &board("sum(prescale_replica)"), &docs()).unwrap_err();
        assert!(
            err.to_string()
                .contains("metric `prescale_replica` is neither"),
            "{err}"
        );
        let err = check_dashboard("d.json", &board("sum(prescale_replicas"), &docs()).unwrap_err();
        assert!(
            err.to_string().starts_with("d.json: panel \"p\": PromQL"),
            "{err}"
        );
    }

    #[test]
    fn rejects_layout_problems() {
        let mut d = board("prescale_replicas");
        let mut second = d["panels"][0].clone();
        second["id"] = json!(2);
        second["title"] = json!("q");
        second["gridPos"]["x"] = json!(6);
        d["panels"].as_array_mut().unwrap().push(second);
        let err = check_dashboard("d.json", &d, &docs()).unwrap_err();
        assert!(err.to_string().contains("overlaps panel \"p\""), "{err}");
        let mut wide = board("prescale_replicas");
        wide["panels"][0]["gridPos"]["w"] = json!(30);
        assert!(check_dashboard("d.json", &wide, &docs()).is_err());
        let mut untitled = board("prescale_replicas");
        untitled["uid"] = json!("");
        assert!(check_dashboard("d.json", &untitled, &docs()).is_err());
    }
}
