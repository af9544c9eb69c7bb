//! A small load generator that serves vLLM-named metrics on `/metrics`, following a known
//! request pattern, so that a real Prometheus can scrape it and tests can assert exact or
//! tightly bounded values.
//!
//! The exposed values are pure functions of the time since start (no randomness):
//!
//! - `vllm:request_success_total{finished_reason="stop"}`: the integral of the request rate;
//! - `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`: requests × tokens per request;
//! - `vllm:e2e_request_latency_seconds` and `vllm:time_to_first_token_seconds`: histograms
//!   (vLLM's bucket bounds) in which each request lands according to a fixed latency mix;
//! - `vllm:num_requests_waiting` = rate × `queue_seconds`, `vllm:num_requests_running` =
//!   rate × mean latency (Little's law), `vllm:kv_cache_usage_perc` fixed.
//!
//! Every series carries `model_name` and `engine="0"`. Extra lines (DCGM or training
//! metrics) can be added with [`LoadGenerator::set_gauge`], and faults injected with
//! [`LoadGenerator::set_fault`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::oneshot;

use crate::TestkitError;

/// vLLM's bucket bounds for `vllm:e2e_request_latency_seconds` (finite part).
pub const E2E_BUCKETS: [f64; 21] = [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
/// vLLM's bucket bounds for `vllm:time_to_first_token_seconds` (finite part).
pub const TTFT_BUCKETS: [f64; 22] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// How the request rate evolves.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A constant rate in requests per second.
    Constant(f64),
    /// A trace of requests per step, replayed in a loop at `speed` times real time (speed 60
    /// plays a 1-minute step every second).
    Trace {
        /// Requests in each step of the trace.
        requests_per_step: Vec<f64>,
        /// The trace's step.
        step: Duration,
        /// Trace seconds per real second.
        speed: f64,
    },
}

impl Shape {
    /// Rates in requests per second, each held for `hold` of real time, in a loop.
    #[must_use]
    pub fn steps(rates: &[f64], hold: Duration) -> Self {
        Self::Trace {
            requests_per_step: rates.iter().map(|r| r * hold.as_secs_f64()).collect(),
            step: hold,
            speed: 1.0,
        }
    }

    /// Requests served in the first `elapsed` of real time.
    #[must_use]
    pub fn requests_until(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        match self {
            Self::Constant(rate) => rate * t,
            Self::Trace {
                requests_per_step,
                step,
                speed,
            } => {
                if requests_per_step.is_empty() || step.is_zero() {
                    return 0.0;
                }
                let pos = t * speed / step.as_secs_f64();
                // Exact for any realistic test length; the cast keeps whole steps.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let whole = pos.floor() as usize;
                let len = requests_per_step.len();
                let cycle: f64 = requests_per_step.iter().sum();
                let partial: f64 = requests_per_step[..whole % len].iter().sum();
                #[allow(clippy::cast_precision_loss)]
                let cycles = (whole / len) as f64;
                cycles * cycle + partial + (pos - pos.floor()) * requests_per_step[whole % len]
            }
        }
    }

    /// The request rate (per real second) at `elapsed`.
    #[must_use]
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        match self {
            Self::Constant(rate) => *rate,
            Self::Trace {
                requests_per_step,
                step,
                speed,
            } => {
                if requests_per_step.is_empty() || step.is_zero() {
                    return 0.0;
                }
                let pos = elapsed.as_secs_f64() * speed / step.as_secs_f64();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = pos.floor() as usize % requests_per_step.len();
                requests_per_step[i] / step.as_secs_f64() * speed
            }
        }
    }
}

/// What the generator serves.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    /// The request rate over time.
    pub shape: Shape,
    /// The `model_name` label.
    pub model_name: String,
    /// End-to-end latency mix: `(seconds, share)`, shares summing to 1.
    pub latency_mix: Vec<(f64, f64)>,
    /// Time-to-first-token mix: `(seconds, share)`.
    pub ttft_mix: Vec<(f64, f64)>,
    /// Prompt tokens per request.
    pub prompt_tokens_per_request: f64,
    /// Generated tokens per request.
    pub generation_tokens_per_request: f64,
    /// Seconds of queueing per request: `num_requests_waiting` = rate × this.
    pub queue_seconds: f64,
    /// `vllm:kv_cache_usage_perc` (0 to 1).
    pub kv_cache_usage: f64,
}

impl LoadProfile {
    /// A profile with `shape` and defaults: model `test-model`; latencies 0.2 s (40 %),
    /// 0.9 s (50 %), 4 s (10 %) (so P50 0.84 s, P95 3.75 s, P99 4.75 s in vLLM's buckets); TTFT 0.03 s (90 %), 0.2 s (10 %); 200 prompt and 100
    /// generated tokens per request; 0.5 s of queueing; KV cache 0.4.
    #[must_use]
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            model_name: "test-model".into(),
            latency_mix: vec![(0.2, 0.4), (0.9, 0.5), (4.0, 0.1)],
            ttft_mix: vec![(0.03, 0.9), (0.2, 0.1)],
            prompt_tokens_per_request: 200.0,
            generation_tokens_per_request: 100.0,
            queue_seconds: 0.5,
            kv_cache_usage: 0.4,
        }
    }

    /// The `/metrics` page after `elapsed`.
    #[must_use]
    pub fn render(&self, elapsed: Duration) -> String {
        let n = self.shape.requests_until(elapsed);
        let rate = self.shape.rate_at(elapsed);
        let labels = format!(
            "engine=\"0\",model_name=\"{}\"",
            self.model_name.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let mean_latency: f64 = self.latency_mix.iter().map(|(s, w)| s * w).sum();
        let mut page = String::with_capacity(8192);
        let mut gauge = |name: &str, help: &str, value: f64| {
            let _ = writeln!(page, "# HELP {name} {help}\n# TYPE {name} gauge");
            let _ = writeln!(page, "{name}{{{labels}}} {value}");
        };
        gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            rate * mean_latency,
        );
        gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            rate * self.queue_seconds,
        );
        gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            self.kv_cache_usage,
        );
        let mut counter = |name: &str, help: &str, extra: &str, value: f64| {
            let _ = writeln!(page, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(page, "{name}{{{labels}{extra}}} {value}");
        };
        counter(
            "vllm:request_success_total",
            "Count of successfully processed requests.",
            ",finished_reason=\"stop\"",
            n,
        );
        counter(
            "vllm:prompt_tokens_total",
            "Number of prefill tokens processed.",
            "",
            n * self.prompt_tokens_per_request,
        );
        counter(
            "vllm:generation_tokens_total",
            "Number of generation tokens processed.",
            "",
            n * self.generation_tokens_per_request,
        );
        histogram(
            &mut page,
            "vllm:e2e_request_latency_seconds",
            &labels,
            &E2E_BUCKETS,
            &self.latency_mix,
            n,
        );
        histogram(
            &mut page,
            "vllm:time_to_first_token_seconds",
            &labels,
            &TTFT_BUCKETS,
            &self.ttft_mix,
            n,
        );
        page
    }
}

fn histogram(
    page: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    mix: &[(f64, f64)],
    n: f64,
) {
    let _ = writeln!(
        page,
        "# HELP {name} Histogram of {name}.\n# TYPE {name} histogram"
    );
    for le in bounds {
        let share: f64 = mix.iter().filter(|(s, _)| s <= le).map(|(_, w)| w).sum();
        let _ = writeln!(page, "{name}_bucket{{{labels},le=\"{le}\"}} {}", n * share);
    }
    let _ = writeln!(page, "{name}_bucket{{{labels},le=\"+Inf\"}} {n}");
    let _ = writeln!(page, "{name}_count{{{labels}}} {n}");
    let sum: f64 = mix.iter().map(|(s, w)| s * w).sum::<f64>() * n;
    let _ = writeln!(page, "{name}_sum{{{labels}}} {sum}");
}

/// A fault the generator can be told to serve instead of its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a short body.
    Status(u16),
    /// Answer 200 with this body (e.g. a malformed page).
    Body(String),
    /// Wait this long before answering.
    Delay(Duration),
}

struct Shared {
    profile: LoadProfile,
    start: Instant,
    extra: Mutex<BTreeMap<String, f64>>,
    fault: Mutex<Option<Fault>>,
}

/// A running load generator; stops when dropped.
pub struct LoadGenerator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoadGenerator {
    /// Serves `profile` on a free loopback port, on a thread of its own (usable from sync and
    /// async tests alike).
    pub fn start(profile: LoadProfile) -> Result<Self, TestkitError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| TestkitError::Start {
                what: "load generator".into(),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| TestkitError::Start {
            what: "load generator".into(),
            reason: e.to_string(),
        })?;
        let shared = Arc::new(Shared {
            profile,
            start: Instant::now(),
            extra: Mutex::new(BTreeMap::new()),
            fault: Mutex::new(None),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let state = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestkitError::Start {
                what: "load generator runtime".into(),
                reason: e.to_string(),
            })?;
        let thread = std::thread::Builder::new()
            .name("prescale-loadgen".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = Router::new()
                        .route("/metrics", get(metrics))
                        .with_state(state);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .map_err(|e| TestkitError::Start {
                what: "load generator thread".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`, as a Prometheus scrape target.
    #[must_use]
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The labels Prometheus stores on this generator's vLLM series when it scrapes it as
    /// `job` (the series' own `engine` and `model_name`, plus `job` and `instance`): what
    /// backfilled history must carry to join the scraped series.
    #[must_use]
    pub fn scraped_labels(&self, job: &str) -> BTreeMap<String, String> {
        [
            ("engine", "0".to_string()),
            ("model_name", self.shared.profile.model_name.clone()),
            ("job", job.to_string()),
            ("instance", self.address()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `http://127.0.0.1:PORT/metrics`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// The profile served.
    #[must_use]
    pub fn profile(&self) -> &LoadProfile {
        &self.shared.profile
    }

    /// Time since the generator started (the `elapsed` of the pattern).
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.shared.start.elapsed()
    }

    /// Adds or replaces an extra line `series value`, e.g.
    /// `set_gauge("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"}", 87.0)`.
    pub fn set_gauge(&self, series: &str, value: f64) {
        lock(&self.shared.extra).insert(series.to_owned(), value);
    }

    /// Serves `fault` from now on (`None`: the page again).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *lock(&self.shared.fault) = fault;
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> (StatusCode, String) {
    let fault = lock(&shared.fault).clone();
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, format!("injected fault {code}\n"));
        }
        Some(Fault::Body(body)) => return (StatusCode::OK, body),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let mut page = shared.profile.render(shared.start.elapsed());
    for (series, value) in lock(&shared.extra).iter() {
        let _ = writeln!(page, "{series} {value}");
    }
    (StatusCode::OK, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_integrate_exactly() {
        let c = Shape::Constant(10.0);
        assert_eq!(c.requests_until(Duration::from_secs(3)), 30.0);
        let s = Shape::steps(&[1.0, 3.0], Duration::from_secs(2));
        // 2 s at 1/s, then 2 s at 3/s, then again.
        assert_eq!(s.requests_until(Duration::from_secs(2)), 2.0);
        assert_eq!(s.requests_until(Duration::from_secs(3)), 5.0);
        assert_eq!(s.requests_until(Duration::from_secs(9)), 17.0);
        assert_eq!(s.rate_at(Duration::from_secs(3)), 3.0);
        // A 1-minute trace played 60× fast: each real second is one trace step.
        let t = Shape::Trace {
            requests_per_step: vec![60.0, 120.0],
            step: Duration::from_secs(60),
            speed: 60.0,
        };
        assert_eq!(t.rate_at(Duration::from_millis(1500)), 120.0);
        assert_eq!(t.requests_until(Duration::from_millis(1500)), 120.0);
    }

    #[test]
    fn pages_parse_as_vllm_would_write_them() {
        let profile = LoadProfile::new(Shape::Constant(4.0));
        let page = profile.render(Duration::from_secs(10));
        assert!(page.contains(
            "vllm:request_success_total{engine=\"0\",model_name=\"test-model\",finished_reason=\"stop\"} 40"
        ));
        assert!(
            page.contains("vllm:num_requests_waiting{engine=\"0\",model_name=\"test-model\"} 2")
        );
        // 40 % of 40 requests at 0.2 s: in the 0.3 s bucket; 90 % ≤ 1 s.
        assert!(page.contains("vllm:e2e_request_latency_seconds_bucket{engine=\"0\",model_name=\"test-model\",le=\"0.3\"} 16"));
        assert!(page.contains("vllm:e2e_request_latency_seconds_bucket{engine=\"0\",model_name=\"test-model\",le=\"1\"} 36"));
        assert!(page.contains("le=\"+Inf\"} 40"));
    }

    #[test]
    fn serves_faults_and_extra_lines() {
        let lg = LoadGenerator::start(LoadProfile::new(Shape::Constant(1.0))).expect("starts");
        lg.set_gauge("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"}", 87.0);
        let page = crate::http::get(&lg.url()).expect("serves");
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 87"),
            "{}",
            page.body
        );
        lg.set_fault(Some(Fault::Status(503)));
        assert_eq!(crate::http::get(&lg.url()).expect("answers").status, 503);
        lg.set_fault(None);
        assert_eq!(crate::http::get(&lg.url()).expect("answers").status, 200);
    }
}
