//! The candidates of the `prescale` model: a smoothed level (optionally with a trend) of the
//! series, or of the series made flat by a daily profile, and how each forecasts.

use super::profile::Profile;
use crate::models::theta::{RunningSlope, theta_steps};

/// How a candidate uses a daily profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// No profile: the series itself.
    Flat,
    /// The level of the series minus profile `p`, plus the profile.
    Additive(usize),
    /// The level of the series divided by relative profile `p`, times it.
    Multiplicative(usize),
}

/// The trend of a candidate's level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Trend {
    /// A flat level (simple exponential smoothing; α = 1 is the last value).
    None,
    /// The last value plus the mean change per step over the window.
    Drift,
    /// The standard Theta method: simple exponential smoothing plus half the least-squares
    /// slope of the window (Hyndman & Billah's form, see [`crate::models::theta`]).
    Theta,
    /// Holt's damped additive trend.
    Damped { beta: f64, phi: f64 },
    /// The damped multiplicative trend (Taylor 2003): the level grows by a damped ratio.
    DampedMultiplicative { beta: f64, phi: f64 },
    /// A level that reverts to the long-run level (a smoothed level with α = [`SLOW`]): the
    /// deviation decays by `phi` per step (an AR(1) deviation).
    Revert { phi: f64 },
}

/// The smoothing of the long-run level that [`Trend::Revert`] reverts to.
pub(super) const SLOW: f64 = 0.01;

/// A candidate's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Spec {
    pub(super) shape: Shape,
    pub(super) trend: Trend,
    pub(super) alpha: f64,
    /// Filters the raw series instead of the cleaned one (spikes included): the last value
    /// that a burst persists into.
    pub(super) raw: bool,
}

impl Spec {
    /// The value the level filters at index `i` (the series made flat by the profile) and the
    /// weight of its update.
    ///
    /// A multiplicative candidate learns little at times of day whose profile is near zero (a
    /// service idle at night): there `v / profile` is a ratio of two tiny numbers, and letting
    /// five idle hours drag the level to zero would forecast no demand at the morning
    /// resumption. Its update is weighted by `min(1, profile / 0.25)`.
    pub(super) fn flatten(&self, profiles: &[Profile], i: usize, v: f64) -> (f64, f64) {
        match self.shape {
            Shape::Flat => (v, 1.0),
            Shape::Additive(p) => (v - profiles[p].additive(i, i), 1.0),
            Shape::Multiplicative(p) => {
                let r = profiles[p].relative(i, i);
                (v / r, (r / 0.25).min(1.0))
            }
        }
    }

    /// The level and trend after filtering `x` (weight `w`) from `(l, b)`.
    pub(super) fn step(&self, l: f64, b: f64, x: f64, w: f64) -> (f64, f64) {
        let a = self.alpha * w;
        match self.trend {
            Trend::None | Trend::Drift | Trend::Theta => (l + a * (x - l), b),
            Trend::Damped { beta, phi } => {
                let pred = l + phi * b;
                let next = pred + a * (x - pred);
                (next, beta * (next - l) + (1.0 - beta) * phi * b)
            }
            Trend::Revert { .. } => (l + a * (x - l), b + SLOW * w * (x - b)),
            Trend::DampedMultiplicative { beta, phi } => {
                let pred = l * b.powf(phi);
                let next = pred + a * (x - pred);
                let b = if l > 0.0 && next > 0.0 {
                    (beta * (next / l) + (1.0 - beta) * b.powf(phi)).clamp(0.5, 2.0)
                } else {
                    1.0
                };
                (next, b)
            }
        }
    }

    /// The initial trend state, given the initial level.
    fn initial_trend(&self, level: f64) -> f64 {
        match self.trend {
            Trend::DampedMultiplicative { .. } => 1.0,
            Trend::Revert { .. } => level,
            _ => 0.0,
        }
    }

    /// Whether the trend state is a per-origin slope that comes from outside the filter.
    fn external_slope(&self) -> bool {
        matches!(self.trend, Trend::Theta)
    }

    /// A short label.
    pub(super) fn describe(&self, profiles: &[Profile]) -> String {
        let mut name = match self.shape {
            Shape::Flat => "level".to_string(),
            Shape::Additive(p) => format!("level+{}", profiles[p].label()),
            Shape::Multiplicative(p) => format!("level×{}", profiles[p].label()),
        };
        match self.trend {
            Trend::None => {}
            Trend::Drift => name.push_str(" drift"),
            Trend::Theta => name.push_str(" theta"),
            Trend::Damped { beta, phi } => name.push_str(&format!(" damped β={beta} φ={phi}")),
            Trend::DampedMultiplicative { beta, phi } => {
                name.push_str(&format!(" damped-multiplicative β={beta} φ={phi}"))
            }
            Trend::Revert { phi } => name.push_str(&format!(" reverting φ={phi}")),
        }
        if self.raw {
            name.push_str(" (raw)");
        }
        format!("{name} α={}", self.alpha)
    }
}

/// The filtered series of one shape, shared by every candidate of that shape.
pub(super) struct Flattened {
    /// Index of `x[0]`.
    pub(super) start: usize,
    pub(super) x: Vec<f64>,
    /// Update weights (empty: all 1).
    pub(super) w: Vec<f64>,
    /// The flattened value at index 0 of the series (for the drift).
    pub(super) x0: f64,
    /// For Theta candidates: the least-squares slope of the flattened series up to and
    /// including each index from the run offset on, and the running sums at the end.
    pub(super) slopes: Option<(Vec<f64>, RunningSlope)>,
}

/// One candidate filtered over the data: its states after each observation from index
/// `offset` on.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) spec: Spec,
    /// Index of the observation after which `level[0]` holds.
    offset: usize,
    level: Vec<f64>,
    /// The trend after each observation (the slope for Theta); empty without a trend.
    trend: Vec<f64>,
    x0: f64,
    /// Running sums of the flattened series for Theta's slope, for updates.
    slope: Option<RunningSlope>,
}

impl Run {
    /// Filters the flattened series `f` and keeps the states from index `offset` on.
    pub(super) fn new(spec: Spec, f: &Flattened, offset: usize) -> Self {
        let k = f.x.len().clamp(1, 10);
        let mut l = f.x.iter().take(k).sum::<f64>() / k as f64;
        let mut b = spec.initial_trend(l);
        let keeps_trend = !matches!(spec.trend, Trend::None | Trend::Drift | Trend::Theta);
        let keep = (f.start + f.x.len()).saturating_sub(offset);
        let mut level = Vec::with_capacity(keep + 16);
        let mut trend = Vec::with_capacity(if keeps_trend { keep + 16 } else { 0 });
        // The warm-up (states not kept), then the kept part; each loop specialised by the
        // trend through `filter`.
        let split = offset.saturating_sub(f.start).min(f.x.len());
        let weights = |range: std::ops::Range<usize>| f.w.get(range);
        let mut run = |range: std::ops::Range<usize>, keep: bool| {
            let xs = &f.x[range.clone()];
            let ws = weights(range);
            let mut sink = |l: f64, b: f64| {
                if keep {
                    level.push(l);
                    if keeps_trend {
                        trend.push(b);
                    }
                }
            };
            let alpha = spec.alpha;
            (l, b) = match spec.trend {
                Trend::None | Trend::Drift | Trend::Theta => filter(
                    xs,
                    ws,
                    (l, b),
                    |l, b, x, w| (l + alpha * w * (x - l), b),
                    &mut sink,
                ),
                Trend::Revert { .. } => filter(
                    xs,
                    ws,
                    (l, b),
                    |l, b, x, w| (l + alpha * w * (x - l), b + SLOW * w * (x - b)),
                    &mut sink,
                ),
                _ => filter(
                    xs,
                    ws,
                    (l, b),
                    |l, b, x, w| spec.step(l, b, x, w),
                    &mut sink,
                ),
            };
        };
        run(0..split, false);
        run(split..f.x.len(), true);
        let mut slope = None;
        if spec.external_slope()
            && let Some((slopes, sums)) = &f.slopes
        {
            trend = slopes.clone();
            slope = Some(*sums);
        }
        Self {
            spec,
            offset,
            level,
            trend,
            x0: f.x0,
            slope,
        }
    }

    /// Number of observations filtered (the index of the next one).
    pub(super) fn len(&self) -> usize {
        self.offset + self.level.len()
    }

    /// The part of the forecast `k` steps ahead (1-based) that depends only on `k`: the
    /// multiplier of the trend state (see [`Run::base_with`]).
    pub(super) fn multiplier(&self, k: usize) -> f64 {
        match self.spec.trend {
            Trend::None => 0.0,
            Trend::Drift => k as f64,
            Trend::Theta => (k - 1) as f64,
            Trend::Damped { phi, .. } | Trend::DampedMultiplicative { phi, .. } => damp_sum(phi, k),
            Trend::Revert { phi } => phi.powi(k as i32),
        }
    }

    /// The flat part of the forecasts from origin `o` (data before `o`): `(a, b)` such that
    /// the forecast `k` steps ahead, before the profile is put back, is `a + b · m` with
    /// `m = self.multiplier(k)` (`a · e^(b · m)` for the damped multiplicative trend).
    pub(super) fn origin_terms(&self, o: usize) -> (f64, f64) {
        let j = o - 1 - self.offset;
        let l = self.level[j];
        match self.spec.trend {
            Trend::None => (l, 0.0),
            Trend::Drift => {
                let slope = if o >= 2 {
                    (l - self.x0) / (o - 1) as f64
                } else {
                    0.0
                };
                (l, slope)
            }
            Trend::Theta => {
                let b = 0.5 * self.trend.get(j).copied().unwrap_or(0.0);
                (l + b * theta_steps(self.spec.alpha, o, 1), b)
            }
            Trend::Damped { .. } => (l, self.trend[j]),
            Trend::DampedMultiplicative { .. } => (l, self.trend[j].ln()),
            Trend::Revert { .. } => {
                let long = self.trend[j];
                (long, l - long)
            }
        }
    }

    /// Whether the trend multiplies the level ([`Run::origin_terms`]).
    pub(super) fn is_exponential(&self) -> bool {
        matches!(self.spec.trend, Trend::DampedMultiplicative { .. })
    }

    /// The flat part of the forecast `k` steps ahead from origin `o` (data before `o`), before
    /// the profile is put back, given `m = self.multiplier(k)`.
    pub(super) fn base_with(&self, o: usize, m: f64) -> f64 {
        let (a, b) = self.origin_terms(o);
        if self.is_exponential() {
            a * (b * m).exp()
        } else {
            a + b * m
        }
    }

    /// The forecast of `t` from origin `o`, with the profile put back.
    pub(super) fn forecast(&self, profiles: &[Profile], o: usize, t: usize) -> f64 {
        self.forecast_with(profiles, o, t, self.multiplier(t + 1 - o))
    }

    /// [`Run::forecast`] given `m = self.multiplier(t + 1 - o)`.
    pub(super) fn forecast_with(&self, profiles: &[Profile], o: usize, t: usize, m: f64) -> f64 {
        let base = self.base_with(o, m);
        match self.spec.shape {
            Shape::Flat => base,
            Shape::Additive(p) => base + profiles[p].additive(o, t),
            Shape::Multiplicative(p) => base * profiles[p].relative(o, t),
        }
    }

    /// Filters `v` as the next observation, with smoothing `alpha` instead of the candidate's
    /// own when given (1: the level restarts from `v`).
    pub(super) fn push(&mut self, profiles: &[Profile], v: f64, alpha: Option<f64>) {
        let (x, w) = self.spec.flatten(profiles, self.len(), v);
        self.push_flat(x, w, alpha);
    }

    /// Restarts the level from the observations `values`, the last of which is the next one
    /// (index [`Run::len`]): the weighted mean of their flattened values, each flattened at
    /// its own index, is filtered with α = 1. A run that crossed part of the daily profile
    /// restarts at the level it kept, not at its raw mean.
    pub(super) fn restart(&mut self, profiles: &[Profile], values: &[f64]) {
        let from = (self.len() + 1).saturating_sub(values.len());
        let (mut sx, mut sw) = (0.0, 0.0);
        for (j, &v) in values.iter().enumerate() {
            let (x, w) = self.spec.flatten(profiles, from + j, v);
            sx += w * x;
            sw += w;
        }
        let x = if sw > 0.0 {
            sx / sw
        } else {
            self.spec
                .flatten(profiles, self.len(), values[values.len() - 1])
                .0
        };
        self.push_flat(x, 1.0, Some(1.0));
    }

    /// Filters the flattened observation `x` (weight `w`) as the next one.
    fn push_flat(&mut self, x: f64, w: f64, alpha: Option<f64>) {
        let spec = Spec {
            alpha: alpha.unwrap_or(self.spec.alpha),
            ..self.spec
        };
        let l = self.level.last().copied().unwrap_or(x);
        let b = self.trend.last().copied().unwrap_or(spec.initial_trend(l));
        let (l, b) = spec.step(l, b, x, w);
        self.level.push(l);
        if let Some(sums) = &mut self.slope {
            sums.push(x);
            self.trend.push(sums.slope());
        } else if !self.trend.is_empty() {
            self.trend.push(b);
        }
    }
}

/// Runs `(l, b) = step(l, b, x, w)` over `xs` (weights `ws`, all 1 when `None`) from `(l, b)`,
/// passing every state to `sink`; returns the last state.
fn filter(
    xs: &[f64],
    ws: Option<&[f64]>,
    (mut l, mut b): (f64, f64),
    step: impl Fn(f64, f64, f64, f64) -> (f64, f64),
    sink: &mut impl FnMut(f64, f64),
) -> (f64, f64) {
    match ws {
        Some(ws) => {
            for (&x, &w) in xs.iter().zip(ws) {
                (l, b) = step(l, b, x, w);
                sink(l, b);
            }
        }
        None => {
            for &x in xs {
                (l, b) = step(l, b, x, 1.0);
                sink(l, b);
            }
        }
    }
    (l, b)
}

/// Σ_{i=1..k} φ^i.
fn damp_sum(phi: f64, k: usize) -> f64 {
    if (phi - 1.0).abs() < 1e-12 {
        k as f64
    } else {
        phi * (1.0 - phi.powi(k as i32)) / (1.0 - phi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Run {
        fn base(&self, o: usize, t: usize) -> f64 {
            self.base_with(o, self.multiplier(t + 1 - o))
        }
    }

    fn flat(x: Vec<f64>) -> Flattened {
        Flattened {
            start: 0,
            x0: x[0],
            slopes: None,
            x,
            w: Vec::new(),
        }
    }

    #[test]
    fn the_last_value_drift_and_damped_trend_forecast_as_defined() {
        let x: Vec<f64> = (0..20).map(|i| 2.0 * i as f64).collect();
        let spec = |trend| Spec {
            shape: Shape::Flat,
            trend,
            alpha: 1.0,
            raw: false,
        };
        let f = flat(x.clone());
        let naive = Run::new(spec(Trend::None), &f, 5);
        assert_eq!(naive.len(), 20);
        assert_eq!(naive.base(20, 22), 38.0);
        assert_eq!(naive.base(10, 10), 18.0);
        let drift = Run::new(spec(Trend::Drift), &f, 5);
        // Last value 38, mean change 2 per step: three steps ahead 44.
        assert_eq!(drift.base(20, 22), 44.0);
        let damped = Run::new(
            spec(Trend::Damped {
                beta: 0.5,
                phi: 1.0,
            }),
            &f,
            5,
        );
        assert!(
            (damped.base(20, 20) - 40.0).abs() < 1e-3,
            "{}",
            damped.base(20, 20)
        );
        // A reverting level: the deviation from the long-run level decays by φ per step.
        let revert = Run::new(spec(Trend::Revert { phi: 0.5 }), &f, 5);
        let long = revert.trend[revert.level.len() - 1];
        assert!(long < 38.0);
        assert!((revert.base(20, 20) - (long + 0.5 * (38.0 - long))).abs() < 1e-9);
        assert!((revert.base(20, 21) - (long + 0.25 * (38.0 - long))).abs() < 1e-9);
        let mut pushed = naive.clone();
        pushed.push(&[], 7.0, None);
        assert_eq!(pushed.base(21, 21), 7.0);
    }
}
