//! `/`: every registered ScaledObject, a page of them at a time.

use std::fmt::Write as _;

use prescale_kube::cost::CostSnapshot;
use prescale_report::ChartSize;

use super::html::{self, escape};
use super::{PER_PAGE, chart, service_cost};
use crate::registry::status::{ServiceStatus, ServiceSummary};

/// Which page of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    /// This page, from 1.
    pub(super) page: usize,
    /// ScaledObjects registered.
    pub(super) total: usize,
}

impl Paging {
    /// Pages in all (at least one).
    pub(super) fn pages(self) -> usize {
        self.total.div_ceil(PER_PAGE).max(1)
    }

    /// Index of this page's first ScaledObject.
    pub(super) fn offset(self) -> usize {
        (self.page.max(1) - 1) * PER_PAGE
    }
}

/// The page listing `statuses` (this page's ScaledObjects, sorted).
pub(super) fn render(
    statuses: &[ServiceStatus],
    cost: Option<&CostSnapshot>,
    paging: Paging,
) -> String {
    let mut body = String::with_capacity(statuses.len() * 24 * 1024 + 4096);
    body.push_str("<h1>prescale serve</h1>\n");
    let _ = write!(
        body,
        "<p class=\"lead\">{} ScaledObject{} registered.",
        html::number(paging.total as f64),
        if paging.total == 1 { "" } else { "s" }
    );
    if let Some(c) = cost {
        let _ = write!(
            body,
            " Cost so far: ${} (${} this month), {} GPU-hours.",
            html::number(c.totals.cost_usd),
            html::number(c.totals.month_cost_usd),
            html::number(c.totals.gpu_hours)
        );
    }
    body.push_str(
        " Each chart shows the last day: the demand held in the history (the largest of each \
         five minutes), the forecast band, and the capacity of the replicas decided \
         (replicas × threshold); the band goes on into the latest forecast.</p>\n",
    );
    let nav = navigation(paging, statuses.len());
    body.push_str(&nav);
    if statuses.is_empty() {
        body.push_str(
            "<section><p>No ScaledObject yet: KEDA registers one with its first call naming \
             this scaler (or list them in the config file's <code>scaled_objects</code>).</p>\
             </section>\n",
        );
    }
    for status in statuses {
        body.push_str(&service(status, cost));
    }
    if paging.pages() > 1 {
        body.push_str(&nav);
    }
    html::page("prescale serve", &body)
}

/// One ScaledObject: its name (a link), badges, decision, settings, accuracy, cost, error, and
/// a small chart.
fn service(status: &ServiceStatus, cost: Option<&CostSnapshot>) -> String {
    let summary = ServiceSummary::from(status);
    let mut out = String::from("<section class=\"service\">\n<div>\n");
    let _ = writeln!(
        out,
        "<h2><a href=\"{}\">{}/{}</a>{}{}</h2>",
        escape(&html::service_href(&status.namespace, &status.name)),
        escape(&status.namespace),
        escape(&status.name),
        html::phase_badge(status.phase),
        html::mode_badge(&summary)
    );
    out.push_str(&html::decision_line(&summary, status.safety.as_deref()));
    out.push_str("<dl class=\"facts\">\n");
    let _ = writeln!(
        out,
        "<dt>settings</dt><dd>{}</dd>",
        escape(&html::settings_in_force(status))
    );
    let _ = writeln!(
        out,
        "<dt>accuracy</dt><dd>{}</dd>",
        escape(&html::accuracy(
            &status.accuracy,
            html::upper_quantile(status)
        ))
    );
    if let Some(c) = cost {
        let text = service_cost(c, status).map_or_else(|| "not billed yet".to_string(), html::cost);
        let _ = writeln!(out, "<dt>cost</dt><dd>{text}</dd>");
    }
    if let Some(e) = &status.last_error {
        let _ = writeln!(
            out,
            "<dt>last error</dt><dd class=\"error\">{} ({}): {}</dd>",
            escape(&html::time(e.at)),
            escape(&e.kind),
            escape(&shorten(&e.message, 300))
        );
    }
    out.push_str("</dl>\n</div>\n<div>\n");
    out.push_str(&chart::demand(status, ChartSize::Compact));
    out.push_str("</div>\n</section>\n");
    out
}

/// `text` cut to `chars` characters, with an ellipsis if it was longer (the service page shows
/// it whole).
fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Where this page is among the pages, with links to the others.
fn navigation(paging: Paging, shown: usize) -> String {
    if paging.pages() <= 1 {
        return String::new();
    }
    let first = paging.offset() + 1;
    let mut out = format!(
        "<nav class=\"pages\">ScaledObjects {}–{} of {} ({PER_PAGE} a page).",
        html::number(first as f64),
        html::number((first + shown).saturating_sub(1) as f64),
        html::number(paging.total as f64)
    );
    if paging.page > 1 {
        let _ = write!(
            out,
            " <a href=\"/?page={}\">← previous</a>",
            paging.page - 1
        );
    }
    if paging.page < paging.pages() {
        let _ = write!(out, " <a href=\"/?page={}\">next →</a>", paging.page + 1);
    }
    out.push_str("</nav>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_shortening() {
        let p = Paging {
            page: 2,
            total: 2 * PER_PAGE + 1,
        };
        assert_eq!((p.pages(), p.offset()), (3, PER_PAGE));
        let nav = navigation(p, PER_PAGE);
        assert!(nav.contains("href=\"/?page=1\"") && nav.contains("href=\"/?page=3\""));
        assert!(navigation(Paging { page: 1, total: 3 }, 3).is_empty());
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("hé", 2), "hé");
    }
}
