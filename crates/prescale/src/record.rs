//! `prescale metrics --record DIR` and `--history DIR`: the embedded history store from the
//! command line. A queue or a scrape has no history of its own; recording it keeps one that
//! survives restarts (one durable store transaction per read).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use prescale_collect::Source;
use prescale_collect::record::Recorder;
use prescale_store::{Store, StoreConfig};
use serde_json::json;

use crate::output::{Format, Table, json_num, num};

/// The store file inside the `--record`/`--history` directory.
pub(crate) const STORE_FILE: &str = "history.redb";

fn store_path(dir: &Path) -> PathBuf {
    dir.join(STORE_FILE)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads `source` every `every` and writes each read to the store in `dir` until `count`
/// reads, Ctrl-C or SIGTERM. A failed read is reported on stderr and leaves a gap (nothing is
/// written for it); the command fails only when no read succeeded.
pub(crate) async fn record<S: Source>(
    source: S,
    dir: &Path,
    every: Duration,
    count: Option<u64>,
    format: Format,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the history directory {}", dir.display()))?;
    let path = store_path(dir);
    let store = Store::open(&path, StoreConfig::default())
        .with_context(|| format!("cannot open the history store {}", path.display()))?;
    let what = source.describe();
    let recorder = Recorder::new(source, Arc::new(store));
    eprintln!(
        "recording {what} every {} into {} (Ctrl-C stops)",
        humantime::format_duration(every),
        path.display()
    );
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = shutdown();
    tokio::pin!(stop);
    let (mut reads, mut written) = (0_u64, 0_u64);
    let mut stdout = std::io::stdout().lock();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut stop => break,
        }
        reads += 1;
        match recorder.record_once().await {
            Ok(r) => {
                written += 1;
                let line = match format {
                    Format::Json => json!({
                        "at": time(r.at),
                        "samples": r.samples,
                        "skipped_not_finite": r.skipped_not_finite,
                        "series": r.series.iter().map(|(n, v)| json!({"name": n, "value": json_num(*v)})).collect::<Vec<_>>(),
                    })
                    .to_string(),
                    Format::Table => {
                        let values: Vec<String> =
                            r.series.iter().map(|(n, v)| format!("{n} = {v}")).collect();
                        format!("{}  {}", time(r.at), values.join("  "))
                    }
                };
                if writeln!(stdout, "{line}").is_err() {
                    break; // stdout closed (e.g. `| head`): stop quietly
                }
            }
            Err(e) => {
                tracing::debug!(read = reads, error = %e, "read failed; nothing written for it");
                eprintln!("warning: read {reads} of {what} failed, nothing written (a gap): {e}");
            }
        }
        if count.is_some_and(|c| reads >= c) {
            break;
        }
    }
    eprintln!(
        "recorded {written} of {reads} reads into {}",
        path.display()
    );
    if reads > 0 && written == 0 {
        anyhow::bail!("no read of {what} succeeded, nothing was recorded");
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What the history store in `dir` holds: every series with its latest sample, or the 1-minute
/// buckets of `series` over the last `since` (missing minutes are gaps, not zeros).
pub(crate) fn history(
    dir: &Path,
    series: Option<&str>,
    since: Duration,
    format: Format,
) -> Result<String> {
    let path = store_path(dir);
    if !path.is_file() {
        anyhow::bail!(
            "no history store at {} (record one with --record {})",
            path.display(),
            dir.display()
        );
    }
    let store = Store::open(&path, StoreConfig::default())
        .with_context(|| format!("cannot open the history store {}", path.display()))?;
    let Some(name) = series else {
        let mut rows = Vec::new();
        for name in store.series()? {
            let latest = store.latest(&name)?;
            rows.push((name, latest));
        }
        return Ok(match format {
            Format::Json => format!(
                "{}\n",
                json!({"series": rows.iter().map(|(n, l)| json!({
                    "name": n,
                    "latest": l.map(|(t, v)| json!({"timestamp": time(t), "value": json_num(v)})),
                })).collect::<Vec<_>>()})
            ),
            Format::Table => {
                let mut t = Table::new(&["series", "latest", "value"]);
                for (n, l) in &rows {
                    let (at, v) = l.map_or(("-".into(), "-".into()), |(t, v)| (time(t), num(v, 4)));
                    t.row(vec![n.clone(), at, v]);
                }
                t.render()
            }
        });
    };
    let end = Utc::now() + chrono::Duration::minutes(1);
    let start = end - chrono::Duration::from_std(since).context("--since is too long")?;
    let buckets = store.buckets(name, 0, start, end)?;
    if buckets.is_empty() && !store.series()?.iter().any(|s| s == name) {
        anyhow::bail!(
            "no series {name:?} in {} (without --series, --history lists them)",
            path.display()
        );
    }
    Ok(match format {
        Format::Json => format!(
            "{}\n",
            json!({"series": name, "buckets": buckets.iter().map(|b| json!({
                "timestamp": time(b.start),
                "value": json_num(b.mean()),
                "min": json_num(b.min),
                "max": json_num(b.max),
                "last": json_num(b.last),
                "count": b.count,
            })).collect::<Vec<_>>()})
        ),
        Format::Table => {
            let mut t = Table::new(&["minute", "mean", "min", "max", "last", "samples"]);
            for b in &buckets {
                t.row(vec![
                    time(b.start),
                    num(b.mean(), 4),
                    num(b.min, 4),
                    num(b.max, 4),
                    num(b.last, 4),
                    b.count.to_string(),
                ]);
            }
            t.render()
        }
    })
}
