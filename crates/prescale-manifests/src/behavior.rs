//! The HPA `behavior` of a service, spelled as in Kubernetes `autoscaling/v2`, checked with
//! Kubernetes' ranges, filled with the Kubernetes defaults of prescale's policy engine
//! ([`prescale_policy::hpa::Rule`]) and written into
//! `advanced.horizontalPodAutoscalerConfig.behavior`.

use prescale_policy::hpa::{RatePolicy, Rule, SelectPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// HPA scaling behavior: rules per direction; an omitted direction or field takes the
/// Kubernetes default (scale-up: no stabilization, 4 pods or 100 % per 15 s; scale-down: 300 s
/// stabilization, 100 % per 15 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaBehavior {
    /// Rules for adding pods.
    #[serde(default)]
    pub scale_up: Option<HpaRules>,
    /// Rules for removing pods.
    #[serde(default)]
    pub scale_down: Option<HpaRules>,
}

/// Scaling rules of one direction (`HPAScalingRules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaRules {
    /// Seconds of past recommendations considered, in [0, 3600].
    #[serde(default)]
    pub stabilization_window_seconds: Option<i64>,
    /// `Max` (default), `Min` or `Disabled`.
    #[serde(default)]
    pub select_policy: Option<HpaSelectPolicy>,
    /// Rate limits.
    #[serde(default)]
    pub policies: Option<Vec<HpaPolicy>>,
    /// Tolerance of the metric ratio (e.g. 0.05; Kubernetes ≥ 1.33, default 0.1).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// How several policies combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HpaSelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One rate limit (`HPAScalingPolicy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaPolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type")]
    pub kind: HpaPolicyType,
    /// Pods, or percent of the current replicas, per period (> 0).
    pub value: u32,
    /// The period in seconds, in [1, 1800].
    pub period_seconds: i64,
}

/// The unit of a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HpaPolicyType {
    /// A number of pods.
    Pods,
    /// A percentage of the current replicas.
    Percent,
}

impl HpaBehavior {
    /// The behavior the HPA applies: omitted parts take the Kubernetes defaults; the
    /// tolerance is scale-up's, else scale-down's, else 0.1.
    pub fn to_behavior(&self) -> prescale_policy::Behavior {
        let d = prescale_policy::Behavior::default();
        let rule =
            |r: Option<&HpaRules>, default: Rule| r.map_or(default.clone(), |r| r.to_rule(default));
        prescale_policy::Behavior {
            scale_up: rule(self.scale_up.as_ref(), d.scale_up),
            scale_down: rule(self.scale_down.as_ref(), d.scale_down),
            tolerance: self
                .scale_up
                .as_ref()
                .and_then(|r| r.tolerance)
                .or_else(|| self.scale_down.as_ref().and_then(|r| r.tolerance))
                .unwrap_or(d.tolerance),
        }
    }
}

impl HpaRules {
    /// The rule with the defaults of its direction filled in, in the policy engine's form.
    pub fn to_rule(&self, default: Rule) -> Rule {
        Rule {
            stabilization_secs: self
                .stabilization_window_seconds
                .unwrap_or(default.stabilization_secs),
            policies: self.policies.as_ref().map_or(default.policies, |ps| {
                ps.iter()
                    .map(|p| match p.kind {
                        HpaPolicyType::Pods => RatePolicy::Pods {
                            value: p.value,
                            period_secs: p.period_seconds,
                        },
                        HpaPolicyType::Percent => RatePolicy::Percent {
                            value: p.value,
                            period_secs: p.period_seconds,
                        },
                    })
                    .collect()
            }),
            select: match self.select_policy {
                None => default.select,
                Some(HpaSelectPolicy::Max) => SelectPolicy::Max,
                Some(HpaSelectPolicy::Min) => SelectPolicy::Min,
                Some(HpaSelectPolicy::Disabled) => SelectPolicy::Disabled,
            },
        }
    }

    /// Kubernetes' ranges; the failing field (relative to the rules) and why.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if let Some(w) = self.stabilization_window_seconds
            && !(0..=3600).contains(&w)
        {
            return Err((
                "stabilizationWindowSeconds".into(),
                format!("must be in [0, 3600], got {w}"),
            ));
        }
        if let Some(t) = self.tolerance
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(("tolerance".into(), "must be >= 0".into()));
        }
        for (i, p) in self.policies.iter().flatten().enumerate() {
            if p.value == 0 {
                return Err((format!("policies[{i}].value"), "must be > 0".into()));
            }
            if !(1..=1800).contains(&p.period_seconds) {
                return Err((
                    format!("policies[{i}].periodSeconds"),
                    format!("must be in [1, 1800], got {}", p.period_seconds),
                ));
            }
        }
        if self.policies.as_ref().is_some_and(Vec::is_empty) {
            return Err(("policies".into(), "must list at least one policy".into()));
        }
        Ok(())
    }
}

/// `behavior` as the HPA spells it, both directions written out with their defaults.
pub(crate) fn to_hpa(b: &HpaBehavior) -> Value {
    let direction = |r: Option<&HpaRules>, default: Rule| {
        let rules = r.cloned().unwrap_or(HpaRules {
            stabilization_window_seconds: None,
            select_policy: None,
            policies: None,
            tolerance: None,
        });
        rule(&rules.to_rule(default), rules.tolerance)
    };
    json!({
        "scaleUp": direction(b.scale_up.as_ref(), Rule::default_scale_up()),
        "scaleDown": direction(b.scale_down.as_ref(), Rule::default_scale_down()),
    })
}

fn rule(r: &Rule, tolerance: Option<f64>) -> Value {
    let policies: Vec<Value> = r
        .policies
        .iter()
        .map(|p| match *p {
            RatePolicy::Pods { value, period_secs } => {
                json!({"type": "Pods", "value": value, "periodSeconds": period_secs})
            }
            RatePolicy::Percent { value, period_secs } => {
                json!({"type": "Percent", "value": value, "periodSeconds": period_secs})
            }
        })
        .collect();
    let select = match r.select {
        SelectPolicy::Max => "Max",
        SelectPolicy::Min => "Min",
        SelectPolicy::Disabled => "Disabled",
    };
    let mut v = json!({
        "stabilizationWindowSeconds": r.stabilization_secs,
        "selectPolicy": select,
        "policies": policies,
    });
    if let (Some(t), Some(obj)) = (tolerance, v.as_object_mut()) {
        obj.insert("tolerance".into(), json!(format!("{t}")));
    }
    v
}
