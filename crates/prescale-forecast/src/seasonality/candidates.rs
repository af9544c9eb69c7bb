//! Candidate periods: periodogram peaks refined on the ACF, labelling (daily, weekly or
//! other) and harmonic de-duplication.

use super::spectrum::{Analysis, bin_range};
use super::{
    DAY_SECS, HARMONIC_RATIO, HILL_WIDTH, LABEL_TOLERANCE, LOWEST_CANDIDATES, MAX_CANDIDATES,
    MIN_PERIOD_STEPS, PeriodLabel, WEEK_SECS,
};

/// Largest relative drift of a refined period from its periodogram hint.
const CLIMB_SLACK: f64 = 0.1;

impl Analysis {
    /// Periodogram local maxima above the gate: the highest and the lowest-frequency ones.
    pub(super) fn peaks(&self) -> Vec<usize> {
        let (k_lo, k_hi) = bin_range(self.x.len(), self.fft_len);
        let p = &self.power;
        let is_peak = |&k: &usize| p[k] > self.gate && p[k] >= p[k - 1] && p[k] >= p[k + 1];
        let mut peaks: Vec<usize> = (k_lo..=k_hi.min(p.len() - 2)).filter(is_peak).collect();
        let lowest: Vec<usize> = peaks.iter().take(LOWEST_CANDIDATES).copied().collect();
        peaks.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        peaks.truncate(MAX_CANDIDATES);
        for k in lowest {
            if !peaks.contains(&k) {
                peaks.push(k);
            }
        }
        peaks
    }

    /// The ACF hill that periodogram bin `k` points to (AUTOPERIOD's refinement).
    pub(super) fn refine(&self, k: usize) -> Option<usize> {
        let (n, f) = (self.x.len() as f64, k as f64 / self.fft_len as f64);
        let lo = 1.0 / (f + 1.0 / n);
        let hi = if f > 1.0 / n { 1.0 / (f - 1.0 / n) } else { n };
        let lag = self.climb(lo.floor() as usize, hi.ceil() as usize)?;
        let ok = lag as f64 >= lo * (1.0 - CLIMB_SLACK) && lag as f64 <= hi * (1.0 + CLIMB_SLACK);
        ok.then_some(lag)
    }

    /// The top of the ACF hill around the highest lag in `[lo, hi]`: the lag moves to the
    /// highest ACF within [`HILL_WIDTH`] of itself until it stays put. `None` when the top is
    /// not a strict local maximum.
    fn climb(&self, lo: usize, hi: usize) -> Option<usize> {
        let a = &self.acf;
        let max_lag = self.x.len() / 2;
        let argmax = |lo: usize, hi: usize| {
            let range = lo.max(MIN_PERIOD_STEPS)..=hi.min(max_lag);
            range.max_by(|&i, &j| a[i].total_cmp(&a[j]).then(j.cmp(&i)))
        };
        let mut best = argmax(lo, hi)?;
        for _ in 0..16 {
            let w = ((best as f64 * HILL_WIDTH).round() as usize).max(2);
            let next = argmax(best.saturating_sub(w), best + w)?;
            if next == best {
                break;
            }
            best = next;
        }
        (a[best] > a[best - 1] && a[best] >= a[best + 1]).then_some(best)
    }
}

/// A scored period before harmonic removal.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    /// The ACF hill it was found at.
    pub(super) lag: usize,
    /// The reported length.
    pub(super) steps: usize,
    pub(super) label: PeriodLabel,
    pub(super) strength: f64,
    pub(super) confidence: f64,
}

impl Candidate {
    /// Whether this period is a multiple of `q` (by reported length or hill lag).
    fn is_multiple_of(&self, q: &Candidate) -> bool {
        let multiple = |p: usize| is_multiple(p, q.steps) || is_multiple(p, q.lag);
        multiple(self.steps) || multiple(self.lag)
    }
}

/// Number of steps in `secs` seconds, rounded.
pub(super) fn cycle_steps(secs: i64, step_secs: i64) -> usize {
    (secs as f64 / step_secs as f64).round().max(0.0) as usize
}

/// The label of a lag and the number of steps it is reported with.
pub(super) fn classify(lag: usize, step_secs: i64) -> (PeriodLabel, usize) {
    let secs = lag as f64 * step_secs as f64;
    for (label, cycle) in [
        (PeriodLabel::Daily, DAY_SECS),
        (PeriodLabel::Weekly, WEEK_SECS),
    ] {
        let steps = cycle_steps(cycle, step_secs);
        if (secs - cycle as f64).abs() <= LABEL_TOLERANCE * cycle as f64 && steps > 0 {
            return (label, steps);
        }
    }
    (PeriodLabel::Other, lag)
}

/// Whether `p` is (close to) an integer multiple `m >= 2` of `q`.
fn is_multiple(p: usize, q: usize) -> bool {
    if q == 0 || p < 2 * q - q / 10 {
        return false;
    }
    let m = (p as f64 / q as f64).round();
    (p as f64 - m * q as f64).abs() <= (0.05 * q as f64).max(1.0)
}

/// Drops multiples that add nothing to a shorter period and divisors that are mere harmonics
/// of a longer one (see the module documentation).
pub(super) fn remove_harmonics(analysis: &Analysis, mut found: Vec<Candidate>) -> Vec<Candidate> {
    found.sort_by_key(|c| c.steps);
    let mut kept: Vec<Candidate> = Vec::new();
    for cand in found {
        let mut bases = kept.iter().filter(|q| cand.is_multiple_of(q));
        if bases.all(|q| analysis.beats_neighbours(cand.steps, q.steps)) {
            kept.push(cand);
        }
    }
    let all = kept.clone();
    let harmonic = |q: &Candidate| {
        all.iter()
            .any(|p| p.is_multiple_of(q) && q.strength < HARMONIC_RATIO * p.strength)
    };
    kept.retain(|q| !harmonic(q));
    kept
}
