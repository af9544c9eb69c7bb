//! `/services/{namespace}/{name}`: one ScaledObject in detail, and the page of an unknown one.

use std::fmt::Write as _;

use prescale_kube::cost::CostSnapshot;
use prescale_report::ChartSize;

use super::html::{self, escape};
use super::{chart, service_cost};
use crate::registry::status::{ServiceStatus, ServiceSummary};

/// A definition list of `(term, HTML)` rows.
fn facts(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"facts\">\n");
    for (term, value) in rows {
        let _ = writeln!(out, "<dt>{}</dt><dd>{value}</dd>", escape(term));
    }
    out.push_str("</dl>\n");
    out
}

/// A `<section>` with a heading.
fn section(heading: &str, content: &str) -> String {
    format!(
        "<section>\n<h2>{}</h2>\n{content}</section>\n",
        escape(heading)
    )
}

/// Optional text, escaped, or `–`.
fn or_dash(value: Option<String>) -> String {
    value.map_or_else(|| "–".to_string(), |v| escape(&v))
}

/// The page of `status`.
pub(super) fn render(status: &ServiceStatus, cost: Option<&CostSnapshot>) -> String {
    let summary = ServiceSummary::from(status);
    let key = format!("{}/{}", status.namespace, status.name);
    let mut body = String::from("<p><a href=\"/\">← all ScaledObjects</a></p>\n");
    let _ = writeln!(
        body,
        "<h1>{}{}{}</h1>",
        escape(&key),
        html::phase_badge(status.phase),
        html::mode_badge(&summary)
    );
    body.push_str(&decision(status, &summary));
    let q = html::quantile(html::upper_quantile(status));
    body.push_str(&section(
        "The last day",
        &format!(
            "<p class=\"caption\">The demand held in the history (one-minute steps, as of \
             the latest refresh), the forecast band from P50 to {q} (for the past, what the \
             latest refresh forecast for each decision's time; then the latest forecast \
             ahead) and the capacity of the replicas decided (replicas × threshold). Below, \
             the replicas decided and those answered to KEDA (fewer in shadow mode). The \
             decisions are kept in memory: a restart or new metadata starts their day \
             again.</p>\n{}{}",
            chart::demand(status, ChartSize::Full),
            chart::replicas(status)
        ),
    ));
    body.push_str(&settings(status));
    body.push_str(&forecast(status));
    if let Some(c) = cost {
        let text = service_cost(c, status).map_or_else(|| "not billed yet".to_string(), html::cost);
        body.push_str(&section("Cost", &format!("<p>{text}</p>\n")));
    }
    body.push_str(&analysis(status));
    if let Some(e) = &status.last_error {
        body.push_str(&section(
            "Last collection error",
            &format!(
                "<p class=\"error\">{} ({}): {}</p>\n",
                escape(&html::time(e.at)),
                escape(&e.kind),
                escape(&e.message)
            ),
        ));
    }
    body.push_str("<p><a href=\"/\">← all ScaledObjects</a></p>\n");
    html::page(&format!("{} · prescale serve", escape(&key)), &body)
}

/// The decision, what KEDA is answered, the live value.
fn decision(status: &ServiceStatus, summary: &ServiceSummary) -> String {
    let mut out = html::decision_line(summary, status.safety.as_deref());
    let mut rows = Vec::new();
    if let Some(d) = &status.decision {
        let dd = &d.decision;
        rows.push(("decided at", escape(&html::time(d.at))));
        rows.push((
            "replicas",
            format!(
                "{} ({}; live demand needs {}, the forecast {})",
                dd.desired_replicas,
                if dd.active { "active" } else { "inactive" },
                dd.reactive_replicas,
                dd.predictive_replicas
                    .map_or_else(|| "–".to_string(), |n| n.to_string())
            ),
        ));
        if let Some((from, to)) = dd.window {
            rows.push((
                "forecast window",
                escape(&format!("{} to {}", html::time(from), html::time(to))),
            ));
        }
        if let Some(need) = dd.forecast_need {
            rows.push((
                "forecast over the window",
                escape(&format!(
                    "P50 {}, upper {}",
                    html::number(need.p50),
                    html::number(need.upper)
                )),
            ));
        }
    }
    if let Some(a) = &status.reported {
        rows.push((
            "answered to KEDA",
            escape(&format!(
                "{} replicas, {} (metric value {}, decided {})",
                a.replicas,
                if a.active { "active" } else { "inactive" },
                html::number(a.metric_value),
                html::time(a.decided_at)
            )),
        ));
    }
    if let Some(o) = &status.observed {
        rows.push((
            "live demand",
            escape(&format!(
                "{} at {}",
                html::number(o.value),
                html::time(o.at)
            )),
        ));
    }
    if !rows.is_empty() {
        out.push_str(&facts(&rows));
    }
    section("Decision", &out)
}

/// The settings in force and every setting of the trigger.
fn settings(status: &ServiceStatus) -> String {
    let s = &status.settings;
    let secs = |v: i64| escape(&html::duration(v));
    let code = |v: &str| format!("<code>{}</code>", escape(v));
    let mut rows = vec![
        ("in force", escape(&html::settings_in_force(status))),
        (
            "serverAddress",
            code(&prescale_policy::metadata::redact_userinfo(
                &s.server_address,
            )),
        ),
        ("query", code(&s.query)),
        ("threshold", escape(&html::number(s.threshold))),
        (
            "activationThreshold",
            escape(&html::number(s.activation_threshold)),
        ),
        ("coldStart", secs(s.cold_start_secs)),
        ("quantile", escape(&html::quantile(s.quantile))),
        (
            "replicas",
            format!("{} to {}", s.min_replicas, s.max_replicas),
        ),
        ("scaleToZero", s.scale_to_zero.to_string()),
        ("history", secs(s.history_secs)),
        ("ignoreNullValues", s.ignore_null_values.to_string()),
        ("ratePeriod", secs(s.rate_period_secs)),
        ("drain", secs(s.drain_secs)),
        ("metricName", code(&s.metric_name)),
    ];
    if let Some(slo) = s.slo {
        rows.push(("slo", escape(&html::percent(slo))));
        rows.push(("sla", format!("{} ms", s.sla_ms)));
    }
    for (name, value) in [
        ("queueQuery", &s.queue_query),
        ("readyQuery", &s.ready_query),
        ("latencyQuery", &s.latency_query),
        ("service", &s.service),
    ] {
        if let Some(v) = value {
            rows.push((name, code(v)));
        }
    }
    if let Some(c) = &s.calendar {
        rows.push((
            "calendar",
            code(&serde_json::to_string(c).unwrap_or_default()),
        ));
    }
    if let Some(t) = &status.tuning {
        rows.push((
            "latest tuning",
            escape(&format!(
                "{}: {} at {} of the threshold; predicted SLA {} (target {}, margin {}), {} GPU-hours over {} days replayed; attainment so far {}",
                html::time(t.at),
                html::quantile(t.headroom.quantile),
                html::percent(t.headroom.utilization),
                html::percent(t.predicted_sla),
                html::percent(t.target),
                html::percent(t.margin),
                html::number(t.predicted_gpu_hours),
                html::number(t.days),
                html::percent(t.attainment)
            )),
        ));
    }
    if let Some(l) = status.measured_latency_seconds {
        rows.push((
            "measured latency",
            escape(&format!("{} s", html::number(l))),
        ));
    }
    section("Settings", &facts(&rows))
}

/// The latest forecast, the accuracy window and the history held.
fn forecast(status: &ServiceStatus) -> String {
    let mut rows = Vec::new();
    match &status.forecast {
        Some(f) => {
            rows.push(("model", escape(&f.model)));
            rows.push((
                "made",
                escape(&format!(
                    "{} (fitted {})",
                    html::time(f.made_at),
                    html::time(f.fitted_at)
                )),
            ));
            let range = f.steps.first().zip(f.steps.last()).map(|(a, b)| {
                format!(
                    "{} steps, {} to {}",
                    f.steps.len(),
                    html::time(a.timestamp),
                    html::time(b.timestamp)
                )
            });
            rows.push(("steps", or_dash(range)));
        }
        None => rows.push(("model", "no forecast yet".to_string())),
    }
    rows.push((
        "accuracy",
        escape(&html::accuracy(
            &status.accuracy,
            html::upper_quantile(status),
        )),
    ));
    let h = &status.history;
    let held = h.start.zip(h.end).map(|(a, b)| {
        format!(
            "{} one-minute samples, {} to {}",
            html::number(h.samples as f64),
            html::time(a),
            html::time(b)
        )
    });
    rows.push(("history", or_dash(held)));
    rows.push(("refits", status.refits.to_string()));
    section("Forecast", &facts(&rows))
}

/// Patterns, trend and anomalies.
fn analysis(status: &ServiceStatus) -> String {
    let Some(a) = &status.analysis else {
        return section(
            "Patterns",
            "<p>Not analysed yet (at the first refit).</p>\n",
        );
    };
    let mut out = format!(
        "<p>Analysed {}. Trend: <b>{}</b>, {} a day ({} of the level), confidence {}.</p>\n",
        escape(&html::time(a.at)),
        escape(
            &serde_json::to_value(a.trend.class)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        escape(&html::number(a.trend.slope_per_day)),
        escape(&html::percent(a.trend.relative_slope_per_day)),
        escape(&html::percent(a.trend.confidence))
    );
    if a.patterns.is_empty() {
        out.push_str("<p>No seasonal period found.</p>\n");
    } else {
        out.push_str(
            "<table><thead><tr><th>period</th><th>length</th><th>strength</th>\
             <th>confidence</th></tr></thead><tbody>\n",
        );
        for p in &a.patterns {
            let label = serde_json::to_value(p.label)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&label),
                escape(&html::duration(p.seconds)),
                escape(&html::percent(p.strength)),
                escape(&html::percent(p.confidence))
            );
        }
        out.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        out,
        "<p>{} anomalous samples in the history{}.</p>",
        html::number(a.anomaly_count as f64),
        if a.anomalies.is_empty() {
            ""
        } else {
            "; the latest"
        }
    );
    if !a.anomalies.is_empty() {
        out.push_str(
            "<table><thead><tr><th>time</th><th>value</th><th>expected</th>\
             <th>score</th></tr></thead><tbody>\n",
        );
        for x in &a.anomalies {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&html::time(x.timestamp)),
                escape(&html::number(x.value)),
                escape(&html::number(x.expected)),
                escape(&html::number(x.score))
            );
        }
        out.push_str("</tbody></table>\n");
    }
    section("Patterns, trend and anomalies", &out)
}

/// The page of a ScaledObject that is not registered.
pub(super) fn not_found(namespace: &str, name: &str) -> String {
    let key = escape(&format!("{namespace}/{name}"));
    html::page(
        "not registered · prescale serve",
        &format!(
            "<h1>Not registered</h1>\n<section><p>ScaledObject <code>{key}</code> is not \
             registered with this server (KEDA registers a ScaledObject with its first call; \
             one KEDA stopped asking about expires).</p>\n<p><a href=\"/\">← all \
             ScaledObjects</a></p></section>\n"
        ),
    )
}
