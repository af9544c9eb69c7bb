//! The autoscaling policies compared by the backtest, one file each, and the registry that
//! builds them by name.

pub mod clairvoyant;
pub mod crane_ehpa;
pub mod keda;
pub mod keda_reactive;
pub mod knative_kpa;
pub mod prescale;
pub mod static_peak;

use prescale_core::Series;
use serde::Serialize;

use crate::autoscaler::Autoscaler;
use crate::engine::SimConfig;

/// Settings of the predictive policies.
#[derive(Debug, Clone)]
pub struct PolicyOptions {
    /// The forecast quantile prescale provisions for.
    pub quantile: f64,
    /// Seconds of forecast after the lead time that prescale covers.
    pub window_secs: f64,
    /// Seconds in which prescale clears a backlog (the queue and what piles up while new pods
    /// cold-start).
    pub drain_secs: f64,
    /// Share of a pod's capacity prescale plans with (1 = full capacity); the rest is spare
    /// for surprises the forecast cannot see. In production this is the `threshold` set below
    /// a replica's capacity.
    pub target_utilization: f64,
    /// Whether prescale may scale to zero.
    pub scale_to_zero: bool,
    /// The ScaledObject's KEDA and HPA settings (every KEDA-driven policy).
    pub keda: keda::KedaSettings,
    /// The optional signals prescale's trigger has (default: none, as a default chart
    /// install).
    pub signals: prescale::Signals,
    /// SLO mode: the headroom (quantile and target utilization) is tuned on the service's
    /// own history to keep the SLO; `quantile` and `target_utilization` are then ignored.
    pub slo: Option<SloMode>,
}

/// SLO mode's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SloMode {
    /// When and how to re-tune (the SLO among them).
    pub tuner: crate::tune::TunerConfig,
    /// The SLA on the queueing delay, seconds.
    pub sla_secs: f64,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        Self {
            quantile: 0.9,
            window_secs: 300.0,
            drain_secs: 300.0,
            target_utilization: 1.0,
            scale_to_zero: true,
            keda: keda::KedaSettings::default(),
            signals: prescale::Signals::default(),
            slo: None,
        }
    }
}

/// Every policy, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Enough for the trace's peak, always on.
    StaticPeak,
    /// KEDA + HPA on the live request rate.
    KedaReactive,
    /// The Knative Pod Autoscaler.
    KnativeKpa,
    /// Crane EHPA: the DSP prediction feeding an HPA.
    CraneDsp,
    /// prescale.
    Prescale,
    /// A bound, not a policy: reads the trace's future (only on request).
    Clairvoyant,
}

impl PolicyKind {
    /// Every policy, in report order.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::StaticPeak,
        PolicyKind::KedaReactive,
        PolicyKind::KnativeKpa,
        PolicyKind::CraneDsp,
        PolicyKind::Prescale,
    ];

    /// Every name `--policies` accepts: the five policies and the `clairvoyant` bound.
    pub const KNOWN: [PolicyKind; 6] = [
        PolicyKind::StaticPeak,
        PolicyKind::KedaReactive,
        PolicyKind::KnativeKpa,
        PolicyKind::CraneDsp,
        PolicyKind::Prescale,
        PolicyKind::Clairvoyant,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::StaticPeak => "static_peak",
            Self::KedaReactive => "keda_reactive",
            Self::KnativeKpa => "knative_kpa",
            Self::CraneDsp => "crane_dsp",
            Self::Prescale => "prescale",
            Self::Clairvoyant => "clairvoyant",
        }
    }

    /// Builds the policy for a replay of `series`.
    pub fn build(
        self,
        series: &Series,
        config: &SimConfig,
        options: &PolicyOptions,
    ) -> Box<dyn Autoscaler> {
        // A ceiling no policy should need: four times the static peak.
        let peak = static_peak::StaticPeak::for_series(series, config.capacity_per_min).replicas();
        let max = (4 * peak).max(10);
        match self {
            Self::StaticPeak => Box::new(static_peak::StaticPeak::for_series(
                series,
                config.capacity_per_min,
            )),
            Self::KedaReactive => Box::new(keda_reactive::KedaReactive::with_settings(
                options.keda.clone(),
                max,
            )),
            Self::KnativeKpa => Box::new(knative_kpa::KnativeKpa::default()),
            Self::CraneDsp => Box::new(crane_ehpa::CraneEhpa::with_settings(&options.keda, max)),
            Self::Prescale => Box::new(prescale::PrescalePolicy::new(
                config.capacity_per_min,
                config.cold_start.p95(),
                max,
                options,
            )),
            Self::Clairvoyant => Box::new(clairvoyant::Clairvoyant::new(
                series,
                config.capacity_per_min,
                config.cold_start.p95(),
                max,
            )),
        }
    }
}

impl std::str::FromStr for PolicyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::KNOWN
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::KNOWN.iter().map(|k| k.name()).collect();
                format!(
                    "unknown policy `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}
