//! Fit + forecast speed of every model.
//!
//! `cargo bench -p prescale-forecast --bench fit`
//!
//! The target: the `prescale` model fits 28 days of 1-minute data (40,320 points) and
//! forecasts 30 minutes with P50/P90 in under 50 ms on one core. The other models are timed
//! on the 14-day window the evaluation protocol uses.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_forecast::model::{FitInput, predict};
use prescale_forecast::models::ModelKind;

fn bench_fit(c: &mut Criterion) {
    let month = generate(&SyntheticSpec {
        days: 28.0,
        ..SyntheticSpec::default()
    });
    assert_eq!(month.len(), 40_320);
    let fortnight = month.slice(month.len() - 14 * 1440..month.len());
    let mut group = c.benchmark_group("fit_predict_30m");
    group.sample_size(20);
    for (kind, series, label) in [
        (ModelKind::Prescale, &month, "28d_1min"),
        (ModelKind::Prescale, &fortnight, "14d_1min"),
        (ModelKind::Ets, &fortnight, "14d_1min"),
        (ModelKind::Mstl, &fortnight, "14d_1min"),
        (ModelKind::CraneDsp, &fortnight, "14d_1min"),
        (ModelKind::SeasonalNaiveDaily, &fortnight, "14d_1min"),
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

criterion_group!(benches, bench_fit);
criterion_main!(benches);
