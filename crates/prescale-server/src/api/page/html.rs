//! The pages' shell and the fragments both pages show: escaping, numbers and times, the
//! decision line, the settings in force, the accuracy window and the cost.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use prescale_kube::cost::ServiceCostSnapshot;
use prescale_policy::BudgetState;

use crate::registry::status::{AccuracyView, Phase, ServiceStatus, ServiceSummary};

/// Escapes text for HTML (the report's escaping). Every string that came from a caller
/// (names, metadata, error texts) goes through here.
pub(super) use prescale_report::escape;

/// `text` as one URL path segment: letters, digits, `-`, `.` and `_` as they are, every other
/// byte percent-encoded (Kubernetes names need none; anything else cannot break out).
pub(super) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The link to a service's page (escaped for an attribute).
pub(super) fn service_href(namespace: &str, name: &str) -> String {
    format!(
        "/services/{}/{}",
        path_segment(namespace),
        path_segment(name)
    )
}

/// The pages' styles (inline: the Content Security Policy allows nothing else).
const STYLE: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f5f6f8; color: #222;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 32px; }
h1 { font-size: 1.5em; margin: 0 0 .2em; overflow-wrap: anywhere; }
h2 { font-size: 1.12em; margin: 0 0 .3em; overflow-wrap: anywhere; }
a { color: #1f5fa8; }
.lead { color: #555; margin: 0 0 1em; }
section { margin: 14px 0; padding: 12px 16px; background: #fff;
  border: 1px solid #dcdfe4; border-radius: 6px; }
section.service { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(320px, 1.5fr);
  gap: 8px 20px; align-items: start; }
@media (max-width: 900px) { section.service { grid-template-columns: 1fr; } }
.badge { display: inline-block; padding: 0 .5em; margin-left: .4em; border-radius: 3px;
  font-size: .8em; font-weight: 600; vertical-align: .1em; background: #eef0f3; color: #444; }
.phase-ok { background: #dff2e3; color: #0b6b2e; }
.phase-holding, .phase-reactive_fallback { background: #fdf0d5; color: #7a4d00; }
.phase-starting { background: #e6eefa; color: #1f4f8a; }
.decision { margin: .2em 0 .4em; overflow-wrap: anywhere; }
.reason { font-weight: 600; }
.safety, .warn { color: #7a4d00; }
.error { color: #a12622; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; margin: .3em 0; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
thead th { border-bottom: 1px solid #dcdfe4; }
.caption { color: #555; font-size: .9em; margin: .2em 0 .4em; }
code { font-size: .92em; overflow-wrap: anywhere; }
svg.chart { display: block; width: 100%; height: auto; }
nav.pages { margin: 1em 0; }
footer { color: #777; font-size: .85em; }
"#;

/// A whole page: `title` and `body` are HTML (escaped by the caller).
pub(super) fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 512);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\
         <footer>prescale {}. Times are server time, in UTC.</footer>\n</main>\n</body>\n</html>\n",
        super::META_CONTENT_SECURITY_POLICY,
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// A number for people: `1,234`, `56.7`, `0.42`; `–` when not finite.
pub(super) fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    let (sign, digits) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, ""), |(i, f)| (i, f));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `0.973` as `97.3%`.
pub(super) fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "–".to_string();
    }
    let text = format!("{:.1}", ratio * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

/// A quantile as `P90`, `P97.5`.
pub(super) fn quantile(q: f64) -> String {
    format!("P{}", number(q * 100.0))
}

/// A time as `2024-01-01 10:03:15`.
pub(super) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Seconds as `3m`, `14days`, `1h 30m`.
pub(super) fn duration(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0).unsigned_abs()))
        .to_string()
}

/// The phase badge.
pub(super) fn phase_badge(phase: Phase) -> String {
    let name = match phase {
        Phase::Starting => "starting",
        Phase::Ok => "ok",
        Phase::Holding => "holding",
        Phase::ReactiveFallback => "reactive_fallback",
    };
    format!(
        "<span class=\"badge phase-{name}\">{}</span>",
        name.replace('_', " ")
    )
}

/// The mode badge: `predictive`, or `forecast-only (shadow)` when KEDA gets reactive values.
pub(super) fn mode_badge(summary: &ServiceSummary) -> String {
    let shadow = if summary.shadow { " (shadow)" } else { "" };
    format!(
        "<span class=\"badge\">{}{shadow}</span>",
        summary.mode.as_str()
    )
}

/// The current decision and its reason in one line (or why there is none yet), from the
/// list API's summary.
pub(super) fn decision_line(summary: &ServiceSummary, safety: Option<&str>) -> String {
    let mut out = String::from("<p class=\"decision\">");
    match (&summary.summary, &summary.reason) {
        (Some(line), reason) => {
            let reason = reason.as_deref().unwrap_or("?");
            let _ = write!(
                out,
                "<span class=\"reason\">{}</span>: {}",
                escape(reason),
                escape(line)
            );
        }
        (None, _) if safety.is_none() => out.push_str("no decision yet"),
        (None, _) => {}
    }
    if let Some(s) = safety {
        if summary.summary.is_some() {
            out.push_str("<br>");
        }
        let _ = write!(out, "<span class=\"safety\">{}</span>", escape(s));
    }
    out.push_str("</p>\n");
    out
}

/// The headroom and bounds the decisions use now, in one line: SLO mode's latest pick (or
/// the conservative headroom before the first tuning) or the fixed quantile, with the
/// threshold, the lead time and the replica bounds.
pub(super) fn settings_in_force(status: &ServiceStatus) -> String {
    let s = &status.settings;
    let headroom = match (s.slo, &status.tuning) {
        (Some(slo), Some(t)) => format!(
            "SLO {} within {} ms: {} at {} of the threshold (tuned {}, predicted SLA {})",
            percent(slo),
            s.sla_ms,
            quantile(t.headroom.quantile),
            percent(t.headroom.utilization),
            time(t.at),
            percent(t.predicted_sla)
        ),
        (Some(slo), None) => {
            let h = prescale_sim::tune::Headroom::CONSERVATIVE;
            format!(
                "SLO {} within {} ms: {} at {} of the threshold (conservative, until the first tuning)",
                percent(slo),
                s.sla_ms,
                quantile(h.quantile),
                percent(h.utilization)
            )
        }
        (None, _) => format!("{} of the forecast (fixed quantile)", quantile(s.quantile)),
    };
    format!(
        "{headroom}; threshold {} a replica, lead {}, replicas {}–{}{}, drain {}",
        number(s.threshold),
        duration(s.cold_start_secs),
        s.min_replicas,
        s.max_replicas,
        if s.scale_to_zero {
            ", scale to zero"
        } else {
            ""
        },
        duration(s.drain_secs)
    )
}

/// The accuracy window in one line.
pub(super) fn accuracy(a: &AccuracyView, q: f64) -> String {
    if a.scored == 0 {
        return "not scored yet (rolling 24 h of forecasts made one lead time ahead)".to_string();
    }
    let or_dash = |v: Option<f64>| v.map_or_else(|| "–".to_string(), percent);
    format!(
        "1 − WAPE {}, {} coverage {}, over {} steps (rolling 24 h)",
        or_dash(a.ratio),
        quantile(q),
        or_dash(a.coverage),
        number(a.scored as f64)
    )
}

/// The quantile the forecast's upper edge is at: the latest forecast's, else the settings'.
pub(super) fn upper_quantile(status: &ServiceStatus) -> f64 {
    status
        .forecast
        .as_ref()
        .map_or(status.settings.quantile, |f| f.quantile)
}

/// A service's cost in one line (HTML).
pub(super) fn cost(c: &ServiceCostSnapshot) -> String {
    let mut out = format!(
        "${} so far, ${} this month",
        number(c.total_cost_usd),
        number(c.month_cost_usd)
    );
    if let (Some(budget), Some(used)) = (c.monthly_budget_usd, c.budget_used_ratio) {
        let _ = write!(out, " ({} of ${} a month)", percent(used), number(budget));
    }
    let _ = write!(
        out,
        "; {} GPU-hours, {} fewer than static at maxReplicas",
        number(c.gpu_hours),
        number(c.gpu_hours_saved)
    );
    let out = escape(&out);
    if c.budget_state == BudgetState::Exhausted {
        format!("{out} <span class=\"warn\">budget exhausted: predictive headroom dropped</span>")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes_what_callers_send() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(path_segment("chat.v1-a"), "chat.v1-a");
        assert_eq!(path_segment("a/b\"<é"), "a%2Fb%22%3C%C3%A9");
        assert_eq!(service_href("ns", "a b"), "/services/ns/a%20b");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1234.4), "1,234");
        assert_eq!(number(-1_234_567.0), "-1,234,567");
        assert_eq!(number(56.72), "56.7");
        assert_eq!(number(0.4213), "0.42");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(percent(0.973), "97.3%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(quantile(0.9), "P90");
        assert_eq!(quantile(0.975), "P97.5");
        assert_eq!(duration(180), "3m");
        assert_eq!(duration(-5), "0s");
    }
}
