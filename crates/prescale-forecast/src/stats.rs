//! Small statistics shared by the analysis modules.
//!
//! A leaf: it imports nothing from the crate, so [`crate::seasonality`] and [`crate::trend`]
//! both build on it without depending on each other.

/// The median (the mean of the two middle values for an even count; 0 for none). Reorders `v`.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let hi = *v.select_nth_unstable_by(n / 2, f64::total_cmp).1;
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lo / 2.0 + hi / 2.0
    }
}

/// Subtracts the trend seen at the resolution of whole cycles of length `p`: the means of
/// the full cycles, linearly interpolated between their centres (flat beyond them).
pub(crate) fn cycle_detrend(x: &[f64], p: usize) -> Vec<f64> {
    let means: Vec<f64> = x
        .chunks_exact(p.max(1))
        .map(|c| c.iter().map(|v| v / p as f64).sum::<f64>())
        .collect();
    let (Some(&first), Some(&last)) = (means.first(), means.last()) else {
        return x.to_vec();
    };
    let first_centre = (p as f64 - 1.0) / 2.0;
    let trend = |t: usize| {
        let pos = (t as f64 - first_centre) / p as f64;
        if pos <= 0.0 {
            return first;
        }
        let (j, f) = (pos.floor() as usize, pos.fract());
        match means.get(j + 1) {
            Some(next) => means[j] * (1.0 - f) + next * f,
            None => last,
        }
    };
    x.iter().enumerate().map(|(t, v)| v - trend(t)).collect()
}

/// The standard normal distribution function (complementary error function of Numerical
/// Recipes, fractional error below 1.2e-7).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return 0.5;
    }
    let x = -z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc_a = t * (-a * a + poly).exp();
    let erfc = if x >= 0.0 { erfc_a } else { 2.0 - erfc_a };
    (0.5 * erfc).clamp(0.0, 1.0)
}

/// A shared trace for tests, by file name; `None` when `../shared` is absent, after
/// [`prescale_testkit::skip_or_fail`]: a test that needs it fails, not skips, when `CI` is set.
#[cfg(test)]
pub(crate) fn shared_trace(name: &str) -> Option<prescale_core::Series> {
    let path = prescale_testkit::shared_trace(name)?;
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let opts = prescale_core::input::ParseOptions::default();
    Some(prescale_core::input::parse_csv(file, name, &opts).expect("a valid shared trace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.644_854) - 0.05).abs() < 1e-6);
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
    }
}
