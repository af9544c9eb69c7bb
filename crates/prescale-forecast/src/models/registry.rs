//! The registry of models by name.

use super::{crane_dsp, ets, mstl, prescale, seasonal_naive};
use crate::calendar::BusinessCalendar;
use crate::model::Model;

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
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Prescale,
        ModelKind::SeasonalNaiveDaily,
        ModelKind::SeasonalNaiveWeekly,
        ModelKind::Ets,
        ModelKind::Mstl,
        ModelKind::CraneDsp,
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
