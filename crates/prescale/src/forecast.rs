//! `prescale forecast`: patterns, trend, anomalies and a forecast of one trace.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use prescale_forecast::analysis::{AnalysisOptions, REPORTED_ANOMALIES, analyse};
use prescale_forecast::model::{DEFAULT_QUANTILES, FitInput, check_quantiles, predict};
use prescale_forecast::models::{ModelKind, ModelOptions};
use serde_json::json;

use crate::input::{CalendarArgs, TraceArgs, parse_duration, steps};
use crate::output::{Format, Table, emit, json_num, num};

pub(crate) const EXAMPLES: &str = "\
Examples:
  # Forecast the next 30 minutes with P50 and P90.
  prescale forecast --trace requests.csv --horizon 30m

  # Your own Prometheus history, more quantiles, JSON for scripts.
  curl -s 'http://prometheus:9090/api/v1/query_range?query=sum(rate(vllm:request_success_total[1m]))*60&start=2024-05-01T00:00:00Z&end=2024-05-15T00:00:00Z&step=60' > history.json
  prescale forecast --trace history.json --horizon 1h --quantiles 0.5,0.9,0.95 --format json";

/// Arguments of `prescale forecast`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    trace: TraceArgs,

    #[command(flatten)]
    calendar: CalendarArgs,

    /// How far ahead to forecast (rounded up to whole steps).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    horizon: chrono::Duration,

    /// Quantile levels to forecast, comma-separated, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_QUANTILES)]
    quantiles: Vec<f64>,

    /// The model (default: prescale, the automatic one).
    #[arg(long, default_value = "prescale")]
    model: ModelKind,

    /// Fit on at most this much of the most recent history.
    #[arg(long, default_value = "28d", value_parser = parse_duration)]
    history: chrono::Duration,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let quantiles = check_quantiles(&args.quantiles)?;
    let series = args.trace.load()?;
    let step = series.step_secs();
    let horizon = steps(args.horizon, step);
    let keep = steps(args.history, step);
    let recent = series.slice(series.len().saturating_sub(keep)..series.len());
    let values = recent.values();

    let analysis = analyse(values, step, &AnalysisOptions::default());
    let (periods, trend, anomalies) = (&analysis.patterns, &analysis.trend, &analysis.anomalies);

    let calendar = args.calendar.calendar()?;
    let model = args.model.build_with(&ModelOptions {
        calendar: calendar.clone(),
    });
    let fitted = model
        .fit(&FitInput::from_series(&recent, horizon))
        .with_context(|| format!("{}: cannot fit {}", args.trace.label(), model.name()))?;
    let forecast = predict(fitted.as_ref(), recent.end(), step, horizon, &quantiles)?;

    let mut out = String::new();
    match args.format {
        Format::Json => {
            let steps: Vec<_> = (0..forecast.len())
                .map(|i| {
                    let mut row = serde_json::Map::new();
                    row.insert(
                        "timestamp".into(),
                        json!(forecast.timestamp(i).to_rfc3339()),
                    );
                    row.insert("point".into(), json_num(forecast.point[i]));
                    for q in &forecast.quantiles {
                        row.insert(quantile_key(q.level), json_num(q.values[i]));
                    }
                    serde_json::Value::Object(row)
                })
                .collect();
            let doc = json!({
                "trace": args.trace.label(),
                "points": series.len(),
                "fitted_points": recent.len(),
                "filled": series.filled().len(),
                "step_seconds": step,
                "start": series.start().to_rfc3339(),
                "end": series.end().to_rfc3339(),
                "patterns": periods,
                "trend": trend,
                "anomalies": {
                    "count": anomalies.len(),
                    "points": analysis.latest_anomalies(REPORTED_ANOMALIES).map(|a| json!({
                        "timestamp": recent.timestamp(a.index).to_rfc3339(),
                        "value": a.value,
                        "expected": json_num(a.expected),
                        "score": json_num(a.score),
                    })).collect::<Vec<_>>(),
                },
                "model": { "name": model.name(), "description": fitted.describe() },
                "business_hours": calendar.as_ref().map(|c| json!({
                    "timezone": c.timezone.name(),
                    "open_at_forecast_start": c.is_open(recent.end()),
                    "next_change": c.next_change(recent.end()).map(|t| t.to_rfc3339()),
                })),
                "horizon_minutes": horizon as i64 * step / 60,
                "quantiles": quantiles,
                "forecast": steps,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Table => {
            writeln!(
                out,
                "{}: {} points from {} to {}, step {} s, {} filled",
                args.trace.label(),
                series.len(),
                series.start().to_rfc3339(),
                series.end().to_rfc3339(),
                step,
                series.filled().len()
            )?;
            if periods.is_empty() {
                writeln!(out, "patterns:  none found")?;
            }
            for p in periods {
                writeln!(
                    out,
                    "pattern:   {:?} ({} steps = {}), strength {:.2}, confidence {:.2}",
                    p.label,
                    p.steps,
                    humantime::format_duration(std::time::Duration::from_secs(p.seconds as u64)),
                    p.strength,
                    p.confidence
                )?;
            }
            writeln!(
                out,
                "trend:     {:?}, {:+.2}%/day ({:+.3}/day), confidence {:.2}",
                trend.class,
                trend.relative_slope_per_day * 100.0,
                trend.slope_per_day,
                trend.confidence
            )?;
            writeln!(
                out,
                "anomalies: {} point(s){}",
                anomalies.len(),
                anomalies
                    .last()
                    .map(|a| format!(
                        ", latest at {} ({} vs expected {})",
                        recent.timestamp(a.index).to_rfc3339(),
                        a.value,
                        num(a.expected, 1)
                    ))
                    .unwrap_or_default()
            )?;
            if let Some(c) = &calendar {
                let end = recent.end();
                writeln!(
                    out,
                    "calendar:  {} at the forecast start ({}){}",
                    if c.is_open(end) { "open" } else { "closed" },
                    c.timezone.name(),
                    c.next_change(end)
                        .map(|t| format!(", changes at {}", t.to_rfc3339()))
                        .unwrap_or_default()
                )?;
            }
            writeln!(out, "model:     {} ({})", model.name(), fitted.describe())?;
            writeln!(out)?;
            let mut header = vec!["timestamp".to_string(), "point".to_string()];
            header.extend(forecast.quantiles.iter().map(|q| quantile_key(q.level)));
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut t = Table::new(&header);
            for i in 0..forecast.len() {
                let mut row = vec![
                    forecast.timestamp(i).to_rfc3339(),
                    num(forecast.point[i], 1),
                ];
                row.extend(forecast.quantiles.iter().map(|q| num(q.values[i], 1)));
                t.row(row);
            }
            write!(out, "{}", t.render())?;
        }
    }
    emit(&out)
}

/// `p50`, `p90`, `p99.5`.
fn quantile_key(level: f64) -> String {
    let pct = level * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("p{}", pct.round())
    } else {
        format!("p{pct}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantile_keys() {
        assert_eq!(super::quantile_key(0.9), "p90");
        assert_eq!(super::quantile_key(0.995), "p99.5");
    }
}
