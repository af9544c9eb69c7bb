//! The long-running test services (Redis, RabbitMQ) that `scripts/test-services.sh start`
//! runs on fixed loopback ports: where to find them, and small clients to put known data in.
//!
//! The script writes `target/test-services/env`; the URLs are read from the environment
//! variables first (`scripts/test.sh` exports them), then from that file, so that a plain
//! `cargo test` works after `scripts/test-services.sh start` too.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::http::{encode, request};
use crate::{TestkitError, skip_or_fail};

/// The Redis URL variable: `redis://127.0.0.1:PORT`.
pub const REDIS_URL_VAR: &str = "PRESCALE_TEST_REDIS_URL";
/// The RabbitMQ management API variable: `http://guest:guest@127.0.0.1:PORT`.
pub const RABBITMQ_URL_VAR: &str = "PRESCALE_TEST_RABBITMQ_URL";
/// The RabbitMQ AMQP variable: `amqp://guest:guest@127.0.0.1:PORT/%2F`.
pub const AMQP_URL_VAR: &str = "PRESCALE_TEST_AMQP_URL";

/// The env file the script writes, beside the workspace's `target/`.
#[must_use]
pub fn env_file() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("test-services").join("env")
}

/// The value of a test-service variable, from the environment or the env file.
#[must_use]
pub fn service_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name)
        && !v.is_empty()
    {
        return Some(v);
    }
    let text = std::fs::read_to_string(env_file()).ok()?;
    text.lines().find_map(|line| {
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

fn service(var: &str, what: &str) -> Option<String> {
    match service_var(var) {
        Some(url) => Some(url),
        None => {
            skip_or_fail(&format!(
                "{what} is not running ({var} is unset and {} is missing; \
                 start it with scripts/test-services.sh start)",
                env_file().display()
            ));
            None
        }
    }
}

/// The test Redis URL; `None` (after printing why) when it is not running, and a panic
/// instead when `CI` is set.
#[must_use]
pub fn redis_url() -> Option<String> {
    service(REDIS_URL_VAR, "redis")
}

/// The test RabbitMQ management API URL (with `guest:guest@`); skip-or-fail like
/// [`redis_url`].
#[must_use]
pub fn rabbitmq_url() -> Option<String> {
    service(RABBITMQ_URL_VAR, "rabbitmq")
}

/// The test RabbitMQ AMQP URL; skip-or-fail like [`redis_url`].
#[must_use]
pub fn amqp_url() -> Option<String> {
    service(AMQP_URL_VAR, "rabbitmq (amqp)")
}

/// A name no other test (or test run) uses, for queues and keys on the shared services.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs one Redis command (RESP over TCP) on `redis://host:port[/db]`; returns the reply as
/// text (integers as digits, bulk strings as is, arrays joined by newlines).
pub fn redis_command(url: &str, args: &[&str]) -> Result<String, TestkitError> {
    let err = |reason: String| TestkitError::Service {
        what: format!("redis {url}"),
        reason,
    };
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| err("expected redis://host:port".into()))?;
    let (addr, db) = rest.split_once('/').unwrap_or((rest, "0"));
    let mut stream = TcpStream::connect(addr).map_err(|e| err(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    let db = if db.is_empty() { "0" } else { db };
    for cmd in [&["SELECT", db][..], args] {
        out.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
        for a in cmd {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    stream.write_all(&out).map_err(|e| err(e.to_string()))?;
    let mut reader = RespReader {
        stream,
        buf: Vec::new(),
    };
    let select = reader.reply().map_err(err)?;
    if select.starts_with("ERR") {
        return Err(err(select));
    }
    reader.reply().map_err(err)
}

struct RespReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RespReader {
    fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn reply(&mut self) -> Result<String, String> {
        let line = self.line()?;
        let (tag, rest) = line.split_at(1.min(line.len()));
        match tag {
            "+" | ":" => Ok(rest.to_owned()),
            "-" => Ok(format!("ERR {rest}")),
            "$" => {
                if rest == "-1" {
                    return Ok(String::new());
                }
                self.line()
            }
            "*" => {
                let n: i64 = rest
                    .parse()
                    .map_err(|_| format!("bad array length {rest}"))?;
                let items = (0..n.max(0))
                    .map(|_| self.reply())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(items.join("\n"))
            }
            _ => Err(format!("unexpected reply {line:?}")),
        }
    }
}

/// Declares a durable queue on the management API `url` (`http://user:pw@host:port`).
pub fn rabbitmq_declare(url: &str, vhost: &str, queue: &str) -> Result<(), TestkitError> {
    let api = format!(
        "{}/api/queues/{}/{}",
        url.trim_end_matches('/'),
        encode(vhost),
        encode(queue)
    );
    expect_ok(
        request(
            "PUT",
            &api,
            Some(r#"{"durable":true}"#),
            Duration::from_secs(10),
        )?,
        &api,
    )
    .map(drop)
}

/// Publishes `count` messages to `queue` through the default exchange.
pub fn rabbitmq_publish(
    url: &str,
    vhost: &str,
    queue: &str,
    count: usize,
) -> Result<(), TestkitError> {
    let api = format!(
        "{}/api/exchanges/{}/amq.default/publish",
        url.trim_end_matches('/'),
        encode(vhost)
    );
    let body = format!(
        r#"{{"properties":{{}},"routing_key":"{queue}","payload":"job","payload_encoding":"string"}}"#
    );
    for _ in 0..count {
        let resp = request("POST", &api, Some(&body), Duration::from_secs(10))?;
        if resp.status != 200 || !resp.body.contains("\"routed\":true") {
            return Err(TestkitError::Service {
                what: format!("rabbitmq publish to {queue}"),
                reason: format!("HTTP {}: {}", resp.status, resp.body),
            });
        }
    }
    Ok(())
}

/// Deletes a queue (ignores a missing one).
pub fn rabbitmq_delete(url: &str, vhost: &str, queue: &str) -> Result<(), TestkitError> {
    let api = format!(
        "{}/api/queues/{}/{}",
        url.trim_end_matches('/'),
        encode(vhost),
        encode(queue)
    );
    let resp = request("DELETE", &api, None, Duration::from_secs(10))?;
    if resp.status == 404 {
        return Ok(());
    }
    expect_ok(resp, &api).map(drop)
}

/// The management API's JSON object for `queue`, as the broker reports it now (for tests
/// that compare a client's reading with the broker's own).
pub fn rabbitmq_queue_json(
    url: &str,
    vhost: &str,
    queue: &str,
) -> Result<serde_json::Value, TestkitError> {
    let api = format!(
        "{}/api/queues/{}/{}",
        url.trim_end_matches('/'),
        encode(vhost),
        encode(queue)
    );
    let resp = expect_ok(request("GET", &api, None, Duration::from_secs(5))?, &api)?;
    serde_json::from_str(&resp.body).map_err(|e| TestkitError::Service {
        what: crate::http::redact(&api),
        reason: format!("not JSON: {e}"),
    })
}

/// Polls the management API until `queue` reports `messages == depth` (its statistics lag
/// the broker by up to a few seconds).
pub fn rabbitmq_wait_depth(
    url: &str,
    vhost: &str,
    queue: &str,
    depth: u64,
    timeout: Duration,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        // A broker that cannot be reached fails at once; an answer without the count yet
        // (not found, no statistics) is polled again.
        let messages = match rabbitmq_queue_json(url, vhost, queue) {
            Err(e @ TestkitError::Http { .. }) => return Err(e),
            answer => answer.ok().and_then(|v| v["messages"].as_u64()),
        };
        if messages == Some(depth) {
            return Ok(());
        }
        last = format!("{messages:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(TestkitError::Timeout {
        what: format!("rabbitmq queue {queue} to report {depth} messages (last {last})"),
        after: timeout,
    })
}

/// `resp` when its status is 2xx, else the service's error naming `api` (without password).
fn expect_ok(
    resp: crate::http::HttpResponse,
    api: &str,
) -> Result<crate::http::HttpResponse, TestkitError> {
    if (200..300).contains(&resp.status) {
        Ok(resp)
    } else {
        Err(TestkitError::Service {
            what: crate::http::redact(api),
            reason: format!("HTTP {}: {}", resp.status, resp.body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("q"), unique_name("q"));
        assert!(unique_name("celery").starts_with("celery-"));
    }

    #[test]
    fn env_file_lines_are_read() {
        // Variables set in the environment win; the name below is never set anywhere.
        assert_eq!(service_var("PRESCALE_TEST_SURELY_UNSET_VARIABLE"), None);
        assert!(env_file().ends_with("target/test-services/env"));
    }
}
