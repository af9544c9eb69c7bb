//! Loading traces: CSV or Prometheus JSON files, stdin, or the built-in synthetic series.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prescale_core::Series;
use prescale_core::calendar::{BusinessCalendar, CalendarConfig};
use prescale_core::input::{ParseOptions, parse_csv, parse_prometheus_matrix};
use prescale_core::series::ValueKind;
use prescale_core::synth::{SyntheticSpec, generate};

/// Where a trace comes from (shared by the subcommands).
#[derive(Debug, clap::Args)]
pub(crate) struct TraceArgs {
    /// Trace file: `timestamp,value` CSV, or a Prometheus `query_range` JSON response (chosen by
    /// a `.json` extension or a leading `{`). `-` reads standard input.
    #[arg(
        long,
        short = 't',
        value_name = "FILE",
        required_unless_present = "synthetic"
    )]
    pub(crate) trace: Option<PathBuf>,

    /// Use the built-in synthetic trace (21 days of 1-minute requests with a daily cycle,
    /// quieter weekends, growth, noise and spikes) instead of a file.
    #[arg(long, conflicts_with = "trace")]
    pub(crate) synthetic: bool,

    /// What the values are: `count` (per-interval counts; gaps are filled with 0) or `gauge`
    /// (sampled levels; gaps are interpolated). Filled steps are reported.
    #[arg(long, default_value = "count", value_name = "KIND")]
    pub(crate) kind: ValueKind,
}

impl TraceArgs {
    /// The label used in reports.
    pub(crate) fn label(&self) -> String {
        match &self.trace {
            Some(p) if p.as_os_str() == "-" => "stdin".into(),
            Some(p) => p.display().to_string(),
            None => "synthetic".into(),
        }
    }

    /// Loads the trace.
    pub(crate) fn load(&self) -> Result<Series> {
        let Some(path) = &self.trace else {
            return Ok(generate(&SyntheticSpec::default()));
        };
        let label = self.label();
        let text = read(path).with_context(|| format!("cannot read {label}"))?;
        let opts = ParseOptions {
            kind: self.kind,
            ..ParseOptions::default()
        };
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text.trim_start().starts_with('{');
        let series = if is_json {
            parse_prometheus_matrix(&text, &label, &opts)?
        } else {
            parse_csv(text.as_bytes(), &label, &opts)?
        };
        if !series.filled().is_empty() {
            tracing::warn!(
                filled = series.filled().len(),
                kind = ?self.kind,
                "The trace has gaps; they were filled ({}).",
                match self.kind {
                    ValueKind::Count => "counts with 0",
                    ValueKind::Gauge => "gauges by interpolation",
                }
            );
        }
        Ok(series)
    }
}

fn read(path: &Path) -> Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        if path.is_dir() {
            bail!("{} is a directory", path.display());
        }
        text = std::fs::read_to_string(path)?;
    }
    Ok(text)
}

/// Parses a duration such as `30m`, `3d`, `1h30m`.
pub(crate) fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 30m, 3d)"))?;
    let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
    if d <= chrono::Duration::zero() {
        return Err(format!("`{s}` must be positive"));
    }
    Ok(d)
}

/// Whole steps covering `d` (rounded up), at least 1.
pub(crate) fn steps(d: chrono::Duration, step_secs: i64) -> usize {
    ((d.num_seconds() + step_secs - 1) / step_secs).max(1) as usize
}

/// A business calendar given on the command line (used by the `prescale` model as a
/// day-type feature, and reported by `forecast`).
#[derive(Debug, clap::Args)]
pub(crate) struct CalendarArgs {
    /// Time zone of a business calendar (IANA name, e.g. Europe/Berlin). Setting it turns the
    /// calendar on: the prescale model then also tries a profile for business days against
    /// the other days (weekends, holidays).
    #[arg(long, value_name = "TZ", help_heading = "Business calendar")]
    timezone: Option<String>,

    /// Business weekdays, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mon,tue,wed,thu,fri",
        requires = "timezone",
        help_heading = "Business calendar"
    )]
    business_days: Vec<String>,

    /// Opening hours, local time.
    #[arg(
        long,
        default_value = "09:00-17:00",
        value_name = "HH:MM-HH:MM",
        requires = "timezone",
        help_heading = "Business calendar"
    )]
    business_hours: String,

    /// Holidays (closed all day), comma-separated YYYY-MM-DD dates.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "DATES",
        requires = "timezone",
        help_heading = "Business calendar"
    )]
    holidays: Vec<String>,
}

impl CalendarArgs {
    /// The calendar, when `--timezone` was given.
    pub(crate) fn calendar(&self) -> Result<Option<BusinessCalendar>> {
        let Some(tz) = &self.timezone else {
            return Ok(None);
        };
        let (open, close) = self.business_hours.split_once('-').with_context(|| {
            format!(
                "--business-hours `{}`: expected HH:MM-HH:MM",
                self.business_hours
            )
        })?;
        let config = CalendarConfig {
            timezone: tz.clone(),
            weekdays: self.business_days.clone(),
            open: open.trim().to_string(),
            close: close.trim().to_string(),
            holidays: self.holidays.clone(),
        };
        Ok(Some(
            BusinessCalendar::try_from(config).context("invalid business calendar")?,
        ))
    }
}
