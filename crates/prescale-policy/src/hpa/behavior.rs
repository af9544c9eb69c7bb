//! HPA `behavior`: scaling rules per direction (stabilization window, rate policies, select
//! policy) and the tolerance, with the Kubernetes defaults.

use serde::{Deserialize, Serialize};

use super::{DEFAULT_DOWNSCALE_STABILIZATION_SECS, DEFAULT_TOLERANCE};

/// One rate policy of a scaling rule (`HPAScalingPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RatePolicy {
    /// At most `value` pods added (or removed) per `period_secs`.
    Pods {
        /// Pods per period.
        value: u32,
        /// The period, in seconds (> 0).
        period_secs: i64,
    },
    /// At most `value` percent of the replicas at the start of the period added (or removed)
    /// per `period_secs`.
    Percent {
        /// Percent per period.
        value: u32,
        /// The period, in seconds (> 0).
        period_secs: i64,
    },
}

impl RatePolicy {
    /// The policy's period in seconds.
    pub const fn period_secs(&self) -> i64 {
        match *self {
            Self::Pods { period_secs, .. } | Self::Percent { period_secs, .. } => period_secs,
        }
    }
}

/// How the limits of several policies combine (`selectPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// Scaling rules of one direction (`HPAScalingRules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stabilization window in seconds: scale-up uses the minimum recommendation of the
    /// window, scale-down the maximum.
    pub stabilization_secs: i64,
    /// Rate policies.
    pub policies: Vec<RatePolicy>,
    /// How the policies combine.
    pub select: SelectPolicy,
}

impl Rule {
    /// The Kubernetes default scale-up rule: no stabilization, at most 4 pods or 100 % per
    /// 15 s, whichever is more.
    pub fn default_scale_up() -> Self {
        Self {
            stabilization_secs: 0,
            policies: vec![
                RatePolicy::Pods {
                    value: 4,
                    period_secs: 15,
                },
                RatePolicy::Percent {
                    value: 100,
                    period_secs: 15,
                },
            ],
            select: SelectPolicy::Max,
        }
    }

    /// The Kubernetes default scale-down rule: 300 s stabilization, at most 100 % per 15 s.
    pub fn default_scale_down() -> Self {
        Self {
            stabilization_secs: DEFAULT_DOWNSCALE_STABILIZATION_SECS,
            policies: vec![RatePolicy::Percent {
                value: 100,
                period_secs: 15,
            }],
            select: SelectPolicy::Max,
        }
    }

    pub(super) fn longest_period(&self) -> i64 {
        self.policies
            .iter()
            .map(RatePolicy::period_secs)
            .max()
            .unwrap_or(0)
    }
}

/// An HPA `behavior`: scaling rules per direction and the tolerance.
///
/// Deserialization fills what is left out with the Kubernetes defaults of that direction
/// (`GenerateHPAScaleUpRules` / `GenerateHPAScaleDownRules`); unknown fields are rejected.
///
/// ```text
/// tolerance = 0.1
/// [scale_down]
/// stabilization_secs = 600
/// policies = [{ type = "pods", value = 2, period_secs = 60 }]
/// select = "min"              # max (default), min or disabled
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "BehaviorConfig")]
pub struct Behavior {
    /// Scale-up rules.
    pub scale_up: Rule,
    /// Scale-down rules.
    pub scale_down: Rule,
    /// Tolerance band of the metric ratio (0.1 = ±10 %), used with
    /// [`average_value_replicas`](super::average_value_replicas).
    pub tolerance: f64,
}

impl Default for Behavior {
    /// The Kubernetes defaults: scale-up 4 pods or 100 % per 15 s (max), no stabilization;
    /// scale-down 100 % per 15 s after a 300 s stabilization; tolerance 0.1.
    fn default() -> Self {
        Self {
            scale_up: Rule::default_scale_up(),
            scale_down: Rule::default_scale_down(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// The configuration form of a [`Behavior`]: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BehaviorConfig {
    scale_up: Option<RuleConfig>,
    scale_down: Option<RuleConfig>,
    tolerance: Option<f64>,
}

/// The configuration form of a [`Rule`]: every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    stabilization_secs: Option<i64>,
    policies: Option<Vec<RatePolicy>>,
    select: Option<SelectPolicy>,
}

impl RuleConfig {
    fn fill(self, default: Rule) -> Rule {
        Rule {
            stabilization_secs: self
                .stabilization_secs
                .unwrap_or(default.stabilization_secs),
            policies: self.policies.unwrap_or(default.policies),
            select: self.select.unwrap_or(default.select),
        }
    }
}

impl From<BehaviorConfig> for Behavior {
    fn from(c: BehaviorConfig) -> Self {
        let up = Rule::default_scale_up();
        let down = Rule::default_scale_down();
        Self {
            scale_up: c
                .scale_up
                .map_or_else(|| up.clone(), |r| r.fill(up.clone())),
            scale_down: c
                .scale_down
                .map_or_else(|| down.clone(), |r| r.fill(down.clone())),
            tolerance: c.tolerance.unwrap_or(DEFAULT_TOLERANCE),
        }
    }
}

impl Behavior {
    /// Checks the ranges Kubernetes' validation enforces: stabilization windows in
    /// `[0, 3600]` s, policy periods in `(0, 1800]` s, policy values above zero, a tolerance
    /// that is a finite number `>= 0`. Returns the offending field and why.
    pub fn validate(&self) -> Result<(), crate::PolicyError> {
        let bad = |field, reason: String| Err(crate::PolicyError::InvalidField { field, reason });
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return bad(
                "behavior.tolerance",
                format!("must be a finite number >= 0, got {}", self.tolerance),
            );
        }
        for (field, rule) in [
            ("behavior.scale_up", &self.scale_up),
            ("behavior.scale_down", &self.scale_down),
        ] {
            if !(0..=3600).contains(&rule.stabilization_secs) {
                return bad(
                    field,
                    format!(
                        "stabilization_secs must be in [0, 3600], got {}",
                        rule.stabilization_secs
                    ),
                );
            }
            for p in &rule.policies {
                let value = match *p {
                    RatePolicy::Pods { value, .. } | RatePolicy::Percent { value, .. } => value,
                };
                if value == 0 || !(1..=1800).contains(&p.period_secs()) {
                    return bad(
                        field,
                        format!("policy {p:?} needs value > 0 and period_secs in [1, 1800]"),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behavior_deserializes_with_direction_defaults() {
        let b: Behavior = serde_json::from_str("{}").unwrap();
        assert_eq!(b, Behavior::default());
        let b: Behavior = serde_json::from_str(
            r#"{"scale_down": {"stabilization_secs": 600,
                "policies": [{"type": "pods", "value": 2, "period_secs": 60}]},
                "tolerance": 0.05}"#,
        )
        .unwrap();
        assert_eq!(b.scale_down.stabilization_secs, 600);
        assert_eq!(b.scale_down.select, SelectPolicy::Max);
        assert_eq!(
            b.scale_down.policies,
            vec![RatePolicy::Pods {
                value: 2,
                period_secs: 60
            }]
        );
        assert_eq!(b.scale_up, Rule::default_scale_up());
        assert_eq!(b.tolerance, 0.05);
        // Round trip of the full form.
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Behavior>(&json).unwrap(), b);
        for bad in [
            r#"{"scale_upp": {}}"#,
            r#"{"scale_up": {"window": 3}}"#,
            r#"{"scale_up": {"policies": [{"type": "pods", "value": 1, "period": 5}]}}"#,
            r#"{"scale_up": {"select": "maximum"}}"#,
        ] {
            assert!(serde_json::from_str::<Behavior>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(Behavior::default().validate().is_ok());
        let b = Behavior {
            tolerance: -0.1,
            ..Behavior::default()
        };
        assert!(
            b.validate()
                .unwrap_err()
                .to_string()
                .contains("behavior.tolerance")
        );
        let mut b = Behavior::default();
        b.scale_down.stabilization_secs = 7200;
        assert!(
            b.validate()
                .unwrap_err()
                .to_string()
                .contains("behavior.scale_down")
        );
        let mut b = Behavior::default();
        b.scale_up.policies.push(RatePolicy::Pods {
            value: 0,
            period_secs: 15,
        });
        assert!(
            b.validate()
                .unwrap_err()
                .to_string()
                .contains("behavior.scale_up")
        );
    }
}
