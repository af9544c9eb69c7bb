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
//! 2. **Daily profile** (with at least two days of history): the median of each time of day
//!    over the last [`Prescale::profile_days`] days, smoothed over about 15 minutes; robust to
//!    spikes by construction.
//! 3. **Candidates**, each an exponentially smoothed level with α from a grid:
//!    - `level`: flat forecast of the smoothed level;
//!    - `level+daily`: the level of the deseasonalized series plus the additive profile;
//!    - `level×daily`: the level of the series divided by the relative profile, times it.
//! 4. **Selection**: every candidate forecasts the horizon from every origin of the last
//!    [`Prescale::selection_days`] days (each using only data before its origin); the one with
//!    the lowest absolute error wins.
//! 5. **Calibration**: the winner's backcast residuals give the conformal quantiles
//!    ([`crate::conformal`]); the point forecast is the calibrated median (P50), which is the
//!    forecast that minimises absolute error when noise is skewed.
//!
//! **Cold series**: with less than two days of history only `level` is possible; with fewer
//! points than a horizon plus ten, α is fixed at 0.3 and the band is the Poisson fallback.
//!
//! Everything is O(n + selection window × horizon × candidates): 28 days of 1-minute data fit
//! in a few milliseconds.

use crate::anomaly::{AnomalyOptions, clean, detect_anomalies};
use crate::conformal::{Calibration, MIN_PER_STEP, conformal_quantile, scale};
use crate::error::{ForecastError, Result};
use crate::model::{FitInput, Fitted, Model};

/// The automatic prescale model.
#[derive(Debug, Clone)]
pub struct Prescale {
    /// Days of rolling origins used to select the candidate and calibrate the quantiles.
    pub selection_days: f64,
    /// Days of history the daily profile is the median of.
    pub profile_days: usize,
    /// The α grid of the level filters.
    pub alphas: Vec<f64>,
    /// Spike detection applied before fitting.
    pub anomaly: AnomalyOptions,
}

impl Default for Prescale {
    fn default() -> Self {
        Self {
            selection_days: super::CALIBRATION_DAYS,
            profile_days: 7,
            alphas: vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8],
            anomaly: AnomalyOptions::default(),
        }
    }
}

/// The member of the family that forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Level,
    Additive,
    Multiplicative,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Level => "level",
            Kind::Additive => "level+daily",
            Kind::Multiplicative => "level×daily",
        }
    }
}

/// The daily profile, indexed by time of day in steps.
#[derive(Debug, Clone)]
struct Profile {
    /// Additive: profile minus its mean.
    additive: Vec<f64>,
    /// Relative: profile over its mean, floored at 0.05.
    relative: Vec<f64>,
    /// Phase of index 0 of the training data.
    phase0: usize,
}

impl Profile {
    fn phase(&self, i: usize) -> usize {
        (self.phase0 + i) % self.additive.len()
    }

    fn build(y: &[f64], input: &FitInput<'_>, spd: usize, days: usize) -> Option<Self> {
        let n = y.len();
        let days = days.min(n / spd);
        if days < 2 {
            return None;
        }
        let phase0 = input.phase_of_day(0);
        let mut by_phase: Vec<Vec<f64>> = vec![Vec::with_capacity(days); spd];
        for (i, &v) in y.iter().enumerate().skip(n - days * spd) {
            by_phase[(phase0 + i) % spd].push(v);
        }
        let raw: Vec<f64> = by_phase
            .iter_mut()
            .map(|v| {
                let mid = v.len() / 2;
                let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
                *m
            })
            .collect();
        // Circular moving average over about 15 minutes (at least 3 steps).
        let width = ((900 / input.step_secs).max(3) as usize) | 1;
        let half = width / 2;
        let smooth: Vec<f64> = (0..spd)
            .map(|p| {
                (0..width).map(|j| raw[(p + spd + j - half) % spd]).sum::<f64>() / width as f64
            })
            .collect();
        let mean = smooth.iter().sum::<f64>() / spd as f64;
        if mean <= 0.0 {
            return None;
        }
        Some(Self {
            additive: smooth.iter().map(|v| v - mean).collect(),
            relative: smooth.iter().map(|v| (v / mean).max(0.05)).collect(),
            phase0,
        })
    }
}

/// One candidate filtered over the data: the level after each observation.
struct Run {
    kind: Kind,
    alpha: f64,
    level: Vec<f64>,
}

impl Run {
    fn new(kind: Kind, alpha: f64, y: &[f64], profile: Option<&Profile>) -> Self {
        let transform = |i: usize, v: f64| match (kind, profile) {
            (Kind::Additive, Some(p)) => v - p.additive[p.phase(i)],
            (Kind::Multiplicative, Some(p)) => v / p.relative[p.phase(i)],
            _ => v,
        };
        let init_len = y.len().min(10);
        let mut l = (0..init_len).map(|i| transform(i, y[i])).sum::<f64>() / init_len as f64;
        let level = y
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                l += alpha * (transform(i, v) - l);
                l
            })
            .collect();
        Self { kind, alpha, level }
    }

    /// Forecast of time `t` from origin `o` (data before `o`).
    fn forecast(&self, profile: Option<&Profile>, o: usize, t: usize) -> f64 {
        let l = self.level[o - 1];
        match (self.kind, profile) {
            (Kind::Additive, Some(p)) => l + p.additive[p.phase(t)],
            (Kind::Multiplicative, Some(p)) => l * p.relative[p.phase(t)],
            _ => l,
        }
    }
}

struct FittedPrescale {
    run: Run,
    profile: Option<Profile>,
    /// Median offset (normalized) per horizon step: the P50 correction.
    offsets: Vec<f64>,
    calibration: Calibration,
    cleaned: usize,
    selection_error: f64,
}

impl FittedPrescale {
    fn point(&self, o: usize, t: usize) -> f64 {
        let base = self.run.forecast(self.profile.as_ref(), o, t).max(0.0);
        let k = t - o;
        let off = self.offsets.get(k).or(self.offsets.last()).copied().unwrap_or(0.0);
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
            return Err(ForecastError::TooShort { model: "prescale", needed: 1, got: 0 });
        }
        let spd = input.steps_per_day().filter(|&spd| n >= 2 * spd && spd >= 4);
        let anomalies = detect_anomalies(raw, spd, &self.anomaly);
        let y = clean(raw, &anomalies);
        let profile = spd.and_then(|spd| Profile::build(&y, input, spd, self.profile_days));

        let window = super::calibration_steps(self.selection_days, input.step_secs);
        let warmup = spd.unwrap_or(n / 3).max(1);
        let first = n.saturating_sub(window + h).max(warmup).max(1);
        let cold = n < h + 10 || first >= n;

        let kinds: &[Kind] = if profile.is_some() {
            &[Kind::Level, Kind::Additive, Kind::Multiplicative]
        } else {
            &[Kind::Level]
        };
        let score = |run: &Run| -> f64 {
            let mut err = 0.0;
            for o in first..n {
                for t in o..(o + h).min(n) {
                    err += (y[t] - run.forecast(profile.as_ref(), o, t)).abs();
                }
            }
            err
        };
        let (run, selection_error) = if cold {
            (Run::new(Kind::Level, 0.3, &y, None), f64::NAN)
        } else {
            let mut best: Option<(Run, f64)> = None;
            for &kind in kinds {
                for &alpha in &self.alphas {
                    let run = Run::new(kind, alpha, &y, profile.as_ref());
                    let e = score(&run);
                    if best.as_ref().is_none_or(|(_, b)| e < *b) {
                        best = Some((run, e));
                    }
                }
            }
            best.expect("at least one candidate")
        };

        let mut fitted = FittedPrescale {
            run,
            profile,
            offsets: Vec::new(),
            calibration: Calibration::new(h),
            cleaned: anomalies.len(),
            selection_error,
        };
        if !cold {
            fitted.offsets = median_offsets(raw, h, first, |o, t| {
                fitted.run.forecast(fitted.profile.as_ref(), o, t).max(0.0)
            });
            for o in first..n {
                for (k, t) in (o..(o + h).min(n)).enumerate() {
                    fitted.calibration.push(k, raw[t], fitted.point(o, t));
                }
            }
        }
        Ok(Box::new(fitted))
    }
}

/// The per-step median of the normalized residuals (pooled where a step has too few).
fn median_offsets(
    y: &[f64],
    h: usize,
    first: usize,
    forecast: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let n = y.len();
    let mut per_step: Vec<Vec<f64>> = vec![Vec::new(); h];
    for o in first..n {
        for (k, t) in (o..(o + h).min(n)).enumerate() {
            let p = forecast(o, t);
            per_step[k].push((y[t] - p) / scale(p));
        }
    }
    let mut pooled: Vec<f64> = per_step.iter().flatten().copied().collect();
    if pooled.is_empty() {
        return Vec::new();
    }
    let pooled_median = conformal_quantile(&mut pooled, 0.5);
    per_step
        .into_iter()
        .map(|mut r| {
            if r.len() >= MIN_PER_STEP { conformal_quantile(&mut r, 0.5) } else { pooled_median }
        })
        .collect()
}

impl Fitted for FittedPrescale {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let n = self.run.level.len();
        (n..n + horizon).map(|t| self.point(n, t)).collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        (!self.calibration.is_empty()).then_some(&self.calibration)
    }

    fn describe(&self) -> String {
        let mut s = format!("{} α={}", self.run.kind.name(), self.run.alpha);
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
    use crate::model::predict;
    use chrono::DateTime;
    use prescale_core::synth::{SyntheticSpec, generate};

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
        let series = generate(&SyntheticSpec { days: 10.0, spikes_per_day: 0.0, ..Default::default() });
        let n = series.len();
        let h = 30;
        // Fit up to 08:30 of the last day, before the morning ramp.
        let cut = n - 1440 + 8 * 60 + 30;
        let train = series.slice(0..cut);
        let input = FitInput::from_series(&train, h);
        let f = Prescale::default().fit(&input).unwrap();
        let fc = predict(f.as_ref(), train.end(), 60, h, &[0.5, 0.9]).unwrap();
        let actual = &series.values()[cut..cut + h];
        let wape: f64 = actual.iter().zip(&fc.point).map(|(a, p)| (a - p).abs()).sum::<f64>()
            / actual.iter().sum::<f64>();
        assert!(wape < 0.15, "wape {wape}, model {}", f.describe());
        // The forecast rises with the ramp.
        assert!(fc.point[h - 1] > fc.point[0] * 1.1, "{:?}", fc.point);
        let p90 = fc.quantile(0.9).unwrap();
        let covered = actual.iter().zip(p90).filter(|(a, q)| a <= q).count();
        assert!(covered >= 20, "P90 covered {covered}/30");
    }

    #[test]
    fn a_spike_does_not_become_the_forecast() {
        let mut series =
            generate(&SyntheticSpec { days: 4.0, spikes_per_day: 0.0, ..Default::default() })
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
        assert!(p[0] < 1.5 * recent, "{} vs recent {recent}: {}", p[0], f.describe());
    }
}
