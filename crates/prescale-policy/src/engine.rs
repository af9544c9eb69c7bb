//! The prescale policy: a forecast with quantiles, live demand and the current replicas in; a
//! [`Decision`] out.
//!
//! [`decide`] is a pure function of a [`ScalingSpec`] and a [`PolicyInput`]. With
//! `lead = cold_start_secs` and `window = window_secs`:
//!
//! - **Reactive need**: `ceil(live / capacity_per_replica)` from fresh live demand.
//! - **Predictive need**: `ceil(q / capacity_per_replica)` where `q` is the largest forecast
//!   value at the spec's quantile (the point forecast when the forecast does not carry that
//!   quantile) over the steps whose start lies in `[now + lead, now + lead + window]`,
//!   converted to units per minute. Replicas requested now are ready at `now + lead`.
//! - **Desired** = `max(reactive, predictive)`, at least `max(min_replicas, 1)` unless idle,
//!   at most `max_replicas`.
//! - **Stale or missing live data** (no value, no sample time, or a sample older than
//!   `stale_after_secs`) never scales to zero: the current count (at least 1) is held, or the
//!   predictive need when larger ([`Reason::Stale`]).
//! - **Scale to zero** ([`Reason::Idle`]) only with `scale_to_zero`, `min_replicas = 0`, fresh
//!   live demand of zero since at least `idle_secs` ago (`zero_since`), a forecast that covers
//!   `[now, now + lead + window]` and stays below [`NO_DEMAND_SHARE`] of one replica's
//!   capacity there, and a
//!   calendar that allows it. Without a forecast prescale does not scale to zero.
//! - **Staying at zero** needs fresh zero live demand, no forecast value at or above the
//!   threshold in `[now, now + lead + window]`, and the calendar's consent; otherwise the
//!   service wakes ([`Reason::Wakeup`]) one lead time before the forecast resumption.
//! - **Calendar**: with `scale_to_zero_outside_business_hours_only`, a warm replica is kept
//!   while the business is open at `now` or at `now + lead` (so it is ready at opening).
//! - **Anomalies**: live demand flagged anomalous is still served (never less than the live
//!   need); the reason says so ([`Reason::Anomaly`]). The forecast is not extrapolated from it.
//! - **Budget**: with [`BudgetState::Exhausted`] the forecast is ignored (no headroom, no
//!   predictive wake-up or keep-warm): desired = the live need ([`Reason::BudgetCapped`]),
//!   never less.
//!
//! Stabilization and rate limits are **not** applied here: in production the decision is
//! reported to KEDA (active flag, and `desired × target` as an `AverageValue` metric, see
//! [`Decision::metric_value`]), whose HPA stabilizes it; a simulation runs
//! [`KedaScaler`](crate::keda::KedaScaler) and [`Hpa`](crate::hpa::Hpa) on top the same way.

use chrono::{DateTime, Utc};
use prescale_core::Forecast;

use crate::cost::BudgetState;
use crate::decision::{Decision, ForecastNeed, Reason};
use crate::spec::ScalingSpec;
use crate::util::{ceil_replicas, fmt_num, fmt_time, plus_secs, secs_between};

/// Forecast demand below this share of one replica's capacity counts as no demand
/// (scale-to-zero and wake-up threshold). A share, not a rate, so that it means the same in
/// any unit of the query (at 28.7 requests/min per replica, 0.57 requests/min).
pub const NO_DEMAND_SHARE: f64 = 0.02;

/// What the policy sees at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyInput<'a> {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Live demand in units per minute; `None` when missing.
    pub live_demand: Option<f64>,
    /// When the live value was sampled.
    pub last_sample_at: Option<DateTime<Utc>>,
    /// When live demand last became zero (`None` when it is not zero or not known).
    pub zero_since: Option<DateTime<Utc>>,
    /// The latest forecast: demand per step, in units per step (step length in the forecast).
    pub forecast: Option<&'a Forecast>,
    /// Replicas now (requested, ready or not).
    pub current_replicas: u32,
    /// Whether the live value is flagged as an anomaly (e.g. a spike).
    pub live_anomalous: bool,
    /// The monthly budget state.
    pub budget: BudgetState,
}

impl PolicyInput<'_> {
    /// An input at `now` with `current_replicas` and nothing else known: no live data, no
    /// forecast, no anomaly, budget ok.
    pub const fn new(now: DateTime<Utc>, current_replicas: u32) -> Self {
        Self {
            now,
            live_demand: None,
            last_sample_at: None,
            zero_since: None,
            forecast: None,
            current_replicas,
            live_anomalous: false,
            budget: BudgetState::Ok,
        }
    }
}

/// What a forecast says over one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scan {
    /// Largest value per minute over the steps starting in the interval.
    max_per_min: Option<f64>,
    /// Whether the forecast reaches the end of the interval.
    covers_end: bool,
}

/// Which forecast values were used: a quantile's, or the point forecast's.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Label {
    Quantile(f64),
    Point,
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Quantile(q) => write!(f, "P{}", fmt_num(q * 100.0)),
            Label::Point => f.write_str("point"),
        }
    }
}

/// The forecast values used (the spec's quantile, or the point forecast) and their label.
fn series(forecast: &Forecast, quantile: f64) -> (&[f64], Label) {
    match forecast.quantile(quantile) {
        Some(values) => (values, Label::Quantile(quantile)),
        None => (&forecast.point, Label::Point),
    }
}

/// The largest value per minute over the steps whose start lies in `[from, to]`.
fn scan(forecast: &Forecast, values: &[f64], from: DateTime<Utc>, to: DateTime<Utc>) -> Scan {
    let none = Scan {
        max_per_min: None,
        covers_end: false,
    };
    if forecast.step_secs <= 0 || values.is_empty() {
        return none;
    }
    let step = i128::from(forecast.step_secs) * 1000;
    let start = i128::from(forecast.start.timestamp_millis());
    let (from, to) = (
        i128::from(from.timestamp_millis()),
        i128::from(to.timestamp_millis()),
    );
    let len = values.len() as i128;
    let lo = (from - start).div_euclid(step) + i128::from((from - start).rem_euclid(step) != 0);
    let hi = (to - start).div_euclid(step).min(len - 1);
    let per_min = 60.0 / forecast.step_secs as f64;
    let max_per_min = if lo > hi || hi < 0 {
        None
    } else {
        let lo = usize::try_from(lo.max(0)).unwrap_or(usize::MAX);
        let hi = usize::try_from(hi).unwrap_or(0);
        values
            .get(lo..=hi)
            .unwrap_or(&[])
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| v.max(0.0) * per_min)
            .reduce(f64::max)
    };
    Scan {
        max_per_min,
        covers_end: start + len * step >= to,
    }
}

/// Everything [`decide`] derives before choosing.
struct Ctx<'s> {
    spec: &'s ScalingSpec,
    now: DateTime<Utc>,
    current: u32,
    window: (DateTime<Utc>, DateTime<Utc>),
    /// Fresh live demand per minute.
    live: Option<f64>,
    reactive: u32,
    predictive: Option<u32>,
    /// Forecast label (`P90`, `point`) and the window's largest value per minute.
    need: Option<(Label, f64)>,
    /// Largest forecast value per minute over `[now, window end]`, and whether the forecast
    /// covers it.
    quiet: Option<(Label, Scan)>,
    budget_ok: bool,
    /// Whether to write the explanation (replays that only need the numbers skip it).
    explain: bool,
}

impl Ctx<'_> {
    fn forecast_text(&self) -> String {
        let (from, to) = self.window;
        match (&self.need, self.predictive) {
            (Some((label, max)), Some(p)) => format!(
                "forecast {label} {}/min in [{}, {}] needs {p}",
                fmt_num(*max),
                fmt_time(from),
                fmt_time(to)
            ),
            _ if self.quiet.is_some() => {
                format!(
                    "forecast does not cover [{}, {}]",
                    fmt_time(from),
                    fmt_time(to)
                )
            }
            _ => "no forecast".to_string(),
        }
    }

    fn live_text(&self) -> String {
        match self.live {
            Some(v) => format!("live {}/min needs {}", fmt_num(v), self.reactive),
            None => "live data missing".to_string(),
        }
    }

    /// Forecast demand per minute below which there is none.
    fn no_demand(&self) -> f64 {
        NO_DEMAND_SHARE * self.spec.capacity_per_replica
    }

    /// Whether the forecast shows no demand over `[now, window end]` and covers it.
    fn forecast_quiet(&self) -> bool {
        matches!(&self.quiet, Some((_, s)) if s.covers_end
            && s.max_per_min.is_none_or(|m| m < self.no_demand()))
    }

    /// Whether the forecast shows demand over `[now, window end]`.
    fn forecast_demand(&self) -> bool {
        matches!(&self.quiet, Some((_, s)) if s.max_per_min.is_some_and(|m| m >= self.no_demand()))
    }

    /// Whether the calendar requires a warm replica now (open now or one lead time ahead).
    fn calendar_keeps_warm(&self) -> bool {
        let spec = self.spec;
        spec.scale_to_zero_outside_business_hours_only
            && spec.calendar.as_ref().is_some_and(|c| {
                c.is_open(self.now) || c.is_open(plus_secs(self.now, spec.cold_start_secs))
            })
    }
}

/// Decides the replicas for `input` under `spec`. See the [module documentation](self).
///
/// ```
/// use chrono::{DateTime, Duration};
/// use prescale_core::{Forecast, QuantileForecast};
/// use prescale_policy::{decide, PolicyInput, Reason, ScalingSpec};
///
/// let now = DateTime::from_timestamp(36_000, 0).expect("a valid time"); // 10:00 UTC
/// // A minute forecast from 10:00: 100 requests/min for 5 minutes, then 400 (P90 10 % higher).
/// let point: Vec<f64> = (0..15).map(|i| if i < 5 { 100.0 } else { 400.0 }).collect();
/// let p90 = point.iter().map(|v| v * 1.1).collect();
/// let forecast = Forecast {
///     start: now,
///     step_secs: 60,
///     point,
///     quantiles: vec![QuantileForecast { level: 0.9, values: p90 }],
/// };
/// let spec = ScalingSpec::new(100.0); // 100 requests/min per replica, 3 min cold start
/// let input = PolicyInput {
///     live_demand: Some(250.0),
///     last_sample_at: Some(now - Duration::seconds(15)),
///     forecast: Some(&forecast),
///     ..PolicyInput::new(now, 3)
/// };
/// let d = decide(&spec, &input);
/// assert_eq!(d.reason, Reason::Predictive);
/// assert_eq!(d.desired_replicas, 5); // P90 440/min in [10:03, 10:08]
/// assert_eq!(d.reactive_replicas, 3);
/// assert_eq!(
///     d.to_string(),
///     "scale to 5: forecast P90 440/min in [10:03, 10:08] needs 5 (live 250/min needs 3)"
/// );
/// ```
pub fn decide(spec: &ScalingSpec, input: &PolicyInput<'_>) -> Decision {
    decide_with(spec, input, true)
}

/// [`decide`] without the explanation (empty): the same replicas, reason and needs, for
/// replays that score many settings (SLO mode's tuner).
pub fn decide_unexplained(spec: &ScalingSpec, input: &PolicyInput<'_>) -> Decision {
    decide_with(spec, input, false)
}

fn decide_with(spec: &ScalingSpec, input: &PolicyInput<'_>, explain: bool) -> Decision {
    if let Err(e) = spec.validate() {
        return Decision::hold(input.current_replicas, Reason::InvalidSpec)
            .explained(format!("invalid spec: {e}"));
    }
    let now = input.now;
    let from = plus_secs(now, spec.cold_start_secs);
    let window = (from, plus_secs(from, spec.window_secs));
    let fresh = input
        .last_sample_at
        .is_some_and(|t| secs_between(t, now) <= spec.stale_after_secs);
    let live = input
        .live_demand
        .filter(|v| fresh && v.is_finite() && *v >= 0.0);
    let reactive = live.map_or(0, |v| ceil_replicas(v / spec.capacity_per_replica));
    let (need, quiet, median) = match input.forecast {
        Some(f) => {
            let (values, label) = series(f, spec.quantile);
            let need = scan(f, values, window.0, window.1).max_per_min;
            let quiet = scan(f, values, now, window.1);
            let (p50, _) = series(f, 0.5);
            let median = scan(f, p50, window.0, window.1).max_per_min;
            (need.map(|m| (label, m)), Some((label, quiet)), median)
        }
        None => (None, None, None),
    };
    let forecast_need = need.as_ref().map(|(_, upper)| ForecastNeed {
        p50: median.unwrap_or(*upper).min(*upper),
        upper: *upper,
    });
    let ctx = Ctx {
        spec,
        now,
        current: input.current_replicas,
        window,
        live,
        reactive,
        predictive: need
            .as_ref()
            .map(|(_, m)| ceil_replicas(m / spec.capacity_per_replica)),
        need,
        quiet,
        budget_ok: input.budget == BudgetState::Ok,
        explain,
    };
    let decision = match live {
        None => stale(&ctx, input),
        Some(v) if v <= 0.0 && idle_allowed(&ctx, input) => idle(&ctx, input),
        Some(_) => active(&ctx, input),
    };
    let mut decision =
        decision.with_needs(reactive, ctx.predictive, ctx.predictive.map(|_| window));
    decision.forecast_need = forecast_need;
    decision
}

/// Missing or stale live data: hold (at least one), or the predictive need when larger.
fn stale(ctx: &Ctx<'_>, input: &PolicyInput<'_>) -> Decision {
    let spec = ctx.spec;
    let predictive = if ctx.budget_ok {
        ctx.predictive.unwrap_or(0)
    } else {
        0
    };
    let floor = spec.min_replicas.max(1);
    let desired = ctx
        .current
        .max(predictive)
        .max(floor)
        .min(spec.max_replicas);
    if !ctx.explain {
        return Decision::hold(desired, Reason::Stale);
    }
    let why = match (input.live_demand, input.last_sample_at) {
        (None, _) | (_, None) => "live data missing".to_string(),
        (Some(v), Some(t)) if !(v.is_finite() && v >= 0.0) => {
            format!("live value {v} unusable (sample at {})", fmt_time(t))
        }
        (Some(_), Some(t)) => format!(
            "live data stale (last sample {}, {} s ago > {} s)",
            fmt_time(t),
            secs_between(t, ctx.now),
            spec.stale_after_secs
        ),
    };
    let budget = if ctx.budget_ok {
        ""
    } else {
        ", budget exhausted"
    };
    Decision::hold(desired, Reason::Stale).explained(format!(
        "{why}, never scaling to zero on it; {}{budget}",
        ctx.forecast_text()
    ))
}

/// Whether fresh zero demand may take (or keep) the service at zero.
fn idle_allowed(ctx: &Ctx<'_>, input: &PolicyInput<'_>) -> bool {
    let spec = ctx.spec;
    if !spec.scale_to_zero || spec.min_replicas > 0 || ctx.calendar_keeps_warm() {
        return false;
    }
    if ctx.current == 0 {
        return !ctx.budget_ok || !ctx.forecast_demand();
    }
    let idle_long_enough = input
        .zero_since
        .is_some_and(|z| secs_between(z, ctx.now) >= spec.idle_secs);
    idle_long_enough && (!ctx.budget_ok || ctx.forecast_quiet())
}

/// Scale to, or stay at, zero.
fn idle(ctx: &Ctx<'_>, input: &PolicyInput<'_>) -> Decision {
    if !ctx.explain {
        return Decision::scale_to_zero();
    }
    let forecast = match (&ctx.quiet, ctx.budget_ok) {
        (_, false) => "budget exhausted, forecast ignored".to_string(),
        (Some((label, s)), true) => format!(
            "forecast {label} {} until {}",
            s.max_per_min.map_or_else(
                || "empty".to_string(),
                |m| format!("max {}/min", fmt_num(m))
            ),
            fmt_time(ctx.window.1)
        ),
        (None, true) => "no forecast".to_string(),
    };
    let since = input.zero_since.map_or_else(String::new, |z| {
        format!(" since {} ({} s)", fmt_time(z), secs_between(z, ctx.now))
    });
    let verb = if ctx.current == 0 {
        "stay idle"
    } else {
        "idle"
    };
    Decision::scale_to_zero().explained(format!("{verb}: live 0/min{since}; {forecast}"))
}

/// Fresh live data and an active service.
fn active(ctx: &Ctx<'_>, input: &PolicyInput<'_>) -> Decision {
    let spec = ctx.spec;
    let predictive = ctx.predictive.filter(|_| ctx.budget_ok);
    let floor = spec.min_replicas.max(1);
    let need = ctx.reactive.max(predictive.unwrap_or(0));
    let desired = need.max(floor).min(spec.max_replicas);
    // A need of one replica from a forecast below the no-demand threshold is the floor.
    let forecast_shows_demand = ctx
        .need
        .as_ref()
        .is_some_and(|(_, m)| *m >= ctx.no_demand());
    let may_sleep = spec.scale_to_zero && spec.min_replicas == 0;
    let reason = if ctx.current == 0 && ctx.reactive == 0 && may_sleep {
        Reason::Wakeup
    } else if !ctx.budget_ok && ctx.predictive.unwrap_or(0) > ctx.reactive.max(floor) {
        Reason::BudgetCapped
    } else if ctx.reactive >= floor && ctx.reactive >= predictive.unwrap_or(0) {
        if input.live_anomalous {
            Reason::Anomaly
        } else {
            Reason::Reactive
        }
    } else if predictive.is_some_and(|p| p > floor || (p == floor && forecast_shows_demand)) {
        Reason::Predictive
    } else {
        Reason::Floor
    };
    if !ctx.explain {
        return Decision::scale_to(desired, reason);
    }
    let forecast = ctx.forecast_text();
    let live = ctx.live_text();
    let text = match reason {
        Reason::Wakeup => {
            let why = if ctx.calendar_keeps_warm() && predictive.unwrap_or(0) == 0 {
                "business hours need a warm replica".to_string()
            } else {
                format!("{forecast}, waking before demand arrives")
            };
            format!("{why} ({live})")
        }
        Reason::BudgetCapped => {
            let would = ctx.predictive.unwrap_or(0);
            format!(
                "budget exhausted: {live}, predictive headroom dropped ({forecast}; would be {would})"
            )
        }
        Reason::Anomaly => {
            format!("{live}, flagged anomalous: honoured, not extrapolated ({forecast})")
        }
        Reason::Reactive => format!("{live} ({forecast})"),
        Reason::Predictive => format!("{forecast} ({live})"),
        _ => floor_text(ctx, input, &live, &forecast),
    };
    let cap = if need > spec.max_replicas {
        format!("; capped at max_replicas {}", spec.max_replicas)
    } else {
        String::new()
    };
    Decision::scale_to(desired, reason).explained(format!("{text}{cap}"))
}

/// Why the floor (min_replicas, or one warm replica) sets the count.
fn floor_text(ctx: &Ctx<'_>, input: &PolicyInput<'_>, live: &str, forecast: &str) -> String {
    let spec = ctx.spec;
    if spec.min_replicas > 0 {
        return format!("min_replicas {} ({live}; {forecast})", spec.min_replicas);
    }
    let idle_for = input.zero_since.map(|z| secs_between(z, ctx.now));
    let why = if !spec.scale_to_zero {
        "scale-to-zero off".to_string()
    } else if ctx.live.is_some_and(|v| v > 0.0) {
        "demand is not zero".to_string()
    } else if ctx.calendar_keeps_warm() {
        "business hours".to_string()
    } else if let Some(secs) = idle_for.filter(|s| *s < spec.idle_secs) {
        format!("idle for {} s of {} s", secs.max(0), spec.idle_secs)
    } else if idle_for.is_none() {
        "idle time unknown".to_string()
    } else if ctx.budget_ok && ctx.forecast_demand() {
        "forecast shows demand ahead".to_string()
    } else {
        "no forecast covers the lead time and window".to_string()
    };
    format!("one warm replica, {why} ({live}; {forecast})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use prescale_core::QuantileForecast;
    use prescale_core::calendar::{BusinessCalendar, CalendarConfig};
    use proptest::prelude::*;

    /// Monday 2024-06-03 10:00 UTC.
    fn ten() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-06-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn min(m: i64) -> Duration {
        Duration::minutes(m)
    }

    /// A forecast from `start` with `step_secs` steps: the point is `values`, the P90 the same.
    fn forecast(start: DateTime<Utc>, step_secs: i64, values: Vec<f64>) -> Forecast {
        Forecast {
            start,
            step_secs,
            quantiles: vec![QuantileForecast {
                level: 0.9,
                values: values.clone(),
            }],
            point: values,
        }
    }

    /// Fresh live demand at `now`, `current` replicas.
    fn live<'a>(
        now: DateTime<Utc>,
        demand: f64,
        current: u32,
        f: Option<&'a Forecast>,
    ) -> PolicyInput<'a> {
        PolicyInput {
            live_demand: Some(demand),
            last_sample_at: Some(now - Duration::seconds(15)),
            forecast: f,
            ..PolicyInput::new(now, current)
        }
    }

    /// Zero live demand since `idle` ago.
    fn idle_input<'a>(
        now: DateTime<Utc>,
        idle: Duration,
        current: u32,
        f: Option<&'a Forecast>,
    ) -> PolicyInput<'a> {
        PolicyInput {
            zero_since: Some(now - idle),
            ..live(now, 0.0, current, f)
        }
    }

    fn spec() -> ScalingSpec {
        ScalingSpec::new(100.0) // 100 units/min per replica, lead 180 s, window 300 s
    }

    #[test]
    fn predictive_need_covers_the_window_after_the_lead() {
        // P90 = 100 × i per minute at 10:00 + i: the window [10:03, 10:08] peaks at 800.
        let f = forecast(ten(), 60, (0..30).map(|i| 100.0 * f64::from(i)).collect());
        let d = decide(&spec(), &live(ten(), 100.0, 1, Some(&f)));
        assert_eq!(d.predictive_replicas, Some(8));
        assert_eq!(d.reactive_replicas, 1);
        assert_eq!(d.desired_replicas, 8);
        assert_eq!(d.reason, Reason::Predictive);
        assert_eq!(d.window, Some((ten() + min(3), ten() + min(8))));
        assert_eq!(
            d.to_string(),
            "scale to 8: forecast P90 800/min in [10:03, 10:08] needs 8 (live 100/min needs 1)"
        );
        // Without a P90 the point forecast is used (here half the values).
        let mut point_only = forecast(ten(), 60, (0..30).map(|i| 50.0 * f64::from(i)).collect());
        point_only.quantiles.clear();
        let d = decide(&spec(), &live(ten(), 100.0, 1, Some(&point_only)));
        assert_eq!(d.predictive_replicas, Some(4));
        assert!(d.explanation.starts_with("forecast point 400/min"), "{d}");
        // A 5-minute forecast in units per step: 1500 per 5 min = 300/min at 10:05 → 3.
        let five = forecast(ten(), 300, vec![0.0, 1500.0, 9000.0]);
        let d = decide(&spec(), &live(ten(), 0.0, 1, Some(&five)));
        assert_eq!(d.predictive_replicas, Some(3));
        // A forecast that ends before the window gives no predictive need.
        let short = forecast(ten(), 60, vec![500.0; 3]);
        let d = decide(&spec(), &live(ten(), 150.0, 1, Some(&short)));
        assert_eq!(d.predictive_replicas, None);
        assert_eq!((d.desired_replicas, d.reason), (2, Reason::Reactive));
        assert!(
            d.explanation
                .contains("forecast does not cover [10:03, 10:08]"),
            "{d}"
        );
    }

    #[test]
    fn live_need_wins_when_larger() {
        let f = forecast(ten(), 60, (0..30).map(|i| 100.0 * f64::from(i)).collect());
        let d = decide(&spec(), &live(ten(), 950.0, 4, Some(&f)));
        assert_eq!((d.desired_replicas, d.reason), (10, Reason::Reactive));
        assert_eq!(
            d.to_string(),
            "scale to 10: live 950/min needs 10 (forecast P90 800/min in [10:03, 10:08] needs 8)"
        );
        // Anomalous live demand is still served, and the reason says so.
        let input = PolicyInput {
            live_anomalous: true,
            ..live(ten(), 950.0, 4, Some(&f))
        };
        let d = decide(&spec(), &input);
        assert_eq!((d.desired_replicas, d.reason), (10, Reason::Anomaly));
        assert!(d.explanation.contains("flagged anomalous"), "{d}");
        // Bounds: at most max_replicas, said in the line; min_replicas as the floor.
        let capped = ScalingSpec {
            max_replicas: 5,
            ..spec()
        };
        let d = decide(&capped, &live(ten(), 950.0, 4, Some(&f)));
        assert_eq!(d.desired_replicas, 5);
        assert!(d.explanation.ends_with("; capped at max_replicas 5"), "{d}");
        let floor = ScalingSpec {
            min_replicas: 2,
            ..spec()
        };
        let d = decide(&floor, &live(ten(), 10.0, 4, None));
        assert_eq!((d.desired_replicas, d.reason), (2, Reason::Floor));
        assert!(d.explanation.starts_with("min_replicas 2"), "{d}");
    }

    #[test]
    fn stale_or_missing_data_holds_and_never_scales_to_zero() {
        let quiet = forecast(ten(), 60, vec![0.0; 30]);
        let old = PolicyInput {
            last_sample_at: Some(ten() - min(10)),
            ..idle_input(ten(), min(60), 3, Some(&quiet))
        };
        let d = decide(&spec(), &old);
        assert_eq!(
            (d.desired_replicas, d.reason, d.active),
            (3, Reason::Stale, true)
        );
        assert!(
            d.to_string()
                .starts_with("hold 3: live data stale (last sample 09:50, 600 s ago > 120 s)"),
            "{d}"
        );
        // The predictive need when larger.
        let busy = forecast(ten(), 60, vec![800.0; 30]);
        let d = decide(
            &spec(),
            &PolicyInput {
                forecast: Some(&busy),
                ..old
            },
        );
        assert_eq!(d.desired_replicas, 8);
        // Missing at zero replicas: wake one rather than stay blind at zero.
        let d = decide(&spec(), &PolicyInput::new(ten(), 0));
        assert_eq!((d.desired_replicas, d.reason), (1, Reason::Stale));
        assert_eq!(
            d.to_string(),
            "hold 1: live data missing, never scaling to zero on it; no forecast"
        );
        // An unusable value is treated like a missing one.
        let nan = PolicyInput {
            live_demand: Some(f64::NAN),
            ..live(ten(), 0.0, 2, None)
        };
        assert_eq!(decide(&spec(), &nan).reason, Reason::Stale);
    }

    #[test]
    fn no_scale_to_zero_before_idle_secs_of_fresh_zero_demand() {
        let quiet = forecast(ten(), 60, vec![0.1; 30]);
        let d = decide(&spec(), &idle_input(ten(), min(2), 2, Some(&quiet)));
        assert_eq!((d.desired_replicas, d.reason), (1, Reason::Floor));
        assert!(
            d.explanation
                .starts_with("one warm replica, idle for 120 s of 300 s"),
            "{d}"
        );
        let unknown = PolicyInput {
            zero_since: None,
            ..idle_input(ten(), min(60), 2, Some(&quiet))
        };
        assert_eq!(decide(&spec(), &unknown).desired_replicas, 1);
        // Scale-to-zero off, or min_replicas above zero.
        let off = ScalingSpec {
            scale_to_zero: false,
            ..spec()
        };
        assert_eq!(
            decide(&off, &idle_input(ten(), min(60), 2, Some(&quiet))).desired_replicas,
            1
        );
    }

    #[test]
    fn scale_to_zero_when_idle_and_nothing_forecast() {
        let quiet = forecast(ten(), 60, vec![0.1; 30]);
        let d = decide(&spec(), &idle_input(ten(), min(10), 2, Some(&quiet)));
        assert_eq!(
            (d.desired_replicas, d.active, d.reason),
            (0, false, Reason::Idle)
        );
        assert_eq!(
            d.to_string(),
            "scale to 0: idle: live 0/min since 09:50 (600 s); forecast P90 max 0.1/min until 10:08"
        );
        // Forecast demand within [now, now + lead + window] keeps the service up.
        let mut soon = vec![0.0; 30];
        soon[7] = 3.0; // 10:07, above 2% of a replica (2/min)
        let soon = forecast(ten(), 60, soon);
        let d = decide(&spec(), &idle_input(ten(), min(10), 2, Some(&soon)));
        assert_eq!((d.desired_replicas, d.active), (1, true));
        // Without a forecast covering the range, no scale-to-zero.
        let short = forecast(ten(), 60, vec![0.0; 5]);
        let d = decide(&spec(), &idle_input(ten(), min(10), 2, Some(&short)));
        assert_eq!((d.desired_replicas, d.reason), (1, Reason::Floor));
        assert_eq!(
            decide(&spec(), &idle_input(ten(), min(10), 2, None)).desired_replicas,
            1
        );
        // At zero without a forecast and no live demand: stay at zero (nothing says wake).
        let d = decide(&spec(), &idle_input(ten(), min(10), 0, None));
        assert_eq!((d.desired_replicas, d.reason), (0, Reason::Idle));
    }

    #[test]
    fn wakes_one_lead_time_before_forecast_resumption() {
        // Demand resumes at 10:07 with 250/min. At zero replicas the service wakes as soon as
        // 10:07 enters [now, now + lead + window], i.e. at 09:59; replicas are ready by 10:02.
        let mut values = vec![0.0; 40];
        for v in values.iter_mut().skip(17) {
            *v = 250.0;
        }
        let f = forecast(ten() - min(10), 60, values);
        let at = |m: i64| decide(&spec(), &idle_input(ten() + min(m), min(120), 0, Some(&f)));
        assert_eq!(at(-2).desired_replicas, 0, "09:58: 10:07 is beyond 10:06");
        let d = at(-1);
        assert_eq!(
            (d.desired_replicas, d.active, d.reason),
            (3, true, Reason::Wakeup)
        );
        assert_eq!(
            d.to_string(),
            "scale to 3: forecast P90 250/min in [10:02, 10:07] needs 3, waking before demand \
             arrives (live 0/min needs 0)"
        );
        // Live demand at zero replicas is a reactive wake-up.
        let d = decide(&spec(), &live(ten() - min(5), 120.0, 0, Some(&f)));
        assert_eq!((d.desired_replicas, d.reason), (2, Reason::Reactive));
    }

    fn business_hours_spec() -> ScalingSpec {
        let cal = BusinessCalendar::try_from(CalendarConfig {
            timezone: "UTC".into(),
            weekdays: vec![
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        })
        .unwrap();
        ScalingSpec {
            calendar: Some(cal),
            scale_to_zero_outside_business_hours_only: true,
            ..spec()
        }
    }

    #[test]
    fn calendar_forbids_scale_to_zero_during_business_hours() {
        let spec = business_hours_spec();
        let quiet = forecast(ten() - Duration::days(7), 60, vec![0.0; 8 * 24 * 60]);
        // Monday 10:00, idle for an hour, nothing forecast: one warm replica stays.
        let d = decide(&spec, &idle_input(ten(), min(60), 2, Some(&quiet)));
        assert_eq!((d.desired_replicas, d.reason), (1, Reason::Floor));
        assert!(
            d.explanation
                .starts_with("one warm replica, business hours"),
            "{d}"
        );
        // Sunday 10:00: closed, scale to zero.
        let sunday = ten() - Duration::days(1);
        assert_eq!(
            decide(&spec, &idle_input(sunday, min(60), 2, Some(&quiet))).desired_replicas,
            0
        );
        // At zero before opening: wake at 08:58 (09:01 is open), not at 08:56.
        let monday = |h: i64, m: i64| ten() - min(600) + Duration::hours(h) + min(m);
        let d = decide(&spec, &idle_input(monday(8, 56), min(60), 0, Some(&quiet)));
        assert_eq!(d.desired_replicas, 0);
        let d = decide(&spec, &idle_input(monday(8, 58), min(60), 0, Some(&quiet)));
        assert_eq!((d.desired_replicas, d.reason), (1, Reason::Wakeup));
        assert!(
            d.explanation
                .starts_with("business hours need a warm replica"),
            "{d}"
        );
        // Without the flag the calendar does not hold replicas.
        let free = ScalingSpec {
            scale_to_zero_outside_business_hours_only: false,
            ..spec
        };
        assert_eq!(
            decide(&free, &idle_input(ten(), min(60), 2, Some(&quiet))).desired_replicas,
            0
        );
    }

    #[test]
    fn exhausted_budget_drops_predictive_headroom_but_keeps_live_need() {
        let f = forecast(ten(), 60, vec![800.0; 30]);
        let broke = |input: PolicyInput<'_>| {
            decide(
                &spec(),
                &PolicyInput {
                    budget: BudgetState::Exhausted,
                    ..input
                },
            )
        };
        let d = broke(live(ten(), 250.0, 8, Some(&f)));
        assert_eq!((d.desired_replicas, d.reason), (3, Reason::BudgetCapped));
        assert_eq!(d.predictive_replicas, Some(8), "still reported");
        assert!(
            d.explanation
                .starts_with("budget exhausted: live 250/min needs 3"),
            "{d}"
        );
        // Live need above the forecast: served in full.
        let d = broke(live(ten(), 950.0, 8, Some(&f)));
        assert_eq!((d.desired_replicas, d.reason), (10, Reason::Reactive));
        // No predictive wake-up: at zero with forecast demand, stay at zero.
        let d = broke(idle_input(ten(), min(60), 0, Some(&f)));
        assert_eq!((d.desired_replicas, d.reason), (0, Reason::Idle));
        // Stale data still holds (never zero), without the predictive need.
        let stale = PolicyInput {
            last_sample_at: None,
            ..live(ten(), 0.0, 2, Some(&f))
        };
        assert_eq!(broke(stale).desired_replicas, 2);
    }

    #[test]
    fn invalid_spec_holds() {
        let bad = ScalingSpec::new(0.0);
        let d = decide(&bad, &live(ten(), 500.0, 3, None));
        assert_eq!((d.desired_replicas, d.reason), (3, Reason::InvalidSpec));
        assert!(
            d.to_string()
                .starts_with("hold 3: invalid spec: invalid `capacity_per_replica`")
        );
    }

    fn arb_forecast() -> impl Strategy<Value = Forecast> {
        (
            -3_000i64..3_000,
            prop_oneof![
                Just(60i64),
                Just(300),
                Just(0),
                Just(-60),
                Just(i64::MAX),
                1i64..100_000
            ],
            proptest::collection::vec(
                prop_oneof![0.0f64..1e4, Just(f64::NAN), Just(-5.0), Just(f64::INFINITY)],
                0..40,
            ),
            any::<bool>(),
        )
            .prop_map(|(offset, step, values, p90)| Forecast {
                start: ten() + Duration::seconds(offset),
                step_secs: step,
                quantiles: if p90 {
                    vec![QuantileForecast {
                        level: 0.9,
                        values: values.iter().map(|v| v * 1.2).collect(),
                    }]
                } else {
                    vec![]
                },
                point: values,
            })
    }

    proptest! {
        #[test]
        fn decide_never_panics_and_keeps_its_invariants(
            f in proptest::option::of(arb_forecast()),
            demand in proptest::option::of(prop_oneof![0.0f64..5e4, Just(0.0), Just(f64::NAN), Just(-1.0)]),
            sample_age in proptest::option::of(-100i64..1_000),
            zero_for in proptest::option::of(-100i64..2_000),
            current in 0u32..200,
            anomalous in any::<bool>(),
            exhausted in any::<bool>(),
            min_replicas in 0u32..4,
            cold_start in prop_oneof![Just(0i64), Just(180), Just(i64::MAX)],
            calendar in any::<bool>(),
        ) {
            let mut spec = if calendar { business_hours_spec() } else { spec() };
            spec.min_replicas = min_replicas;
            spec.max_replicas = 50;
            spec.cold_start_secs = cold_start;
            let input = PolicyInput {
                now: ten(),
                live_demand: demand,
                last_sample_at: sample_age.map(|s| ten() - Duration::seconds(s)),
                zero_since: zero_for.map(|s| ten() - Duration::seconds(s)),
                forecast: f.as_ref(),
                current_replicas: current,
                live_anomalous: anomalous,
                budget: if exhausted { BudgetState::Exhausted } else { BudgetState::Ok },
            };
            let d = decide(&spec, &input);
            let line = d.to_string();
            prop_assert!(!line.contains('\n'));
            if d.reason == Reason::InvalidSpec {
                return Ok(());
            }
            prop_assert!(d.desired_replicas <= spec.max_replicas.max(current));
            prop_assert!(d.desired_replicas >= d.reactive_replicas.min(spec.max_replicas), "{}", line);
            prop_assert_eq!(d.active, d.desired_replicas > 0);
            if d.desired_replicas == 0 {
                prop_assert_eq!(input.live_demand, Some(0.0));
                prop_assert!(spec.scale_to_zero && min_replicas == 0);
            }
            if d.reason == Reason::Stale {
                prop_assert!(d.desired_replicas >= 1);
            }
        }
    }
}
