//! Tests of the `prescale` model.

use super::*;
use crate::conformal::MIN_PER_STEP;
use crate::model::predict;
use chrono::DateTime;
use prescale_core::synth::{SyntheticSpec, generate};

#[test]
fn calibration_residuals_do_not_grow_with_the_horizon() {
    let window: usize = 3 * 1440;
    let kept = |h: usize| window.div_ceil(origin_stride(h)) * h;
    // Every origin up to 64 steps (the 30- and 60-minute horizons are unchanged) ...
    assert_eq!(kept(30), window * 30);
    assert_eq!(kept(CALIBRATION_STEPS), window * CALIBRATION_STEPS);
    // ... then a bound whatever the horizon, with enough residuals for every step.
    for h in [65, 128, 360, 1000, 4320] {
        assert!(
            kept(h) <= 2 * window * CALIBRATION_STEPS,
            "{h}: {}",
            kept(h)
        );
        assert!(window / origin_stride(h) >= MIN_PER_STEP, "{h}");
    }
}

#[test]
fn cold_series_falls_back_to_a_level() {
    let y = vec![10.0, 12.0, 11.0];
    let input = FitInput {
        values: &y,
        start: DateTime::from_timestamp(0, 0).unwrap(),
        step_secs: 60,
        horizon: 5,
    };
    let f = Prescale::default().fit(&input).unwrap();
    assert!(f.describe().contains("cold"));
    let p = f.predict_point(5);
    assert!(p.iter().all(|v| (9.0..13.0).contains(v)), "{p:?}");
    let fc = predict(f.as_ref(), input.timestamp(3), 60, 5, &[0.5, 0.9]).unwrap();
    assert!(fc.quantile(0.9).unwrap()[0] > fc.point[0]);
}

#[test]
fn follows_a_seasonal_ramp_and_is_calibrated_in_sample() {
    let series = generate(&SyntheticSpec {
        days: 10.0,
        spikes_per_day: 0.0,
        ..Default::default()
    });
    let n = series.len();
    let h = 30;
    // Fit up to 08:30 of the last day, before the morning ramp.
    let cut = n - 1440 + 8 * 60 + 30;
    let train = series.slice(0..cut);
    let input = FitInput::from_series(&train, h);
    let f = Prescale::default().fit(&input).unwrap();
    let fc = predict(f.as_ref(), train.end(), 60, h, &[0.5, 0.9]).unwrap();
    let actual = &series.values()[cut..cut + h];
    let wape: f64 = actual
        .iter()
        .zip(&fc.point)
        .map(|(a, p)| (a - p).abs())
        .sum::<f64>()
        / actual.iter().sum::<f64>();
    assert!(wape < 0.15, "wape {wape}, model {}", f.describe());
    // The forecast rises with the ramp.
    assert!(fc.point[h - 1] > fc.point[0] * 1.1, "{:?}", fc.point);
    let p90 = fc.quantile(0.9).unwrap();
    let covered = actual.iter().zip(p90).filter(|(a, q)| a <= q).count();
    assert!(covered >= 20, "P90 covered {covered}/30");
}

#[test]
fn updates_follow_new_data_like_a_refit() {
    let series = generate(&SyntheticSpec {
        days: 9.0,
        spikes_per_day: 0.0,
        ..Default::default()
    });
    let n = series.len();
    let cut = n - 60;
    let train = series.slice(0..cut);
    let mut f = Prescale::default()
        .fit(&FitInput::from_series(&train, 30))
        .unwrap();
    assert!(f.update(&series.values()[cut..]));
    let updated = f.predict_point(30);
    let refit = Prescale::default()
        .fit(&FitInput::from_series(&series, 30))
        .unwrap()
        .predict_point(30);
    let gap: f64 = updated
        .iter()
        .zip(&refit)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / refit.iter().sum::<f64>();
    assert!(gap < 0.1, "updated {updated:?} refit {refit:?}");
    // A huge outlier is clipped, not swallowed into the level.
    let before = f.predict_point(1)[0];
    assert!(f.update(&[1e9]));
    assert!(f.predict_point(1)[0] < 3.0 * before);
    assert!(!f.update(&[f64::NAN]));
    // A busy series reading 0 (a collection gap) is not believed at once.
    let before = f.predict_point(1)[0];
    assert!(f.update(&[0.0, 0.0]));
    assert!(f.predict_point(1)[0] > 0.3 * before, "{before}");
}

#[test]
fn a_drop_out_is_held_for_an_hour_then_followed() {
    let series = generate(&SyntheticSpec {
        days: 4.0,
        spikes_per_day: 0.0,
        ..Default::default()
    });
    let fit = || {
        Prescale::default()
            .fit(&FitInput::from_series(&series, 30))
            .unwrap()
    };
    // What the model forecasts after `steps` more steps that went as it forecast.
    let expected = |steps: usize| {
        let mut f = fit();
        let path = f.predict_point(steps);
        assert!(f.update(&path));
        f.predict_point(1)[0]
    };
    // Forty minutes of zeros (a collection gap, an upstream outage): the level holds, so
    // the demand that comes back finds its replicas.
    let mut f = fit();
    assert!(f.update(&[0.0; 40]));
    let (held, want) = (f.predict_point(1)[0], expected(40));
    assert!(held > 0.9 * want, "{held} vs {want}");
    // Demand back: the run is over, and the next gap gets the full hour again.
    let back = f.predict_point(5);
    assert!(f.update(&back));
    assert!(f.update(&[0.0; 50]));
    let (again, want) = (f.predict_point(1)[0], expected(95));
    assert!(again > 0.9 * want, "{again} vs {want}");
    // Past the hour, a lasting drop is a level shift: the forecast follows it.
    let mut g = fit();
    assert!(g.update(&[0.0; 61 + 10]));
    let (shifted, want) = (g.predict_point(1)[0], expected(71));
    assert!(shifted < 0.05 * want, "{shifted} vs {want}");
}

#[test]
fn a_spike_does_not_become_the_forecast() {
    let mut series = generate(&SyntheticSpec {
        days: 4.0,
        spikes_per_day: 0.0,
        ..Default::default()
    })
    .values()
    .to_vec();
    let n = series.len();
    // A 10x spike 3 hours before the end must not lift the level.
    for v in &mut series[n - 180..n - 175] {
        *v *= 10.0;
    }
    let input = FitInput {
        values: &series,
        start: DateTime::from_timestamp(1_704_067_200, 0).unwrap(),
        step_secs: 60,
        horizon: 30,
    };
    let f = Prescale::default().fit(&input).unwrap();
    let p = f.predict_point(30);
    let recent = series[n - 30..].iter().sum::<f64>() / 30.0;
    assert!(
        p[0] < 1.5 * recent,
        "{} vs recent {recent}: {}",
        p[0],
        f.describe()
    );
}

/// `days` of 5-minute values from `f(i)` plus seeded uniform noise of ±`noise`.
fn five_minute(days: usize, noise: f64, mut f: impl FnMut(usize) -> f64) -> Vec<f64> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..days * 288)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            (f(i) + noise * (2.0 * u - 1.0)).max(0.0)
        })
        .collect()
}

fn fit_five(y: &[f64], horizon: usize) -> Box<dyn Fitted> {
    Prescale::default()
        .fit(&FitInput {
            values: y,
            start: DateTime::from_timestamp(1_704_067_200, 0).unwrap(),
            step_secs: 300,
            horizon,
        })
        .unwrap()
}

#[test]
fn a_level_model_is_chosen_when_the_season_does_not_pay() {
    // A random walk around 100 with no daily cycle: the daily profiles only replay noise, so
    // a flat candidate (last value or a smoothed level) forecasts best.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut level = 100.0;
    let walk: Vec<f64> = (0..9 * 288)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            level = f64::max(level + 4.0 * (u - 0.5), 1.0);
            level
        })
        .collect();
    let f = fit_five(&walk, 6);
    let d = f.describe();
    assert!(
        d.starts_with("level ") || d.starts_with("mean of [level "),
        "{d}"
    );
    assert!(!d.contains("daily") && !d.contains("weekday"), "{d}");
    // With a strong daily cycle the profile pays and is chosen.
    let daily = five_minute(9, 2.0, |i| {
        100.0 + 80.0 * (std::f64::consts::TAU * (i % 288) as f64 / 288.0).sin()
    });
    let d = fit_five(&daily, 6).describe();
    assert!(d.contains("daily") || d.contains("weekday"), "{d}");
}

#[test]
fn a_burst_that_persists_is_followed_at_short_horizons() {
    // Flat demand with bursts of 20 steps at ten times the level: the first steps of a burst
    // are anomalies to the cleaning, but a burst in progress goes on.
    let y = five_minute(9, 3.0, |i| if i % 300 < 280 { 50.0 } else { 500.0 });
    let n = y.len();
    // Cut two steps into a burst.
    let start = (n - 300..n).find(|i| i % 300 == 280).unwrap();
    let f = fit_five(&y[..start + 2], 1);
    let p = f.predict_point(1)[0];
    assert!(p > 250.0, "{p}: {}", f.describe());
}

#[test]
fn drop_outs_are_not_followed() {
    // A busy series that reads 0 for two steps now and then (collection gaps): the forecast
    // after a zero stays at the level.
    let y = five_minute(9, 3.0, |i| if i % 97 < 2 { 0.0 } else { 200.0 });
    let cut = (y.len() - 200..y.len()).find(|i| i % 97 == 1).unwrap();
    let f = fit_five(&y[..cut], 1);
    let p = f.predict_point(1)[0];
    assert!(p > 150.0, "{p} {}", f.describe());
}

#[test]
fn a_lasting_level_shift_is_followed_within_an_hour() {
    let series = generate(&SyntheticSpec {
        days: 4.0,
        spikes_per_day: 0.0,
        ..Default::default()
    });
    let fit = || {
        Prescale::default()
            .fit(&FitInput::from_series(&series, 30))
            .unwrap()
    };
    // Up: followed within the hour. Down to half: far enough below the forecast to be a
    // drop-out (a collection gap reads low too), so it is held as missing for the hour the
    // refit's anomaly detection needs, then the level restarts from the run's mean.
    for (factor, steps) in [(2.0, 60), (0.5, 61)] {
        // Demand at `factor` times what the model expected (a new customer, a lost one),
        // step by step as the server feeds it between refits.
        let mut f = fit();
        let expected = fit().predict_point(steps + 1);
        for &e in &expected[..steps] {
            assert!(f.update(&[factor * e]));
        }
        let (got, want) = (f.predict_point(1)[0], factor * expected[steps]);
        assert!(
            (got - want).abs() < 0.25 * want,
            "×{factor}: forecast {got} after {steps} steps, shifted level {want}: {}",
            f.describe()
        );
    }
}

#[test]
fn errors_within_a_millionth_are_ties_and_ties_keep_the_earlier() {
    use super::select::beats;
    // The same error in another unit, and a history rounded to single precision.
    let e = 1234.5678_f64;
    assert!(!beats(e * (1.0 - 1e-8), e));
    assert!(!beats(e, e * (1.0 - 1e-8)));
    assert!(!beats(f64::from(e as f32), e) && !beats(e, f64::from(e as f32)));
    // A real difference still counts, and zero errors tie.
    assert!(beats(e * 0.999, e));
    assert!(!beats(0.0, 0.0));
    assert!(beats(-1.0, 0.0) && !beats(0.0, -1.0));
}
