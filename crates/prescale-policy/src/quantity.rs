//! How KEDA turns the external scaler's floats into Kubernetes quantities, and the floats to
//! send so that every KEDA version reads the intended milli value.
//!
//! KEDA builds the HPA's target (`targetSizeFloat`) and the metric value (`metricValueFloat`)
//! as milli quantities, and the HPA's `AverageValue` maths is integer milli arithmetic:
//! `desired = ceil(value_milli / target_milli)`. The conversion changed between releases
//! (`GetMetricTargetMili` and `GenerateMetricInMili`, `pkg/scalers/scaler.go`):
//!
//! | KEDA | conversion | [`keda_milli_v2_19`] / [`keda_milli_v2_20`] |
//! |---|---|---|
//! | ≤ 2.19 | `int64(x * 1000)`: truncates | `2.01` → `2.01 * 1000 = 2009.9999999999998` → 2009 |
//! | ≥ 2.20 | `fmt.Sprintf("%.3f", x)`: rounds | `2.01` → 2010 |
//!
//! So the plain float of a non-integer threshold such as `2.01` is a target of 2.009 under
//! KEDA 2.19 and of 2.010 under 2.20, and `3 × 2.01` a value of 6.029 and 6.030: the HPA
//! computes `ceil(6.029 / 2.009) = 4` replicas under 2.19 where 3 were meant.
//! [`keda_float`] sends instead the smallest float whose product with 1000 is not below the
//! intended integer milli value: truncation and rounding then agree.

/// The float to send for `milli` thousandths (`milli >= 0`): both KEDA conversions
/// ([`keda_milli_v2_19`], [`keda_milli_v2_20`]) read exactly `milli` from it.
pub fn keda_float(milli: i64) -> f64 {
    let milli = milli.max(0) as f64;
    let x = milli / 1000.0;
    // `x` is the float nearest `milli / 1000`; when it lies below, `x * 1000` may round below
    // `milli` and truncation would lose a milli. The next float up lies above `milli / 1000`
    // (within one ulp: `%.3f` still rounds to `milli`), and its product is not below `milli`.
    if x * 1000.0 < milli { x.next_up() } else { x }
}

/// The milli value of `x` in whole thousandths, rounded: the amount [`keda_float`] is given
/// for a threshold or a replica count times a threshold.
pub fn to_milli(x: f64) -> i64 {
    (x * 1000.0).round() as i64
}

/// KEDA ≤ 2.19's milli value of `x`: `int64(x * 1000)` (truncation; NaN reads as 0 here).
pub fn keda_milli_v2_19(x: f64) -> i64 {
    (x * 1000.0) as i64
}

/// KEDA ≥ 2.20's milli value of `x`: `%.3f` (rounding); NaN, infinities and negative values
/// read as 0.
pub fn keda_milli_v2_20(x: f64) -> i64 {
    if !x.is_finite() || x < 0.0 {
        return 0;
    }
    let text = format!("{x:.3}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, "0"));
    int.parse::<i64>()
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
        .saturating_add(frac.parse::<i64>().unwrap_or(0))
}

/// The HPA's `AverageValue` replicas for a value and a target as KEDA converted them:
/// `ceil(value_milli / target_milli)`.
pub fn hpa_replicas(value_milli: i64, target_milli: i64) -> i64 {
    if target_milli <= 0 {
        return 0;
    }
    (value_milli + target_milli - 1) / target_milli
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_floats_of_a_non_integer_threshold_are_off_by_one_under_keda_2_19() {
        // What the server sent before: the threshold and replicas × threshold as plain floats.
        let (target, value) = (2.01, 3.0 * 2.01);
        assert_eq!(
            (keda_milli_v2_19(target), keda_milli_v2_19(value)),
            (2009, 6029)
        );
        assert_eq!(
            hpa_replicas(keda_milli_v2_19(value), keda_milli_v2_19(target)),
            4
        );
        assert_eq!(
            hpa_replicas(keda_milli_v2_20(value), keda_milli_v2_20(target)),
            3
        );
    }

    #[test]
    fn keda_floats_read_the_same_under_truncation_and_rounding() {
        for threshold in [
            2.01, 0.001, 0.333, 0.1, 0.7, 1.1, 2.3, 12.6, 4.35, 120.0, 999.999,
        ] {
            let t = to_milli(threshold);
            let target = keda_float(t);
            assert_eq!(keda_milli_v2_19(target), t, "target {threshold}");
            assert_eq!(keda_milli_v2_20(target), t, "target {threshold}");
            for replicas in 0..=1_000 {
                let value = keda_float(replicas * t);
                for read in [keda_milli_v2_19, keda_milli_v2_20] {
                    assert_eq!(
                        hpa_replicas(read(value), read(target)),
                        replicas,
                        "{replicas} × {threshold}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn every_milli_value_reads_back(milli in 0i64..1_000_000_000_000) {
            let x = keda_float(milli);
            proptest::prop_assert_eq!(keda_milli_v2_19(x), milli);
            proptest::prop_assert_eq!(keda_milli_v2_20(x), milli);
        }
    }
}
