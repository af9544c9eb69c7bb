//! A real Prometheus server for tests: own temporary config and data directory, a free
//! loopback port, optional history backfilled with `promtool`, stopped when dropped.
//!
//! ```no_run
//! use std::time::Duration;
//! use prescale_testkit::{LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape, TestPrometheus};
//!
//! if !prescale_testkit::require_prometheus() {
//!     return; // skipped (fails instead when CI is set)
//! }
//! let load = LoadGenerator::start(LoadProfile::new(Shape::Constant(10.0))).unwrap();
//! let prom = TestPrometheus::start(
//!     PrometheusSetup::new().target(ScrapeTarget::new("vllm", load.address()).label("service", "chat")),
//! )
//! .unwrap();
//! prom.wait_for_scrapes("vllm", 2, Duration::from_secs(20)).unwrap();
//! let url = prom.url(); // give this to the code under test
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::http::{encode, get};
use crate::{TestkitError, find_binary};

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The labels of a series.
pub type Labels = BTreeMap<String, String>;

/// One scrape target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    /// The `job` label.
    pub job: String,
    /// `host:port`.
    pub address: String,
    /// The page path. Default `/metrics`.
    pub metrics_path: String,
    /// Extra target labels (e.g. `service`).
    pub labels: BTreeMap<String, String>,
    /// Prometheus' `honor_labels`: when false (the default, as in a ServiceMonitor without
    /// `honorLabels`), a scraped label that clashes with a target label is renamed
    /// `exported_<name>`; when true, the scraped one wins.
    pub honor_labels: bool,
}

impl ScrapeTarget {
    /// Scrapes `http://{address}/metrics` as job `job`.
    #[must_use]
    pub fn new(job: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            job: job.into(),
            address: address.into(),
            metrics_path: "/metrics".into(),
            labels: BTreeMap::new(),
            honor_labels: false,
        }
    }

    /// Adds a target label.
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Scrapes `path` instead of `/metrics`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }

    /// Sets `honor_labels` (see the field).
    #[must_use]
    pub fn honor_labels(mut self, honor: bool) -> Self {
        self.honor_labels = honor;
        self
    }
}

/// One backfilled series: a metric with labels and timestamped values.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillSeries {
    /// The metric name.
    pub name: String,
    /// `gauge` or `counter` (a counter's samples are named `<name>_total`).
    pub kind: &'static str,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The samples, oldest first.
    pub samples: Vec<(DateTime<Utc>, f64)>,
}

/// What the test Prometheus does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrometheusSetup {
    /// Scrape and rule evaluation interval. Default 1 s.
    pub scrape_interval: Option<Duration>,
    /// The targets.
    pub targets: Vec<ScrapeTarget>,
    /// History to load with `promtool tsdb create-blocks-from openmetrics` before start
    /// (keep it older than about an hour, where Prometheus' head block does not reach).
    pub backfill: Vec<BackfillSeries>,
    /// Prometheus' web configuration (`--web.config.file`, YAML: `tls_server_config`,
    /// `basic_auth_users`). With `tls_server_config` the server answers only `https://`:
    /// [`TestPrometheus::url`] says so, and readiness is read from its log, and the
    /// helpers that query it over plain HTTP ([`TestPrometheus::query`]) do not work.
    pub web_config: Option<String>,
}

impl PrometheusSetup {
    /// No target, 1 s interval.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scrape target.
    #[must_use]
    pub fn target(mut self, target: ScrapeTarget) -> Self {
        self.targets.push(target);
        self
    }

    /// Sets Prometheus' web configuration (TLS, basic authentication).
    #[must_use]
    pub fn web_config(mut self, yaml: impl Into<String>) -> Self {
        self.web_config = Some(yaml.into());
        self
    }

    /// Adds history to backfill.
    #[must_use]
    pub fn backfill(mut self, series: BackfillSeries) -> Self {
        self.backfill.push(series);
        self
    }
}

/// A running Prometheus; killed (and its directory removed) when dropped.
pub struct TestPrometheus {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// Whether a web configuration is in use (TLS or authentication).
    web_config: bool,
    tls: bool,
}

impl TestPrometheus {
    /// Writes the config, backfills, and starts Prometheus on a free port; waits until it is
    /// ready. Retries on another port if the chosen one was taken meanwhile.
    pub fn start(setup: PrometheusSetup) -> Result<Self, TestkitError> {
        let dir = tempfile::Builder::new()
            .prefix("prescale-prometheus-")
            .tempdir()
            .map_err(|e| start_error(e.to_string()))?;
        fs::write(dir.path().join("prometheus.yml"), config(&setup))
            .map_err(|e| start_error(e.to_string()))?;
        if !setup.backfill.is_empty() {
            backfill(dir.path(), &setup.backfill)?;
        }
        if let Some(web) = &setup.web_config {
            fs::write(dir.path().join("web.yml"), web).map_err(|e| start_error(e.to_string()))?;
        }
        let mut prom = Self {
            dir,
            port: 0,
            child: None,
            web_config: setup.web_config.is_some(),
            tls: setup
                .web_config
                .as_deref()
                .is_some_and(|w| w.contains("tls_server_config")),
        };
        let mut last = None;
        for _ in 0..3 {
            prom.port = free_port()?;
            match prom.launch() {
                Ok(()) => return Ok(prom),
                Err(e) => {
                    prom.kill();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| start_error("no attempt made".into())))
    }

    fn launch(&mut self) -> Result<(), TestkitError> {
        let binary = find_binary("prometheus")
            .ok_or_else(|| start_error("`prometheus` is not installed".into()))?;
        let log = fs::File::create(self.log_path()).map_err(|e| start_error(e.to_string()))?;
        let log2 = log.try_clone().map_err(|e| start_error(e.to_string()))?;
        let mut command = Command::new(binary);
        if self.web_config {
            command.arg(format!(
                "--web.config.file={}",
                self.dir.path().join("web.yml").display()
            ));
        }
        let child = command
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("data").display()
            ))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--web.enable-lifecycle")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.ready() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(start_error(format!(
                    "exited with {status}; log:\n{}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(start_error(format!(
            "not ready within {READY_TIMEOUT:?}; log:\n{}",
            self.log_tail()
        )))
    }

    /// Ready: `/-/ready` answers 200, or, with a web configuration (which may demand TLS or
    /// credentials), the log says it serves.
    fn ready(&self) -> bool {
        if self.web_config {
            fs::read_to_string(self.log_path())
                .is_ok_and(|log| log.contains("Server is ready to receive web requests"))
        } else {
            get(&format!("{}/-/ready", self.url())).is_ok_and(|r| r.status == 200)
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS (the name a test
    /// certificate carries).
    #[must_use]
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.port)
        } else {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (kill and wait), keeping its data, so that a test can see the source
    /// go away; [`restart`](Self::restart) brings it back on the same port.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        self.launch()
    }

    /// The values of an instant query (one per series).
    pub fn query(&self, promql: &str) -> Result<Vec<f64>, TestkitError> {
        Ok(self
            .query_series(promql)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// The series of an instant query: each one's labels and value.
    pub fn query_series(&self, promql: &str) -> Result<Vec<(Labels, f64)>, TestkitError> {
        let url = format!("{}/api/v1/query?query={}", self.url(), encode(promql));
        let resp = get(&url)?;
        let json: serde_json::Value =
            serde_json::from_str(&resp.body).map_err(|e| TestkitError::Http {
                url: url.clone(),
                reason: format!("HTTP {}: {e}: {}", resp.status, resp.body),
            })?;
        if json["status"] != "success" {
            return Err(TestkitError::Http {
                url,
                reason: resp.body,
            });
        }
        let series = json["data"]["result"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let value = item["value"][1].as_str()?.parse::<f64>().ok()?;
                        let labels = item["metric"]
                            .as_object()
                            .map(|m| {
                                m.iter()
                                    .map(|(k, v)| {
                                        (k.clone(), v.as_str().unwrap_or_default().into())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some((labels, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(series)
    }

    /// Polls `promql` until `done` accepts its values; returns them.
    pub fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&[f64]) -> bool,
    ) -> Result<Vec<f64>, TestkitError> {
        let deadline = Instant::now() + timeout;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.query(promql)?;
            if done(&last) {
                return Ok(last);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(TestkitError::Timeout {
            what: format!("`{promql}` (last values {last:?})"),
            after: timeout,
        })
    }

    /// Waits until `job` has been scraped successfully at least `scrapes` times.
    pub fn wait_for_scrapes(
        &self,
        job: &str,
        scrapes: usize,
        timeout: Duration,
    ) -> Result<(), TestkitError> {
        let promql = format!("count_over_time(up{{job=\"{job}\"}}[10m])");
        self.wait_for(&promql, timeout, |v| {
            v.first().is_some_and(|&n| n >= scrapes as f64)
        })
        .map(|_| ())
    }

    /// The end of the server's log, for failure messages.
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(setup: &PrometheusSetup) -> String {
    let interval = setup.scrape_interval.unwrap_or(Duration::from_secs(1));
    let ms = interval.as_millis().max(1);
    let mut yml = format!(
        "global:\n  scrape_interval: {ms}ms\n  evaluation_interval: {ms}ms\nscrape_configs:\n"
    );
    for t in &setup.targets {
        let _ = writeln!(yml, "  - job_name: {}", quote(&t.job));
        let _ = writeln!(yml, "    metrics_path: {}", quote(&t.metrics_path));
        let _ = writeln!(yml, "    honor_labels: {}", t.honor_labels);
        let _ = writeln!(
            yml,
            "    static_configs:\n      - targets: [{}]",
            quote(&t.address)
        );
        if !t.labels.is_empty() {
            let _ = writeln!(yml, "        labels:");
            for (k, v) in &t.labels {
                let _ = writeln!(yml, "          {k}: {}", quote(v));
            }
        }
    }
    if setup.targets.is_empty() {
        yml.push_str("  []\n");
    }
    yml
}

/// A YAML double-quoted string.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The OpenMetrics text `promtool` backfills from (timestamps in seconds, `# EOF` at the end).
#[must_use]
pub fn openmetrics(series: &[BackfillSeries]) -> String {
    let mut text = String::new();
    let mut by_name: BTreeMap<(&str, &str), Vec<&BackfillSeries>> = BTreeMap::new();
    for s in series {
        by_name
            .entry((s.name.as_str(), s.kind))
            .or_default()
            .push(s);
    }
    for ((name, kind), group) in by_name {
        let _ = writeln!(text, "# TYPE {name} {kind}");
        let sample_name = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_owned()
        };
        for s in group {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            for (t, v) in &s.samples {
                let secs = t.timestamp_millis() as f64 / 1000.0;
                let _ = writeln!(text, "{sample_name}{{{}}} {v} {secs}", labels.join(","));
            }
        }
    }
    text.push_str("# EOF\n");
    text
}

/// One promtool backfill at a time in a test process: each block it writes preallocates a chunk
/// segment of up to 512 MiB (the TSDB's segment size; released when the block is closed), so
/// tests backfilling in parallel would each need that much free disk at once. CI once ran out
/// here ("preallocate: no space left on device").
static BACKFILL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn backfill(dir: &Path, series: &[BackfillSeries]) -> Result<(), TestkitError> {
    let promtool =
        find_binary("promtool").ok_or_else(|| start_error("`promtool` is not installed".into()))?;
    let file = dir.join("backfill.om");
    fs::write(&file, openmetrics(series)).map_err(|e| start_error(e.to_string()))?;
    // A poisoned lock only means another test panicked while holding it; the guard is still good.
    let _one_at_a_time = BACKFILL.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("data"))
        .current_dir(dir)
        .output()
        .map_err(|e| start_error(format!("promtool: {e}")))?;
    if !out.status.success() {
        return Err(start_error(format!(
            "promtool backfill failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16, TestkitError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| start_error(format!("no free port: {e}")))
}

fn start_error(reason: String) -> TestkitError {
    TestkitError::Start {
        what: "prometheus".into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_targets_with_labels() {
        let setup = PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", "127.0.0.1:1").label("service", "chat"));
        let yml = config(&setup);
        assert!(yml.contains("scrape_interval: 1000ms"), "{yml}");
        assert!(yml.contains("- job_name: \"vllm\""), "{yml}");
        assert!(yml.contains("targets: [\"127.0.0.1:1\"]"), "{yml}");
        assert!(yml.contains("service: \"chat\""), "{yml}");
        assert!(config(&PrometheusSetup::new()).contains("scrape_configs:\n  []"));
    }

    #[test]
    fn openmetrics_text_for_promtool() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("t");
        let s = BackfillSeries {
            name: "requests".into(),
            kind: "counter",
            labels: [("service".to_owned(), "chat".to_owned())].into(),
            samples: vec![(t0, 1.0), (t0 + chrono::Duration::seconds(60), 2.5)],
        };
        let text = openmetrics(&[s]);
        assert_eq!(
            text,
            "# TYPE requests counter\nrequests_total{service=\"chat\"} 1 1700000000\n\
             requests_total{service=\"chat\"} 2.5 1700000060\n# EOF\n"
        );
    }
}
