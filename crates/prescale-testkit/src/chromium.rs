//! Headless Chromium for the tests that lay pages out (the backtest report, the server's
//! operators' page): whether it is installed, and one run with a fresh profile.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the tests expect Chromium (Debian's package; `scripts/install-test-deps.sh`).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is there; fails when it is not and `CI` is set.
#[must_use]
pub fn have_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing and CI is set: the Chromium test must run in CI \
         (scripts/install-test-deps.sh installs chromium)"
    );
    // Straight to stderr, past the test harness' capture, so that the skip is seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipping: chromium not installed ({CHROMIUM} is missing; \
         scripts/install-test-deps.sh installs it)"
    );
    false
}

/// What one Chromium run printed.
pub struct ChromiumRun {
    /// Its standard output (`--dump-dom`: the DOM as laid out).
    pub stdout: String,
    /// Its log (`--enable-logging=stderr`: console messages among Chromium's own).
    pub stderr: String,
}

/// Runs headless Chromium on `target` (a URL) with `extra` flags and a fresh profile, no
/// proxy, no background networking; panics when it fails or takes longer than `timeout`.
pub fn headless(target: &str, extra: &[String], timeout: Duration) -> ChromiumRun {
    let profile = tempfile::tempdir().expect("a temporary profile directory");
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]
    .map(str::to_owned)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.extend_from_slice(extra);
    args.push(target.to_owned());

    let mut child = Command::new(CHROMIUM)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => break status,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within {timeout:?}: {args:?}");
            }
        }
    };
    let run = ChromiumRun {
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        run.stderr
    );
    run
}
