//! Dashboard 1, autoscaling overview: replicas by service, scaling events, GPU utilization,
//! P95 latency and queue depth.

use serde_json::Value;

use super::build::{Board, Panel, upstream};

/// The label filter of the dashboard's variables.
const SEL: &str = r#"namespace=~"$namespace", service=~"$service""#;
/// The label filter of upstream metrics without a workload `namespace` of their own (no
/// `service` label): vLLM, kube-state-metrics. KEDA's and DCGM's go through [`upstream`].
const NS: &str = r#"namespace=~"$namespace""#;

pub(super) fn dashboard() -> Value {
    let mut b = Board::new(
        "prescale-overview",
        "prescale / Autoscaling overview",
        "Replicas, scaling events, GPU utilization, latency and queue depth of the services \
         prescale scales.",
        "prescale_desired_replicas",
    );
    b.row("Replicas");
    b.add(
        6,
        4,
        Panel::stat(
            "Running replicas",
            "Replicas running now, all selected services.",
            "none",
        )
        .target(&format!("sum(prescale_replicas{{{SEL}}})"), "running"),
    );
    b.add(
        6,
        4,
        Panel::stat(
            "Active services",
            "Services whose IsActive answer is true (KEDA keeps them above zero).",
            "none",
        )
        .target(&format!("sum(prescale_decision_active{{{SEL}}})"), "active"),
    );
    b.add(
        6,
        4,
        Panel::stat(
            "ScaledObjects registered",
            "ScaledObjects that call prescale.",
            "none",
        )
        .target("max(prescale_scaled_objects)", "registered"),
    );
    b.add(
        6,
        4,
        Panel::stat(
            "Services in shadow mode",
            "Services whose forecasts are computed but not sent to KEDA.",
            "none",
        )
        .target(&format!("sum(prescale_shadow_mode{{{SEL}}})"), "shadow"),
    );
    b.add(
        12,
        8,
        Panel::timeseries(
            "Replicas by service",
            "Running replicas (Kubernetes API) and the replicas prescale decided.",
            "none",
        )
        .target(
            &format!("sum by (namespace, service) (prescale_replicas{{{SEL}}})"),
            "{{namespace}}/{{service}} running",
        )
        .target(
            &format!("max by (namespace, service) (prescale_desired_replicas{{{SEL}}})"),
            "{{namespace}}/{{service}} desired",
        ),
    );
    b.add(
        12,
        8,
        Panel::timeseries(
            "Decided vs reactive replicas",
            "What prescale decided and what the live demand alone needs: the difference is the \
             headroom the forecast adds ahead of demand.",
            "none",
        )
        .target(
            &format!("max by (namespace, service) (prescale_desired_replicas{{{SEL}}})"),
            "{{namespace}}/{{service}} decided",
        )
        .target(
            &format!("max by (namespace, service) (prescale_reactive_replicas{{{SEL}}})"),
            "{{namespace}}/{{service}} reactive",
        ),
    );
    b.add(
        24,
        6,
        Panel::timeseries(
            "Deployment replicas (kube-state-metrics)",
            "Replicas of every Deployment in the selected namespaces, as kube-state-metrics \
             reports them.",
            "none",
        )
        .target(
            &format!("sum by (namespace, deployment) (kube_deployment_status_replicas{{{NS}}})"),
            "{{namespace}}/{{deployment}}",
        ),
    );

    b.row("Scaling events");
    b.add(
        12,
        7,
        Panel::timeseries(
            "Scaling events",
            "Changes of the decided replica count per interval.",
            "none",
        )
        .bars_style()
        .target(
            &format!(
                "sum by (namespace, service) (changes(prescale_desired_replicas{{{SEL}}}[$__rate_interval]))"
            ),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "Proactive events by kind",
            "Decisions that moved ahead of the live need: pre-warm, scale-down, scale to zero, \
             wake-up.",
            "none",
        )
        .bars_style()
        .stacked()
        .target(
            &format!(
                "sum by (kind) (increase(prescale_proactive_events_total{{{SEL}}}[$__rate_interval]))"
            ),
            "{{kind}}",
        ),
    );
    b.add(
        12,
        6,
        Panel::timeseries(
            "KEDA scaler errors",
            "Errors KEDA met while polling the triggers of each ScaledObject.",
            "ops",
        )
        .target(
            &format!(
                "sum by (namespace, scaledObject) ({})",
                upstream("", false, |m| format!(
                    "rate(keda_scaled_object_errors_total{{{m}}}[$__rate_interval])"
                ))
            ),
            "{{namespace}}/{{scaledObject}}",
        ),
    );
    b.add(
        12,
        6,
        Panel::timeseries(
            "Observed demand",
            "The latest value of each service's demand query.",
            "short",
        )
        .target(
            &format!("sum by (namespace, service) (prescale_observed_demand{{{SEL}}})"),
            "{{namespace}}/{{service}}",
        ),
    );

    b.row("GPUs");
    b.add(
        12,
        7,
        Panel::timeseries(
            "GPU utilization",
            "GPU utilization per pod (DCGM exporter): the graphics engines' active time \
             (DCGM_FI_PROF_GR_ENGINE_ACTIVE) where the exporter has profiling metrics, else \
             DCGM_FI_DEV_GPU_UTIL.",
            "percent",
        )
        .range(0.0, Some(100.0))
        .target(
            &format!(
                "avg by (namespace, pod) (100 * {}) or avg by (namespace, pod) ({})",
                upstream("", true, |m| format!(
                    "DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{m}}}"
                )),
                upstream("", true, |m| format!("DCGM_FI_DEV_GPU_UTIL{{{m}}}"))
            ),
            "{{namespace}}/{{pod}}",
        ),
    );
    b.add(
        6,
        7,
        Panel::timeseries(
            "GPU memory used",
            "Frame buffer in use per pod.",
            "percentunit",
        )
        .range(0.0, Some(1.0))
        .target(
            &format!(
                "sum by (namespace, pod) ({used}) / (sum by (namespace, pod) ({used}) + \
                     sum by (namespace, pod) ({free}))",
                used = upstream("", true, |m| format!("DCGM_FI_DEV_FB_USED{{{m}}}")),
                free = upstream("", true, |m| format!("DCGM_FI_DEV_FB_FREE{{{m}}}")),
            ),
            "{{namespace}}/{{pod}}",
        ),
    );
    b.add(
        6,
        7,
        Panel::timeseries("GPU temperature", "Hottest GPU per pod.", "celsius")
            .thresholds(&[(80.0, "orange"), (90.0, "red")])
            .threshold_lines()
            .target(
                &format!(
                    "max by (namespace, pod) ({})",
                    upstream("", true, |m| format!("DCGM_FI_DEV_GPU_TEMP{{{m}}}"))
                ),
                "{{namespace}}/{{pod}}",
            ),
    );

    b.row("Latency and queues");
    b.add(
        12,
        7,
        Panel::timeseries(
            "P95 latency (vLLM)",
            "95th percentile of end-to-end request latency and of time to first token.",
            "s",
        )
        .target(
            &format!(
                "histogram_quantile(0.95, sum by (le, namespace, model_name) \
                 (rate(vllm:e2e_request_latency_seconds_bucket{{{NS}}}[$__rate_interval])))"
            ),
            "{{namespace}}/{{model_name}} end-to-end",
        )
        .target(
            &format!(
                "histogram_quantile(0.95, sum by (le, namespace, model_name) \
                 (rate(vllm:time_to_first_token_seconds_bucket{{{NS}}}[$__rate_interval])))"
            ),
            "{{namespace}}/{{model_name}} first token",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "Queue depth",
            "Requests waiting in vLLM, and Celery queue lengths as KEDA's RabbitMQ and Redis \
             scalers read them.",
            "short",
        )
        .target(
            &format!("sum by (namespace, model_name) (vllm:num_requests_waiting{{{NS}}})"),
            "{{namespace}}/{{model_name}} waiting",
        )
        .target(
            &format!(
                "sum by (namespace, scaledObject, metric) ({})",
                upstream(
                    "metric=~\"s[0-9]+-(rabbitmq|redis)-.*\"",
                    false,
                    |m| format!("keda_scaler_metrics_value{{{m}}}")
                )
            ),
            "{{namespace}}/{{scaledObject}} {{metric}}",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries(
            "Requests running (vLLM)",
            "Requests in the running batches.",
            "short",
        )
        .target(
            &format!("sum by (namespace, model_name) (vllm:num_requests_running{{{NS}}})"),
            "{{namespace}}/{{model_name}}",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries(
            "KV-cache usage (vLLM)",
            "Share of the KV cache in use.",
            "percentunit",
        )
        .range(0.0, Some(1.0))
        .target(
            &format!("avg by (namespace, model_name) (vllm:kv_cache_usage_perc{{{NS}}})"),
            "{{namespace}}/{{model_name}}",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries("Request rate (vLLM)", "Finished requests per second.", "reqps")
            .target(
                &format!(
                    "sum by (namespace, model_name) (rate(vllm:request_success_total{{{NS}}}[$__rate_interval]))"
                ),
                "{{namespace}}/{{model_name}}",
            ),
    );
    b.finish()
}
