//! `prescale evaluate`: rolling-origin backtest of every model.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use prescale_forecast::backtest::{BacktestConfig, ModelScore, OriginOutcome, run_origin, score};
use prescale_forecast::models::{ModelKind, ModelOptions};
use rayon::prelude::*;
use serde_json::json;

use crate::input::{CalendarArgs, TraceArgs, parse_duration, steps};
use crate::output::{Format, Table, emit, json_num, num, progress};

pub(crate) const EXAMPLES: &str = "\
Examples:
  # The default protocol: 30-minute horizon, origins every 30 minutes over the last 3 days,
  # training windows of at most 14 days, all models.
  prescale evaluate --trace web_nasa_http_1995-07_1min.csv

  # Fewer origins, two models, JSON for scripts.
  prescale evaluate --trace history.json --every 2h --models prescale,ets --format json

  # Several horizons (cold starts of 5 minutes to an hour): one block per horizon.
  prescale evaluate --trace web_nasa_http_1995-07_1min.csv --horizon 5m,15m,30m,60m

  # The built-in synthetic trace.
  prescale evaluate --synthetic";

/// Arguments of `prescale evaluate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    trace: TraceArgs,

    #[command(flatten)]
    calendar: CalendarArgs,

    /// Forecast horizon (rounded up to whole steps); several, comma-separated (e.g.
    /// 5m,15m,30m,60m), evaluate each: the models are fitted, calibrated and scored for each
    /// horizon on its own.
    #[arg(long, default_value = "30m", value_delimiter = ',', value_parser = parse_duration)]
    horizon: Vec<chrono::Duration>,

    /// Time between forecast origins.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    every: chrono::Duration,

    /// How far back the first origin is.
    #[arg(long, default_value = "3d", value_parser = parse_duration)]
    last: chrono::Duration,

    /// Use only the last N origins (overrides the span given by --last).
    #[arg(long, value_name = "N")]
    origins: Option<usize>,

    /// Longest training window at each origin.
    #[arg(long, default_value = "14d", value_parser = parse_duration)]
    max_train: chrono::Duration,

    /// Models to compare, comma-separated (default: all). Names: prescale,
    /// seasonal_naive_daily, seasonal_naive_weekly, ets, mstl, crane_dsp, naive (the last
    /// value), drift, theta.
    #[arg(long, value_delimiter = ',')]
    models: Vec<ModelKind>,

    /// Worker threads (default: one per core). Each fit is timed on its own thread.
    #[arg(long)]
    jobs: Option<usize>,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,

    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// The scores of every model at one horizon.
struct HorizonScores {
    cfg: BacktestConfig,
    origins: usize,
    scores: Vec<ModelScore>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let series = args.trace.load()?;
    let step = series.step_secs();
    let mut configs = Vec::with_capacity(args.horizon.len());
    let mut origin_sets = Vec::with_capacity(args.horizon.len());
    for &horizon in &args.horizon {
        let cfg = BacktestConfig {
            horizon: steps(horizon, step),
            every: steps(args.every, step),
            span: (args.last.num_seconds() / step) as usize,
            count: args.origins,
            max_train: steps(args.max_train, step),
            upper_level: 0.9,
        };
        let origins = cfg.origins(series.len());
        if origins.is_empty() {
            bail!(
                "{}: {} points are too few for a {}-step horizon; nothing to evaluate",
                args.trace.label(),
                series.len(),
                cfg.horizon
            );
        }
        configs.push(cfg);
        origin_sets.push(origins);
    }
    let kinds = if args.models.is_empty() {
        ModelKind::ALL.to_vec()
    } else {
        args.models.clone()
    };
    let options = ModelOptions {
        calendar: args.calendar.calendar()?,
    };
    let models: Vec<_> = kinds
        .iter()
        .map(|k| k.build_declared(&options, series.kind()))
        .collect();
    // (horizon, model, origin) for every fit.
    let jobs: Vec<(usize, usize, usize)> = origin_sets
        .iter()
        .enumerate()
        .flat_map(|(h, origins)| {
            (0..models.len()).flat_map(move |m| origins.iter().map(move |&o| (h, m, o)))
        })
        .collect();

    let bar = progress(
        jobs.len() as u64,
        args.quiet,
        "{spinner} evaluating [{bar:40}] {pos}/{len} fits, ETA {eta}",
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()?;
    let outcomes: Vec<(usize, usize, OriginOutcome)> = pool.install(|| {
        jobs.par_iter()
            .map(|&(h, m, o)| {
                let out = run_origin(models[m].as_ref(), &series, o, &configs[h]);
                bar.inc(1);
                (h, m, out)
            })
            .collect()
    });
    bar.finish_and_clear();

    let results: Vec<HorizonScores> = configs
        .into_iter()
        .zip(&origin_sets)
        .enumerate()
        .map(|(h, (cfg, origins))| {
            let scores = kinds
                .iter()
                .enumerate()
                .map(|(m, k)| {
                    let mine: Vec<OriginOutcome> = outcomes
                        .iter()
                        .filter(|(hh, mm, _)| *hh == h && *mm == m)
                        .map(|(_, _, o)| o.clone())
                        .collect();
                    score(k.name(), &series, &mine, &cfg)
                })
                .collect();
            HorizonScores {
                cfg,
                origins: origins.len(),
                scores,
            }
        })
        .collect();

    match args.format {
        Format::Json => {
            let doc = if let [one] = results.as_slice() {
                single_json(&args, &series, one)
            } else {
                json!({
                    "trace": args.trace.label(),
                    "points": series.len(),
                    "filled": series.filled().len(),
                    "step_seconds": step,
                    "every_minutes": results[0].cfg.every as i64 * step / 60,
                    "max_train_days": results[0].cfg.max_train as f64 * step as f64 / 86_400.0,
                    "kind": series.kind(),
                    "horizons": results
                        .iter()
                        .map(|r| json!({
                            "horizon_minutes": r.cfg.horizon as i64 * step / 60,
                            "horizon_steps": r.cfg.horizon,
                            "origins": r.origins,
                            "noise_ceiling": noise_ceiling(&series, &r.scores).map(json_num),
                            "models": r.scores.iter().map(model_json).collect::<Vec<_>>(),
                        }))
                        .collect::<Vec<_>>(),
                })
            };
            let mut out = serde_json::to_string_pretty(&doc)?;
            out.push('\n');
            emit(&out)
        }
        Format::Table => {
            let blocks = results
                .iter()
                .map(|r| render_table(&args, &series, &r.cfg, r.origins, &r.scores))
                .collect::<Result<Vec<String>>>()?;
            emit(&blocks.join("\n"))
        }
    }
}

/// The JSON document of a single horizon (the shape from before several horizons existed).
fn single_json(
    args: &Args,
    series: &prescale_core::Series,
    r: &HorizonScores,
) -> serde_json::Value {
    let (cfg, step) = (&r.cfg, series.step_secs());
    json!({
        "trace": args.trace.label(),
        "points": series.len(),
        "filled": series.filled().len(),
        "step_seconds": step,
        "horizon_minutes": cfg.horizon as i64 * step / 60,
        "horizon_steps": cfg.horizon,
        "origins": r.origins,
        "every_minutes": cfg.every as i64 * step / 60,
        "max_train_days": cfg.max_train as f64 * step as f64 / 86_400.0,
        "kind": series.kind(),
        "noise_ceiling": noise_ceiling(series, &r.scores).map(json_num),
        "models": r.scores.iter().map(model_json).collect::<Vec<_>>(),
    })
}

fn model_json(s: &ModelScore) -> serde_json::Value {
    let a = &s.accuracy;
    json!({
        "name": s.name,
        "accuracy": json_num(a.accuracy),
        "wape": json_num(1.0 - a.accuracy),
        "mase": json_num(a.mase),
        "p90_coverage": json_num(a.upper_coverage),
        "pinball_p90": json_num(a.pinball_upper),
        "pinball_p90_scaled": json_num(a.pinball_upper_scaled),
        "underforecast_20pct": json_num(a.underforecast_20pct),
        "underforecast_20pct_p90": json_num(a.underforecast_20pct_upper),
        "ms_per_origin": json_num(s.ms_per_origin),
        "seconds_total": json_num(s.seconds_total),
        "origins": s.origins,
        "points": a.points,
        "fallbacks": s.fallbacks,
        "fallback_reason": s.fallback_reason,
    })
}

fn render_table(
    args: &Args,
    series: &prescale_core::Series,
    cfg: &BacktestConfig,
    origins: usize,
    scores: &[ModelScore],
) -> Result<String> {
    let mut out = String::new();
    let step = series.step_secs();
    writeln!(
        out,
        "{}: {} points, step {} s, {} filled; horizon {} min ({} steps), {} origins every {} min, \
         training window <= {:.1} d",
        args.trace.label(),
        series.len(),
        step,
        series.filled().len(),
        cfg.horizon as i64 * step / 60,
        cfg.horizon,
        origins,
        cfg.every as i64 * step / 60,
        cfg.max_train as f64 * step as f64 / 86_400.0
    )?;
    writeln!(out)?;
    let mut t = Table::new(&[
        "model",
        "accuracy",
        "MASE",
        "P90 cov",
        "pinball90",
        "under>20%",
        "under>20% P90",
        "ms/origin",
        "fallbacks",
    ]);
    for s in scores {
        let a = &s.accuracy;
        t.row(vec![
            s.name.clone(),
            num(a.accuracy, 4),
            num(a.mase, 3),
            num(a.upper_coverage, 3),
            num(a.pinball_upper, 3),
            num(a.underforecast_20pct, 4),
            num(a.underforecast_20pct_upper, 4),
            num(s.ms_per_origin, 2),
            s.fallbacks.to_string(),
        ]);
    }
    write!(out, "{}", t.render())?;
    writeln!(out)?;
    match noise_ceiling(series, scores) {
        Some(c) => writeln!(
            out,
            "accuracy = 1 - WAPE; count-noise ceiling for this trace: {} (a perfect forecast of \
             the Poisson mean would score about this)",
            num(c, 3)
        )?,
        None => writeln!(
            out,
            "accuracy = 1 - WAPE (a gauge: no count-noise ceiling applies)"
        )?,
    }
    for s in scores.iter().filter(|s| s.fallbacks > 0) {
        writeln!(
            out,
            "{}: fell back to the last value at {} of {} origins: {}",
            s.name,
            s.fallbacks,
            s.origins,
            s.fallback_reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(out)
}

/// The Poisson count-noise ceiling of the scored points; only meaningful for counts.
fn noise_ceiling(series: &prescale_core::Series, scores: &[ModelScore]) -> Option<f64> {
    (series.kind() == prescale_core::ValueKind::Count)
        .then(|| scores.first().map(|s| s.accuracy.noise_ceiling))
        .flatten()
}
