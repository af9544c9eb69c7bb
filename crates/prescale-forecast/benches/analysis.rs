//! Speed of the analysis pipeline on the NASA trace (`../shared/traces`, 39,692 1-minute
//! points, about four weeks): period detection, anomaly detection with each season, and
//! the whole [`analyse`] pipeline `prescale forecast` and the server run.
//!
//! `cargo bench -p prescale-forecast --bench analysis`
//!
//! The targets (release build, one core):
//!
//! - `detect_periods`: about 14 ms for a month of 1-minute data (the seasonality module
//!   documentation), [`PERIODS_TARGET_MS`].
//! - `detect_anomalies`: linear in the length with a season, `O(n * window)` without (the
//!   anomaly module documentation); no absolute figure was set: timed without a season and
//!   with the daily (1,440) and weekly (10,080) seasons.
//!
//! Without `../shared` the bench prints a skip note, or fails when `CI` is set.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prescale_core::Series;
use prescale_core::input::{ParseOptions, parse_csv};
use prescale_forecast::analysis::{AnalysisOptions, analyse};
use prescale_forecast::anomaly::{AnomalyOptions, detect_anomalies};
use prescale_forecast::seasonality::{SeasonalityOptions, detect_periods};

/// The trace the timings are taken on.
const TRACE: &str = "web_nasa_http_1995-07_1min.csv";
/// `detect_periods` on a month of 1-minute data, in milliseconds (stated, not enforced).
const PERIODS_TARGET_MS: f64 = 14.0;

/// The NASA trace; `None` (after a skip note, or a panic under `CI`) when it is absent.
fn nasa() -> Option<Series> {
    let path = prescale_testkit::shared_trace(TRACE)?;
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(parse_csv(file, TRACE, &ParseOptions::default()).expect("a valid shared trace"))
}

fn bench_analysis(c: &mut Criterion) {
    let Some(series) = nasa() else {
        return;
    };
    let (values, step) = (series.values(), series.step_secs());
    let points = values.len();
    println!(
        "target: detect_periods on a month of 1-minute data in about {PERIODS_TARGET_MS} ms \
         (here {points} points); detect_anomalies linear in the length with a season"
    );
    let mut group = c.benchmark_group("analysis_nasa_1min");
    group.sample_size(20);
    group.bench_function("detect_periods", |b| {
        b.iter(|| detect_periods(black_box(values), step, &SeasonalityOptions::default()))
    });
    for (season, label) in [
        (None, "none"),
        (Some(1440), "daily"),
        (Some(10_080), "weekly"),
    ] {
        group.bench_function(format!("detect_anomalies/season_{label}"), |b| {
            b.iter(|| detect_anomalies(black_box(values), season, &AnomalyOptions::default()))
        });
    }
    group.bench_function("analyse", |b| {
        b.iter(|| analyse(black_box(values), step, &AnalysisOptions::default()))
    });
    group.finish();
}

criterion_group!(benches, bench_analysis);
criterion_main!(benches);
