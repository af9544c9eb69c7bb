//! The simulation loop.
//!
//! Time advances in ticks of [`SimConfig::tick_secs`] (at most 15 s). In each tick:
//!
//! 1. the policy observes what a real autoscaler would see at the tick's start (completed trace
//!    steps, per-tick arrival rates so far, the queue, ready and requested pods) and names the
//!    pods it wants;
//! 2. the cluster starts or removes pods (new pods serve after their cold start), and spot pods
//!    may be preempted;
//! 3. the tick's demand arrives: a trace step longer than the tick is spread evenly over it
//!    (each tick gets `value × tick / step`), so 5- and 10-minute traces replay too;
//! 4. the ready pods serve the queue first in, first out (see the `queue` module).

use chrono::{DateTime, Duration, Utc};
use prescale_core::Series;
use serde::Serialize;

use prescale_policy::cost::month_start;
use prescale_policy::{CostMeter, CostSpec, SpotSpec};

use crate::autoscaler::{Autoscaler, Observation};
use crate::cluster::{Cluster, ColdStart};
use crate::queue::Queue;
use crate::report::{PolicySummary, PolicyTimeline, Settings};

/// Spot capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spot {
    /// Price discount against on-demand, e.g. 0.6 for 60% cheaper.
    pub discount: f64,
    /// Preemptions per pod-hour.
    pub preemptions_per_hour: f64,
}

/// Settings of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Tick in seconds (1–15).
    pub tick_secs: i64,
    /// Demand units a ready pod serves per minute.
    pub capacity_per_min: f64,
    /// Cold start of new pods.
    pub cold_start: ColdStart,
    /// SLA on the queueing delay, in seconds.
    pub sla_secs: f64,
    /// On-demand price per replica-hour, US dollars.
    pub price_per_hour: f64,
    /// GPUs per replica (GPU-hours = replica-hours × this).
    pub gpus_per_replica: f64,
    /// Run on spot capacity.
    pub spot: Option<Spot>,
    /// A demand resumption after at least this many seconds without demand counts as a "first
    /// request after idle".
    pub idle_gap_secs: f64,
    /// Spacing of the chart samples, in seconds.
    pub timeline_step_secs: i64,
    /// Seed of the cold-start and preemption randomness.
    pub seed: u64,
    /// Monthly budget in US dollars: past it, prescale drops its predictive headroom (see
    /// `prescale_policy::cost`).
    pub monthly_budget_usd: Option<f64>,
}

impl SimConfig {
    /// Defaults for `capacity_per_min`: 15 s ticks, a fixed 3-minute cold start, a 500 ms
    /// SLA, 2.50 $ per replica-hour, one GPU per replica, on-demand.
    pub fn new(capacity_per_min: f64) -> Self {
        Self {
            tick_secs: 15,
            capacity_per_min,
            cold_start: ColdStart::Fixed(180.0),
            sla_secs: 0.5,
            price_per_hour: 2.5,
            gpus_per_replica: 1.0,
            spot: None,
            idle_gap_secs: 600.0,
            timeline_step_secs: 60,
            seed: 1,
            monthly_budget_usd: None,
        }
    }

    /// The settings echoed in reports.
    pub fn settings(&self) -> Settings {
        Settings {
            capacity_per_replica_per_min: self.capacity_per_min,
            cold_start_secs: self.cold_start.p50(),
            sla_ms: self.sla_secs * 1000.0,
            price_per_hour: self.price_per_hour,
            tick_secs: self.tick_secs,
        }
    }

    /// The cost model shared with the policy engine (and the server).
    pub fn cost_spec(&self) -> CostSpec {
        CostSpec {
            price_per_hour: self.price_per_hour,
            gpus_per_replica: self.gpus_per_replica,
            spot: self.spot.map(|s| SpotSpec {
                discount: s.discount,
                preemptions_per_hour: s.preemptions_per_hour,
            }),
            monthly_budget_usd: self.monthly_budget_usd,
        }
    }
}

/// The default capacity: one replica serves a tenth of the trace's 99th-percentile demand rate
/// (so the P99 needs 10 replicas); at least a thousandth of a unit per minute.
pub fn default_capacity(series: &Series) -> f64 {
    let mut rates: Vec<f64> = series
        .values()
        .iter()
        .map(|v| v * 60.0 / series.step_secs() as f64)
        .collect();
    if rates.is_empty() {
        return 1.0;
    }
    let k = ((rates.len() as f64 * 0.99).ceil() as usize).clamp(1, rates.len()) - 1;
    let p99 = *rates.select_nth_unstable_by(k, f64::total_cmp).1;
    (p99 / 10.0).max(1e-3)
}

/// Demand (units) arriving in `[t0, t1)` seconds after the trace start.
fn arrivals(values: &[f64], step: f64, t0: f64, t1: f64) -> f64 {
    let mut total = 0.0;
    let mut i = (t0 / step).floor().max(0.0) as usize;
    while i < values.len() {
        let s0 = i as f64 * step;
        let s1 = s0 + step;
        if s0 >= t1 {
            break;
        }
        let overlap = (s1.min(t1) - s0.max(t0)).max(0.0);
        total += values[i] * overlap / step;
        i += 1;
    }
    total
}

/// Accumulates chart samples.
struct Sampler {
    every: usize,
    n: usize,
    demand: f64,
    capacity: f64,
    replicas: f64,
    p50: f64,
    upper: f64,
    forecasts: usize,
}

/// Replays `series` through `policy`; returns its summary and its chart series plus the
/// demand series sampled on the same grid.
pub fn simulate(
    series: &Series,
    config: &SimConfig,
    policy: &mut dyn Autoscaler,
) -> (PolicySummary, PolicyTimeline, Vec<f64>) {
    let (summary, timeline, demand, _) = simulate_hourly(series, config, policy);
    (summary, timeline, demand)
}

/// One hour of a replay, by arrival time from the trace's start: demand, demand within the
/// SLA and GPU-hours (what SLO mode's tuner scores candidate settings with).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HourScore {
    /// Demand arrived in the hour, in demand units.
    pub demand: f64,
    /// Of it, served within the SLA.
    pub within: f64,
    /// GPU-hours billed in the hour (replicas requested, cold starts included).
    pub gpu_hours: f64,
}

/// [`simulate`], with the replay's [`HourScore`]s.
pub fn simulate_hourly(
    series: &Series,
    config: &SimConfig,
    policy: &mut dyn Autoscaler,
) -> (PolicySummary, PolicyTimeline, Vec<f64>, Vec<HourScore>) {
    let tick = config.tick_secs.clamp(1, 15) as f64;
    let step = series.step_secs() as f64;
    let values = series.values();
    let duration = values.len() as f64 * step;
    let ticks = (duration / tick).ceil() as usize;
    let cap_per_sec = config.capacity_per_min / 60.0;
    let preempt = config.spot.map_or(0.0, |s| s.preemptions_per_hour);
    let mut cluster = Cluster::new(config.cold_start, preempt, config.seed);
    let mut queue = Queue::default();
    let mut rates: Vec<f64> = Vec::with_capacity(ticks);
    let history_window = (3600.0 / tick) as usize;

    let mut summary = PolicySummary {
        name: policy.name().to_string(),
        gpu_hours: 0.0,
        cost_usd: 0.0,
        underprovisioned_minutes: 0.0,
        sla_attainment: 1.0,
        p95_latency_ms: 0.0,
        queue_peak: 0.0,
        cold_starts: 0,
        scale_events: 0,
        wakeups: 0,
        first_requests_after_idle: 0,
        warm_first_requests: 0,
        mean_replicas: 0.0,
    };
    let mut timeline = PolicyTimeline {
        name: policy.name().to_string(),
        capacity: Vec::new(),
        replicas: Vec::new(),
        cost_usd: Vec::new(),
        forecast_p50: None,
        forecast_upper: None,
    };
    let mut demand_line = Vec::new();
    let (mut p50_line, mut upper_line) = (Vec::new(), Vec::new());
    let every = ((config.timeline_step_secs.max(1) as f64 / tick).round() as usize).max(1);
    let mut s = Sampler {
        every,
        n: 0,
        demand: 0.0,
        capacity: 0.0,
        replicas: 0.0,
        p50: 0.0,
        upper: 0.0,
        forecasts: 0,
    };
    let cost_spec = config.cost_spec();
    let mut meter = CostMeter::new(cost_spec.clone());
    let on_spot = config.spot.is_some();
    let split = |n: u32| if on_spot { (0, n) } else { (n, 0) };
    let mut ready_secs = 0.0;
    let mut gpu_secs_by_hour: Vec<f64> = Vec::new();
    let mut last_desired = 0u32;
    let mut last_demand_end: Option<f64> = None;

    for k in 0..ticks {
        let now_s = k as f64 * tick;
        let now: DateTime<Utc> = series.start() + Duration::milliseconds((now_s * 1000.0) as i64);
        let completed = ((now_s / step).floor() as usize).min(values.len());
        let obs = Observation {
            now,
            elapsed_secs: now_s,
            tick_secs: tick,
            history: &values[..completed],
            history_start: series.start(),
            step_secs: series.step_secs(),
            recent_rates: &rates[rates.len().saturating_sub(history_window)..],
            queue: queue.backlog(),
            ready: cluster.ready(now_s),
            total: cluster.total(),
            capacity_per_min: config.capacity_per_min,
            budget: {
                let (od, sp) = split(cluster.total());
                meter.budget_state(now, month_start(now), cost_spec.burn_per_hour(od, sp))
            },
        };
        let desired = policy.desired(&obs).min(100_000);
        if desired != last_desired {
            summary.scale_events += 1;
        }
        if cluster.total() == 0 && desired > 0 {
            summary.wakeups += 1;
        }
        last_desired = desired;
        cluster.scale_to(now_s, desired);
        cluster.preempt(now_s, tick);
        let ready = cluster.ready(now_s);
        let a = arrivals(values, step, now_s, now_s + tick);
        queue.tick(now_s, tick, a, ready as f64 * cap_per_sec);
        summary.queue_peak = summary.queue_peak.max(queue.backlog());
        let rate = a / tick * 60.0;
        if rate > ready as f64 * config.capacity_per_min + 1e-9 {
            summary.underprovisioned_minutes += tick / 60.0;
            tracing::trace!(policy = policy.name(), %now, rate, ready, "Underprovisioned.");
        }
        let (od, sp) = split(cluster.total());
        meter.record(now, od, sp, tick);
        ready_secs += ready as f64 * tick;
        let hour = (now_s / 3600.0) as usize;
        if gpu_secs_by_hour.len() <= hour {
            gpu_secs_by_hour.resize(hour + 1, 0.0);
        }
        gpu_secs_by_hour[hour] += f64::from(cluster.total()) * tick * config.gpus_per_replica;
        if a > 0.0 {
            if last_demand_end.is_some_and(|end| now_s - end >= config.idle_gap_secs) {
                summary.first_requests_after_idle += 1;
                summary.warm_first_requests += u64::from(ready > 0);
                tracing::debug!(policy = policy.name(), %now, ready, total = cluster.total(), "Demand resumed after an idle gap.");
            }
            last_demand_end = Some(now_s + tick);
        }
        rates.push(rate);

        s.n += 1;
        s.demand += rate;
        s.capacity += ready as f64 * config.capacity_per_min;
        s.replicas += cluster.total() as f64;
        if let Some(f) = policy.forecast() {
            s.p50 += f.p50;
            s.upper += f.upper;
            s.forecasts += 1;
        }
        if s.n == s.every || k + 1 == ticks {
            let n = s.n as f64;
            demand_line.push(s.demand / n);
            timeline.capacity.push(s.capacity / n);
            timeline.replicas.push(s.replicas / n);
            timeline.cost_usd.push(meter.cost_usd());
            let f = s.forecasts as f64;
            p50_line.push(if s.forecasts > 0 { s.p50 / f } else { f64::NAN });
            upper_line.push(if s.forecasts > 0 {
                s.upper / f
            } else {
                f64::NAN
            });
            s = Sampler {
                n: 0,
                demand: 0.0,
                capacity: 0.0,
                replicas: 0.0,
                p50: 0.0,
                upper: 0.0,
                forecasts: 0,
                ..s
            };
        }
    }
    if p50_line.iter().any(|v| !v.is_nan()) {
        timeline.forecast_p50 = Some(p50_line);
        timeline.forecast_upper = Some(upper_line);
    }
    let end = ticks as f64 * tick;
    let (sla, p95, by_hour) = queue.finish_by(end, config.sla_secs, 3600.0);
    let hours = by_hour.len().max(gpu_secs_by_hour.len());
    let hourly = (0..hours)
        .map(|h| {
            let (within, demand) = by_hour.get(h).copied().unwrap_or((0.0, 0.0));
            HourScore {
                demand,
                within,
                gpu_hours: gpu_secs_by_hour.get(h).copied().unwrap_or(0.0) / 3600.0,
            }
        })
        .collect();
    summary.sla_attainment = sla;
    summary.p95_latency_ms = p95 * 1000.0;
    summary.gpu_hours = meter.gpu_hours();
    summary.cost_usd = meter.cost_usd();
    summary.cold_starts = cluster.cold_starts;
    summary.mean_replicas = if end > 0.0 { ready_secs / end } else { 0.0 };
    (summary, timeline, demand_line, hourly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescale_core::ValueKind;

    struct Fixed(u32);
    impl Autoscaler for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn desired(&mut self, _: &Observation<'_>) -> u32 {
            self.0
        }
    }

    fn series(values: Vec<f64>, step: i64) -> Series {
        Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            step,
            values,
            ValueKind::Count,
        )
        .unwrap()
    }

    #[test]
    fn arrivals_spread_long_steps_evenly() {
        let v = [60.0, 120.0];
        assert!((arrivals(&v, 60.0, 0.0, 15.0) - 15.0).abs() < 1e-9);
        assert!((arrivals(&v, 60.0, 45.0, 75.0) - (15.0 + 30.0)).abs() < 1e-9);
        assert!((arrivals(&v, 60.0, 0.0, 120.0) - 180.0).abs() < 1e-9);
    }

    #[test]
    fn enough_pods_serve_everything_in_time() {
        // 60 units per minute for an hour; 2 pods of 40/min each.
        let s = series(vec![60.0; 60], 60);
        let cfg = SimConfig {
            cold_start: ColdStart::Fixed(0.0),
            ..SimConfig::new(40.0)
        };
        let (sum, tl, demand) = simulate(&s, &cfg, &mut Fixed(2));
        assert_eq!(sum.underprovisioned_minutes, 0.0);
        assert!((sum.sla_attainment - 1.0).abs() < 1e-12);
        assert!((sum.gpu_hours - 2.0).abs() < 1e-9);
        assert!((sum.cost_usd - 5.0).abs() < 1e-9);
        assert_eq!((sum.cold_starts, sum.scale_events), (2, 1));
        assert_eq!(demand.len(), 60);
        assert!((demand[10] - 60.0).abs() < 1e-9);
        assert!((tl.capacity[10] - 80.0).abs() < 1e-9);
    }

    #[test]
    fn too_few_pods_underprovision_and_queue() {
        let s = series(vec![60.0; 60], 60);
        let cfg = SimConfig {
            cold_start: ColdStart::Fixed(0.0),
            ..SimConfig::new(40.0)
        };
        let (sum, _, _) = simulate(&s, &cfg, &mut Fixed(1));
        assert!((sum.underprovisioned_minutes - 60.0).abs() < 1e-9);
        assert!(sum.sla_attainment < 0.1, "{}", sum.sla_attainment);
        assert!(sum.queue_peak > 1000.0);
    }

    #[test]
    fn cold_starts_delay_capacity() {
        let s = series(vec![60.0; 60], 60);
        let cfg = SimConfig::new(100.0); // 3-minute cold start
        let (sum, _, _) = simulate(&s, &cfg, &mut Fixed(1));
        assert!((sum.underprovisioned_minutes - 3.0).abs() < 1e-9);
        assert!(sum.sla_attainment < 1.0);
    }

    #[test]
    fn first_requests_after_idle_are_counted() {
        // 20 minutes of demand, 30 idle, 10 of demand.
        let mut v = vec![10.0; 20];
        v.extend(vec![0.0; 30]);
        v.extend(vec![10.0; 10]);
        let s = series(v, 60);
        let cfg = SimConfig {
            cold_start: ColdStart::Fixed(0.0),
            ..SimConfig::new(100.0)
        };
        let (sum, _, _) = simulate(&s, &cfg, &mut Fixed(1));
        assert_eq!(
            (sum.first_requests_after_idle, sum.warm_first_requests),
            (1, 1)
        );
    }

    #[test]
    fn default_capacity_puts_p99_at_ten_replicas() {
        let s = series((1..=100).map(f64::from).collect(), 60);
        assert!((default_capacity(&s) - 9.9).abs() < 1e-9);
    }
}
