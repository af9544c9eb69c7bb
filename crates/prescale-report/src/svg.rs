//! Drawing one chart as an SVG string with plotters: a time axis in UTC, a value axis, the
//! layers (areas, bands, lines) and a legend to the right of the plot.
//!
//! Text is emitted as SVG `<text>` elements and set by the browser's own sans-serif font;
//! plotters only estimates text extents for the layout (its built-in estimate, no font file).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::TimeAxis;
use crate::format::{axis_number, escape};
use crate::sample::{BandSegment, Segment};

/// Width of a chart in pixels (the page scales it to the viewport).
const WIDTH: u32 = 1200;
/// Height of a chart in pixels.
const HEIGHT: u32 = 380;
/// Width of the legend column to the right of the plot.
const LEGEND_WIDTH: u32 = 220;
/// Height of one legend row.
const LEGEND_ROW: i32 = 22;
/// Longest name a legend shows (longer ones are cut with an ellipsis).
const LEGEND_CHARS: usize = 26;
/// Labelled ticks on the time axis.
const TIME_LABELS: usize = 8;

/// Text colour.
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Grid line colour.
const GRID: RGBColor = RGBColor(0xe3, 0xe3, 0xe3);

/// What one layer of a chart draws.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Lines through the points of each segment.
    Line {
        /// The segments.
        segments: Vec<Segment>,
        /// Stroke width in pixels.
        width: u32,
    },
    /// Each segment filled down to zero.
    Area(Vec<Segment>),
    /// Each segment filled between its low and high values.
    Band(Vec<BandSegment>),
}

/// One layer of a chart, with its legend entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    /// The legend text (`None`: not in the legend).
    pub(crate) label: Option<String>,
    /// Colour.
    pub(crate) color: RGBColor,
    /// Opacity, 0 to 1.
    pub(crate) opacity: f64,
    /// What it draws.
    pub(crate) shape: Shape,
}

/// A chart: a time range, a value axis and layers drawn in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    /// What the chart shows, for screen readers (`aria-label`).
    pub(crate) title: String,
    /// The value axis' description.
    pub(crate) y_desc: String,
    /// The time range, seconds since the Unix epoch.
    pub(crate) time: (f64, f64),
    /// The layers, bottom first.
    pub(crate) layers: Vec<Layer>,
    /// A note in the middle of the plot (say, that there is no data).
    pub(crate) note: Option<String>,
}

impl Chart {
    /// The value range covering every layer, from zero (or below, for negative values) with a
    /// little headroom; `0..1` for a chart without values.
    fn value_range(&self) -> (f64, f64) {
        let mut low: f64 = 0.0;
        let mut high: f64 = f64::NEG_INFINITY;
        let mut see = |v: f64| {
            if v.is_finite() {
                low = low.min(v);
                high = high.max(v);
            }
        };
        for layer in &self.layers {
            match &layer.shape {
                Shape::Line { segments, .. } | Shape::Area(segments) => {
                    segments.iter().flatten().for_each(|p| see(p.1));
                }
                Shape::Band(segments) => segments.iter().flatten().for_each(|p| {
                    see(p.1);
                    see(p.2);
                }),
            }
        }
        if high.partial_cmp(&low) != Some(std::cmp::Ordering::Greater) {
            return (low, low + 1.0);
        }
        (low, high + (high - low) * 0.05)
    }
}

/// Draws `chart` as a standalone `<svg>` element for inline use in HTML.
pub(crate) fn render(chart: &Chart) -> String {
    let mut svg = String::new();
    let drawn = draw(chart, &mut svg);
    let svg = match drawn {
        Ok(()) => svg,
        Err(error) => fallback(&format!("chart could not be drawn: {error}")),
    };
    // Inline SVG in HTML needs no namespace; the page then names no URL at all.
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let attributes = format!(
        r#"<svg class="chart" role="img" aria-label="{}" "#,
        escape(&chart.title)
    );
    svg.replacen("<svg ", &attributes, 1)
}

/// A chart-sized SVG showing only `message`.
fn fallback(message: &str) -> String {
    format!(
        r#"<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"><text x="20" y="40">{}</text></svg>"#,
        escape(message)
    )
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(chart: &Chart, out: &mut String) -> DrawResult {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let (low, high) = chart.value_range();
    let label_font = FontDesc::new(FontFamily::SansSerif, 16.0, FontStyle::Normal).color(&INK);
    let desc_font = FontDesc::new(FontFamily::SansSerif, 17.0, FontStyle::Normal).color(&INK);
    let y_format = |v: &f64| axis_number(*v);

    let mut plot = ChartBuilder::on(&plot_area)
        .margin_top(16)
        .margin_right(16)
        .margin_left(8)
        .margin_bottom(4)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(
            TimeAxis::new(chart.time.0, chart.time.1, TIME_LABELS),
            low..high,
        )?;
    plot.configure_mesh()
        .x_labels(TIME_LABELS)
        .y_labels(8)
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(INK.mix(0.6))
        .label_style(label_font.clone())
        .axis_desc_style(desc_font)
        .x_desc("time (UTC)")
        .y_desc(chart.y_desc.as_str())
        .y_label_formatter(&y_format)
        .draw()?;

    for layer in &chart.layers {
        let color = layer.color.mix(layer.opacity);
        match &layer.shape {
            Shape::Line { segments, width } => {
                let style = color.stroke_width(*width);
                for segment in segments {
                    plot.draw_series(LineSeries::new(segment.iter().copied(), style))?;
                }
            }
            Shape::Area(segments) => {
                for segment in segments {
                    let (Some(first), Some(last)) = (segment.first(), segment.last()) else {
                        continue;
                    };
                    let base = 0f64.clamp(low, high);
                    let mut outline = segment.clone();
                    outline.extend([(last.0, base), (first.0, base)]);
                    plot.draw_series(std::iter::once(Polygon::new(outline, color.filled())))?;
                }
            }
            Shape::Band(segments) => {
                for segment in segments {
                    let upper = segment.iter().map(|&(t, _, h)| (t, h));
                    let lower = segment.iter().rev().map(|&(t, l, _)| (t, l));
                    let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
                    plot.draw_series(std::iter::once(Polygon::new(outline, color.filled())))?;
                }
            }
        }
    }

    if let Some(note) = &chart.note {
        let (w, h) = plot_area.dim_in_pixel();
        let style = label_font.clone().pos(Pos::new(HPos::Center, VPos::Center));
        let at = (
            i32::try_from(w / 2).unwrap_or(0),
            i32::try_from(h / 2).unwrap_or(0),
        );
        plot_area.draw(&Text::new(note.clone(), at, style))?;
    }
    draw_legend(chart, &legend_area, &label_font)?;
    root.present()?;
    Ok(())
}

/// The legend: one row per labelled layer, a swatch then the label.
fn draw_legend<DB: DrawingBackend>(
    chart: &Chart,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    font: &TextStyle<'_>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let rows = (i32::try_from(HEIGHT).unwrap_or(i32::MAX) - 2 * LEGEND_ROW) / LEGEND_ROW;
    let labelled: Vec<&Layer> = chart.layers.iter().filter(|l| l.label.is_some()).collect();
    let text_style = font.clone().pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 16 + LEGEND_ROW / 2;
    for (row, layer) in labelled.iter().enumerate() {
        let row = i32::try_from(row).unwrap_or(i32::MAX);
        if row + 1 >= rows && labelled.len() > usize::try_from(rows).unwrap_or(0) {
            let rest = labelled.len() - usize::try_from(row).unwrap_or(0);
            area.draw(&Text::new(
                format!("+{rest} more"),
                (12, y),
                text_style.clone(),
            ))?;
            break;
        }
        let color = layer.color.mix(layer.opacity.max(0.35));
        match layer.shape {
            Shape::Line { width, .. } => area.draw(&PathElement::new(
                vec![(12, y), (40, y)],
                color.stroke_width(width.max(2)),
            ))?,
            Shape::Area(_) | Shape::Band(_) => {
                area.draw(&Rectangle::new([(12, y - 6), (40, y + 6)], color.filled()))?;
            }
        }
        let label = layer.label.as_deref().unwrap_or_default();
        area.draw(&Text::new(shorten(label), (48, y), text_style.clone()))?;
        y += LEGEND_ROW;
    }
    Ok(())
}

/// `text` cut to [`LEGEND_CHARS`] characters, with an ellipsis if it was longer.
fn shorten(text: &str) -> String {
    if text.chars().count() <= LEGEND_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(LEGEND_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(layers: Vec<Layer>) -> Chart {
        Chart {
            title: "a \"test\" <chart>".into(),
            y_desc: "units".into(),
            time: (1_704_067_200.0, 1_704_067_200.0 + 7200.0),
            layers,
            note: None,
        }
    }

    fn line(label: &str, points: Segment) -> Layer {
        Layer {
            label: Some(label.into()),
            color: RGBColor(1, 2, 3),
            opacity: 1.0,
            shape: Shape::Line {
                segments: vec![points],
                width: 2,
            },
        }
    }

    #[test]
    fn renders_an_inline_svg_with_axes_layers_and_legend() {
        let t0 = 1_704_067_200.0;
        let mut layers = vec![line("x<y", vec![(t0, 1.0), (t0 + 3600.0, 5.0)])];
        layers.push(Layer {
            label: Some("band".into()),
            color: RGBColor(9, 9, 9),
            opacity: 0.2,
            shape: Shape::Band(vec![vec![(t0, 1.0, 2.0), (t0 + 60.0, 1.5, 3.0)]]),
        });
        let svg = render(&chart(layers));
        assert!(svg.starts_with(
            r#"<svg class="chart" role="img" aria-label="a &quot;test&quot; &lt;chart&gt;" "#
        ));
        assert!(!svg.contains("http"));
        assert!(svg.contains("x&lt;y"), "legend text is escaped");
        assert!(svg.contains(">\n00:00\n</text>"), "{svg}");
        assert!(svg.contains("time (UTC)"));
        assert_eq!(
            svg.matches(r##"stroke="#010203""##).count(),
            2,
            "the line and its swatch"
        );
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn empty_and_odd_charts_render() {
        let mut empty = chart(Vec::new());
        empty.note = Some("no data".into());
        empty.time = (f64::NAN, f64::NAN);
        let svg = render(&empty);
        assert!(svg.contains("no data") && svg.contains("</svg>"));
        assert_eq!(empty.value_range(), (0.0, 1.0));

        let many = (0..30)
            .map(|i| line(&format!("policy {i}"), vec![(0.0, -2.0)]))
            .collect();
        let svg = render(&chart(many));
        assert!(svg.contains("more") && svg.contains("policy 0"));
        assert_eq!(shorten(&"x".repeat(40)).chars().count(), LEGEND_CHARS);
    }
}
