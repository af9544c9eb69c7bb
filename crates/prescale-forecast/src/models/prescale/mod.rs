//! `prescale`: the automatic model, chosen per series by rolling-origin error.
//!
//! Lessons from measuring peers on real request traces (`docs/forecasting.md`): at a
//! 30-minute horizon the current *level* carries most of the information, a daily season helps
//! only through the shape of the next half hour, a weekly season learnt from two weeks of
//! minute data is noise, and spikes must never be replayed. So the model is a family of cheap
//! level filters, and the data picks the member:
//!
//! 1. **Clean**: spikes and drop-outs found by [`crate::anomaly`] are replaced by their
//!    expected value for fitting (residuals for calibration still use the raw data).
//! 2. **Daily profiles** (with at least two days of history): the median of each time of day
//!    over the last [`Prescale::profile_days`] days, smoothed over about 15 minutes and robust
//!    to spikes by construction; a weekday/weekend profile over twice as many days; and, with
//!    a [`Prescale::calendar`], a business-day profile (the calendar as a feature).
//! 3. **Candidates**, each an exponentially smoothed level with α from a grid:
//!    - `level`: flat forecast of the smoothed level;
//!    - `level+profile`: the level of the series minus a profile, plus the profile;
//!    - `level×profile`: the level of the series divided by a relative profile, times it.
//! 4. **Selection**: every candidate forecasts the horizon from origins of the last
//!    [`Prescale::selection_days`] days (every tenth of a horizon; each forecast uses only data
//!    before its origin); the three with the lowest absolute error are kept, and their mean
//!    replaces the best one when it scores better on the same origins.
//! 5. **Calibration**: the winner's backcast residuals over the last
//!    [`Prescale::calibration_days`] days give the conformal quantiles
//!    ([`crate::conformal`]); the point forecast is the calibrated median (P50), which is the
//!    forecast that minimises absolute error when noise is skewed.
//! 6. **Adaptive correction**: bands calibrated on sliding windows of the selection period are
//!    checked against the origins that followed them; the P90 level is moved by
//!    [`Prescale::coverage_gain`] times the miss (at most ±0.05), so that a series whose noise
//!    grows or shrinks keeps its P90 near 90% coverage
//!    ([`crate::conformal::coverage_shift`]).
//!
//! **Cold series**: with less than two days of history only `level` is possible; with fewer
//! points than a horizon plus ten, α is fixed at 0.3 and the band is the Poisson fallback.
//!
//! Everything is O(n + selection window × horizon × candidates): 28 days of 1-minute data fit
//! in a few milliseconds.

use crate::anomaly::{AnomalyOptions, clean, detect_anomalies};
use crate::calendar::BusinessCalendar;
use crate::conformal::{Calibration, coverage_shift, scale};
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};

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
    /// The α grid of the level filters.
    pub alphas: Vec<f64>,
    /// Spike detection applied before fitting.
    pub anomaly: AnomalyOptions,
    /// A business calendar: when set, a third profile splits business days (holidays
    /// excluded) from the other days, in the calendar's time zone.
    pub calendar: Option<BusinessCalendar>,
    /// Gain of the adaptive P90 correction (0 turns it off; 1 corrects the full miss). A
    /// damped step, as in adaptive conformal inference, because the miss is itself noisy.
    pub coverage_gain: f64,
}

impl Default for Prescale {
    fn default() -> Self {
        Self {
            selection_days: 7.0,
            calibration_days: super::CALIBRATION_DAYS,
            profile_days: 7,
            alphas: vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8],
            anomaly: AnomalyOptions::default(),
            coverage_gain: 0.75,
            calendar: None,
        }
    }
}

mod profile;

use profile::{DayTypes, Profile};

/// The member of the family that forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Level,
    Additive,
    Multiplicative,
}

/// One candidate filtered over the data: the level after each observation.
struct Run {
    kind: Kind,
    /// Index of the profile used (none for `Level`).
    profile: Option<usize>,
    alpha: f64,
    level: Vec<f64>,
}

/// The level after observing `v` at index `i`, from level `l`.
///
/// A multiplicative candidate learns little at times of day whose profile is near zero (a
/// service idle at night): there `v / profile` is a ratio of two tiny numbers, and letting
/// five idle hours drag the level to zero would forecast no demand at the morning resumption.
/// Its update is weighted by `min(1, profile / 0.25)`.
fn filter(kind: Kind, p: Option<&Profile>, alpha: f64, i: usize, v: f64, l: f64) -> f64 {
    match (kind, p) {
        (Kind::Additive, Some(p)) => l + alpha * (v - p.additive(i) - l),
        (Kind::Multiplicative, Some(p)) => {
            let r = p.relative(i);
            l + alpha * (r / 0.25).min(1.0) * (v / r - l)
        }
        _ => l + alpha * (v - l),
    }
}

impl Run {
    /// Filters `v` as the observation at index `level.len()`.
    fn push(&mut self, v: f64, profiles: &[Profile]) {
        self.push_with(v, self.alpha, profiles);
    }

    /// [`Run::push`] with smoothing `alpha` (1: the level restarts from `v`).
    fn push_with(&mut self, v: f64, alpha: f64, profiles: &[Profile]) {
        let i = self.level.len();
        let p = self.profile.map(|p| &profiles[p]);
        let l = match self.level.last() {
            Some(&l) => l,
            None => filter(self.kind, p, 1.0, i, v, 0.0),
        };
        self.level.push(filter(self.kind, p, alpha, i, v, l));
    }

    fn new(
        kind: Kind,
        profile: Option<usize>,
        alpha: f64,
        y: &[f64],
        profiles: &[Profile],
    ) -> Self {
        let p = profile.map(|i| &profiles[i]);
        // Start from the mean of the first observations, transformed.
        let init_len = y.len().min(10);
        let mut l = (0..init_len)
            .map(|i| filter(kind, p, 1.0, i, y[i], 0.0))
            .sum::<f64>()
            / init_len.max(1) as f64;
        let level = y
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                l = filter(kind, p, alpha, i, v, l);
                l
            })
            .collect();
        Self {
            kind,
            profile,
            alpha,
            level,
        }
    }

    /// Forecast of time `t` from origin `o` (data before `o`).
    fn forecast(&self, profiles: &[Profile], o: usize, t: usize) -> f64 {
        let l = self.level[o - 1];
        match (self.kind, self.profile.map(|i| &profiles[i])) {
            (Kind::Additive, Some(p)) => l + p.additive(t),
            (Kind::Multiplicative, Some(p)) => l * p.relative(t),
            _ => l,
        }
    }

    fn describe(&self, profiles: &[Profile]) -> String {
        let name = match (self.kind, self.profile.map(|i| profiles[i].label())) {
            (Kind::Additive, Some(p)) => format!("level+{p}"),
            (Kind::Multiplicative, Some(p)) => format!("level×{p}"),
            _ => "level".to_string(),
        };
        format!("{name} α={}", self.alpha)
    }
}

/// Mean forecast of several runs.
fn mean_forecast(runs: &[Run], profiles: &[Profile], o: usize, t: usize) -> f64 {
    runs.iter().map(|r| r.forecast(profiles, o, t)).sum::<f64>() / runs.len() as f64
}

/// Most candidates averaged in the ensemble.
const ENSEMBLE: usize = 3;

/// How long a run of drop-outs (observations far below the forecast, such as a busy series
/// reading 0) is held as missing data before the level follows it: one hour, as long as the
/// full refit's anomaly detection flags a drop (half of a two-hour block).
const DROPOUT_PATIENCE_SECS: i64 = 3_600;

struct FittedPrescale {
    /// The candidate(s) whose mean is the forecast.
    members: Vec<Run>,
    profiles: Vec<Profile>,
    /// Median offset (normalized) per horizon step: the P50 correction.
    offsets: Vec<f64>,
    calibration: Calibration,
    cleaned: usize,
    selection_error: f64,
    /// The adaptive P90 level correction applied to the calibration.
    upper_shift: f64,
    /// Normalized residual quantiles (P0.5, P99.5) that clip observations added by `update`,
    /// the incremental counterpart of the anomaly cleaning.
    clip: (f64, f64),
    /// Consecutive drop-outs seen by `update` (observations below the lower clip), and their
    /// sum.
    dropouts: (usize, f64),
    /// Drop-outs held as missing data before the level follows them.
    dropout_patience: usize,
}

impl FittedPrescale {
    fn raw(&self, o: usize, t: usize) -> f64 {
        mean_forecast(&self.members, &self.profiles, o, t).max(0.0)
    }

    fn point(&self, o: usize, t: usize) -> f64 {
        let base = self.raw(o, t);
        let k = t - o;
        let off = self
            .offsets
            .get(k)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(0.0);
        (base + off * scale(base)).max(0.0)
    }
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
        let spd = input
            .steps_per_day()
            .filter(|&spd| n >= 2 * spd && spd >= 4);
        let anomalies = detect_anomalies(raw, spd, &self.anomaly);
        let y = clean(raw, &anomalies);
        let mut profiles = Vec::new();
        if let Some(spd) = spd {
            profiles.extend(Profile::daily(&y, input, spd, self.profile_days));
            let days = 2 * self.profile_days;
            profiles.extend(Profile::by_day_type(
                &y,
                input,
                spd,
                days,
                DayTypes::Weekend,
            ));
            if let Some(cal) = &self.calendar {
                profiles.extend(Profile::by_day_type(
                    &y,
                    input,
                    spd,
                    days,
                    DayTypes::Calendar(cal),
                ));
            }
        }

        let window = super::calibration_steps(self.selection_days, input.step_secs);
        let warmup = spd.unwrap_or(n / 3).max(1);
        let first = n.saturating_sub(window + h).max(warmup).max(1);
        let cold = n < h + 10 || first >= n;
        let cal_window = super::calibration_steps(self.calibration_days, input.step_secs);
        let cal_first = n.saturating_sub(cal_window + h).max(first);

        let mut candidates: Vec<(Kind, Option<usize>)> = vec![(Kind::Level, None)];
        for p in 0..profiles.len() {
            candidates.push((Kind::Additive, Some(p)));
            candidates.push((Kind::Multiplicative, Some(p)));
        }
        // Selection origins: every few steps is as informative as every step, and cheaper.
        let stride = (h / 10).max(1);
        // The profile values over the selection window, looked up once for every candidate.
        let window_len = n.saturating_sub(first);
        let add: Vec<Vec<f64>> = profiles
            .iter()
            .map(|p| (first..n).map(|t| p.additive(t)).collect())
            .collect();
        let rel: Vec<Vec<f64>> = profiles
            .iter()
            .map(|p| (first..n).map(|t| p.relative(t)).collect())
            .collect();
        let window_forecast = |run: &Run, l: f64, t: usize| match (run.kind, run.profile) {
            (Kind::Additive, Some(p)) => l + add[p][t - first],
            (Kind::Multiplicative, Some(p)) => l * rel[p][t - first],
            _ => l,
        };
        let score = |runs: &[Run]| -> f64 {
            let mut err = 0.0;
            let w = 1.0 / runs.len() as f64;
            for o in (first..n).step_by(stride) {
                let end = (o + h).min(first + window_len);
                for (t, &actual) in y.iter().enumerate().take(end).skip(o) {
                    let f = if let [run] = runs {
                        window_forecast(run, run.level[o - 1], t)
                    } else {
                        runs.iter()
                            .map(|r| window_forecast(r, r.level[o - 1], t))
                            .sum::<f64>()
                            * w
                    };
                    err += (actual - f).abs();
                }
            }
            err
        };
        let (members, selection_error) = if cold {
            (
                vec![Run::new(Kind::Level, None, 0.3, &y, &profiles)],
                f64::NAN,
            )
        } else {
            // Keep the best `ENSEMBLE` candidates; the forecast is the best of: the single
            // best candidate, or the mean of the top ones (scored on the same origins).
            let mut top: Vec<(Run, f64)> = Vec::with_capacity(ENSEMBLE + 1);
            for &(kind, profile) in &candidates {
                for &alpha in &self.alphas {
                    let run = Run::new(kind, profile, alpha, &y, &profiles);
                    let e = score(std::slice::from_ref(&run));
                    top.push((run, e));
                    top.sort_by(|a, b| a.1.total_cmp(&b.1));
                    top.truncate(ENSEMBLE);
                }
            }
            let best_single = top[0].1;
            let mut runs: Vec<Run> = top.into_iter().map(|(r, _)| r).collect();
            let ensemble_error = score(&runs);
            if ensemble_error < best_single {
                (runs, ensemble_error)
            } else {
                runs.truncate(1);
                (runs, best_single)
            }
        };

        let mut fitted = FittedPrescale {
            members,
            profiles,
            offsets: Vec::new(),
            calibration: Calibration::new(h),
            cleaned: anomalies.len(),
            selection_error,
            upper_shift: 0.0,
            clip: (f64::NEG_INFINITY, f64::INFINITY),
            dropouts: (0, 0.0),
            dropout_patience: usize::try_from(DROPOUT_PATIENCE_SECS / input.step_secs.max(1))
                .unwrap_or(0),
        };
        if !cold {
            fitted.offsets = median_offsets(raw, h, cal_first, |o, t| fitted.raw(o, t));
            for o in (cal_first..n).step_by(origin_stride(h)) {
                for (k, t) in (o..(o + h).min(n)).enumerate() {
                    fitted.calibration.push(k, raw[t], fitted.point(o, t));
                }
            }
            // How well would bands calibrated on sliding windows have covered the selection
            // window's later origins? Correct the P90 level by the miss (origins strided).
            let stride = (h / 3).max(1);
            let mut pairs = Vec::new();
            for o in (first..n).step_by(stride) {
                for (t, &actual) in raw.iter().enumerate().take((o + h).min(n)).skip(o) {
                    let p = fitted.point(o, t);
                    pairs.push((o, (actual - p) / scale(p)));
                }
            }
            let check_from = first + cal_window + h;
            let shift = self.coverage_gain * coverage_shift(&pairs, check_from, cal_window, h, 8);
            fitted.calibration = std::mem::take(&mut fitted.calibration)
                .with_upper_shift(shift)
                .finish();
            fitted.upper_shift = shift;
            let mut r: Vec<f64> = pairs.iter().map(|p| p.1).collect();
            if r.len() >= 200 {
                fitted.clip = (
                    crate::conformal::conformal_quantile(&mut r, 0.005),
                    crate::conformal::conformal_quantile(&mut r, 0.995),
                );
            }
        }
        Ok(Box::new(fitted))
    }
}

/// Horizon steps up to which every origin of the calibration window is used.
pub const CALIBRATION_STEPS: usize = 64;

/// The stride between calibration origins for a horizon of `h` steps: 1 up to
/// [`CALIBRATION_STEPS`], then so that origins × steps stays within about twice the window ×
/// [`CALIBRATION_STEPS`]: the residuals kept (and the work of collecting them) do not grow with
/// the horizon (a 6-hour cold start at 1-minute steps keeps ~200 residuals per step instead of
/// 4,320).
fn origin_stride(h: usize) -> usize {
    h.div_ceil(CALIBRATION_STEPS).max(1)
}

/// The per-step median of the normalized residuals (the pooled median where a step has too
/// few), computed through a [`Calibration`] so that the same pooling rule applies.
fn median_offsets(
    y: &[f64],
    h: usize,
    first: usize,
    forecast: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let n = y.len();
    let mut cal = Calibration::new(h);
    for o in (first..n).step_by(origin_stride(h)) {
        for (k, t) in (o..(o + h).min(n)).enumerate() {
            cal.push(k, y[t], forecast(o, t));
        }
    }
    if cal.is_empty() {
        return Vec::new();
    }
    // With a point of 0 (scale 1) the calibrated median is the normalized median itself.
    (0..h).map(|k| cal.quantiles(k, 0.0, &[0.5])[0]).collect()
}

impl Fitted for FittedPrescale {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let n = self.members[0].level.len();
        (n..n + horizon).map(|t| self.point(n, t)).collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn update(&mut self, new: &[f64]) -> bool {
        for &v in new {
            if !v.is_finite() || v < 0.0 {
                return false;
            }
            let n = self.members[0].level.len();
            let p = self.point(n, n);
            // A busy series reading far below its forecast (0, say) is far more often a
            // collection gap or an outage than demand that vanished: such drop-outs are held
            // as missing data (the level does not move) for up to an hour, as the full refit
            // treats them as anomalies. A longer run is a level shift: the level restarts
            // from the run's mean, then follows.
            let lo = p + self.clip.0.max(-0.5) * scale(p);
            let hi = p + self.clip.1 * scale(p);
            if v < lo || (self.dropouts.0 > self.dropout_patience && v < p) {
                let (run, sum) = &mut self.dropouts;
                *run += 1;
                *sum += v;
                let (run, sum) = (*run, *sum);
                if run <= self.dropout_patience {
                    // Each candidate observes its own forecast: its level does not move.
                    for m in &mut self.members {
                        let own = m.forecast(&self.profiles, n, n);
                        m.push(own, &self.profiles);
                    }
                    continue;
                }
                if run == self.dropout_patience + 1 {
                    for m in &mut self.members {
                        m.push_with(sum / run as f64, 1.0, &self.profiles);
                    }
                    continue;
                }
            } else {
                self.dropouts = (0, 0.0);
            }
            let v = v.min(hi);
            for m in &mut self.members {
                m.push(v, &self.profiles);
            }
        }
        true
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self
            .members
            .iter()
            .map(|r| r.describe(&self.profiles))
            .collect();
        let mut s = if names.len() > 1 {
            format!("mean of [{}]", names.join(", "))
        } else {
            names.join("")
        };
        if self.selection_error.is_nan() {
            s.push_str(" (cold series: fixed α, Poisson band)");
        }
        if self.cleaned > 0 {
            s.push_str(&format!(", {} anomalous point(s) cleaned", self.cleaned));
        }
        s
    }
}

#[cfg(test)]
mod tests {
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
}
