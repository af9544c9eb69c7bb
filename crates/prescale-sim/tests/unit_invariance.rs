//! No unit assumed: multiplying the demand and the threshold (a replica's capacity) by the
//! same factor leaves every replica decision of the `prescale` loop unchanged, whether the
//! query gives requests per minute, per second (k = 1/60) or anything else. Property test over
//! generated workloads (levels, daily shapes, idle nights, spikes, step lengths).

use prescale_core::Series;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::policies::PolicyOptions;
use prescale_sim::policies::prescale::PrescalePolicy;
use prescale_sim::{SimConfig, default_capacity, simulate};
use proptest::prelude::*;

/// The (desired, active) of every decision, and the replicas of every chart sample.
fn decisions(series: &Series, capacity: f64) -> (Vec<(u32, bool)>, Vec<f64>) {
    let mut policy =
        PrescalePolicy::new(capacity, 180.0, 200, &PolicyOptions::default()).recording();
    let (_, timeline, _) = simulate(series, &SimConfig::new(capacity), &mut policy);
    let rec = policy.recorded().expect("recording");
    let d = rec
        .decisions
        .iter()
        .map(|(_, d)| (d.desired_replicas, d.active))
        .collect();
    (d, timeline.replicas)
}

fn scaled(series: &Series, k: f64) -> Series {
    let values = series.values().iter().map(|v| v * k).collect();
    Series::new(series.start(), series.step_secs(), values, series.kind()).expect("valid")
}

/// The property for one generated workload: every decision and chart sample equal with the
/// demand and threshold scaled by 1/60, 60 and 1000.
fn check(
    base: f64,
    peak_ratio: f64,
    idle: bool,
    spikes: f64,
    five_minute: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let series = generate(&SyntheticSpec {
        days: 1.5,
        step_secs: if five_minute { 300 } else { 60 },
        base,
        peak: base * peak_ratio,
        spikes_per_day: spikes,
        idle_hours: idle.then_some((1.0, 5.0)),
        anomaly_day: None,
        seed,
        ..SyntheticSpec::demo()
    });
    let capacity = default_capacity(&series);
    let (reference, replicas) = decisions(&series, capacity);
    prop_assert!(reference.iter().any(|d| d.0 > 1), "a workload that scales");
    for k in [1.0 / 60.0, 60.0, 1000.0] {
        let (got, got_replicas) = decisions(&scaled(&series, k), capacity * k);
        let first = got.iter().zip(&reference).position(|(a, b)| a != b);
        prop_assert!(first.is_none(), "k = {k}: decision {first:?} differs");
        prop_assert_eq!(&got_replicas, &replicas, "k = {}", k);
    }
    Ok(())
}

/// A workload that failed at k = 1/60 while selection errors were compared to ten digits: a
/// raw and a cleaned level scored the same up to 1e-12, and the single-precision rounding of
/// the loop's history decided between them in one unit only.
#[test]
fn a_tie_of_raw_and_cleaned_levels_picks_alike_in_every_unit() {
    check(
        40.87567432258251,
        7.566076301017476,
        true,
        3.533294231331069,
        true,
        403,
    )
    .unwrap();
}

proptest! {
    // Random workloads on every run; failures found so far are in the regressions file.
    #![proptest_config(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn scaling_demand_and_threshold_together_changes_no_decision(
        base in 0.5f64..50.0,
        peak_ratio in 2.0f64..20.0,
        idle in any::<bool>(),
        spikes in 0.0f64..4.0,
        five_minute in any::<bool>(),
        seed in 0u64..1_000,
    ) {
        check(base, peak_ratio, idle, spikes, five_minute, seed)?;
    }
}
