//! SLO mode does not peek: settings chosen at `t` use only data before `t`. The same workload
//! is replayed twice in SLO mode, the second time with the demand after `t` tripled; every
//! tuning made up to `t` is identical, and the tunings after `t` see the change.

use chrono::Duration;
use prescale_core::Series;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::policies::prescale::PrescalePolicy;
use prescale_sim::policies::{PolicyOptions, SloMode};
use prescale_sim::tune::{TunerConfig, Tuning};
use prescale_sim::{SimConfig, default_capacity, simulate};

fn tunings(series: &Series, capacity: f64) -> Vec<Tuning> {
    let options = PolicyOptions {
        slo: Some(SloMode {
            tuner: TunerConfig::default(),
            sla_secs: 0.5,
        }),
        ..PolicyOptions::default()
    };
    let mut policy = PrescalePolicy::new(capacity, 180.0, 1000, &options);
    simulate(series, &SimConfig::new(capacity), &mut policy);
    policy.tunings().to_vec()
}

#[test]
fn tunings_before_t_ignore_the_data_after_t() {
    let a = generate(&SyntheticSpec {
        days: 5.0,
        ..SyntheticSpec::demo()
    });
    let t = a.start() + Duration::hours(3 * 24 + 12);
    let cut = usize::try_from((t - a.start()).num_seconds() / a.step_secs()).unwrap();
    let changed: Vec<f64> = a
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| if i >= cut { v * 3.0 + 5.0 } else { *v })
        .collect();
    let b = Series::new(a.start(), a.step_secs(), changed, a.kind()).unwrap();
    // The same capacity for both (the default would read the changed future).
    let capacity = default_capacity(&a);
    let (ta, tb) = (tunings(&a, capacity), tunings(&b, capacity));
    let before = |v: &[Tuning]| v.iter().filter(|x| x.at <= t).cloned().collect::<Vec<_>>();
    assert!(before(&ta).len() >= 2, "{ta:#?}");
    assert_eq!(before(&ta), before(&tb));
    // The tunings after t did see the change (so the comparison above could fail).
    let after = |v: &[Tuning]| v.iter().filter(|x| x.at > t).cloned().collect::<Vec<_>>();
    assert!(!after(&ta).is_empty());
    assert_ne!(after(&ta), after(&tb));
}
