//! Replay speed: a 30-day 1-minute trace through all five policies, forecast refits included.
//!
//! `cargo bench -p prescale-sim --bench replay` (target: under 5 s on one core for all five
//! policies). Run as a test (`cargo test --benches`), it replays two days once, to check that
//! it works.

use std::time::Instant;

use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::policies::{PolicyKind, PolicyOptions};
use prescale_sim::{SimConfig, default_capacity, simulate};

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let days = if bench { 30.0 } else { 2.0 };
    let series = generate(&SyntheticSpec {
        days,
        ..SyntheticSpec::demo()
    });
    let config = SimConfig::new(default_capacity(&series));
    let options = PolicyOptions::default();
    let mut total = 0.0;
    for kind in PolicyKind::ALL {
        let started = Instant::now();
        let mut policy = kind.build(&series, &config, &options);
        let (summary, _, _) = simulate(&series, &config, policy.as_mut());
        let secs = started.elapsed().as_secs_f64();
        total += secs;
        println!(
            "{:<14} {:>8.3} s  ({} points, {:.0} GPU-hours)",
            kind.name(),
            secs,
            series.len(),
            summary.gpu_hours
        );
    }
    println!("all five policies: {total:.3} s for {days} days of 1-minute data (one thread)");
}
