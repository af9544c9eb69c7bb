//! `prescale tune`: the cost–SLA frontier of SLO mode's candidate headrooms on a trace's last
//! days, the setting SLO mode would pick there and why, beside the incumbents and the
//! clairvoyant bound on the same days.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use chrono::Duration;
use prescale_sim::policies::prescale::PrescalePolicy;
use prescale_sim::policies::{PolicyKind, PolicyOptions};
use prescale_sim::tune::{Headroom, Replay, Scored, TuneSetup, candidates, frontier, pick};
use prescale_sim::{SimConfig, default_capacity, simulate};

use crate::input::{TraceArgs, parse_duration};
use crate::output::{Format, Table, emit, json_num, num};

pub(crate) const EXAMPLES: &str = "\
Examples:
  # The frontier on the last 7 days of a trace, 99% of demand within 500 ms, 3-minute cold start.
  prescale tune --trace requests.csv

  # A stricter SLO, a 5-minute cold start, a given capacity per replica; JSON for scripts.
  prescale tune --trace requests.csv --slo 0.999 --cold-start 5m --capacity 120 --format json";

/// Arguments of `prescale tune`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    trace: TraceArgs,

    /// The share of demand to serve within --sla (e.g. 0.99 or 99%).
    #[arg(long, default_value = "0.99", value_parser = crate::backtest::parse_slo)]
    slo: f64,

    /// SLA on the queueing delay.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    sla: chrono::Duration,

    /// Cold start of a new pod (what the service declares).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    cold_start: chrono::Duration,

    /// Demand units one ready replica serves per minute (default: a tenth of the trace's
    /// 99th-percentile demand per minute).
    #[arg(long)]
    capacity: Option<f64>,

    /// Days replayed: the trace's last days (the history before them seeds the loop, as a
    /// server's backfill does).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    days: chrono::Duration,

    /// Write a self-contained HTML page with the frontier chart (the candidates, the pick, the
    /// incumbents and the clairvoyant bound on the same axes).
    #[arg(long, value_name = "FILE")]
    report: Option<std::path::PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,

    /// No progress messages.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The frontier, the pick and the incumbents of one trace.
struct Tuned {
    label: String,
    capacity: f64,
    days: f64,
    all: Vec<Scored>,
    incumbents: Vec<(&'static str, f64, f64)>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let series = args.trace.load()?;
    let label = args.trace.label();
    let capacity = match args.capacity {
        Some(c) if c > 0.0 && c.is_finite() => c,
        Some(c) => bail!("--capacity {c}: must be a positive number of demand units per minute"),
        None => default_capacity(&series),
    };
    let cold_start = args.cold_start.num_milliseconds() as f64 / 1000.0;
    let sla_secs = args.sla.num_milliseconds() as f64 / 1000.0;
    if !(cold_start > 0.0 && sla_secs > 0.0) {
        bail!("--cold-start and --sla must be positive");
    }
    let span = series.end() - series.start();
    if args.days < Duration::hours(2) || args.days + Duration::hours(1) > span {
        bail!(
            "{label}: --days {} h needs at least 2 h and an hour less than the trace ({} h)",
            args.days.num_hours(),
            span.num_hours()
        );
    }
    let mut sim = SimConfig::new(capacity);
    sim.cold_start = prescale_sim::ColdStart::Fixed(cold_start);
    sim.sla_secs = sla_secs;
    let options = PolicyOptions::default();
    let peak =
        prescale_sim::policies::static_peak::StaticPeak::for_series(&series, capacity).replicas();
    let setup = TuneSetup {
        capacity_per_min: capacity,
        cold_start_secs: cold_start,
        max_replicas: (4 * peak).max(10),
        sla_secs,
        options: options.clone(),
    };
    if !args.quiet {
        eprintln!("replaying the trace once to make the forecasts the loop would have made...");
    }
    // The loop over the whole trace: its one-minute history (what a server would hold) and
    // its forecasts at every refresh, with every candidate quantile.
    let mut live = PrescalePolicy::forecasting_every_candidate(
        capacity,
        cold_start,
        setup.max_replicas,
        &options,
    );
    simulate(&series, &sim, &mut live);
    let points = live.controller().history().points();
    let end = points.last().context("the trace left no history")?.0;
    // On the loop's refresh grid: whole hours from the trace's start.
    let hours = ((end - args.days - series.start()).num_seconds() / 3_600).max(1);
    let from = series.start() + Duration::hours(hours);
    let tape = std::sync::Arc::new(live.forecast_tape().unwrap_or_default());
    let replay = Replay::new(&points, from, &setup).with_context(|| {
        format!(
            "{label}: too little history before the last {} h",
            args.days.num_hours()
        )
    })?;
    if !args.quiet {
        eprintln!(
            "replaying {} candidate settings and the incumbents...",
            candidates().len()
        );
    }
    let all = replay.all(&candidates(), &tape);
    let mut incumbents = Vec::new();
    for kind in [
        PolicyKind::StaticPeak,
        PolicyKind::KedaReactive,
        PolicyKind::KnativeKpa,
        PolicyKind::CraneDsp,
        PolicyKind::Clairvoyant,
    ] {
        let mut p = kind.build(replay.series(), replay.sim(), &PolicyOptions::default());
        let (gpu, sla) = replay.score_policy(p.as_mut());
        incumbents.push((kind.name(), gpu, sla));
    }
    let tuned = Tuned {
        label,
        capacity,
        days: (end - from).num_minutes() as f64 / 1440.0,
        all,
        incumbents,
    };
    if let Some(path) = &args.report {
        let html = prescale_report::render_frontier_html(&frontier_report(&tuned, &args));
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = match args.format {
        Format::Json => json(&tuned, &args)?,
        Format::Table => table(&tuned, &args)?,
    };
    if let (Some(path), Format::Table) = (&args.report, args.format) {
        let _ = writeln!(out, "\nreport: {}", path.display());
    }
    emit(&out)
}

/// The frontier page's data.
fn frontier_report(t: &Tuned, args: &Args) -> prescale_report::FrontierReport {
    use prescale_report::FrontierPoint;
    let point = |s: &Scored| FrontierPoint {
        label: format!(
            "P{} at {}%",
            num(s.headroom.quantile * 100.0, 0),
            num(s.headroom.utilization * 100.0, 0)
        ),
        gpu_hours: s.gpu_hours,
        sla: s.sla,
    };
    let pick = pick(&t.all, args.slo).map(|c| {
        let why = if c.robust >= args.slo {
            format!(
                "the cheapest of the settings that reach {}% on these days, less one standard error of their daily SLAs",
                num(args.slo * 100.0, 2)
            )
        } else {
            format!(
                "no setting reaches {}% on these days: the cheapest within 0.1 point of the best",
                num(args.slo * 100.0, 2)
            )
        };
        (point(c), why)
    });
    prescale_report::FrontierReport {
        trace: t.label.clone(),
        settings: format!(
            "capacity {} units/min per replica, cold start {} s, SLA {} ms, the last {} days replayed",
            num(t.capacity, 2),
            args.cold_start.num_seconds(),
            args.sla.num_milliseconds(),
            num(t.days, 1)
        ),
        slo: args.slo,
        candidates: t.all.iter().map(point).collect(),
        frontier: frontier(&t.all).into_iter().map(point).collect(),
        pick,
        others: t
            .incumbents
            .iter()
            .map(|(name, gpu, sla)| FrontierPoint {
                label: (*name).to_string(),
                gpu_hours: *gpu,
                sla: *sla,
            })
            .collect(),
    }
}

fn setting(h: &Headroom) -> String {
    format!(
        "P{} at {}% utilization",
        num(h.quantile * 100.0, 0),
        num(h.utilization * 100.0, 0)
    )
}

fn table(t: &Tuned, args: &Args) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "{}: capacity {} units/min per replica, cold start {} s, SLA {} ms on queueing delay, SLO {}% within it",
        t.label,
        num(t.capacity, 2),
        args.cold_start.num_seconds(),
        args.sla.num_milliseconds(),
        num(args.slo * 100.0, 2)
    )?;
    writeln!(
        out,
        "replayed: the last {} days, on the forecasts the loop made (the history before seeds it)",
        num(t.days, 1)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "frontier (no other setting has both fewer GPU-hours and a higher SLA):"
    )?;
    let mut tab = Table::new(&["quantile", "utilization", "GPU-h", "SLA %", "low %", ""]);
    let chosen = pick(&t.all, args.slo);
    for s in frontier(&t.all) {
        let mark = if chosen.is_some_and(|c| c.headroom == s.headroom) {
            "<- pick"
        } else {
            ""
        };
        tab.row(vec![
            format!("P{}", num(s.headroom.quantile * 100.0, 0)),
            format!("{}%", num(s.headroom.utilization * 100.0, 0)),
            num(s.gpu_hours, 1),
            num(s.sla * 100.0, 2),
            num(s.robust * 100.0, 2),
            mark.into(),
        ]);
    }
    out.push_str(&tab.render());
    writeln!(out)?;
    let reaching = t.all.iter().filter(|s| s.robust >= args.slo).count();
    match chosen {
        Some(c) if c.robust >= args.slo => writeln!(
            out,
            "pick: {}: {}% within the SLA at {} GPU-hours, the cheapest of the {reaching} of {} settings that reach {}% on these days less one standard error of their daily SLAs (low %).",
            setting(&c.headroom),
            num(c.sla * 100.0, 2),
            num(c.gpu_hours, 1),
            t.all.len(),
            num(args.slo * 100.0, 2)
        )?,
        Some(c) => writeln!(
            out,
            "pick: {}: no setting reaches {}% on these days (low %); the cheapest within 0.1 point of the best ({}% low), at {} GPU-hours.",
            setting(&c.headroom),
            num(args.slo * 100.0, 2),
            num(c.robust * 100.0, 2),
            num(c.gpu_hours, 1)
        )?,
        None => writeln!(out, "pick: none (nothing was replayed)")?,
    }
    writeln!(
        out,
        "In SLO mode (the default of `prescale backtest` and `prescale serve`) the pick is made daily on the days before it, with a margin learned from how earlier picks did on the days after them and a catch-up when what ran fell short of the SLO."
    )?;
    writeln!(out)?;
    writeln!(out, "on the same days:")?;
    let mut inc = Table::new(&["policy", "GPU-h", "SLA %"]);
    for (name, gpu, sla) in &t.incumbents {
        inc.row(vec![(*name).into(), num(*gpu, 1), num(sla * 100.0, 2)]);
    }
    out.push_str(&inc.render());
    Ok(out)
}

fn json(t: &Tuned, args: &Args) -> Result<String> {
    let row = |s: &Scored| {
        serde_json::json!({
            "quantile": s.headroom.quantile,
            "utilization": s.headroom.utilization,
            "gpu_hours": json_num(s.gpu_hours),
            "sla_attainment": json_num(s.sla),
            "sla_lower_bound": json_num(s.robust),
        })
    };
    let chosen = pick(&t.all, args.slo);
    let mut s = serde_json::to_string_pretty(&serde_json::json!({
        "trace": t.label,
        "settings": {
            "capacity_per_replica_per_min": t.capacity,
            "cold_start_secs": args.cold_start.num_seconds(),
            "sla_ms": args.sla.num_milliseconds(),
            "slo": args.slo,
            "days": t.days,
        },
        "candidates": t.all.iter().map(row).collect::<Vec<_>>(),
        "frontier": frontier(&t.all).into_iter().map(row).collect::<Vec<_>>(),
        "pick": chosen.map(|c| {
            let mut v = row(c);
            v["reaches_slo"] = serde_json::Value::Bool(c.robust >= args.slo);
            v
        }),
        "incumbents": t.incumbents.iter().map(|(name, gpu, sla)| serde_json::json!({
            "name": name,
            "gpu_hours": json_num(*gpu),
            "sla_attainment": json_num(*sla),
        })).collect::<Vec<_>>(),
    }))?;
    s.push('\n');
    Ok(s)
}
