//! Checks of a parsed spec: ranges, names, what each kind and trigger type accepts, and the
//! KEDA rules the generated resources must satisfy.

use std::collections::BTreeSet;

use prescale_core::calendar::BusinessCalendar;
use prescale_policy::Formula;
use prescale_policy::metadata::is_supply_side_query;

mod trigger;

use crate::spec::{Kind, MetricType, Service, SpecFile, Trigger, TriggerType};
use trigger::check_trigger;

/// A failed check: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) path: String,
    pub(crate) message: String,
}

pub(super) type Check = Result<(), Failure>;

pub(super) fn fail(path: impl Into<String>, message: impl Into<String>) -> Check {
    Err(Failure {
        path: path.into(),
        message: message.into(),
    })
}

/// Checks the whole file; the first failure wins.
pub(crate) fn check(spec: &SpecFile) -> Check {
    if spec.services.is_empty() {
        return fail("services", "must list at least one service");
    }
    let mut seen = BTreeSet::new();
    for (i, service) in spec.services.iter().enumerate() {
        let path = format!("services[{i}]");
        if !seen.insert((service.namespace.as_str(), service.name.as_str())) {
            return fail(
                format!("{path}.name"),
                format!("duplicate service `{}/{}`", service.namespace, service.name),
            );
        }
        check_service(service, &path)?;
    }
    Ok(())
}

/// A Kubernetes DNS label (RFC 1123), at most `max` characters.
pub(crate) fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_url(path: &str, url: &str) -> Check {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return fail(
            path,
            format!("must be an http:// or https:// URL, got `{url}`"),
        );
    }
    if has_credentials(url) {
        return fail(
            path,
            "credentials must not be inline: reference a Secret instead",
        );
    }
    Ok(())
}

/// Whether an address carries credentials (`user:pass@host`, `password=`).
pub(super) fn has_credentials(s: &str) -> bool {
    let after_scheme = s.split_once("://").map_or(s, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    authority.contains('@') || s.to_ascii_lowercase().contains("password=")
}

fn check_service(s: &Service, path: &str) -> Check {
    if !is_dns_label(&s.name, 50) {
        return fail(
            format!("{path}.name"),
            "must be a DNS label of at most 50 characters (a-z, 0-9, -)",
        );
    }
    if !is_dns_label(&s.namespace, 63) {
        return fail(
            format!("{path}.namespace"),
            "must be a DNS label (a-z, 0-9, -)",
        );
    }
    if s.max_replicas == 0 {
        return fail(format!("{path}.maxReplicas"), "must be > 0");
    }
    if s.min_replicas > s.max_replicas {
        return fail(
            format!("{path}.minReplicas"),
            format!(
                "must be <= maxReplicas ({}), got {}",
                s.max_replicas, s.min_replicas
            ),
        );
    }
    if s.polling_interval == Some(0) {
        return fail(format!("{path}.pollingInterval"), "must be > 0");
    }
    if let Some(p) = &s.prometheus {
        check_url(&format!("{path}.prometheus"), p)?;
    }
    check_kind_fields(s, path)?;
    if let Some(b) = &s.behavior {
        for (dir, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            if let Some(Err((field, message))) = rules.as_ref().map(|r| r.check()) {
                return fail(format!("{path}.behavior.{dir}.{field}"), message);
            }
        }
    }
    check_fallback(s, path)?;
    if let Some(f) = &s.fallback
        && let Some(b) = &f.behavior
    {
        let allowed = [
            "static",
            "currentReplicas",
            "currentReplicasIfHigher",
            "currentReplicasIfLower",
        ];
        if !allowed.contains(&b.as_str()) {
            return fail(
                format!("{path}.fallback.behavior"),
                format!("must be one of {}, got `{b}`", allowed.join(", ")),
            );
        }
    }
    if let Some(h) = &s.business_hours {
        if let Err(e) = BusinessCalendar::try_from(h.calendar()) {
            return fail(format!("{path}.businessHours"), e.to_string());
        }
        if h.replicas == 0 || h.replicas > s.max_replicas {
            return fail(
                format!("{path}.businessHours.replicas"),
                format!("must be in 1..={} (maxReplicas)", s.max_replicas),
            );
        }
    }
    if let Some(spot) = &s.spot {
        if !spot.node_label.contains('=') {
            return fail(format!("{path}.spot.nodeLabel"), "must be `key=value`");
        }
        if let Some(t) = &spot.toleration
            && !(t.contains(':') && t.split(':').next().is_some_and(|k| !k.is_empty()))
        {
            return fail(
                format!("{path}.spot.toleration"),
                "must be `key=value:Effect`",
            );
        }
    }
    check_metadata_maps(s, path)?;
    if s.triggers.is_empty() {
        return fail(format!("{path}.triggers"), "must list at least one trigger");
    }
    let mut names = BTreeSet::new();
    let mut predictive = None;
    for (j, t) in s.triggers.iter().enumerate() {
        let tpath = format!("{path}.triggers[{j}]");
        check_trigger(s.kind, t, &tpath)?;
        if t.kind == TriggerType::Predictive {
            if let Some(first) = predictive {
                return fail(
                    format!("{tpath}.type"),
                    format!(
                        "one predictive trigger per service (triggers[{first}] is one): KEDA \
                         names the ScaledObject, not the trigger, to the prescale server, which \
                         serves one prescale trigger per ScaledObject; combine the demand in \
                         one query, or use a prometheus trigger for the second signal"
                    ),
                );
            }
            predictive = Some(j);
        }
        if !names.insert(trigger_name(t)) || trigger_name(t) == BUSINESS_HOURS {
            return fail(
                format!("{tpath}.name"),
                format!("duplicate trigger name `{}` (set `name`)", trigger_name(t)),
            );
        }
    }
    check_scale_to_zero(s, path)?;
    check_modifiers(s, path)
}

/// A label name or value segment: alphanumerics, `-`, `_`, `.`, starting and ending with an
/// alphanumeric, at most 63 characters.
fn is_label_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain.
fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253
                && prefix.split('.').all(|p| is_dns_label(p, 63))
                && is_label_name(name)
        }
        None => is_label_name(key),
    }
}

/// Kubernetes' rules for label keys and values and annotation keys.
fn check_metadata_maps(s: &Service, path: &str) -> Check {
    for (k, v) in &s.labels {
        if !is_label_key(k) {
            return fail(
                format!("{path}.labels.{k}"),
                "not a valid Kubernetes label key",
            );
        }
        if !(v.is_empty() || is_label_name(v)) {
            return fail(
                format!("{path}.labels.{k}"),
                "a label value has at most 63 characters: alphanumerics, `-`, `_`, `.`",
            );
        }
    }
    if let Some(k) = s.annotations.keys().find(|k| !is_label_key(k)) {
        return fail(
            format!("{path}.annotations.{k}"),
            "not a valid Kubernetes annotation key",
        );
    }
    Ok(())
}

/// KEDA's fallback rules: not with cpu/memory-only triggers, and an integer
/// `scalingModifiers.target` (KEDA computes `replicas * target` as an integer).
fn check_fallback(s: &Service, path: &str) -> Check {
    if s.fallback.is_none() {
        return Ok(());
    }
    if s.triggers
        .iter()
        .all(|t| matches!(t.kind, TriggerType::Cpu | TriggerType::Memory))
    {
        return fail(
            format!("{path}.fallback"),
            "KEDA has no fallback for cpu and memory triggers: add another trigger or drop it",
        );
    }
    if let Some(m) = &s.scaling_modifiers
        && m.target.fract() != 0.0
    {
        return fail(
            format!("{path}.scalingModifiers.target"),
            "must be a whole number when `fallback` is set (KEDA's fallback needs it)",
        );
    }
    Ok(())
}

/// The name of the cron trigger generated from `businessHours`.
pub(crate) const BUSINESS_HOURS: &str = "business_hours";

/// The name of a trigger: its `name` or the default of its type.
pub(crate) fn trigger_name(t: &Trigger) -> String {
    t.name
        .clone()
        .unwrap_or_else(|| t.kind.default_name().to_string())
}

fn check_kind_fields(s: &Service, path: &str) -> Check {
    let training = s.kind == Kind::Training;
    if training {
        let Some(job) = &s.job else {
            return fail(
                path,
                "kind `training` needs `job` (the Job started per queued item)",
            );
        };
        if job.image.trim().is_empty() {
            return fail(format!("{path}.job.image"), "must not be empty");
        }
        let strategies = ["default", "custom", "accurate", "eager"];
        if !strategies.contains(&job.scaling_strategy.as_str()) {
            return fail(
                format!("{path}.job.scalingStrategy"),
                format!(
                    "must be one of {}, got `{}`",
                    strategies.join(", "),
                    job.scaling_strategy
                ),
            );
        }
        let so_only = [
            ("target", s.target.is_some()),
            ("idleReplicas", s.idle_replicas.is_some()),
            ("cooldownPeriod", s.cooldown_period.is_some()),
            ("initialCooldownPeriod", s.initial_cooldown_period.is_some()),
            ("behavior", s.behavior.is_some()),
            ("fallback", s.fallback.is_some()),
            ("scalingModifiers", s.scaling_modifiers.is_some()),
            ("businessHours", s.business_hours.is_some()),
        ];
        if let Some((field, _)) = so_only.iter().find(|(_, set)| *set) {
            return fail(
                format!("{path}.{field}"),
                "not available for kind `training` (a KEDA ScaledJob has no HPA)",
            );
        }
    } else if s.job.is_some() {
        return fail(format!("{path}.job"), "only for kind `training`");
    }
    if s.model.is_some() && s.kind != Kind::Vllm {
        return fail(format!("{path}.model"), "only for kind `vllm`");
    }
    if let Some(t) = &s.target
        && !is_dns_label(&t.name, 253)
    {
        return fail(format!("{path}.target.name"), "must be a Kubernetes name");
    }
    if let Some(idle) = s.idle_replicas
        && idle >= s.min_replicas
    {
        return fail(
            format!("{path}.idleReplicas"),
            format!("must be < minReplicas ({}), got {idle}", s.min_replicas),
        );
    }
    Ok(())
}

fn check_scale_to_zero(s: &Service, path: &str) -> Check {
    if s.kind == Kind::Training || (s.min_replicas > 0 && s.idle_replicas != Some(0)) {
        return Ok(());
    }
    if let Some((j, t)) = s.triggers.iter().enumerate().find(|(_, t)| {
        t.kind == TriggerType::Predictive && t.query.as_deref().is_some_and(is_supply_side_query)
    }) {
        return fail(
            format!("{path}.triggers[{j}].query"),
            format!(
                "with scale-to-zero the predictive query must measure demand, not supply: \
                 `{}` reads series the service's pods emit, which vanish at zero replicas, so \
                 the forecast learns censored demand and cannot wake the service; query a \
                 gateway or ingress (e.g. sum(rate(gateway_requests_total[1m])))",
                t.query.as_deref().unwrap_or_default()
            ),
        );
    }
    if s.triggers.iter().any(|t| t.kind.is_demand_side()) {
        return Ok(());
    }
    let field = if s.min_replicas == 0 {
        "minReplicas"
    } else {
        "idleReplicas"
    };
    fail(
        format!("{path}.{field}"),
        "scaling to zero needs a demand-side trigger (predictive, rabbitmq, redis or prometheus): \
         vLLM, GPU, cpu and memory metrics vanish with the pods and cannot wake the service",
    )
}

/// What is valid but likely wrong, as failures (path and message): with
/// `scalingModifiers`, a trigger the formula does not refer to is still queried at every poll,
/// and its errors still mark the ScaledObject as failing, while its value is never used; a
/// Celery RabbitMQ trigger over AMQP, which does not count the tasks workers have prefetched.
pub(crate) fn warnings(spec: &SpecFile) -> Vec<Failure> {
    let mut out = Vec::new();
    for (i, s) in spec.services.iter().enumerate() {
        for (j, t) in s.triggers.iter().enumerate() {
            if s.kind == Kind::Celery && t.rabbitmq_protocol(s.kind) == Some("amqp") {
                out.push(Failure {
                    path: format!("services[{i}].triggers[{j}].protocol"),
                    message: "over AMQP KEDA counts ready messages only: tasks Celery workers \
                              have prefetched (unacknowledged) are not counted, so KEDA can \
                              scale the workers to zero with work in flight; use `protocol: \
                              http` (ready + unacknowledged, as prescale's collector counts)"
                        .into(),
                });
            }
        }
        let Some(m) = &s.scaling_modifiers else {
            continue;
        };
        let Ok(formula) = Formula::parse(&m.formula) else {
            continue;
        };
        let variables = formula.variables();
        for (j, t) in s.triggers.iter().enumerate() {
            let name = trigger_name(t);
            if matches!(t.kind, TriggerType::Cpu | TriggerType::Memory) || variables.contains(&name)
            {
                continue;
            }
            out.push(Failure {
                path: format!("services[{i}].triggers[{j}]"),
                message: format!(
                    "trigger `{name}` is not in scalingModifiers.formula: KEDA still queries \
                     it, and its errors mark the ScaledObject as failing, but its value is \
                     never used (refer to it, or remove it)"
                ),
            });
        }
    }
    out
}

fn check_modifiers(s: &Service, path: &str) -> Check {
    let Some(m) = &s.scaling_modifiers else {
        return Ok(());
    };
    let mpath = format!("{path}.scalingModifiers");
    if !(m.target.is_finite() && m.target > 0.0) {
        return fail(format!("{mpath}.target"), "must be > 0");
    }
    if let Some(a) = m.activation_target
        && !(a.is_finite() && a >= 0.0)
    {
        return fail(format!("{mpath}.activationTarget"), "must be >= 0");
    }
    if m.metric_type == Some(MetricType::Utilization) {
        return fail(
            format!("{mpath}.metricType"),
            "must be AverageValue or Value",
        );
    }
    let formula = match Formula::parse(&m.formula) {
        Ok(f) => f,
        Err(e) => return fail(format!("{mpath}.formula"), e.to_string()),
    };
    let mut names: BTreeSet<String> = s
        .triggers
        .iter()
        .filter(|t| !matches!(t.kind, TriggerType::Cpu | TriggerType::Memory))
        .map(trigger_name)
        .collect();
    let variables = formula.variables();
    if s.business_hours.is_some() {
        names.insert(BUSINESS_HOURS.to_string());
        if !variables.iter().any(|v| v == BUSINESS_HOURS) {
            return fail(
                format!("{mpath}.formula"),
                "must refer to `business_hours` (the cron trigger of businessHours), e.g. \
                 `max(..., business_hours ?? 0)`",
            );
        }
    }
    for v in variables {
        if !names.contains(&v) {
            let known: Vec<&str> = names.iter().map(String::as_str).collect();
            return fail(
                format!("{mpath}.formula"),
                format!(
                    "unknown trigger name `{v}` (triggers: {})",
                    known.join(", ")
                ),
            );
        }
    }
    Ok(())
}
