//! PromQL checks of dashboard expressions: Grafana's variables are replaced by sample values
//! (as Grafana does before it queries), the expression is parsed with `promql-parser`, and
//! the metric names it selects are collected.

use std::collections::BTreeSet;

use promql_parser::label::METRIC_NAME;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

use crate::error::{Error, Result};

/// Grafana's variables and the sample values they are replaced with, longest names first so
/// that `$__rate_interval` is not read as `$__rate` followed by text.
const VARIABLES: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("${namespace}", ".*"),
    ("${service}", ".*"),
    ("$namespace", ".*"),
    ("$service", ".*"),
];

/// `expr` with Grafana's variables replaced; an error names any variable left over.
pub fn substitute(place: &str, expr: &str) -> Result<String> {
    let mut out = expr.to_string();
    for (var, value) in VARIABLES {
        out = out.replace(var, value);
    }
    if let Some(i) = out.find('$') {
        let var: String = out[i..]
            .chars()
            .take_while(|c| *c == '$' || *c == '{' || c.is_alphanumeric() || *c == '_')
            .collect();
        return Err(Error::PromQl {
            place: place.to_string(),
            expr: expr.to_string(),
            reason: format!("unknown Grafana variable `{var}`"),
        });
    }
    Ok(out)
}

struct Names(BTreeSet<String>, Option<String>);

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> std::result::Result<bool, String> {
        let selector = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let name = selector.name.clone().or_else(|| {
            selector
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == METRIC_NAME)
                .map(|m| m.value.clone())
        });
        match name {
            Some(n) => {
                self.0.insert(n);
            }
            None => self.1 = Some(selector.to_string()),
        }
        Ok(true)
    }
}

/// The metric names `expr` selects (after [`substitute`]); an error if it does not parse or
/// has a selector without a metric name.
pub fn metric_names(place: &str, expr: &str) -> Result<BTreeSet<String>> {
    let bad = |reason: String| Error::PromQl {
        place: place.to_string(),
        expr: expr.to_string(),
        reason,
    };
    let text = substitute(place, expr)?;
    let ast = parser::parse(&text).map_err(|e| bad(format!("does not parse: {e}")))?;
    let mut names = Names(BTreeSet::new(), None);
    walk_expr(&mut names, &ast).map_err(bad)?;
    if let Some(selector) = names.1 {
        return Err(bad(format!("selector `{selector}` names no metric")));
    }
    Ok(names.0)
}

/// The selector of a Grafana `label_values(<selector>, <label>)` variable query, or `None`
/// for other query forms.
pub fn label_values_selector(query: &str) -> Option<&str> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, _label) = inner.rsplit_once(',')?;
    Some(selector.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_names_through_functions_and_operators() {
        let names = metric_names(
            "t",
            r#"sum by (namespace) (rate(prescale_cost_usd_total{namespace=~"$namespace"}[$__rate_interval]))
              / on (namespace) sum by (namespace) (rate(vllm:request_success_total[5m]))"#,
        )
        .unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["prescale_cost_usd_total", "vllm:request_success_total"]
        );
        let names = metric_names(
            "t",
            r#"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))"#,
        )
        .unwrap();
        assert!(names.contains("vllm:e2e_request_latency_seconds_bucket"));
    }

    #[test]
    fn rejects_bad_expressions_with_the_place() {
        let err = metric_names("cost.json: panel \"x\"", "sum(rate(foo[5m])").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cost.json: panel \"x\": PromQL `sum(rate(foo[5m])`: does not parse"),
            "{err}"
        );
        let err = metric_names("p", r#"{job="x"}"#).unwrap_err();
        assert!(err.to_string().contains("names no metric"), "{err}");
        let err = metric_names("p", "rate(foo[$__unknown])").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown Grafana variable `$__unknown`"),
            "{err}"
        );
    }

    #[test]
    fn label_values_queries() {
        assert_eq!(
            label_values_selector(
                "label_values(prescale_desired_replicas{namespace=~\"$namespace\"}, service)"
            ),
            Some("prescale_desired_replicas{namespace=~\"$namespace\"}")
        );
        assert_eq!(label_values_selector("query_result(up)"), None);
    }
}
