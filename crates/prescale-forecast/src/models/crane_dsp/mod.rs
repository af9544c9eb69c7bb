//! Crane EHPA's DSP predictor (`gocrane/crane`, `pkg/prediction/dsp`), re-implemented for
//! side-by-side comparison with our own forecaster.
//!
//! 1. **Preprocess.** Keep the last [`CraneConfig::history_length_secs`] (15 days by default);
//!    at least 48 h are needed ([`ForecastError::TooShort`]), at a step of at most 1 h
//!    ([`ForecastError::InvalidArgument`]). Samples outside the empirical `[P0.1, P99.9]` band
//!    are replaced by the previous (cleaned) sample. Crane's `deTrend()` is a no-op, and so it
//!    is here: no trend is removed. Crane's gap handling does not apply ([`FitInput`] is
//!    regular and gap-filled).
//! 2. **Period.** Only 1 week (first, when 2 whole weeks remain after truncation) and 1 day are
//!    tried, each on the signal truncated to its latest whole periods and standardized. The
//!    99th smallest of the maximum spectral magnitudes of 100 random permutations is the noise
//!    threshold; every bin `k >= 2` above it proposes the period `N / k`, kept if the circular
//!    `ACF = IFFT(|FFT(z)|²) / N` has a peak there (least-squares slope `> 0` over
//!    `[lag − w, lag]`, `< 0` over `[lag, lag + w]`, `w = min(4 h, lag / 2)`). The highest ACF
//!    wins; unless it is exactly a day or a week, the fit fails with
//!    [`ForecastError::NoForecast`].
//! 3. **Estimators** ([`Estimator`]): `fft` (low-pass reconstruction of the whole truncated
//!    history, last period, values `<= 0` replaced by 0.01, times `1 + margin`) and `maxValue`
//!    (per-phase maximum times `1 + margin`); Crane's 8 built-in `fft` variants by default.
//! 4. **Selection.** One-fold backtest: each estimator is fitted on all but the last period and
//!    scored on it with [`asymmetric_mape`]; the best is refitted on the whole history.
//! 5. **Output.** Forecast step `j` is `period_values[j mod P]`, `period_values[0]` being the
//!    phase right after the history.
//!
//! Departures from the Go code:
//! - *Exact match on discrete bins.* Crane compares the winning period with the day and week
//!   durations. Here bin `k` stands for `N / k` steps (its ACF read at the nearest whole lag)
//!   and equals the period `P` only when `k * P == N`, i.e. `k` counts the whole periods of the
//!   truncated signal. As `P >= 24` steps, no other bin even rounds to `P`: no tolerance.
//! - *Centering.* The signal is standardized before the permutation test, which zeroes the
//!   permutation-invariant DC bin that would otherwise dominate every maximum.
//! - *Half spectrum.* A real FFT gives bins `0..=N/2`; in the `fft` estimator's item counts
//!   every bin but DC and Nyquist counts twice, as with its conjugate in Crane's full complex
//!   spectrum, so ranks and thresholds are the same.
//! - *First sample.* Outlier replacement has no previous sample at index 0: it is clamped.
//! - *Shared work.* When the week- and day-truncated signals coincide, the period analysis runs
//!   once, and `fft` variants that differ only in margin share one reconstruction.
//! - *Calibration.* Crane has no quantiles: the winner's backtest residuals on the last period
//!   fill a pooled [`Calibration`], as the forecast does not depend on the horizon step.

mod estimators;
mod fft;
mod period;

use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};
use crate::noise::{Noise, NoiseModel};

pub use estimators::{Estimator, FftParams, asymmetric_mape};

use estimators::{FLOOR, MAPE_MIN_ACTUAL, estimate_all, select};
use fft::Fft;
use period::{Period, clip_outliers, detect_period};

const NAME: &str = "crane_dsp";
const DAY_SECS: i64 = 86_400;
const MIN_HISTORY_SECS: i64 = 2 * DAY_SECS;
const MAX_STEP_SECS: i64 = 3_600;

/// Default seed of the permutation test (`"crane"` in ASCII).
pub const DEFAULT_SEED: u64 = 0x63_72_61_6e_65;

/// Configuration of [`CraneDsp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CraneConfig {
    /// `historyLength` in seconds: only the latest this much history is used (15 days; at
    /// least 48 h).
    pub history_length_secs: i64,
    /// Estimators competing in the backtest; empty means [`Estimator::crane_defaults`] (the
    /// default).
    pub estimators: Vec<Estimator>,
    /// Seed of the permutation test, for deterministic results ([`DEFAULT_SEED`]).
    pub seed: u64,
}

impl Default for CraneConfig {
    fn default() -> Self {
        Self {
            history_length_secs: 15 * DAY_SECS,
            estimators: Vec::new(),
            seed: DEFAULT_SEED,
        }
    }
}

/// Crane EHPA's DSP predictor as a [`Model`] named `crane_dsp`.
#[derive(Debug, Clone, Default)]
pub struct CraneDsp {
    config: CraneConfig,
}

impl CraneDsp {
    /// A predictor with the given configuration.
    pub fn new(config: CraneConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &CraneConfig {
        &self.config
    }
}

struct FittedCrane {
    period: Period,
    /// The estimated period; `values[0]` is the phase right after the history.
    values: Vec<f64>,
    estimator: Estimator,
    score: f64,
    metric: &'static str,
    calibration: Calibration,
}

impl Model for CraneDsp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(self.fit_inner(input)?))
    }
}

impl CraneDsp {
    fn fit_inner(&self, input: &FitInput<'_>) -> Result<FittedCrane> {
        input.validate()?;
        let step = input.step_secs;
        if step > MAX_STEP_SECS {
            return Err(invalid(format!("step {step} s is over {MAX_STEP_SECS} s")));
        }
        let spd = input
            .steps_per_day()
            .ok_or_else(|| invalid(format!("a day is not a whole number of {step} s steps")))?;
        if self.config.history_length_secs < MIN_HISTORY_SECS {
            return Err(invalid(format!(
                "history length {} s is under 48 h",
                self.config.history_length_secs
            )));
        }
        let estimators = if self.config.estimators.is_empty() {
            Estimator::crane_defaults()
        } else {
            self.config.estimators.clone()
        };
        for e in &estimators {
            e.validate()?;
        }

        let keep = usize::try_from(self.config.history_length_secs / step).unwrap_or(usize::MAX);
        let values = &input.values[input.values.len().saturating_sub(keep)..];
        let needed = 2 * spd;
        if values.len() < needed {
            return Err(ForecastError::TooShort {
                model: NAME,
                needed,
                got: values.len(),
            });
        }
        let mut x = values.to_vec();
        clip_outliers(&mut x);

        let mut fft = Fft {
            planner: RealFftPlanner::new(),
        };
        let (period, p) =
            detect_period(&x, spd, step, self.config.seed, &mut fft).ok_or_else(|| {
                ForecastError::NoForecast {
                    model: NAME,
                    reason: "not periodic: the dominant period is neither one day nor one week"
                        .into(),
                }
            })?;
        let x = &x[x.len() % p..];
        let (train, test) = x.split_at(x.len() - p);

        let backtest = estimate_all(&estimators, train, p, step, &mut fft);
        let use_mae = test.iter().any(|&a| a < MAPE_MIN_ACTUAL);
        let (winner, score) = select(test, &backtest).ok_or_else(|| ForecastError::NoForecast {
            model: NAME,
            reason: "no estimator could be scored".into(),
        })?;
        let estimator = estimators[winner];
        let noise = Noise::of(input.values, NoiseModel::Detect);
        let mut calibration = Calibration::with_noise(input.horizon, noise);
        for (&actual, &predicted) in test.iter().zip(&backtest[winner]) {
            calibration.push_pooled(actual, predicted);
        }
        let values = estimate_all(&[estimator], x, p, step, &mut fft).swap_remove(0);
        tracing::debug!(?period, %estimator, score, "crane_dsp fitted");
        Ok(FittedCrane {
            period,
            values,
            estimator,
            score,
            metric: if use_mae { "MAE" } else { "asymmetric MAPE" },
            calibration,
        })
    }
}

impl Fitted for FittedCrane {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let p = self.values.len().max(1);
        (0..horizon)
            .map(|j| self.values.get(j % p).copied().unwrap_or(FLOOR))
            .collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        let period = match self.period {
            Period::Day => "day",
            Period::Week => "week",
        };
        format!(
            "crane_dsp: period {period} ({} steps), estimator {}, backtest {} {:.4}",
            self.values.len(),
            self.estimator,
            self.metric,
            self.score
        )
    }
}

fn invalid(msg: String) -> ForecastError {
    ForecastError::InvalidArgument(format!("{NAME}: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use std::f64::consts::TAU;

    /// A standard normal sample (Box-Muller).
    fn gauss(rng: &mut StdRng) -> f64 {
        let u: f64 = rng.random::<f64>().max(1e-12);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
    }

    fn input(values: &[f64], step_secs: i64, horizon: usize) -> FitInput<'_> {
        FitInput {
            values,
            start: DateTime::from_timestamp(1_700_006_400, 0).unwrap(),
            step_secs,
            horizon,
        }
    }

    /// `days` of a daily sine at `step_secs`, plus Gaussian noise of sd `noise`.
    fn daily(days: usize, step_secs: i64, noise: f64, seed: u64) -> Vec<f64> {
        let spd = (86_400 / step_secs) as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        (0..days * spd)
            .map(|t| {
                let phase = (t % spd) as f64 / spd as f64;
                100.0 + 50.0 * (TAU * phase).sin() + noise * gauss(&mut rng)
            })
            .collect()
    }

    /// Runs the fit and returns the concrete fitted model (the code path of `Model::fit`).
    fn fit_concrete(
        model: &CraneDsp,
        values: &[f64],
        step: i64,
        horizon: usize,
    ) -> Result<FittedCrane> {
        model.fit_inner(&input(values, step, horizon))
    }

    #[test]
    fn daily_sine_is_detected_and_forecast() {
        let all = daily(8, 60, 3.0, 1);
        let (train, next_day) = all.split_at(7 * 1440);
        let f = fit_concrete(&CraneDsp::default(), train, 60, 1440).unwrap();
        assert_eq!(f.period, Period::Day);
        assert_eq!(f.values.len(), 1440);
        let pred = f.predict_point(1440);
        let abs_err: f64 = pred.iter().zip(next_day).map(|(p, a)| (p - a).abs()).sum();
        let wape = abs_err / next_day.iter().sum::<f64>();
        assert!(wape < 0.10, "WAPE {wape}");
        assert!(f.describe().contains("period day"), "{}", f.describe());
    }

    #[test]
    fn weekly_pattern_is_detected_as_week() {
        let spd = 288;
        let mut rng = StdRng::seed_from_u64(2);
        let y: Vec<f64> = (0..28 * spd)
            .map(|t| {
                let day = t / spd;
                let phase = (t % spd) as f64 / spd as f64;
                let level = if day % 7 >= 5 { 30.0 } else { 100.0 };
                level * (1.0 + 0.5 * (TAU * phase).sin()) + 2.0 * gauss(&mut rng)
            })
            .collect();
        let f = fit_concrete(&CraneDsp::default(), &y, 300, 288).unwrap();
        assert_eq!(f.period, Period::Week);
        assert_eq!(f.values.len(), 7 * spd);
        // The forecast starts on day 28, a weekday (28 % 7 == 0); day 33 is a weekend day.
        // Probe at 06:00, away from the midnight jumps the low-pass smooths.
        let p = f.predict_point(7 * spd);
        assert!((p[72] - 150.0).abs() < 10.0, "{}", p[72]);
        assert!((p[5 * spd + 72] - 45.0).abs() < 10.0, "{}", p[5 * spd + 72]);
    }

    #[test]
    fn white_noise_is_not_periodic() {
        let mut rng = StdRng::seed_from_u64(3);
        let y: Vec<f64> = (0..3 * 1440)
            .map(|_| 50.0 + 5.0 * gauss(&mut rng))
            .collect();
        let err = CraneDsp::default().fit(&input(&y, 60, 60)).err().unwrap();
        assert!(
            matches!(
                err,
                ForecastError::NoForecast {
                    model: "crane_dsp",
                    ..
                }
            ),
            "{err}"
        );
        // A constant series neither.
        let flat = vec![7.0; 3 * 1440];
        assert!(matches!(
            CraneDsp::default().fit(&input(&flat, 60, 60)),
            Err(ForecastError::NoForecast { .. })
        ));
    }

    #[test]
    fn short_or_coarse_input_is_rejected() {
        let y = daily(1, 60, 0.0, 4);
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 60, 60)),
            Err(ForecastError::TooShort {
                model: "crane_dsp",
                needed: 2880,
                got: 1440
            })
        ));
        let y = vec![1.0; 100];
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 7_200, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        assert!(matches!(
            CraneDsp::default().fit(&input(&y, 7, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        let short_history = CraneConfig {
            history_length_secs: 3_600,
            ..CraneConfig::default()
        };
        assert!(matches!(
            CraneDsp::new(short_history).fit(&input(&daily(3, 60, 0.0, 4), 60, 4)),
            Err(ForecastError::InvalidArgument(_))
        ));
        // History length limits what is used: 3 days given, 2 kept, still enough.
        let two_days = CraneConfig {
            history_length_secs: 2 * 86_400,
            ..CraneConfig::default()
        };
        let f = fit_concrete(&CraneDsp::new(two_days), &daily(3, 300, 1.0, 5), 300, 4).unwrap();
        assert_eq!(f.period, Period::Day);
    }

    #[test]
    fn predictions_are_floored_and_calibrated() {
        // Night-time zeros: the reconstruction dips below 0 and is floored at 0.01.
        let y: Vec<f64> = daily(4, 300, 2.0, 6)
            .iter()
            .map(|v| (v - 120.0).max(0.0))
            .collect();
        let f = fit_concrete(&CraneDsp::default(), &y, 300, 24).unwrap();
        let p = f.predict_point(600);
        // Crane replaces reconstructions <= 0 by 0.01 (then adds the margin); positive values
        // below 0.01 are kept, so the guarantee is positivity, with the floor reached at night.
        let Estimator::Fft(params) = f.estimator else {
            panic!("{}", f.describe())
        };
        let floor = FLOOR * (1.0 + params.margin_fraction);
        assert!(p.iter().all(|&v| v > 0.0));
        assert!(
            p.iter().filter(|&&v| v == floor).count() > 50,
            "{}",
            f.describe()
        );
        assert!(p.iter().all(|&v| v >= floor || v < floor * 0.999));
        let cal = f.calibration().unwrap();
        assert_eq!(cal.len(), 288);
        // Forecast step j continues the last period.
        assert_eq!(p[0], p[288]);
    }

    #[test]
    fn max_value_estimator_and_determinism() {
        let y = daily(3, 600, 5.0, 7);
        let config = CraneConfig {
            estimators: vec![Estimator::MaxValue {
                margin_fraction: 0.1,
            }],
            ..CraneConfig::default()
        };
        let f = fit_concrete(&CraneDsp::new(config.clone()), &y, 600, 12).unwrap();
        // The per-phase maximum over all 3 days of the clipped series, plus 10%.
        let (spd, mut clipped) = (144, y.clone());
        clip_outliers(&mut clipped);
        let day_max = |i: usize| clipped[i].max(clipped[i + spd]).max(clipped[i + 2 * spd]);
        assert_eq!(f.values.len(), spd);
        for (got, want) in f.values.iter().zip((0..spd).map(|i| day_max(i) * 1.1)) {
            assert!((got - want).abs() < 1e-9);
        }
        assert!(
            f.describe().contains("maxValue(margin=0.1)"),
            "{}",
            f.describe()
        );
        let g = fit_concrete(&CraneDsp::new(config), &y, 600, 12).unwrap();
        assert_eq!(f.values, g.values);
        assert!(
            Estimator::crane_defaults().len() == 8 && CraneDsp::default().name() == "crane_dsp"
        );
        let bad = CraneConfig {
            estimators: vec![Estimator::MaxValue {
                margin_fraction: f64::NAN,
            }],
            ..CraneConfig::default()
        };
        assert!(CraneDsp::new(bad).fit(&input(&y, 600, 12)).is_err());
    }

    #[test]
    fn odd_lengths_and_steps_do_not_panic() {
        for (step, n) in [
            (3_600, 48),
            (3_600, 49),
            (1_800, 97),
            (900, 200),
            (120, 2881),
        ] {
            let spd = (86_400 / step) as usize;
            let y: Vec<f64> = (0..n)
                .map(|t| 5.0 + ((t % spd) as f64 / spd as f64 * TAU).cos())
                .collect();
            let _ = CraneDsp::default()
                .fit(&input(&y, step, 3))
                .map(|f| f.predict_point(5));
        }
    }
}
