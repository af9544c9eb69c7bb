//! Running `prescale serve` as a process for the integration tests, and a KEDA-like client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::keda::proto::{GetMetricsRequest, ScaledObjectRef};

use chrono::{DateTime, Utc};
use prescale_testkit::{
    BackfillSeries, LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape,
    TestPrometheus, free_port, http, require_prometheus,
};
use tonic::transport::Channel;

/// A `prescale serve` process; killed on drop.
pub(crate) struct Serve {
    child: Option<Child>,
    pub(crate) grpc: String,
    pub(crate) http: String,
    pub(crate) dir: PathBuf,
    log: PathBuf,
}

impl Serve {
    /// Starts `prescale serve --config <dir>/serve.yaml` with `config` plus the addresses and
    /// the data directory, and waits until `/readyz` answers.
    pub(crate) fn start(dir: &Path, config: &str) -> Self {
        let grpc = format!("127.0.0.1:{}", free_port().unwrap());
        let http = format!("127.0.0.1:{}", free_port().unwrap());
        Self::start_on(dir, config, &grpc, &http)
    }

    /// Like [`Serve::start`] on given addresses (a restart keeps them).
    pub(crate) fn start_on(dir: &Path, config: &str, grpc: &str, http: &str) -> Self {
        let path = dir.join("serve.yaml");
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("serve-{}.log", grpc.replace(':', "_")));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_prescale"))
            .args([
                "serve",
                "--grpc-addr",
                grpc,
                "--http-addr",
                http,
                "--data-dir",
            ])
            .arg(dir.join("data"))
            .arg("--config")
            .arg(&path)
            .args(["--log", "prescale_server=debug,info"])
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        let serve = Self {
            child: Some(child),
            grpc: grpc.to_string(),
            http: format!("http://{http}"),
            dir: dir.to_path_buf(),
            log,
        };
        let started = Instant::now();
        while http::get(&format!("{}/readyz", serve.http))
            .map(|r| r.status)
            .ok()
            != Some(200)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prescale serve did not get ready:\n{}",
                serve.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    /// The end of the server's log.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status' success.
    pub(crate) fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A field of the process' `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), 0 when gone.
    pub(crate) fn memory_kib(&self, field: &str) -> u64 {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return 0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// The whole log of the server.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` on the HTTP API as JSON (`Null` when not 200).
    pub(crate) fn api(&self, path: &str) -> serde_json::Value {
        match http::get(&format!("{}{path}", self.http)) {
            Ok(r) if r.status == 200 => serde_json::from_str(&r.body).unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }

    /// A gRPC client.
    pub(crate) async fn client(&self) -> ExternalScalerClient<Channel> {
        ExternalScalerClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A ScaledObjectRef with metadata `pairs`.
pub(crate) fn object(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> ScaledObjectRef {
    let md: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ScaledObjectRef {
        name: name.into(),
        namespace: namespace.into(),
        scaler_metadata: md,
    }
}

/// One KEDA poll: `GetMetricSpec`, `GetMetrics`, `IsActive`. Returns the replicas the HPA
/// computes (`ceil(value / target)`) and the activity.
pub(crate) async fn poll(
    client: &mut ExternalScalerClient<Channel>,
    so: &ScaledObjectRef,
) -> Result<(u32, bool), tonic::Status> {
    let spec = client.get_metric_spec(so.clone()).await?.into_inner();
    let s = &spec.metric_specs[0];
    let v = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(so.clone()),
            metric_name: s.metric_name.clone(),
        })
        .await?
        .into_inner();
    let value = v.metric_values[0].metric_value_float;
    let active = client.is_active(so.clone()).await?.into_inner().result;
    // KEDA sends milli quantities to the HPA.
    let milli = |x: f64| (x * 1000.0).round();
    Ok((
        (milli(value) / milli(s.target_size_float)).ceil() as u32,
        active,
    ))
}

/// The values of a shared trace (`timestamp,value` CSV), or `None` (with a skip message, a
/// failure when `CI` is set) when the traces are not there.
pub(crate) fn shared_trace(name: &str) -> Option<(chrono::DateTime<chrono::Utc>, Vec<f64>)> {
    let path = prescale_testkit::shared_trace(name)?;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut start = None;
    let mut values = Vec::new();
    for line in text.lines().skip(1) {
        let (t, v) = line.split_once(',').unwrap();
        if start.is_none() {
            start = Some(t.parse().unwrap());
        }
        values.push(v.trim().parse().unwrap());
    }
    Some((start?, values))
}

/// A trace replayed fast into a real Prometheus with its earlier history backfilled.
pub(crate) struct Replay {
    pub(crate) load: LoadGenerator,
    pub(crate) prom: TestPrometheus,
    /// Real instant the replay started (trace step `w` plays from here).
    pub(crate) origin: DateTime<Utc>,
    /// Logical time of `origin` for a server on `time_scale {origin, speed}`.
    pub(crate) logical_origin: DateTime<Utc>,
    /// Index of the first replayed step in the trace.
    pub(crate) w: usize,
    /// The trace as a 5-minute trailing mean (what [`REPLAY_QUERY`] reads).
    pub(crate) smooth: Vec<f64>,
    pub(crate) speed: f64,
}

/// The demand query of a [`Replay`]: a 5-trace-minute mean of the requests waiting, at a
/// speed of 240.
pub(crate) const REPLAY_QUERY: &str = "sum(avg_over_time(vllm:num_requests_waiting[1250ms]))";

impl Replay {
    /// Replays `minutes` of `trace` from `from`, `speed` times faster than real time (240:
    /// four trace-minutes a second), as `vllm:num_requests_waiting` (one waiting request per
    /// request a minute), with `history` earlier steps backfilled; `None` (skipped) without
    /// Prometheus or the trace.
    pub(crate) fn start(
        trace: &str,
        from: &str,
        minutes: usize,
        history: usize,
        speed: f64,
    ) -> Option<Self> {
        if !require_prometheus() {
            return None;
        }
        let (start, raw) = shared_trace(trace)?;
        let from: DateTime<Utc> = from.parse().unwrap();
        let w = usize::try_from((from - start).num_minutes()).unwrap();
        let smooth: Vec<f64> = (0..raw.len())
            .map(|i| {
                raw[i.saturating_sub(4)..=i].iter().sum::<f64>()
                    / (i + 1 - i.saturating_sub(4)) as f64
            })
            .collect();
        let step_real = 60.0 / speed;
        let mut profile = LoadProfile::new(Shape::Trace {
            requests_per_step: raw[w..w + minutes + 30].to_vec(),
            step: Duration::from_secs(60),
            speed,
        });
        // waiting = rate × queue_seconds = (requests a minute × speed / 60) × (60 / speed).
        profile.queue_seconds = step_real;
        let load = LoadGenerator::start(profile).unwrap();
        let origin = Utc::now();
        let labels = load.scraped_labels("vllm");
        let samples = (0..history)
            .map(|j| {
                let back = ((history - j) as f64 * step_real * 1000.0) as i64;
                (
                    origin - chrono::Duration::milliseconds(back),
                    raw[w - history + j],
                )
            })
            .collect();
        let mut setup = PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", load.address()))
            .backfill(BackfillSeries {
                name: "vllm:num_requests_waiting".into(),
                kind: "gauge",
                labels,
                samples,
            });
        setup.scrape_interval = Some(Duration::from_millis(100));
        let prom = TestPrometheus::start(setup).unwrap();
        let logical_origin =
            DateTime::from_timestamp(origin.timestamp() - origin.timestamp().rem_euclid(60), 0)
                .unwrap();
        Some(Self {
            load,
            prom,
            origin,
            logical_origin,
            w,
            smooth,
            speed,
        })
    }

    /// The config of a server on this replay's scaled time.
    pub(crate) fn config(&self) -> String {
        format!(
            "runtime:\n  time_scale: {{origin: \"{}\", speed: {}}}\n  data_delay: 60s\n  first_answer_wait: 100ms\nprometheus: {{timeout: 2s, retries: 0}}\n",
            self.origin
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.speed
        )
    }

    /// The ScaledObject `web/nasa` as KEDA sends it to `serve`: this replay's Prometheus and
    /// [`REPLAY_QUERY`], 10 a replica, 3 days of history.
    pub(crate) fn object(&self, serve: &Serve) -> ScaledObjectRef {
        object(
            "web",
            "nasa",
            &[
                ("scalerAddress", &serve.grpc),
                ("serverAddress", &self.prom.url()),
                ("query", REPLAY_QUERY),
                ("threshold", "10"),
                ("history", "3d"),
                ("ignoreNullValues", "false"),
            ],
        )
    }

    /// Logical time now.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let ms = (Utc::now() - self.origin).num_milliseconds() as f64 * self.speed;
        self.logical_origin + chrono::Duration::milliseconds(ms as i64)
    }

    /// The smoothed demand at logical time `t`.
    pub(crate) fn demand(&self, t: DateTime<Utc>) -> f64 {
        let i = self.w + usize::try_from((t - self.logical_origin).num_minutes()).unwrap_or(0);
        self.smooth[i]
    }
}
