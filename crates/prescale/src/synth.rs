//! `prescale synth`: write the synthetic trace.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use prescale_core::synth::{SyntheticSpec, generate};

use crate::input::parse_duration;
use crate::output::emit;

/// Arguments of `prescale synth`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Length of the trace.
    #[arg(long, default_value = "21d", value_parser = parse_duration)]
    days: chrono::Duration,
    /// Step of the trace (must divide a day for daily patterns to line up).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    step: chrono::Duration,
    /// Mean requests per step at the daily peak on weekdays (default 200; demo 300).
    #[arg(long)]
    peak: Option<f64>,
    /// Mean requests per step at the nightly trough on weekdays (default 20; demo 5).
    #[arg(long)]
    base: Option<f64>,
    /// Expected spikes per day (default 1; demo 2).
    #[arg(long)]
    spikes_per_day: Option<f64>,
    /// Start from the workload of `prescale demo` (idle nights 01:00-06:00 UTC, quieter
    /// weekends, bursts, one anomaly on day 10) instead of the plain synthetic trace; the other
    /// options still apply.
    #[arg(long)]
    demo: bool,
    /// Random seed: the same seed gives the same trace (default 42; demo 7).
    #[arg(long)]
    seed: Option<u64>,
    /// Output file (`-` for standard output).
    #[arg(long, short = 'o', default_value = "-")]
    output: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let preset = if args.demo {
        SyntheticSpec::demo()
    } else {
        SyntheticSpec::default()
    };
    let spec = SyntheticSpec {
        days: args.days.num_seconds() as f64 / 86_400.0,
        step_secs: args.step.num_seconds().max(1),
        peak: args.peak.unwrap_or(preset.peak),
        base: args.base.unwrap_or(preset.base),
        spikes_per_day: args.spikes_per_day.unwrap_or(preset.spikes_per_day),
        seed: args.seed.unwrap_or(preset.seed),
        ..preset
    };
    anyhow::ensure!(
        spec.base >= 0.0 && spec.peak >= spec.base,
        "--base must be >= 0 and --peak >= --base"
    );
    let series = generate(&spec);
    let mut buf = String::with_capacity(series.len() * 28);
    buf.push_str("timestamp,value\n");
    for s in series.samples() {
        buf.push_str(&format!(
            "{},{}\n",
            s.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            s.value
        ));
    }
    if args.output.as_os_str() == "-" {
        return emit(&buf);
    }
    let mut file = std::fs::File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    file.write_all(buf.as_bytes())
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", args.output.display()))
}
