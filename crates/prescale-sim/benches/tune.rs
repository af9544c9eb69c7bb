//! SLO mode's re-tune: one service's last 7 days of 1-minute history replayed with the
//! candidate headrooms (forecasts made once, decisions per candidate), on one core.
//!
//! `cargo bench -p prescale-sim --bench tune` (target: under 2 s for one re-tune on one core).
//! Run as a test (`cargo test --benches`), it re-tunes on two days once, to check that it
//! works. The history comes from the demo workload through the `prescale` policy in SLO mode
//! (so that the forecasts are the loop's own); only the re-tune itself is timed.

use std::time::Instant;

use chrono::Duration;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::default_capacity;
use prescale_sim::policies::PolicyOptions;
use prescale_sim::tune::{Headroom, Replay, TuneSetup};

/// The target of one re-tune on one core, seconds.
const TARGET_SECS: f64 = 2.0;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let days = if bench { 8.0 } else { 2.5 };
    let series = generate(&SyntheticSpec {
        days,
        ..SyntheticSpec::demo()
    });
    let capacity = default_capacity(&series);
    let setup = TuneSetup {
        capacity_per_min: capacity,
        cold_start_secs: 180.0,
        max_replicas: 1000,
        sla_secs: 0.5,
        options: PolicyOptions::default(),
    };
    // The history as the loop holds it: each point the minute before its timestamp.
    let step = Duration::seconds(series.step_secs());
    let history: Vec<(chrono::DateTime<chrono::Utc>, f64)> = series
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| (series.start() + step * (i as i32 + 1), *v))
        .collect();
    let end = history.last().expect("points").0;
    let from = end - Duration::hours(if bench { 7 * 24 } else { 24 });
    let replay = Replay::new(&history, from, &setup).expect("enough history");
    // The forecasts: made once (what the live loop already holds in SLO mode).
    let (_, tape) = replay.fit(&Headroom::CONSERVATIVE);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let started = Instant::now();
    // A re-tune: the last pick replayed out of sample, then the search.
    let scored = pool.install(|| {
        let _ = replay.run(&Headroom::CONSERVATIVE, &tape);
        replay.search(0.99, &tape)
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "one re-tune on {:.0} days of 1-minute history: {secs:.3} s on one core, {} candidates \
         replayed (target: under {TARGET_SECS} s)",
        (end - from).num_hours() as f64 / 24.0,
        scored.len() + 1
    );
    for s in &scored {
        println!(
            "  P{:<4} at {:.0}% utilization: {:.2}% within the SLA, {:.1} GPU-hours",
            s.headroom.quantile * 100.0,
            s.headroom.utilization * 100.0,
            s.sla * 100.0,
            s.gpu_hours
        );
    }
    assert!(!scored.is_empty());
}
