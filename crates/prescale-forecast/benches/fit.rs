//! Fit + forecast speed of every model.
//!
//! `cargo bench -p prescale-forecast --bench fit`
//!
//! The target: the `prescale` model fits 28 days of 1-minute data (40,320 points) and
//! forecasts 30 minutes with P50/P90 in under 50 ms on one core. The other models are timed
//! on the 14-day window the evaluation protocol uses.
//!
//! `crane_dsp_fit` times the fit alone of Crane's DSP predictor on a noisy daily sine of 14
//! days of 1-minute data (20,160 points: the week- and day-truncated signals coincide, one
//! period analysis) and of 15 days (21,600 points: two analyses). No target was set for it;
//! its fit + forecast on 14 days took 13.9 ms in `docs/benchmarks.md`.

use std::f64::consts::TAU;
use std::hint::black_box;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_forecast::model::{FitInput, predict};
use prescale_forecast::models::ModelKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The `prescale` model's fit + 30-minute P50/P90 forecast on 28 days, in milliseconds.
const PRESCALE_TARGET_MS: f64 = 50.0;

fn bench_fit(c: &mut Criterion) {
    let month = generate(&SyntheticSpec {
        days: 28.0,
        ..SyntheticSpec::default()
    });
    assert_eq!(month.len(), 40_320);
    let fortnight = month.slice(month.len() - 14 * 1440..month.len());
    println!(
        "target: prescale fit + forecast on 28 days of 1-minute data under {PRESCALE_TARGET_MS} ms"
    );
    let mut group = c.benchmark_group("fit_predict_30m");
    group.sample_size(20);
    for (kind, series, label) in [
        (ModelKind::Prescale, &month, "28d_1min"),
        (ModelKind::Prescale, &fortnight, "14d_1min"),
        (ModelKind::Ets, &fortnight, "14d_1min"),
        (ModelKind::Mstl, &fortnight, "14d_1min"),
        (ModelKind::CraneDsp, &fortnight, "14d_1min"),
        (ModelKind::SeasonalNaiveDaily, &fortnight, "14d_1min"),
        (ModelKind::Theta, &fortnight, "14d_1min"),
        (ModelKind::Naive, &fortnight, "14d_1min"),
    ] {
        let model = kind.build();
        group.bench_function(format!("{}/{label}", kind.name()), |b| {
            b.iter(|| {
                let input = FitInput::from_series(series, 30);
                let fitted = model.fit(black_box(&input)).expect("fit");
                predict(fitted.as_ref(), series.end(), 60, 30, &[0.5, 0.9]).expect("predict")
            })
        });
    }
    group.finish();
}

/// `days` of 1-minute values: a daily sine around 100 (amplitude 50) plus Gaussian noise of
/// standard deviation 3 (Box–Muller, seeded).
fn noisy_daily_sine(days: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(8);
    let mut gauss = || {
        let u: f64 = rng.random::<f64>().max(1e-12);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    };
    (0..days * 1440)
        .map(|t| 100.0 + 50.0 * (TAU * (t % 1440) as f64 / 1440.0).sin() + 3.0 * gauss())
        .collect()
}

fn bench_crane_fit(c: &mut Criterion) {
    println!(
        "crane_dsp fit: no target set (fit + forecast on 14 days: 13.9 ms in docs/benchmarks.md)"
    );
    let model = ModelKind::CraneDsp.build();
    let mut group = c.benchmark_group("crane_dsp_fit");
    group.sample_size(20);
    for days in [14, 15] {
        let values = noisy_daily_sine(days);
        let input = FitInput {
            values: &values,
            start: DateTime::from_timestamp(1_700_006_400, 0).expect("a valid start"),
            step_secs: 60,
            horizon: 60,
        };
        group.bench_function(format!("{days}d_1min"), |b| {
            b.iter(|| model.fit(black_box(&input)).expect("fit"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fit, bench_crane_fit);
criterion_main!(benches);
