//! `prescale serve` (a real process) against a hostile Prometheus on loopback: a body over the
//! size cap, ancient and future timestamps, a slow trickle, malformed JSON, 500s and NaN, beside
//! an ordinary service; and a listener on an address outside `prometheus.allowed`, which must
//! never receive a request (let alone the configured token). The server must not panic, must
//! keep answering the ordinary service, must answer the hostile ones with a value or
//! UNAVAILABLE (KEDA's fallback), and must stay within a memory bound.
//!
//! Needs nothing but loopback: the fake Prometheus is in this process.

mod serve_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serve_support::{Serve, object, poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The token in `prometheus.bearer_token_file`.
const TOKEN: &str = "s3cret-token-for-the-allowed-prometheus";

/// What a fake Prometheus saw: `(path and query, authorization header)` per request.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A fake Prometheus on loopback; its answer depends on the PromQL query's name.
async fn fake_prometheus() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer(conn, log.clone()));
        }
    });
    (url, seen)
}

/// A query parameter of `target` (`/api/v1/query_range?query=...&start=...`), undecoded.
fn param<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target
        .split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

async fn answer(mut conn: TcpStream, seen: Seen) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 << 10 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let auth = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .filter(|v| !v.is_empty());
    seen.lock().unwrap().push((target.clone(), auth));
    let query = param(&target, "query").unwrap_or("");
    let range = target.contains("/query_range");
    let num = |k: &str| param(&target, k).and_then(|v| v.parse::<f64>().ok());
    let (start, end, step) = (
        num("start").unwrap_or(0.0),
        num("end").unwrap_or(0.0),
        num("step").unwrap_or(60.0).max(1.0),
    );
    let now = num("time").unwrap_or(end);
    let ok = |body: String| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let vector = |t: f64, v: &str| {
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[{t},"{v}"]}}]}}}}"#
        )
    };
    let matrix = |points: &[(f64, String)]| {
        let values: Vec<String> = points
            .iter()
            .map(|(t, v)| format!(r#"[{t},"{v}"]"#))
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
            values.join(",")
        )
    };
    let steady = || {
        let n = (((end - start) / step) as usize).min(20_000);
        (0..=n)
            .map(|i| (start + i as f64 * step, "5".to_string()))
            .collect::<Vec<_>>()
    };
    let reply = match query {
        "good" if range => ok(matrix(&steady())),
        "good" => ok(vector(now, "5")),
        // 40 MiB with no length announced: the cap must stop the read, not the header.
        "huge" => {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[")
                .await;
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..40 {
                if conn.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            return;
        }
        // Samples from 1970 and from the far future, none in the window asked for.
        "ancient" if range => ok(matrix(&[
            (1.0, "7".into()),
            (60.0, "7".into()),
            (end + 1e8, "7".into()),
        ])),
        "ancient" => ok(vector(1.0, "7")),
        // One byte every 200 ms: the request timeout must end it.
        "trickle" => {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
                .await;
            for _ in 0..300 {
                if conn.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            return;
        }
        "malformed" => ok(r#"{"status":"success","data":{"resultType":"vec"#.to_string()),
        "nan" if range => ok(matrix(
            &steady()
                .into_iter()
                .map(|(t, _)| (t, "NaN".to_string()))
                .collect::<Vec<_>>(),
        )),
        "nan" => ok(vector(now, "NaN")),
        _ => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops"
            .to_string(),
    };
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

fn service(name: &str, server: &str, query: &str) -> prescale_server::keda::proto::ScaledObjectRef {
    object(
        "hostile",
        name,
        &[
            ("serverAddress", server),
            ("query", query),
            ("threshold", "1"),
            ("history", "1d"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_prometheus_harms_nothing_and_gets_no_credential_elsewhere() {
    let (prom, seen) = fake_prometheus().await;
    let (unlisted, canary) = fake_prometheus().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let config = format!(
        "runtime: {{decision_interval: 5s, first_answer_wait: 200ms}}\nprometheus:\n  timeout: 2s\n  retries: 0\n  allowed: [\"{prom}\"]\n  bearer_token_file: {}\n",
        token.display()
    );
    let serve = Serve::start(dir.path(), &config);
    let mut client = serve.client().await;

    // Outside the allowlist: refused before any request, naming the key.
    let err = client
        .get_metric_spec(service("elsewhere", &unlisted, "good"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("serverAddress"), "{err:?}");
    // Out-of-range metadata: refused, naming the key.
    for (key, value) in [("coldStart", "7d"), ("history", "365d")] {
        let mut so = service("bounds", &prom, "good");
        so.scaler_metadata.insert(key.into(), value.into());
        let err = client.get_metric_spec(so).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{key}: {err:?}");
        assert!(err.message().contains(key), "{err:?}");
    }

    let good = service("good", &prom, "good");
    let hostile: Vec<_> = ["huge", "ancient", "trickle", "malformed", "error500", "nan"]
        .iter()
        .map(|q| service(q, &prom, q))
        .collect();
    // KEDA polls every object for 25 s: the ordinary service is answered throughout (once its
    // first decision is made); the hostile ones get a value or UNAVAILABLE.
    let started = Instant::now();
    let mut good_answers = 0;
    while started.elapsed() < Duration::from_secs(25) {
        match poll(&mut client, &good).await {
            Ok(_) => good_answers += 1,
            Err(e) => assert!(
                e.code() == tonic::Code::Unavailable && good_answers == 0,
                "the ordinary service: {e:?}"
            ),
        }
        for so in &hostile {
            if let Err(e) = poll(&mut client, so).await {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{}: {e:?}", so.name);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(good_answers > 10, "{good_answers}\n{}", serve.log_tail());
    let status = serve.api("/api/v1/services/hostile/good");
    assert!(
        status["history"]["samples"].as_u64().unwrap_or(0) > 1000,
        "{status}"
    );
    // The ancient samples were dropped: no history from 1970 or the future.
    let ancient = serve.api("/api/v1/services/hostile/ancient");
    assert_eq!(ancient["history"]["samples"].as_u64(), Some(0), "{ancient}");
    // Each fault is named where the operator looks.
    for (name, word) in [
        ("huge", "bytes, not read"),
        ("trickle", "did not answer within"),
        ("malformed", "not a Prometheus API response"),
        ("error500", "HTTP 500"),
    ] {
        let st = serve.api(&format!("/api/v1/services/hostile/{name}"));
        let err = st["last_error"]["message"].as_str().unwrap_or("");
        assert!(!err.is_empty() && err.contains(word), "{name}: {st}");
    }

    // Memory: a 40 MiB answer is never held, whatever the number of tries.
    let peak_mib = serve.memory_kib("VmHWM:") / 1024;
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
    eprintln!("peak RSS {peak_mib} MiB with 7 ScaledObjects, 6 of them on hostile answers");
    assert!(!serve.log().contains("panicked"), "{}", serve.log_tail());
    // The token went to the allowed Prometheus, and nothing at all to the other listener.
    assert!(
        canary.lock().unwrap().is_empty(),
        "{:?}",
        canary.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|(_, auth)| auth.as_deref() == Some(&format!("Bearer {TOKEN}"))),
        "{:?}",
        &seen[..seen.len().min(3)]
    );
}
