//! The service spec: what an MLOps engineer writes, one entry per ML service.
//!
//! Every struct rejects unknown fields. Field names are camelCase in YAML, like the KEDA
//! resources they become; each field's doc comment is its user documentation (docs/spec.md
//! and `prescale generate --explain` repeat them).

use std::collections::BTreeMap;

use prescale_core::calendar::CalendarConfig;
use serde::{Deserialize, Serialize};

pub use crate::behavior::{HpaBehavior, HpaPolicy, HpaPolicyType, HpaRules, HpaSelectPolicy};

/// A spec file: a list of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// The services, each generating its own KEDA resources.
    pub services: Vec<Service>,
}

/// What a service runs on, and so which KEDA resource scales it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A vLLM inference Deployment on GPUs: a ScaledObject.
    Vllm,
    /// Celery workers on a RabbitMQ or Redis broker: a ScaledObject.
    Celery,
    /// Queued training jobs: a ScaledJob that starts one Job per queued item.
    Training,
}

/// One ML service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    /// Name of the service: names the generated resources; lowercase DNS label.
    pub name: String,
    /// Kubernetes namespace of the service (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `vllm`, `celery` or `training`.
    pub kind: Kind,
    /// The workload to scale (vllm, celery); default a `Deployment` (`apps/v1`) named like the
    /// service.
    #[serde(default)]
    pub target: Option<Target>,
    /// The Job to start per queued item (training only).
    #[serde(default)]
    pub job: Option<JobSpec>,
    /// Model name served by vLLM (`model_name` label of the vLLM metrics); default: all
    /// models of the service's pods.
    #[serde(default)]
    pub model: Option<String>,
    /// Prometheus base URL for the Prometheus-based triggers (default
    /// `http://prometheus-operated.monitoring.svc:9090`).
    #[serde(default)]
    pub prometheus: Option<String>,
    /// Fewest replicas (default 1; 0 enables scale-to-zero, which needs a demand-side
    /// trigger: `predictive`, `rabbitmq`, `redis` or a custom `prometheus` query).
    #[serde(default = "default_min")]
    pub min_replicas: u32,
    /// Most replicas, or most parallel Jobs for training (default 10).
    #[serde(default = "default_max")]
    pub max_replicas: u32,
    /// Replicas while no trigger is active (KEDA `idleReplicaCount`; only 0 is reliable).
    #[serde(default)]
    pub idle_replicas: Option<u32>,
    /// Seconds between two KEDA polls of the triggers (default 30; the fewer, the faster the
    /// wake-up from zero).
    #[serde(default)]
    pub polling_interval: Option<u32>,
    /// Seconds without activity before scaling to zero or idle (KEDA default 300).
    #[serde(default)]
    pub cooldown_period: Option<u32>,
    /// Seconds after creation before the first scale-in (KEDA default 0).
    #[serde(default)]
    pub initial_cooldown_period: Option<u32>,
    /// HPA scaling behavior as in Kubernetes `autoscaling/v2` (`scaleUp`/`scaleDown` with
    /// `stabilizationWindowSeconds`, `selectPolicy`, `policies`, `tolerance`); omitted parts
    /// take the Kubernetes defaults.
    pub behavior: Option<HpaBehavior>,
    /// Replicas to hold while the triggers fail (ScaledObject only).
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// Combine the triggers with a formula instead of the maximum (ScaledObject only).
    #[serde(default)]
    pub scaling_modifiers: Option<ScalingModifiers>,
    /// Business hours: a `cron` trigger that holds `minReplicas` during them, and the
    /// calendar handed to the predictive trigger.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// Prefer spot (preemptible) nodes.
    #[serde(default)]
    pub spot: Option<Spot>,
    /// Extra labels on every generated resource.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on every generated resource.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The scaling signals (at least one).
    pub triggers: Vec<Trigger>,
}

/// The scaled workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    /// Its name.
    pub name: String,
    /// Its kind (default `Deployment`); any resource with a `/scale` subresource.
    #[serde(default = "default_target_kind")]
    pub kind: String,
    /// Its API version (default `apps/v1`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
}

/// The Job template of a training service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobSpec {
    /// Container image.
    pub image: String,
    /// Command and arguments (default: the image's entrypoint).
    #[serde(default)]
    pub command: Vec<String>,
    /// GPUs per Job (`nvidia.com/gpu` limit; default 0).
    #[serde(default)]
    pub gpus: u32,
    /// Retries before a Job is failed (default 0: a failed training run is not retried).
    #[serde(default)]
    pub backoff_limit: u32,
    /// Seconds a Job may run before it is stopped.
    #[serde(default)]
    pub active_deadline_seconds: Option<u32>,
    /// KEDA ScaledJob scaling strategy: `default`, `custom`, `accurate` or `eager` (default
    /// `accurate`, which counts pending Jobs).
    #[serde(default = "default_strategy")]
    pub scaling_strategy: String,
    /// Pod conditions that make a Job count as started, not pending (default `Ready`,
    /// `PodScheduled`): without them, Jobs waiting for a GPU node are started twice.
    #[serde(default = "default_pending_conditions")]
    pub pending_pod_conditions: Vec<String>,
    /// Finished Jobs to keep (default 5).
    #[serde(default = "default_history")]
    pub successful_jobs_history_limit: u32,
    /// Failed Jobs to keep (default 5).
    #[serde(default = "default_history")]
    pub failed_jobs_history_limit: u32,
    /// PromQL of a training progress metric (0..1) for dashboards; recorded as the
    /// annotation `prescale.io/progress-query`.
    #[serde(default)]
    pub progress_query: Option<String>,
}

/// KEDA fallback: replicas to hold after the triggers fail `failureThreshold` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fallback {
    /// Consecutive failures before the fallback applies.
    pub failure_threshold: u32,
    /// Replicas during the fallback.
    pub replicas: u32,
    /// `static` (default), `currentReplicas`, `currentReplicasIfHigher`,
    /// `currentReplicasIfLower`.
    #[serde(default)]
    pub behavior: Option<String>,
}

/// KEDA `advanced.scalingModifiers`: one composite metric from a formula over the triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScalingModifiers {
    /// Formula over trigger names (expr-lang), e.g. `max(predictive, queue / 2)`.
    pub formula: String,
    /// Target value of the composite metric per replica (> 0).
    pub target: f64,
    /// The composite value above which the service is active (default 0).
    #[serde(default)]
    pub activation_target: Option<f64>,
    /// `AverageValue` (default) or `Value`.
    #[serde(default)]
    pub metric_type: Option<MetricType>,
}

/// HPA metric type of a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricType {
    /// The metric divided by the replicas is compared with the target.
    AverageValue,
    /// The metric is compared with the target as is.
    Value,
    /// Percent of the requests (cpu and memory only).
    Utilization,
}

impl MetricType {
    /// The KEDA spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AverageValue => "AverageValue",
            Self::Value => "Value",
            Self::Utilization => "Utilization",
        }
    }
}

/// Business hours: a business calendar plus the replicas to hold while open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BusinessHours {
    /// IANA time-zone name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Weekday names (`mon` ... `sun`); default Monday to Friday.
    #[serde(default = "default_weekdays")]
    pub weekdays: Vec<String>,
    /// Opening time, `HH:MM` (default `09:00`).
    #[serde(default = "default_open")]
    pub open: String,
    /// Closing time, `HH:MM` (default `17:00`).
    #[serde(default = "default_close")]
    pub close: String,
    /// Holidays, `YYYY-MM-DD` (the cron trigger cannot skip them; the predictive trigger
    /// does).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Replicas to hold while open (> 0).
    pub replicas: u32,
}

impl BusinessHours {
    /// The calendar in the forecasting crate's configuration form.
    pub fn calendar(&self) -> CalendarConfig {
        CalendarConfig {
            timezone: self.timezone.clone(),
            weekdays: self.weekdays.clone(),
            open: self.open.clone(),
            close: self.close.clone(),
            holidays: self.holidays.clone(),
        }
    }
}

fn default_weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}
fn default_open() -> String {
    "09:00".into()
}
fn default_close() -> String {
    "17:00".into()
}

/// Spot preference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spot {
    /// Prefer spot nodes (default true).
    #[serde(default = "default_true")]
    pub prefer: bool,
    /// Node label that marks spot nodes (default `karpenter.sh/capacity-type=spot`).
    #[serde(default = "default_spot_label")]
    pub node_label: String,
    /// Taint of spot nodes to tolerate, `key=value:Effect` (default none).
    #[serde(default)]
    pub toleration: Option<String>,
}

/// The kinds of scaling signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerType {
    /// Requests waiting in vLLM (`vllm:num_requests_waiting`), summed over pods.
    VllmWaiting,
    /// Requests in vLLM batches (`vllm:num_requests_running`), summed over pods.
    VllmRunning,
    /// KV-cache usage (`vllm:kv_cache_usage_perc`, 0..1), averaged over pods.
    VllmKvCache,
    /// Time to first token quantile (seconds, `vllm:time_to_first_token_seconds`).
    VllmTtft,
    /// End-to-end latency quantile (seconds, `vllm:e2e_request_latency_seconds`).
    VllmE2eLatency,
    /// Finished requests per second (`vllm:request_success_total`).
    VllmRequestRate,
    /// GPU utilization in percent (`DCGM_FI_DEV_GPU_UTIL`, dcgm-exporter), averaged.
    GpuUtilization,
    /// A PromQL query of your own (e.g. requests at the gateway).
    Prometheus,
    /// RabbitMQ queue length or message rate (Celery).
    Rabbitmq,
    /// Redis list length (Celery on Redis: the queue is a list named like the queue).
    Redis,
    /// CPU utilization in percent (needs container requests; never wakes from zero).
    Cpu,
    /// Memory utilization in percent (needs container requests; never wakes from zero).
    Memory,
    /// The prescale forecast: the KEDA external scaler served by the prescale server.
    Predictive,
}

impl TriggerType {
    /// The spec spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VllmWaiting => "vllm-waiting",
            Self::VllmRunning => "vllm-running",
            Self::VllmKvCache => "vllm-kv-cache",
            Self::VllmTtft => "vllm-ttft",
            Self::VllmE2eLatency => "vllm-e2e-latency",
            Self::VllmRequestRate => "vllm-request-rate",
            Self::GpuUtilization => "gpu-utilization",
            Self::Prometheus => "prometheus",
            Self::Rabbitmq => "rabbitmq",
            Self::Redis => "redis",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Predictive => "predictive",
        }
    }

    /// The default trigger name (what formulas refer to).
    pub const fn default_name(self) -> &'static str {
        match self {
            Self::VllmWaiting => "waiting",
            Self::VllmRunning => "running",
            Self::VllmKvCache => "kv_cache",
            Self::VllmTtft => "ttft",
            Self::VllmE2eLatency => "e2e_latency",
            Self::VllmRequestRate => "request_rate",
            Self::GpuUtilization => "gpu",
            Self::Prometheus => "prometheus",
            Self::Rabbitmq | Self::Redis => "queue",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Predictive => "predictive",
        }
    }

    /// Whether the signal exists while the service has zero pods, so that it can wake it.
    pub const fn is_demand_side(self) -> bool {
        matches!(
            self,
            Self::Prometheus | Self::Rabbitmq | Self::Redis | Self::Predictive
        )
    }
}

/// One scaling signal. Which fields apply depends on `type`; the others are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Trigger {
    /// The signal, e.g. `vllm-waiting`, `rabbitmq`, `predictive`.
    #[serde(rename = "type")]
    pub kind: TriggerType,
    /// Trigger name, referred to by `scalingModifiers.formula` (default per type, e.g.
    /// `waiting`, `queue`, `predictive`); lowercase letters, digits and `_`.
    #[serde(default)]
    pub name: Option<String>,
    /// Target value per replica (> 0): requests, seconds, percent, queue items; default per
    /// type (docs/spec.md).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Value above which the trigger is active (wakes from zero; default 0).
    #[serde(default)]
    pub activation_threshold: Option<f64>,
    /// HPA metric type (default `AverageValue`; `Utilization` for cpu/memory).
    #[serde(default)]
    pub metric_type: Option<MetricType>,
    /// PromQL query (`prometheus` only, required there; `predictive`: the demand history
    /// the forecast learns from).
    #[serde(default)]
    pub query: Option<String>,
    /// Latency quantile (`vllm-ttft`, `vllm-e2e-latency`, default 0.95) or forecast quantile
    /// of the headroom (`predictive`, default 0.9), in (0, 1).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Queue name (`rabbitmq`, `redis`; default `celery`).
    #[serde(default)]
    pub queue: Option<String>,
    /// `QueueLength` (default) or `MessageRate` (`rabbitmq` only; `MessageRate` needs
    /// `protocol: http`).
    #[serde(default)]
    pub mode: Option<String>,
    /// How KEDA reads the queue (`rabbitmq` only): `http` (the management API, counting ready
    /// plus unacknowledged messages; the Secret then holds the management URL
    /// `http://user:pass@host:15672/vhost`) or `amqp` (ready messages only: tasks a Celery
    /// worker has prefetched are not counted). Default `http` for `celery`; for `training`,
    /// KEDA's `auto` (from the URL's scheme).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Server address: Redis `host:port` (`redis`, required) or the prescale server
    /// `host:port` (`predictive`, default `prescale.prescale-system.svc:6000`). No
    /// credentials.
    #[serde(default)]
    pub address: Option<String>,
    /// Secret holding the credentials: the broker URL for `rabbitmq` (required; the management
    /// URL `http://user:pass@host:15672/vhost` with `protocol: http`, the default for
    /// `celery`), the password for `redis` (optional).
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// An existing TriggerAuthentication or ClusterTriggerAuthentication to use instead of
    /// `secret` (`rabbitmq`, `redis`), or (`predictive`) the one giving KEDA `caCert`,
    /// `tlsClientCert` and `tlsClientKey` for a TLS connection to the prescale server.
    #[serde(default)]
    pub authentication: Option<AuthRef>,
    /// Cold start of a pod, a duration such as `3m` (`predictive`: how far ahead to warm
    /// pods; default `3m`).
    #[serde(default)]
    pub cold_start: Option<String>,
    /// Use `external-push` so that the prescale server wakes the service without waiting for
    /// a poll (`predictive` only; default false).
    #[serde(default)]
    pub push: bool,
    /// SLO mode (`predictive` only): the share of demand to serve within `sla`, in (0, 1);
    /// the server then tunes the headroom. Not with `quantile`.
    #[serde(default)]
    pub slo: Option<f64>,
    /// The queueing delay SLO mode keeps, a duration such as `500ms` (`predictive`, with
    /// `slo`; default `500ms`).
    #[serde(default)]
    pub sla: Option<String>,
    /// Rejected: credentials never appear inline (use `secret`).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Rejected: a broker URL carries credentials (use `secret`).
    #[serde(default, skip_serializing)]
    pub host: Option<String>,
}

impl Trigger {
    /// The KEDA `protocol` of a `rabbitmq` trigger in a service of `kind`: the one set, else
    /// `http` for `celery` (KEDA then counts ready plus unacknowledged messages, as prescale's
    /// collector does, so that tasks a worker has prefetched keep it from scaling to zero),
    /// else none (KEDA's `auto`: from the URL's scheme). `None` for other trigger types.
    pub fn rabbitmq_protocol(&self, kind: Kind) -> Option<&str> {
        if self.kind != TriggerType::Rabbitmq {
            return None;
        }
        match (&self.protocol, kind) {
            (Some(p), _) => Some(p.as_str()),
            (None, Kind::Celery) => Some("http"),
            (None, _) => None,
        }
    }
}

/// A reference to an authentication resource that exists already.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthRef {
    /// Its name.
    pub name: String,
    /// A ClusterTriggerAuthentication (cluster-wide, Secrets in KEDA's namespace) instead of a
    /// TriggerAuthentication in the service's namespace (default false).
    #[serde(default)]
    pub cluster: bool,
}

/// A key of a Kubernetes Secret in the service's namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
    /// The key in the Secret (default `host` for `rabbitmq`, `password` for `redis`).
    #[serde(default)]
    pub key: Option<String>,
}

fn default_namespace() -> String {
    "default".into()
}
const fn default_min() -> u32 {
    1
}
const fn default_max() -> u32 {
    10
}
fn default_target_kind() -> String {
    "Deployment".into()
}
fn default_api_version() -> String {
    "apps/v1".into()
}
fn default_strategy() -> String {
    "accurate".into()
}
fn default_pending_conditions() -> Vec<String> {
    vec!["Ready".into(), "PodScheduled".into()]
}
const fn default_history() -> u32 {
    5
}
const fn default_true() -> bool {
    true
}
fn default_spot_label() -> String {
    "karpenter.sh/capacity-type=spot".into()
}
