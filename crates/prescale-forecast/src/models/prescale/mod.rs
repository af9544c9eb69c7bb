//! `prescale`: the automatic model, chosen per series by rolling-origin error.
//!
//! Lessons from measuring peers on real request traces (`docs/forecasting.md`): at a
//! 30-minute horizon the current *level* carries most of the information, a daily season helps
//! only through the shape of the next half hour, a weekly season learnt from two weeks of
//! minute data is noise, and spikes must never be replayed. On other series the last value,
//! the Theta method or a damped trend wins. So the model is a family of cheap filters that
//! covers those, and the data picks the member:
//!
//! 1. **Noise model** ([`crate::noise`]): count floors (one event, Poisson bands) only for
//!    series declared or detected as counts per step; otherwise the series' own dispersion.
//! 2. **Clean**: spikes and drop-outs found by [`crate::anomaly`] are replaced by their
//!    expected value for fitting (residuals for calibration still use the raw data); a second
//!    copy has only the drop-outs cleaned (bursts are demand, a busy series reading 0 is not).
//! 3. **Profiles** (with at least two days of history): the median of each time of day over
//!    the last [`Prescale::profile_days`] days, smoothed over about 15 minutes and robust to
//!    spikes by construction; a weekday/weekend profile over twice as many days; the median of
//!    each time within the hour (cron-like patterns); and, with a [`Prescale::calendar`], a
//!    business-day profile (the calendar as a feature).
//! 4. **Candidates**: the series itself, minus a profile (`level+profile`, added back) or
//!    divided by a relative profile (`level×profile`), each filtered by a smoothed level with
//!    α from a grid (α = 1: the last value), the standard Theta method (half the
//!    least-squares slope), a level reverting to the long-run level, and damped additive
//!    trends; the series itself also by the drift (mean change) and damped multiplicative
//!    trends; and the last values of the series with only drop-outs cleaned.
//! 5. **Selection**: every candidate forecasts the horizon from origins of the last
//!    [`Prescale::selection_days`] days (coarsely, then every tenth of a horizon for the best
//!    eight); each forecast uses only data before its origin, profiles included (they are
//!    rebuilt every day from the days before it); the three with the lowest absolute error
//!    are kept, and their mean replaces the best one when it scores better on the same
//!    origins. The chosen candidates are then filtered again with the latest profiles.
//! 6. **Burst persistence**: the share of the last burst that persists per step ahead, from a
//!    grid, by the same rolling-origin error (0: spikes are not replayed).
//! 7. **Calibration**: the forecaster's backcast residuals over the last
//!    [`Prescale::calibration_days`] days give the conformal quantiles
//!    ([`crate::conformal`]); the point forecast is the calibrated median (P50), which is the
//!    forecast that minimises absolute error when noise is skewed.
//! 8. **Adaptive correction**: bands calibrated on sliding windows of the selection period are
//!    checked against the origins that followed them; the P90 level is moved by
//!    [`Prescale::coverage_gain`] times the miss (at most ±0.05), so that a series whose noise
//!    grows or shrinks keeps its P90 near 90% coverage
//!    ([`crate::conformal::coverage_shift`]).
//!
//! **Cold series**: with less than two days of history only the flat candidates are possible;
//! with fewer points than a horizon plus ten, α is fixed at 0.3 and the band is the noise
//! model's fallback (Poisson for counts).
//!
//! Nothing depends on the unit: a series multiplied by `c > 0` (and not turned into counts or
//! out of them) gets the same forecast and quantiles multiplied by `c`.
//!
//! Every candidate filters only a warm-up of 3,000 steps before the selection window, so the
//! cost is O(window × candidates): 28 days of 1-minute data fit in a few tens of milliseconds.

use crate::anomaly::{AnomalyOptions, clean, detect_anomalies_with};
use crate::calendar::BusinessCalendar;
use crate::conformal::Calibration;
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};
use crate::noise::{Noise, NoiseModel};

mod candidate;
mod fitted;
mod profile;
mod select;
#[cfg(test)]
mod tests;

use candidate::{Flattened, Run, Shape, Spec, Trend};
pub use fitted::CALIBRATION_STEPS;
use fitted::FittedPrescale;
#[cfg(test)]
use fitted::origin_stride;
use profile::{DayTypes, Profile};

/// The automatic prescale model.
#[derive(Debug, Clone)]
pub struct Prescale {
    /// Days of rolling origins used to select the candidate and calibrate the quantiles.
    pub selection_days: f64,
    /// Days of the most recent rolling origins whose residuals calibrate the quantiles (and the
    /// P50 correction); recent errors describe the next ones best.
    pub calibration_days: f64,
    /// Days of history the daily profile is the median of.
    pub profile_days: usize,
    /// The α grid of the level filters (1: the last value).
    pub alphas: Vec<f64>,
    /// Spike detection applied before fitting.
    pub anomaly: AnomalyOptions,
    /// A business calendar: when set, a third profile splits business days (holidays
    /// excluded) from the other days, in the calendar's time zone.
    pub calendar: Option<BusinessCalendar>,
    /// Gain of the adaptive P90 correction (0 turns it off; 1 corrects the full miss). A
    /// damped step, as in adaptive conformal inference, because the miss is itself noisy.
    pub coverage_gain: f64,
    /// How the noise floors are chosen ([`crate::noise`]): by default, count floors only for
    /// whole-number series.
    pub noise: NoiseModel,
}

impl Default for Prescale {
    fn default() -> Self {
        Self {
            selection_days: 4.0,
            calibration_days: super::CALIBRATION_DAYS,
            profile_days: 7,
            alphas: vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.0],
            anomaly: AnomalyOptions::default(),
            coverage_gain: 0.75,
            calendar: None,
            noise: NoiseModel::Detect,
        }
    }
}

/// How long a run of drop-outs (observations far below the forecast, such as a busy series
/// reading 0) is held as missing data before the level follows it: one hour, as long as the
/// full refit's anomaly detection flags a drop (half of a two-hour block).
const DROPOUT_PATIENCE_SECS: i64 = 3_600;

impl Prescale {
    /// The profiles of the cleaned series `y`, twice: rebuilt daily from index `from` on
    /// (for the selection), and built once from the latest days (for the forecaster). A
    /// profile that cannot be built both ways is left out of both.
    fn profiles(
        &self,
        y: &[f64],
        input: &FitInput<'_>,
        spd: Option<usize>,
        from: usize,
    ) -> (Vec<Profile>, Vec<Profile>) {
        let (mut rolling, mut latest) = (Vec::new(), Vec::new());
        let Some(spd) = spd else {
            return (rolling, latest);
        };
        let days = self.profile_days;
        let both = |make: &dyn Fn(usize) -> Option<Profile>| make(from).zip(make(usize::MAX));
        let mut slots = vec![
            both(&|f| Profile::daily(y, input, spd, days, f)),
            both(&|f| Profile::by_day_type(y, input, spd, 2 * days, DayTypes::Weekend, f)),
            both(&|f| Profile::hourly(y, input, spd, days, f)),
        ];
        if let Some(cal) = &self.calendar {
            slots.push(both(&|f| {
                Profile::by_day_type(y, input, spd, 2 * days, DayTypes::Calendar(cal), f)
            }));
        }
        for (r, l) in slots.into_iter().flatten() {
            rolling.push(r);
            latest.push(l);
        }
        (rolling, latest)
    }
}

/// The level of a series too short to select on: α = 0.3 over all of it.
fn cold_run(y: &[f64]) -> Run {
    let spec = Spec {
        shape: Shape::Flat,
        trend: Trend::None,
        alpha: 0.3,
        raw: false,
    };
    let flat = Flattened {
        start: 0,
        x: y.to_vec(),
        w: Vec::new(),
        x0: y[0],
        slopes: None,
    };
    Run::new(spec, &flat, y.len() - 1)
}

impl Model for Prescale {
    fn name(&self) -> &'static str {
        "prescale"
    }

    fn fit(&self, input: &FitInput<'_>) -> Result<Box<dyn Fitted>> {
        input.validate()?;
        let raw = input.values;
        let n = raw.len();
        let h = input.horizon;
        if n == 0 {
            return Err(ForecastError::TooShort {
                model: "prescale",
                needed: 1,
                got: 0,
            });
        }
        let noise = Noise::of(raw, self.noise);
        let spd = input
            .steps_per_day()
            .filter(|&spd| n >= 2 * spd && spd >= 4);
        let anomalies = detect_anomalies_with(raw, spd, &self.anomaly, &noise);
        let y = clean(raw, &anomalies);
        // The raw series with only the drop-outs (a busy series reading 0: collection gaps)
        // cleaned: bursts are demand, drop-outs are not.
        let drops: Vec<_> = anomalies
            .iter()
            .filter(|a| a.score < 0.0)
            .cloned()
            .collect();
        let semi = clean(raw, &drops);

        let window = super::calibration_steps(self.selection_days, input.step_secs);
        let warmup = spd.unwrap_or(n / 3).max(1);
        let first = n.saturating_sub(window + h).max(warmup).max(1);
        let cold = n < h + 10 || first >= n;
        let cal_window = super::calibration_steps(self.calibration_days, input.step_secs);
        let cal_first = n.saturating_sub(cal_window + h).max(first);
        let (rolling, latest) = self.profiles(&y, input, spd, select::filter_start(first));

        let (members, selection_error) = if cold {
            (vec![cold_run(&y)], f64::NAN)
        } else {
            // Chosen with the profiles each origin knew; then filtered again with the latest
            // profile, which the forecasts from the end of the data use.
            let selection = |profiles| select::Selection {
                clean: &y,
                raw: &semi,
                target: &semi,
                profiles,
                first,
                horizon: h,
                alphas: &self.alphas,
            };
            let (chosen, error) = selection(&rolling).select();
            let latest = selection(&latest);
            (
                chosen.into_iter().map(|r| latest.refit(r.spec)).collect(),
                error,
            )
        };
        drop(rolling);

        let mut fitted = FittedPrescale {
            members,
            multipliers: Vec::new(),
            shape_values: Vec::new(),
            shape_values_from: 0,
            profiles: latest,
            noise,
            offsets: Vec::new(),
            calibration: Calibration::with_noise(h, noise),
            cleaned: anomalies.len(),
            selection_error,
            upper_shift: 0.0,
            clip: (f64::NEG_INFINITY, f64::INFINITY),
            dropouts: 0,
            held: Vec::new(),
            dropout_patience: usize::try_from(DROPOUT_PATIENCE_SECS / input.step_secs.max(1))
                .unwrap_or(0),
            burst_offset: first - 1,
            burst: if cold {
                Vec::new()
            } else {
                (first - 1..n).map(|i| (semi[i] - y[i]).max(0.0)).collect()
            },
            persistence: 0.0,
            persistence_powers: Vec::new(),
        };
        fitted.cache(h, first, n + h);
        if !cold {
            fitted.choose_persistence(&semi, first, h, (h / 10).max(1));
            fitted.calibrate(raw, h, first, cal_first, cal_window, self.coverage_gain);
        }
        Ok(Box::new(fitted))
    }
}
