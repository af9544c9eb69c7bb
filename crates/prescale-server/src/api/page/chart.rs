//! A service's charts, drawn by the backtest report's chart ([`prescale_report::render_time_chart`])
//! from its status: the last day of decisions ([`RecentView`]) and the latest forecast.
//!
//! - Demand: the last day of the history held (one-minute steps, as of the latest refresh;
//!   the largest of each five minutes on the small charts of `/`), the forecast band (P50 to
//!   the service's quantile: for the past, what the latest refresh before each decision
//!   forecast for its time; ahead, the latest forecast), and the capacity of the replicas
//!   decided (replicas × threshold, in demand units, so that it shares the axis).
//! - Replicas (service page): decided, and answered to KEDA (lower in shadow mode).

use chrono::{DateTime, Duration, Utc};
use prescale_report::{ChartSize, Series, SeriesColor, SeriesShape, TimeChart, render_time_chart};

use super::html;
use crate::registry::status::{
    DemandView, RECENT_BUCKET_SECS, RECENT_SPAN_SECS, RecentPoint, RecentView, ServiceStatus,
};
use crate::runtime::STEP_SECS;

/// What a chart says before the first decision.
const NO_DECISION: &str = "no decision yet: the chart fills as decisions are made";

/// The time axis: the day up to the latest decision, and the latest forecast beyond it.
fn span(status: &ServiceStatus) -> (DateTime<Utc>, DateTime<Utc>) {
    let bucket = Duration::seconds(status.recent.bucket_secs);
    let now = status
        .decision
        .as_ref()
        .map(|d| d.at)
        .or_else(|| status.recent.points.back().map(|p| p.at + bucket))
        .or_else(|| status.observed.map(|o| o.at))
        .unwrap_or_else(Utc::now);
    let ahead = status
        .forecast
        .as_ref()
        .and_then(|f| f.steps.last())
        .map(|s| s.timestamp + Duration::seconds(STEP_SECS));
    let end = ahead.filter(|a| *a > now).unwrap_or(now);
    (now - Duration::seconds(RECENT_SPAN_SECS), end)
}

/// `field` of each bucket from the first to the last, NaN where there was no decision or no
/// value.
fn grid(recent: &RecentView, field: impl Fn(&RecentPoint) -> Option<f64>) -> Vec<f64> {
    let (Some(first), Some(last)) = (recent.points.front(), recent.points.back()) else {
        return Vec::new();
    };
    let step = recent.bucket_secs.max(1);
    let len = usize::try_from((last.at - first.at).num_seconds() / step + 1).unwrap_or(0);
    let mut values = vec![f64::NAN; len];
    for p in &recent.points {
        let i = usize::try_from((p.at - first.at).num_seconds() / step).unwrap_or(usize::MAX);
        if let (Some(slot), Some(v)) = (values.get_mut(i), field(p)) {
            *slot = v;
        }
    }
    values
}

fn series(
    label: Option<String>,
    color: SeriesColor,
    start: DateTime<Utc>,
    step_secs: i64,
    shape: SeriesShape,
) -> Series {
    Series {
        label,
        color,
        start,
        step_secs,
        shape,
    }
}

/// The history's last day: one-minute values, or on a small chart the largest of each
/// [`RecentView`] bucket (some 300 points instead of 1,440).
fn history(demand: &DemandView, size: ChartSize) -> (i64, Vec<f64>) {
    let values = demand.values.iter().map(|v| f64::from(*v));
    let step = demand.step_secs.max(1);
    let per = usize::try_from(RECENT_BUCKET_SECS / step)
        .unwrap_or(1)
        .max(1);
    if size == ChartSize::Full || per == 1 {
        return (step, values.collect());
    }
    let all: Vec<f64> = values.collect();
    let reduced = all
        .chunks(per)
        .map(|c| c.iter().copied().fold(f64::NAN, f64::max))
        .collect();
    (step * per as i64, reduced)
}

/// Demand, the forecast band and the capacity decided, over the last day and the forecast
/// ahead.
pub(super) fn demand(status: &ServiceStatus, size: ChartSize) -> String {
    let recent = &status.recent;
    let start = recent.points.front().map_or_else(Utc::now, |p| p.at);
    let step = recent.bucket_secs;
    let q = html::quantile(html::upper_quantile(status));
    let band_label = format!("forecast P50 to {q}");
    let f32s = |v: Option<f32>| v.map(f64::from);
    let (demand_step, demand) = history(&status.demand, size);
    let mut layers = vec![series(
        Some("demand".into()),
        SeriesColor::Demand,
        status.demand.start.unwrap_or(start),
        demand_step,
        SeriesShape::Area(demand),
    )];
    layers.push(series(
        Some(band_label.clone()),
        SeriesColor::Palette(0),
        start,
        step,
        SeriesShape::Band {
            low: grid(recent, |p| f32s(p.p50)),
            high: grid(recent, |p| f32s(p.upper)),
        },
    ));
    if let Some(f) = &status.forecast
        && let Some(first) = f.steps.first()
    {
        // The legend names the band once.
        let label = recent.points.is_empty().then_some(band_label);
        layers.push(series(
            label,
            SeriesColor::Palette(0),
            first.timestamp,
            STEP_SECS,
            SeriesShape::Band {
                low: f.steps.iter().map(|s| s.p50).collect(),
                high: f.steps.iter().map(|s| s.upper).collect(),
            },
        ));
    }
    let threshold = status.settings.threshold;
    layers.push(series(
        Some(format!("replicas × {}", html::number(threshold))),
        SeriesColor::Palette(1),
        start,
        step,
        SeriesShape::Steps(grid(recent, |p| {
            Some(f64::from(p.desired_replicas) * threshold)
        })),
    ));
    let (from, to) = span(status);
    render_time_chart(&TimeChart {
        title: format!(
            "Demand, forecast band and capacity decided for {}/{} over the last day",
            status.namespace, status.name
        ),
        y_desc: "demand".into(),
        from,
        to,
        series: layers,
        note: (recent.points.is_empty()
            && status.forecast.is_none()
            && status.demand.values.is_empty())
        .then(|| NO_DECISION.to_string()),
        size,
    })
}

/// Replicas decided and answered to KEDA over the last day.
pub(super) fn replicas(status: &ServiceStatus) -> String {
    let recent = &status.recent;
    let start = recent.points.front().map_or_else(Utc::now, |p| p.at);
    let step = recent.bucket_secs;
    let line = |label: &str, color: usize, field: fn(&RecentPoint) -> u32| {
        series(
            Some(label.into()),
            SeriesColor::Palette(color),
            start,
            step,
            SeriesShape::Steps(grid(recent, |p| Some(f64::from(field(p))))),
        )
    };
    let (from, to) = span(status);
    render_time_chart(&TimeChart {
        title: format!(
            "Replicas decided and answered for {}/{} over the last day",
            status.namespace, status.name
        ),
        y_desc: "replicas".into(),
        from,
        to,
        series: vec![
            line("decided", 1, |p| p.desired_replicas),
            line("answered to KEDA", 2, |p| p.reported_replicas),
        ],
        note: recent.points.is_empty().then(|| NO_DECISION.to_string()),
        size: ChartSize::Full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_067_200 + secs, 0).unwrap()
    }

    #[test]
    fn buckets_without_a_decision_are_gaps() {
        let mut r = RecentView::default();
        r.note(at(0), Some(1.0), None, 1, 1);
        r.note(at(900), Some(4.0), None, 2, 2);
        let demand = grid(&r, |p| p.demand.map(f64::from));
        assert_eq!(demand.len(), 4);
        assert_eq!((demand[0], demand[3]), (1.0, 4.0));
        assert!(demand[1].is_nan() && demand[2].is_nan());
        assert!(grid(&RecentView::default(), |_| Some(1.0)).is_empty());
    }

    #[test]
    fn small_charts_take_the_largest_of_each_five_minutes() {
        let values: Vec<f64> = (0..1440).map(f64::from).collect();
        let day = DemandView::new(at(0), 60, &values);
        let (step, full) = history(&day, ChartSize::Full);
        assert_eq!((step, full.len()), (60, 1440));
        let (step, small) = history(&day, ChartSize::Compact);
        assert_eq!((step, small.len()), (300, 288));
        assert_eq!((small[0], small[287]), (4.0, 1439.0));
    }
}
