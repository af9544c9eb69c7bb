//! `timestamp,value` CSV input.

use std::io::Read;

use chrono::DateTime;

use super::{InputError, InputErrorKind, ParseOptions, Place, RawPoint, check_value, regularize};
use crate::series::Series;

/// Parses a `timestamp,value` CSV (header required, RFC3339 timestamps, one row per step) into a
/// regular [`Series`]. `source_name` labels errors (usually the file name).
///
/// See the [module documentation](super) for the checks and the gap policy.
pub fn parse_csv(
    reader: impl Read,
    source_name: &str,
    opts: &ParseOptions,
) -> Result<Series, InputError> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(reader);
    let mut records = rdr.records();
    let header = match records.next() {
        None => {
            return Err(InputError::new(
                source_name,
                Place::Input,
                InputErrorKind::Empty,
                "the file is empty: expected a `timestamp,value` header and data rows",
            ));
        }
        Some(r) => r.map_err(|e| csv_error(source_name, e))?,
    };
    let header_ok = header.len() == 2
        && header[0]
            .trim_start_matches('\u{feff}')
            .eq_ignore_ascii_case("timestamp")
        && header[1].eq_ignore_ascii_case("value");
    if !header_ok {
        return Err(InputError::new(
            source_name,
            Place::Line(line_of(&header, 1)),
            InputErrorKind::MissingHeader,
            format!(
                "expected the header `timestamp,value`, found `{}`",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let mut points = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_error(source_name, e))?;
        let line = line_of(&rec, 0);
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // blank line
        }
        let place = Place::Line(line);
        if rec.len() != 2 {
            return Err(InputError::new(
                source_name,
                place,
                InputErrorKind::Malformed,
                format!("expected 2 fields (timestamp,value), found {}", rec.len()),
            ));
        }
        let ts = DateTime::parse_from_rfc3339(&rec[0]).map_err(|e| {
            InputError::new(
                source_name,
                place.clone(),
                InputErrorKind::BadTimestamp,
                format!(
                    "cannot parse timestamp `{}` as RFC3339 (e.g. 2024-01-01T00:00:00Z): {e}",
                    &rec[0]
                ),
            )
        })?;
        let value: f64 = rec[1].parse().map_err(|_| {
            InputError::new(
                source_name,
                place.clone(),
                InputErrorKind::BadValue,
                format!("cannot parse value `{}` as a number", &rec[1]),
            )
        })?;
        let value = check_value(source_name, &place, value)?;
        points.push(RawPoint {
            millis: ts.timestamp_millis(),
            value,
            place,
        });
    }
    if points.is_empty() {
        return Err(InputError::new(
            source_name,
            Place::Input,
            InputErrorKind::NoData,
            "the file has a header but no data rows",
        ));
    }
    regularize(source_name, points, opts)
}

fn line_of(rec: &::csv::StringRecord, default: u64) -> u64 {
    rec.position().map(|p| p.line()).unwrap_or(default)
}

fn csv_error(source: &str, e: ::csv::Error) -> InputError {
    let place = e
        .position()
        .map(|p| Place::Line(p.line()))
        .unwrap_or(Place::Input);
    let kind = if e.is_io_error() {
        InputErrorKind::Io
    } else {
        InputErrorKind::Malformed
    };
    InputError::new(source, place, kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::ValueKind;

    fn parse(text: &str) -> Result<Series, InputError> {
        parse_csv(text.as_bytes(), "t.csv", &ParseOptions::default())
    }

    const HEAD: &str = "timestamp,value\n";

    #[test]
    fn parses_a_regular_trace() {
        let s = parse(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:05:00Z,2.5\n2024-01-01T00:10:00Z,0\n"
        ))
        .unwrap();
        assert_eq!(s.step_secs(), 300);
        assert_eq!(s.values(), &[1.0, 2.5, 0.0]);
        assert!(s.filled().is_empty());
        assert_eq!(s.start().to_rfc3339(), "2024-01-01T00:00:00+00:00");
    }

    #[test]
    fn fills_count_gaps_with_zero_and_gauge_gaps_by_interpolation() {
        let text = format!(
            "{HEAD}2024-01-01T00:00:00Z,10\n2024-01-01T00:01:00Z,10\n\
             2024-01-01T00:04:00Z,40\n2024-01-01T00:05:00Z,40\n"
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.values(), &[10.0, 10.0, 0.0, 0.0, 40.0, 40.0]);
        assert_eq!(s.filled(), &[2, 3]);
        let opts = ParseOptions {
            kind: ValueKind::Gauge,
            ..Default::default()
        };
        let g = parse_csv(text.as_bytes(), "g.csv", &opts).unwrap();
        assert_eq!(g.values(), &[10.0, 10.0, 20.0, 30.0, 40.0, 40.0]);
    }

    #[test]
    fn tolerates_jitter_and_snaps_to_grid() {
        let s = parse(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:03Z,1\n2024-01-01T00:02:00Z,1\n"
        ))
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.timestamp(1).to_rfc3339(), "2024-01-01T00:01:00+00:00");
    }

    fn err(text: &str) -> InputError {
        parse(text).unwrap_err()
    }

    #[test]
    fn rejects_each_kind_of_bad_file_naming_the_line() {
        let e = err("");
        assert_eq!(e.kind, InputErrorKind::Empty);
        assert!(e.to_string().starts_with("t.csv: the file is empty"));

        let e = err("2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n");
        assert_eq!(e.kind, InputErrorKind::MissingHeader);
        assert_eq!(e.place, Place::Line(1));

        let e = err(HEAD);
        assert_eq!(e.kind, InputErrorKind::NoData);

        let e = err(&format!("{HEAD}2024-01-01T00:00:00Z,1\nyesterday,2\n"));
        assert_eq!(e.kind, InputErrorKind::BadTimestamp);
        assert!(
            e.to_string()
                .starts_with("t.csv:3: cannot parse timestamp `yesterday`"),
            "{e}"
        );

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,NaN\n"
        ));
        assert_eq!(
            (e.kind.clone(), e.place.clone()),
            (InputErrorKind::BadValue, Place::Line(3))
        );
        assert!(e.to_string().contains("NaN"));

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,inf\n2024-01-01T00:01:00Z,1\n"
        ));
        assert_eq!(e.kind, InputErrorKind::BadValue);
        assert!(e.to_string().contains("finite"), "{e}");

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,-3\n"
        ));
        assert!(e.to_string().contains("negative"), "{e}");

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,abc\n"
        ));
        assert!(e.to_string().contains("`abc`"), "{e}");

        let e = err(&format!(
            "{HEAD}2024-01-01T00:01:00Z,1\n2024-01-01T00:02:00Z,1\n2024-01-01T00:02:00Z,1\n"
        ));
        assert_eq!(
            (e.kind.clone(), e.place.clone()),
            (InputErrorKind::NonIncreasing, Place::Line(4))
        );

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n\
             2024-01-01T00:02:00Z,1\n2024-01-01T00:03:30Z,1\n"
        ));
        assert_eq!(
            (e.kind.clone(), e.place.clone()),
            (InputErrorKind::Irregular, Place::Line(5))
        );

        let e = err(&format!(
            "{HEAD}2024-01-01T00:00:00Z,1,7\n2024-01-01T00:01:00Z,1\n"
        ));
        assert_eq!(
            (e.kind.clone(), e.place.clone()),
            (InputErrorKind::Malformed, Place::Line(2))
        );

        let e = err(&format!("{HEAD}2024-01-01T00:00:00Z,1\n"));
        assert_eq!(e.kind, InputErrorKind::NoData);
    }

    #[test]
    fn rejects_overlong_gaps() {
        let opts = ParseOptions {
            max_gap_steps: 2,
            ..Default::default()
        };
        let text = format!(
            "{HEAD}2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n2024-01-01T00:05:00Z,1\n\
             2024-01-01T00:06:00Z,1\n"
        );
        let e = parse_csv(text.as_bytes(), "t.csv", &opts).unwrap_err();
        assert_eq!(e.kind, InputErrorKind::GapTooLong);
    }

    proptest::proptest! {
        /// Any regular series written as CSV parses back to the same values, whatever the gaps.
        #[test]
        fn round_trips_regular_series(
            values in proptest::collection::vec(0.0f64..1e6, 2..200),
            step in 1i64..3600,
            drop in proptest::collection::vec(proptest::bool::weighted(0.1), 200),
        ) {
            let mut text = String::from(HEAD);
            let t0 = 1_600_000_000i64;
            let n = values.len();
            for (i, v) in values.iter().enumerate() {
                // Drop at most one row in four (never the last), so the step stays inferable.
                if drop[i] && i % 4 == 2 && i + 1 < n { continue; }
                let ts = DateTime::from_timestamp(t0 + i as i64 * step, 0).unwrap();
                text.push_str(&format!("{},{v}\n", ts.to_rfc3339()));
            }
            let s = parse(&text).unwrap();
            proptest::prop_assert_eq!(s.step_secs(), step);
            proptest::prop_assert_eq!(s.len(), n);
            for (i, (&a, &b)) in s.values().iter().zip(&values).enumerate() {
                if s.filled().binary_search(&i).is_ok() {
                    proptest::prop_assert_eq!(a, 0.0);
                } else {
                    proptest::prop_assert_eq!(a, b);
                }
            }
        }

        /// Arbitrary text never panics the parser: it parses or returns an error.
        #[test]
        fn never_panics(text in ".{0,400}") {
            let _ = parse(&text);
            let _ = parse(&format!("{HEAD}{text}"));
        }
    }
}
