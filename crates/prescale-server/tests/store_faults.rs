//! Store faults, with the server in a real process on loopback: a corrupted store file is
//! moved aside and rebuilt (registrations from KEDA's calls, history from the source), and a
//! full disk (the kernel's file-size limit, `RLIMIT_FSIZE`, lowered under the server by
//! `prlimit`) is survived: writes are kept in memory, the store is reopened when the limit is
//! lifted, and everything acknowledged meanwhile is on disk.
//!
//! The server is this test binary run again with `PRESCALE_STORE_FAULTS_DATA=<data dir>`:
//! [`store_faults_child`] then serves on loopback, prints `ready <grpc> <http>` and stops
//! gracefully when its stdin closes. Run normally, `store_faults_child` returns at once. The
//! child ignores `SIGXFSZ` (set by the shell that starts it), so that a write past the limit
//! fails with `EFBIG` as a write to a full disk fails with `ENOSPC`.
//!
//! The full-disk test needs `prlimit` (util-linux): skipped with a message without it, failing
//! when `CI` is set.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{metadata, object};
use prescale_server::demand::source::SameSource;
use prescale_server::keda::metadata::Settings;
use prescale_server::keda::proto::GetMetricsRequest;
use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::registry::ObjectKey;
use prescale_server::server::{STORE_FILE, Server, ServerOptions};
use prescale_server::state::metrics::StoreMetrics;
use prescale_server::state::persist::{
    StateStore, decision_key, history_series, load_registrations,
};
use prescale_server::state::store::EmbeddedStore;
use prescale_testkit::http;

const DATA_ENV: &str = "PRESCALE_STORE_FAULTS_DATA";
/// Child mode: serves the synthetic workload with its store in `$PRESCALE_STORE_FAULTS_DATA`
/// until stdin closes.
#[test]
fn store_faults_child() {
    let Ok(dir) = std::env::var(DATA_ENV) else {
        return;
    };
    tracing_subscriber::fmt()
        .with_env_filter("prescale_server=info")
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let options = ServerOptions {
            data_dir: Some(dir.into()),
            ..common::loopback()
        };
        let server = Server::bind(options, Some(Arc::new(SameSource(common::source()))))
            .await
            .unwrap();
        println!(
            "ready {} {}",
            server.grpc_addr().unwrap(),
            server.http_addr().unwrap()
        );
        std::io::stdout().flush().unwrap();
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        server
            .run(async {
                let _ = stdin_closed.await;
            })
            .await
            .unwrap();
    });
    println!("stopped");
}

/// A server process; killed on drop unless stopped.
struct Serving {
    child: Child,
    stdin: Option<ChildStdin>,
    grpc: String,
    http: String,
    log: Arc<Mutex<String>>,
}

impl Serving {
    /// Starts the child on `data` and waits for its `ready` line (30 s at most).
    fn start(data: &Path) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; exec \"$0\" \"$@\"")
            .arg(exe)
            .args([
                "store_faults_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DATA_ENV, data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The harness prints `test store_faults_child ... ` before it on the line.
                if let Some(at) = line.find("ready ") {
                    let _ = tx.send(line[at + "ready ".len()..].to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let stdin = child.stdin.take();
        let mut serving = Self {
            child,
            stdin,
            grpc: String::new(),
            http: String::new(),
            log,
        };
        let addrs = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", serving.log()));
        let (grpc, http) = addrs.split_once(' ').unwrap();
        serving.grpc = format!("http://{grpc}");
        serving.http = format!("http://{http}");
        serving
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of the `/metrics` sample `name` (with labels), 0 when absent.
    fn metric(&self, name: &str) -> f64 {
        let text = http::get(&format!("{}/metrics", self.http)).unwrap().body;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `pred` holds (`limit` at most).
    fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !pred(self) {
            assert!(
                started.elapsed() < limit,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes stdin and waits for a clean exit (20 s at most).
    fn stop(mut self) {
        drop(self.stdin.take());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.log());
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no graceful stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One KEDA poll of `name` (`GetMetricSpec`, `GetMetrics`, `IsActive`); returns the value.
fn poll(grpc: &str, name: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = ExternalScalerClient::connect(grpc.to_string())
            .await
            .unwrap();
        let spec = client
            .get_metric_spec(object(name))
            .await
            .unwrap()
            .into_inner();
        let value = client
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(object(name)),
                metric_name: spec.metric_specs[0].metric_name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .metric_values[0]
            .metric_value_float;
        client.is_active(object(name)).await.unwrap();
        value
    })
}

/// The history samples the server holds for `name` (0 when unknown).
fn history_samples(serving: &Serving, name: &str) -> u64 {
    let r = http::get(&format!(
        "{}/api/v1/services/inference/{name}",
        serving.http
    ))
    .unwrap();
    if r.status != 200 {
        return 0;
    }
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["history"]["samples"].as_u64().unwrap_or(0)
}

/// The history series of `name` in the store.
fn series(name: &str) -> String {
    let settings = Settings::from_metadata(&metadata()).unwrap();
    history_series(&ObjectKey::new("inference", name), &settings)
}

/// Samples of the last four days of `name`'s history in `store`.
fn stored_samples(store: &EmbeddedStore, name: &str) -> usize {
    let now = Utc::now();
    store
        .range(&series(name), now - chrono::Duration::days(4), now)
        .unwrap()
        .len()
}

#[test]
fn a_corrupt_store_file_is_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let first = Serving::start(dir.path());
    poll(&first.grpc, "chat");
    first.wait_for("history saved", Duration::from_secs(30), |s| {
        history_samples(s, "chat") >= 3 * 1440
    });
    // Let the saves on the blocking pool finish.
    std::thread::sleep(Duration::from_millis(500));
    first.stop();

    let path = dir.path().join(STORE_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 64 * 1024, "{len}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let damaged = std::fs::read(&path).unwrap();

    let second = Serving::start(dir.path());
    assert_eq!(
        second.metric(r#"prescale_store_recoveries_total{reason="corrupt"}"#),
        1.0,
        "{}",
        second.log()
    );
    assert!(
        second.log().contains("moved it aside"),
        "not logged:\n{}",
        second.log()
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("prescale.redb.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), damaged);
    // Nothing was restored; KEDA's next call registers the object again and its history is
    // read from the source as on a first start.
    assert_eq!(history_samples(&second, "chat"), 0);
    poll(&second.grpc, "chat");
    second.wait_for("history backfilled", Duration::from_secs(30), |s| {
        history_samples(s, "chat") >= 3 * 1440
    });
    std::thread::sleep(Duration::from_millis(500));
    second.stop();

    let store = EmbeddedStore::open(&path, StoreMetrics::new()).unwrap();
    let saved = load_registrations(&store).unwrap();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(stored_samples(&store, "chat") >= 3 * 1440);
}

/// Whether `prlimit` can be run; `false` (with a message, or a failure when `CI` is set)
/// without it.
fn require_prlimit() -> bool {
    let ok = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) is required when CI is set"
        );
        eprintln!("skipping: prlimit (util-linux) not found");
    }
    ok
}

/// Sets the soft file-size limit of process `pid`.
fn set_file_size_limit(pid: u32, limit: &str) {
    let out = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}:")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_full_disk_is_survived_and_writes_resume() {
    if !require_prlimit() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let serving = Serving::start(dir.path());
    poll(&serving.grpc, "chat");
    serving.wait_for("history saved", Duration::from_secs(30), |s| {
        history_samples(s, "chat") >= 3 * 1440
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(serving.metric("prescale_store_up"), 1.0);

    // The "disk" is full: every page the store writes past the first 4 KiB is refused.
    set_file_size_limit(serving.pid(), "4096");
    // A new ScaledObject: its registration, three days of history and its decision cannot be
    // written; the server still answers, and keeps them.
    assert!(poll(&serving.grpc, "chat2") >= 0.0);
    serving.wait_for("the store down", Duration::from_secs(30), |s| {
        s.metric("prescale_store_up") == 0.0
            && s.metric("prescale_store_pending_writes") >= (3 * 1440) as f64
    });
    assert!(serving.metric(r#"prescale_store_errors_total{error="storage"}"#) >= 1.0);
    // Still down a few reopen attempts later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        serving.metric("prescale_store_up"),
        0.0,
        "{}",
        serving.log()
    );
    assert_eq!(
        serving.metric(r#"prescale_store_recoveries_total{reason="reopen"}"#),
        0.0
    );

    // The disk has room again: the store reopens and writes what was kept.
    set_file_size_limit(serving.pid(), "unlimited");
    serving.wait_for("the store reopened", Duration::from_secs(45), |s| {
        s.metric("prescale_store_up") == 1.0
    });
    assert_eq!(
        serving.metric(r#"prescale_store_recoveries_total{reason="reopen"}"#),
        1.0
    );
    assert_eq!(serving.metric("prescale_store_pending_writes"), 0.0);
    assert!(
        serving.log().contains("Store reopened"),
        "{}",
        serving.log()
    );
    // New writes reach the file again.
    poll(&serving.grpc, "chat3");
    serving.wait_for("history of chat3", Duration::from_secs(30), |s| {
        history_samples(s, "chat3") >= 3 * 1440
    });
    std::thread::sleep(Duration::from_millis(500));
    serving.stop();

    let store = EmbeddedStore::open(&dir.path().join(STORE_FILE), StoreMetrics::new()).unwrap();
    let mut names: Vec<String> = load_registrations(&store)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.name)
        .collect();
    names.sort();
    assert_eq!(names, ["chat", "chat2", "chat3"]);
    for name in ["chat", "chat2", "chat3"] {
        assert!(stored_samples(&store, name) >= 3 * 1440, "{name}");
    }
    let key = ObjectKey::new("inference", "chat2");
    assert!(store.get_state(&decision_key(&key)).unwrap().is_some());
}
