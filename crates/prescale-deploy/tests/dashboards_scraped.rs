//! Every dashboard query against a real Prometheus that scrapes prescale, vLLM, KEDA, the DCGM
//! exporter and kube-state-metrics the way Prometheus Operator's ServiceMonitors do.
//!
//! A ServiceMonitor's scrape gives each target the labels `namespace`, `service`, `pod`,
//! `container` and `endpoint` of the scraped pod (besides `job` and `instance`), and with
//! `honorLabels` false (the default) a scraped label of the same name is renamed
//! `exported_<name>`. Here the targets carry those labels as static target labels, which
//! clash the same way; prescale's `honor_labels` is what the chart's ServiceMonitor renders,
//! KEDA's and one DCGM exporter's are false (their charts' defaults), another DCGM exporter's
//! and kube-state-metrics' true.
//!
//! Needs helm and Prometheus (skipped without, except when `CI` is set).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{documents, helm, is_keda, one, root, template, template_with};
use prescale_deploy::dashboards::{self, check::panels, check_dashboard};
use prescale_deploy::metrics_doc::DocumentedMetrics;
use prescale_testkit::{PrometheusSetup, ScrapeTarget, TestPrometheus};

/// The workload the dashboards are opened on.
const NAMESPACE: &str = "inference";
const SERVICE: &str = "llama-chat";
/// Where prescale runs (its target's namespace).
const PRESCALE_NAMESPACE: &str = "prescale-system";

/// One metric of docs/metrics.md: its type, whether it has `namespace`/`service`, and its
/// extra labels with the values the docs list (one made-up value when none is listed).
struct Documented {
    kind: String,
    per_service: bool,
    labels: Vec<(String, Vec<String>)>,
}

/// The tables of docs/metrics.md, by metric name.
fn documented_tables() -> BTreeMap<String, Documented> {
    let text = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let kind = cells[2].to_string();
        let extra = cells[3];
        let per_service = !extra.contains("(no `namespace`");
        let mut labels: Vec<(String, Vec<String>)> = Vec::new();
        if per_service {
            // `label` (`value`, ...), `label`: backticked words outside parentheses are
            // labels, inside them that label's values.
            let mut depth = 0;
            let mut word: Option<String> = None;
            for c in extra.chars() {
                match (c, &mut word) {
                    ('`', None) => word = Some(String::new()),
                    ('`', Some(w)) => {
                        let w = std::mem::take(w);
                        word = None;
                        if depth == 0 {
                            labels.push((w, Vec::new()));
                        } else if let Some((_, values)) = labels.last_mut() {
                            values.push(w);
                        }
                    }
                    (c, Some(w)) => w.push(c),
                    ('(', None) => depth += 1,
                    (')', None) => depth -= 1,
                    _ => {}
                }
            }
        }
        out.insert(
            name,
            Documented {
                kind,
                per_service,
                labels,
            },
        );
    }
    // A label's values are listed once (`capacity` at `prescale_replicas`): use them wherever
    // the label is; one made-up value for labels listed nowhere.
    let mut known: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in out.values() {
        for (label, values) in d.labels.iter().filter(|(_, v)| !v.is_empty()) {
            known.insert(label.clone(), values.clone());
        }
    }
    for d in out.values_mut() {
        for (label, values) in &mut d.labels {
            if values.is_empty() {
                *values = known
                    .get(label)
                    .cloned()
                    .unwrap_or_else(|| vec!["x".into()]);
            }
        }
    }
    out
}

/// Every combination of the labels' values.
fn combinations(labels: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for (name, values) in labels {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((name.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

fn selector(labels: &[(&str, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// prescale's page: every prescale metric the dashboards use, with the labels of
/// docs/metrics.md; gauges 1, counters growing with `t` seconds.
fn prescale_page(used: &BTreeSet<String>, t: f64) -> String {
    let docs = documented_tables();
    let mut page = String::new();
    for name in used.iter().filter(|n| n.starts_with("prescale_")) {
        let d = docs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in docs/metrics.md's tables"));
        let value = if name.ends_with("_total") { t } else { 1.0 };
        for combo in combinations(&d.labels) {
            let mut labels: Vec<(&str, String)> = Vec::new();
            if d.per_service {
                labels.push(("namespace", NAMESPACE.into()));
                labels.push(("service", SERVICE.into()));
            }
            labels.extend(combo.iter().map(|(k, v)| (k.as_str(), v.clone())));
            if d.kind == "histogram" {
                labels.push(("le", "+Inf".into()));
                page.push_str(&format!("{name}_bucket{} {t}\n", selector(&labels)));
            } else {
                page.push_str(&format!("{name}{} {value}\n", selector(&labels)));
            }
        }
    }
    page
}

/// vLLM's page (no `namespace`: its target's is the workload's).
fn vllm_page(t: f64) -> String {
    let m = r#"model_name="meta-llama/Llama-3.1-8B-Instruct""#;
    let mut page = format!(
        "vllm:num_requests_running{{{m}}} 4\nvllm:num_requests_waiting{{{m}}} 3\n\
         vllm:kv_cache_usage_perc{{{m}}} 0.5\nvllm:request_success_total{{{m}}} {}\n\
         vllm:prompt_tokens_total{{{m}}} {}\nvllm:generation_tokens_total{{{m}}} {}\n",
        2.0 * t,
        200.0 * t,
        100.0 * t
    );
    for h in [
        "vllm:e2e_request_latency_seconds",
        "vllm:time_to_first_token_seconds",
    ] {
        for (le, share) in [("0.5", 0.5), ("1.0", 0.8), ("5.0", 0.95), ("+Inf", 1.0)] {
            page.push_str(&format!(
                "{h}_bucket{{{m},le=\"{le}\"}} {}\n",
                2.0 * t * share
            ));
        }
        page.push_str(&format!(
            "{h}_sum{{{m}}} {}\n{h}_count{{{m}}} {}\n",
            t,
            2.0 * t
        ));
    }
    page
}

/// KEDA operator's page: the ScaledObject's namespace in `namespace`.
fn keda_page(t: f64) -> String {
    let so = format!(r#"namespace="{NAMESPACE}",scaledObject="{SERVICE}""#);
    format!(
        "keda_scaler_metrics_value{{{so},scaler=\"s0-rabbitmq\",metric=\"s0-rabbitmq-inference\"}} 12\n\
         keda_scaler_metrics_value{{{so},scaler=\"s1-external\",metric=\"s1-external-prescale\"}} 3\n\
         keda_scaled_object_errors_total{{{so}}} {}\n",
        0.1 * t
    )
}

/// A DCGM exporter's page for one GPU of `pod` (its `namespace`, `pod`, `container`), with the
/// profiling metric or without.
fn dcgm_page(pod: &str, util: f64, engine_active: Option<f64>) -> String {
    let l = format!(
        r#"gpu="0",UUID="GPU-{pod}",modelName="NVIDIA H100 80GB HBM3",namespace="{NAMESPACE}",pod="{pod}",container="vllm""#
    );
    let mut page = format!(
        "DCGM_FI_DEV_GPU_UTIL{{{l}}} {util}\nDCGM_FI_DEV_FB_USED{{{l}}} 60000\n\
         DCGM_FI_DEV_FB_FREE{{{l}}} 20000\nDCGM_FI_DEV_GPU_TEMP{{{l}}} 65\n"
    );
    if let Some(a) = engine_active {
        page.push_str(&format!("DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{l}}} {a}\n"));
    }
    page
}

/// kube-state-metrics' page.
fn ksm_page() -> String {
    format!(
        "kube_deployment_status_replicas{{namespace=\"{NAMESPACE}\",deployment=\"{SERVICE}\"}} 3\n"
    )
}

/// Serves `page(path, seconds since start)` on loopback until the test ends.
fn serve(page: impl Fn(&str, f64) -> Option<String> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("address").to_string();
    let start = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Read the headers to the blank line.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let response = match page(&path, start.elapsed().as_secs_f64()) {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    addr
}

/// The target labels Prometheus Operator gives a pod's endpoint.
fn operator_target(
    job: &str,
    addr: &str,
    path: &str,
    namespace: &str,
    pod: &str,
    honor: bool,
) -> ScrapeTarget {
    ScrapeTarget::new(job, addr)
        .path(path)
        .label("namespace", namespace)
        .label("service", job)
        .label("pod", pod)
        .label("container", job)
        .label("endpoint", "http")
        .honor_labels(honor)
}

/// `honorLabels` of the chart's ServiceMonitor endpoint (false when absent, as in Prometheus
/// Operator).
fn chart_honor_labels(helm: &std::path::Path) -> bool {
    let rendered = template(
        helm,
        "prescale",
        PRESCALE_NAMESPACE,
        &["--set", "serviceMonitor.enabled=true"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let docs = documents(&rendered);
    let monitor = one(&docs, "ServiceMonitor");
    let endpoints = monitor["spec"]["endpoints"]
        .as_array()
        .expect("ServiceMonitor endpoints");
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    endpoints[0]["honorLabels"].as_bool().unwrap_or(false)
}

/// The query of the `gpu-utilization` trigger the chart renders for the service `SERVICE`
/// (the same as `prescale generate`'s: chart_keda.rs).
fn gpu_trigger_query(helm: &std::path::Path) -> String {
    let values = serde_json::json!({"services": {"vllm": {
        "enabled": true, "name": SERVICE, "namespace": NAMESPACE, "minReplicas": 1,
        "predictive": {"enabled": false},
        "triggers": [{"type": "gpu-utilization"}],
    }}});
    let rendered = template_with(helm, "prescale", PRESCALE_NAMESPACE, &values)
        .unwrap_or_else(|e| panic!("{e}"));
    let docs: Vec<serde_json::Value> = documents(&rendered).into_iter().filter(is_keda).collect();
    let so = one(&docs, "ScaledObject");
    let triggers = so["spec"]["triggers"].as_array().expect("triggers");
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    triggers[0]["metadata"]["query"]
        .as_str()
        .expect("query")
        .to_string()
}

/// Grafana's interpolation of the dashboards' variables, with the workload selected.
fn interpolate(expr: &str) -> String {
    expr.replace("$namespace", NAMESPACE)
        .replace("$service", SERVICE)
        .replace("$__rate_interval", "20s")
        .replace("$__range", "20s")
        .replace("$__interval", "5s")
}

#[test]
fn dashboards_read_series_labelled_as_prometheus_operator_labels_them() {
    let Some(helm) = helm() else { return };
    if !prescale_testkit::require_prometheus() {
        return;
    }
    let honor = chart_honor_labels(&helm);
    let gpu_query = gpu_trigger_query(&helm);

    let text = std::fs::read_to_string(root().join("docs/metrics.md")).expect("docs/metrics.md");
    let docs = DocumentedMetrics::parse(&text).expect("docs/metrics.md lists metric names");
    let mut used = BTreeSet::new();
    for (name, d) in dashboards::all() {
        used.extend(check_dashboard(&name, &d, &docs).unwrap_or_else(|e| panic!("{e}")));
    }
    let prescale_used = used.clone();
    let addr = serve(move |path, t| match path {
        "/prescale" => Some(prescale_page(&prescale_used, t)),
        "/vllm" => Some(vllm_page(t)),
        "/keda" => Some(keda_page(t)),
        // One GPU pod with profiling metrics, one without.
        "/dcgm-a" => Some(dcgm_page("llama-chat-a", 10.0, Some(0.75))),
        "/dcgm-b" => Some(dcgm_page("llama-chat-b", 40.0, None)),
        "/ksm" => Some(ksm_page()),
        _ => None,
    });
    let prom = TestPrometheus::start(
        PrometheusSetup::new()
            .target(operator_target(
                "prescale",
                &addr,
                "/prescale",
                PRESCALE_NAMESPACE,
                "prescale-7d9f8b6c5-x2x4k",
                honor,
            ))
            .target(operator_target(
                "llama-chat",
                &addr,
                "/vllm",
                NAMESPACE,
                "llama-chat-a",
                false,
            ))
            .target(operator_target(
                "keda-operator",
                &addr,
                "/keda",
                "keda",
                "keda-operator-5b9c8d7f6-abcde",
                false,
            ))
            .target(operator_target(
                "nvidia-dcgm-exporter",
                &addr,
                "/dcgm-a",
                "gpu-operator",
                "nvidia-dcgm-exporter-4xk2p",
                false,
            ))
            .target(operator_target(
                "dcgm-exporter-honored",
                &addr,
                "/dcgm-b",
                "gpu-operator",
                "nvidia-dcgm-exporter-9qz7m",
                true,
            ))
            .target(operator_target(
                "kube-state-metrics",
                &addr,
                "/ksm",
                "monitoring",
                "kube-state-metrics-6c4b9-ttr8v",
                true,
            )),
    )
    .expect("start Prometheus");
    for job in [
        "prescale",
        "llama-chat",
        "keda-operator",
        "nvidia-dcgm-exporter",
        "dcgm-exporter-honored",
        "kube-state-metrics",
    ] {
        prom.wait_for_scrapes(job, 6, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{job}: {e}\n{}", prom.log_tail()));
    }

    // The variables list the ScaledObjects' namespaces and names, not prescale's own.
    let values = |promql: &str, label: &str| -> BTreeSet<String> {
        prom.query_series(promql)
            .unwrap_or_else(|e| panic!("{promql}: {e}"))
            .into_iter()
            .filter_map(|(l, _)| l.get(label).cloned())
            .collect()
    };
    assert_eq!(
        values(
            "count by (namespace) (prescale_desired_replicas)",
            "namespace"
        ),
        BTreeSet::from([NAMESPACE.to_string()]),
        "the $namespace variable (the chart's ServiceMonitor has honorLabels: {honor})"
    );
    assert_eq!(
        values(
            &format!(
                "count by (service) (prescale_desired_replicas{{namespace=~\"{NAMESPACE}\"}})"
            ),
            "service"
        ),
        BTreeSet::from([SERVICE.to_string()]),
        "the $service variable"
    );

    // Every panel's every query returns the workload's series, labelled with its namespace.
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, d) in dashboards::all() {
        for p in panels(&d) {
            for target in p["targets"].as_array().into_iter().flatten() {
                let Some(expr) = target["expr"].as_str() else {
                    continue;
                };
                let title = p["title"].as_str().unwrap_or_default();
                let promql = interpolate(expr);
                checked += 1;
                let series = match prom.query_series(&promql) {
                    Ok(s) => s,
                    Err(e) => {
                        failures.push(format!("{file} \"{title}\": {promql}: {e}"));
                        continue;
                    }
                };
                if series.is_empty() {
                    failures.push(format!("{file} \"{title}\": no series: {promql}"));
                }
                for (labels, _) in &series {
                    let wrong = labels.get("namespace").is_some_and(|n| n != NAMESPACE)
                        || labels.get("service").is_some_and(|s| s != SERVICE)
                        || labels.keys().any(|k| k.starts_with("exported_"));
                    if wrong {
                        failures.push(format!("{file} \"{title}\": labels {labels:?}: {promql}"));
                    }
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} queries");
    assert!(
        failures.is_empty(),
        "{} of {checked} dashboard queries fail on Operator-scraped series:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // GPU utilization: the profiling metric where the exporter has it (pod a, 0.75 → 75 %),
    // else DCGM_FI_DEV_GPU_UTIL (pod b, 40 %); exported and honored labels alike.
    let (_, overview) = dashboards::all()
        .into_iter()
        .find(|(_, d)| d["uid"] == "prescale-overview")
        .expect("overview");
    let gpu = panels(&overview)
        .into_iter()
        .find(|p| p["title"] == "GPU utilization")
        .expect("GPU utilization panel");
    let expr = interpolate(gpu["targets"][0]["expr"].as_str().expect("expr"));
    let mut by_pod: Vec<(String, f64)> = prom
        .query_series(&expr)
        .expect("GPU utilization")
        .into_iter()
        .map(|(l, v)| (l.get("pod").cloned().unwrap_or_default(), v))
        .collect();
    by_pod.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_pod,
        [
            ("llama-chat-a".to_string(), 75.0),
            ("llama-chat-b".to_string(), 40.0)
        ],
        "{expr}"
    );

    // The gpu-utilization trigger reads the pods' GPUs whichever way the exporter was
    // scraped, the profiling metric first: pod a's engines are 75 % active (its
    // DCGM_FI_DEV_GPU_UTIL, 10, is not read); an empty vector would read as 0 and scale in.
    let values = prom
        .query(&gpu_query)
        .unwrap_or_else(|e| panic!("{gpu_query}: {e}"));
    assert_eq!(values, [75.0], "{gpu_query}");
}
