//! What replicas cost, and whether the monthly budget holds.
//!
//! The backtest and the server compute cost with the same code: a [`CostSpec`] prices one
//! replica-hour (on demand, or on spot at a discount), a [`CostMeter`] accumulates
//! replica-seconds per UTC calendar month, and [`CostMeter::budget_state`] projects the month's
//! spend from the month-to-date cost plus the current burn rate until the end of the month.
//!
//! **Budget behaviour.** When the projection exceeds `monthly_budget_usd`, the state is
//! [`BudgetState::Exhausted`] and the policy ([`decide`](crate::engine::decide)) drops its
//! predictive headroom: it provisions what live demand needs now and no more (no warming ahead
//! of a forecast, no predictive wake-up), but never less than the live need, so the budget cap
//! degrades prescale to a reactive autoscaler instead of dropping traffic.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::util::secs_between;

/// Prices of running replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// On-demand price of one replica for one hour, in US dollars (default 2.5).
    #[serde(default = "default_price")]
    pub price_per_hour: f64,
    /// GPUs per replica, for GPU-hours (default 1).
    #[serde(default = "default_gpus")]
    pub gpus_per_replica: f64,
    /// Spot capacity, if used (default none).
    #[serde(default)]
    pub spot: Option<SpotSpec>,
    /// Monthly budget in US dollars (default none: no cap).
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
}

/// Spot (preemptible) capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotSpec {
    /// Discount on the on-demand price, in `[0, 1)` (0.6: spot costs 40 % of on demand).
    pub discount: f64,
    /// Expected preemptions per spot replica per hour (used by the simulator).
    pub preemptions_per_hour: f64,
}

fn default_price() -> f64 {
    2.5
}

fn default_gpus() -> f64 {
    1.0
}

impl Default for CostSpec {
    /// 2.50 $ per replica-hour, 1 GPU per replica, no spot, no budget.
    fn default() -> Self {
        Self {
            price_per_hour: default_price(),
            gpus_per_replica: default_gpus(),
            spot: None,
            monthly_budget_usd: None,
        }
    }
}

impl CostSpec {
    /// Checks that prices, counts and rates are finite and in range; names the bad field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field, reason: String| Err(PolicyError::InvalidField { field, reason });
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !non_negative(self.price_per_hour) {
            return bad(
                "cost.price_per_hour",
                format!("must be a finite number >= 0, got {}", self.price_per_hour),
            );
        }
        if !non_negative(self.gpus_per_replica) {
            return bad(
                "cost.gpus_per_replica",
                format!(
                    "must be a finite number >= 0, got {}",
                    self.gpus_per_replica
                ),
            );
        }
        if let Some(spot) = &self.spot {
            if !(spot.discount.is_finite() && (0.0..1.0).contains(&spot.discount)) {
                return bad(
                    "cost.spot.discount",
                    format!("must be in [0, 1), got {}", spot.discount),
                );
            }
            if !non_negative(spot.preemptions_per_hour) {
                return bad(
                    "cost.spot.preemptions_per_hour",
                    format!(
                        "must be a finite number >= 0, got {}",
                        spot.preemptions_per_hour
                    ),
                );
            }
        }
        if let Some(b) = self.monthly_budget_usd
            && !non_negative(b)
        {
            return bad(
                "cost.monthly_budget_usd",
                format!("must be a finite number >= 0, got {b}"),
            );
        }
        Ok(())
    }

    /// Price of one spot replica-hour (the on-demand price when no spot is configured).
    pub fn spot_price_per_hour(&self) -> f64 {
        let discount = self.spot.as_ref().map_or(0.0, |s| s.discount);
        self.price_per_hour * (1.0 - discount)
    }

    /// The cost per hour of running `on_demand` and `spot` replicas: the burn rate.
    pub fn burn_per_hour(&self, on_demand: u32, spot: u32) -> f64 {
        f64::from(on_demand) * self.price_per_hour + f64::from(spot) * self.spot_price_per_hour()
    }
}

/// Whether the monthly budget allows predictive headroom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetState {
    /// Within budget (or no budget).
    #[default]
    Ok,
    /// The month's projected spend exceeds the budget: provision the live need only.
    Exhausted,
}

/// The first instant of the UTC calendar month of `t`.
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(t, |d| Utc.from_utc_datetime(&d))
}

/// The first instant of the month after the one starting at `start` (saturating at the end of
/// time).
fn month_end(start: DateTime<Utc>) -> DateTime<Utc> {
    start
        .checked_add_months(Months::new(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Replica-seconds of one calendar month.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MonthUsage {
    start: DateTime<Utc>,
    on_demand_secs: f64,
    spot_secs: f64,
}

/// Accumulated replica time and its cost. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct CostMeter {
    spec: CostSpec,
    /// Usage per UTC calendar month, in time order.
    months: Vec<MonthUsage>,
}

impl CostMeter {
    /// An empty meter pricing with `spec`.
    pub const fn new(spec: CostSpec) -> Self {
        Self {
            spec,
            months: Vec::new(),
        }
    }

    /// The prices this meter uses.
    pub const fn spec(&self) -> &CostSpec {
        &self.spec
    }

    /// Records `on_demand` and `spot` replicas running for `secs` seconds from `at`.
    /// Intervals that cross a month boundary are split between the months. Non-finite or
    /// negative durations are ignored.
    pub fn record(&mut self, at: DateTime<Utc>, on_demand: u32, spot: u32, secs: f64) {
        if !(secs.is_finite() && secs > 0.0) {
            return;
        }
        let mut from = at;
        let mut left = secs;
        // A record spans at most a few months in practice; the bound keeps it finite.
        for _ in 0..1200 {
            let start = month_start(from);
            let end = month_end(start);
            let room = end.signed_duration_since(from).as_seconds_f64();
            let part = left.min(room.max(0.0));
            self.add(start, f64::from(on_demand) * part, f64::from(spot) * part);
            left -= part;
            if left <= 0.0 || end == DateTime::<Utc>::MAX_UTC {
                break;
            }
            from = end;
        }
    }

    fn add(&mut self, start: DateTime<Utc>, on_demand_secs: f64, spot_secs: f64) {
        if let Some(m) = self.months.iter_mut().rev().find(|m| m.start == start) {
            m.on_demand_secs += on_demand_secs;
            m.spot_secs += spot_secs;
        } else {
            let at = self.months.partition_point(|m| m.start < start);
            self.months.insert(
                at,
                MonthUsage {
                    start,
                    on_demand_secs,
                    spot_secs,
                },
            );
        }
    }

    /// On-demand replica-hours recorded.
    pub fn on_demand_hours(&self) -> f64 {
        self.months.iter().map(|m| m.on_demand_secs).sum::<f64>() / 3600.0
    }

    /// Spot replica-hours recorded.
    pub fn spot_hours(&self) -> f64 {
        self.months.iter().map(|m| m.spot_secs).sum::<f64>() / 3600.0
    }

    /// Replica-hours recorded (on demand and spot).
    pub fn replica_hours(&self) -> f64 {
        self.on_demand_hours() + self.spot_hours()
    }

    /// GPU-hours: replica-hours times GPUs per replica.
    pub fn gpu_hours(&self) -> f64 {
        self.replica_hours() * self.spec.gpus_per_replica
    }

    /// Total cost in US dollars.
    pub fn cost_usd(&self) -> f64 {
        self.months.iter().map(|m| self.month_cost(m)).sum()
    }

    fn month_cost(&self, m: &MonthUsage) -> f64 {
        (m.on_demand_secs * self.spec.price_per_hour
            + m.spot_secs * self.spec.spot_price_per_hour())
            / 3600.0
    }

    /// Cost recorded in the month starting at `month_start` (a month start as given by
    /// [`month_start`](fn@month_start)).
    pub fn month_cost_usd(&self, month_start: DateTime<Utc>) -> f64 {
        self.months
            .iter()
            .filter(|m| m.start == month_start)
            .map(|m| self.month_cost(m))
            .sum()
    }

    /// Whether the month's budget holds at `now`: the cost recorded in the month starting at
    /// `month_start`, plus `current_burn_per_hour` (see [`CostSpec::burn_per_hour`]) until the
    /// end of that month, against `monthly_budget_usd`. No budget is always
    /// [`BudgetState::Ok`]; a negative or non-finite burn counts as 0.
    pub fn budget_state(
        &self,
        now: DateTime<Utc>,
        month_start: DateTime<Utc>,
        current_burn_per_hour: f64,
    ) -> BudgetState {
        let Some(budget) = self.spec.monthly_budget_usd else {
            return BudgetState::Ok;
        };
        let burn = if current_burn_per_hour.is_finite() && current_burn_per_hour > 0.0 {
            current_burn_per_hour
        } else {
            0.0
        };
        let end = month_end(month_start);
        let hours_left = secs_between(now, end).max(0) as f64 / 3600.0;
        let projected = self.month_cost_usd(month_start) + burn * hours_left;
        if projected > budget {
            BudgetState::Exhausted
        } else {
            BudgetState::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn spot_spec() -> CostSpec {
        CostSpec {
            spot: Some(SpotSpec {
                discount: 0.6,
                preemptions_per_hour: 0.05,
            }),
            ..CostSpec::default()
        }
    }

    #[test]
    fn replica_hours_gpu_hours_and_cost() {
        let mut meter = CostMeter::new(spot_spec());
        // 2 on demand and 3 spot for 30 minutes, in 15 s ticks.
        let t0 = utc("2024-01-10T10:00:00Z");
        for i in 0..120 {
            meter.record(crate::util::plus_secs(t0, 15 * i), 2, 3, 15.0);
        }
        assert!((meter.on_demand_hours() - 1.0).abs() < 1e-9);
        assert!((meter.spot_hours() - 1.5).abs() < 1e-9);
        assert!((meter.replica_hours() - 2.5).abs() < 1e-9);
        assert!((meter.gpu_hours() - 2.5).abs() < 1e-9);
        // 1 h × 2.50 + 1.5 h × 2.50 × 0.4 = 2.50 + 1.50.
        assert!((meter.cost_usd() - 4.0).abs() < 1e-9);
        assert!((meter.spec().spot_price_per_hour() - 1.0).abs() < 1e-12);
        assert!((meter.spec().burn_per_hour(2, 3) - 8.0).abs() < 1e-12);
        let mut eight = spot_spec();
        eight.gpus_per_replica = 8.0;
        let mut meter = CostMeter::new(eight);
        meter.record(t0, 1, 0, 3600.0);
        assert!((meter.gpu_hours() - 8.0).abs() < 1e-9);
        // Ignored durations.
        meter.record(t0, 1, 0, -5.0);
        meter.record(t0, 1, 0, f64::NAN);
        assert!((meter.replica_hours() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn records_split_at_month_boundaries() {
        let mut meter = CostMeter::new(CostSpec::default());
        meter.record(utc("2024-01-31T23:30:00Z"), 1, 0, 3600.0);
        let jan = utc("2024-01-01T00:00:00Z");
        let feb = utc("2024-02-01T00:00:00Z");
        assert_eq!(month_start(utc("2024-01-31T23:30:00Z")), jan);
        assert!((meter.month_cost_usd(jan) - 1.25).abs() < 1e-9);
        assert!((meter.month_cost_usd(feb) - 1.25).abs() < 1e-9);
        assert!((meter.cost_usd() - 2.5).abs() < 1e-9);
        // An out-of-order record lands in its own month.
        meter.record(utc("2023-12-15T00:00:00Z"), 2, 0, 3600.0);
        assert!((meter.month_cost_usd(utc("2023-12-01T00:00:00Z")) - 5.0).abs() < 1e-9);
        // Extreme instants and durations do not panic.
        meter.record(DateTime::<Utc>::MAX_UTC, 1, 1, 1e300);
        meter.record(DateTime::<Utc>::MIN_UTC, 1, 1, 1e12);
    }

    #[test]
    fn budget_projects_month_to_date_plus_burn() {
        // January 2024: 744 h. On the 11th at 00:00, 504 h are left.
        let jan = utc("2024-01-01T00:00:00Z");
        let now = utc("2024-01-11T00:00:00Z");
        let mut spec = CostSpec {
            monthly_budget_usd: Some(1000.0),
            ..CostSpec::default()
        };
        let mut meter = CostMeter::new(spec.clone());
        meter.record(jan, 1, 0, 240.0 * 3600.0); // 240 replica-hours: 600 $
        assert!((meter.month_cost_usd(jan) - 600.0).abs() < 1e-6);
        // 600 + 2.5 $/h × 504 h = 1860 > 1000.
        assert_eq!(meter.budget_state(now, jan, 2.5), BudgetState::Exhausted);
        // With no burn the month stays at 600.
        assert_eq!(meter.budget_state(now, jan, 0.0), BudgetState::Ok);
        assert_eq!(meter.budget_state(now, jan, f64::NAN), BudgetState::Ok);
        spec.monthly_budget_usd = Some(2000.0);
        let mut meter2 = CostMeter::new(spec);
        meter2.record(jan, 1, 0, 240.0 * 3600.0);
        assert_eq!(meter2.budget_state(now, jan, 2.5), BudgetState::Ok);
        // A new month starts from zero.
        let feb = utc("2024-02-01T00:00:00Z");
        assert_eq!(meter.budget_state(feb, feb, 1.0), BudgetState::Ok);
        // No budget: always Ok.
        let free = CostMeter::new(CostSpec::default());
        assert_eq!(free.budget_state(now, jan, 1e9), BudgetState::Ok);
    }

    #[test]
    fn spec_defaults_serde_and_validation() {
        let spec: CostSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, CostSpec::default());
        assert_eq!(spec.price_per_hour, 2.5);
        let spec: CostSpec = serde_json::from_str(
            r#"{"price_per_hour": 4.0, "spot": {"discount": 0.6, "preemptions_per_hour": 0.1},
                "monthly_budget_usd": 5000}"#,
        )
        .unwrap();
        assert!(spec.validate().is_ok());
        assert!(serde_json::from_str::<CostSpec>(r#"{"price": 1}"#).is_err());
        assert!(serde_json::from_str::<CostSpec>(r#"{"spot": {"discount": 0.5}}"#).is_err());
        let check = |spec: CostSpec, field: &str| {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        };
        check(
            CostSpec {
                price_per_hour: -1.0,
                ..CostSpec::default()
            },
            "cost.price_per_hour",
        );
        check(
            CostSpec {
                spot: Some(SpotSpec {
                    discount: 1.0,
                    preemptions_per_hour: 0.0,
                }),
                ..CostSpec::default()
            },
            "cost.spot.discount",
        );
        check(
            CostSpec {
                monthly_budget_usd: Some(f64::NAN),
                ..CostSpec::default()
            },
            "cost.monthly_budget_usd",
        );
    }
}
