//! prescale's HPA [`Behavior`] in the Kubernetes `autoscaling/v2` form KEDA copies into the
//! HPA (`advanced.horizontalPodAutoscalerConfig.behavior`).

use prescale_policy::Behavior;
use prescale_policy::hpa::{RatePolicy, Rule, SelectPolicy};
use serde_json::{Value, json};

/// The default HPA tolerance; a different one is written into both rules (Kubernetes ≥ 1.33).
const DEFAULT_TOLERANCE: f64 = 0.1;

/// `behavior` as the HPA spells it: `scaleUp`/`scaleDown` with `stabilizationWindowSeconds`,
/// `selectPolicy` and `policies[{type, value, periodSeconds}]`.
pub(crate) fn to_hpa(b: &Behavior) -> Value {
    let tolerance = (b.tolerance != DEFAULT_TOLERANCE).then_some(b.tolerance);
    json!({
        "scaleUp": rule(&b.scale_up, tolerance),
        "scaleDown": rule(&b.scale_down, tolerance),
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
