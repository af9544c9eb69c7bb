//! `prescale metrics`: reads ML metrics once from Prometheus, a `/metrics` endpoint, RabbitMQ
//! or Redis, and prints them as a table or JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use prescale_collect::ml::summary::{self, CostInputs, Summary};
use prescale_collect::ml::{Selector, Workload};
use prescale_collect::prometheus::{PrometheusClient, PrometheusConfig, QueryResult, RangeResult};
use prescale_collect::rabbitmq::{RabbitMqClient, RabbitMqConfig, RabbitMqQueue};
use prescale_collect::redis::{RedisClient, RedisConfig, RedisQueue};
use prescale_collect::scrape::{ScrapeClient, ScrapeConfig, exposition_series};
use prescale_collect::{Auth, LabelsDisplay, Series, Source, TlsOptions};
use serde_json::{Value, json};

use crate::output::{Format, Table, emit};
use crate::record;

/// Examples shown after `--help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  prescale metrics --prometheus http://prometheus:9090 --query 'sum(vllm:num_requests_waiting)'
  prescale metrics --prometheus http://prometheus:9090 \\
      --query 'sum(rate(vllm:request_success_total[1m]))' --range 1h --step 1m --format json
  prescale metrics --prometheus http://prometheus:9090 --service llama-chat --kind vllm --price 4.10
  prescale metrics --prometheus http://prometheus:9090 --selector 'namespace=\"gpu\"' --kind gpu
  prescale metrics --scrape http://vllm:8000/metrics
  prescale metrics --scrape http://vllm:8000/metrics --kind vllm --interval 10s
  prescale metrics --redis redis://127.0.0.1:6379/0 --list celery
  prescale metrics --rabbitmq http://guest:guest@rabbitmq:15672 --queue inference --vhost /

  # Keep a queue's history (it has none of its own): one durable write per read.
  prescale metrics --redis redis://127.0.0.1:6379/0 --list celery --record ./history --every 15s
  prescale metrics --history ./history
  prescale metrics --history ./history --series 'redis/celery_queue_length{queue=\"celery\"}' --since 1h

JSON (--format json): {\"samples\": [{\"labels\": {...}, \"timestamp\": \"...\", \"value\": 7.0}]};
a range prints {\"series\": [{\"labels\": {...}, \"samples\": [...], \"gaps\": [...]}]}; a --kind
summary prints {\"workload\", \"at\", \"metrics\": [{\"name\", \"unit\", \"value\", \"note\"}]}.
NaN and infinite values are written as the strings \"NaN\", \"+Inf\", \"-Inf\"; missing steps of a
range are listed as gaps, never filled.";

/// Arguments of `prescale metrics` (boxed: they are many, and the command enum stays small).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    opts: Box<Options>,
}

/// The options of `prescale metrics`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["prometheus", "redis", "rabbitmq", "scrape", "history"])
))]
#[command(group(clap::ArgGroup::new("what").args(["query", "kind"])))]
struct Options {
    /// Prometheus base URL (user:password@ in the URL is basic authentication).
    #[arg(long, value_name = "URL", requires = "what")]
    prometheus: Option<String>,
    /// PromQL expression to evaluate (with --prometheus).
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    query: Option<String>,
    /// Evaluate over this span ending at --at (or now) instead of once, e.g. 1h, 7d.
    #[arg(long, value_name = "DURATION", requires = "query", value_parser = parse_duration)]
    range: Option<Duration>,
    /// Step of a --range query.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    step: Duration,
    /// Evaluation time (RFC3339), default now.
    #[arg(long, value_name = "TIME", requires = "prometheus")]
    at: Option<DateTime<Utc>>,
    /// Redis URL, `redis://[user:password@]host:port[/db]` (with --list).
    #[arg(long, value_name = "URL", requires = "list")]
    redis: Option<String>,
    /// Redis list (Celery queue) to measure, with its priority sub-lists.
    #[arg(long, value_name = "NAME", requires = "redis")]
    list: Option<String>,
    /// RabbitMQ management API URL, http://user:password@host:15672 (with --queue).
    #[arg(long, value_name = "URL", requires = "queue")]
    rabbitmq: Option<String>,
    /// RabbitMQ queue to read.
    #[arg(long, value_name = "NAME", requires = "rabbitmq")]
    queue: Option<String>,
    /// RabbitMQ virtual host.
    #[arg(long, value_name = "VHOST", default_value = "/")]
    vhost: String,
    /// A /metrics page in the Prometheus text format (vLLM, DCGM exporter).
    #[arg(long, value_name = "URL")]
    scrape: Option<String>,
    /// Print the ML summary of this workload (from --prometheus, or two --scrape reads).
    #[arg(long, value_enum, conflicts_with_all = ["redis", "rabbitmq"])]
    kind: Option<KindArg>,
    /// The service whose series the summary reads (matched on --service-label).
    #[arg(
        long,
        value_name = "NAME",
        requires = "kind",
        conflicts_with = "selector"
    )]
    service: Option<String>,
    /// The label that names the service in Prometheus.
    #[arg(long, value_name = "LABEL", default_value = "service")]
    service_label: String,
    /// PromQL label matchers for the summary instead of --service, e.g. 'namespace="a",pod=~"vllm-.*"'.
    #[arg(long, value_name = "MATCHERS", requires = "kind")]
    selector: Option<String>,
    /// Rate window of the Prometheus summary.
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    window: String,
    /// Time between the two scrapes of a --scrape summary.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    interval: Duration,
    /// Price of one replica-hour in dollars, for the cost per request and per 1k tokens.
    #[arg(long, value_name = "USD")]
    price: Option<f64>,
    /// Replicas serving (default: the engines reporting metrics).
    #[arg(long, value_name = "N")]
    replicas: Option<f64>,
    /// Timeout of one request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Retries after an unreachable source, a timeout or a 5xx answer.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Bearer token for Prometheus or a scrape endpoint.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRESCALE_BEARER_TOKEN",
        hide_env_values = true
    )]
    bearer_token: Option<String>,
    /// Extra CA certificate(s) to trust (PEM).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Client certificate for mutual TLS (PEM; with --client-key).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Client private key for mutual TLS (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Accept any server certificate (tests only).
    #[arg(long)]
    insecure_skip_verify: bool,
    /// Record every read of --redis, --rabbitmq or --scrape into the history store in DIR
    /// (created if needed; one durable write per read) until Ctrl-C, SIGTERM or --count reads.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["prometheus", "kind"])]
    record: Option<PathBuf>,
    /// Time between two recorded reads.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    every: Duration,
    /// Stop recording after this many reads.
    #[arg(long, value_name = "N", requires = "record")]
    count: Option<u64>,
    /// Print what the history store in DIR holds: its series, or one with --series.
    #[arg(long, value_name = "DIR")]
    history: Option<PathBuf>,
    /// The stored series to print (with --history), named as --history lists them.
    #[arg(long, value_name = "NAME", requires = "history")]
    series: Option<String>,
    /// How far back --history --series reads.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    since: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Workloads of `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KindArg {
    /// vLLM: request rate, latency and TTFT quantiles, tokens/s, queue, KV cache, cost.
    Vllm,
    /// GPUs via the DCGM exporter: utilization, memory, temperature.
    Gpu,
    /// Training jobs: step, epoch, ETA, loss, accuracy.
    Training,
}

impl From<KindArg> for Workload {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Vllm => Self::Vllm,
            KindArg::Gpu => Self::Gpu,
            KindArg::Training => Self::Training,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 30s, 1m, 1h)"))?;
    if d.is_zero() {
        return Err(format!("`{s}` must be longer than zero"));
    }
    Ok(d)
}

/// Runs `prescale metrics`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let opts = &args.opts;
    if let Some(dir) = &opts.history {
        return emit(&record::history(
            dir,
            opts.series.as_deref(),
            opts.since,
            opts.format,
        )?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(dir) = &opts.record {
        return runtime.block_on(record_source(opts, dir));
    }
    let text = runtime.block_on(collect(opts))?;
    emit(&text)
}

/// `--record DIR`: the queue or scrape source, recorded into the store in `dir`.
async fn record_source(args: &Options, dir: &std::path::Path) -> anyhow::Result<()> {
    let (every, count, format) = (args.every, args.count, args.format);
    if let Some(url) = &args.scrape {
        return record::record(scrape_client(args, url)?, dir, every, count, format).await;
    }
    if let (Some(url), Some(list)) = (&args.redis, &args.list) {
        return record::record(redis_source(args, url, list)?, dir, every, count, format).await;
    }
    if let (Some(url), Some(queue)) = (&args.rabbitmq, &args.queue) {
        let source = rabbitmq_source(args, url, queue)?;
        return record::record(source, dir, every, count, format).await;
    }
    anyhow::bail!(
        "--record reads --redis, --rabbitmq or --scrape (Prometheus keeps its own history)"
    )
}

fn scrape_client(args: &Options, url: &str) -> anyhow::Result<ScrapeClient> {
    let mut cfg = ScrapeConfig::new(url.to_string());
    cfg.timeout = args.timeout;
    cfg.retries = args.retries;
    cfg.auth = bearer(args);
    cfg.tls = tls(args);
    Ok(ScrapeClient::new(cfg)?)
}

fn redis_source(args: &Options, url: &str, list: &str) -> anyhow::Result<RedisQueue> {
    let mut cfg = RedisConfig::new(url.to_string());
    cfg.timeout = args.timeout;
    Ok(RedisQueue {
        client: RedisClient::new(cfg)?,
        queue: list.to_string(),
    })
}

fn rabbitmq_source(args: &Options, url: &str, queue: &str) -> anyhow::Result<RabbitMqQueue> {
    let mut cfg = RabbitMqConfig::new(url.to_string());
    cfg.timeout = args.timeout;
    cfg.retries = args.retries;
    cfg.tls = tls(args);
    Ok(RabbitMqQueue {
        client: RabbitMqClient::new(cfg)?,
        vhost: args.vhost.clone(),
        queue: queue.to_string(),
    })
}

async fn collect(args: &Options) -> anyhow::Result<String> {
    let cost = CostInputs {
        price_per_hour: args.price,
        replicas: args.replicas,
    };
    if let Some(url) = &args.prometheus {
        let client = prometheus_client(args, url)?;
        if let Some(kind) = args.kind {
            let sel = selector(args);
            let s =
                summary::from_prometheus(&client, kind.into(), &sel, &args.window, cost).await?;
            return Ok(render_summary(&s, args.format));
        }
        let query = args.query.as_deref().unwrap_or_default();
        if let Some(span) = args.range {
            let end = args.at.unwrap_or_else(Utc::now);
            let start = end - chrono::Duration::from_std(span).context("--range is too long")?;
            let r = client.query_range(query, start, end, args.step).await?;
            return Ok(render_range(&r, args.format));
        }
        let r = client.query(query, args.at).await?;
        return Ok(render_instant(&r, args.format));
    }
    if let Some(url) = &args.scrape {
        let client = scrape_client(args, url)?;
        if let Some(kind) = args.kind {
            let before = client.scrape().await?;
            let t0 = Instant::now();
            tokio::time::sleep(args.interval).await;
            let after = client.scrape().await?;
            let s = summary::from_scrapes(kind.into(), &before, &after, t0.elapsed(), cost);
            return Ok(render_summary(&s, args.format));
        }
        let page = client.scrape().await?;
        let series = exposition_series(&page, Utc::now());
        return Ok(render_series(&series, &[], args.format));
    }
    if let (Some(url), Some(list)) = (&args.redis, &args.list) {
        let source = redis_source(args, url, list)?;
        return Ok(render_series(&source.collect().await?, &[], args.format));
    }
    if let (Some(url), Some(queue)) = (&args.rabbitmq, &args.queue) {
        let source = rabbitmq_source(args, url, queue)?;
        return Ok(render_series(&source.collect().await?, &[], args.format));
    }
    anyhow::bail!("give a source: --prometheus, --scrape, --redis or --rabbitmq")
}

fn prometheus_client(args: &Options, url: &str) -> anyhow::Result<PrometheusClient> {
    let mut cfg = PrometheusConfig::new(url);
    cfg.timeout = args.timeout;
    cfg.retries = args.retries;
    cfg.auth = bearer(args);
    cfg.tls = tls(args);
    Ok(PrometheusClient::new(cfg)?)
}

fn selector(args: &Options) -> Selector {
    match (&args.service, &args.selector) {
        (Some(name), _) => Selector::label(&args.service_label, name),
        (None, Some(raw)) => Selector::raw(raw.clone()),
        (None, None) => Selector::raw(""),
    }
}

fn bearer(args: &Options) -> Option<Auth> {
    args.bearer_token.clone().map(Auth::Bearer)
}

fn tls(args: &Options) -> TlsOptions {
    TlsOptions {
        ca_cert: args.ca_cert.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
        insecure_skip_verify: args.insecure_skip_verify,
    }
}

/// A value as JSON: a number, or `"NaN"`, `"+Inf"`, `"-Inf"`.
fn json_value(v: f64) -> Value {
    match serde_json::Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None => Value::String(text_value(v)),
    }
}

/// A value as text, with Prometheus' spelling of the special values.
fn text_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn render_instant(r: &QueryResult, format: Format) -> String {
    if let Some(text) = &r.text {
        return match format {
            Format::Json => format!("{}\n", json!({ "string": text, "warnings": r.warnings })),
            Format::Table => format!("{text}\n"),
        };
    }
    render_series(&r.series, &r.warnings, format)
}

/// One row per sample: `{"samples": [{"labels", "timestamp", "value"}]}`.
fn render_series(series: &[Series], warnings: &[String], format: Format) -> String {
    match format {
        Format::Json => {
            let samples: Vec<Value> = series
                .iter()
                .flat_map(|s| {
                    s.samples.iter().map(|x| {
                        json!({ "labels": s.labels, "timestamp": time(x.timestamp), "value": json_value(x.value) })
                    })
                })
                .collect();
            let mut doc = json!({ "samples": samples });
            if !warnings.is_empty() {
                doc["warnings"] = json!(warnings);
            }
            format!("{doc}\n")
        }
        Format::Table => {
            let mut t = Table::new(&["series", "timestamp", "value"]);
            for s in series {
                for x in &s.samples {
                    t.row(vec![
                        LabelsDisplay(&s.labels).to_string(),
                        time(x.timestamp),
                        text_value(x.value),
                    ]);
                }
            }
            let mut out = t.render();
            for w in warnings {
                out.push_str(&format!("warning: {w}\n"));
            }
            out
        }
    }
}

/// One object per series with its samples and its gaps on the requested grid.
fn render_range(r: &RangeResult, format: Format) -> String {
    match format {
        Format::Json => {
            let series: Vec<Value> = r
                .gaps()
                .map(|(s, gaps)| {
                    let samples: Vec<Value> = s
                        .samples
                        .iter()
                        .map(|x| json!({ "timestamp": time(x.timestamp), "value": json_value(x.value) }))
                        .collect();
                    let gaps: Vec<Value> = gaps
                        .iter()
                        .map(|g| json!({ "from": time(g.from), "to": time(g.to), "missing": g.missing }))
                        .collect();
                    json!({ "labels": s.labels, "samples": samples, "gaps": gaps })
                })
                .collect();
            let mut doc = json!({
                "start": time(r.start),
                "end": time(r.end),
                "step_seconds": r.step.as_secs_f64(),
                "series": series,
            });
            if !r.warnings.is_empty() {
                doc["warnings"] = json!(r.warnings);
            }
            format!("{doc}\n")
        }
        Format::Table => {
            let mut out = String::new();
            for (s, gaps) in r.gaps() {
                out.push_str(&format!(
                    "{}: {} samples, {} missing steps\n",
                    LabelsDisplay(&s.labels),
                    s.samples.len(),
                    gaps.iter().map(|g| g.missing).sum::<u64>()
                ));
                for g in &gaps {
                    out.push_str(&format!(
                        "  gap: {} .. {} ({} steps)\n",
                        time(g.from),
                        time(g.to),
                        g.missing
                    ));
                }
                let mut t = Table::new(&["timestamp", "value"]);
                for x in &s.samples {
                    t.row(vec![time(x.timestamp), text_value(x.value)]);
                }
                out.push_str(&t.render());
                out.push('\n');
            }
            for w in &r.warnings {
                out.push_str(&format!("warning: {w}\n"));
            }
            out
        }
    }
}

fn render_summary(s: &Summary, format: Format) -> String {
    let workload = match s.workload {
        Workload::Vllm => "vllm",
        Workload::Gpu => "gpu",
        Workload::Training => "training",
    };
    match format {
        Format::Json => {
            let metrics: Vec<Value> = s
                .readings
                .iter()
                .map(|r| {
                    json!({
                        "name": r.kind.name(),
                        "unit": r.kind.unit().name(),
                        "value": r.value.map(json_value),
                        "note": r.note,
                    })
                })
                .collect();
            format!(
                "{}\n",
                json!({ "workload": workload, "at": time(s.at), "metrics": metrics })
            )
        }
        Format::Table => {
            let mut t = Table::new(&["metric", "value", "unit", "note"]);
            for r in &s.readings {
                t.row(vec![
                    r.kind.name().to_owned(),
                    r.value.map_or_else(|| "-".into(), short),
                    r.kind.unit().symbol().to_owned(),
                    r.note.clone().unwrap_or_default(),
                ]);
            }
            format!("{workload} at {}\n\n{}", time(s.at), t.render())
        }
    }
}

/// Four significant decimals at most, without trailing zeros.
fn short(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        1
    } else if v.abs() >= 1.0 {
        3
    } else {
        6
    };
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values_are_spelled_like_prometheus() {
        assert_eq!(json_value(7.0), json!(7.0));
        assert_eq!(json_value(f64::NAN), json!("NaN"));
        assert_eq!(json_value(f64::INFINITY), json!("+Inf"));
        assert_eq!(text_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(text_value(0.25), "0.25");
        assert_eq!(short(0.000_123_4), "0.000123");
        assert_eq!(short(1234.56), "1234.6");
        assert_eq!(short(2.0), "2");
    }
}
