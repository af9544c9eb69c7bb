//! Several signals (queue depth, request rate, latency, GPU utilization, a forecast, ...) into
//! one replica count.
//!
//! Each [`Signal`] is a trigger with its own per-replica target. [`combine`] merges them one
//! of three ways:
//!
//! - [`Combine::Max`], KEDA's default: every trigger becomes an HPA metric, each proposes
//!   replicas with [`average_value_replicas`] and the HPA takes the largest proposal.
//! - [`Combine::Weighted`]: a weighted mean of the per-trigger needs `value / target`
//!   (normalized by the sum of the weights of the fresh signals), then the same tolerance band
//!   and `ceil`.
//! - [`Combine::Formula`]: KEDA `scalingModifiers`: the formula turns the trigger values into
//!   one composite metric with its own target, which the HPA scales on (`AverageValue`).
//!
//! Missing or stale signals follow the HPA's rule for invalid metrics
//! (`computeReplicasForMetrics`): they are left out; when all are, there is no proposal
//! ([`PolicyError::NoFreshSignal`]); when some are and the others propose fewer replicas than
//! now, the count is held (the HPA does not scale down on partial data). A formula sees them
//! as `nil` instead, as KEDA passes failed triggers to it.

use std::collections::HashMap;

use crate::PolicyError;
use crate::formula::Formula;
use crate::hpa::average_value_replicas;
use crate::util::fmt_num;

/// One trigger's current reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The trigger's name (unique among the signals; the variable name in a formula).
    pub name: String,
    /// The current value (summed over the target, like an external metric); `None` when the
    /// metric is missing.
    pub value: Option<f64>,
    /// The value one replica handles at target (KEDA `threshold`, the HPA `AverageValue`).
    pub target: f64,
    /// Whether the value is recent enough to act on; a stale value counts as missing.
    pub fresh: bool,
}

impl Signal {
    /// A fresh signal.
    pub fn new(name: impl Into<String>, value: f64, target: f64) -> Self {
        Self {
            name: name.into(),
            value: Some(value),
            target,
            fresh: true,
        }
    }

    /// The value if it can be acted on (present and fresh).
    pub fn usable(&self) -> Option<f64> {
        self.value.filter(|_| self.fresh)
    }
}

/// How signals combine.
#[derive(Debug, Clone, PartialEq)]
pub enum Combine {
    /// The largest per-trigger proposal (KEDA's default with several triggers).
    Max,
    /// A weighted mean of the per-trigger needs; signals without a weight get weight 0.
    Weighted(Vec<(String, f64)>),
    /// A composite metric computed by a formula over the trigger values, scaled on with its
    /// own per-replica `target` (KEDA `scalingModifiers.formula` and `.target`).
    Formula {
        /// The formula.
        formula: Formula,
        /// The composite metric one replica handles (`> 0`).
        target: f64,
    },
}

/// The outcome of [`combine`].
#[derive(Debug, Clone, PartialEq)]
pub struct Combined {
    /// The proposed replica count (before HPA stabilization and rate limits).
    pub replicas: u32,
    /// Each usable signal's own proposal, in input order.
    pub per_trigger: Vec<(String, u32)>,
    /// One line saying how the count was reached.
    pub explanation: String,
}

/// Combines `signals` into a replica proposal, `how`, from `current_replicas`, with the HPA
/// `tolerance` band (0.1 by default). See the [module documentation](self).
///
/// Errors: duplicate signal names, a target that is not a finite number above zero, a value
/// that is negative or not finite, weights that are negative, not finite, name an unknown
/// signal or sum to zero over the fresh signals, no fresh signal at all (except with a
/// formula), and formula errors (including a name that is not a signal).
///
/// ```
/// use prescale_policy::trigger::{combine, Combine, Signal};
///
/// let signals = [Signal::new("queue", 20.0, 5.0), Signal::new("rps", 30.0, 10.0)];
/// let out = combine(&signals, &Combine::Max, 2, 0.1).expect("valid signals");
/// assert_eq!(out.replicas, 4); // queue: ceil(20 / 5) = 4, rps: ceil(30 / 10) = 3
/// ```
pub fn combine(
    signals: &[Signal],
    how: &Combine,
    current_replicas: u32,
    tolerance: f64,
) -> Result<Combined, PolicyError> {
    check_signals(signals)?;
    let per_trigger: Vec<(String, u32)> = signals
        .iter()
        .filter_map(|s| {
            let v = s.usable()?;
            Some((
                s.name.clone(),
                average_value_replicas(current_replicas, v, s.target, tolerance),
            ))
        })
        .collect();
    let stale = signals.len() - per_trigger.len();
    if per_trigger.is_empty() && !matches!(how, Combine::Formula { .. }) {
        return Err(PolicyError::NoFreshSignal(signals.len()));
    }
    let (proposal, how_text) = match how {
        Combine::Max => {
            let (name, n) = per_trigger
                .iter()
                .max_by_key(|(_, n)| *n)
                .cloned()
                .unwrap_or_default();
            (
                n,
                format!(
                    "max of {} trigger(s), `{name}` needs {n}",
                    per_trigger.len()
                ),
            )
        }
        Combine::Weighted(weights) => weighted(signals, weights, current_replicas, tolerance)?,
        Combine::Formula { formula, target } => {
            composite(signals, formula, *target, current_replicas, tolerance)?
        }
    };
    let (replicas, explanation) =
        if stale > 0 && proposal < current_replicas && !matches!(how, Combine::Formula { .. }) {
            (
                current_replicas,
                format!(
                    "hold {current_replicas}: {how_text}, but {stale} signal(s) missing or stale \
                 (no scale-down on partial data)"
                ),
            )
        } else {
            (proposal, format!("{proposal} replicas: {how_text}"))
        };
    Ok(Combined {
        replicas,
        per_trigger,
        explanation,
    })
}

/// Unique names, usable targets and values.
fn check_signals(signals: &[Signal]) -> Result<(), PolicyError> {
    for (i, s) in signals.iter().enumerate() {
        if signals[..i].iter().any(|o| o.name == s.name) {
            return Err(PolicyError::DuplicateSignal(s.name.clone()));
        }
        let invalid = |reason: String| {
            Err(PolicyError::InvalidSignal {
                name: s.name.clone(),
                reason,
            })
        };
        if !(s.target.is_finite() && s.target > 0.0) {
            return invalid(format!(
                "target must be a finite number > 0, got {}",
                s.target
            ));
        }
        if let Some(v) = s.value
            && !(v.is_finite() && v >= 0.0)
        {
            return invalid(format!("value must be a finite number >= 0, got {v}"));
        }
    }
    Ok(())
}

/// The weighted mean of the needs `value / target` of the fresh signals.
fn weighted(
    signals: &[Signal],
    weights: &[(String, f64)],
    current: u32,
    tolerance: f64,
) -> Result<(u32, String), PolicyError> {
    for (name, w) in weights {
        if !signals.iter().any(|s| &s.name == name) {
            return Err(PolicyError::UnknownSignal(name.clone()));
        }
        if !(w.is_finite() && *w >= 0.0) {
            return Err(PolicyError::InvalidField {
                field: "weights",
                reason: format!("weight of `{name}` must be a finite number >= 0, got {w}"),
            });
        }
    }
    let weight_of = |name: &str| {
        weights
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, w)| *w)
            .sum::<f64>()
    };
    let (mut sum_w, mut score) = (0.0, 0.0);
    for s in signals {
        if let Some(v) = s.usable() {
            let w = weight_of(&s.name);
            sum_w += w;
            score += w * v / s.target;
        }
    }
    if sum_w <= 0.0 {
        return Err(PolicyError::InvalidField {
            field: "weights",
            reason: "the weights of the fresh signals sum to zero".into(),
        });
    }
    let score = score / sum_w;
    let n = average_value_replicas(current, score, 1.0, tolerance);
    Ok((n, format!("weighted need {} → {n}", fmt_num(score))))
}

/// The formula's composite metric, scaled on with its own target.
fn composite(
    signals: &[Signal],
    formula: &Formula,
    target: f64,
    current: u32,
    tolerance: f64,
) -> Result<(u32, String), PolicyError> {
    if !(target.is_finite() && target > 0.0) {
        return Err(PolicyError::InvalidField {
            field: "target",
            reason: format!("the formula's target must be a finite number > 0, got {target}"),
        });
    }
    let values: HashMap<String, Option<f64>> = signals
        .iter()
        .map(|s| (s.name.clone(), s.usable()))
        .collect();
    let value = formula.eval(&values)?;
    let n = average_value_replicas(current, value, target, tolerance);
    Ok((
        n,
        format!(
            "composite `{formula}` = {} at target {} → {n}",
            fmt_num(value),
            fmt_num(target)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stale(name: &str, target: f64) -> Signal {
        Signal {
            fresh: false,
            ..Signal::new(name, 1000.0, target)
        }
    }

    fn signals() -> Vec<Signal> {
        // queue: 20 items at 5 per replica → 4; rps: 30 at 10 per replica → 3.
        vec![
            Signal::new("queue", 20.0, 5.0),
            Signal::new("rps", 30.0, 10.0),
        ]
    }

    #[test]
    fn max_takes_the_largest_per_trigger_proposal() {
        let out = combine(&signals(), &Combine::Max, 1, 0.1).unwrap();
        assert_eq!(out.replicas, 4);
        assert_eq!(
            out.per_trigger,
            vec![("queue".into(), 4), ("rps".into(), 3)]
        );
        assert!(
            out.explanation.contains("`queue` needs 4"),
            "{}",
            out.explanation
        );
        // Tolerance per metric: at 4 replicas, queue 21 is ratio 1.05 → 4; rps 3 → 3.
        let mut s = signals();
        s[0].value = Some(21.0);
        assert_eq!(combine(&s, &Combine::Max, 4, 0.1).unwrap().replicas, 4);
        // Queue 24 at 4 replicas is ratio 1.2 → ceil(24 / 5) = 5.
        s[0].value = Some(24.0);
        assert_eq!(combine(&s, &Combine::Max, 4, 0.1).unwrap().replicas, 5);
    }

    #[test]
    fn weighted_mean_of_needs() {
        // (3 × 4 + 1 × 3) / 4 = 3.75 → ceil 4 from 2 replicas; within 10 % of 4 holds 4.
        let how = Combine::Weighted(vec![("queue".into(), 3.0), ("rps".into(), 1.0)]);
        let out = combine(&signals(), &how, 2, 0.1).unwrap();
        assert_eq!(out.replicas, 4);
        assert!(
            out.explanation.contains("weighted need 3.75"),
            "{}",
            out.explanation
        );
        assert_eq!(combine(&signals(), &how, 4, 0.1).unwrap().replicas, 4);
        // Equal weights: (4 + 3) / 2 = 3.5 → 4 from 1; at 3 replicas ratio 1.17 → 4.
        let even = Combine::Weighted(vec![("queue".into(), 1.0), ("rps".into(), 1.0)]);
        assert_eq!(combine(&signals(), &even, 3, 0.1).unwrap().replicas, 4);
        // A stale signal drops out of the weights: rps alone → 3.
        let s = vec![stale("queue", 5.0), Signal::new("rps", 30.0, 10.0)];
        assert_eq!(combine(&s, &how, 1, 0.1).unwrap().replicas, 3);
        // Only zero weights among the fresh signals.
        let zero = Combine::Weighted(vec![("queue".into(), 1.0)]);
        assert!(combine(&s, &zero, 1, 0.1).is_err());
    }

    #[test]
    fn formula_composite_with_its_own_target() {
        let how = Combine::Formula {
            formula: Formula::parse("max(queue / 5, rps / 10)").unwrap(),
            target: 1.0,
        };
        let out = combine(&signals(), &how, 1, 0.1).unwrap();
        assert_eq!(out.replicas, 4);
        assert!(
            out.explanation.contains("= 4 at target 1 → 4"),
            "{}",
            out.explanation
        );
        // (queue + rps) / 2 = 25 at target 10 → 3.
        let avg = Combine::Formula {
            formula: Formula::parse("(queue + rps) / 2").unwrap(),
            target: 10.0,
        };
        assert_eq!(combine(&signals(), &avg, 1, 0.1).unwrap().replicas, 3);
        // A stale trigger is nil: `?? 0` keeps the formula usable.
        let s = vec![stale("queue", 5.0), Signal::new("rps", 30.0, 10.0)];
        let coalesce = Combine::Formula {
            formula: Formula::parse("(queue ?? 0) + rps").unwrap(),
            target: 10.0,
        };
        assert_eq!(combine(&s, &coalesce, 5, 0.1).unwrap().replicas, 3);
        assert!(matches!(
            combine(&s, &avg, 5, 0.1),
            Err(PolicyError::Formula(
                crate::formula::FormulaError::Type { .. }
            ))
        ));
        let unknown = Combine::Formula {
            formula: Formula::parse("gpu * 2").unwrap(),
            target: 1.0,
        };
        assert_eq!(
            combine(&signals(), &unknown, 1, 0.1),
            Err(PolicyError::Formula(
                crate::formula::FormulaError::UnknownVariable("gpu".into())
            ))
        );
        let bad_target = Combine::Formula {
            formula: Formula::parse("rps").unwrap(),
            target: 0.0,
        };
        assert!(combine(&signals(), &bad_target, 1, 0.1).is_err());
    }

    #[test]
    fn partial_data_never_scales_down() {
        let s = vec![stale("queue", 5.0), Signal::new("rps", 30.0, 10.0)];
        let out = combine(&s, &Combine::Max, 5, 0.1).unwrap();
        assert_eq!(out.replicas, 5, "rps alone proposes 3, but queue is stale");
        assert!(out.explanation.starts_with("hold 5"), "{}", out.explanation);
        assert_eq!(out.per_trigger, vec![("rps".into(), 3)]);
        // Scaling up on partial data is allowed.
        assert_eq!(combine(&s, &Combine::Max, 2, 0.1).unwrap().replicas, 3);
        // A missing value is the same as a stale one.
        let missing = vec![
            Signal {
                value: None,
                ..Signal::new("queue", 0.0, 5.0)
            },
            Signal::new("rps", 30.0, 10.0),
        ];
        assert_eq!(
            combine(&missing, &Combine::Max, 5, 0.1).unwrap().replicas,
            5
        );
        // Nothing fresh: no proposal.
        let none = vec![stale("queue", 5.0)];
        assert_eq!(
            combine(&none, &Combine::Max, 5, 0.1),
            Err(PolicyError::NoFreshSignal(1))
        );
        assert_eq!(
            combine(&[], &Combine::Max, 5, 0.1),
            Err(PolicyError::NoFreshSignal(0))
        );
    }

    #[test]
    fn invalid_inputs_are_errors() {
        let dup = vec![Signal::new("a", 1.0, 1.0), Signal::new("a", 2.0, 1.0)];
        assert_eq!(
            combine(&dup, &Combine::Max, 1, 0.1),
            Err(PolicyError::DuplicateSignal("a".into()))
        );
        for (value, target) in [
            (1.0, 0.0),
            (1.0, f64::NAN),
            (-1.0, 1.0),
            (f64::INFINITY, 1.0),
        ] {
            let s = vec![Signal::new("a", value, target)];
            let err = combine(&s, &Combine::Max, 1, 0.1).unwrap_err();
            assert!(matches!(err, PolicyError::InvalidSignal { .. }), "{err}");
        }
        let how = Combine::Weighted(vec![("b".into(), 1.0)]);
        assert_eq!(
            combine(&signals(), &how, 1, 0.1).unwrap_err(),
            PolicyError::UnknownSignal("b".into())
        );
        let how = Combine::Weighted(vec![("rps".into(), -1.0)]);
        assert!(combine(&signals(), &how, 1, 0.1).is_err());
    }
}
