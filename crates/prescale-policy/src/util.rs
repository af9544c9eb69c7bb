//! Small helpers shared by the modules: overflow-free time offsets, replica rounding and number
//! formatting for one-line explanations.

use chrono::{DateTime, Duration, Utc};

/// `t + secs`, saturating at the ends of the representable time range.
pub(crate) fn plus_secs(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    match Duration::try_seconds(secs).and_then(|d| t.checked_add_signed(d)) {
        Some(later) => later,
        None if secs >= 0 => DateTime::<Utc>::MAX_UTC,
        None => DateTime::<Utc>::MIN_UTC,
    }
}

/// `t - secs`, saturating at the ends of the representable time range.
pub(crate) fn minus_secs(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    plus_secs(t, secs.checked_neg().unwrap_or(i64::MAX))
}

/// Whole seconds from `from` to `to` (negative when `to` is earlier).
pub(crate) fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from).num_seconds()
}

/// The replicas needed for `x` replica-equivalents: `ceil(x)`, with a relative guard of 1e-6
/// against floating-point noise (Kubernetes computes on integer milli-units, where 60 / 5 is
/// exactly 12; in `f64`, `50.0 * 1.2 / 5.0` is 12.000000000000002). The forecast of the same
/// demand in another unit (per second instead of per minute) can differ in its eighth digit
/// after thousands of filter steps through idle nights; a millionth of a replica is far below
/// the milli-unit resolution KEDA and the HPA work at. NaN and values at or below zero give 0;
/// values beyond `u32::MAX` saturate.
pub(crate) fn ceil_replicas(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x.is_infinite() {
        return u32::MAX;
    }
    let guarded = x - x * 1e-6;
    // `as` saturates (and +inf becomes u32::MAX).
    guarded.ceil() as u32
}

/// A number for a one-line explanation: no decimals from 100, one from 10, two below, with
/// trailing zeros removed.
pub(crate) fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let s = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `HH:MM` (UTC) of an instant, with seconds when they are not zero.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    if t.timestamp().rem_euclid(60) == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_saturate() {
        let t = DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(plus_secs(t, 60).timestamp(), 1_060);
        assert_eq!(minus_secs(t, 60).timestamp(), 940);
        assert_eq!(plus_secs(t, i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(minus_secs(t, i64::MAX), DateTime::<Utc>::MIN_UTC);
        assert_eq!(minus_secs(t, i64::MIN), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            plus_secs(DateTime::<Utc>::MAX_UTC, 1),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(secs_between(t, plus_secs(t, 90)), 90);
    }

    #[test]
    fn ceil_guards_noise_and_saturates() {
        assert_eq!(ceil_replicas(50.0 * 1.2 / 5.0), 12);
        assert_eq!(ceil_replicas(12.001), 13);
        assert_eq!(ceil_replicas(1e-7), 1);
        assert_eq!(ceil_replicas(0.0), 0);
        assert_eq!(ceil_replicas(-3.0), 0);
        assert_eq!(ceil_replicas(f64::NAN), 0);
        assert_eq!(ceil_replicas(f64::INFINITY), u32::MAX);
        assert_eq!(ceil_replicas(1e30), u32::MAX);
    }

    #[test]
    fn numbers_and_times_are_short() {
        assert_eq!(fmt_num(412.4), "412");
        assert_eq!(fmt_num(41.25), "41.2");
        assert_eq!(fmt_num(10.0), "10");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(0.126), "0.13");
        let t = DateTime::from_timestamp(36_180, 0).unwrap();
        assert_eq!(fmt_time(t), "10:03");
        assert_eq!(fmt_time(plus_secs(t, 5)), "10:03:05");
    }
}
