//! Builders of Grafana dashboard JSON (schema version 39): a [`Board`] lays out [`Panel`]s on
//! Grafana's 24-column grid, row by row.

use serde_json::{Value, json};

/// Grafana's grid width.
const GRID: u64 = 24;

/// The data source every panel and variable uses.
pub(super) fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// An expression over series another component exports with a workload's `namespace` (and,
/// with `pod`, its `pod`) as labels — KEDA's `keda_*`, the DCGM exporter's `DCGM_*` — read
/// whichever way they were scraped, filtered by `$namespace` and with `namespace` (and `pod`)
/// naming the workload's.
///
/// Scraped with `honor_labels: false` (Prometheus Operator's default, and what the KEDA and
/// dcgm-exporter charts' ServiceMonitors use) those labels clash with the target's own and
/// arrive as `exported_namespace` and `exported_pod`, while `namespace` and `pod` name the
/// exporter; with `honor_labels: true` they keep their names. `expr` receives the label
/// matchers of one case (`extra` appended, e.g. `metric=~"..."`) and writes the expression
/// over them. The exported case has `label_join` copy `exported_namespace` (and
/// `exported_pod`) to `namespace` (and `pod`); the honored case is the series without
/// `exported_namespace`; `or` joins them. (`label_join`, not `label_replace`: its `$1` would
/// read as a Grafana variable.)
pub(super) fn upstream(extra: &str, pod: bool, expr: impl Fn(&str) -> String) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    let mut exported = format!(
        "label_join({}, \"namespace\", \"\", \"exported_namespace\")",
        expr(&format!("exported_namespace=~\"$namespace\"{extra}"))
    );
    if pod {
        exported = format!("label_join({exported}, \"pod\", \"\", \"exported_pod\")");
    }
    let honored = expr(&format!(
        "namespace=~\"$namespace\", exported_namespace=\"\"{extra}"
    ));
    format!("({exported} or {honored})")
}

/// A dashboard under construction.
pub(super) struct Board {
    uid: &'static str,
    title: &'static str,
    description: &'static str,
    tags: Vec<&'static str>,
    variables: Vec<Value>,
    annotations: Vec<Value>,
    panels: Vec<Value>,
    next_id: u64,
    x: u64,
    y: u64,
    line_height: u64,
}

impl Board {
    /// An empty dashboard with the `datasource`, `namespace` and `service` variables; the
    /// variables list their values from `metric`.
    pub(super) fn new(
        uid: &'static str,
        title: &'static str,
        description: &'static str,
        metric: &str,
    ) -> Self {
        let query = |q: String| json!({"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1});
        let ns_query = format!("label_values({metric}, namespace)");
        let svc_query = format!("label_values({metric}{{namespace=~\"$namespace\"}}, service)");
        let variable = |name: &str, label: &str, q: String| {
            json!({
                "name": name, "label": label, "type": "query", "datasource": datasource(),
                "definition": q, "query": query(q.clone()), "refresh": 2, "sort": 1,
                "multi": true, "includeAll": true, "allValue": ".*",
                "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
                "hide": 0, "options": [], "regex": "", "skipUrlSync": false,
            })
        };
        let variables = vec![
            json!({
                "name": "datasource", "label": "Prometheus", "type": "datasource",
                "query": "prometheus", "refresh": 1, "regex": "", "hide": 0,
                "current": {}, "options": [], "skipUrlSync": false,
            }),
            variable("namespace", "Namespace", ns_query),
            variable("service", "Service", svc_query),
        ];
        let grafana = json!({
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard",
        });
        Self {
            uid,
            title,
            description,
            tags: vec!["prescale", "autoscaling", "keda"],
            variables,
            annotations: vec![grafana],
            panels: Vec::new(),
            next_id: 1,
            x: 0,
            y: 0,
            line_height: 0,
        }
    }

    /// Adds a tag.
    pub(super) fn tag(&mut self, tag: &'static str) {
        self.tags.push(tag);
    }

    /// Adds an annotation query: an event marker wherever `expr` has a value.
    pub(super) fn annotation(&mut self, name: &str, expr: &str, title: &str, color: &str) {
        self.annotations.push(json!({
            "name": name, "datasource": datasource(), "enable": true, "hide": false,
            "iconColor": color, "expr": expr, "step": "1m", "titleFormat": title,
            "useValueForTime": false, "tagKeys": "service,kind",
        }));
    }

    fn new_line(&mut self) {
        self.y += self.line_height;
        self.x = 0;
        self.line_height = 0;
    }

    /// A collapsed-free row header across the whole width.
    pub(super) fn row(&mut self, title: &str) {
        if self.x > 0 {
            self.new_line();
        }
        let id = self.next_id;
        self.next_id += 1;
        self.panels.push(json!({
            "id": id, "type": "row", "title": title, "collapsed": false, "panels": [],
            "gridPos": {"h": 1, "w": GRID, "x": 0, "y": self.y},
        }));
        self.y += 1;
    }

    /// Places `panel`, `w` columns wide and `h` rows high, after the previous one (on a new
    /// line when it does not fit).
    pub(super) fn add(&mut self, w: u64, h: u64, panel: Panel) {
        if self.x + w > GRID {
            self.new_line();
        }
        let mut p = panel.0;
        p["id"] = json!(self.next_id);
        p["gridPos"] = json!({"h": h, "w": w, "x": self.x, "y": self.y});
        self.next_id += 1;
        self.x += w;
        self.line_height = self.line_height.max(h);
        self.panels.push(p);
    }

    /// The dashboard's JSON model.
    pub(super) fn finish(self) -> Value {
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": true,
            "graphTooltip": 1,
            "liveNow": false,
            "refresh": "1m",
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": "now-24h", "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "weekStart": "",
            "fiscalYearStartMonth": 0,
            "links": [],
            "annotations": {"list": self.annotations},
            "templating": {"list": self.variables},
            "panels": self.panels,
        })
    }
}

/// A panel under construction.
pub(super) struct Panel(Value);

impl Panel {
    fn new(kind: &str, title: &str, description: &str, unit: &str) -> Self {
        Self(json!({
            "type": kind,
            "title": title,
            "description": description,
            "datasource": datasource(),
            "targets": [],
            "fieldConfig": {"defaults": {"unit": unit, "custom": {}}, "overrides": []},
            "options": {},
        }))
    }

    /// A time series graph.
    pub(super) fn timeseries(title: &str, description: &str, unit: &str) -> Self {
        let mut p = Self::new("timeseries", title, description, unit);
        p.0["fieldConfig"]["defaults"]["custom"] = json!({
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
            "spanNulls": false, "axisPlacement": "auto",
            "stacking": {"mode": "none", "group": "A"},
        });
        p.0["options"] = json!({
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": true,
                       "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        });
        p
    }

    /// A single number (the last value).
    pub(super) fn stat(title: &str, description: &str, unit: &str) -> Self {
        let mut p = Self::new("stat", title, description, unit);
        p.0["options"] = json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
            "orientation": "auto", "textMode": "auto",
        });
        p
    }

    /// A gauge (the last value), red at `max`.
    pub(super) fn gauge(title: &str, description: &str, unit: &str, max: f64) -> Self {
        let mut p = Self::new("gauge", title, description, unit);
        p.0["fieldConfig"]["defaults"]["min"] = json!(0);
        p.0["fieldConfig"]["defaults"]["max"] = json!(max);
        p.0["options"] = json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "showThresholdLabels": false, "showThresholdMarkers": true,
        });
        p
    }

    /// Horizontal bars, one per series (the last value).
    pub(super) fn bars(title: &str, description: &str, unit: &str) -> Self {
        let mut p = Self::new("bargauge", title, description, unit);
        p.0["options"] = json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true,
        });
        p
    }

    /// A table of instant values, one row per series.
    pub(super) fn table(title: &str, description: &str, unit: &str) -> Self {
        let mut p = Self::new("table", title, description, unit);
        p.0["options"] = json!({"showHeader": true, "cellHeight": "sm"});
        p.0["transformations"] = json!([{"id": "labelsToFields", "options": {"mode": "columns"}},
                                        {"id": "merge", "options": {}}]);
        p
    }

    /// Discrete states over time (0/1 series shown as named states).
    pub(super) fn states(title: &str, description: &str, on: &str, off: &str) -> Self {
        let mut p = Self::new("state-timeline", title, description, "none");
        p.0["fieldConfig"]["defaults"]["mappings"] = json!([{
            "type": "value",
            "options": {"0": {"text": off, "color": "transparent", "index": 0},
                        "1": {"text": on, "color": "green", "index": 1}},
        }]);
        p.0["options"] = json!({"showValue": "never", "mergeValues": true, "rowHeight": 0.8,
                                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": false}});
        p
    }

    /// A heatmap of the series' values, bucketed by Grafana.
    pub(super) fn heatmap(title: &str, description: &str, unit: &str) -> Self {
        let mut p = Self::new("heatmap", title, description, unit);
        p.0["options"] = json!({
            "calculate": true,
            "calculation": {"xBuckets": {"mode": "size", "value": "1h"},
                             "yBuckets": {"mode": "count", "value": "12"}},
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5},
            "cellGap": 1, "yAxis": {"axisPlacement": "left", "unit": unit},
            "tooltip": {"mode": "single", "yHistogram": false},
            "legend": {"show": true},
        });
        p
    }

    /// Adds a query; `legend` is Grafana's legend format (e.g. `{{service}}`).
    pub(super) fn target(mut self, expr: &str, legend: &str) -> Self {
        let targets = self.0["targets"].as_array().map_or(0, Vec::len);
        let ref_id = char::from(b'A' + u8::try_from(targets % 26).unwrap_or(0)).to_string();
        let instant = matches!(self.0["type"].as_str(), Some("table"));
        if let Some(list) = self.0["targets"].as_array_mut() {
            list.push(json!({
                "datasource": datasource(), "expr": expr, "legendFormat": legend,
                "refId": ref_id, "range": !instant, "instant": instant,
                "format": if instant { "table" } else { "time_series" },
            }));
        }
        self
    }

    /// Stacks the series.
    pub(super) fn stacked(mut self) -> Self {
        self.0["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] = json!("normal");
        self
    }

    /// Draws bars instead of lines.
    pub(super) fn bars_style(mut self) -> Self {
        self.0["fieldConfig"]["defaults"]["custom"]["drawStyle"] = json!("bars");
        self.0["fieldConfig"]["defaults"]["custom"]["fillOpacity"] = json!(80);
        self
    }

    /// Fixes the value axis.
    pub(super) fn range(mut self, min: f64, max: Option<f64>) -> Self {
        self.0["fieldConfig"]["defaults"]["min"] = json!(min);
        if let Some(m) = max {
            self.0["fieldConfig"]["defaults"]["max"] = json!(m);
        }
        self
    }

    /// Colour steps: green, then each `(value, colour)`.
    pub(super) fn thresholds(mut self, steps: &[(f64, &str)]) -> Self {
        let mut list = vec![json!({"color": "green", "value": null})];
        list.extend(steps.iter().map(|(v, c)| json!({"color": c, "value": v})));
        self.0["fieldConfig"]["defaults"]["thresholds"] =
            json!({"mode": "absolute", "steps": list});
        self
    }

    /// Draws the thresholds as dashed lines on a time series.
    pub(super) fn threshold_lines(mut self) -> Self {
        self.0["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
        self
    }

    /// Adds a field override for the series named `name`.
    pub(super) fn series(mut self, name: &str, properties: Value) -> Self {
        if let Some(list) = self.0["fieldConfig"]["overrides"].as_array_mut() {
            list.push(json!({
                "matcher": {"id": "byName", "options": name},
                "properties": properties,
            }));
        }
        self
    }

    /// Repeats the panel for each selected value of `variable`.
    pub(super) fn repeat(mut self, variable: &str) -> Self {
        self.0["repeat"] = json!(variable);
        self.0["repeatDirection"] = json!("v");
        self
    }

    /// Sets the query interval (e.g. `1h` for hourly buckets).
    pub(super) fn interval(mut self, interval: &str) -> Self {
        self.0["interval"] = json!(interval);
        self
    }
}
