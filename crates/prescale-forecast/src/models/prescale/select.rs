//! Selection of the `prescale` model's forecaster by rolling-origin error.

use super::candidate::{Flattened, Run, Shape, Spec, Trend};
use super::profile::Profile;
use crate::models::theta::RunningSlope;

/// Most candidates averaged in the ensemble.
pub(super) const ENSEMBLE: usize = 3;

/// Candidates kept from the coarse pass for the fine one.
const SHORTLIST: usize = 8;

/// About the most origins of the coarse pass.
const COARSE_ORIGINS: usize = 256;

/// Steps of history filtered before the first selection origin: enough for the smallest α
/// (0.01) to forget its start (0.99^3000 < 1e-13), so that a long window costs no more than
/// this warm-up plus the selection window.
const WARMUP_STEPS: usize = 3_000;

/// The α of the Theta candidates.
const THETA_ALPHAS: [f64; 3] = [0.05, 0.2, 0.5];

/// The damped-trend grid: (α, β) with φ = 0.9.
const DAMPED: [(f64, f64); 2] = [(0.35, 0.02), (0.8, 0.1)];

/// Damping of the damped trends, per step.
const DAMPED_PHI: f64 = 0.9;

/// The reverting-level grid: α of the level and φ of the deviation.
const REVERT_ALPHAS: [f64; 3] = [0.1, 0.35, 0.8];
const REVERT_PHIS: [f64; 3] = [0.8, 0.9, 0.95];

/// The α of the raw series' levels.
const RAW_ALPHAS: [f64; 4] = [0.35, 0.5, 0.8, 1.0];

/// How close two values are, relative to the larger, to count as equal: far above the
/// rounding of the same computation in another unit (and of a history kept in single
/// precision, about 6e-8) and far below any difference that matters to a choice.
pub(super) const TIE: f64 = 1e-6;

/// Whether error `a` is lower than `b` by more than [`TIE`]. Candidates often score the same
/// up to rounding (over an idle night every level forecasts zero; a raw and a cleaned level
/// agree wherever nothing was cleaned), and the same error in another unit differs in its last
/// bits: such ties are ties, and the earlier candidate wins in every unit, so that the choice
/// does not depend on the unit.
pub(super) fn beats(a: f64, b: f64) -> bool {
    a < b - TIE * a.abs().max(b.abs())
}

/// Inserts `item` into `ranked` (best first) before the first entry it [`beats`]: after every
/// entry it ties with, so that ties keep their order of arrival.
fn insert_ranked<T>(ranked: &mut Vec<(T, f64)>, item: (T, f64)) {
    let pos = ranked
        .iter()
        .position(|(_, e)| beats(item.1, *e))
        .unwrap_or(ranked.len());
    ranked.insert(pos, item);
}

/// The first index the candidates filter for a selection from origin `first` on.
pub(super) fn filter_start(first: usize) -> usize {
    first.saturating_sub(WARMUP_STEPS)
}

/// What the selection works on.
pub(super) struct Selection<'a> {
    /// The cleaned series (what the candidates filter).
    pub(super) clean: &'a [f64],
    /// The raw series with drop-outs cleaned (what the raw candidates filter).
    pub(super) raw: &'a [f64],
    /// What forecasts are scored against.
    pub(super) target: &'a [f64],
    pub(super) profiles: &'a [Profile],
    /// The first selection origin (at least 1).
    pub(super) first: usize,
    pub(super) horizon: usize,
    pub(super) alphas: &'a [f64],
}

/// The profiles over the selection window, looked up once for every candidate.
struct Window {
    first: usize,
    /// Per profile: additive values from an origin on the same day and on the day before.
    additive: Vec<[Vec<f64>; 2]>,
    /// The same for the relative values.
    relative: Vec<[Vec<f64>; 2]>,
}

impl Selection<'_> {
    /// The candidates of one shape.
    fn specs(&self, shape: Shape, raw: bool) -> Vec<Spec> {
        let spec = |trend, alpha| Spec {
            shape,
            trend,
            alpha,
            raw,
        };
        if raw {
            return RAW_ALPHAS.iter().map(|&a| spec(Trend::None, a)).collect();
        }
        let mut out: Vec<Spec> = self.alphas.iter().map(|&a| spec(Trend::None, a)).collect();
        out.extend(THETA_ALPHAS.iter().map(|&a| spec(Trend::Theta, a)));
        for &a in &REVERT_ALPHAS {
            out.extend(
                REVERT_PHIS
                    .iter()
                    .map(|&phi| spec(Trend::Revert { phi }, a)),
            );
        }
        let damped = |beta| Trend::Damped {
            beta,
            phi: DAMPED_PHI,
        };
        out.extend(DAMPED.iter().map(|&(a, beta)| spec(damped(beta), a)));
        if shape == Shape::Flat {
            out.push(spec(Trend::Drift, 1.0));
            out.extend(DAMPED.iter().map(|&(a, beta)| {
                spec(
                    Trend::DampedMultiplicative {
                        beta,
                        phi: DAMPED_PHI,
                    },
                    a,
                )
            }));
        }
        out
    }

    /// The series of `shape` flattened by its profile, filtered from the warm-up on (from
    /// the start when `theta` needs the least-squares slopes of the whole window).
    fn flatten(&self, shape: Shape, raw: bool, theta: bool) -> Flattened {
        let source = if raw { self.raw } else { self.clean };
        let n = source.len();
        let start = filter_start(self.first);
        let offset = self.first - 1;
        let probe = Spec {
            shape,
            trend: Trend::None,
            alpha: 1.0,
            raw,
        };
        let mut x = Vec::with_capacity(n - start);
        let mut w = Vec::new();
        let mut slopes = theta.then(|| (Vec::with_capacity(n - offset), RunningSlope::default()));
        let from = if theta { 0 } else { start };
        for (i, &v) in source.iter().enumerate().skip(from) {
            let (xi, wi) = probe.flatten(self.profiles, i, v);
            if let Some((s, sums)) = &mut slopes {
                sums.push(xi);
                if i >= offset {
                    s.push(sums.slope());
                }
            }
            if i >= start {
                x.push(xi);
                if matches!(shape, Shape::Multiplicative(_)) {
                    w.push(wi);
                }
            }
        }
        Flattened {
            start,
            x,
            w,
            x0: probe.flatten(self.profiles, 0, source[0]).0,
            slopes,
        }
    }

    /// The candidate `spec` filtered anew (on these profiles).
    pub(super) fn refit(&self, spec: Spec) -> Run {
        let flat = self.flatten(spec.shape, spec.raw, spec.trend == Trend::Theta);
        Run::new(spec, &flat, self.first - 1)
    }

    /// The absolute error of the mean forecast of `runs` over the origins of the window, every
    /// `stride` steps, against the target.
    fn score(&self, window: &Window, runs: &[&Run], stride: usize) -> f64 {
        let n = self.target.len();
        let h = self.horizon;
        let mults: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| (1..=h).map(|k| r.multiplier(k)).collect())
            .collect();
        let inv = 1.0 / runs.len() as f64;
        let mut buf = vec![0.0; h];
        let mut err = 0.0;
        for o in (self.first..n).step_by(stride.max(1)) {
            let len = (n - o).min(h);
            buf[..len].fill(0.0);
            let (next_day, day_after) =
                self.profiles.first().map_or((usize::MAX, usize::MAX), |p| {
                    let d = p.next_day(o);
                    (d, p.next_day(d))
                });
            for (run, m) in runs.iter().zip(&mults) {
                let table = match run.spec.shape {
                    Shape::Flat => None,
                    Shape::Additive(p) => Some((&window.additive[p], false, p)),
                    Shape::Multiplicative(p) => Some((&window.relative[p], true, p)),
                };
                let (a, b) = run.origin_terms(o);
                let exponential = run.is_exponential();
                for (k, slot) in buf[..len].iter_mut().enumerate() {
                    let t = o + k;
                    let base = if exponential {
                        a * (b * m[k]).exp()
                    } else {
                        a + b * m[k]
                    };
                    *slot += match table {
                        None => base,
                        Some(([same, before], relative, p)) => {
                            let v = if t < next_day {
                                same[t - window.first]
                            } else if t < day_after {
                                before[t - window.first]
                            } else if relative {
                                // More than a day ahead: the slow lookup.
                                self.profiles[p].relative(o, t)
                            } else {
                                self.profiles[p].additive(o, t)
                            };
                            if relative { base * v } else { base + v }
                        }
                    };
                }
            }
            for (k, f) in buf[..len].iter().enumerate() {
                err += (self.target[o + k] - f * inv).abs();
            }
        }
        err
    }

    /// Chooses the forecaster: every candidate is scored on at most about
    /// [`COARSE_ORIGINS`] origins (every half horizon or more); the best [`SHORTLIST`] are
    /// scored again on origins every tenth of a horizon; the best [`ENSEMBLE`] of those are
    /// kept, and their mean replaces the best one when it scores better on the same origins.
    /// Returns the members and their error.
    pub(super) fn select(&self) -> (Vec<Run>, f64) {
        let n = self.target.len();
        let window = Window {
            first: self.first,
            additive: self
                .profiles
                .iter()
                .map(|p| p.window(self.first, n, false))
                .collect(),
            relative: self
                .profiles
                .iter()
                .map(|p| p.window(self.first, n, true))
                .collect(),
        };
        let mut shapes = vec![(Shape::Flat, false)];
        for p in 0..self.profiles.len() {
            shapes.push((Shape::Additive(p), false));
            shapes.push((Shape::Multiplicative(p), false));
        }
        shapes.push((Shape::Flat, true));
        let fine = (self.horizon / 10).max(1);
        let coarse = (self.horizon / 2)
            .max((n - self.first).div_ceil(COARSE_ORIGINS))
            .max(1);
        let mut short: Vec<(Run, f64)> = Vec::with_capacity(SHORTLIST + 1);
        for (shape, raw) in shapes {
            let specs = self.specs(shape, raw);
            let theta = specs.iter().any(|s| s.trend == Trend::Theta);
            let flat = self.flatten(shape, raw, theta);
            for spec in specs {
                let run = Run::new(spec, &flat, self.first - 1);
                let e = self.score(&window, &[&run], coarse);
                if short.len() < SHORTLIST || beats(e, short[short.len() - 1].1) {
                    insert_ranked(&mut short, (run, e));
                    short.truncate(SHORTLIST);
                }
            }
        }
        let mut top: Vec<(Run, f64)> = Vec::with_capacity(SHORTLIST);
        for (run, e) in short {
            let e = if coarse == fine {
                e
            } else {
                self.score(&window, &[&run], fine)
            };
            insert_ranked(&mut top, (run, e));
        }
        top.truncate(ENSEMBLE);
        let best_single = top[0].1;
        let mut runs: Vec<Run> = top.into_iter().map(|(r, _)| r).collect();
        let refs: Vec<&Run> = runs.iter().collect();
        let ensemble_error = self.score(&window, &refs, fine);
        if beats(ensemble_error, best_single) {
            (runs, ensemble_error)
        } else {
            runs.truncate(1);
            (runs, best_single)
        }
    }
}
