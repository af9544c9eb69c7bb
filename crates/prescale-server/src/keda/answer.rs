//! What KEDA is told about a ScaledObject: its identity ([`ObjectKey`]), the metric spec
//! ([`MetricTarget`]) and the latest decision in KEDA's terms ([`Answer`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::keda::metadata::Settings;

/// A ScaledObject's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What KEDA is told for a ScaledObject: the latest decision, in KEDA's terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Answer {
    /// Replicas the HPA should arrive at.
    pub replicas: u32,
    /// `IsActive`.
    pub active: bool,
    /// `metricValueFloat`: `replicas × target` (the target at milli precision), sent as a
    /// float KEDA reads exactly whether it truncates (≤ 2.19) or rounds (≥ 2.20), so that the
    /// HPA's `ceil(value / target)` is exactly `replicas` (see
    /// [`prescale_policy::quantity`]).
    pub metric_value: f64,
    /// `metricValue` (deprecated int64): `replicas × targetSize`.
    pub metric_value_int: i64,
    /// When the decision was made (on the decision grid).
    pub decided_at: DateTime<Utc>,
}

impl Answer {
    /// The answer for `replicas` and `active` under `settings`, decided at `at`.
    pub fn new(settings: &Settings, replicas: u32, active: bool, at: DateTime<Utc>) -> Self {
        Self {
            replicas,
            active,
            metric_value: settings.metric_value(replicas),
            metric_value_int: i64::from(replicas).saturating_mul(settings.target_int()),
            decided_at: at,
        }
    }
}

/// The metric spec KEDA is given: name and target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricTarget {
    /// `metricName`.
    pub metric_name: String,
    /// `targetSizeFloat`: the threshold at milli precision (a float every KEDA version reads
    /// exactly).
    pub target: f64,
    /// `targetSize` (deprecated int64).
    pub target_int: i64,
}

impl MetricTarget {
    /// The spec of `settings`.
    pub fn of(settings: &Settings) -> Self {
        Self {
            metric_name: settings.metric_name.clone(),
            target: settings.target(),
            target_int: settings.target_int(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn md(threshold: &str) -> HashMap<String, String> {
        [
            ("serverAddress", "http://prom:9090"),
            ("query", "up"),
            ("threshold", threshold),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_non_integer_threshold_gives_exact_replicas_under_keda_2_19_and_2_20() {
        use prescale_policy::quantity::{hpa_replicas, keda_milli_v2_19, keda_milli_v2_20};
        for threshold in ["2.01", "0.7", "4.35", "0.001", "120"] {
            let s = Settings::from_metadata(&md(threshold)).unwrap();
            let target = MetricTarget::of(&s).target;
            for replicas in 0..=200 {
                let a = Answer::new(&s, replicas, true, DateTime::from_timestamp(0, 0).unwrap());
                // KEDA ≤ 2.19 truncates the floats to milli values, 2.20 rounds them.
                for read in [keda_milli_v2_19, keda_milli_v2_20] {
                    assert_eq!(
                        hpa_replicas(read(a.metric_value), read(target)),
                        i64::from(replicas),
                        "{replicas} replicas at threshold {threshold}"
                    );
                }
            }
        }
    }

    #[test]
    fn answers_give_hpa_exact_replicas_at_milli_precision() {
        let s = Settings::from_metadata(&md("0.33333")).unwrap();
        let a = Answer::new(&s, 7, true, DateTime::from_timestamp(0, 0).unwrap());
        // KEDA sends milli quantities: 7 × 0.333 = 2.331 → ceil(2.331 / 0.333) = 7.
        assert_eq!(a.metric_value, 2.331);
        assert_eq!(
            (a.metric_value * 1000.0).round() / (s.target() * 1000.0),
            7.0
        );
        assert_eq!(a.metric_value_int, 7);
    }
}
