//! Readers on other threads while one thread writes: every read sees whole batches with their
//! exact values, and never goes back in time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{minute, open_temp, t0};
use prescale_store::{Sample, StoreConfig};

const SERIES: usize = 4;
const BATCHES: i64 = 120;
/// Minutes per series per batch.
const MINUTES: i64 = 10;

fn value(s: usize, m: i64) -> f64 {
    s as f64 * 1e6 + m as f64
}

#[test]
fn readers_see_whole_batches_while_a_writer_appends() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let names: Vec<String> = (0..SERIES).map(|s| format!("s{s}")).collect();

    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (store, done, names) = (Arc::clone(&store), Arc::clone(&done), names.clone());
            std::thread::spawn(move || {
                let mut seen = [0usize; SERIES];
                let mut reads = 0;
                while !done.load(Ordering::Acquire) || reads < 3 {
                    for (s, name) in names.iter().enumerate() {
                        let got = store
                            .range(name, t0(), minute(BATCHES * MINUTES))
                            .expect("readable");
                        assert_eq!(got.len() % MINUTES as usize, 0, "reader {r}: whole batches");
                        assert!(got.len() >= seen[s], "reader {r}: never back in time");
                        for (i, &(ts, v)) in got.iter().enumerate() {
                            assert_eq!((ts, v), (minute(i as i64), value(s, i as i64)));
                        }
                        seen[s] = got.len();
                        if let Some(last) = got.last() {
                            let latest = store.latest(name).expect("readable").expect("a sample");
                            assert!(latest.0 >= last.0, "latest is at least as new");
                        }
                    }
                    let state = store.get_state("written").expect("readable");
                    if let Some(bytes) = state {
                        assert_eq!(bytes.len(), 8);
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    for batch in 0..BATCHES {
        let data: Vec<Vec<Sample>> = (0..SERIES)
            .map(|s| {
                (batch * MINUTES..(batch + 1) * MINUTES)
                    .map(|m| (minute(m), value(s, m)))
                    .collect()
            })
            .collect();
        let refs: Vec<(&str, &[Sample])> = names
            .iter()
            .zip(&data)
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        store.append_batch(&refs).expect("stored");
        store
            .put_state("written", &(batch as u64).to_le_bytes())
            .expect("stored");
        if batch % 10 == 9 {
            store.rollup().expect("rolled up");
        }
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        let reads = reader.join().expect("the reader passed its checks");
        assert!(reads >= 3);
    }
    for name in &names {
        let got = store
            .range(name, t0(), minute(BATCHES * MINUTES))
            .expect("readable");
        assert_eq!(got.len() as i64, BATCHES * MINUTES);
    }
}
