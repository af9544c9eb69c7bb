//! The registry of models by name.

use super::{crane_dsp, ets, mstl, naive, prescale, seasonal_naive, theta};
use crate::calendar::BusinessCalendar;
use crate::model::Model;
use crate::noise::NoiseModel;
use prescale_core::ValueKind;

/// Options shared by the models that can use them.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// A business calendar (used by `prescale` as a day-type feature).
    pub calendar: Option<BusinessCalendar>,
}

/// Every model, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The automatic prescale model ([`prescale::Prescale`]).
    Prescale,
    /// Same time yesterday.
    SeasonalNaiveDaily,
    /// Same time last week.
    SeasonalNaiveWeekly,
    /// Holt-Winters ([`ets::Ets`]).
    Ets,
    /// Robust MSTL with a fast trend model ([`mstl::Mstl`]).
    Mstl,
    /// Crane EHPA's DSP predictor ([`crane_dsp::CraneDsp`]).
    CraneDsp,
    /// The last value ([`naive::Naive`]).
    Naive,
    /// The last value plus the mean change ([`naive::Drift`]).
    Drift,
    /// The Theta method ([`theta::Theta`]).
    Theta,
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: [ModelKind; 9] = [
        ModelKind::Prescale,
        ModelKind::SeasonalNaiveDaily,
        ModelKind::SeasonalNaiveWeekly,
        ModelKind::Ets,
        ModelKind::Mstl,
        ModelKind::CraneDsp,
        ModelKind::Naive,
        ModelKind::Drift,
        ModelKind::Theta,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prescale => "prescale",
            Self::SeasonalNaiveDaily => "seasonal_naive_daily",
            Self::SeasonalNaiveWeekly => "seasonal_naive_weekly",
            Self::Ets => "ets",
            Self::Mstl => "mstl",
            Self::CraneDsp => "crane_dsp",
            Self::Naive => "naive",
            Self::Drift => "drift",
            Self::Theta => "theta",
        }
    }

    /// Builds the model with its default configuration.
    pub fn build(self) -> Box<dyn Model> {
        self.build_with(&ModelOptions::default())
    }

    /// Builds the model with `options` applied where the model uses them.
    pub fn build_with(self, options: &ModelOptions) -> Box<dyn Model> {
        match self {
            Self::Prescale => Box::new(prescale::Prescale {
                calendar: options.calendar.clone(),
                ..prescale::Prescale::default()
            }),
            Self::SeasonalNaiveDaily => Box::new(seasonal_naive::SeasonalNaive::daily()),
            Self::SeasonalNaiveWeekly => Box::new(seasonal_naive::SeasonalNaive::weekly()),
            Self::Ets => Box::new(ets::Ets::default()),
            Self::Mstl => Box::new(mstl::Mstl::default()),
            Self::CraneDsp => Box::new(crane_dsp::CraneDsp::default()),
            Self::Naive => Box::new(naive::Naive::default()),
            Self::Drift => Box::new(naive::Drift::default()),
            Self::Theta => Box::new(theta::Theta::default()),
        }
    }

    /// [`ModelKind::build_with`] for a series declared as `kind`: a gauge is modelled without
    /// the count noise floors by the models that can take that ([`NoiseModel::Dispersion`] for
    /// `prescale`); a count is left to detection (whole numbers), because a count converted to a
    /// rate is no longer counted in events.
    pub fn build_declared(self, options: &ModelOptions, kind: ValueKind) -> Box<dyn Model> {
        match (self, kind) {
            (Self::Prescale, ValueKind::Gauge) => Box::new(prescale::Prescale {
                calendar: options.calendar.clone(),
                noise: NoiseModel::Dispersion,
                ..prescale::Prescale::default()
            }),
            _ => self.build_with(options),
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown model `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}
