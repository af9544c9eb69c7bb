//! The metric names of docs/metrics.md: those prescale exports (the tables' first column) and
//! the upstream ones the dashboards may use (the list under "Upstream metrics").

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// Names read from docs/metrics.md.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentedMetrics {
    /// Metrics prescale exports (counters with their `_total` suffix).
    pub exported: BTreeSet<String>,
    /// Upstream metrics (vLLM, DCGM, KEDA, kube-state-metrics) the dashboards may use.
    pub upstream: BTreeSet<String>,
}

impl DocumentedMetrics {
    /// Parses the text of docs/metrics.md.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Self::default();
        let mut upstream = false;
        for line in text.lines() {
            if line.starts_with("## ") {
                upstream = line.to_ascii_lowercase().contains("upstream");
                continue;
            }
            if upstream {
                out.upstream.extend(backticked(line));
            } else if let Some(cell) = line.strip_prefix("| `") {
                let name = cell.split('`').next().unwrap_or_default();
                out.exported.insert(name.to_string());
            }
        }
        if out.exported.is_empty() || out.upstream.is_empty() {
            return Err(Error::MetricsDoc(format!(
                "found {} exported and {} upstream metric names; expected tables of `name`s and an \
                 \"Upstream metrics\" section",
                out.exported.len(),
                out.upstream.len()
            )));
        }
        Ok(out)
    }

    /// Whether `name` is documented. A histogram's `_bucket`, `_sum` and `_count` series count
    /// as documented when the histogram is.
    pub fn contains(&self, name: &str) -> bool {
        let known = |n: &str| self.exported.contains(n) || self.upstream.contains(n);
        known(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(known))
    }
}

/// The `code spans` of a line.
fn backticked(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split('`').skip(1).step_by(2).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# M\n\n## Cost\n\n| Name | Type |\n|---|---|\n| `prescale_cost_usd_total` | counter |\n\
        | `prescale_grpc_request_duration_seconds` | histogram |\n\n## Upstream metrics the dashboards use\n\n\
        - vLLM: `vllm:num_requests_waiting`,\n  `vllm:e2e_request_latency_seconds_bucket`.\n";

    #[test]
    fn reads_tables_and_upstream_list() {
        let m = DocumentedMetrics::parse(DOC).unwrap();
        assert!(m.contains("prescale_cost_usd_total"));
        assert!(m.contains("prescale_grpc_request_duration_seconds_bucket"));
        assert!(m.contains("vllm:num_requests_waiting"));
        assert!(m.contains("vllm:e2e_request_latency_seconds_bucket"));
        assert!(!m.contains("prescale_cost_usd"));
        assert!(!m.contains("vllm:num_requests_running"));
        assert!(DocumentedMetrics::parse("# nothing").is_err());
    }
}
