//! A service's scaling spec: capacity, bounds, lead time, forecast window, scale-to-zero,
//! business calendar, HPA behavior and cost.
//!
//! In configuration (unknown fields rejected; everything but `capacity_per_replica` has a
//! default):
//!
//! ```text
//! capacity_per_replica = 120       # demand units per replica per minute at target (required)
//! min_replicas = 0
//! max_replicas = 100
//! cold_start_secs = 180            # lead time: how long a new replica takes to serve
//! window_secs = 300                # forecast window after the lead
//! quantile = 0.9                   # forecast quantile to provision for
//! scale_to_zero = true
//! idle_secs = 300                  # live demand must be zero this long
//! stale_after_secs = 120           # live data older than this is stale
//! scale_to_zero_outside_business_hours_only = false
//! [calendar]                       # optional, see prescale_core::calendar
//! timezone = "Europe/Berlin"
//! [behavior]                       # HPA behavior, Kubernetes defaults
//! [cost]                           # prices and budget
//! ```

use prescale_core::calendar::BusinessCalendar;
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::cost::CostSpec;
use crate::hpa::Behavior;

/// Longest duration accepted for any `*_secs` field: 30 days.
pub const MAX_SECS: i64 = 30 * 86_400;

/// How one service scales. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingSpec {
    /// Demand units (requests, queue items, ...) one replica handles per minute at target.
    pub capacity_per_replica: f64,
    /// Fewest replicas (default 0). Scale-to-zero needs 0.
    #[serde(default)]
    pub min_replicas: u32,
    /// Most replicas (default 100).
    #[serde(default = "default_max_replicas")]
    pub max_replicas: u32,
    /// Cold start in seconds (default 180): the lead time by which replicas are requested
    /// ahead of the forecast demand.
    #[serde(default = "default_cold_start_secs")]
    pub cold_start_secs: i64,
    /// Forecast window in seconds after the lead (default 300): replicas requested now cover
    /// the forecast over `[now + lead, now + lead + window]`.
    #[serde(default = "default_window_secs")]
    pub window_secs: i64,
    /// Forecast quantile provisioned for (default 0.9); the point forecast is used when the
    /// forecast does not carry it.
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// Whether the service may scale to zero (default true; needs `min_replicas = 0`).
    #[serde(default = "default_true")]
    pub scale_to_zero: bool,
    /// How long live demand must have been zero before scaling to zero, in seconds (default
    /// 300).
    #[serde(default = "default_idle_secs")]
    pub idle_secs: i64,
    /// Live data older than this many seconds is stale (default 120); stale data never
    /// scales to zero.
    #[serde(default = "default_stale_after_secs")]
    pub stale_after_secs: i64,
    /// Business calendar (default none).
    #[serde(default)]
    pub calendar: Option<BusinessCalendar>,
    /// With a calendar: scale to zero only outside business hours, keeping a replica warm
    /// from one lead time before opening until closing (default false).
    #[serde(default)]
    pub scale_to_zero_outside_business_hours_only: bool,
    /// HPA behavior applied on top of the decisions (default: the Kubernetes defaults).
    #[serde(default)]
    pub behavior: Behavior,
    /// Prices and budget (default: 2.50 $ per replica-hour, no budget).
    #[serde(default)]
    pub cost: CostSpec,
}

const fn default_max_replicas() -> u32 {
    100
}

const fn default_cold_start_secs() -> i64 {
    180
}

const fn default_window_secs() -> i64 {
    300
}

const fn default_quantile() -> f64 {
    0.9
}

const fn default_true() -> bool {
    true
}

const fn default_idle_secs() -> i64 {
    300
}

const fn default_stale_after_secs() -> i64 {
    120
}

impl ScalingSpec {
    /// A spec with `capacity_per_replica` and every other field at its default.
    pub fn new(capacity_per_replica: f64) -> Self {
        Self {
            capacity_per_replica,
            min_replicas: 0,
            max_replicas: default_max_replicas(),
            cold_start_secs: default_cold_start_secs(),
            window_secs: default_window_secs(),
            quantile: default_quantile(),
            scale_to_zero: default_true(),
            idle_secs: default_idle_secs(),
            stale_after_secs: default_stale_after_secs(),
            calendar: None,
            scale_to_zero_outside_business_hours_only: false,
            behavior: Behavior::default(),
            cost: CostSpec::default(),
        }
    }

    /// Checks every field's range; the error names the field. Durations must lie in
    /// `[0, MAX_SECS]` (the cold start and the window may be 0).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field, reason: String| Err(PolicyError::InvalidField { field, reason });
        if !(self.capacity_per_replica.is_finite() && self.capacity_per_replica > 0.0) {
            return bad(
                "capacity_per_replica",
                format!(
                    "must be a finite number > 0, got {}",
                    self.capacity_per_replica
                ),
            );
        }
        if self.max_replicas == 0 {
            return bad("max_replicas", "must be at least 1".into());
        }
        if self.min_replicas > self.max_replicas {
            return bad(
                "min_replicas",
                format!(
                    "must not exceed max_replicas ({} > {})",
                    self.min_replicas, self.max_replicas
                ),
            );
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return bad(
                "quantile",
                format!("must be in (0, 1), got {}", self.quantile),
            );
        }
        for (field, secs) in [
            ("cold_start_secs", self.cold_start_secs),
            ("window_secs", self.window_secs),
            ("idle_secs", self.idle_secs),
            ("stale_after_secs", self.stale_after_secs),
        ] {
            if !(0..=MAX_SECS).contains(&secs) {
                return bad(
                    field,
                    format!("must be in [0, {MAX_SECS}] seconds, got {secs}"),
                );
            }
        }
        if self.scale_to_zero_outside_business_hours_only && self.calendar.is_none() {
            return bad(
                "scale_to_zero_outside_business_hours_only",
                "needs a `calendar`".into(),
            );
        }
        self.behavior.validate()?;
        self.cost.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_the_smallest_config() {
        let spec: ScalingSpec = serde_json::from_str(r#"{"capacity_per_replica": 120}"#).unwrap();
        assert_eq!(spec, ScalingSpec::new(120.0));
        assert_eq!(spec.min_replicas, 0);
        assert_eq!(spec.max_replicas, 100);
        assert_eq!(spec.cold_start_secs, 180);
        assert_eq!(spec.window_secs, 300);
        assert_eq!(spec.quantile, 0.9);
        assert!(spec.scale_to_zero);
        assert_eq!(spec.idle_secs, 300);
        assert_eq!(spec.stale_after_secs, 120);
        assert!(spec.calendar.is_none());
        assert_eq!(spec.behavior, Behavior::default());
        assert_eq!(spec.cost, CostSpec::default());
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn full_config_round_trips() {
        let json = r#"{
            "capacity_per_replica": 50, "min_replicas": 1, "max_replicas": 8,
            "cold_start_secs": 240, "window_secs": 600, "quantile": 0.95,
            "scale_to_zero": false, "idle_secs": 900, "stale_after_secs": 60,
            "calendar": {"timezone": "Europe/Berlin", "open": "08:00"},
            "scale_to_zero_outside_business_hours_only": true,
            "behavior": {"scale_down": {"stabilization_secs": 120}},
            "cost": {"price_per_hour": 3.0, "monthly_budget_usd": 900}
        }"#;
        let spec: ScalingSpec = serde_json::from_str(json).unwrap();
        assert!(spec.validate().is_ok());
        assert_eq!(spec.behavior.scale_down.stabilization_secs, 120);
        assert_eq!(
            spec.calendar.as_ref().map(|c| c.open.to_string()),
            Some("08:00:00".into())
        );
        let back: ScalingSpec =
            serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn unknown_and_missing_fields_are_rejected() {
        let err = serde_json::from_str::<ScalingSpec>(r#"{"capacity": 1}"#).unwrap_err();
        assert!(err.to_string().contains("capacity"), "{err}");
        let err = serde_json::from_str::<ScalingSpec>(r#"{"min_replicas": 1}"#).unwrap_err();
        assert!(err.to_string().contains("capacity_per_replica"), "{err}");
        let bad_tz = r#"{"capacity_per_replica": 1, "calendar": {"timezone": "Mars/Base"}}"#;
        assert!(serde_json::from_str::<ScalingSpec>(bad_tz).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let check = |edit: fn(&mut ScalingSpec), field: &str| {
            let mut spec = ScalingSpec::new(10.0);
            edit(&mut spec);
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        };
        check(|s| s.capacity_per_replica = 0.0, "capacity_per_replica");
        check(
            |s| s.capacity_per_replica = f64::NAN,
            "capacity_per_replica",
        );
        check(|s| s.max_replicas = 0, "max_replicas");
        check(|s| s.min_replicas = 101, "min_replicas");
        check(|s| s.quantile = 1.0, "quantile");
        check(|s| s.cold_start_secs = -1, "cold_start_secs");
        check(|s| s.window_secs = MAX_SECS + 1, "window_secs");
        check(|s| s.idle_secs = i64::MIN, "idle_secs");
        check(|s| s.stale_after_secs = i64::MAX, "stale_after_secs");
        check(
            |s| s.scale_to_zero_outside_business_hours_only = true,
            "scale_to_zero_outside_business_hours_only",
        );
        check(
            |s| s.behavior.tolerance = f64::INFINITY,
            "behavior.tolerance",
        );
        check(|s| s.cost.price_per_hour = -2.0, "cost.price_per_hour");
    }
}
