//! The `prescale` command line.

mod backtest;
mod evaluate;
mod forecast;
mod generate;
mod input;
mod metrics;
mod output;
mod record;
mod serve;
mod synth;
mod tune;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Predictive, cost-aware autoscaling for ML workloads on Kubernetes, built on KEDA.
///
/// prescale forecasts the load of a service (requests, queue depth, tokens) from its history,
/// so that GPU pods that take minutes to start can be warmed before the load arrives.
/// Traces are CSV files with a `timestamp,value` header (RFC3339 UTC timestamps, one row per
/// fixed step) or Prometheus `query_range` JSON responses.
#[derive(Debug, Parser)]
#[command(
    name = "prescale",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log level filter for diagnostics on stderr (e.g. `info`, `debug`, `prescale=trace`).
    #[arg(long, global = true, env = "PRESCALE_LOG", default_value = "warn")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect patterns, trend and anomalies in a trace and forecast its next steps.
    #[command(after_help = forecast::EXAMPLES)]
    Forecast(forecast::Args),
    /// Backtest every model on a trace with rolling origins and compare their accuracy.
    #[command(after_help = evaluate::EXAMPLES)]
    Evaluate(evaluate::Args),
    /// Replay a trace through prescale and the incumbent autoscalers on a simulated cluster
    /// with cold starts; compare GPU-hours, cost and SLA.
    #[command(after_help = backtest::EXAMPLES)]
    Backtest(backtest::Args),
    /// The cost–SLA frontier of SLO mode's headroom settings on a trace's last days, the
    /// pick for an SLO, and the incumbents on the same days.
    #[command(after_help = tune::EXAMPLES)]
    Tune(tune::Args),
    /// Generate a two-week workload and run the backtest on it (the quickest way to see what
    /// prescale does); writes prescale-demo.html.
    Demo(backtest::DemoArgs),
    /// Write a deterministic synthetic request trace (CSV) for demos and experiments.
    Synth(synth::Args),
    /// Generate KEDA resources (ScaledObject, ScaledJob, TriggerAuthentication) from a
    /// service spec.
    #[command(after_help = generate::EXAMPLES)]
    Generate(generate::Args),
    /// Check a service spec, or KEDA manifests against the KEDA CRD schemas and runtime rules.
    #[command(after_help = validate::EXAMPLES)]
    Validate(validate::Args),
    /// Read ML metrics from Prometheus, a /metrics endpoint, RabbitMQ or Redis.
    #[command(after_help = metrics::EXAMPLES)]
    Metrics(metrics::Args),
    /// Run the KEDA external scaler (gRPC) with its HTTP API and /metrics.
    #[command(after_help = serve::EXAMPLES)]
    Serve(serve::Args),
}

/// jemalloc: memory freed by deleted ScaledObjects goes back to the system (glibc's malloc
/// keeps it in per-thread arenas, and the server's RSS would stay at its high-water mark).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Forecast(args) => forecast::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Demo(args) => backtest::demo(args),
        Command::Tune(args) => tune::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Metrics(args) => metrics::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
