//! A real trace through the runtime, tick by tick (15 s), as the server would see it from
//! Prometheus: the NASA-HTTP July 1995 trace (1-minute requests), read as a 5-minute trailing
//! mean (what `avg_over_time(...[5m])` gives), three days of history. On a weekday morning the
//! decisions reach each replica level before the demand needs it; in the evening they come
//! down after the demand.
//!
//! Skipped with a message when `../shared/traces` is not beside the checkout (a failure when
//! `CI` is set).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use prescale_server::api::telemetry::Telemetry;
use prescale_server::demand::source::{MemorySource, SameSource};
use prescale_server::registry::{Registration, Registry, Slot, Starter};
use prescale_server::runtime::{Runtime, RuntimeConfig};
use prescale_testkit::decisions::{DecisionRow, leads, release};

const TRACE: &str = "web_nasa_http_1995-07_1min.csv";
const THRESHOLD: f64 = 10.0;

struct Manual;

impl Starter for Manual {
    fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {}
}

/// The trace as a 5-minute trailing mean.
fn trace() -> Option<(DateTime<Utc>, Vec<f64>)> {
    let path = prescale_testkit::shared_trace(TRACE)?;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut start = None;
    let mut raw = Vec::new();
    for line in text.lines().skip(1) {
        let (t, v) = line.split_once(',')?;
        if start.is_none() {
            start = t.parse().ok();
        }
        raw.push(v.trim().parse::<f64>().ok()?);
    }
    let smooth = (0..raw.len())
        .map(|i| {
            let w = &raw[i.saturating_sub(4)..=i];
            w.iter().sum::<f64>() / w.len() as f64
        })
        .collect();
    Some((start?, smooth))
}

/// Replays `[from, from + minutes)` tick by tick; returns (time, replicas told to KEDA, replicas
/// the demand needs then).
async fn replay(
    start: DateTime<Utc>,
    values: &[f64],
    from: DateTime<Utc>,
    minutes: i64,
) -> Vec<DecisionRow> {
    let source = Arc::new(MemorySource::new());
    source.set("q", start, 60, values.to_vec());
    let runtime = Runtime::new(
        RuntimeConfig::default(),
        Arc::new(SameSource(source)),
        Arc::new(Telemetry::new()),
        None,
    );
    let registry = Registry::new(Arc::new(Manual));
    let md: HashMap<String, String> = [
        ("serverAddress", "http://prometheus:9090"),
        ("query", "q"),
        ("threshold", "10"),
        ("history", "3d"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (slot, reg) = registry.resolve("web", "nasa", &md).unwrap();
    let mut worker = runtime.worker(slot.clone(), reg);
    let mut out = Vec::new();
    for k in 0..minutes * 4 {
        let t = from + Duration::seconds(15 * k);
        worker.tick(t).await;
        let i = (t - start).num_minutes() as usize;
        let need = (values[i] / THRESHOLD).ceil() as u32;
        out.push((t, slot.answer().unwrap().replicas, need));
    }
    out
}

#[tokio::test]
async fn prewarms_the_morning_and_releases_in_the_evening() {
    let Some((start, values)) = trace() else {
        return;
    };
    // Wednesday 19 July 1995: demand climbs from about 20 to 80 requests a minute between
    // 10:00 and 13:30 UTC, and falls from about 95 to 50 between 20:00 and 23:00.
    let day: DateTime<Utc> = "1995-07-19T00:00:00Z".parse().unwrap();
    let rise = replay(start, &values, day + Duration::hours(10), 210).await;
    let leads = leads(&rise);
    assert!(leads.len() >= 4, "{leads:?}");
    assert!(
        leads.iter().all(|(_, lead)| *lead >= 0),
        "late at some level: {leads:?}"
    );
    let mean = leads.iter().map(|l| l.1).sum::<i64>() as f64 / leads.len() as f64;
    assert!(mean >= 3.0, "mean lead {mean} min: {leads:?}");

    let fall = replay(
        start,
        &values,
        day + Duration::hours(19) + Duration::minutes(30),
        210,
    )
    .await;
    // Means over the first hour (busy) and the last half hour (after the decline).
    let r = release(&fall);
    // Released as the demand fell: in step with it, never far below it.
    r.assert_released();
    eprintln!(
        "rise leads (level, minutes): {leads:?}; fall: {:.1} -> {:.1} (need {:.1})",
        r.busy, r.late, r.need
    );
}
