//! ScaledObject names: Kubernetes names, checked before anything is registered under them.

use super::RegisterError;

/// Checks a ScaledObject's namespace (a DNS-1123 label) and name (a DNS-1123 subdomain).
pub fn check_names(namespace: &str, name: &str) -> Result<(), RegisterError> {
    check_name("namespace", namespace, false)?;
    check_name("name", name, true)
}

/// Checks a Kubernetes name: a namespace is a DNS-1123 label (at most 63 characters), a
/// ScaledObject's name a DNS-1123 subdomain (at most 253): lower-case letters, digits and `-`
/// (and `.` between the labels of a subdomain), starting and ending with a letter or digit.
/// (Store keys are `{namespace}/{name}`: neither may hold a `/`.)
fn check_name(field: &'static str, value: &str, subdomain: bool) -> Result<(), RegisterError> {
    let max = if subdomain { 253 } else { 63 };
    let bad = |reason: String| RegisterError::BadName { field, reason };
    if value.len() > max {
        return Err(bad(format!("{} characters; at most {max}", value.len())));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = if subdomain {
        value.split('.').all(label_ok)
    } else {
        label_ok(value)
    };
    if ok {
        Ok(())
    } else {
        let what = if subdomain {
            "a DNS-1123 subdomain"
        } else {
            "a DNS-1123 label"
        };
        Err(bad(format!(
            "`{}` is not a Kubernetes name ({what}: lower-case letters, digits, `-`{}, starting and ending with a letter or digit)",
            value.escape_debug(),
            if subdomain { " and `.`" } else { "" }
        )))
    }
}
