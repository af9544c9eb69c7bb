//! Named, typed ML metrics with units, and how to read them.
//!
//! A [`MetricKind`] is one thing an autoscaler of ML services wants to know — request rate,
//! P95 latency, time to first token, tokens per second, queue, KV-cache usage, GPU
//! utilization, training progress, cost per request — with its [`Unit`]. Each has a PromQL
//! template over the upstream metric names (vLLM, DCGM exporter; see `docs/collector.md`),
//! rendered for one service by a [`Selector`], and [`summary`] reads a whole workload's set
//! from Prometheus or from two scrapes of a `/metrics` page.

mod histogram;
pub mod summary;

pub use histogram::histogram_quantile;

use std::fmt;

/// The unit of a metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Requests per second.
    RequestsPerSecond,
    /// Tokens per second.
    TokensPerSecond,
    /// Seconds.
    Seconds,
    /// A count of requests.
    Requests,
    /// A fraction, 0 to 1.
    Ratio,
    /// A percentage, 0 to 100.
    Percent,
    /// Mebibytes.
    Mebibytes,
    /// Degrees Celsius.
    Celsius,
    /// Training steps.
    Steps,
    /// Training epochs.
    Epochs,
    /// A number without unit (loss).
    Number,
    /// US dollars.
    Usd,
    /// Replicas (serving engines).
    Replicas,
}

impl Unit {
    /// A short symbol for tables: `req/s`, `tok/s`, `s`, `%`, `MiB`, ...
    #[must_use]
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::RequestsPerSecond => "req/s",
            Self::TokensPerSecond => "tok/s",
            Self::Seconds => "s",
            Self::Requests => "requests",
            Self::Ratio => "ratio",
            Self::Percent => "%",
            Self::Mebibytes => "MiB",
            Self::Celsius => "°C",
            Self::Steps => "steps",
            Self::Epochs => "epochs",
            Self::Number => "",
            Self::Usd => "USD",
            Self::Replicas => "replicas",
        }
    }

    /// The unit's name in JSON output (`requests_per_second`, `seconds`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RequestsPerSecond => "requests_per_second",
            Self::TokensPerSecond => "tokens_per_second",
            Self::Seconds => "seconds",
            Self::Requests => "requests",
            Self::Ratio => "ratio",
            Self::Percent => "percent",
            Self::Mebibytes => "mebibytes",
            Self::Celsius => "celsius",
            Self::Steps => "steps",
            Self::Epochs => "epochs",
            Self::Number => "number",
            Self::Usd => "usd",
            Self::Replicas => "replicas",
        }
    }
}

/// The kinds of workload a summary can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A vLLM inference server.
    Vllm,
    /// GPUs seen through the NVIDIA DCGM exporter.
    Gpu,
    /// A training job exporting `training_*` metrics.
    Training,
}

impl Workload {
    /// Parses `vllm`, `gpu` (or `dcgm`) and `training`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "vllm" => Some(Self::Vllm),
            "gpu" | "dcgm" => Some(Self::Gpu),
            "training" => Some(Self::Training),
            _ => None,
        }
    }

    /// The metric kinds a summary of this workload reads (cost kinds come last and are
    /// derived from the others).
    #[must_use]
    pub const fn kinds(self) -> &'static [MetricKind] {
        use MetricKind as K;
        match self {
            Self::Vllm => &[
                K::RequestRate,
                K::LatencyP50,
                K::LatencyP95,
                K::LatencyP99,
                K::TtftP50,
                K::TtftP95,
                K::TtftP99,
                K::PromptTokensPerSecond,
                K::GenerationTokensPerSecond,
                K::RequestsWaiting,
                K::RequestsRunning,
                K::KvCacheUsage,
                K::Replicas,
                K::CostPerRequest,
                K::CostPer1kTokens,
            ],
            Self::Gpu => &[K::GpuUtilization, K::GpuMemoryUsed, K::GpuTemperature],
            Self::Training => &[
                K::TrainingStep,
                K::TrainingEpoch,
                K::TrainingEta,
                K::TrainingLoss,
                K::TrainingAccuracy,
            ],
        }
    }
}

/// One named, typed ML metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Successful requests per second.
    RequestRate,
    /// Median end-to-end request latency.
    LatencyP50,
    /// 95th percentile end-to-end request latency.
    LatencyP95,
    /// 99th percentile end-to-end request latency.
    LatencyP99,
    /// Median time to first token.
    TtftP50,
    /// 95th percentile time to first token.
    TtftP95,
    /// 99th percentile time to first token.
    TtftP99,
    /// Prompt (prefill) tokens per second.
    PromptTokensPerSecond,
    /// Generated tokens per second.
    GenerationTokensPerSecond,
    /// Requests waiting in the engines' queues.
    RequestsWaiting,
    /// Requests being processed.
    RequestsRunning,
    /// KV-cache usage, 0 to 1 (mean over engines).
    KvCacheUsage,
    /// Serving engines reporting metrics.
    Replicas,
    /// GPU utilization in percent (mean over GPUs).
    GpuUtilization,
    /// GPU framebuffer memory used in MiB (sum over GPUs).
    GpuMemoryUsed,
    /// GPU temperature in °C (hottest GPU).
    GpuTemperature,
    /// Training step reached.
    TrainingStep,
    /// Training epoch reached.
    TrainingEpoch,
    /// Estimated seconds until the last training step, at the current step rate.
    TrainingEta,
    /// Training loss.
    TrainingLoss,
    /// Training (or validation) accuracy, 0 to 1.
    TrainingAccuracy,
    /// Dollars per request: replica-hours price over requests served.
    CostPerRequest,
    /// Dollars per 1,000 tokens (prompt plus generated).
    CostPer1kTokens,
}

impl MetricKind {
    /// The snake-case name used in tables and JSON (`request_rate`, `latency_p95`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::RequestRate => "request_rate",
            Self::LatencyP50 => "latency_p50",
            Self::LatencyP95 => "latency_p95",
            Self::LatencyP99 => "latency_p99",
            Self::TtftP50 => "ttft_p50",
            Self::TtftP95 => "ttft_p95",
            Self::TtftP99 => "ttft_p99",
            Self::PromptTokensPerSecond => "prompt_tokens_per_second",
            Self::GenerationTokensPerSecond => "generation_tokens_per_second",
            Self::RequestsWaiting => "requests_waiting",
            Self::RequestsRunning => "requests_running",
            Self::KvCacheUsage => "kv_cache_usage",
            Self::Replicas => "replicas",
            Self::GpuUtilization => "gpu_utilization",
            Self::GpuMemoryUsed => "gpu_memory_used",
            Self::GpuTemperature => "gpu_temperature",
            Self::TrainingStep => "training_step",
            Self::TrainingEpoch => "training_epoch",
            Self::TrainingEta => "training_eta",
            Self::TrainingLoss => "training_loss",
            Self::TrainingAccuracy => "training_accuracy",
            Self::CostPerRequest => "cost_per_request",
            Self::CostPer1kTokens => "cost_per_1k_tokens",
        }
    }

    /// The unit of the value.
    #[must_use]
    pub const fn unit(self) -> Unit {
        match self {
            Self::RequestRate => Unit::RequestsPerSecond,
            Self::LatencyP50
            | Self::LatencyP95
            | Self::LatencyP99
            | Self::TtftP50
            | Self::TtftP95
            | Self::TtftP99
            | Self::TrainingEta => Unit::Seconds,
            Self::PromptTokensPerSecond | Self::GenerationTokensPerSecond => Unit::TokensPerSecond,
            Self::RequestsWaiting | Self::RequestsRunning => Unit::Requests,
            Self::KvCacheUsage | Self::TrainingAccuracy => Unit::Ratio,
            Self::Replicas => Unit::Replicas,
            Self::GpuUtilization => Unit::Percent,
            Self::GpuMemoryUsed => Unit::Mebibytes,
            Self::GpuTemperature => Unit::Celsius,
            Self::TrainingStep => Unit::Steps,
            Self::TrainingEpoch => Unit::Epochs,
            Self::TrainingLoss => Unit::Number,
            Self::CostPerRequest | Self::CostPer1kTokens => Unit::Usd,
        }
    }

    /// The quantile of a latency kind.
    const fn quantile(self) -> Option<f64> {
        match self {
            Self::LatencyP50 | Self::TtftP50 => Some(0.5),
            Self::LatencyP95 | Self::TtftP95 => Some(0.95),
            Self::LatencyP99 | Self::TtftP99 => Some(0.99),
            _ => None,
        }
    }

    /// The PromQL for this kind on the series chosen by `sel`, with rates over `window`
    /// (e.g. `1m`). Cost kinds are derived, not queried: `None`.
    #[must_use]
    pub fn promql(self, sel: &Selector, window: &str) -> Option<String> {
        let s = sel.matchers();
        let rate = |metric: &str| format!("sum(rate({metric}{{{s}}}[{window}]))");
        let quantile = |metric: &str, q: f64| {
            format!("histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{s}}}[{window}])))")
        };
        Some(match self {
            Self::RequestRate => rate("vllm:request_success_total"),
            Self::LatencyP50 | Self::LatencyP95 | Self::LatencyP99 => {
                quantile("vllm:e2e_request_latency_seconds", self.quantile()?)
            }
            Self::TtftP50 | Self::TtftP95 | Self::TtftP99 => {
                quantile("vllm:time_to_first_token_seconds", self.quantile()?)
            }
            Self::PromptTokensPerSecond => rate("vllm:prompt_tokens_total"),
            Self::GenerationTokensPerSecond => rate("vllm:generation_tokens_total"),
            Self::RequestsWaiting => format!("sum(vllm:num_requests_waiting{{{s}}})"),
            Self::RequestsRunning => format!("sum(vllm:num_requests_running{{{s}}})"),
            Self::KvCacheUsage => format!("avg(vllm:kv_cache_usage_perc{{{s}}})"),
            Self::Replicas => format!("count(vllm:num_requests_running{{{s}}})"),
            Self::GpuUtilization => format!("avg(DCGM_FI_DEV_GPU_UTIL{{{s}}})"),
            Self::GpuMemoryUsed => format!("sum(DCGM_FI_DEV_FB_USED{{{s}}})"),
            Self::GpuTemperature => format!("max(DCGM_FI_DEV_GPU_TEMP{{{s}}})"),
            Self::TrainingStep => format!("max(training_step{{{s}}})"),
            Self::TrainingEpoch => format!("max(training_epoch{{{s}}})"),
            Self::TrainingEta => format!(
                "(max(training_total_steps{{{s}}}) - max(training_step{{{s}}})) \
                 / sum(rate(training_step{{{s}}}[{window}]))"
            ),
            Self::TrainingLoss => format!("avg(training_loss{{{s}}})"),
            Self::TrainingAccuracy => format!("avg(training_accuracy{{{s}}})"),
            Self::CostPerRequest | Self::CostPer1kTokens => return None,
        })
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which series belong to a service: PromQL label matchers without braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(String);

impl Selector {
    /// `label="value"`, with the value escaped for PromQL (e.g. `service="llama-chat"`).
    #[must_use]
    pub fn label(label: &str, value: &str) -> Self {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        Self(format!("{label}=\"{escaped}\""))
    }

    /// Raw matchers as given, e.g. `namespace="inference",pod=~"vllm-.*"`; empty for all.
    #[must_use]
    pub fn raw(matchers: impl Into<String>) -> Self {
        Self(matchers.into())
    }

    /// The matchers.
    #[must_use]
    pub fn matchers(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_use_the_upstream_names_and_the_selector() {
        let sel = Selector::label("service", "llama \"chat\"");
        assert_eq!(sel.matchers(), r#"service="llama \"chat\"""#);
        assert_eq!(
            MetricKind::LatencyP95.promql(&sel, "1m").expect("query"),
            r#"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{service="llama \"chat\""}[1m])))"#
        );
        let all = Selector::raw("");
        assert_eq!(
            MetricKind::RequestRate.promql(&all, "5m").expect("query"),
            "sum(rate(vllm:request_success_total{}[5m]))"
        );
        assert_eq!(MetricKind::CostPerRequest.promql(&all, "1m"), None);
    }

    #[test]
    fn every_kind_has_a_unit_and_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for w in [Workload::Vllm, Workload::Gpu, Workload::Training] {
            for k in w.kinds() {
                assert!(names.insert(k.name()), "{k} twice");
                let _ = k.unit().symbol();
            }
        }
        assert_eq!(MetricKind::TtftP99.unit(), Unit::Seconds);
        assert_eq!(MetricKind::KvCacheUsage.unit().name(), "ratio");
        assert_eq!(Workload::parse("dcgm"), Some(Workload::Gpu));
        assert_eq!(Workload::parse("tgi"), None);
    }
}
