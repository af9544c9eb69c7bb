//! `prescale metrics --record` keeps the history of a source that has none of its own (a
//! Redis list here, the real Redis of `scripts/test-services.sh`), and a crash loses nothing it
//! acknowledged: the recorder is SIGKILLed mid-run, restarted, and every read it printed (it
//! prints a read only after the store committed it) is in the store.
//!
//! Skips with a message when Redis is absent; fails then when `CI` is set.

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use prescale_testkit::{redis_command, redis_url, unique_name};
use serde_json::Value;

fn history(dir: &std::path::Path, series: &str) -> Value {
    let out = Command::cargo_bin("prescale")
        .expect("binary")
        .args(["metrics", "--history"])
        .arg(dir)
        .args(["--series", series, "--since", "1h", "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Samples recorded in total (over every 1-minute bucket) and the largest value seen.
fn totals(doc: &Value) -> (u64, f64) {
    let buckets = doc["buckets"].as_array().expect("buckets");
    let count = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    let max = buckets
        .iter()
        .map(|b| b["max"].as_f64().unwrap())
        .fold(0.0, f64::max);
    (count, max)
}

#[test]
fn a_killed_recorder_loses_no_acknowledged_read() {
    let Some(url) = redis_url() else { return };
    let list = unique_name("record");
    redis_command(&url, &["RPUSH", &list, "a", "b", "c"]).expect("fill");
    let dir = tempfile::tempdir().expect("dir");
    let series = format!("redis/celery_queue_length{{queue=\"{list}\"}}");

    // Run 1: record until 5 reads are acknowledged, then SIGKILL (no clean shutdown).
    let mut child = StdCommand::new(cargo_bin("prescale"))
        .args(["metrics", "--redis", &url, "--list", &list, "--record"])
        .arg(dir.path())
        .args(["--every", "100ms", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut acked = 0_u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked < 5 && Instant::now() < deadline {
        let line = lines.next().expect("a line").expect("utf-8");
        let read: Value = serde_json::from_str(&line).expect("json line");
        assert_eq!(read["series"][0]["name"], series.as_str());
        assert_eq!(read["series"][0]["value"], 3.0);
        acked += 1;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(acked, 5, "the recorder acknowledged too few reads");

    let (count, max) = totals(&history(dir.path(), &series));
    assert!(
        count >= acked,
        "{count} samples stored, {acked} acknowledged"
    );
    assert_eq!(max, 3.0);

    // Run 2, after the crash: the store reopens and recording goes on.
    redis_command(&url, &["RPUSH", &list, "d", "e"]).expect("push");
    Command::cargo_bin("prescale")
        .expect("binary")
        .args(["metrics", "--redis", &url, "--list", &list, "--record"])
        .arg(dir.path())
        .args(["--every", "100ms", "--count", "3"])
        .assert()
        .success();
    let (after, max) = totals(&history(dir.path(), &series));
    assert!(
        after >= count + 3,
        "{after} samples after the restart, {count} before"
    );
    assert_eq!(max, 5.0);

    // The series is listed by the store.
    let out = Command::cargo_bin("prescale")
        .expect("binary")
        .args(["metrics", "--history"])
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["series"][0]["name"], series.as_str());
    assert_eq!(doc["series"][0]["latest"]["value"], 5.0);
    redis_command(&url, &["DEL", &list]).expect("clean up");
}

#[test]
fn recording_an_unreachable_source_fails_and_history_needs_a_store() {
    let dir = tempfile::tempdir().expect("dir");
    Command::cargo_bin("prescale")
        .expect("binary")
        .args([
            "metrics",
            "--redis",
            "redis://127.0.0.1:1",
            "--list",
            "q",
            "--record",
        ])
        .arg(dir.path())
        .args(["--every", "50ms", "--count", "2", "--timeout", "1s"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no read of redis"));
    Command::cargo_bin("prescale")
        .expect("binary")
        .args(["metrics", "--history"])
        .arg(dir.path().join("missing"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("no history store at"));
}
