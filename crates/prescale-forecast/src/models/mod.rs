//! The models, one file each, and the registry that builds them by name.

pub mod crane_dsp;
pub mod ets;
pub mod mstl;
pub mod naive;
pub mod prescale;
mod registry;
pub mod seasonal_naive;
pub mod theta;
pub use registry::{ModelKind, ModelOptions};

use crate::conformal::Calibration;
use crate::noise::{Noise, NoiseModel};

/// Default length of the calibration window (days of backcast residuals).
pub const CALIBRATION_DAYS: f64 = 3.0;

/// Steps in `days` days at `step_secs` (at least 1).
pub(crate) fn calibration_steps(days: f64, step_secs: i64) -> usize {
    ((days * 86_400.0 / step_secs as f64).round() as usize).max(1)
}

/// Fills a calibration from a filter's backcasts: for every origin `o` of the last `window`
/// steps (and not before `warmup`), the forecasts `forecast(o, t)` of `t = o .. o + horizon`
/// (within the data) are compared with `y[t]`. The residual scale is floored by the noise
/// model detected on `y` ([`crate::noise`]).
pub(crate) fn backcast(
    y: &[f64],
    horizon: usize,
    window: usize,
    warmup: usize,
    forecast: impl Fn(usize, usize) -> f64,
) -> Calibration {
    let n = y.len();
    let mut cal = Calibration::with_noise(horizon, Noise::of(y, NoiseModel::Detect));
    let first = n.saturating_sub(window + horizon).max(warmup).max(1);
    for o in first..n {
        for (k, t) in (o..(o + horizon).min(n)).enumerate() {
            cal.push(k, y[t], forecast(o, t));
        }
    }
    cal.finish()
}
