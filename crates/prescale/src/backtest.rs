//! `prescale backtest` and `prescale demo`: replay a trace through prescale and the incumbent
//! autoscalers on a simulated cluster and compare cost and SLA.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use prescale_core::Series;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_sim::policies::keda::KedaSettings;
use prescale_sim::policies::prescale::Signals;
use prescale_sim::policies::{PolicyKind, PolicyOptions};
use prescale_sim::report::{BacktestReport, PolicySummary};
use prescale_sim::run::{PolicyRun, assemble, run_policy};
use prescale_sim::{ColdStart, SimConfig, Spot, default_capacity};
use rayon::prelude::*;

use crate::input::{TraceArgs, parse_duration};
use crate::output::{Format, Table, emit, num, progress};

pub(crate) const EXAMPLES: &str = "\
Examples:
  # Every policy on a trace, 3-minute cold start, default capacity (P99 demand = 10 replicas).
  prescale backtest --trace requests.csv

  # GPU pods with a 5-minute median and 8-minute P95 cold start, a 1 s SLA, spot pricing,
  # an HTML report.
  prescale backtest --trace requests.csv --cold-start 5m --cold-start-p95 8m --sla 1s \\
      --price 4.10 --spot-discount 0.6 --spot-preemptions 0.02 --report report.html

  # Two policies, JSON for scripts.
  prescale backtest --trace requests.csv --policies prescale,keda_reactive --format json";

/// Settings of the simulated cluster and the policies (shared by backtest and demo).
#[derive(Debug, clap::Args)]
pub(crate) struct SimArgs {
    /// Policies to compare, comma-separated (default: all five). Names: static_peak,
    /// keda_reactive, knative_kpa, crane_dsp, prescale; and `clairvoyant`, a bound that reads
    /// the trace's future (pods start exactly one cold start before they are needed): about the
    /// fewest GPU-hours that leave (almost) no underprovisioned minute.
    #[arg(long, value_delimiter = ',')]
    policies: Vec<PolicyKind>,

    /// Cold start of a new pod (the median when --cold-start-p95 is given too).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    cold_start: chrono::Duration,

    /// 95th percentile of the cold start: cold starts then follow a log-normal distribution.
    #[arg(long, value_parser = parse_duration)]
    cold_start_p95: Option<chrono::Duration>,

    /// Demand units one ready replica serves per minute (default: a tenth of the trace's
    /// 99th-percentile demand per minute, so that the P99 needs 10 replicas).
    #[arg(long)]
    capacity: Option<f64>,

    /// SLA on the queueing delay.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    sla: chrono::Duration,

    /// On-demand price per replica-hour, US dollars (`2.5` or `2.5/h`).
    #[arg(long, default_value = "2.5", value_parser = parse_price)]
    price: f64,

    /// GPUs per replica (GPU-hours = replica-hours × this).
    #[arg(long, default_value_t = 1.0)]
    gpus_per_replica: f64,

    /// Run on spot capacity with this discount against on-demand (e.g. 0.6).
    #[arg(long)]
    spot_discount: Option<f64>,

    /// Spot preemptions per pod-hour (with --spot-discount).
    #[arg(long, default_value_t = 0.0, requires = "spot_discount")]
    spot_preemptions: f64,

    /// Monthly budget in US dollars. When this month's spend, projected at the current burn,
    /// would exceed it, prescale drops its predictive headroom and scales only for live
    /// demand (never below it).
    #[arg(long, value_name = "USD")]
    budget: Option<f64>,

    /// The SLO prescale keeps: the share of demand to serve within --sla. SLO mode is the
    /// default: prescale tunes its headroom (forecast quantile and target utilization) on the
    /// trace's own past, walking forward: daily, on the last 7 days before each re-tune, the
    /// cheapest setting that kept the SLO plus a margin learned from its own out-of-sample
    /// misses (P95 at 70% utilization before one day of history exists). --quantile,
    /// --target-utilization and --drain turn tuning off.
    #[arg(long, default_value = "0.99", value_parser = parse_slo,
          conflicts_with_all = ["quantile", "target_utilization", "drain"])]
    slo: f64,

    /// Expert override (turns SLO mode off): the forecast quantile prescale provisions for,
    /// instead of a tuned one [default without SLO mode: 0.9].
    #[arg(long)]
    quantile: Option<f64>,

    /// Forecast window after the cold start that prescale covers.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    window: chrono::Duration,

    /// Expert override (turns SLO mode off): the time in which prescale clears a backlog: the
    /// queue plus what will pile up while new pods cold-start when live demand exceeds the
    /// ready capacity. Shorter buys SLA after surprises with more pods and cold starts
    /// [default: 5m].
    #[arg(long, value_parser = parse_duration)]
    drain: Option<chrono::Duration>,

    /// Expert override (turns SLO mode off): the share of a pod's capacity prescale plans
    /// with, in (0, 1]: 0.7 keeps 30% of every pod spare for what the forecast cannot see
    /// (bursts), as a `threshold` set at 70% of a replica's capacity does in production.
    /// Other policies are not affected [default without SLO mode: 1].
    #[arg(long, value_parser = parse_utilization)]
    target_utilization: Option<f64>,

    /// Keep prescale from scaling to zero.
    #[arg(long)]
    no_scale_to_zero: bool,

    /// Optional signals prescale's trigger has, comma-separated: `queue` (a queueQuery of
    /// waiting work), `ready` (ready replicas) and `replicas` (running replicas from the
    /// Kubernetes API). With `queue` or `ready`, prescale adds the backlog cleared within
    /// --drain to the live need. Default: none, as a default chart install (`demand` alone).
    #[arg(long, value_delimiter = ',', value_parser = parse_signal)]
    signals: Vec<&'static str>,

    /// A service spec (`prescale generate` format): its KEDA and HPA settings
    /// (pollingInterval, cooldownPeriod, initialCooldownPeriod, minReplicas, behavior) shape
    /// every KEDA-driven policy, as on the cluster. Default: KEDA's and the HPA's defaults.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,

    /// The service of --spec to take (default: the first).
    #[arg(long, requires = "spec")]
    service: Option<String>,

    /// Simulation tick (at most 15 s).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    tick: chrono::Duration,

    /// Write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,

    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Arguments of `prescale backtest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    trace: TraceArgs,

    #[command(flatten)]
    sim: SimArgs,
}

/// Arguments of `prescale demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    #[command(flatten)]
    sim: SimArgs,
}

impl SimArgs {
    /// SLO mode, unless an expert override fixes the headroom.
    fn slo_mode(&self) -> Option<f64> {
        let fixed =
            self.quantile.is_some() || self.target_utilization.is_some() || self.drain.is_some();
        (!fixed).then_some(self.slo)
    }

    fn quantile(&self) -> f64 {
        self.quantile.unwrap_or(0.9)
    }

    fn drain_secs(&self) -> i64 {
        self.drain.map_or(300, |d| d.num_seconds())
    }

    fn target_utilization(&self) -> f64 {
        self.target_utilization.unwrap_or(1.0)
    }
}

fn parse_price(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches("/h")
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{s}` is not a price per hour (e.g. 2.5 or 2.5/h)"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be a price >= 0"))
    }
}

fn parse_signal(s: &str) -> Result<&'static str, String> {
    ["demand", "queue", "ready", "replicas"]
        .into_iter()
        .find(|n| *n == s)
        .ok_or_else(|| format!("`{s}` is not a signal (demand, queue, ready, replicas)"))
}

/// The KEDA and HPA settings of `--spec` (KEDA's and the HPA's defaults without one).
fn keda_settings(sim: &SimArgs) -> Result<KedaSettings> {
    let Some(path) = &sim.spec else {
        return Ok(KedaSettings::default());
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {file}"))?;
    let spec = prescale_manifests::parse_spec(&text, &file)?;
    let service = match &sim.service {
        Some(name) => spec
            .services
            .iter()
            .find(|s| &s.name == name)
            .with_context(|| format!("{file}: no service named `{name}`"))?,
        None => spec
            .services
            .first()
            .with_context(|| format!("{file}: no service"))?,
    };
    let d = KedaSettings::default();
    let secs = |v: Option<u32>, default: i64| v.map_or(default, i64::from);
    let behavior = service.behavior.as_ref().map(|b| b.to_behavior());
    Ok(KedaSettings {
        polling_secs: secs(service.polling_interval, d.polling_secs),
        cooldown_secs: secs(service.cooldown_period, d.cooldown_secs),
        initial_cooldown_secs: secs(service.initial_cooldown_period, d.initial_cooldown_secs),
        min_replicas: service.min_replicas,
        tolerance: behavior.as_ref().map_or(d.tolerance, |b| b.tolerance),
        behavior,
        ..d
    })
}

pub(crate) fn parse_slo(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a share of demand (e.g. 0.99)"))?;
    let v = if s.ends_with('%') { v / 100.0 } else { v };
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be in (0, 1), e.g. 0.99"))
    }
}

fn parse_utilization(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a share of capacity (e.g. 0.7)"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be in (0, 1]"))
    }
}

pub(crate) fn run(args: Args) -> Result<()> {
    let series = args.trace.load()?;
    let report = replay(&args.trace.label(), &series, &args.sim)?;
    print(&report, &args.sim, false)
}

pub(crate) fn demo(args: DemoArgs) -> Result<()> {
    let series = generate(&SyntheticSpec::demo());
    let mut sim = args.sim;
    if sim.report.is_none() {
        sim.report = Some(PathBuf::from("prescale-demo.html"));
    }
    if sim.policies.is_empty() {
        sim.policies = PolicyKind::KNOWN.to_vec();
    }
    let report = replay("demo workload (14 days, 1-minute requests)", &series, &sim)?;
    print(&report, &sim, true)
}

fn config(series: &Series, sim: &SimArgs) -> Result<SimConfig> {
    let capacity = match sim.capacity {
        Some(c) if c > 0.0 && c.is_finite() => c,
        Some(c) => bail!("--capacity {c}: must be a positive number of demand units per minute"),
        None => default_capacity(series),
    };
    let tick = sim.tick.num_seconds();
    if !(1..=15).contains(&tick) {
        bail!("--tick must be between 1 s and 15 s");
    }
    let p50 = sim.cold_start.num_milliseconds() as f64 / 1000.0;
    let cold_start = match sim.cold_start_p95 {
        Some(p95) => {
            let p95 = p95.num_milliseconds() as f64 / 1000.0;
            if p95 < p50 {
                bail!("--cold-start-p95 must be at least --cold-start");
            }
            ColdStart::LogNormal { p50, p95 }
        }
        None => ColdStart::Fixed(p50),
    };
    let spot = match sim.spot_discount {
        Some(d) if (0.0..1.0).contains(&d) => Some(Spot {
            discount: d,
            preemptions_per_hour: sim.spot_preemptions.max(0.0),
        }),
        Some(d) => bail!("--spot-discount {d}: must be in [0, 1)"),
        None => None,
    };
    if let Some(b) = sim.budget
        && !(b.is_finite() && b >= 0.0)
    {
        bail!("--budget {b}: must be a non-negative number of US dollars per month");
    }
    if !(sim.quantile() > 0.0 && sim.quantile() < 1.0) {
        bail!("--quantile {} is outside (0, 1)", sim.quantile());
    }
    Ok(SimConfig {
        tick_secs: tick,
        capacity_per_min: capacity,
        cold_start,
        sla_secs: sim.sla.num_milliseconds() as f64 / 1000.0,
        price_per_hour: sim.price,
        gpus_per_replica: sim.gpus_per_replica,
        spot,
        monthly_budget_usd: sim.budget,
        // Chart samples: the trace step, at least a minute.
        timeline_step_secs: series.step_secs().max(60),
        ..SimConfig::new(capacity)
    })
}

/// The optional signals of `--signals`.
fn signals(sim: &SimArgs) -> Signals {
    let has = |n: &str| sim.signals.contains(&n);
    Signals {
        queue: has("queue"),
        ready: has("ready"),
        replicas: has("replicas"),
    }
}

fn replay(label: &str, series: &Series, sim: &SimArgs) -> Result<BacktestReport> {
    if series.len() < 2 {
        bail!("{label}: a backtest needs at least two steps");
    }
    let cfg = config(series, sim)?;
    let kinds = if sim.policies.is_empty() {
        PolicyKind::ALL.to_vec()
    } else {
        sim.policies.clone()
    };
    let options = PolicyOptions {
        quantile: sim.quantile(),
        window_secs: sim.window.num_seconds() as f64,
        drain_secs: sim.drain_secs() as f64,
        target_utilization: sim.target_utilization(),
        scale_to_zero: !sim.no_scale_to_zero,
        keda: keda_settings(sim)?,
        signals: signals(sim),
        slo: sim.slo_mode().map(|slo| prescale_sim::policies::SloMode {
            tuner: prescale_sim::tune::TunerConfig {
                slo,
                ..Default::default()
            },
            sla_secs: cfg.sla_secs,
        }),
    };
    let bar = progress(
        kinds.len() as u64,
        sim.quiet,
        "{spinner} replaying [{bar:30}] {pos}/{len} policies {elapsed}",
    );
    let runs: Vec<PolicyRun> = kinds
        .par_iter()
        .map(|&k| {
            let r = run_policy(series, &cfg, k, &options);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    Ok(assemble(label, series, &cfg, runs))
}

fn print(report: &BacktestReport, sim: &SimArgs, explain: bool) -> Result<()> {
    if let Some(path) = &sim.report {
        let html = prescale_report::render_html(report);
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let out = match sim.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&serde_json::json!({
                "trace": report.trace,
                "settings": report.settings,
                "prescale_settings": {
                    "mode": if sim.slo_mode().is_some() { "slo" } else { "fixed" },
                    "slo": sim.slo_mode(),
                    "sla_ms": sim.sla.num_milliseconds(),
                    "quantile": sim.slo_mode().is_none().then(|| sim.quantile()),
                    "window_secs": sim.window.num_seconds(),
                    "drain_secs": sim.drain_secs(),
                    "target_utilization": sim.slo_mode().is_none().then(|| sim.target_utilization()),
                    "scale_to_zero": !sim.no_scale_to_zero,
                    "signals": signals(sim).names(),
                },
                "keda_settings": keda_json(sim)?,
                "policies": report.policies,
                "report": sim.report.as_ref().map(|p| p.display().to_string()),
            }))?;
            s.push('\n');
            s
        }
        Format::Table => render_table(report, sim, explain)?,
    };
    emit(&out)
}

/// KEDA's polling interval and cooldown replayed, seconds.
fn report_keda(sim: &SimArgs) -> Result<(i64, i64)> {
    let k = keda_settings(sim)?;
    Ok((k.polling_secs, k.cooldown_secs))
}

/// The KEDA and HPA settings replayed, for the JSON output.
fn keda_json(sim: &SimArgs) -> Result<serde_json::Value> {
    let k = keda_settings(sim)?;
    Ok(serde_json::json!({
        "polling_interval_secs": k.polling_secs,
        "cooldown_period_secs": k.cooldown_secs,
        "initial_cooldown_period_secs": k.initial_cooldown_secs,
        "min_replicas": k.min_replicas,
        "hpa_behavior": if k.behavior.is_some() { "spec" } else { "none (legacy limits)" },
        "tolerance": k.tolerance,
    }))
}

fn render_table(report: &BacktestReport, sim: &SimArgs, explain: bool) -> Result<String> {
    let mut out = String::new();
    let s = &report.settings;
    writeln!(
        out,
        "{}: capacity {} units/min per replica, cold start {} s, SLA {} ms on queueing delay, \
         {} $/replica-hour",
        report.trace,
        num(s.capacity_per_replica_per_min, 2),
        num(s.cold_start_secs, 0),
        num(s.sla_ms, 0),
        num(s.price_per_hour, 2)
    )?;
    let (polling, cooldown) = report_keda(sim)?;
    writeln!(
        out,
        "prescale signals: {} (--signals); KEDA polling {polling} s, cooldown {cooldown} s",
        signals(sim).names().join(", "),
    )?;
    writeln!(out, "prescale headroom: {}", headroom_line(sim))?;
    writeln!(out)?;
    let mut t = Table::new(&[
        "policy",
        "GPU-h",
        "cost $",
        "underprov min",
        "SLA %",
        "P95 ms",
        "queue peak",
        "cold starts",
        "scale events",
        "warm after idle",
    ]);
    for p in &report.policies {
        t.row(vec![
            p.name.clone(),
            num(p.gpu_hours, 1),
            num(p.cost_usd, 2),
            num(p.underprovisioned_minutes, 1),
            num(p.sla_attainment * 100.0, 2),
            num(p.p95_latency_ms, 0),
            num(p.queue_peak, 0),
            p.cold_starts.to_string(),
            p.scale_events.to_string(),
            format!("{}/{}", p.warm_first_requests, p.first_requests_after_idle),
        ]);
    }
    out.push_str(&t.render());
    if explain {
        writeln!(out)?;
        out.push_str(&explanation(&report.policies, sim));
    }
    if let Some(path) = &sim.report {
        writeln!(out)?;
        writeln!(out, "report: {}", path.display())?;
    }
    Ok(out)
}

/// How prescale's headroom is set in this replay.
fn headroom_line(sim: &SimArgs) -> String {
    match sim.slo_mode() {
        Some(slo) => format!(
            "SLO mode, {}% of demand within {} ms (--slo, --sla), tuned daily on the past",
            num(slo * 100.0, 2),
            sim.sla.num_milliseconds()
        ),
        None => format!(
            "fixed, P{} at {}% utilization, drain {} s (expert overrides; no SLO mode)",
            num(sim.quantile() * 100.0, 0),
            num(sim.target_utilization() * 100.0, 0),
            sim.drain_secs()
        ),
    }
}

/// A few sentences comparing prescale with the incumbents, from the measured figures.
fn explanation(policies: &[PolicySummary], sim: &SimArgs) -> String {
    let find = |n: &str| policies.iter().find(|p| p.name == n);
    let mut out = String::new();
    if let (Some(p), Some(k)) = (find("prescale"), find("keda_reactive")) {
        let _ = writeln!(
            out,
            "prescale vs keda_reactive: {} vs {} underprovisioned minutes ({}), {} vs {} GPU-hours.",
            num(p.underprovisioned_minutes, 1),
            num(k.underprovisioned_minutes, 1),
            change(p.underprovisioned_minutes, k.underprovisioned_minutes),
            num(p.gpu_hours, 1),
            num(k.gpu_hours, 1)
        );
    }
    if let (Some(p), Some(s)) = (find("prescale"), find("static_peak")) {
        let _ = writeln!(
            out,
            "prescale vs static_peak: {} GPU-hours ({}), {}% vs {}% of demand within the SLA.",
            num(p.gpu_hours, 1),
            change(p.gpu_hours, s.gpu_hours),
            num(p.sla_attainment * 100.0, 2),
            num(s.sla_attainment * 100.0, 2)
        );
    }
    if let (Some(p), Some(b)) = (find("prescale"), find("clairvoyant")) {
        let _ = writeln!(
            out,
            "prescale vs clairvoyant (a bound that reads the future): {} vs {} GPU-hours ({:.2}x).",
            num(p.gpu_hours, 1),
            num(b.gpu_hours, 1),
            if b.gpu_hours > 0.0 {
                p.gpu_hours / b.gpu_hours
            } else {
                f64::NAN
            }
        );
    }
    match sim.slo_mode() {
        Some(slo) => {
            let _ = writeln!(
                out,
                "You chose only the SLO ({}% of demand within {} ms): prescale tuned its headroom \
                 on the replay's own past, daily, for the fewest GPU-hours that keep it.",
                num(slo * 100.0, 2),
                sim.sla.num_milliseconds()
            );
        }
        None => out.push_str(
            "Headroom fixed by expert overrides (--quantile, --target-utilization, --drain); \
             without them prescale tunes it to the SLO (--slo).\n",
        ),
    }
    out.push_str(
        "Reactive autoscalers add pods only once demand is already above capacity, so every \
         ramp waits a cold start; prescale starts pods one cold start ahead of the forecast \
         demand, with the headroom that keeps the SLO.\n",
    );
    out
}

/// `-83%` style relative change of `new` against `old`.
fn change(new: f64, old: f64) -> String {
    if old > 0.0 {
        format!("{:+.0}%", (new / old - 1.0) * 100.0)
    } else {
        "n/a".into()
    }
}
