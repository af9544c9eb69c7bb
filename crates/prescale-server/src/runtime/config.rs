//! The runtime's schedules and limits, and the decision loop they configure.

use std::time::Duration;

use crate::keda::metadata::Settings;
use crate::timebase::TimeBase;
use prescale_control::{Controller, Grids, LoopConfig, Periods};

/// Step of the history and the forecasts: one minute.
pub const STEP_SECS: i64 = 60;

/// Schedules and limits of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Decision period (default 15 s, the HPA's sync period).
    pub decision_interval: Duration,
    /// Forecast refresh period (default 5 min).
    pub refresh_interval: Duration,
    /// Model refit period (default 6 h).
    pub refit_interval: Duration,
    /// How far in the past the live value is evaluated, and how long a one-minute step must
    /// have been over before it is read into the history (default 10 s: Prometheus' default
    /// scrape timeout).
    pub data_delay: Duration,
    /// A forecast older than this is not used: decisions fall back to reactive (default
    /// 15 min, three refreshes).
    pub forecast_stale_after: Duration,
    /// History the model is fitted on (default 14 days; the `history` key bounds it).
    pub fit_window: Duration,
    /// Forecast window after the lead time (default 5 min).
    pub window: Duration,
    /// Shadow mode for every service: KEDA gets reactive values only.
    pub dry_run: bool,
    /// Concurrent forecast fits (default: one less than the cores, at least one).
    pub forecast_threads: usize,
    /// Forecast fits and SLO mode's re-tunes run at the lowest CPU priority (Linux
    /// `SCHED_IDLE`; default on), so that KEDA's calls never wait behind them for a core.
    pub idle_priority: bool,
    /// Concurrent history reads (range queries) against each Prometheus (default 4): a restart
    /// without saved history backfills a thousand ScaledObjects a few at a time, not all at
    /// once.
    pub history_reads: usize,
    /// Server time.
    pub time: TimeBase,
    /// Every service's grids through this instant instead of spread by a hash of its name
    /// (replays that compare the server with `prescale backtest`, whose grids pass through
    /// the trace's first timestamp).
    pub grid_origin: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        // The loop's defaults are the controller's (the backtest runs the same).
        let l = LoopConfig::default();
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
        Self {
            decision_interval: ms(l.periods.decision_ms),
            refresh_interval: ms(l.periods.refresh_ms),
            refit_interval: ms(l.periods.refit_ms),
            data_delay: ms(l.data_delay_ms),
            forecast_stale_after: secs(l.forecast_stale_after_secs),
            fit_window: secs(l.fit_window_secs),
            window: secs(prescale_policy::ScalingSpec::new(1.0).window_secs),
            dry_run: false,
            forecast_threads: cores.saturating_sub(1).max(1),
            idle_priority: true,
            history_reads: 4,
            time: TimeBase::real(),
            grid_origin: None,
        }
    }
}

impl RuntimeConfig {
    /// The decision loop of a service with `settings`, named `key` (its grids are spread by
    /// a hash of the name unless `grid_origin` is set).
    pub fn controller(&self, settings: &Settings, key: &str) -> Controller {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut spec = settings.spec();
        spec.window_secs = self.window.as_secs() as i64;
        let config = LoopConfig {
            step_secs: STEP_SECS,
            periods: Periods {
                decision_ms: ms(self.decision_interval).max(1),
                refresh_ms: ms(self.refresh_interval).max(1),
                refit_ms: ms(self.refit_interval).max(1),
            },
            data_delay_ms: ms(self.data_delay),
            forecast_stale_after_secs: self.forecast_stale_after.as_secs() as i64,
            fit_window_secs: self.fit_window.as_secs() as i64,
            history_secs: settings.history_secs,
            // The server does not keep fitted models between refreshes (memory).
            keep_model: false,
            drain_secs: settings.drain_secs,
            rate_period_secs: settings.rate_period_secs,
            // SLO mode forecasts every quantile its tuner may choose.
            extra_levels: if settings.slo.is_some() {
                prescale_sim::tune::QUANTILES.to_vec()
            } else {
                Vec::new()
            },
            explain: true,
        };
        let grids = match self.grid_origin {
            Some(origin) => Grids::aligned_to(config.periods, origin),
            None => Grids::spread(config.periods, key),
        };
        let mut ctl = Controller::new(spec, config, grids);
        if settings.slo.is_some() {
            // Until the first tuning: the conservative headroom.
            prescale_sim::tune::Headroom::CONSERVATIVE.apply(
                &mut ctl,
                settings.threshold,
                settings.drain_secs,
            );
        }
        ctl
    }

    /// Checks the schedules: each at least one second, the refresh a multiple of the decision
    /// interval, the refit a multiple of the refresh, the data delay at most one minute.
    pub fn validate(&self) -> Result<(), String> {
        let s = |d: Duration| d.as_secs();
        for (name, d) in [
            ("decision_interval", self.decision_interval),
            ("refresh_interval", self.refresh_interval),
            ("refit_interval", self.refit_interval),
            ("forecast_stale_after", self.forecast_stale_after),
            ("fit_window", self.fit_window),
        ] {
            if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                return Err(format!("{name} must be a whole number of seconds >= 1"));
            }
        }
        if s(self.refresh_interval) % s(self.decision_interval) != 0 {
            return Err("refresh_interval must be a multiple of decision_interval".into());
        }
        if s(self.refresh_interval) % 60 != 0
            || s(self.refit_interval) % s(self.refresh_interval) != 0
        {
            return Err(
                "refresh_interval must be whole minutes, and refit_interval a multiple of it"
                    .into(),
            );
        }
        if self.data_delay > Duration::from_secs(60) {
            return Err("data_delay must be at most 1m".into());
        }
        if self.history_reads == 0 {
            return Err("history_reads must be at least 1".into());
        }
        if self.forecast_threads == 0 {
            return Err("forecast_threads must be at least 1".into());
        }
        Ok(())
    }
}
