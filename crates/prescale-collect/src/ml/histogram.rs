//! Quantiles of cumulative histograms, as PromQL's `histogram_quantile` computes them.

/// The `q` quantile (0 to 1) of cumulative `(upper bound, count)` buckets sorted by bound.
///
/// Follows Prometheus: linear interpolation inside the bucket that holds the rank, the lower
/// edge of the first bucket taken as 0 (when its bound is positive), and a rank falling into
/// the `+Inf` bucket answered with the largest finite bound. Counts that decrease (a torn
/// scrape) are raised to stay monotonic. `NaN` when there is no observation, the `+Inf`
/// bucket is missing, or `q` is outside 0..=1 (`-Inf`/`+Inf` below 0 or above 1, like
/// PromQL).
#[must_use]
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let Some(&(last_bound, _)) = buckets.last() else {
        return f64::NAN;
    };
    if last_bound != f64::INFINITY || buckets.len() < 2 {
        return f64::NAN;
    }
    let mut counts: Vec<f64> = Vec::with_capacity(buckets.len());
    for &(_, c) in buckets {
        let prev = counts.last().copied().unwrap_or(0.0);
        counts.push(if c.is_nan() { prev } else { c.max(prev) });
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = counts
        .iter()
        .position(|&c| c >= rank)
        .unwrap_or(counts.len() - 1);
    if i == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let upper = buckets[i].0;
    if i == 0 && upper <= 0.0 {
        return upper;
    }
    let (lower, below) = if i == 0 {
        (0.0, 0.0)
    } else {
        (buckets[i - 1].0, counts[i - 1])
    };
    let in_bucket = counts[i] - below;
    if in_bucket <= 0.0 {
        return upper;
    }
    lower + (upper - lower) * (rank - below) / in_bucket
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn interpolates_like_promql() {
        // 100 observations: 10 ≤ 0.3 s, 60 ≤ 1 s, all ≤ +Inf.
        let b = [(0.3, 10.0), (1.0, 60.0), (INF, 100.0)];
        // Median: rank 50 is in (0.3, 1]: 0.3 + 0.7 * (50 - 10) / 50.
        assert!((histogram_quantile(0.5, &b) - 0.86).abs() < 1e-12);
        // Rank 5 in the first bucket, interpolated from 0.
        assert!((histogram_quantile(0.05, &b) - 0.15).abs() < 1e-12);
        // Rank 95 falls in +Inf: the largest finite bound.
        assert_eq!(histogram_quantile(0.95, &b), 1.0);
        assert_eq!(histogram_quantile(0.0, &b), 0.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(histogram_quantile(0.5, &[]).is_nan());
        assert!(
            histogram_quantile(0.5, &[(1.0, 3.0)]).is_nan(),
            "no +Inf bucket"
        );
        assert!(
            histogram_quantile(0.5, &[(1.0, 0.0), (INF, 0.0)]).is_nan(),
            "no data"
        );
        assert_eq!(
            histogram_quantile(-0.1, &[(1.0, 1.0), (INF, 1.0)]),
            f64::NEG_INFINITY
        );
        assert_eq!(histogram_quantile(1.5, &[(1.0, 1.0), (INF, 1.0)]), INF);
        // Negative first bound: answered with it.
        assert_eq!(histogram_quantile(0.1, &[(-1.0, 5.0), (INF, 10.0)]), -1.0);
        // A torn (non-monotonic) scrape is made monotonic: counts 10, 8→10, 20.
        let torn = [(0.5, 10.0), (1.0, 8.0), (2.0, 20.0), (INF, 20.0)];
        assert!((histogram_quantile(0.75, &torn) - 1.5).abs() < 1e-12);
    }
}
