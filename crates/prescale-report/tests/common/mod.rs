//! A synthetic backtest report, built by hand, for the tests and the example.
//!
//! Shared by the unit tests (through `#[path]`), the integration tests and the example.

use chrono::{TimeZone, Utc};
use prescale_sim::report::{BacktestReport, PolicySummary, PolicyTimeline, Settings, Timeline};

/// Demand units one replica serves per minute.
const CAPACITY: f64 = 60.0;
/// On-demand price per replica-hour.
const PRICE: f64 = 2.5;

/// A report over `samples` samples `step_secs` apart from 2024-01-01 (a Monday): a daily cycle
/// with quiet weekends, noise, spikes and idle nights, and three policies: `static_peak`,
/// `keda_reactive` (lagging demand) and `prescale` (with a forecast band, NaN over the first
/// tenth of the trace, before it has history).
pub(crate) fn synthetic_report(trace: &str, samples: usize, step_secs: i64) -> BacktestReport {
    let step_min = step_secs as f64 / 60.0;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let expected: Vec<f64> = (0..samples)
        .map(|i| {
            let minutes = i as f64 * step_min;
            let hour = (minutes / 60.0) % 24.0;
            let weekend = ((minutes / 1440.0) as u64 % 7) >= 5;
            let cycle = 0.5 - 0.5 * ((hour - 3.0) / 24.0 * std::f64::consts::TAU).cos();
            let level = 20.0 + 380.0 * cycle * if weekend { 0.55 } else { 1.0 };
            if weekend && (2.0..4.5).contains(&hour) {
                0.0
            } else {
                level
            }
        })
        .collect();
    let demand: Vec<f64> = expected
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let spike = if (i as f64 * step_min) % 2460.0 < 15.0 {
                2.2
            } else {
                1.0
            };
            (e * spike * (1.0 + 0.2 * noise())).max(0.0).round()
        })
        .collect();
    let peak = demand.iter().copied().fold(0.0, f64::max);

    let static_replicas = vec![(peak / CAPACITY).ceil() + 1.0; samples];
    let lag = |series: &[f64], by: usize, i: usize| series[i.saturating_sub(by)];
    let keda_desired: Vec<f64> = (0..samples)
        .map(|i| (lag(&demand, 3, i) / (0.8 * CAPACITY)).ceil().max(1.0))
        .collect();
    let keda_ready: Vec<f64> = (0..samples)
        .map(|i| lag(&keda_desired, 3, i).min(keda_desired[i]))
        .collect();
    let warmup = samples / 10;
    let p50: Vec<f64> = (0..samples)
        .map(|i| {
            if i < warmup {
                f64::NAN
            } else {
                expected[i] * (1.0 + 0.05 * noise())
            }
        })
        .collect();
    let upper: Vec<f64> = p50.iter().map(|p| p * 1.3 + 8.0).collect();
    let prescale_replicas: Vec<f64> = (0..samples)
        .map(|i| {
            if i < warmup {
                keda_desired[i]
            } else {
                (upper[i] / CAPACITY).ceil().max(1.0)
            }
        })
        .collect();
    let prescale_ready: Vec<f64> = (0..samples)
        .map(|i| {
            if i < warmup {
                keda_ready[i]
            } else {
                prescale_replicas[i]
            }
        })
        .collect();

    let policy = |name: &str,
                  replicas: Vec<f64>,
                  ready: Vec<f64>,
                  forecast: Option<(Vec<f64>, Vec<f64>)>| {
        let capacity: Vec<f64> = ready.iter().map(|r| r * CAPACITY * step_min).collect();
        let mut total = 0.0;
        let cost_usd: Vec<f64> = replicas
            .iter()
            .map(|r| {
                total += r * PRICE * step_min / 60.0;
                total
            })
            .collect();
        let short: Vec<f64> = demand
            .iter()
            .zip(&capacity)
            .map(|(d, c)| (d - c).max(0.0))
            .collect();
        let under = short.iter().filter(|s| **s > 0.0).count();
        let served = demand.iter().sum::<f64>().max(1.0);
        let starts: f64 = replicas.windows(2).map(|w| (w[1] - w[0]).max(0.0)).sum();
        let events = replicas.windows(2).filter(|w| w[1] != w[0]).count() as u64;
        let gpu_hours = replicas.iter().sum::<f64>() * step_min / 60.0;
        let summary = PolicySummary {
            name: name.to_owned(),
            gpu_hours,
            cost_usd: gpu_hours * PRICE,
            underprovisioned_minutes: under as f64 * step_min,
            sla_attainment: 1.0 - short.iter().sum::<f64>() / served,
            p95_latency_ms: if under > 0 {
                40.0 + 900.0 * under as f64 / samples as f64
            } else {
                35.0
            },
            queue_peak: short.iter().copied().fold(0.0, f64::max),
            cold_starts: starts as u64,
            scale_events: events,
            wakeups: 0,
            first_requests_after_idle: (samples as u64 * step_secs as u64) / (7 * 86_400) * 2,
            warm_first_requests: if name == "keda_reactive" {
                0
            } else {
                (samples as u64 * step_secs as u64) / (7 * 86_400) * 2
            },
            mean_replicas: ready.iter().sum::<f64>() / samples.max(1) as f64,
        };
        let (forecast_p50, forecast_upper) =
            forecast.map_or((None, None), |(p, u)| (Some(p), Some(u)));
        let timeline = PolicyTimeline {
            name: name.to_owned(),
            capacity,
            replicas,
            cost_usd,
            forecast_p50,
            forecast_upper,
        };
        (summary, timeline)
    };
    let policies = vec![
        policy(
            "static_peak",
            static_replicas.clone(),
            static_replicas,
            None,
        ),
        policy("keda_reactive", keda_desired, keda_ready, None),
        policy(
            "prescale",
            prescale_replicas,
            prescale_ready,
            Some((p50, upper)),
        ),
    ];
    let (summaries, timelines) = policies.into_iter().unzip();
    BacktestReport {
        trace: trace.to_owned(),
        settings: Settings {
            capacity_per_replica_per_min: CAPACITY,
            cold_start_secs: 180.0,
            sla_ms: 500.0,
            price_per_hour: PRICE,
            tick_secs: 10,
        },
        policies: summaries,
        timeline: Timeline {
            start: Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                .single()
                .expect("a valid time"),
            step_secs,
            demand,
            policies: timelines,
        },
    }
}
