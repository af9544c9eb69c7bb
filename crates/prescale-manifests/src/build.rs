//! Spec to KEDA resources: TriggerAuthentications, then the ScaledObject or ScaledJob of each
//! service, as JSON values (object keys sorted, so the output is deterministic).

use prescale_policy::metadata::{PredictiveTrigger, cold_start_secs, sla_millis};
use serde_json::{Map, Value, json};

use crate::check::trigger_name;
use crate::spec::{Kind, MetricType, Service, Spot, Trigger, TriggerType};

/// KEDA API version of every generated resource.
pub const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";
/// Prometheus address when the service names none.
pub const DEFAULT_PROMETHEUS: &str = "http://prometheus-operated.monitoring.svc:9090";
/// The prescale server (KEDA external scaler) address when the trigger names none.
pub const DEFAULT_PRESCALE_SERVER: &str = "prescale.prescale-system.svc:6000";

/// The resources of every service, in spec order.
pub(crate) fn build(services: &[Service]) -> Vec<Value> {
    services.iter().flat_map(build_service).collect()
}

fn build_service(s: &Service) -> Vec<Value> {
    let mut out: Vec<Value> = s
        .triggers
        .iter()
        .filter_map(|t| trigger_auth(s, t))
        .collect();
    out.push(match s.kind {
        Kind::Training => scaled_job(s),
        Kind::Vllm | Kind::Celery => scaled_object(s),
    });
    out
}

fn num(v: f64) -> String {
    format!("{v}")
}

/// `metadata` of a resource; the scaled resource (`main`) also carries the spot and progress
/// annotations.
fn metadata(s: &Service, name: &str, main: bool) -> Value {
    let mut labels = Map::new();
    for (k, v) in &s.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("app.kubernetes.io/managed-by".into(), json!("prescale"));
    labels.insert("app.kubernetes.io/name".into(), json!(s.name));
    let mut annotations = Map::new();
    for (k, v) in &s.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    if let Some(spot) = &s.spot
        && main
        && s.kind != Kind::Training
    {
        annotations.insert(
            "prescale.io/spot".into(),
            json!(if spot.prefer { "preferred" } else { "avoid" }),
        );
        annotations.insert("prescale.io/spot-node-label".into(), json!(spot.node_label));
        if let Some(t) = &spot.toleration {
            annotations.insert("prescale.io/spot-toleration".into(), json!(t));
        }
    }
    if let Some(q) = s.job.as_ref().and_then(|j| j.progress_query.as_ref())
        && main
    {
        annotations.insert("prescale.io/progress-query".into(), json!(q));
    }
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("namespace".into(), json!(s.namespace));
    m.insert("labels".into(), Value::Object(labels));
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(m)
}

fn auth_name(s: &Service, t: &Trigger) -> String {
    format!("{}-{}", s.name, trigger_name(t).replace('_', "-"))
}

fn trigger_auth(s: &Service, t: &Trigger) -> Option<Value> {
    let secret = t.secret.as_ref()?;
    let (parameter, default_key) = match t.kind {
        TriggerType::Redis => ("password", "password"),
        _ => ("host", "host"),
    };
    Some(json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": "TriggerAuthentication",
        "metadata": metadata(s, &auth_name(s, t), false),
        "spec": {
            "secretTargetRef": [{
                "parameter": parameter,
                "name": secret.name,
                "key": secret.key.as_deref().unwrap_or(default_key),
            }],
        },
    }))
}

fn common_spec(s: &Service) -> Map<String, Value> {
    let mut spec = Map::new();
    spec.insert("minReplicaCount".into(), json!(s.min_replicas));
    spec.insert("maxReplicaCount".into(), json!(s.max_replicas));
    if let Some(v) = s.polling_interval {
        spec.insert("pollingInterval".into(), json!(v));
    }
    let mut triggers: Vec<Value> = s.triggers.iter().map(|t| trigger(s, t)).collect();
    if let Some(h) = &s.business_hours {
        triggers.push(cron_trigger(h));
    }
    spec.insert("triggers".into(), Value::Array(triggers));
    spec
}

fn scaled_object(s: &Service) -> Value {
    let mut spec = common_spec(s);
    let target = s.target.clone().unwrap_or_else(|| crate::spec::Target {
        name: s.name.clone(),
        kind: "Deployment".into(),
        api_version: "apps/v1".into(),
    });
    spec.insert(
        "scaleTargetRef".into(),
        json!({"apiVersion": target.api_version, "kind": target.kind, "name": target.name}),
    );
    for (key, v) in [
        ("idleReplicaCount", s.idle_replicas),
        ("cooldownPeriod", s.cooldown_period),
        ("initialCooldownPeriod", s.initial_cooldown_period),
    ] {
        if let Some(v) = v {
            spec.insert(key.into(), json!(v));
        }
    }
    if let Some(f) = &s.fallback {
        let mut fb = Map::new();
        fb.insert("failureThreshold".into(), json!(f.failure_threshold));
        fb.insert("replicas".into(), json!(f.replicas));
        if let Some(b) = &f.behavior {
            fb.insert("behavior".into(), json!(b));
        }
        spec.insert("fallback".into(), Value::Object(fb));
    }
    let mut advanced = Map::new();
    if let Some(b) = &s.behavior {
        advanced.insert(
            "horizontalPodAutoscalerConfig".into(),
            json!({"behavior": crate::behavior::to_hpa(b)}),
        );
    }
    if let Some(m) = &s.scaling_modifiers {
        let mut sm = Map::new();
        sm.insert("formula".into(), json!(m.formula));
        sm.insert("target".into(), json!(num(m.target)));
        if let Some(a) = m.activation_target {
            sm.insert("activationTarget".into(), json!(num(a)));
        }
        if let Some(t) = m.metric_type {
            sm.insert("metricType".into(), json!(t.as_str()));
        }
        advanced.insert("scalingModifiers".into(), Value::Object(sm));
    }
    if !advanced.is_empty() {
        spec.insert("advanced".into(), Value::Object(advanced));
    }
    json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": metadata(s, &s.name, true),
        "spec": spec,
    })
}

fn scaled_job(s: &Service) -> Value {
    let mut spec = common_spec(s);
    let Some(job) = &s.job else {
        return Value::Null; // checked: training services have a job
    };
    let mut container = Map::new();
    container.insert("name".into(), json!(s.name));
    container.insert("image".into(), json!(job.image));
    if !job.command.is_empty() {
        container.insert("command".into(), json!(job.command));
    }
    if job.gpus > 0 {
        container.insert(
            "resources".into(),
            json!({"limits": {"nvidia.com/gpu": job.gpus.to_string()}}),
        );
    }
    let mut pod = Map::new();
    pod.insert("restartPolicy".into(), json!("Never"));
    pod.insert("containers".into(), json!([Value::Object(container)]));
    if let Some(spot) = &s.spot {
        spot_scheduling(spot, &mut pod);
    }
    let mut job_spec = Map::new();
    job_spec.insert("backoffLimit".into(), json!(job.backoff_limit));
    if let Some(d) = job.active_deadline_seconds {
        job_spec.insert("activeDeadlineSeconds".into(), json!(d));
    }
    job_spec.insert(
        "template".into(),
        json!({
            "metadata": {"labels": {"app.kubernetes.io/name": s.name, "app.kubernetes.io/managed-by": "prescale"}},
            "spec": pod,
        }),
    );
    spec.insert("jobTargetRef".into(), Value::Object(job_spec));
    spec.insert(
        "successfulJobsHistoryLimit".into(),
        json!(job.successful_jobs_history_limit),
    );
    spec.insert(
        "failedJobsHistoryLimit".into(),
        json!(job.failed_jobs_history_limit),
    );
    spec.insert(
        "scalingStrategy".into(),
        json!({"strategy": job.scaling_strategy, "pendingPodConditions": job.pending_pod_conditions}),
    );
    json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledJob",
        "metadata": metadata(s, &s.name, true),
        "spec": spec,
    })
}

/// Node affinity (preferred or avoided spot nodes) and the spot taint toleration.
fn spot_scheduling(spot: &Spot, pod: &mut Map<String, Value>) {
    let (key, value) = spot
        .node_label
        .split_once('=')
        .unwrap_or((spot.node_label.as_str(), ""));
    let operator = if spot.prefer { "In" } else { "NotIn" };
    pod.insert(
        "affinity".into(),
        json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "preference": {"matchExpressions": [{"key": key, "operator": operator, "values": [value]}]},
        }]}}),
    );
    if let Some(t) = &spot.toleration {
        let (kv, effect) = t.split_once(':').unwrap_or((t.as_str(), ""));
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let mut tol = Map::new();
        tol.insert("key".into(), json!(k));
        if v.is_empty() {
            tol.insert("operator".into(), json!("Exists"));
        } else {
            tol.insert("operator".into(), json!("Equal"));
            tol.insert("value".into(), json!(v));
        }
        if !effect.is_empty() {
            tol.insert("effect".into(), json!(effect));
        }
        pod.insert("tolerations".into(), json!([Value::Object(tol)]));
    }
}

fn cron_trigger(h: &crate::spec::BusinessHours) -> Value {
    let days: Vec<String> = h
        .weekdays
        .iter()
        .filter_map(|d| prescale_core::calendar::parse_weekday(d).ok())
        .map(|d| d.num_days_from_sunday().to_string())
        .collect();
    let cron = |hhmm: &str| {
        let mut parts = hhmm.split(':');
        let hour: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minute: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        format!("{minute} {hour} * * {}", days.join(","))
    };
    json!({
        "type": "cron",
        "name": crate::check::BUSINESS_HOURS,
        "metadata": {
            "timezone": h.timezone,
            "start": cron(&h.open),
            "end": cron(&h.close),
            "desiredReplicas": h.replicas.to_string(),
        },
    })
}

/// The PromQL label selector of a service's pods.
fn selector(s: &Service) -> String {
    let target = s
        .target
        .as_ref()
        .map_or(s.name.as_str(), |t| t.name.as_str());
    match &s.model {
        Some(m) => format!("namespace=\"{}\",model_name=\"{m}\"", s.namespace),
        None => format!("namespace=\"{}\",pod=~\"{target}-.*\"", s.namespace),
    }
}

/// Query, default threshold and default metric type of the Prometheus-based signals.
fn promql(s: &Service, t: &Trigger) -> (String, f64, MetricType) {
    use TriggerType as T;
    let sel = selector(s);
    let q = t.quantile.unwrap_or(0.95);
    let hist = |metric: &str| {
        format!("histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{sel}}}[5m])))")
    };
    match t.kind {
        T::VllmWaiting => (
            format!("sum(vllm:num_requests_waiting{{{sel}}})"),
            10.0,
            MetricType::AverageValue,
        ),
        T::VllmRunning => (
            format!("sum(vllm:num_requests_running{{{sel}}})"),
            32.0,
            MetricType::AverageValue,
        ),
        T::VllmKvCache => (
            format!("avg(vllm:kv_cache_usage_perc{{{sel}}})"),
            0.8,
            MetricType::Value,
        ),
        T::VllmTtft => (
            hist("vllm:time_to_first_token_seconds"),
            1.0,
            MetricType::Value,
        ),
        T::VllmE2eLatency => (
            hist("vllm:e2e_request_latency_seconds"),
            10.0,
            MetricType::Value,
        ),
        T::VllmRequestRate => (
            format!("sum(rate(vllm:request_success_total{{{sel}}}[1m]))"),
            5.0,
            MetricType::AverageValue,
        ),
        T::GpuUtilization => (
            gpu_utilization_query(
                &s.namespace,
                s.target
                    .as_ref()
                    .map_or(s.name.as_str(), |t| t.name.as_str()),
            ),
            80.0,
            MetricType::Value,
        ),
        _ => (
            t.query.clone().unwrap_or_default(),
            1.0,
            MetricType::AverageValue,
        ),
    }
}

fn trigger(s: &Service, t: &Trigger) -> Value {
    use TriggerType as T;
    let mut md = Map::new();
    let mut put = |k: &str, v: String| {
        md.insert(k.into(), Value::String(v));
    };
    let (kind, default_type) = match t.kind {
        T::Cpu | T::Memory => {
            put(
                "value",
                num(t
                    .threshold
                    .unwrap_or(if t.kind == T::Cpu { 70.0 } else { 80.0 })),
            );
            (t.kind.as_str(), MetricType::Utilization)
        }
        T::Rabbitmq => {
            put(
                "queueName",
                t.queue.clone().unwrap_or_else(|| "celery".into()),
            );
            put(
                "mode",
                t.mode.clone().unwrap_or_else(|| "QueueLength".into()),
            );
            if let Some(p) = t.rabbitmq_protocol(s.kind) {
                put("protocol", p.to_string());
            }
            put("value", num(t.threshold.unwrap_or(20.0)));
            if let Some(a) = t.activation_threshold {
                put("activationValue", num(a));
            }
            ("rabbitmq", MetricType::AverageValue)
        }
        T::Redis => {
            put("address", t.address.clone().unwrap_or_default());
            put(
                "listName",
                t.queue.clone().unwrap_or_else(|| "celery".into()),
            );
            put("listLength", num(t.threshold.unwrap_or(5.0)));
            if let Some(a) = t.activation_threshold {
                put("activationListLength", num(a));
            }
            ("redis", MetricType::AverageValue)
        }
        T::Predictive => {
            // The server reads these keys with `Settings::from_metadata`: one contract,
            // written and read in `prescale_policy::metadata`.
            let trigger = PredictiveTrigger {
                scaler_address: t
                    .address
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PRESCALE_SERVER.into()),
                server_address: s
                    .prometheus
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PROMETHEUS.into()),
                service: Some(format!("{}/{}", s.namespace, s.name)),
                query: t.query.clone(),
                threshold: t.threshold.unwrap_or(1.0),
                activation_threshold: t.activation_threshold,
                // SLO mode (the default) tunes the quantile: none is written; a fixed
                // quantile is the expert override.
                quantile: t.quantile,
                slo: t
                    .quantile
                    .is_none()
                    .then(|| t.slo.unwrap_or(prescale_policy::metadata::DEFAULT_SLO)),
                sla_ms: t.sla.as_deref().and_then(|v| sla_millis(v).ok()),
                cold_start_secs: Some(
                    t.cold_start
                        .as_deref()
                        .and_then(|c| cold_start_secs(c).ok())
                        .unwrap_or(180),
                ),
                // The scaler's own bounds: the decision it reports stays within KEDA's, and
                // the server's cost tracking prices static provisioning at maxReplicas.
                min_replicas: Some(s.min_replicas),
                max_replicas: Some(s.max_replicas),
                scale_to_zero: Some(s.min_replicas == 0),
                calendar: s
                    .business_hours
                    .as_ref()
                    .map(|h| serde_json::to_string(&h.calendar()).unwrap_or_default()),
            };
            for (k, v) in trigger.to_metadata() {
                put(&k, v);
            }
            (
                if t.push { "external-push" } else { "external" },
                MetricType::AverageValue,
            )
        }
        _ => {
            let (query, threshold, metric_type) = promql(s, t);
            put(
                "serverAddress",
                s.prometheus
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PROMETHEUS.into()),
            );
            put("query", query);
            put("threshold", num(t.threshold.unwrap_or(threshold)));
            if let Some(a) = t.activation_threshold {
                put("activationThreshold", num(a));
            }
            ("prometheus", metric_type)
        }
    };
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    out.insert("name".into(), json!(trigger_name(t)));
    out.insert(
        "metricType".into(),
        json!(t.metric_type.unwrap_or(default_type).as_str()),
    );
    out.insert("metadata".into(), Value::Object(md));
    if let Some(a) = &t.authentication {
        let auth = if a.cluster {
            json!({"name": a.name, "kind": "ClusterTriggerAuthentication"})
        } else {
            json!({"name": a.name})
        };
        out.insert("authenticationRef".into(), auth);
    } else if t.secret.is_some() {
        out.insert("authenticationRef".into(), json!({"name": auth_name(s, t)}));
    }
    Value::Object(out)
}

/// The `gpu-utilization` trigger's query: GPU utilization in percent of the pods
/// `<target>-*` in `namespace`, from the DCGM exporter. The graphics engines' active time
/// (`DCGM_FI_PROF_GR_ENGINE_ACTIVE`, a ratio) where the exporter has profiling metrics, else
/// `DCGM_FI_DEV_GPU_UTIL`. The pod's `namespace` and `pod` labels are read under both names:
/// `exported_namespace`/`exported_pod` when the exporter is scraped with `honor_labels:
/// false` (dcgm-exporter's ServiceMonitor default), `namespace`/`pod` when honored. The chart
/// writes the same query (charts/prescale/templates/_keda.tpl).
fn gpu_utilization_query(namespace: &str, target: &str) -> String {
    let both = |metric: &str| {
        format!(
            "{metric}{{exported_namespace=\"{namespace}\",exported_pod=~\"{target}-.*\"}} or \
             {metric}{{namespace=\"{namespace}\",pod=~\"{target}-.*\",exported_namespace=\"\"}}"
        )
    };
    format!(
        "avg(100 * ({})) or avg({})",
        both("DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        both("DCGM_FI_DEV_GPU_UTIL")
    )
}
