//! History store speed: batched ingest and the 28-day read of one series.
//!
//! `cargo bench -p prescale-store --bench store`
//!
//! Targets: ingest at least 200,000 samples/s in batches a collector or a backfill writes
//! (one transaction, one `fsync`, per batch), and read 28 days of one 1-minute series (40,320
//! points) in under 5 ms. The store file lives under the target directory (a real disk, not
//! tmpfs), so `fsync` costs what it costs there.
//!
//! Run as a test (`cargo test --benches`), criterion runs each benchmark once, on a smaller
//! prefilled store.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prescale_store::{Aggregation, Sample, Store, StoreConfig};

/// Points of 28 days at 1-minute resolution.
const MONTH_POINTS: i64 = 28 * 1440;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
}

/// Whether criterion measures (`cargo bench`) rather than runs once (`cargo test --benches`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A fresh directory for store files, on the target directory's disk.
fn bench_dir() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&root).expect("the target tmp directory");
    tempfile::tempdir_in(root).expect("a temporary directory")
}

/// A gauge-like value that varies per series and minute.
fn value(series: usize, minute: i64) -> f64 {
    ((series as i64 * 7919 + minute * 31) % 1000) as f64 * 0.25
}

/// `append_batch`'s input: each name with its samples.
fn pairs<'a>(names: &'a [String], data: &'a [Vec<Sample>]) -> Vec<(&'a str, &'a [Sample])> {
    names
        .iter()
        .zip(data)
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect()
}

/// `series` series × `per_series` samples every `step_secs`, starting at minute `first`.
fn batch(series: usize, per_series: usize, step_secs: i64, first: i64) -> Vec<Vec<Sample>> {
    (0..series)
        .map(|s| {
            (0..per_series as i64)
                .map(|i| {
                    let at = first * 60 + i * step_secs;
                    let ts = start() + chrono::Duration::seconds(at);
                    (ts, value(s, at / 60))
                })
                .collect()
        })
        .collect()
}

fn bench_ingest(c: &mut Criterion) {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("rabbitmq/queue-{i:04}"))
        .collect();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if measuring() { 10 } else { 1 }));
    // (label, series, samples per series per batch, seconds between samples)
    let shapes: [(&str, usize, usize, i64); 4] = [
        ("scrape_1000x1", 1000, 1, 60),
        ("flush_1000x4_15s", 1000, 4, 15),
        ("backfill_1000x60", 1000, 60, 60),
        ("backfill_100x1440", 100, 1440, 60),
    ];
    for (label, series, per_series, step) in shapes {
        group.throughput(Throughput::Elements((series * per_series) as u64));
        group.bench_function(BenchmarkId::new("append_batch", label), |b| {
            let dir = bench_dir();
            let store = Store::open(&dir.path().join("ingest.redb"), StoreConfig::default())
                .expect("a new store");
            let minutes_per_batch = (per_series as i64 * step + 59) / 60;
            let mut next = 0i64;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let data = batch(series, per_series, step, next);
                    next += minutes_per_batch;
                    let refs = pairs(&names[..series], &data);
                    let started = Instant::now();
                    let n = store.append_batch(black_box(&refs)).expect("stored");
                    total += started.elapsed();
                    assert_eq!(n, series * per_series);
                }
                total
            });
        });
    }
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let dir = bench_dir();
    let store =
        Store::open(&dir.path().join("read.redb"), StoreConfig::default()).expect("a new store");
    // The series read, among others written in the same batches (so their chunks interleave
    // in the file as a collector's would).
    let others = if measuring() { 99 } else { 4 };
    let names: Vec<String> = (0..=others).map(|i| format!("series-{i:03}")).collect();
    let mut minute = 0;
    while minute < MONTH_POINTS {
        let data = batch(names.len(), 1440, 60, minute);
        let refs = pairs(&names, &data);
        store.append_batch(&refs).expect("stored");
        minute += 1440;
    }
    store.rollup().expect("rolled up");
    if measuring() {
        let bytes = std::fs::metadata(store.path()).map_or(0, |m| m.len());
        eprintln!(
            "read store: {} series x 28 days of 1-minute samples ({} samples) + 5-minute tier: \
             file {:.1} MB ({:.1} bytes per sample)",
            names.len(),
            names.len() as i64 * MONTH_POINTS,
            bytes as f64 / 1e6,
            bytes as f64 / (names.len() as i64 * MONTH_POINTS) as f64
        );
    }
    let (from, to) = (start(), start() + chrono::Duration::minutes(MONTH_POINTS));
    assert_eq!(
        store.range("series-000", from, to).expect("readable").len(),
        MONTH_POINTS as usize
    );

    let mut group = c.benchmark_group("read_28d_1min");
    group.throughput(Throughput::Elements(MONTH_POINTS as u64));
    group.bench_function("range_mean", |b| {
        b.iter(|| {
            store
                .range(black_box("series-000"), from, to)
                .expect("readable")
        })
    });
    group.bench_function("range_max", |b| {
        b.iter(|| {
            store
                .range_with(black_box("series-000"), 0, from, to, Aggregation::Max)
                .expect("readable")
        })
    });
    group.bench_function("buckets", |b| {
        b.iter(|| {
            store
                .buckets(black_box("series-000"), 0, from, to)
                .expect("readable")
        })
    });
    group.throughput(Throughput::Elements(MONTH_POINTS as u64 / 5));
    group.bench_function("range_mean_tier_5min", |b| {
        b.iter(|| {
            store
                .range_with(black_box("series-000"), 1, from, to, Aggregation::Mean)
                .expect("readable")
        })
    });
    group.finish();
    let mut group = c.benchmark_group("read_latest");
    group.bench_function("latest", |b| {
        b.iter(|| store.latest(black_box("series-000")).expect("readable"))
    });
    group.finish();

    // The first read after a restart: the store is reopened (untimed) before each read, so
    // redb's page cache is empty (the operating system's file cache is not).
    let path = store.path().to_path_buf();
    let mut store = Some(store);
    let mut group = c.benchmark_group("read_28d_1min");
    group.throughput(Throughput::Elements(MONTH_POINTS as u64));
    group.sample_size(20);
    group.bench_function("range_mean_after_reopen", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                drop(store.take());
                let reopened = Store::open(&path, StoreConfig::default()).expect("reopens");
                let started = Instant::now();
                let got = reopened
                    .range(black_box("series-000"), from, to)
                    .expect("readable");
                total += started.elapsed();
                assert_eq!(got.len(), MONTH_POINTS as usize);
                store = Some(reopened);
            }
            total
        })
    });
    group.finish();
}

/// Hourly maintenance of 1,000 series: each iteration appends one hour of 1-minute samples
/// (untimed), then `enforce_retention` rolls the hour up into the 5-minute tier and removes
/// the hour that fell out of a 2-hour retention.
fn bench_maintenance(c: &mut Criterion) {
    let names: Vec<String> = (0..1000).map(|i| format!("redis/list-{i:04}")).collect();
    let config = StoreConfig {
        retention: Duration::from_secs(2 * 3600),
        tiers: vec![prescale_store::Tier {
            resolution: Duration::from_secs(300),
            retention: Duration::from_secs(2 * 3600),
        }],
        ..StoreConfig::default()
    };
    let mut group = c.benchmark_group("maintenance");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if measuring() { 10 } else { 1 }));
    group.bench_function("enforce_retention_1000_series_1h", |b| {
        let dir = bench_dir();
        let store =
            Store::open(&dir.path().join("maintenance.redb"), config.clone()).expect("a new store");
        let mut hour = 0i64;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let data = batch(names.len(), 60, 60, hour * 60);
                let refs = pairs(&names, &data);
                store.append_batch(&refs).expect("stored");
                hour += 1;
                let now = start() + chrono::Duration::hours(hour);
                let started = Instant::now();
                let removed = store.enforce_retention(black_box(now)).expect("enforced");
                total += started.elapsed();
                // From the third hour on, one hour of base buckets goes each hour (and a 5-hour
                // chunk of the tier every fifth hour).
                if hour > 2 {
                    assert!(removed >= names.len() * 60, "{removed} buckets removed");
                }
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest, bench_read, bench_maintenance);
criterion_main!(benches);
