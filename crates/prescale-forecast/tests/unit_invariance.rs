//! No unit is assumed: the same series multiplied by any `c > 0` gets the same forecast, the
//! same quantiles and the same updates multiplied by `c` from the `prescale` model.

use chrono::DateTime;
use prescale_forecast::model::{FitInput, Fitted, Model, predict};
use prescale_forecast::models::prescale::Prescale;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `days` of 5-minute values around `level`: a daily shape, a weekly dip, multiplicative noise
/// and a few spikes and drop-outs; never whole numbers (so never taken for counts).
fn series(seed: u64, days: usize, level: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let spd = 288;
    (0..days * spd)
        .map(|i| {
            let phase = (i % spd) as f64 / spd as f64;
            let shape = 1.0 + 0.6 * (std::f64::consts::TAU * (phase - 0.3)).sin();
            let week = if (i / spd) % 7 >= 5 { 0.7 } else { 1.0 };
            let noise = 1.0 + 0.1 * (rng.random::<f64>() - 0.5);
            let event = match rng.random_range(0..400) {
                0 => 4.0,
                1 => 0.0,
                _ => 1.0,
            };
            level * shape * week * noise * event + level * 1e-3 * rng.random::<f64>()
        })
        .map(|v: f64| if v.fract() == 0.0 { v + 0.25 } else { v })
        .collect()
}

fn fit(values: &[f64], horizon: usize) -> Box<dyn Fitted> {
    let input = FitInput {
        values,
        start: DateTime::from_timestamp(1_704_067_200, 0).unwrap(),
        step_secs: 300,
        horizon,
    };
    Prescale::default().fit(&input).expect("fit")
}

/// Every value of `scaled` is `c` times the value of `base`, within a relative tolerance (and
/// an absolute one of a millionth of the series' level, for values near zero).
fn assert_scaled(base: &[f64], scaled: &[f64], c: f64, level: f64, what: &str) {
    assert_eq!(base.len(), scaled.len(), "{what}");
    for (k, (&b, &s)) in base.iter().zip(scaled).enumerate() {
        let tol = 1e-7 * c * (b.abs() + 1e-6 * level);
        assert!(
            (s - c * b).abs() <= tol,
            "{what}[{k}]: {s} vs {c} × {b} = {}",
            c * b
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn scaling_the_series_scales_the_forecast(
        seed in any::<u64>(),
        days in 1usize..9,
        level_exp in -3.0f64..6.0,
        c_exp in -4.0f64..4.0,
        horizon in 1usize..40,
    ) {
        let level = 10f64.powf(level_exp);
        let c = 10f64.powf(c_exp);
        let y = series(seed, days, level);
        let (train, new) = y.split_at(y.len() - 5);
        let scaled: Vec<f64> = train.iter().map(|v| v * c).collect();
        let mut a = fit(train, horizon);
        let mut b = fit(&scaled, horizon);
        prop_assert_eq!(a.describe(), b.describe());
        let levels = [0.1, 0.5, 0.9, 0.99];
        let start = DateTime::from_timestamp(0, 0).unwrap();
        let fa = predict(a.as_ref(), start, 300, horizon, &levels).unwrap();
        let fb = predict(b.as_ref(), start, 300, horizon, &levels).unwrap();
        assert_scaled(&fa.point, &fb.point, c, level, "point");
        for (qa, qb) in fa.quantiles.iter().zip(&fb.quantiles) {
            assert_scaled(&qa.values, &qb.values, c, level, &format!("P{}", qa.level * 100.0));
        }
        // Updates between refits keep the invariance.
        let new_scaled: Vec<f64> = new.iter().map(|v| v * c).collect();
        prop_assert!(a.update(new));
        prop_assert!(b.update(&new_scaled));
        assert_scaled(&a.predict_point(horizon), &b.predict_point(horizon), c, level, "updated");
    }
}

#[test]
fn whole_numbers_are_counts_and_get_the_count_floors() {
    // Three requests per step, give or take one: counts, whose cold band is Poisson.
    let counts: Vec<f64> = (0..12).map(|i| f64::from(2 + i % 3)).collect();
    let cold = fit(&counts, 30);
    assert!(cold.describe().contains("Poisson"), "{}", cold.describe());
    // The same per second (divided by 60) is a rate: its band comes from its own dispersion,
    // and scales with it.
    let rates: Vec<f64> = counts.iter().map(|v| v / 60.0).collect();
    let cold = fit(&rates, 30);
    assert!(
        cold.describe().contains("dispersion"),
        "{}",
        cold.describe()
    );
    let start = DateTime::from_timestamp(0, 0).unwrap();
    let per_second = predict(cold.as_ref(), start, 300, 30, &[0.9]).unwrap();
    let per_minute = predict(
        fit(
            &counts.iter().map(|v| v / 60.0 * 1e3).collect::<Vec<_>>(),
            30,
        )
        .as_ref(),
        start,
        300,
        30,
        &[0.9],
    )
    .unwrap();
    assert_scaled(
        &per_second.quantiles[0].values,
        &per_minute.quantiles[0].values,
        1e3,
        1.0,
        "cold P90",
    );
}
