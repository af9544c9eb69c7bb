//! Cost settings: prices per GPU type, per-service GPU type, GPUs per replica, spot share and
//! monthly budget, resolved into the policy crate's [`CostSpec`] (the type the backtest prices
//! with).
//!
//! ```yaml
//! gpu_types:
//!   a100-80gb: {price_per_hour: 3.67, spot_discount: 0.6}   # $ per GPU-hour on demand
//!   l4: {price_per_hour: 0.71}
//! defaults:
//!   gpu_type: l4
//! services:
//!   inference/llama-chat:
//!     gpu_type: a100-80gb
//!     gpus_per_replica: 2
//!     spot_share: 0.5            # half the replicas run on spot nodes
//!     monthly_budget_usd: 20000
//! ```

use std::collections::BTreeMap;

use prescale_policy::{CostSpec, PolicyError, SpotSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `cost` settings of `prescale serve`. Unknown fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Prices per GPU type (free-form names such as `a100-80gb`).
    #[serde(default)]
    pub gpu_types: BTreeMap<String, GpuPrice>,
    /// Settings of every service that its own entry in `services` does not override.
    #[serde(default)]
    pub defaults: ServiceCost,
    /// Per-service settings, keyed `namespace/name` (the ScaledObject's).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceCost>,
}

/// The price of one GPU of a type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPrice {
    /// On-demand price of one GPU for one hour, in US dollars.
    pub price_per_hour: f64,
    /// Discount of spot capacity on the on-demand price, in `[0, 1)`.
    #[serde(default)]
    pub spot_discount: Option<f64>,
}

/// Cost settings of a service; every field is optional (a service's entry overrides the
/// defaults field by field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCost {
    /// GPU type of its replicas, a key of `gpu_types`.
    #[serde(default)]
    pub gpu_type: Option<String>,
    /// GPUs per replica (default 1).
    #[serde(default)]
    pub gpus_per_replica: Option<f64>,
    /// Price of one replica-hour on demand, overriding the GPU type's price (default: the GPU
    /// type's price × GPUs per replica, or 2.50 without a GPU type).
    #[serde(default)]
    pub price_per_hour: Option<f64>,
    /// Spot discount, overriding the GPU type's.
    #[serde(default)]
    pub spot_discount: Option<f64>,
    /// Share of the running replicas on spot capacity, in `[0, 1]` (default 0).
    #[serde(default)]
    pub spot_share: Option<f64>,
    /// Monthly budget in US dollars (default none).
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
}

impl ServiceCost {
    /// `self`, with its unset fields taken from `defaults`.
    fn over(&self, defaults: &Self) -> Self {
        Self {
            gpu_type: self.gpu_type.clone().or_else(|| defaults.gpu_type.clone()),
            gpus_per_replica: self.gpus_per_replica.or(defaults.gpus_per_replica),
            price_per_hour: self.price_per_hour.or(defaults.price_per_hour),
            spot_discount: self.spot_discount.or(defaults.spot_discount),
            spot_share: self.spot_share.or(defaults.spot_share),
            monthly_budget_usd: self.monthly_budget_usd.or(defaults.monthly_budget_usd),
        }
    }
}

/// A service's resolved cost settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCost {
    /// Prices and budget, as the backtest uses them.
    pub spec: CostSpec,
    /// Share of the running replicas on spot capacity, in `[0, 1]`.
    pub spot_share: f64,
    /// The GPU type, if one was named.
    pub gpu_type: Option<String>,
}

impl ResolvedCost {
    /// Splits `running` replicas into (on demand, spot) by the spot share, rounding the spot
    /// part to the nearest whole replica.
    pub fn split(&self, running: u32) -> (u32, u32) {
        let spot = (f64::from(running) * self.spot_share).round();
        // In [0, running] because spot_share is in [0, 1].
        let spot = if spot.is_finite() && spot > 0.0 {
            (spot as u32).min(running)
        } else {
            0
        };
        (running - spot, spot)
    }
}

impl CostConfig {
    /// The settings of the service `namespace/name`; errors name the service and the field.
    pub fn resolve(&self, service: &str) -> Result<ResolvedCost> {
        let (field_base, own) = match self.services.get(service) {
            Some(s) => (format!("cost.services.{service}"), s.over(&self.defaults)),
            None => ("cost.defaults".to_string(), self.defaults.clone()),
        };
        let bad = |field: &str, reason: String| Error::InvalidCost {
            service: service.to_string(),
            field: format!("{field_base}.{field}"),
            reason,
        };
        let gpu = match &own.gpu_type {
            Some(name) => Some(self.gpu_types.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.gpu_types.keys().map(String::as_str).collect();
                bad(
                    "gpu_type",
                    format!(
                        "unknown GPU type `{name}` (gpu_types: {})",
                        known.join(", ")
                    ),
                )
            })?),
            None => None,
        };
        if let Some((name, p)) = own.gpu_type.as_ref().zip(gpu)
            && !(p.price_per_hour.is_finite() && p.price_per_hour >= 0.0)
        {
            return Err(Error::InvalidCost {
                service: service.to_string(),
                field: format!("cost.gpu_types.{name}.price_per_hour"),
                reason: format!("must be a finite number >= 0, got {}", p.price_per_hour),
            });
        }
        let gpus = own.gpus_per_replica.unwrap_or(1.0);
        let price = own
            .price_per_hour
            .or_else(|| gpu.map(|g| g.price_per_hour * gpus))
            .unwrap_or_else(|| CostSpec::default().price_per_hour);
        let discount = own
            .spot_discount
            .or_else(|| gpu.and_then(|g| g.spot_discount));
        let spot_share = own.spot_share.unwrap_or(0.0);
        if !(spot_share.is_finite() && (0.0..=1.0).contains(&spot_share)) {
            return Err(bad(
                "spot_share",
                format!("must be in [0, 1], got {spot_share}"),
            ));
        }
        if spot_share > 0.0 && discount.is_none() {
            return Err(bad(
                "spot_share",
                "spot replicas need a `spot_discount` (on the service or its GPU type)".into(),
            ));
        }
        let spec = CostSpec {
            price_per_hour: price,
            gpus_per_replica: gpus,
            spot: discount.map(|discount| SpotSpec {
                discount,
                preemptions_per_hour: 0.0,
            }),
            monthly_budget_usd: own.monthly_budget_usd,
        };
        spec.validate().map_err(|e| match e {
            PolicyError::InvalidField { field, reason } => {
                // CostSpec names its fields `cost.<field>`; ours are the same names.
                bad(field.trim_start_matches("cost."), reason)
            }
            other => bad("", other.to_string()),
        })?;
        Ok(ResolvedCost {
            spec,
            spot_share,
            gpu_type: own.gpu_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r"
gpu_types:
  a100-80gb: {price_per_hour: 3.5, spot_discount: 0.6}
  l4: {price_per_hour: 0.75}
defaults:
  gpu_type: l4
services:
  inference/chat:
    gpu_type: a100-80gb
    gpus_per_replica: 2
    spot_share: 0.5
    monthly_budget_usd: 20000
  batch/embed:
    price_per_hour: 1.2
";

    fn example() -> CostConfig {
        yaml_serde::from_str(EXAMPLE).unwrap()
    }

    #[test]
    fn resolves_gpu_type_prices_and_overrides() {
        let c = example();
        let chat = c.resolve("inference/chat").unwrap();
        assert!((chat.spec.price_per_hour - 7.0).abs() < 1e-12);
        assert_eq!(chat.spec.gpus_per_replica, 2.0);
        assert_eq!(chat.spec.spot.as_ref().unwrap().discount, 0.6);
        assert!((chat.spec.spot_price_per_hour() - 2.8).abs() < 1e-12);
        assert_eq!(chat.spec.monthly_budget_usd, Some(20000.0));
        assert_eq!(chat.gpu_type.as_deref(), Some("a100-80gb"));
        // An explicit replica price wins over the default GPU type's.
        let embed = c.resolve("batch/embed").unwrap();
        assert_eq!(embed.spec.price_per_hour, 1.2);
        assert_eq!(embed.gpu_type.as_deref(), Some("l4"));
        // Services without an entry take the defaults.
        let other = c.resolve("x/y").unwrap();
        assert_eq!(other.spec.price_per_hour, 0.75);
        assert!(other.spec.spot.is_none());
        // No settings at all: the policy crate's defaults.
        let none = CostConfig::default().resolve("x/y").unwrap();
        assert_eq!(none.spec, CostSpec::default());
    }

    #[test]
    fn splits_running_replicas_by_spot_share() {
        let chat = example().resolve("inference/chat").unwrap();
        assert_eq!(chat.split(0), (0, 0));
        assert_eq!(chat.split(4), (2, 2));
        assert_eq!(chat.split(3), (1, 2)); // 1.5 rounds to 2
        let all = ResolvedCost {
            spot_share: 1.0,
            ..chat.clone()
        };
        assert_eq!(all.split(7), (0, 7));
        let none = ResolvedCost {
            spot_share: 0.0,
            ..chat
        };
        assert_eq!(none.split(7), (7, 0));
    }

    #[test]
    fn bad_settings_name_the_service_and_field() {
        let err = |yaml: &str, service: &str| {
            let c: CostConfig = yaml_serde::from_str(yaml).unwrap();
            c.resolve(service).unwrap_err().to_string()
        };
        assert_eq!(
            err("services: {a/b: {gpu_type: h100}}", "a/b"),
            "cost of a/b: cost.services.a/b.gpu_type: unknown GPU type `h100` (gpu_types: )"
        );
        assert_eq!(
            err("defaults: {spot_share: 1.5, spot_discount: 0.5}", "a/b"),
            "cost of a/b: cost.defaults.spot_share: must be in [0, 1], got 1.5"
        );
        assert!(err("defaults: {spot_share: 0.5}", "a/b").contains("need a `spot_discount`"));
        assert_eq!(
            err("services: {a/b: {spot_discount: 1.0}}", "a/b"),
            "cost of a/b: cost.services.a/b.spot.discount: must be in [0, 1), got 1"
        );
        assert_eq!(
            err(
                "gpu_types: {t4: {price_per_hour: -1}}\ndefaults: {gpu_type: t4}",
                "a/b"
            ),
            "cost of a/b: cost.gpu_types.t4.price_per_hour: must be a finite number >= 0, got -1"
        );
        assert!(
            err("services: {a/b: {monthly_budget_usd: -5}}", "a/b").contains("monthly_budget_usd")
        );
        assert!(yaml_serde::from_str::<CostConfig>("defaults: {price: 1}").is_err());
    }
}
