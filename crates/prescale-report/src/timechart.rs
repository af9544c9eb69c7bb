//! A chart of a few series over time for pages other than the report (the operators' page of
//! `prescale serve`): the report's own chart — time axis in UTC, value axis, legend, the
//! same colours, downsampling and gaps — behind a small public type.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use prescale_report::{ChartSize, Series, SeriesColor, SeriesShape, TimeChart};
//!
//! let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
//! let chart = TimeChart {
//!     title: "Demand of inference/chat".into(),
//!     y_desc: "demand".into(),
//!     from: start,
//!     to: start + chrono::Duration::hours(1),
//!     series: vec![
//!         Series {
//!             label: Some("demand".into()),
//!             color: SeriesColor::Demand,
//!             start,
//!             step_secs: 300,
//!             shape: SeriesShape::Area(vec![10.0, f64::NAN, 12.0, 14.0]),
//!         },
//!         Series {
//!             label: Some("forecast P50 to P90".into()),
//!             color: SeriesColor::Palette(0),
//!             start,
//!             step_secs: 300,
//!             shape: SeriesShape::Band {
//!                 low: vec![9.0, 10.0, 11.0, 12.0],
//!                 high: vec![12.0, 13.0, 14.0, 16.0],
//!             },
//!         },
//!     ],
//!     note: None,
//!     size: ChartSize::Compact,
//! };
//! let svg = prescale_report::render_time_chart(&chart);
//! assert!(svg.starts_with("<svg class=\"chart\""));
//! assert!(!svg.contains("http"));
//! ```

use chrono::{DateTime, Utc};

use crate::figures::{DEMAND, policy_color};
use crate::sample::{self, Grid, MAX_POINTS, Reduce, Segment};
use crate::svg::{self, Chart, Frame, Layer, Shape};

/// How big a chart is drawn (it scales to the width of its container either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartSize {
    /// The report's size (1200 × 380).
    Full,
    /// One of many on a page (760 × 190): fewer ticks, smaller text.
    Compact,
}

/// The colour of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesColor {
    /// The grey of demand.
    Demand,
    /// A colour of the report's palette (Tableau 10, the policies' colours), by index.
    Palette(usize),
}

/// What a series draws.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesShape {
    /// Filled down to zero with a line on top (demand in the report).
    Area(Vec<f64>),
    /// A line.
    Line(Vec<f64>),
    /// A line of steps: each value holds until the next (a replica count), so that even a
    /// lone value shows as a step's width. Long series are drawn as a [`SeriesShape::Line`].
    Steps(Vec<f64>),
    /// Shaded between `low` and `high` (a forecast band), where both are finite.
    Band {
        /// The lower edge (say a forecast's median).
        low: Vec<f64>,
        /// The upper edge (say the quantile provisioned for).
        high: Vec<f64>,
    },
}

/// One series of a [`TimeChart`]: `values[i]` at `start + i × step_secs`; values that are not
/// finite are gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend text (`None`: not in the legend).
    pub label: Option<String>,
    /// Its colour.
    pub color: SeriesColor,
    /// Time of the first value.
    pub start: DateTime<Utc>,
    /// Seconds between values (at least one is used).
    pub step_secs: i64,
    /// What it draws.
    pub shape: SeriesShape,
}

/// A chart of series over `[from, to]`, drawn in order (the first at the bottom).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeChart {
    /// What the chart shows, for screen readers (`aria-label`; escaped when drawn).
    pub title: String,
    /// The value axis' description.
    pub y_desc: String,
    /// Start of the time axis.
    pub from: DateTime<Utc>,
    /// End of the time axis.
    pub to: DateTime<Utc>,
    /// The series.
    pub series: Vec<Series>,
    /// A note in the middle of the plot (say, that there is no data yet).
    pub note: Option<String>,
    /// Its size.
    pub size: ChartSize,
}

/// Draws `chart` as an inline `<svg class="chart">` element: no script, no URL, every text
/// escaped, long series downsampled (the smallest and the largest value of each bucket of an
/// area or a line, the envelope of a band). Never panics; a chart that cannot be drawn is an
/// SVG saying so.
pub fn render_time_chart(chart: &TimeChart) -> String {
    let layers = chart.series.iter().flat_map(layers).collect();
    svg::render(&Chart {
        title: chart.title.clone(),
        y_desc: chart.y_desc.clone(),
        time: (chart.from.timestamp() as f64, chart.to.timestamp() as f64),
        layers,
        note: chart.note.clone(),
        frame: match chart.size {
            ChartSize::Full => Frame::FULL,
            ChartSize::Compact => Frame::COMPACT,
        },
    })
}

/// The drawn layers of one series: an area is a fill and a line, the others one layer.
fn layers(series: &Series) -> Vec<Layer> {
    let grid = Grid {
        start: series.start.timestamp() as f64,
        step: series.step_secs.max(1) as f64,
    };
    let color = match series.color {
        SeriesColor::Demand => DEMAND,
        SeriesColor::Palette(i) => policy_color(i),
    };
    let layer = |label: Option<String>, opacity: f64, shape: Shape| Layer {
        label,
        color,
        opacity,
        shape,
    };
    match &series.shape {
        SeriesShape::Area(values) => {
            let segments = sample::downsample(values, grid, Reduce::MinMax);
            vec![
                layer(series.label.clone(), 0.22, Shape::Area(segments.clone())),
                layer(None, 0.7, Shape::Line { segments, width: 1 }),
            ]
        }
        SeriesShape::Line(values) => {
            let segments = sample::downsample(values, grid, Reduce::MinMax);
            vec![layer(
                series.label.clone(),
                0.9,
                Shape::Line { segments, width: 2 },
            )]
        }
        SeriesShape::Steps(values) => {
            let segments = if values.len() > MAX_POINTS / 2 {
                sample::downsample(values, grid, Reduce::MinMax)
            } else {
                steps(values, grid)
            };
            vec![layer(
                series.label.clone(),
                0.9,
                Shape::Line { segments, width: 2 },
            )]
        }
        SeriesShape::Band { low, high } => vec![layer(
            series.label.clone(),
            0.22,
            Shape::Band(sample::band(low, high, grid)),
        )],
    }
}

/// Each finite value from its time to the next one's, as segments split at the gaps.
fn steps(values: &[f64], grid: Grid) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut current: Segment = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            current.extend([(grid.time(i), *v), (grid.time(i + 1), *v)]);
        } else if !current.is_empty() {
            segments.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn series(color: SeriesColor, shape: SeriesShape) -> Series {
        Series {
            label: Some("a<b".into()),
            color,
            start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            step_secs: 300,
            shape,
        }
    }

    fn chart(size: ChartSize, series: Vec<Series>) -> TimeChart {
        let from = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        TimeChart {
            title: "t".into(),
            y_desc: "units".into(),
            from,
            to: from + chrono::Duration::hours(2),
            series,
            note: None,
            size,
        }
    }

    #[test]
    fn draws_areas_lines_and_bands_at_either_size() {
        let values: Vec<f64> = (0..24).map(f64::from).collect();
        let all = vec![
            series(SeriesColor::Demand, SeriesShape::Area(values.clone())),
            series(
                SeriesColor::Palette(0),
                SeriesShape::Band {
                    low: values.clone(),
                    high: values.iter().map(|v| v + 2.0).collect(),
                },
            ),
            series(SeriesColor::Palette(1), SeriesShape::Line(values)),
        ];
        let full = render_time_chart(&chart(ChartSize::Full, all.clone()));
        let compact = render_time_chart(&chart(ChartSize::Compact, all));
        assert!(full.contains(r#"viewBox="0 0 1200 380""#), "{full}");
        assert!(compact.contains(r#"viewBox="0 0 760 190""#), "{compact}");
        for svg in [&full, &compact] {
            // The area and the band; the legend escapes its text.
            assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
            assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
            let line = format!(r##"stroke="{}""##, crate::figures::hex(policy_color(1)));
            assert!(svg.to_lowercase().contains(&line), "{svg}");
        }
        assert!(full.contains("time (UTC)") && !compact.contains("time (UTC)"));
    }

    #[test]
    fn steps_hold_each_value_and_break_at_gaps() {
        let grid = Grid {
            start: 0.0,
            step: 10.0,
        };
        assert_eq!(
            steps(&[1.0, 2.0, f64::NAN, 3.0], grid),
            vec![
                vec![(0.0, 1.0), (10.0, 1.0), (10.0, 2.0), (20.0, 2.0)],
                vec![(30.0, 3.0), (40.0, 3.0)]
            ]
        );
        let lone = render_time_chart(&chart(
            ChartSize::Compact,
            vec![series(
                SeriesColor::Palette(2),
                SeriesShape::Steps(vec![3.0]),
            )],
        ));
        let color = crate::figures::hex(policy_color(2));
        assert!(
            lone.to_lowercase().contains(&format!(
                r##"<polyline fill="none" opacity="0.9" stroke="{color}""##
            )),
            "{lone}"
        );
    }

    #[test]
    fn empty_and_odd_series_render() {
        let mut empty = chart(ChartSize::Compact, Vec::new());
        empty.note = Some("no decision yet".into());
        let svg = render_time_chart(&empty);
        assert!(svg.contains("no decision yet") && svg.trim_end().ends_with("</svg>"));
        let mut odd = series(
            SeriesColor::Palette(99),
            SeriesShape::Line(vec![f64::NAN; 3]),
        );
        odd.step_secs = 0;
        let mut backwards = chart(ChartSize::Full, vec![odd]);
        std::mem::swap(&mut backwards.from, &mut backwards.to);
        assert!(render_time_chart(&backwards).contains("</svg>"));
    }
}
