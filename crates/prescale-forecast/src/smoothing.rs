//! Exponential smoothing filters shared by the ETS, MSTL and `prescale` models.
//!
//! Holt-Winters with an additive season and a damped additive trend:
//!
//! ```text
//! l_t = α (y_t − s_{t−m}) + (1 − α)(l_{t−1} + φ b_{t−1})
//! b_t = β (l_t − l_{t−1}) + (1 − β) φ b_{t−1}
//! s_t = γ (y_t − l_t) + (1 − γ) s_{t−m}
//! ŷ_{t+k|t} = l_t + (φ + … + φ^k) b_t + s_{t+k−m⌈k/m⌉}
//! ```
//!
//! With `m = 0` there is no season, and with `β = 0` no trend (simple exponential smoothing).
//! Parameters are chosen from a small fixed grid, which is fast (a few passes over the data)
//! and, unlike a numerical optimiser, deterministic, by one of two [`Criterion`]s: the
//! classical one-step-ahead squared error, or the mean squared error over the whole forecast
//! horizon from recent origins (R's `ets(opt.crit = "amse")`), which suits a model used for
//! 30-minute-ahead forecasts of minute data, where the one-step error is dominated by noise.

/// Smoothing parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HwParams {
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    pub(crate) gamma: f64,
    pub(crate) phi: f64,
}

/// The filtered states after each observation.
#[derive(Debug, Clone)]
pub(crate) struct HwStates {
    pub(crate) params: HwParams,
    /// Season length (0: none).
    pub(crate) m: usize,
    /// `level[t]`: level after observing `y[t]`.
    pub(crate) level: Vec<f64>,
    /// `trend[t]`: trend after observing `y[t]`.
    pub(crate) trend: Vec<f64>,
    /// `season[t]`: the seasonal state written at time `t`, and `init` for `t < 0`.
    pub(crate) season: Vec<f64>,
    init_season: Vec<f64>,
}

/// Initial level, trend and season from the first one or two cycles.
fn initial(y: &[f64], m: usize) -> (f64, f64, Vec<f64>) {
    if m == 0 || y.len() < 2 * m {
        let k = y.len().clamp(1, 10);
        let l0 = y[..k].iter().sum::<f64>() / k as f64;
        return (l0, 0.0, Vec::new());
    }
    let mean1 = y[..m].iter().sum::<f64>() / m as f64;
    let mean2 = y[m..2 * m].iter().sum::<f64>() / m as f64;
    let season = (0..m)
        .map(|j| 0.5 * (y[j] - mean1 + y[j + m] - mean2))
        .collect();
    (mean1, (mean2 - mean1) / m as f64, season)
}

/// How grid parameters are scored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Criterion {
    /// Squared one-step-ahead errors (after a warm-up of one season, or one step).
    OneStep,
    /// Squared errors of the `h` steps after every `stride`-th origin from `from` on.
    Horizon {
        h: usize,
        from: usize,
        stride: usize,
    },
}

/// Runs the filter; returns the score of `crit` and the states when `keep` is set.
pub(crate) fn run(
    y: &[f64],
    m: usize,
    p: HwParams,
    crit: Criterion,
    keep: bool,
) -> (f64, Option<HwStates>) {
    let (mut l, mut b, init) = initial(y, m);
    let m = if init.is_empty() { 0 } else { m };
    let n = y.len();
    let (mut lv, mut tv, mut sv) = if keep {
        (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(if m > 0 { n } else { 0 }),
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    // A rolling buffer of the last m seasonal states (the full history is kept only on demand).
    let mut ring = init.clone();
    let mut sse = 0.0;
    let one_step_from = if m > 0 { m } else { 1 };
    let damp: Vec<f64> = match crit {
        Criterion::Horizon { h, .. } => (1..=h).map(|k| damp_sum(p.phi, k)).collect(),
        Criterion::OneStep => Vec::new(),
    };
    for (t, &yt) in y.iter().enumerate() {
        let s_prev = if m > 0 { ring[t % m] } else { 0.0 };
        match crit {
            Criterion::OneStep if t >= one_step_from => {
                let e = yt - (l + p.phi * b + s_prev);
                sse += e * e;
            }
            Criterion::Horizon { h, from, stride }
                if t >= from.max(1) && (t - from) % stride.max(1) == 0 && t + h <= n =>
            {
                for (k, d) in damp.iter().enumerate() {
                    let s = if m > 0 { ring[(t + k) % m] } else { 0.0 };
                    let e = y[t + k] - (l + d * b + s);
                    sse += e * e;
                }
            }
            _ => {}
        }
        let l_new = p.alpha * (yt - s_prev) + (1.0 - p.alpha) * (l + p.phi * b);
        b = p.beta * (l_new - l) + (1.0 - p.beta) * p.phi * b;
        l = l_new;
        if m > 0 {
            let s = p.gamma * (yt - l) + (1.0 - p.gamma) * s_prev;
            ring[t % m] = s;
            if keep {
                sv.push(s);
            }
        }
        if keep {
            lv.push(l);
            tv.push(b);
        }
    }
    let states = keep.then_some(HwStates {
        params: p,
        m,
        level: lv,
        trend: tv,
        season: sv,
        init_season: init,
    });
    (sse, states)
}

/// Chooses parameters from the grid by `crit` and returns the states.
pub(crate) fn fit_grid(y: &[f64], m: usize, trend: bool, crit: Criterion) -> HwStates {
    const ALPHAS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
    let betas: &[f64] = if trend { &[0.0, 0.01, 0.05] } else { &[0.0] };
    let seasonal = m > 0 && y.len() >= 2 * m;
    let gammas: &[f64] = if seasonal {
        &[0.0, 0.05, 0.1, 0.2]
    } else {
        &[0.0]
    };
    let mut best = (
        f64::INFINITY,
        HwParams {
            alpha: 0.1,
            beta: 0.0,
            gamma: 0.0,
            phi: 0.98,
        },
    );
    for &alpha in &ALPHAS {
        for &beta in betas {
            for &gamma in gammas {
                let p = HwParams {
                    alpha,
                    beta,
                    gamma,
                    phi: 0.98,
                };
                let (sse, _) = run(y, m, p, crit, false);
                if sse < best.0 {
                    best = (sse, p);
                }
            }
        }
    }
    run(y, m, best.1, crit, true).1.expect("kept states")
}

/// Σ_{i=1..k} φ^i.
fn damp_sum(phi: f64, k: usize) -> f64 {
    if (phi - 1.0).abs() < 1e-12 {
        k as f64
    } else {
        phi * (1.0 - phi.powi(k as i32)) / (1.0 - phi)
    }
}

impl HwStates {
    /// The seasonal state in force for time `t` when standing at origin `o` (`t >= o`): the
    /// latest state of the same phase written before `o`.
    fn season_for(&self, o: usize, t: usize) -> f64 {
        if self.m == 0 {
            return 0.0;
        }
        let m = self.m as i64;
        let cycles = (t - o) as i64 / m + 1;
        let idx = t as i64 - m * cycles;
        if idx >= 0 {
            self.season.get(idx as usize).copied().unwrap_or(0.0)
        } else {
            // Before the first observation: the initial season of that phase.
            self.init_season[idx.rem_euclid(m) as usize]
        }
    }

    /// The forecast of time `t` made at origin `o` (using observations before `o`; `o >= 1`).
    pub(crate) fn forecast_from(&self, o: usize, t: usize) -> f64 {
        let k = t - o + 1;
        self.level[o - 1] + damp_sum(self.params.phi, k) * self.trend[o - 1] + self.season_for(o, t)
    }

    /// Number of observations filtered.
    pub(crate) fn len(&self) -> usize {
        self.level.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_only_tracks_a_constant() {
        let y = vec![5.0; 50];
        let s = fit_grid(&y, 0, false, Criterion::OneStep);
        assert!((s.forecast_from(50, 55) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn seasonal_filter_forecasts_a_pure_season() {
        let m = 24;
        let y: Vec<f64> = (0..24 * 10).map(|t| 10.0 + (t % m) as f64).collect();
        let s = fit_grid(&y, m, true, Criterion::OneStep);
        let n = y.len();
        for t in n..n + 30 {
            let want = 10.0 + (t % m) as f64;
            assert!((s.forecast_from(n, t) - want).abs() < 0.5, "t={t}");
        }
        // A backcast from inside the window also follows the season.
        assert!((s.forecast_from(100, 110) - y[110]).abs() < 0.5);
    }

    #[test]
    fn trend_is_followed() {
        let y: Vec<f64> = (0..200).map(|t| 2.0 * t as f64).collect();
        let s = fit_grid(
            &y,
            0,
            true,
            Criterion::Horizon {
                h: 10,
                from: 100,
                stride: 3,
            },
        );
        let f = s.forecast_from(200, 209);
        assert!(f > 400.0, "{f}");
    }
}
