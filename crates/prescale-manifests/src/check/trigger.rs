//! Checks of one trigger: the fields its type takes, and their values.

use super::{Check, fail, has_credentials, is_dns_label};
use crate::spec::{Kind, MetricType, Trigger, TriggerType};
use prescale_policy::metadata::{cold_start_secs, sla_millis};

fn allowed_types(kind: Kind) -> &'static [TriggerType] {
    use TriggerType as T;
    match kind {
        Kind::Vllm => &[
            T::VllmWaiting,
            T::VllmRunning,
            T::VllmKvCache,
            T::VllmTtft,
            T::VllmE2eLatency,
            T::VllmRequestRate,
            T::GpuUtilization,
            T::Prometheus,
            T::Cpu,
            T::Memory,
            T::Predictive,
        ],
        Kind::Celery => &[
            T::Rabbitmq,
            T::Redis,
            T::Prometheus,
            T::Cpu,
            T::Memory,
            T::Predictive,
        ],
        Kind::Training => &[T::Rabbitmq, T::Redis, T::Prometheus, T::Predictive],
    }
}

pub(super) fn check_trigger(kind: Kind, t: &Trigger, path: &str) -> Check {
    use TriggerType as T;
    if t.password.is_some() {
        return fail(
            format!("{path}.password"),
            "credentials must not be inline: put the password in a Secret and reference it with `secret`",
        );
    }
    if t.host.is_some() {
        return fail(
            format!("{path}.host"),
            "credentials must not be inline: put the broker URL in a Secret and reference it with `secret`",
        );
    }
    if !allowed_types(kind).contains(&t.kind) {
        let names: Vec<&str> = allowed_types(kind).iter().map(|t| t.as_str()).collect();
        return fail(
            format!("{path}.type"),
            format!(
                "`{}` is not a trigger of kind `{}` (allowed: {})",
                t.kind.as_str(),
                kind_name(kind),
                names.join(", ")
            ),
        );
    }
    if let Some(name) = &t.name
        && !(name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        return fail(
            format!("{path}.name"),
            "must start with a-z and hold only a-z, 0-9 and `_` (formulas refer to it)",
        );
    }
    check_numbers(t, path)?;
    // Which optional fields each type takes.
    let uses = |field: &str| -> bool {
        match field {
            "query" => matches!(t.kind, T::Prometheus | T::Predictive),
            "quantile" => matches!(t.kind, T::VllmTtft | T::VllmE2eLatency | T::Predictive),
            "queue" => matches!(t.kind, T::Rabbitmq | T::Redis),
            "mode" | "protocol" => t.kind == T::Rabbitmq,
            "address" => matches!(t.kind, T::Redis | T::Predictive),
            "secret" => matches!(t.kind, T::Rabbitmq | T::Redis),
            "authentication" => matches!(t.kind, T::Rabbitmq | T::Redis | T::Predictive),
            "coldStart" | "push" | "slo" => t.kind == T::Predictive,
            "sla" => t.kind == T::Predictive && t.slo.is_some(),
            _ => true,
        }
    };
    let set = [
        ("query", t.query.is_some()),
        ("quantile", t.quantile.is_some()),
        ("queue", t.queue.is_some()),
        ("mode", t.mode.is_some()),
        ("protocol", t.protocol.is_some()),
        ("address", t.address.is_some()),
        ("secret", t.secret.is_some()),
        ("authentication", t.authentication.is_some()),
        ("coldStart", t.cold_start.is_some()),
        ("push", t.push),
        ("slo", t.slo.is_some()),
        ("sla", t.sla.is_some()),
    ];
    if let Some((field, _)) = set.iter().find(|(f, on)| *on && !uses(f)) {
        if *field == "sla" && t.kind == T::Predictive {
            return fail(format!("{path}.sla"), "only with `slo` (SLO mode)");
        }
        return fail(
            format!("{path}.{field}"),
            format!("not used by trigger type `{}`", t.kind.as_str()),
        );
    }
    match t.kind {
        T::Prometheus if t.query.as_deref().is_none_or(|q| q.trim().is_empty()) => {
            fail(format!("{path}.query"), "required for type `prometheus`")
        }
        T::Predictive if t.query.as_deref().is_none_or(|q| q.trim().is_empty()) => fail(
            format!("{path}.query"),
            "required for type `predictive`: the demand the forecast learns from",
        ),
        T::Predictive if t.threshold.is_none() => fail(
            format!("{path}.threshold"),
            "required for type `predictive`: the demand one replica serves, in the query's unit",
        ),
        _ if t.secret.is_some() && t.authentication.is_some() => fail(
            format!("{path}.authentication"),
            "give either `secret` or `authentication`, not both",
        ),
        T::Rabbitmq if t.secret.is_none() && t.authentication.is_none() => fail(
            format!("{path}.secret"),
            "required for type `rabbitmq`: the Secret holding the broker URL",
        ),
        T::Redis if t.address.is_none() => fail(
            format!("{path}.address"),
            "required for type `redis` (host:port)",
        ),
        _ => check_trigger_values(kind, t, path),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Vllm => "vllm",
        Kind::Celery => "celery",
        Kind::Training => "training",
    }
}

fn check_numbers(t: &Trigger, path: &str) -> Check {
    if let Some(v) = t.threshold
        && !(v.is_finite() && v > 0.0)
    {
        return fail(format!("{path}.threshold"), "must be > 0");
    }
    if let Some(v) = t.activation_threshold
        && !(v.is_finite() && v >= 0.0)
    {
        return fail(format!("{path}.activationThreshold"), "must be >= 0");
    }
    if let Some(q) = t.quantile
        && !(q > 0.0 && q < 1.0)
    {
        return fail(format!("{path}.quantile"), "must be in (0, 1)");
    }
    let fractional = |v: Option<f64>| v.is_some_and(|v| v.fract() != 0.0);
    match t.kind {
        TriggerType::Redis if fractional(t.threshold) => fail(
            format!("{path}.threshold"),
            "a Redis list length must be a whole number",
        ),
        TriggerType::Redis if fractional(t.activation_threshold) => fail(
            format!("{path}.activationThreshold"),
            "a Redis list length must be a whole number",
        ),
        TriggerType::VllmKvCache if t.threshold.is_some_and(|v| v > 1.0) => fail(
            format!("{path}.threshold"),
            "vllm:kv_cache_usage_perc is a ratio in 0..1 (0.8 = 80 %)",
        ),
        TriggerType::GpuUtilization | TriggerType::Cpu | TriggerType::Memory
            if t.threshold.is_some_and(|v| v > 100.0)
                && t.metric_type != Some(MetricType::AverageValue) =>
        {
            fail(
                format!("{path}.threshold"),
                "a utilization in percent must be <= 100",
            )
        }
        _ => Ok(()),
    }
}

fn check_trigger_values(kind: Kind, t: &Trigger, path: &str) -> Check {
    use TriggerType as T;
    if t.kind == T::Predictive
        && let Some(m) = t.metric_type
        && m != MetricType::AverageValue
    {
        // The server answers replicas × threshold: right only when the HPA divides by the
        // replicas (AverageValue); under Value it multiplies by them and runs away.
        return fail(
            format!("{path}.metricType"),
            "a predictive trigger takes `AverageValue` only: its value is replicas × threshold, \
             which the HPA divides by the replicas; under `Value` it multiplies the replicas again",
        );
    }
    if let Some(m) = t.metric_type {
        let resource = matches!(t.kind, T::Cpu | T::Memory);
        if m == MetricType::Utilization && !resource {
            return fail(
                format!("{path}.metricType"),
                "`Utilization` is only for cpu and memory",
            );
        }
        if resource && m == MetricType::Value {
            return fail(
                format!("{path}.metricType"),
                "cpu and memory take `Utilization` or `AverageValue`",
            );
        }
        if kind == Kind::Training && m != MetricType::AverageValue {
            return fail(
                format!("{path}.metricType"),
                "a ScaledJob counts jobs from AverageValue targets only",
            );
        }
    }
    if let Some(mode) = &t.mode
        && mode != "QueueLength"
        && mode != "MessageRate"
    {
        return fail(
            format!("{path}.mode"),
            format!("must be QueueLength or MessageRate, got `{mode}`"),
        );
    }
    if let Some(p) = &t.protocol
        && p != "http"
        && p != "amqp"
    {
        return fail(
            format!("{path}.protocol"),
            format!("must be http or amqp, got `{p}`"),
        );
    }
    if t.mode.as_deref() == Some("MessageRate") && t.rabbitmq_protocol(kind) != Some("http") {
        return fail(
            format!("{path}.mode"),
            "`MessageRate` needs `protocol: http`: KEDA reads the publish rate from the RabbitMQ \
             management API; over AMQP it has the ready messages only",
        );
    }
    if let Some(q) = &t.queue
        && q.trim().is_empty()
    {
        return fail(format!("{path}.queue"), "must not be empty");
    }
    if let Some(a) = &t.address {
        if has_credentials(a) {
            return fail(
                format!("{path}.address"),
                "credentials must not be inline: reference a Secret with `secret`",
            );
        }
        if a.contains("://") || !a.contains(':') {
            return fail(
                format!("{path}.address"),
                format!("must be host:port, got `{a}`"),
            );
        }
    }
    if let Some(a) = &t.authentication
        && !is_dns_label(&a.name, 253)
    {
        return fail(
            format!("{path}.authentication.name"),
            "must be a Kubernetes name",
        );
    }
    if let Some(secret) = &t.secret
        && !is_dns_label(&secret.name, 253)
    {
        return fail(
            format!("{path}.secret.name"),
            "must be a Kubernetes Secret name",
        );
    }
    if let Some(slo) = t.slo {
        if !(slo > 0.0 && slo < 1.0) {
            return fail(
                format!("{path}.slo"),
                format!("must be in (0, 1), got {slo}"),
            );
        }
        if t.quantile.is_some() {
            return fail(
                format!("{path}.slo"),
                "set either slo (the headroom is tuned) or quantile (fixed), not both",
            );
        }
    }
    if let Some(sla) = &t.sla
        && let Err(e) = sla_millis(sla)
    {
        return fail(format!("{path}.sla"), e.reason);
    }
    if let Some(c) = &t.cold_start
        && let Err(e) = cold_start_secs(c)
    {
        // The server's own check (`prescale_policy::metadata`), so that what the generator
        // accepts the server reads.
        return fail(format!("{path}.coldStart"), e.reason);
    }
    Ok(())
}
