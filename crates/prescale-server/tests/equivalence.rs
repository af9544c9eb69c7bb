//! `prescale serve` and `prescale backtest` run the same decision loop: a real trace replayed
//! through the simulator's `prescale` policy and through the server's worker (tick by tick on
//! an injected clock, demand from an in-memory source holding what the simulator's virtual
//! Prometheus answered) gives the same decision at every decision tick.
//!
//! The simulator keeps its fitted model between refreshes and the server fits it again at
//! every refresh: the same decisions also show that the two model lifecycles agree.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prescale_core::input::{ParseOptions, parse_csv};
use prescale_policy::Decision;
use prescale_server::api::telemetry::Telemetry;
use prescale_server::demand::source::{MemorySource, SameSource};
use prescale_server::registry::{Registration, Registry, Slot, Starter};
use prescale_server::runtime::{Runtime, RuntimeConfig};
use prescale_sim::policies::PolicyOptions;
use prescale_sim::policies::prescale::PrescalePolicy;
use prescale_sim::{SimConfig, default_capacity, simulate};

const TRACE: &str = "web_nasa_http_1995-07_1min.csv";

struct Manual;

impl Starter for Manual {
    fn start(&self, _: Arc<Slot>, _: Arc<Registration>) {}
}

/// The simulator's decisions: the last one of each tick.
fn last_per_tick(decisions: &[(DateTime<Utc>, Decision)]) -> Vec<(DateTime<Utc>, Decision)> {
    let mut out: Vec<(DateTime<Utc>, Decision)> = Vec::new();
    for (t, d) in decisions {
        match out.last_mut() {
            Some(last) if last.0 == *t => last.1 = d.clone(),
            _ => out.push((*t, d.clone())),
        }
    }
    out
}

#[tokio::test]
async fn the_server_and_the_backtest_decide_alike_at_every_tick() {
    let Some(path) = prescale_testkit::shared_trace(TRACE) else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let whole = parse_csv(text.as_bytes(), TRACE, &ParseOptions::default()).unwrap();
    // Two and a half days: the first fits, refits every 6 hours, nights and mornings.
    let series = whole.slice(0..(2.5 * 1440.0) as usize);
    let capacity = default_capacity(&series);

    // The backtest's prescale policy, recording what it read and decided.
    let cfg = SimConfig::new(capacity);
    let max = 40;
    let mut policy =
        PrescalePolicy::new(capacity, 180.0, max, &PolicyOptions::default()).recording();
    simulate(&series, &cfg, &mut policy);
    let rec = policy.recorded().unwrap();
    let sim = last_per_tick(&rec.decisions);
    assert!(sim.len() > 8_000, "{} decision ticks", sim.len());

    // The server, fed what the virtual Prometheus held, on grids through the trace's start.
    let (t0, step) = (rec.query[0].0, 15);
    assert!(
        rec.query
            .windows(2)
            .all(|w| (w[1].0 - w[0].0).num_seconds() == step)
    );
    let source = Arc::new(MemorySource::new());
    source.set("q", t0, step, rec.query.iter().map(|p| p.1).collect());
    let config = RuntimeConfig {
        grid_origin: Some(t0),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(
        config,
        Arc::new(SameSource(source)),
        Arc::new(Telemetry::new()),
        None,
    );
    let registry = Registry::new(Arc::new(Manual));
    let threshold = capacity.to_string();
    let max_text = max.to_string();
    let md: HashMap<String, String> = [
        ("serverAddress", "http://prometheus:9090"),
        ("query", "q"),
        ("threshold", threshold.as_str()),
        ("maxReplicas", max_text.as_str()),
        // The fixed headroom of `PolicyOptions::default()` (SLO mode is the trigger's default).
        ("quantile", "0.9"),
        // The simulated Prometheus reads 0 before the trace's first sample (the replay's
        // start), where this one has nothing: the same as an empty result reading 0.
        ("ignoreNullValues", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (slot, reg) = registry.resolve("web", "nasa", &md).unwrap();
    let mut worker = runtime.worker(slot, reg.clone());
    let mut mismatches = Vec::new();
    for (t, expected) in &sim {
        worker.tick(*t).await;
        let got = reg.status().decision.expect("a decision").decision;
        if &got != expected {
            mismatches.push((*t, got, expected.clone()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} ticks differ; first: {:#?}",
        mismatches.len(),
        sim.len(),
        mismatches.first()
    );
    // The replay did exercise the loop: predictive decisions and a forecast.
    assert!(
        sim.iter()
            .any(|(_, d)| d.reason == prescale_policy::Reason::Predictive),
        "no predictive decision"
    );
}
