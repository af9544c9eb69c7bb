//! The four charts of a report, built from the backtest timeline.

use plotters::style::RGBColor;
use prescale_sim::report::{PolicyTimeline, Timeline};

use crate::sample::{self, Grid, MAX_POINTS, Reduce};
use crate::svg::{self, Chart, Layer, Shape};

/// Policy colours (Tableau 10, which stays apart for the common colour-vision deficiencies).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The colour of demand.
pub(crate) const DEMAND: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// The colour of the policy at `index` of the timeline.
pub(crate) fn policy_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// `#rrggbb` of `color`.
pub(crate) fn hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// A drawn chart with its heading and caption (plain text, not yet escaped).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    /// The heading.
    pub(crate) heading: &'static str,
    /// What the chart shows.
    pub(crate) caption: String,
    /// The `<svg>` element.
    pub(crate) svg: String,
}

/// Samples in the longest series of `timeline`.
pub(crate) fn samples(timeline: &Timeline) -> usize {
    let policies = timeline.policies.iter().map(|p| {
        let forecasts = [&p.forecast_p50, &p.forecast_upper];
        let forecast = forecasts
            .iter()
            .filter_map(|f| f.as_ref().map(Vec::len))
            .max();
        p.capacity
            .len()
            .max(p.replicas.len())
            .max(p.cost_usd.len())
            .max(forecast.unwrap_or(0))
    });
    policies.fold(timeline.demand.len(), usize::max)
}

/// Seconds between samples, at least one.
pub(crate) fn step_secs(timeline: &Timeline) -> i64 {
    timeline.step_secs.max(1)
}

/// The four charts: demand against ready capacity, the forecast band, cumulative cost and
/// replicas.
pub(crate) fn figures(timeline: &Timeline) -> [Figure; 4] {
    let grid = Grid {
        start: timeline.start.timestamp() as f64,
        step: step_secs(timeline) as f64,
    };
    let n = samples(timeline);
    let time = (grid.start, grid.time(n.saturating_sub(1)));
    let note = (n == 0).then(|| "no data: the timeline is empty".to_owned());
    let chart = |title: &str, y_desc: &str, layers: Vec<Layer>| Chart {
        title: title.to_owned(),
        y_desc: y_desc.to_owned(),
        time,
        layers,
        note: note.clone(),
        frame: svg::Frame::FULL,
    };
    let policies = || timeline.policies.iter().enumerate();
    let demand = sample::downsample(&timeline.demand, grid, Reduce::MinMax);

    let mut capacity = vec![
        layer(Some("demand"), DEMAND, 0.22, Shape::Area(demand.clone())),
        layer(
            None,
            DEMAND,
            0.7,
            Shape::Line {
                segments: demand.clone(),
                width: 1,
            },
        ),
    ];
    capacity.extend(policies().map(|(i, p)| {
        let segments = sample::downsample(&p.capacity, grid, Reduce::MinMax);
        layer(
            Some(&p.name),
            policy_color(i),
            0.9,
            Shape::Line { segments, width: 2 },
        )
    }));

    let mut forecast = vec![layer(
        Some("demand"),
        DEMAND,
        0.8,
        Shape::Line {
            segments: demand,
            width: 1,
        },
    )];
    let mut forecasters = Vec::new();
    for (i, p) in policies() {
        let layers = forecast_layers(p, policy_color(i), grid);
        if !layers.is_empty() {
            forecasters.push(p.name.as_str());
        }
        forecast.extend(layers);
    }
    let mut forecast = chart(
        "Forecast band against demand",
        "demand units per minute",
        forecast,
    );
    if forecasters.is_empty() && n > 0 {
        forecast.note = Some("no policy in this backtest forecasts demand".to_owned());
    }

    let lines = |series: fn(&PolicyTimeline) -> &[f64], reduce: Reduce| -> Vec<Layer> {
        let lines = policies().map(|(i, p)| {
            let segments = sample::downsample(series(p), grid, reduce);
            layer(
                Some(&p.name),
                policy_color(i),
                0.9,
                Shape::Line { segments, width: 2 },
            )
        });
        lines.collect()
    };
    let cost = lines(|p| &p.cost_usd, Reduce::Last);
    let replicas = lines(|p| &p.replicas, Reduce::MinMax);

    let bucket = n.div_ceil(MAX_POINTS / 2).max(1) as i64 * step_secs(timeline);
    let drawn = if bucket > step_secs(timeline) {
        format!(
            " Drawn at one bucket per {}: the smallest and the largest value of each bucket.",
            crate::format::duration(bucket as f64)
        )
    } else {
        String::new()
    };
    let forecast_caption = if forecasters.is_empty() {
        "The forecast median (P50) and the band up to the quantile a policy provisions for."
            .to_owned()
    } else {
        format!(
            "The forecast median (P50, line) and the band up to the quantile the policy \
             provisions for (shaded), of {}; gaps where there was no forecast.",
            forecasters.join(", ")
        )
    };
    [
        Figure {
            heading: "Demand and ready capacity",
            caption: format!(
                "Demand (grey) and the ready capacity of each policy, in demand units per \
                 minute; capacity below demand means a queue.{drawn}"
            ),
            svg: svg::render(&chart(
                "Demand and ready capacity",
                "demand units per minute",
                capacity,
            )),
        },
        Figure {
            heading: "Forecast band",
            caption: forecast_caption,
            svg: svg::render(&forecast),
        },
        Figure {
            heading: "Cumulative cost",
            caption: "Cost of each policy since the start of the trace, in US dollars.".to_owned(),
            svg: svg::render(&chart("Cumulative cost", "US dollars", cost)),
        },
        Figure {
            heading: "Replicas",
            caption: format!("Replicas of each policy, ready or starting.{drawn}"),
            svg: svg::render(&chart("Replicas", "replicas", replicas)),
        },
    ]
}

fn layer(label: Option<&str>, color: RGBColor, opacity: f64, shape: Shape) -> Layer {
    Layer {
        label: label.map(str::to_owned),
        color,
        opacity,
        shape,
    }
}

/// The forecast layers of one policy: the band from P50 to the upper forecast, the P50 line,
/// or the upper line alone when there is no P50. Empty for a policy without forecasts.
fn forecast_layers(policy: &PolicyTimeline, color: RGBColor, grid: Grid) -> Vec<Layer> {
    let name = &policy.name;
    let mut layers = Vec::new();
    match (&policy.forecast_p50, &policy.forecast_upper) {
        (Some(p50), Some(upper)) => {
            let band = Shape::Band(sample::band(p50, upper, grid));
            layers.push(layer(
                Some(&format!("{name} P50 to upper")),
                color,
                0.22,
                band,
            ));
        }
        (None, Some(upper)) => {
            let segments = sample::downsample(upper, grid, Reduce::MinMax);
            let shape = Shape::Line { segments, width: 1 };
            layers.push(layer(Some(&format!("{name} upper")), color, 0.9, shape));
        }
        _ => {}
    }
    if let Some(p50) = &policy.forecast_p50 {
        let segments = sample::downsample(p50, grid, Reduce::Mean);
        let shape = Shape::Line { segments, width: 2 };
        layers.push(layer(Some(&format!("{name} P50")), color, 0.95, shape));
    }
    layers
}
