//! A gated re-tune (the server's: it takes a forecast thread one piece at a time) chooses what
//! an ungated one chooses, and never holds its turn for more than one refresh's fit or one
//! candidate's replay: the other services' refreshes run in between.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use chrono::Duration;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::default_capacity;
use prescale_sim::policies::PolicyOptions;
use prescale_sim::tune::{Gate, GateGuard, TuneSetup, Tuner, TunerConfig};

/// One turn at a time (a semaphore of one permit), counting the turns.
#[derive(Default)]
struct Turns {
    busy: Mutex<bool>,
    free: Condvar,
    taken: AtomicUsize,
}

struct Turn(Arc<Turns>);

impl Drop for Turn {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap() = false;
        self.0.free.notify_one();
    }
}

fn gate(turns: &Arc<Turns>) -> Gate {
    let turns = turns.clone();
    Gate::new(move || {
        let mut busy = turns.busy.lock().unwrap();
        while *busy {
            busy = turns.free.wait(busy).unwrap();
        }
        *busy = true;
        turns.taken.fetch_add(1, Ordering::SeqCst);
        GateGuard::new(Turn(turns.clone()))
    })
}

#[test]
fn a_gated_retune_takes_turns_and_chooses_the_same() {
    let series = generate(&SyntheticSpec {
        days: 2.5,
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
    let step = Duration::seconds(series.step_secs());
    let history: Vec<_> = (series.values().iter().enumerate())
        .map(|(i, v)| (series.start() + step * (i as i32 + 1), *v))
        .collect();
    let start = series.start();
    let now = start + Duration::days(2);
    let config = TunerConfig::default();

    let plain = Tuner::new(config.clone())
        .retune(now, &history, &setup, None)
        .cloned()
        .expect("a tuning");
    let turns = Arc::new(Turns::default());
    // Two threads, so that two candidates could hold turns at once if the gate let them.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let gated = pool
        .install(|| {
            Tuner::new(config)
                .retune_gated(now, &history, &setup, None, Some(gate(&turns)))
                .cloned()
        })
        .expect("a tuning");
    assert_eq!(plain, gated);
    // A day replayed (plus the lead-in hour), refreshed every 5 minutes: each refresh is a
    // turn of its own, and so is each candidate's replay.
    let taken = turns.taken.load(Ordering::SeqCst);
    assert!(taken > 24 * 12, "{taken} turns");
    assert!(!*turns.busy.lock().unwrap(), "a turn outlived the re-tune");
}
