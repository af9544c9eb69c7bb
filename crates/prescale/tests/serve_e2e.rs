//! End to end on an injected clock: a real Prometheus holds the NASA-HTTP trace as vLLM's
//! `vllm:num_requests_waiting` (one request waiting per request a minute, one sample a minute,
//! backfilled with promtool: three days and a refit period of history before each window),
//! the server's own gRPC service answers a KEDA-like client on loopback, and the server's
//! runtime reads that Prometheus through its production source. Time is the trace's, moved by
//! whole weeks so that it ends in the recent past: the worker is driven tick by tick (15 s)
//! instead of a fast wall-clock replay, so the same run gives the same decisions on any
//! machine, however loaded. After every other tick the client polls GetMetricSpec →
//! GetMetrics → IsActive as KEDA does every 30 s.
//!
//! - Morning of Wednesday 19 July 1995 (10:00-13:30 UTC): the decisions reach every replica
//!   level before the demand needs it.
//! - Evening (19:30-23:00 UTC): they come down after the demand does, never far below it.
//!
//! Needs Prometheus and the shared traces: skipped with a message without them, failing when
//! `CI` is set.

mod serve_support;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};
use prescale_collect::CollectorMetrics;
use prescale_server::api::grpc::ScalerService;
use prescale_server::api::telemetry::Telemetry;
use prescale_server::demand::prometheus::PrometheusSources;
use prescale_server::keda::proto::external_scaler_server::ExternalScalerServer;
use prescale_server::registry::{Registration, Registry, Slot, Starter};
use prescale_server::runtime::{Runtime, RuntimeConfig};
use prescale_testkit::decisions::{DecisionRow, leads, release};
use prescale_testkit::{
    BackfillSeries, PrometheusSetup, TestPrometheus, free_port, require_prometheus,
};
use serve_support::{object, poll, shared_trace};

const TRACE: &str = "web_nasa_http_1995-07_1min.csv";
const THRESHOLD: f64 = 10.0;
/// History backfilled before a window: three days plus one refit period (6 h), in minutes.
const HISTORY: usize = 3 * 1440 + 360 + 10;
/// The demand query: a 5-minute mean of the requests waiting.
const QUERY: &str = "sum(avg_over_time(vllm:num_requests_waiting[5m]))";

/// Keeps what the gRPC side registers, for the test to drive its worker.
#[derive(Default)]
struct Captured(Mutex<Option<(Arc<Slot>, Arc<Registration>)>>);

impl Starter for Captured {
    fn start(&self, slot: Arc<Slot>, registration: Arc<Registration>) {
        *self.0.lock().unwrap() = Some((slot, registration));
    }
}

/// Runs `minutes` of the trace from `from` through Prometheus, the runtime and gRPC; returns
/// (time, replicas KEDA's HPA computes, replicas the demand needs); None when skipped.
fn run_window(from: &str, minutes: usize) -> Option<Vec<DecisionRow>> {
    if !require_prometheus() {
        return None;
    }
    let (start, raw) = shared_trace(TRACE)?;
    let from: DateTime<Utc> = from.parse().unwrap();
    let w = usize::try_from((from - start).num_minutes()).unwrap();
    // Whole weeks forward, so that the window (and half an hour after it) ends at least ten
    // minutes before now: every sample is in the past when it is read.
    let week = Duration::weeks(1);
    let end = from + Duration::minutes(minutes as i64 + 30);
    let weeks = ((Utc::now() - Duration::minutes(10) - end).num_seconds() / week.num_seconds())
        .max(0) as i32;
    let shift = week * weeks;
    let at = |i: usize| start + shift + Duration::minutes(i as i64);
    let samples = (w - HISTORY..w + minutes + 30)
        .map(|i| (at(i), raw[i]))
        .collect();
    let labels = [
        ("job", "vllm"),
        ("model_name", "nasa"),
        ("instance", "vllm:8000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let prom = TestPrometheus::start(PrometheusSetup::new().backfill(BackfillSeries {
        name: "vllm:num_requests_waiting".into(),
        kind: "gauge",
        labels,
        samples,
    }))
    .unwrap();
    // What the demand needs at a time: the 5-minute trailing mean the query reads.
    let need = |t: DateTime<Utc>| {
        let i = w + usize::try_from((t - at(w)).num_minutes()).unwrap();
        let mean = raw[i - 4..=i].iter().sum::<f64>() / 5.0;
        (mean / THRESHOLD).ceil() as u32
    };

    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let starter = Arc::new(Captured::default());
        let registry = Arc::new(Registry::new(starter.clone()));
        let telemetry = Arc::new(Telemetry::new());
        let runtime = Runtime::new(
            RuntimeConfig::default(),
            Arc::new(PrometheusSources::new(CollectorMetrics::new())),
            telemetry.clone(),
            None,
        );
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let mut service = ScalerService::new(registry.clone(), telemetry, stopped);
        service.first_answer_wait = std::time::Duration::ZERO;
        let addr = format!("127.0.0.1:{}", free_port().unwrap());
        let serving = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ExternalScalerServer::new(service))
                .serve(addr.parse().unwrap()),
        );
        let mut client = loop {
            match prescale_server::keda::proto::external_scaler_client::ExternalScalerClient::connect(
                format!("http://{addr}"),
            )
            .await
            {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        let prom_url = prom.url();
        let so = object(
            "web",
            "nasa",
            &[
                ("scalerAddress", addr.as_str()),
                ("serverAddress", prom_url.as_str()),
                ("query", QUERY),
                ("threshold", "10"),
                ("history", "3d"),
                ("ignoreNullValues", "false"),
            ],
        );
        // KEDA's first call registers the ScaledObject (no decision yet: the test drives its
        // worker).
        let first = poll(&mut client, &so).await.unwrap_err();
        assert_eq!(first.code(), tonic::Code::Unavailable, "{first}");
        let (slot, reg) = starter.0.lock().unwrap().take().expect("registered");
        let mut worker = runtime.worker(slot, reg.clone());
        let t0 = at(w).duration_trunc(Duration::seconds(15)).unwrap();
        let mut rows = Vec::new();
        for k in 0..minutes as i64 * 4 {
            let now = t0 + Duration::seconds(15 * k);
            worker.tick(now).await;
            if k % 2 == 0 {
                let (replicas, _) = poll(&mut client, &so).await.expect("poll");
                rows.push((now, replicas, need(now)));
            }
        }
        let status = reg.status();
        assert!(
            status.history.samples >= 3 * 1440,
            "history: {:?}",
            status.history
        );
        assert!(status.refits >= 1, "no refit: {:?}", status.last_error);
        serving.abort();
        rows
    });
    Some(rows)
}

#[test]
fn decisions_rise_before_the_morning_load() {
    let Some(rows) = run_window("1995-07-19T10:00:00Z", 210) else {
        return;
    };
    let leads = leads(&rows);
    assert!(leads.len() >= 3, "{leads:?}");
    // Every level on time, and on average well ahead.
    assert!(leads.iter().all(|l| l.1 >= 0), "late: {leads:?}");
    let mean = leads.iter().map(|l| l.1).sum::<i64>() as f64 / leads.len() as f64;
    assert!(mean >= 3.0, "mean lead {mean} min: {leads:?}");
    eprintln!("leads (replicas, minutes ahead): {leads:?}");
}

#[test]
fn decisions_fall_after_the_evening_load() {
    let Some(rows) = run_window("1995-07-19T19:30:00Z", 210) else {
        return;
    };
    let r = release(&rows);
    // Released as the demand fell: in step with it, never far below it.
    r.assert_released();
    eprintln!(
        "evening: {:.1} replicas on average over the first hour, {:.1} over the last half hour (need {:.1})",
        r.busy, r.late, r.need
    );
}
