//! The pages rendered from statuses, and served by the router.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Duration, Utc};
use prescale_policy::{Decision, Reason};

use super::*;
use crate::api::http::{HttpState, router};
use crate::api::telemetry::Telemetry;
use crate::keda::metadata::Settings;
use crate::registry::status::{
    Analysis, AnomalyView, DecisionView, ErrorView, ForecastStep, ForecastView, Phase,
};
use crate::registry::{Answer, Registration, Registry, Slot, Starter};

const HOSTILE: &str = "<script>alert('x')</script>";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut md: HashMap<String, String> = [
        ("serverAddress", "http://user:secret@prom:9090"),
        ("query", "sum(rate(x[1m]))*60"),
        ("threshold", "40"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        md.insert(k.to_string(), v.to_string());
    }
    md
}

/// A status with a day of decisions, a forecast, patterns, an error: every part of the pages.
fn busy(namespace: &str, name: &str, md: &HashMap<String, String>) -> ServiceStatus {
    let settings = Settings::from_metadata(md).unwrap();
    let mut s = ServiceStatus::new(&ObjectKey::new(namespace, name), &settings);
    let now = at(86_400);
    let day: Vec<f64> = (0..1440)
        .map(|m| 100.0 + 80.0 * (f64::from(m) / 240.0).sin())
        .collect();
    s.demand = crate::registry::status::DemandView::new(at(0), 60, &day);
    for k in 0..(86_400 / 15) {
        let t = at(15 * k);
        let demand = 100.0 + 80.0 * ((k as f64) / 960.0).sin();
        let replicas = (demand / 40.0).ceil() as u32;
        s.recent.note(
            t,
            Some(demand),
            Some((demand * 0.95, demand * 1.2)),
            replicas,
            replicas,
        );
    }
    s.forecast = Some(ForecastView {
        made_at: now,
        model: "seasonal <naive>".into(),
        fitted_at: now - Duration::hours(2),
        quantile: 0.9,
        steps: (0..14)
            .map(|i| ForecastStep {
                timestamp: now + Duration::minutes(i),
                point: 120.0,
                p50: 118.0,
                upper: 150.0,
            })
            .collect(),
    });
    let decision =
        Decision::scale_to(4, Reason::Predictive).with_needs(3, Some(4), Some((now, now)));
    s.decision = Some(DecisionView {
        at: now,
        summary: decision.to_string(),
        decision,
    });
    s.reported = Some(Answer::new(&settings, 4, true, now));
    s.phase = Phase::Ok;
    s.safety = None;
    s.analysis = Some(Analysis {
        at: now,
        patterns: Vec::new(),
        trend: prescale_forecast::trend::detect_trend(&[1.0, 2.0, 3.0], 60, None),
        anomaly_count: 1,
        anomalies: vec![AnomalyView {
            timestamp: now,
            value: 900.0,
            expected: 100.0,
            score: 12.5,
        }],
    });
    s.last_error = Some(ErrorView {
        at: now,
        kind: "bad_response".into(),
        message: format!("Prometheus said {HOSTILE}"),
    });
    s
}

/// Panics if `page` holds markup a caller could have injected.
fn assert_inert(page: &str) {
    assert!(!page.contains("<script"), "a script got through");
    assert!(!page.contains("alert('x')"), "a quote got through");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[test]
fn pages_escape_everything_callers_sent() {
    // The registry refuses such names; statuses from elsewhere are escaped all the same.
    let md = metadata(&[
        ("query", HOSTILE),
        ("service", HOSTILE),
        ("metricName", "m"),
    ]);
    let s = busy(HOSTILE, HOSTILE, &md);
    let list = list::render(
        std::slice::from_ref(&s),
        None,
        list::Paging { page: 1, total: 1 },
    );
    assert_inert(&list);
    // The link is percent-encoded, then escaped.
    assert!(list.contains("href=\"/services/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E/"));
    let detail = detail::render(&s, None);
    assert_inert(&detail);
    assert!(detail.contains("seasonal &lt;naive&gt;"));
    // The password of serverAddress is masked.
    assert!(!detail.contains("secret") && detail.contains("***@prom:9090"));
    let missing = detail::not_found(HOSTILE, "a");
    assert_inert(&missing);
}

#[test]
fn the_list_and_the_service_page_show_every_part() {
    let s = busy("inference", "chat", &metadata(&[("quantile", "0.9")]));
    let list = list::render(
        std::slice::from_ref(&s),
        None,
        list::Paging { page: 1, total: 1 },
    );
    assert!(list.starts_with("<!DOCTYPE html>"));
    assert!(list.contains("<a href=\"/services/inference/chat\">inference/chat</a>"));
    assert_eq!(list.matches("<svg").count(), 1);
    assert!(list.contains("<span class=\"reason\">predictive</span>: scale to 4"));
    assert!(list.contains("P90 of the forecast (fixed quantile); threshold 40 a replica"));
    assert!(list.contains("not scored yet"));
    assert!(!list.contains("http://") && !list.contains("https://"));
    let detail = detail::render(&s, None);
    assert_eq!(detail.matches("<svg").count(), 2);
    assert!(detail.contains("<a href=\"/\">"));
    for part in [
        "Decision",
        "The last day",
        "Settings",
        "Forecast",
        "Patterns",
    ] {
        assert!(detail.contains(&format!("<h2>{part}")), "{part}");
    }
    assert!(detail.contains("<td>900</td>"), "the anomaly");
    // A day of charts in bounded pages.
    assert!(list.len() < 64 * 1024, "{} bytes", list.len());
    assert!(detail.len() < 160 * 1024, "{} bytes", detail.len());

    // SLO mode before its first tuning, a fresh registration: nothing decided yet.
    let md = metadata(&[]);
    let settings = Settings::from_metadata(&md).unwrap();
    let fresh = ServiceStatus::new(&ObjectKey::new("a", "b"), &settings);
    let list = list::render(
        std::slice::from_ref(&fresh),
        None,
        list::Paging { page: 1, total: 1 },
    );
    assert!(list.contains("no decision yet"), "{list}");
    assert!(
        list.contains("conservative, until the first tuning"),
        "{list}"
    );
    assert!(detail::render(&fresh, None).contains("Not analysed yet"));
}

struct Idle;

impl Starter for Idle {
    fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {}
}

async fn serve(registry: Arc<Registry>, token: Option<std::path::PathBuf>) -> String {
    let app = router(HttpState {
        registry,
        telemetry: Arc::new(Telemetry::new()),
        ready: Arc::new(AtomicBool::new(true)),
        cost: None,
        api_token_file: token,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// An HTTP answer: status, headers (names in lower case), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GET `url` over HTTP/1.1, with `Authorization: Bearer <token>` when given.
async fn get(url: String, token: Option<&str>) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{auth}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "a body of known length"
    );
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_with_html_headers_pages_of_services_and_a_404_page() {
    let registry = Arc::new(Registry::new(Arc::new(Idle)));
    for i in 0..(PER_PAGE + 20) {
        let md = metadata(&[]);
        let settings = Settings::from_metadata(&md).unwrap();
        registry.register(ObjectKey::new("ns", format!("svc-{i:03}")), settings, md);
    }
    let base = serve(registry, None).await;
    let first = get(format!("{base}/"), None).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        first.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(
        first.body.matches("<section class=\"service\">").count(),
        PER_PAGE
    );
    assert!(first.body.contains("href=\"/?page=2\""));
    // Past the last page: the last page.
    let last = get(format!("{base}/?page=99"), None).await;
    assert_eq!(last.body.matches("<section class=\"service\">").count(), 20);
    assert!(last.body.contains("svc-119") && !last.body.contains("svc-000"));
    let one = get(format!("{base}/services/ns/svc-007"), None).await;
    assert_eq!(one.status, 200);
    assert!(one.body.contains("<h1>ns/svc-007"));
    let missing = get(format!("{base}/services/%3Cscript%3E/x"), None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(!missing.body.contains("<script") && missing.body.contains("&lt;script&gt;/x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_guards_the_pages_too() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let registry = Arc::new(Registry::new(Arc::new(Idle)));
    let md = metadata(&[]);
    registry.register(
        ObjectKey::new("ns", "a"),
        Settings::from_metadata(&md).unwrap(),
        md,
    );
    let base = serve(registry, Some(token)).await;
    for path in ["/", "/services/ns/a", "/services/ns/nope"] {
        let url = format!("{base}{path}");
        assert_eq!(get(url.clone(), None).await.status, 401, "{path}");
        assert_eq!(get(url.clone(), Some("wrong")).await.status, 401, "{path}");
        let ok = get(url, Some("s3cret")).await.status;
        assert_eq!(ok, if path.ends_with("nope") { 404 } else { 200 }, "{path}");
    }
    assert_eq!(get(format!("{base}/healthz"), None).await.status, 200);
}
