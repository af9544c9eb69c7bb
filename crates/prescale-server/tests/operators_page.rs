//! The operators' page in headless Chromium, against the assembled server fed by a real
//! Prometheus: a load generator scraped every second for live demand, three days of history
//! backfilled with promtool. Two ScaledObjects are registered over gRPC as KEDA does: one
//! that reaches a forecast and a decision, one whose query finds nothing (no decision, an
//! error, shadow mode). Then `/` and a service page must lay out in Chromium with their
//! charts and without a console message, and every link on them must answer 200.
//!
//! Needs Prometheus (and promtool) and `/usr/bin/chromium`: skipped with a message without
//! them, failing when `CI` is set.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_server::keda::proto::ScaledObjectRef;
use prescale_server::keda::proto::external_scaler_client::ExternalScalerClient;
use prescale_server::server::{Server, ServerOptions};
use prescale_testkit::chromium::{ChromiumRun as Run, have_chromium, headless};
use prescale_testkit::{
    BackfillSeries, LoadGenerator, LoadProfile, PrometheusSetup, ScrapeTarget, Shape,
    TestPrometheus, http, require_prometheus,
};
use tokio::sync::oneshot;

/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);
/// The live demand: 100 requests waiting (100 req/s, 1 s of queueing each).
const QUERY: &str = "sum(vllm:num_requests_waiting)";

/// Headless Chromium with a fresh profile, no proxy, dumping the DOM of `url` as laid out.
fn dump_dom(url: &str) -> Run {
    let extra = [
        "--window-size=1400,2400".to_owned(),
        "--dump-dom".to_owned(),
    ];
    headless(url, &extra, CHROMIUM_TIMEOUT)
}

/// The page's console messages in Chromium's log (its own noise is tagged by source file; a
/// page's messages are tagged `CONSOLE` and name the page's URL; uncaught exceptions and
/// blocked loads say so).
fn console_lines<'a>(stderr: &'a str, base: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains(":CONSOLE")
                || line.contains("Uncaught")
                || line.contains("Content Security Policy")
                || (line.contains("Console") && line.contains(base))
        })
        .collect()
}

/// The `href`s of the links (`<a>`) of a DOM dump.
fn links(dom: &str) -> Vec<String> {
    dom.split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

fn object(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> ScaledObjectRef {
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

async fn get(url: String) -> http::HttpResponse {
    tokio::task::spawn_blocking(move || http::get(&url).unwrap())
        .await
        .unwrap()
}

/// Opens `url` in Chromium (off the runtime's threads): the DOM dump, after checking that the
/// page logged nothing.
async fn open(url: String, base: String) -> String {
    tokio::task::spawn_blocking(move || {
        let run = dump_dom(&url);
        let console = console_lines(&run.stderr, &base);
        assert!(console.is_empty(), "{url}: console: {console:?}");
        run.stdout
    })
    .await
    .unwrap()
}

#[test]
fn the_operators_page_renders_in_chromium_against_a_real_prometheus() {
    if !require_prometheus() || !have_chromium() {
        return;
    }
    let mut profile = LoadProfile::new(Shape::Constant(100.0));
    profile.queue_seconds = 1.0;
    let load = LoadGenerator::start(profile).unwrap();
    // Three days of a daily cycle (20 to 200 waiting), ending over an hour ago (where
    // Prometheus' head block does not reach); the scrapes go on from now.
    let now = Utc::now().timestamp();
    let end = now - now % 60 - 70 * 60;
    let start = DateTime::<Utc>::from_timestamp(end - 3 * 86_400, 0).unwrap();
    let synthetic = generate(&SyntheticSpec {
        start,
        days: 3.0,
        ..SyntheticSpec::default()
    });
    let samples = synthetic
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| (start + chrono::Duration::minutes(i as i64), *v))
        .collect();
    let prom = TestPrometheus::start(
        PrometheusSetup::new()
            .target(ScrapeTarget::new("vllm", load.address()))
            .backfill(BackfillSeries {
                name: "vllm:num_requests_waiting".into(),
                kind: "gauge",
                labels: load.scraped_labels("vllm"),
                samples,
            }),
    )
    .unwrap();
    prom.wait_for(QUERY, Duration::from_secs(30), |v| v == [100.0])
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = ServerOptions {
            first_answer_wait: Duration::from_millis(200),
            cost: Some(Default::default()),
            ..common::loopback()
        };
        let server = Server::bind(options, None).await.unwrap();
        let grpc = format!("http://{}", server.grpc_addr().unwrap());
        let base = format!("http://{}", server.http_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));

        let prom_url = prom.url();
        let chat = object(
            "inference",
            "chat",
            &[
                ("serverAddress", &prom_url),
                ("query", QUERY),
                ("threshold", "40"),
                ("history", "3d"),
                ("quantile", "0.9"),
            ],
        );
        let embed = object(
            "batch",
            "embed",
            &[
                ("serverAddress", &prom_url),
                (
                    "query",
                    "sum(vllm:num_requests_waiting{model_name=\"absent\"})",
                ),
                ("threshold", "10"),
                ("mode", "forecast-only"),
                ("quantile", "0.95"),
            ],
        );
        let mut client = ExternalScalerClient::connect(grpc).await.unwrap();
        for so in [&chat, &embed] {
            client.get_metric_spec(so.clone()).await.unwrap();
        }

        // A decision on a fresh forecast, and the other one's collection error.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = get(format!("{base}/api/v1/services/inference/chat")).await;
            let one: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let other = get(format!("{base}/api/v1/services/batch/embed")).await;
            let other: serde_json::Value = serde_json::from_str(&other.body).unwrap();
            if one["phase"] == "ok"
                && one["recent"]["points"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
                && other["last_error"]["kind"] == "empty"
            {
                break;
            }
            assert!(Instant::now() < deadline, "no decision: {one}\n{other}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The JSON detail carries what the charts draw: the day of history held, the decisions.
        let one = get(format!("{base}/api/v1/services/inference/chat")).await;
        let one: serde_json::Value = serde_json::from_str(&one.body).unwrap();
        let held = one["demand"]["values"].as_array().map_or(0, Vec::len);
        assert!((1_000..=1_440).contains(&held), "{held} values of demand");

        let index = get(format!("{base}/")).await;
        assert_eq!(index.status, 200);
        let dom = open(format!("{base}/"), base.clone()).await;
        for text in [
            "inference/chat",
            "batch/embed",
            "<svg",
            "P90 of the forecast (fixed quantile)",
            "forecast-only (shadow)",
            "gave an empty result",
            "ScaledObjects registered",
        ] {
            assert!(dom.contains(text), "{text} missing from /:\n{dom}");
        }
        assert_eq!(dom.matches("<svg").count(), 2, "a chart per service");
        assert!(
            dom.contains("<span class=\"reason\">"),
            "a decision and its reason"
        );
        let targets = links(&dom);
        for page in ["/services/inference/chat", "/services/batch/embed"] {
            assert!(targets.iter().any(|l| l == page), "{page} in {targets:?}");
        }

        let detail = open(format!("{base}/services/inference/chat"), base.clone()).await;
        for text in [
            "<h1>inference/chat",
            "The last day",
            "answered to KEDA",
            "Forecast",
        ] {
            assert!(
                detail.contains(text),
                "{text} missing from the service page"
            );
        }
        assert_eq!(detail.matches("<svg").count(), 2, "demand and replicas");

        // Every link of both pages answers 200 (the pages link within the server only).
        for href in targets.iter().chain(links(&detail).iter()) {
            assert!(href.starts_with('/'), "a link outside the server: {href}");
            let r = get(format!("{base}{href}")).await;
            assert_eq!(r.status, 200, "{href}");
        }
        let missing = get(format!("{base}/services/inference/nope")).await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("Not registered"));

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), done)
            .await
            .expect("graceful shutdown within 10 s")
            .unwrap()
            .unwrap();
    });
    drop(load);
}
