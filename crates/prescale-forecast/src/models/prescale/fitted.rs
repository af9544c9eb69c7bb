//! The fitted `prescale` model: the chosen forecaster, its calibration, and updates between
//! refits.

use super::candidate::{Run, Shape};
use super::profile::Profile;
use super::select::{TIE, beats};
use crate::conformal::{Calibration, conformal_quantile, coverage_shift};
use crate::model::Fitted;
use crate::noise::Noise;

/// Horizon steps up to which every origin of the calibration window is used.
pub const CALIBRATION_STEPS: usize = 64;

/// The stride between calibration origins for a horizon of `h` steps: 1 up to
/// [`CALIBRATION_STEPS`], then so that origins × steps stays within about twice the window ×
/// [`CALIBRATION_STEPS`]: the residuals kept (and the work of collecting them) do not grow with
/// the horizon (a 6-hour cold start at 1-minute steps keeps ~200 residuals per step instead of
/// 4,320).
pub(super) fn origin_stride(h: usize) -> usize {
    h.div_ceil(CALIBRATION_STEPS).max(1)
}

pub(super) struct FittedPrescale {
    /// The candidate(s) whose mean is the forecast.
    pub(super) members: Vec<Run>,
    /// Each member's [`Run::multiplier`] for the steps of the horizon.
    pub(super) multipliers: Vec<Vec<f64>>,
    /// Each member's profile values from index `shape_values_from` on.
    pub(super) shape_values: Vec<Vec<f64>>,
    pub(super) shape_values_from: usize,
    pub(super) profiles: Vec<Profile>,
    pub(super) noise: Noise,
    /// Median offset (normalized) per horizon step: the P50 correction.
    pub(super) offsets: Vec<f64>,
    pub(super) calibration: Calibration,
    pub(super) cleaned: usize,
    pub(super) selection_error: f64,
    /// The adaptive P90 level correction applied to the calibration.
    pub(super) upper_shift: f64,
    /// Normalized residual quantiles (P0.5, P99.5) that clip observations added by `update`,
    /// the incremental counterpart of the anomaly cleaning.
    pub(super) clip: (f64, f64),
    /// Consecutive drop-outs seen by `update` (observations below the lower clip).
    pub(super) dropouts: usize,
    /// The drop-outs of the current run while they are held (at most `dropout_patience` + 1).
    pub(super) held: Vec<f64>,
    /// Drop-outs held as missing data before the level follows them.
    pub(super) dropout_patience: usize,
    /// Index of `burst[0]`.
    pub(super) burst_offset: usize,
    /// How far each observation lay above what the cleaned candidates saw (a burst), from
    /// index `burst_offset` on.
    pub(super) burst: Vec<f64>,
    /// The share of the last burst that persists per step ahead (0: bursts are not followed).
    pub(super) persistence: f64,
    /// Its powers for the steps of the horizon.
    pub(super) persistence_powers: Vec<f64>,
}

impl FittedPrescale {
    /// The members' mean forecast of `t` from origin `o`, before the P50 correction.
    fn raw(&self, o: usize, t: usize) -> f64 {
        let k = t + 1 - o;
        let sum: f64 = self
            .members
            .iter()
            .zip(&self.multipliers)
            .zip(&self.shape_values)
            .map(|((r, m), values)| {
                let m = m.get(k - 1).copied().unwrap_or_else(|| r.multiplier(k));
                match values.get(t.wrapping_sub(self.shape_values_from)) {
                    Some(&v) => {
                        let base = r.base_with(o, m);
                        match r.spec.shape {
                            Shape::Flat => base,
                            Shape::Additive(_) => base + v,
                            Shape::Multiplicative(_) => base * v,
                        }
                    }
                    None => r.forecast_with(&self.profiles, o, t, m),
                }
            })
            .sum();
        let mut f = sum / self.members.len() as f64;
        if self.persistence > 0.0 {
            let b = self.burst[o - 1 - self.burst_offset];
            let p = self
                .persistence_powers
                .get(k - 1)
                .copied()
                .unwrap_or_else(|| self.persistence.powi(k as i32));
            f += b * p;
        }
        f.max(0.0)
    }

    /// Caches the members' trend multipliers for the steps of a horizon of `h`, and the
    /// values of their profiles for the indices `from..end` (the profiles are the latest ones:
    /// the same from every origin).
    pub(super) fn cache(&mut self, h: usize, from: usize, end: usize) {
        self.multipliers = self
            .members
            .iter()
            .map(|r| (1..=h).map(|k| r.multiplier(k)).collect())
            .collect();
        self.shape_values_from = from;
        self.shape_values = self
            .members
            .iter()
            .map(|r| match r.spec.shape {
                Shape::Flat => vec![0.0; end.saturating_sub(from)],
                Shape::Additive(p) => (from..end)
                    .map(|t| self.profiles[p].additive(from, t))
                    .collect(),
                Shape::Multiplicative(p) => (from..end)
                    .map(|t| self.profiles[p].relative(from, t))
                    .collect(),
            })
            .collect();
    }

    /// Chooses how much of the last burst persists, from a grid, by the absolute error
    /// against `target` from the origins of `first..` every `stride` steps.
    pub(super) fn choose_persistence(
        &mut self,
        target: &[f64],
        first: usize,
        h: usize,
        stride: usize,
    ) {
        const GRID: [f64; 5] = [0.0, 0.5, 0.8, 0.9, 1.0];
        let n = target.len();
        self.persistence = 0.0;
        let powers: Vec<[f64; GRID.len()]> = (1..=h)
            .map(|k| GRID.map(|rho| rho.powi(k as i32)))
            .collect();
        let mut err = [0.0; GRID.len()];
        for o in (first..n).step_by(stride.max(1)) {
            let b = self.burst[o - 1 - self.burst_offset];
            if b <= 0.0 {
                // No burst at the origin: the same error for every persistence.
                continue;
            }
            for t in o..(o + h).min(n) {
                let f = self.raw(o, t);
                for (e, p) in err.iter_mut().zip(powers[t - o]) {
                    *e += (target[t] - f - b * p).abs() - (target[t] - f).abs();
                }
            }
        }
        // The best of the grid; ties ([`beats`]) go to the smaller persistence.
        let mut best_at = 0;
        for (i, &e) in err.iter().enumerate().skip(1) {
            if beats(e, err[best_at]) {
                best_at = i;
            }
        }
        let best = GRID[best_at];
        self.persistence = best;
        self.persistence_powers = (1..=h).map(|k| best.powi(k as i32)).collect();
    }

    /// The point forecast (calibrated median) of `t` from origin `o`.
    fn point(&self, o: usize, t: usize) -> f64 {
        let base = self.raw(o, t);
        let k = t - o;
        let off = self
            .offsets
            .get(k)
            .or(self.offsets.last())
            .copied()
            .unwrap_or(0.0);
        (base + off * self.noise.scale(base)).max(0.0)
    }

    /// Calibrates on the raw series `y`: the P50 correction and the conformal residuals from
    /// the origins of `cal_first..`, the adaptive P90 correction from bands calibrated on
    /// sliding windows of `cal_window` steps checked on the selection window's later origins
    /// (from `first`), and the clip of updates.
    pub(super) fn calibrate(
        &mut self,
        y: &[f64],
        h: usize,
        first: usize,
        cal_first: usize,
        cal_window: usize,
        gain: f64,
    ) {
        let n = y.len();
        self.offsets = self.median_offsets(y, h, cal_first);
        let mut calibration = Calibration::with_noise(h, self.noise);
        for o in (cal_first..n).step_by(origin_stride(h)) {
            for (k, t) in (o..(o + h).min(n)).enumerate() {
                calibration.push(k, y[t], self.point(o, t));
            }
        }
        // How well would bands calibrated on sliding windows have covered the selection
        // window's later origins? Correct the P90 level by the miss (origins strided).
        let stride = (h / 3).max(1);
        let mut pairs = Vec::new();
        for o in (first..n).step_by(stride) {
            for (t, &actual) in y.iter().enumerate().take((o + h).min(n)).skip(o) {
                let p = self.point(o, t);
                pairs.push((o, (actual - p) / self.noise.scale(p)));
            }
        }
        let check_from = first + cal_window + h;
        let shift = gain * coverage_shift(&pairs, check_from, cal_window, h, 8);
        self.calibration = calibration.with_upper_shift(shift).finish();
        self.upper_shift = shift;
        let mut r: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        if r.len() >= 200 {
            self.clip = (
                conformal_quantile(&mut r, 0.005),
                conformal_quantile(&mut r, 0.995),
            );
        }
    }

    /// The per-step median of the normalized residuals of the members' mean from the origins
    /// of `first..` (the pooled median where a step has too few), computed through a
    /// [`Calibration`] so that the same pooling rule applies.
    fn median_offsets(&self, y: &[f64], h: usize, first: usize) -> Vec<f64> {
        let n = y.len();
        let mut cal = Calibration::with_noise(h, self.noise);
        for o in (first..n).step_by(origin_stride(h)) {
            for (k, t) in (o..(o + h).min(n)).enumerate() {
                cal.push(k, y[t], self.raw(o, t));
            }
        }
        (0..h)
            .map_while(|k| cal.normalized_quantiles(k, &[0.5]).map(|q| q[0]))
            .collect()
    }
}

impl Fitted for FittedPrescale {
    fn predict_point(&self, horizon: usize) -> Vec<f64> {
        let n = self.members[0].len();
        (n..n + horizon).map(|t| self.point(n, t)).collect()
    }

    fn calibration(&self) -> Option<&Calibration> {
        // An empty calibration still carries the noise model's band (a cold series).
        Some(&self.calibration)
    }

    fn update(&mut self, new: &[f64]) -> bool {
        for &v in new {
            if !v.is_finite() || v < 0.0 {
                return false;
            }
            let n = self.members[0].len();
            let p = self.point(n, n);
            // A busy series reading far below its forecast (0, say) is far more often a
            // collection gap or an outage than demand that vanished: such drop-outs are held
            // as missing data (the level does not move) for up to an hour, as the full refit
            // treats them as anomalies. A longer run is a level shift: each candidate
            // restarts from the run it held ([`Run::restart`]), then follows.
            let s = self.noise.scale(p);
            let lo = p + self.clip.0.max(-0.5) * s;
            let hi = p + self.clip.1 * s;
            // The bounds are ratios of the data's own values (a residual quantile; the last
            // value under a level of α = 1), so a reading can equal one exactly, and only the
            // rounding in its unit would decide: a reading within [`TIE`] of the forecast of a
            // bound is on it, in every unit.
            let tie = TIE * p.abs().max(s.abs());
            if v < lo - tie || (self.dropouts > self.dropout_patience && v < p - tie) {
                self.dropouts += 1;
                let run = self.dropouts;
                if run <= self.dropout_patience {
                    // Each candidate observes its own forecast: its level does not move.
                    self.held.push(v);
                    for m in &mut self.members {
                        let own = m.forecast(&self.profiles, n, n);
                        m.push(&self.profiles, own, None);
                    }
                    self.burst.push(0.0);
                    continue;
                }
                if run == self.dropout_patience + 1 {
                    // The run outlasted the hour: a level shift. Each candidate restarts
                    // from the run it held, then follows.
                    self.held.push(v);
                    for m in &mut self.members {
                        m.restart(&self.profiles, &self.held);
                    }
                    self.held = Vec::new();
                    self.burst.push(0.0);
                    continue;
                }
            } else {
                self.dropouts = 0;
                self.held.clear();
            }
            for m in &mut self.members {
                // Candidates of the raw series see spikes as they are; the others see them
                // clipped, as the refit's cleaning would.
                let v = if m.spec.raw { v } else { v.min(hi) };
                m.push(&self.profiles, v, None);
            }
            self.burst.push((v - hi).max(0.0));
            continue;
        }
        true
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self
            .members
            .iter()
            .map(|r| r.spec.describe(&self.profiles))
            .collect();
        let mut s = if names.len() > 1 {
            format!("mean of [{}]", names.join(", "))
        } else {
            names.join("")
        };
        if self.selection_error.is_nan() {
            s.push_str(if self.noise.counts {
                " (cold series: fixed α, Poisson band)"
            } else {
                " (cold series: fixed α, band from the series' dispersion)"
            });
        }
        if self.cleaned > 0 {
            s.push_str(&format!(", {} anomalous point(s) cleaned", self.cleaned));
        }
        s
    }
}
