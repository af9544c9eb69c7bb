//! Text helpers: HTML escaping and human-readable numbers.

/// Escapes text for HTML element content and double- or single-quoted attribute values (the
/// report's and the server's operators' pages alike).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// What a value that is not a number shows.
pub(crate) const NOT_A_NUMBER: &str = "–";

/// `value` with `decimals` decimals and thousands separators (`12,345.67`); `–` if not finite.
pub(crate) fn grouped(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return NOT_A_NUMBER.to_owned();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(text.len() + text.len() / 3 + 1);
    let negative = value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    if negative {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// An integer count with thousands separators.
pub(crate) fn count(value: u64) -> String {
    // Exact for every count a backtest produces (below 2^53).
    grouped(value as f64, 0)
}

/// A short number, for chart axes: `0`, `2.5`, `750`, `5k`, `12.5k`, `3M`; `–` if not finite.
pub(crate) fn axis_number(value: f64) -> String {
    if !value.is_finite() {
        return NOT_A_NUMBER.to_owned();
    }
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let decimals = if scaled.abs() >= 100.0 || scaled.fract() == 0.0 {
        0
    } else {
        2
    };
    let text = format!("{scaled:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    let text = if text == "-0" { "0".to_owned() } else { text };
    format!("{text}{suffix}")
}

/// A duration in seconds as `30 s`, `5 min`, `2 h` or `1.5 d` (the largest unit that fits).
pub(crate) fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return NOT_A_NUMBER.to_owned();
    }
    let (value, unit) = if secs.abs() >= 86_400.0 {
        (secs / 86_400.0, "d")
    } else if secs.abs() >= 3_600.0 {
        (secs / 3_600.0, "h")
    } else if secs.abs() >= 60.0 {
        (secs / 60.0, "min")
    } else {
        (secs, "s")
    };
    format!("{} {unit}", axis_number(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"a<b>&c"d'e"#), "a&lt;b&gt;&amp;c&quot;d&#39;e");
        assert_eq!(escape("plain.csv"), "plain.csv");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0.0, 2), "0.00");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(1234.5, 1), "1,234.5");
        assert_eq!(grouped(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(grouped(-1234.0, 0), "-1,234");
        assert_eq!(grouped(-0.001, 1), "0.0");
        assert_eq!(grouped(f64::NAN, 1), NOT_A_NUMBER);
        assert_eq!(grouped(f64::INFINITY, 1), NOT_A_NUMBER);
        assert_eq!(count(12_345), "12,345");
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(axis_number(0.0), "0");
        assert_eq!(axis_number(2.5), "2.5");
        assert_eq!(axis_number(0.30000000000000004), "0.3");
        assert_eq!(axis_number(750.0), "750");
        assert_eq!(axis_number(5_000.0), "5k");
        assert_eq!(axis_number(1_200.0), "1.2k");
        assert_eq!(axis_number(12_500.0), "12.5k");
        assert_eq!(axis_number(3_000_000.0), "3M");
        assert_eq!(axis_number(f64::NAN), NOT_A_NUMBER);
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(30.0), "30 s");
        assert_eq!(duration(60.0), "1 min");
        assert_eq!(duration(90.0), "1.5 min");
        assert_eq!(duration(7_200.0), "2 h");
        assert_eq!(duration(86_400.0 * 30.0), "30 d");
    }
}
