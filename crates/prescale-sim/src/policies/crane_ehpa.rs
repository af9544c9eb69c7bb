//! `crane_dsp`: Crane's EffectiveHorizontalPodAutoscaler (guide: anchors §1.1). The HPA it
//! creates has two metrics, the original reactive one (the arrival rate over the last minute)
//! and `crane_autoscaling_prediction`: the largest predicted demand in
//! `[now, now + predictionWindowSeconds]` (3,600 s), both AverageValue with one replica's
//! capacity as target; the HPA takes the larger proposal. The DSP model
//! ([`prescale_forecast::models::crane_dsp`]) is refit every 12 hours (Crane's
//! `--model-update-interval`) on up to 15 days of history and needs 48 hours of it; without a
//! daily or weekly period it predicts nothing and the HPA runs on the reactive metric alone.
//! The HPA as in `keda_reactive` (no `behavior`: legacy limits); minReplicas 1 (no scale to
//! zero).

use prescale_forecast::model::Model;
use prescale_forecast::models::crane_dsp::CraneDsp;

use crate::autoscaler::{Autoscaler, ForecastSample, Observation};
use crate::policies::keda::{KedaHpa, KedaSettings};

/// Crane EHPA with its defaults.
pub struct CraneEhpa {
    model: CraneDsp,
    hpa: KedaHpa,
    refit_secs: f64,
    window_secs: f64,
    last_fit: Option<f64>,
    /// The prediction: values per step from history index `from`.
    prediction: Option<(usize, Vec<f64>)>,
    sample: Option<ForecastSample>,
}

impl CraneEhpa {
    /// Crane's defaults, up to `max_replicas`, with the HPA's defaults.
    pub fn new(max_replicas: u32) -> Self {
        Self::with_settings(&KedaSettings::default(), max_replicas)
    }

    /// Crane's defaults, up to `max_replicas`, with the HPA of `settings` (its behavior,
    /// sync period and tolerance; minReplicas 1).
    pub fn with_settings(settings: &KedaSettings, max_replicas: u32) -> Self {
        Self {
            model: CraneDsp::default(),
            hpa: KedaHpa::hpa_only(settings, 1, max_replicas),
            refit_secs: 12.0 * 3600.0,
            window_secs: 3600.0,
            last_fit: None,
            prediction: None,
            sample: None,
        }
    }

    fn refit(&mut self, obs: &Observation<'_>) {
        let step = obs.step_secs as f64;
        let n = obs.history.len();
        let horizon = ((self.refit_secs + self.window_secs) / step).ceil() as usize + 2;
        let input = obs.recent_history(15.0 * 86_400.0, horizon);
        self.prediction = self
            .model
            .fit(&input)
            .ok()
            .map(|f| (n, f.predict_point(horizon)));
    }

    /// The largest predicted rate per minute in `[now, now + window]`.
    fn predicted(&self, obs: &Observation<'_>) -> Option<f64> {
        let (from, values) = self.prediction.as_ref()?;
        let step = obs.step_secs as f64;
        let first = (obs.elapsed_secs / step).floor() as usize;
        let last = ((obs.elapsed_secs + self.window_secs) / step).ceil() as usize;
        let lo = first.checked_sub(*from)?;
        let hi = last.checked_sub(*from)?.min(values.len());
        values
            .get(lo..hi)?
            .iter()
            .copied()
            .reduce(f64::max)
            .map(|v| v * 60.0 / step)
    }
}

/// Whether a periodic action last run at `last` is due at `now`.
fn due(last: &mut Option<f64>, now: f64, every: f64) -> bool {
    if last.is_none_or(|l| now - l >= every - 1e-9) {
        *last = Some(now);
        true
    } else {
        false
    }
}

impl Autoscaler for CraneEhpa {
    fn name(&self) -> &'static str {
        "crane_dsp"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let t = obs.elapsed_secs;
        if due(&mut self.last_fit, t, self.refit_secs) {
            self.refit(obs);
        }
        let cap = obs.capacity_per_min;
        let mut metrics = vec![(obs.rate_over(60.0), cap)];
        if self.hpa.sync_due(obs.now) {
            let predicted = self.predicted(obs);
            metrics.extend(predicted.map(|p| (p, cap)));
            self.sample = predicted.map(|p| ForecastSample { p50: p, upper: p });
        }
        self.hpa.tick(obs.now, None, &metrics)
    }

    fn forecast(&self) -> Option<ForecastSample> {
        self.sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimConfig, simulate};
    use prescale_core::synth::{SyntheticSpec, generate};

    #[test]
    fn predicts_after_two_days_and_never_scales_to_zero() {
        let series = generate(&SyntheticSpec {
            days: 4.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let mut c = CraneEhpa::new(100);
        let (summary, timeline, _) = simulate(&series, &SimConfig::new(cap), &mut c);
        assert!(timeline.replicas.iter().all(|&r| r >= 1.0));
        assert_eq!(summary.wakeups, 1); // only the very first start
        // Predictions exist once 48 h of history are there (and the 12 h refit ran).
        let p50 = timeline.forecast_p50.expect("a prediction");
        assert!(p50[..2 * 1440].iter().all(|v| v.is_nan()));
        assert!(p50[3 * 1440..].iter().any(|v| v.is_finite()));
    }
}
