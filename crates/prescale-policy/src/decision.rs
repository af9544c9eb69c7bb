//! What the policy decided, and why, in one line.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why the replica count is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Live demand sets the count (it needs at least what the forecast needs).
    Reactive,
    /// The forecast over the lead window sets the count (warming ahead of demand).
    Predictive,
    /// Live demand flagged anomalous sets the count: honoured, since it is real load now,
    /// but not extrapolated.
    Anomaly,
    /// Live data is missing or stale: the count is held (never scaled to zero).
    Stale,
    /// At zero replicas, demand is forecast within the lead time and window (or the business
    /// day starts): replicas are woken before it arrives.
    Wakeup,
    /// Live demand has been zero long enough, nothing is forecast and the calendar allows it:
    /// scale to (or stay at) zero.
    Idle,
    /// The monthly budget is exhausted: predictive headroom dropped, live need kept.
    BudgetCapped,
    /// The minimum replica count (or a warm replica the calendar or the idle rule requires)
    /// sets the count.
    Floor,
    /// The spec is invalid: the current count is held.
    InvalidSpec,
}

impl Reason {
    /// The reason's name in `snake_case`, as in JSON and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reactive => "reactive",
            Self::Predictive => "predictive",
            Self::Anomaly => "anomaly",
            Self::Stale => "stale",
            Self::Wakeup => "wakeup",
            Self::Idle => "idle",
            Self::BudgetCapped => "budget_capped",
            Self::Floor => "floor",
            Self::InvalidSpec => "invalid_spec",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The forecast a decision provisioned for: the largest values per minute over its window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastNeed {
    /// Of the median forecast.
    pub p50: f64,
    /// Of the provisioned quantile (the point forecast when the forecast lacks it).
    pub upper: f64,
}

/// A replica decision: explainable in one line ([`Display`](fmt::Display)), e.g.
/// `scale to 6: forecast P90 412/min in [10:03, 10:08] needs 6 (live 250/min needs 4)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The replica count wanted (before HPA stabilization and rate limits).
    pub desired_replicas: u32,
    /// Whether the service should be active (KEDA `IsActive`): false only when scaling to or
    /// staying at zero.
    pub active: bool,
    /// What live demand needs now (0 when live data is missing or stale).
    pub reactive_replicas: u32,
    /// What the forecast over the window needs, when a forecast covered it.
    pub predictive_replicas: Option<u32>,
    /// The forecast window the predictive need was taken over: `[now + lead, now + lead +
    /// window]`.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The forecast over the window, per minute: its median and the provisioned quantile
    /// (when a forecast covered the window).
    pub forecast_need: Option<ForecastNeed>,
    /// Why.
    pub reason: Reason,
    /// One line (no line breaks) saying why, without the leading verb.
    pub explanation: String,
}

impl Decision {
    /// Scale to `desired` replicas (active when `desired > 0`).
    #[must_use]
    pub const fn scale_to(desired: u32, reason: Reason) -> Self {
        Self {
            desired_replicas: desired,
            active: desired > 0,
            reactive_replicas: 0,
            predictive_replicas: None,
            window: None,
            forecast_need: None,
            reason,
            explanation: String::new(),
        }
    }

    /// Keep `current` replicas (at least one: a hold never deactivates).
    #[must_use]
    pub const fn hold(current: u32, reason: Reason) -> Self {
        let n = if current == 0 { 1 } else { current };
        Self::scale_to(n, reason)
    }

    /// Scale to (or stay at) zero: inactive.
    #[must_use]
    pub const fn scale_to_zero() -> Self {
        Self::scale_to(0, Reason::Idle)
    }

    /// With the live and forecast needs and the window used.
    #[must_use]
    pub const fn with_needs(
        mut self,
        reactive: u32,
        predictive: Option<u32>,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        self.reactive_replicas = reactive;
        self.predictive_replicas = predictive;
        self.window = window;
        self
    }

    /// With an explanation (line breaks are replaced by spaces, to keep it one line).
    #[must_use]
    pub fn explained(mut self, explanation: impl Into<String>) -> Self {
        self.explanation = explanation.into().replace(['\n', '\r'], " ");
        self
    }

    /// The value to report to an HPA metric with an `AverageValue` target of
    /// `target_per_replica` so that it proposes `desired_replicas` (KEDA external scaler
    /// `GetMetrics`): `desired_replicas × target_per_replica`.
    pub fn metric_value(&self, target_per_replica: f64) -> f64 {
        f64::from(self.desired_replicas) * target_per_replica
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.reason == Reason::Stale || self.reason == Reason::InvalidSpec {
            "hold"
        } else {
            "scale to"
        };
        write!(f, "{verb} {}", self.desired_replicas)?;
        if !self.explanation.is_empty() {
            write!(f, ": {}", self.explanation)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_one_line_display() {
        let d = Decision::scale_to(6, Reason::Predictive)
            .with_needs(4, Some(6), None)
            .explained("forecast P90 412/min in [10:03, 10:08] needs 6 (live 250/min needs 4)");
        assert!(d.active);
        assert_eq!(
            d.to_string(),
            "scale to 6: forecast P90 412/min in [10:03, 10:08] needs 6 (live 250/min needs 4)"
        );
        let hold = Decision::hold(0, Reason::Stale).explained("live data\nmissing");
        assert_eq!(hold.desired_replicas, 1);
        assert_eq!(hold.to_string(), "hold 1: live data missing");
        let zero = Decision::scale_to_zero();
        assert!(!zero.active);
        assert_eq!(zero.reason, Reason::Idle);
        assert_eq!(zero.to_string(), "scale to 0");
        assert_eq!(d.metric_value(100.0), 600.0);
        assert_eq!(Reason::BudgetCapped.to_string(), "budget_capped");
    }
}
