//! The model's side of a refresh: a [`FitJob`] (fit at a refit point, or update, then
//! forecast in the series' own unit), what it produced ([`FitOutcome`]), and that outcome
//! without the fitted model ([`RefreshRecord`]) for replays with other headroom.

use chrono::{DateTime, Utc};
use prescale_core::{Forecast, ValueKind};
use prescale_forecast::model::{FitInput, Fitted, predict};
use prescale_forecast::models::{ModelKind, ModelOptions};

use crate::controller::REFERENCE_LEVEL;

/// The model's work for one refresh, runnable on any thread. See [`Controller::fit_job`](crate::Controller::fit_job).
pub struct FitJob {
    pub(crate) refit_at: DateTime<Utc>,
    pub(crate) refit: bool,
    pub(crate) unit: Option<f64>,
    pub(crate) fallback_unit: f64,
    pub(crate) kept: Option<Box<dyn Fitted>>,
    pub(crate) fit_start: DateTime<Utc>,
    pub(crate) fit_values: Vec<f64>,
    pub(crate) new_values: Vec<f64>,
    pub(crate) fit_horizon: usize,
    pub(crate) horizon: usize,
    pub(crate) hist_end: Option<DateTime<Utc>>,
    pub(crate) step_secs: i64,
    pub(crate) levels: Vec<f64>,
    pub(crate) options: ModelOptions,
}

impl std::fmt::Debug for FitJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitJob")
            .field("refit_at", &self.refit_at)
            .field("refit", &self.refit)
            .field("fit_values", &self.fit_values.len())
            .field("new_values", &self.new_values.len())
            .finish_non_exhaustive()
    }
}

/// What a [`FitJob`] produced.
pub struct FitOutcome {
    pub(crate) refit_at: DateTime<Utc>,
    pub(crate) refit: bool,
    pub(crate) unit: f64,
    pub(crate) fitted: Option<(Box<dyn Fitted>, DateTime<Utc>)>,
    pub(crate) forecast: Option<Forecast>,
    pub(crate) description: Option<String>,
}

impl std::fmt::Debug for FitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOutcome")
            .field("refit_at", &self.refit_at)
            .field("refit", &self.refit)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl FitOutcome {
    /// Whether the model was fitted at a new refit point (patterns worth re-analysing).
    pub fn refitted(&self) -> bool {
        self.refit && self.description.is_some()
    }

    /// What the refresh produced, without the fitted model: enough to replay it
    /// ([`FitOutcome::from`] a [`RefreshRecord`]) in a loop whose history is the same.
    pub fn record(&self) -> RefreshRecord {
        RefreshRecord {
            refit_at: self.refit_at,
            refit: self.refit,
            unit: self.unit,
            forecast: self.forecast.clone(),
            description: self.description.clone(),
        }
    }
}

/// A refresh's outcome without its fitted model. Forecasts depend on the history only, not on
/// the headroom (quantile, utilization, drain): SLO mode's tuner records them once per tuning
/// and replays them for every candidate setting.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRecord {
    /// The refit point of the model behind the forecast.
    pub refit_at: DateTime<Utc>,
    /// Whether the refresh refitted.
    pub refit: bool,
    /// The series' own unit.
    pub unit: f64,
    /// The forecast (in demand units).
    pub forecast: Option<Forecast>,
    /// The model's description.
    pub description: Option<String>,
}

impl From<RefreshRecord> for FitOutcome {
    fn from(r: RefreshRecord) -> Self {
        Self {
            refit_at: r.refit_at,
            refit: r.refit,
            unit: r.unit,
            fitted: None,
            forecast: r.forecast,
            description: r.description,
        }
    }
}

/// The unit in which `values` have a mean level of [`REFERENCE_LEVEL`]; `None` when they are
/// all zero (or empty).
fn unit_of(values: &[f64]) -> Option<f64> {
    let n = values.len();
    let mean = values.iter().map(|v| v.max(0.0)).sum::<f64>() / n.max(1) as f64;
    (mean.is_finite() && mean > 0.0).then(|| mean / REFERENCE_LEVEL)
}

impl FitJob {
    /// Whether the job fits at a new refit point (rather than updating).
    pub fn refit(&self) -> bool {
        self.refit
    }

    /// Fits (or updates) the model and forecasts. Pure and deterministic.
    pub fn run(self) -> FitOutcome {
        let Some(hist_end) = self.hist_end else {
            return FitOutcome {
                refit_at: self.refit_at,
                refit: self.refit,
                unit: self.unit.unwrap_or(self.fallback_unit),
                fitted: None,
                forecast: None,
                description: None,
            };
        };
        // The series is fitted divided by its unit, so it no longer counts events per step even
        // when the metric did: whole numbers after the division are an accident of the unit,
        // and count floors on them would make decisions depend on the unit. Declared a gauge,
        // the noise model comes from the series' own dispersion in every unit.
        let model = ModelKind::Prescale.build_declared(&self.options, ValueKind::Gauge);
        let step_secs = self.step_secs;
        // At a refit, the series' own unit from what the fit sees (the window and the steps
        // since); for a series that has been all zero, a hundredth of one replica's capacity.
        let unit = self.unit.unwrap_or_else(|| {
            let seen: Vec<f64> = self
                .fit_values
                .iter()
                .chain(&self.new_values)
                .copied()
                .collect();
            unit_of(&seen).unwrap_or(self.fallback_unit)
        });
        let scaled = |v: &[f64]| v.iter().map(|x| x / unit).collect::<Vec<f64>>();
        let fit = |values: &[f64]| {
            model
                .fit(&FitInput {
                    values,
                    start: self.fit_start,
                    step_secs,
                    horizon: self.fit_horizon,
                })
                .ok()
        };
        let new = scaled(&self.new_values);
        let mut fitted = match self.kept {
            // A kept model that cannot take the update is dropped: the next refresh refits.
            Some(mut kept) => kept.update(&new).then_some(kept),
            None => {
                let values = scaled(&self.fit_values);
                let mut fitted = fit(&values);
                if let Some(f) = &mut fitted
                    && !f.update(&new)
                {
                    // A model that cannot update is fitted on the window ending now.
                    let whole: Vec<f64> = values.iter().chain(&new).copied().collect();
                    fitted = fit(&whole);
                }
                fitted
            }
        };
        let forecast = fitted.as_mut().and_then(|f| {
            predict(f.as_ref(), hist_end, step_secs, self.horizon, &self.levels)
                .ok()
                .map(|mut fc| {
                    fc.point.iter_mut().for_each(|v| *v *= unit);
                    for q in &mut fc.quantiles {
                        q.values.iter_mut().for_each(|v| *v *= unit);
                    }
                    fc
                })
        });
        let description = fitted.as_ref().map(|f| f.describe());
        FitOutcome {
            refit_at: self.refit_at,
            refit: self.refit,
            unit,
            fitted: fitted.map(|f| (f, hist_end)),
            forecast,
            description,
        }
    }
}
