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

/// The size of a chart and of what is set in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    /// Width in pixels (the page scales it to the viewport).
    pub(crate) width: u32,
    /// Height in pixels.
    pub(crate) height: u32,
    /// Width of the legend column to the right of the plot.
    pub(crate) legend_width: u32,
    /// Height of one legend row.
    pub(crate) legend_row: i32,
    /// Longest name a legend shows (longer ones are cut with an ellipsis).
    pub(crate) legend_chars: usize,
    /// Font size of tick labels and the legend, pixels (axis descriptions are one larger).
    pub(crate) font: f64,
    /// Height of the time axis' label area.
    pub(crate) x_label_area: u32,
    /// Width of the value axis' label area.
    pub(crate) y_label_area: u32,
    /// Labelled ticks on the time axis.
    pub(crate) time_labels: usize,
    /// Labelled ticks on the value axis.
    pub(crate) value_labels: usize,
    /// Whether the time axis is described (`time (UTC)`).
    pub(crate) x_desc: bool,
}

impl Frame {
    /// The report's charts: 1200 × 380.
    pub(crate) const FULL: Self = Self {
        width: 1200,
        height: 380,
        legend_width: 220,
        legend_row: 22,
        legend_chars: 26,
        font: 16.0,
        x_label_area: 46,
        y_label_area: 70,
        time_labels: 8,
        value_labels: 8,
        x_desc: true,
    };

    /// A small chart, one of many on a page: 760 × 190, fewer ticks, no time axis description.
    pub(crate) const COMPACT: Self = Self {
        width: 760,
        height: 190,
        legend_width: 190,
        legend_row: 19,
        legend_chars: 22,
        font: 14.0,
        x_label_area: 30,
        y_label_area: 58,
        time_labels: 6,
        value_labels: 4,
        x_desc: false,
    };
}

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
    /// Its size.
    pub(crate) frame: Frame,
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
        Err(error) => fallback(chart.frame, &format!("chart could not be drawn: {error}")),
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
fn fallback(frame: Frame, message: &str) -> String {
    let (w, h) = (frame.width, frame.height);
    format!(
        r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}"><text x="20" y="40">{}</text></svg>"#,
        escape(message)
    )
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(chart: &Chart, out: &mut String) -> DrawResult {
    let frame = chart.frame;
    let root = SVGBackend::with_string(out, (frame.width, frame.height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(frame.width - frame.legend_width);
    let (low, high) = chart.value_range();
    let label_font =
        FontDesc::new(FontFamily::SansSerif, frame.font, FontStyle::Normal).color(&INK);
    let desc_font =
        FontDesc::new(FontFamily::SansSerif, frame.font + 1.0, FontStyle::Normal).color(&INK);
    let y_format = |v: &f64| axis_number(*v);

    let mut plot = ChartBuilder::on(&plot_area)
        .margin_top(16)
        .margin_right(16)
        .margin_left(8)
        .margin_bottom(4)
        .x_label_area_size(frame.x_label_area)
        .y_label_area_size(frame.y_label_area)
        .build_cartesian_2d(
            TimeAxis::new(chart.time.0, chart.time.1, frame.time_labels),
            low..high,
        )?;
    let mut mesh = plot.configure_mesh();
    mesh.x_labels(frame.time_labels)
        .y_labels(frame.value_labels)
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(INK.mix(0.6))
        .label_style(label_font.clone())
        .axis_desc_style(desc_font)
        .y_desc(chart.y_desc.as_str())
        .y_label_formatter(&y_format);
    if frame.x_desc {
        mesh.x_desc("time (UTC)");
    }
    mesh.draw()?;

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
    let frame = chart.frame;
    let row_height = frame.legend_row.max(1);
    let rows = (i32::try_from(frame.height).unwrap_or(i32::MAX) - 2 * row_height) / row_height;
    let labelled: Vec<&Layer> = chart.layers.iter().filter(|l| l.label.is_some()).collect();
    let text_style = font.clone().pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 16 + row_height / 2;
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
        area.draw(&Text::new(
            shorten(label, frame.legend_chars),
            (48, y),
            text_style.clone(),
        ))?;
        y += row_height;
    }
    Ok(())
}

/// `text` cut to `chars` characters, with an ellipsis if it was longer.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(chars.saturating_sub(1)).collect();
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
            frame: Frame::FULL,
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
        assert_eq!(
            shorten(&"x".repeat(40), Frame::FULL.legend_chars)
                .chars()
                .count(),
            Frame::FULL.legend_chars
        );
    }
}
