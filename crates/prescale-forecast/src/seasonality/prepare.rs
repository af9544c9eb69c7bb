//! Series preparation: standardization, detrending per cycle and bucketing.

use super::{STRENGTH_POINTS_PER_CYCLE, WINSOR_MADS};

/// Scales, winsorizes, linearly detrends and standardizes the values; `None` when nothing
/// varies.
pub(super) fn standardize(values: &[f64]) -> Option<Vec<f64>> {
    let n = values.len() as f64;
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return None;
    }
    let mut x: Vec<f64> = values.iter().map(|v| v / max).collect();
    // Clip beyond WINSOR_MADS robust standard deviations (unless the MAD is 0).
    let mut buf = x.clone();
    let median = select_median(&mut buf);
    buf.iter_mut().for_each(|v| *v = (*v - median).abs());
    let reach = WINSOR_MADS * 1.4826 * select_median(&mut buf);
    if reach > 0.0 {
        x.iter_mut()
            .for_each(|v| *v = v.clamp(median - reach, median + reach));
    }
    let mean = x.iter().sum::<f64>() / n;
    let mid = (n - 1.0) / 2.0;
    let sxy: f64 = x
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - mid) * (v - mean))
        .sum();
    let sxx: f64 = (0..x.len()).map(|i| (i as f64 - mid).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    x.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v -= mean + slope * (i as f64 - mid));
    let var = x.iter().map(|v| v * v).sum::<f64>() / n;
    if var.is_nan() || var <= 1e-20 {
        return None;
    }
    let sd = var.sqrt();
    x.iter_mut().for_each(|v| *v /= sd);
    Some(x)
}

/// The upper median of a non-empty slice; reorders it.
fn select_median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Sums of consecutive buckets of `a` values (a copy when `a` is 1).
pub(super) fn bucket_sums(x: &[f64], a: usize) -> Vec<f64> {
    x.chunks_exact(a.max(1))
        .map(|c| c.iter().sum::<f64>())
        .collect()
}

/// The largest divisor of `d` leaving at least [`STRENGTH_POINTS_PER_CYCLE`] buckets in a
/// cycle of `p` steps; 1 for short periods.
pub(super) fn bucket_for(d: usize, p: usize) -> usize {
    (1..=p / STRENGTH_POINTS_PER_CYCLE)
        .rev()
        .find(|&a| d.is_multiple_of(a))
        .unwrap_or(1)
}

pub(super) fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}
