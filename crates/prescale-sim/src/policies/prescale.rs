//! `prescale`: the forecast-driven policy, run as it runs in production behind KEDA.
//!
//! - **Forecasts**: the `prescale` model is refit on up to 14 days of completed history every
//!   6 hours; every 5 minutes it is brought up to date with the steps completed since (the
//!   model's incremental update, no refit) and forecasts the next lead + window + 5 minutes
//!   with P50 and the provisioning quantile.
//! - **Decisions** every 15 s (the HPA sync): [`prescale_policy::decide`] with the live rate
//!   over the last minute, the latest forecast and the spec (lead time = the cold start's P95,
//!   window 5 minutes, P90): desired replicas cover the forecast over
//!   `[now + lead, now + lead + window]`, never less than live demand needs now (the rate
//!   plus the backlog cleared within the drain time, 5 minutes: the queue and, when the rate
//!   exceeds the ready capacity, the shortfall that piles up over one cold start); scale to zero
//!   only after 5 minutes of zero demand with no demand forecast through the lead time, and
//!   predictive wake-up before the forecast resumption.
//! - **Target utilization** (default 1): replicas are counted at this share of a pod's
//!   capacity (the `threshold` a user sets below capacity in production); the backlog's
//!   shortfall is measured against the real ready capacity.
//! - **KEDA + HPA on top**, as in a cluster: KEDA turns 0 ↔ 1 from the decision's `active`
//!   flag at its 30 s polls (cooldown 60 s: the policy has already waited its idle period), and
//!   the HPA (no `behavior`, as KEDA creates it: scale-up at most max(2×, 4) per sync, 300 s
//!   scale-down stabilization) follows the desired replicas.

use chrono::Duration;
use prescale_core::Forecast;
use prescale_forecast::model::{Fitted, Model, predict};
use prescale_forecast::models::prescale::Prescale;
use prescale_policy::{Hpa, PolicyInput, ScalingSpec, decide, live_anomalous};

use crate::autoscaler::{Autoscaler, ForecastSample, Observation};
use crate::policies::PolicyOptions;
use crate::policies::keda_reactive::due;

/// The prescale policy in the simulator.
pub struct PrescalePolicy {
    spec: ScalingSpec,
    model: Prescale,
    hpa: Hpa,
    fitted: Option<Box<dyn Fitted>>,
    /// History steps the fitted model has seen.
    seen: usize,
    forecast: Option<Forecast>,
    last_refit: Option<f64>,
    last_refresh: Option<f64>,
    last_sync: Option<f64>,
    last_poll: Option<f64>,
    last_active: Option<f64>,
    zero_since: Option<chrono::DateTime<chrono::Utc>>,
    replicas: u32,
    sample: Option<ForecastSample>,
    refit_secs: f64,
    refresh_secs: f64,
    cooldown_secs: f64,
    /// Minutes in which a backlog is cleared (at least one).
    drain_min: f64,
}

impl PrescalePolicy {
    /// The policy for pods of `capacity_per_min` with a cold start whose P95 is `lead_secs`.
    pub fn new(
        capacity_per_min: f64,
        lead_secs: f64,
        max_replicas: u32,
        options: &PolicyOptions,
    ) -> Self {
        let utilization = if options.target_utilization > 0.0 {
            options.target_utilization.min(1.0)
        } else {
            1.0
        };
        let mut spec = ScalingSpec::new(capacity_per_min * utilization);
        spec.max_replicas = max_replicas;
        spec.cold_start_secs = lead_secs.round() as i64;
        spec.window_secs = options.window_secs.round() as i64;
        spec.quantile = options.quantile;
        spec.scale_to_zero = options.scale_to_zero;
        Self {
            spec,
            model: Prescale::default(),
            hpa: Hpa::legacy(1, max_replicas, 300),
            fitted: None,
            seen: 0,
            forecast: None,
            last_refit: None,
            last_refresh: None,
            last_sync: None,
            last_poll: None,
            last_active: None,
            zero_since: None,
            replicas: 0,
            sample: None,
            refit_secs: 6.0 * 3600.0,
            refresh_secs: 300.0,
            cooldown_secs: 60.0,
            drain_min: (options.drain_secs / 60.0).max(1.0),
        }
    }

    /// Live demand per minute to serve now: the rate over the last minute, plus the backlog
    /// to clear within the drain time. The backlog is the queue and, when the rate exceeds the
    /// ready capacity, what piles up until new pods are ready (the shortfall for one lead
    /// time; an upper estimate when pods are already starting).
    fn live_need(&self, obs: &Observation<'_>) -> f64 {
        let rate = obs.rate_over(60.0);
        let shortfall = (rate - f64::from(obs.ready) * obs.capacity_per_min).max(0.0);
        let lead_min = self.spec.cold_start_secs as f64 / 60.0;
        rate + (obs.queue + shortfall * lead_min) / self.drain_min
    }

    fn horizon(&self, step: f64) -> usize {
        let secs = (self.spec.cold_start_secs + self.spec.window_secs) as f64 + self.refresh_secs;
        (secs / step).ceil() as usize + 1
    }

    fn refresh(&mut self, obs: &Observation<'_>) {
        let step = obs.step_secs as f64;
        let n = obs.history.len();
        if n == 0 {
            return;
        }
        let horizon = self.horizon(step);
        let refit_due = due(&mut self.last_refit, obs.elapsed_secs, self.refit_secs);
        let updated = !refit_due
            && self
                .fitted
                .as_mut()
                .is_some_and(|f| f.update(&obs.history[self.seen..n]));
        if !updated {
            let input = obs.recent_history(14.0 * 86_400.0, horizon);
            self.fitted = self.model.fit(&input).ok();
        }
        self.seen = n;
        let start = obs.history_start + Duration::seconds(obs.step_secs * n as i64);
        let levels = [0.5, self.spec.quantile];
        self.forecast = self
            .fitted
            .as_ref()
            .and_then(|f| predict(f.as_ref(), start, obs.step_secs, horizon, &levels).ok());
    }
}

impl Autoscaler for PrescalePolicy {
    fn name(&self) -> &'static str {
        "prescale"
    }

    fn desired(&mut self, obs: &Observation<'_>) -> u32 {
        let t = obs.elapsed_secs;
        if due(&mut self.last_refresh, t, self.refresh_secs) {
            self.refresh(obs);
        }
        let live = self.live_need(obs);
        if live > 0.0 {
            self.zero_since = None;
        } else if self.zero_since.is_none() {
            self.zero_since = Some(obs.now);
        }
        let sync = due(&mut self.last_sync, t, 15.0);
        let poll = due(&mut self.last_poll, t, 30.0);
        if !(sync || poll) {
            return self.replicas;
        }
        let input = PolicyInput {
            now: obs.now,
            live_demand: Some(live),
            last_sample_at: Some(obs.now),
            zero_since: self.zero_since,
            forecast: self.forecast.as_ref(),
            current_replicas: self.replicas,
            live_anomalous: self
                .forecast
                .as_ref()
                .is_some_and(|f| live_anomalous(f, self.spec.quantile, obs.now, live)),
            budget: obs.budget,
        };
        let decision = decide(&self.spec, &input);
        self.sample = decision.window.and_then(|(from, to)| {
            let f = self.forecast.as_ref()?;
            let per_min = 60.0 / f.step_secs as f64;
            let p50 = f.max_over(Some(0.5), from, to + Duration::seconds(1))? * per_min;
            let upper =
                f.max_over(Some(self.spec.quantile), from, to + Duration::seconds(1))? * per_min;
            Some(ForecastSample { p50, upper })
        });
        // KEDA: activation and scale to zero at its polls.
        if poll {
            if decision.active {
                self.last_active = Some(t);
                if self.replicas == 0 {
                    self.replicas = decision.desired_replicas.max(1);
                }
            } else if self.replicas > 0
                && decision.desired_replicas == 0
                && self.last_active.is_none_or(|a| t - a >= self.cooldown_secs)
            {
                self.replicas = 0;
            }
        }
        // The HPA follows the desired replicas while the deployment runs.
        if sync && self.replicas > 0 {
            self.replicas = self
                .hpa
                .step(obs.now, self.replicas, decision.desired_replicas.max(1));
        }
        self.replicas
    }

    fn forecast(&self) -> Option<ForecastSample> {
        self.sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimConfig, simulate};
    use chrono::DateTime;
    use prescale_core::synth::{SyntheticSpec, generate};
    use prescale_core::{Series, ValueKind};

    #[test]
    fn live_need_clears_the_queue_and_the_coming_shortfall_within_the_drain_time() {
        let p = PrescalePolicy::new(10.0, 180.0, 100, &PolicyOptions::default());
        let rates = [30.0; 4];
        let mut obs = Observation {
            now: DateTime::from_timestamp(0, 0).unwrap(),
            elapsed_secs: 60.0,
            tick_secs: 15.0,
            history: &[],
            history_start: DateTime::from_timestamp(0, 0).unwrap(),
            step_secs: 60,
            recent_rates: &rates,
            queue: 5.0,
            ready: 2,
            total: 2,
            capacity_per_min: 10.0,
            budget: prescale_policy::BudgetState::Ok,
        };
        // 30/min against 20/min ready: 10/min short for a 3-minute cold start, plus 5 queued,
        // = 35 units to clear in 5 minutes.
        assert!((p.live_need(&obs) - 37.0).abs() < 1e-9);
        // Enough ready capacity: only the queue.
        obs.ready = 3;
        assert!((p.live_need(&obs) - 31.0).abs() < 1e-9);
        let fast = PrescalePolicy::new(
            10.0,
            180.0,
            100,
            &PolicyOptions {
                drain_secs: 30.0, // clamped to a minute
                ..PolicyOptions::default()
            },
        );
        assert!((fast.live_need(&obs) - 35.0).abs() < 1e-9);
    }

    #[test]
    fn a_lower_target_utilization_keeps_spare_capacity() {
        let series = generate(&SyntheticSpec {
            days: 3.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let run = |u: f64| {
            let mut p = PrescalePolicy::new(
                cap,
                180.0,
                1000,
                &PolicyOptions {
                    target_utilization: u,
                    ..PolicyOptions::default()
                },
            );
            simulate(&series, &SimConfig::new(cap), &mut p).0
        };
        let (full, spare) = (run(1.0), run(0.5));
        // Planning at half a pod's capacity: about twice the pods, fewer minutes short.
        assert!(
            spare.mean_replicas > 1.6 * full.mean_replicas,
            "{spare:?} vs {full:?}"
        );
        assert!(
            spare.underprovisioned_minutes < full.underprovisioned_minutes,
            "{spare:?} vs {full:?}"
        );
        // Out-of-range values plan at full capacity.
        assert_eq!(run(0.0).gpu_hours, full.gpu_hours);
    }

    #[test]
    fn wakes_up_before_a_predictable_morning() {
        // Four days of the demo workload: idle 01:00-06:00 every night.
        let series = generate(&SyntheticSpec {
            days: 4.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let cfg = SimConfig::new(cap);
        let mut p = PrescalePolicy::new(cap, 180.0, 100, &PolicyOptions::default());
        let (summary, timeline, _) = simulate(&series, &cfg, &mut p);
        // Nights 2 and 3 are predictable (two days of history): their mornings find a warm pod.
        assert!(summary.warm_first_requests >= 2, "{summary:?}");
        // It scales to zero at night: some chart samples have no replica.
        assert!(timeline.replicas.contains(&0.0));
        assert!(timeline.forecast_p50.is_some());
    }

    #[test]
    fn an_exhausted_budget_drops_the_headroom_but_not_the_live_need() {
        let series = generate(&SyntheticSpec {
            days: 4.0,
            ..SyntheticSpec::demo()
        });
        let cap = crate::engine::default_capacity(&series);
        let run = |budget: Option<f64>| {
            let cfg = SimConfig {
                monthly_budget_usd: budget,
                ..SimConfig::new(cap)
            };
            let mut p = PrescalePolicy::new(cap, 180.0, 100, &PolicyOptions::default());
            simulate(&series, &cfg, &mut p).0
        };
        let free = run(None);
        let capped = run(Some(1.0));
        assert!(
            capped.gpu_hours < free.gpu_hours,
            "{} vs {}",
            capped.gpu_hours,
            free.gpu_hours
        );
        // It still serves what live demand needs: most demand is served within the SLA.
        assert!(capped.sla_attainment > 0.5, "{}", capped.sla_attainment);
    }

    #[test]
    fn never_scales_a_busy_service_to_zero_without_a_forecast() {
        let values = vec![100.0; 600];
        let s = Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            60,
            values,
            ValueKind::Count,
        )
        .unwrap();
        let cfg = SimConfig::new(30.0);
        let mut p = PrescalePolicy::new(30.0, 180.0, 100, &PolicyOptions::default());
        let (_, timeline, _) = simulate(&s, &cfg, &mut p);
        // After the first minutes it always holds the 4 replicas 100/min needs.
        assert!(
            timeline.replicas[10..].iter().all(|&r| r >= 4.0),
            "{:?}",
            &timeline.replicas[..20]
        );
    }
}
