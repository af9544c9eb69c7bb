//! Small statistics shared by the analysis modules.

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

/// A shared trace for tests, by file name; `None` (with a note) when `../shared` is absent.
#[cfg(test)]
pub(crate) fn shared_trace(name: &str) -> Option<prescale_core::Series> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/traces")
        .join(name);
    let Ok(file) = std::fs::File::open(&path) else {
        println!("skipping: {} is absent", path.display());
        return None;
    };
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
}
