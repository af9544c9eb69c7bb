//! Crash safety: a writer process is killed (SIGKILL) at random points while it appends; after
//! each kill the store reopens, every acknowledged sample is there with its exact value, the
//! batch in flight is there entirely or not at all, every chunk decodes, and writing continues.
//!
//! The writer is this test binary run again with `PRESCALE_STORE_CRASH_WRITER=<store path>`:
//! [`crash_writer_child`] then appends batches in a loop and prints `ack <batch>` after each
//! `append_batch` and `put_state` pair has returned. Run normally, `crash_writer_child` returns
//! at once. `PRESCALE_STORE_CRASH_SEED=<n>` replays the kill points of an earlier run.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{minute, temp_store_path};
use prescale_store::{Sample, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WRITER_ENV: &str = "PRESCALE_STORE_CRASH_WRITER";
const FIRST_BATCH_ENV: &str = "PRESCALE_STORE_CRASH_FIRST_BATCH";
const SEED_ENV: &str = "PRESCALE_STORE_CRASH_SEED";
const QUICK_REPAIR_ENV: &str = "PRESCALE_STORE_CRASH_QUICK_REPAIR";
/// Series per batch.
const SERIES: usize = 12;
/// Minutes (samples) per series per batch: not a divisor of the 60-minute chunk, so batches
/// rewrite chunks that earlier batches wrote.
const MINUTES: i64 = 25;
/// Kill rounds.
const ROUNDS: usize = 8;
/// Most batches one writer run appends (a bound in case the parent dies).
const MAX_BATCHES: u64 = 100_000;

/// The store configuration of writer and checker alike (with a coarser tier, so that rollups
/// run and can be interrupted too). Writers of odd rounds commit with quick repair, so that
/// both of redb's recovery paths (full repair, quick repair) are exercised.
fn config(quick_repair: bool) -> StoreConfig {
    StoreConfig {
        quick_repair,
        ..StoreConfig::default()
    }
}

fn series_name(s: usize) -> String {
    format!("crash/series-{s:02}")
}

/// The samples batch `batch` writes to series `s`: one per minute, values unique per batch,
/// series and minute.
fn samples(batch: u64, s: usize) -> Vec<Sample> {
    (0..MINUTES)
        .map(|i| {
            let m = batch as i64 * MINUTES + i;
            (
                minute(m),
                batch as f64 * 1000.0 + s as f64 * 37.0 + i as f64 + 0.125,
            )
        })
        .collect()
}

/// Every fourth batch also appends this many samples to the bulk series, so that some
/// transactions are large (hundreds of pages) when the kill comes.
const BULK: i64 = 3000;
const BULK_SERIES: &str = "crash/bulk";

/// The bulk samples of batch `batch` (a multiple of 4): consecutive minutes after the previous
/// bulk batch's.
fn bulk_samples(batch: u64) -> Vec<Sample> {
    let first = batch as i64 / 4 * BULK;
    (0..BULK)
        .map(|i| (minute(first + i), batch as f64 * 1e4 + i as f64 + 0.5))
        .collect()
}

/// Writer mode: appends batches from `PRESCALE_STORE_CRASH_FIRST_BATCH` on until killed.
#[test]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return; // Not started by `acknowledged_writes_survive_sigkill`.
    };
    let first: u64 = std::env::var(FIRST_BATCH_ENV)
        .expect("first batch")
        .parse()
        .expect("a batch number");
    let quick_repair = std::env::var_os(QUICK_REPAIR_ENV).is_some();
    let store = Store::open(Path::new(&path), config(quick_repair)).expect("the store opens");
    let names: Vec<String> = (0..SERIES).map(series_name).collect();
    let mut stdout = std::io::stdout().lock();
    // The harness has printed `test crash_writer_child ... ` without a newline.
    writeln!(stdout).expect("stdout");
    for batch in first..first + MAX_BATCHES {
        let data: Vec<Vec<Sample>> = (0..SERIES).map(|s| samples(batch, s)).collect();
        let mut refs: Vec<(&str, &[Sample])> = names
            .iter()
            .zip(&data)
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let bulk = bulk_samples(batch);
        if batch.is_multiple_of(4) {
            refs.push((BULK_SERIES, &bulk));
        }
        store.append_batch(&refs).expect("appended");
        store
            .put_state(
                &format!("batch/{batch:08}"),
                format!("{{\"batch\":{batch}}}").as_bytes(),
            )
            .expect("state stored");
        if batch % 5 == 4 {
            store.rollup().expect("rolled up");
        }
        writeln!(stdout, "ack {batch}").expect("stdout");
        stdout.flush().expect("stdout");
    }
}

/// Whether all of batch `batch` is stored with its exact values (`Some(true)`), none of it
/// (`Some(false)`), or only part of it (`None`).
fn batch_state(store: &Store, batch: u64) -> Option<bool> {
    let (from, to) = (
        minute(batch as i64 * MINUTES),
        minute((batch as i64 + 1) * MINUTES),
    );
    let mut parts: Vec<(String, Vec<Sample>, _, _)> = (0..SERIES)
        .map(|s| (series_name(s), samples(batch, s), from, to))
        .collect();
    if batch.is_multiple_of(4) {
        let bulk = bulk_samples(batch);
        let (first, last) = (bulk[0].0, bulk[bulk.len() - 1].0);
        parts.push((
            BULK_SERIES.to_string(),
            bulk,
            first,
            last + chrono::Duration::minutes(1),
        ));
    }
    let mut complete = 0;
    for (name, expected, from, to) in &parts {
        let buckets = store.buckets(name, 0, *from, *to).expect("readable");
        if buckets.is_empty() {
            continue;
        }
        let got: Vec<Sample> = buckets.iter().map(|b| (b.start, b.last)).collect();
        assert_eq!(
            &got, expected,
            "batch {batch}, series {name}: values differ"
        );
        assert!(buckets.iter().all(|b| b.count == 1 && b.sum == b.last));
        complete += 1;
    }
    match complete {
        0 => Some(false),
        n if n == parts.len() => Some(true),
        _ => None,
    }
}

/// Runs the writer until a random point, kills it, and returns the batches it acknowledged.
fn run_and_kill(path: &Path, first: u64, quick_repair: bool, rng: &mut StdRng) -> Vec<u64> {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    if quick_repair {
        command.env(QUICK_REPAIR_ENV, "1");
    }
    let mut child = command
        .args([
            "--exact",
            "crash_writer_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(WRITER_ENV, path)
        .env(FIRST_BATCH_ENV, first.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the writer starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                let id: u64 = id.trim().parse().expect("a batch number");
                if tx.send(id).is_err() {
                    break;
                }
            }
        }
    });
    // Wait for the writer to be under way, then kill it at a random moment.
    let first_ack = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the writer acknowledges a batch");
    std::thread::sleep(Duration::from_millis(rng.random_range(5..400)));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("the writer ends");
    assert!(!status.success(), "the writer was killed, not finished");
    reader.join().expect("the reader ends");
    let mut acked = vec![first_ack];
    acked.extend(rx.try_iter());
    acked
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let (_dir, path) = temp_store_path();
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("crash test seed {seed} ({SEED_ENV}={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acknowledged = Vec::new();
    let mut next = 0u64;
    let mut in_flight_committed = 0;
    for round in 0..ROUNDS {
        let acked = run_and_kill(&path, next, round % 2 == 1, &mut rng);
        assert!(
            acked.windows(2).all(|w| w[1] == w[0] + 1),
            "acks in order: {acked:?}"
        );
        assert_eq!(
            acked[0], next,
            "round {round}: the first batch is acknowledged"
        );
        let last = *acked.last().expect("at least one ack");
        acknowledged.extend(acked.iter().copied());

        let store = Store::open(&path, config(false)).expect("the store reopens after SIGKILL");
        let stats = store.check().expect("every chunk decodes");
        assert_eq!(stats.series, SERIES + 1, "the series and the bulk series");
        for &batch in &acknowledged {
            assert_eq!(
                batch_state(&store, batch),
                Some(true),
                "round {round}: acknowledged batch {batch} is complete"
            );
            let state = store
                .get_state(&format!("batch/{batch:08}"))
                .expect("readable");
            assert_eq!(state, Some(format!("{{\"batch\":{batch}}}").into_bytes()));
        }
        // The batch in flight at the kill may have been committed, but never in part.
        match batch_state(&store, last + 1) {
            Some(true) => in_flight_committed += 1,
            Some(false) => {}
            None => panic!("round {round}: batch {} is partly stored", last + 1),
        }
        assert_eq!(batch_state(&store, last + 2), Some(false), "nothing beyond");
        eprintln!(
            "round {round}: {} batches acknowledged so far, {} base buckets, killed after batch {last}",
            acknowledged.len(),
            stats.buckets[0]
        );
        drop(store);
        next = last + 2;
    }
    eprintln!("{in_flight_committed} of {ROUNDS} kills came after a commit but before its ack");

    // Writing continues, and a clean close keeps all of it.
    let store = Store::open(&path, config(false)).expect("reopens");
    let extra: Vec<Sample> = samples(next, 0);
    assert_eq!(
        store.append(&series_name(0), &extra).expect("appended"),
        extra.len()
    );
    store.rollup().expect("rolled up");
    store.close().expect("closes cleanly");
    let store = Store::open(&path, config(false)).expect("reopens");
    for &batch in &acknowledged {
        assert_eq!(batch_state(&store, batch), Some(true));
    }
    let from = minute(next as i64 * MINUTES);
    let got = store
        .range(
            &series_name(0),
            from,
            from + chrono::Duration::minutes(MINUTES),
        )
        .expect("readable");
    assert_eq!(got, extra);
    let stats = store.check().expect("every chunk decodes");
    assert_eq!(stats.pending_rollup, 0);
    assert!(stats.buckets[1] > 0, "the 5-minute tier was rolled up");
}
