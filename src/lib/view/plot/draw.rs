//! Drawing the charts with plotters, on any of its backends: SVG text for the page
//! and `.svg` files, a bitmap for `.png` files.

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::reduce::{min_max_per_column, path_within, total, Kept, Segments};
use super::{register_font, PlotKind, Projection, RobotSeries, RunSeries, COLUMNS};
use crate::model::readings::{DropReason, RowAccount};

/// Where a chart goes.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// SVG text, returned in [`Chart::svg`].
    Svg,
    /// A PNG file.
    Png(&'a Path),
}

/// A drawn chart and what a reader (or a test) needs to know of it.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// `path-xy`, `path-xz`, `speed`, `accel`, `force`, `coverage` or `drops`.
    pub kind: &'static str,
    pub title: String,
    /// The SVG document (empty for a PNG).
    pub svg: String,
    /// Points drawn of the points there were.
    pub kept: Kept,
    /// How points were chosen, when some were left out.
    pub method: String,
    /// The x axis: its data range and the pixels it spans.
    pub x_range: (f64, f64),
    pub x_pixels: (i32, i32),
}

impl Chart {
    /// The line a reduced chart carries, so no one mistakes it for raw data.
    pub fn reduction_note(&self) -> Option<String> {
        self.kept.is_reduced().then(|| {
            format!(
                "reduced for display: {} of {} points drawn ({})",
                self.kept.points, self.kept.of, self.method
            )
        })
    }
}

/// Why a chart was not drawn.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DrawError {
    /// The PNG file could not be written (its folder is gone, the disk is full, a
    /// file size limit): the output's fault, not the chart's.
    #[error("cannot write the PNG: {0}")]
    Write(String),
    /// plotters refused a drawing it was given: a bug of the chart's layout.
    #[error("cannot draw the chart: {0}")]
    Backend(String),
}

pub(super) fn failed<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> DrawError {
    DrawError::Backend(e.to_string())
}

pub(super) const ROBOT_COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];
pub(super) const WIDTH: u32 = 900;
const HEIGHT: u32 = 340;
const PATH_SIZE: u32 = 560;
/// At most this many points of one robot's path are drawn.
const PATH_POINTS: usize = 4_000;
/// A robot whose path spans fewer pixels than this on both axes (one that does not
/// move, or barely) is drawn as a dot: its line would be too short to see.
const MARKER_BELOW_PX: f64 = 3.0;
const MARKER_RADIUS: i32 = 5;
/// The least a path chart spans (mm) on its shorter side, so that robots that do
/// not move sit in a readable window instead of one a nanometre across.
const MIN_PATH_SPAN_MM: f64 = 10.0;

pub(super) fn font(size: u32) -> FontDesc<'static> {
    ("sans-serif", size).into_font()
}

/// One chart of a run: `kind` as `--plot` names it, a path in `projection`'s plane.
pub fn run_chart(
    run: &RunSeries,
    kind: PlotKind,
    projection: Projection,
    output: Output,
) -> Result<Chart, DrawError> {
    register_font();
    let size = match kind {
        PlotKind::Path => (PATH_SIZE, PATH_SIZE),
        PlotKind::Coverage => (WIDTH, 120 + 22 * run.coverage.len() as u32),
        _ => (WIDTH, HEIGHT),
    };
    match output {
        Output::Svg => {
            let mut svg = String::new();
            let mut chart = {
                let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                let chart = draw_run(&area, run, kind, projection)?;
                area.present().map_err(failed)?;
                chart
            };
            chart.svg = svg;
            Ok(chart)
        }
        Output::Png(path) => {
            let area = BitMapBackend::new(path, size).into_drawing_area();
            let chart = draw_run(&area, run, kind, projection)?;
            // The bitmap is encoded and written here, and only here.
            area.present()
                .map_err(|e| DrawError::Write(e.to_string()))?;
            Ok(chart)
        }
    }
}

fn draw_run<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunSeries,
    kind: PlotKind,
    projection: Projection,
) -> Result<Chart, DrawError> {
    area.fill(&WHITE).map_err(failed)?;
    match kind {
        PlotKind::Path => draw_path(area, run, projection),
        PlotKind::Speed => draw_time(area, run, "speed", kind.quantity(), "mm/s", |r| &r.speed),
        PlotKind::Accel => draw_time(area, run, "accel", kind.quantity(), "mm/s²", |r| &r.accel),
        PlotKind::Force => draw_time(area, run, "force", kind.quantity(), "N", |r| &r.force),
        PlotKind::Coverage => draw_coverage(area, run),
    }
}

/// The range of finite values, widened when empty or flat.
fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (lo <= hi).then_some((lo, hi))
}

fn widened((lo, hi): (f64, f64)) -> Range<f64> {
    if hi - lo > f64::EPSILON * hi.abs().max(1.0) {
        lo..hi
    } else {
        lo - 1.0..hi + 1.0
    }
}

/// The note of a reduced chart, at the bottom left of the canvas.
fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), DrawError> {
    if let Some(text) = chart.reduction_note() {
        let (_, height) = area.dim_in_pixel();
        area.draw(&Text::new(
            text,
            (8, height as i32 - 16),
            font(12).color(&RGBColor(90, 90, 90)),
        ))
        .map_err(failed)?;
    }
    Ok(())
}

/// A chart with data coordinates on both axes.
pub(super) type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw_series<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    segments: &Segments,
    color: RGBColor,
    label: &str,
) -> Result<(), DrawError> {
    let mut labelled = false;
    for segment in segments {
        let drawn = chart
            .draw_series(LineSeries::new(
                segment.iter().copied(),
                color.stroke_width(1),
            ))
            .map_err(failed)?;
        if !labelled {
            drawn.label(label.to_string()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
            labelled = true;
        }
    }
    Ok(())
}

/// How one robot's data is drawn: a line through its reduced points, or a dot
/// where its path is too short to see.
enum Trace {
    Line(Segments),
    Dot((f64, f64)),
}

/// Draws every robot's trace in its colour, labelled for the legend; `trace` gives
/// a robot's trace and what its reduction kept, or `None` when it has nothing to
/// draw. Returns what was kept of the robots drawn.
fn draw_robots<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    run: &RunSeries,
    mut trace: impl FnMut(&RobotSeries) -> Option<(Trace, Kept)>,
) -> Result<Vec<Kept>, DrawError> {
    let mut kept = Vec::new();
    for robot in &run.robots {
        let Some((drawn, k)) = trace(robot) else {
            continue;
        };
        kept.push(k);
        let color = robot_color(robot.robot);
        let label = format!("robot {}", robot.robot);
        match drawn {
            Trace::Line(segments) => draw_series(chart, &segments, color, &label)?,
            Trace::Dot(at) => {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        at,
                        MARKER_RADIUS,
                        color.filled(),
                    )))
                    .map_err(failed)?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
            }
        }
    }
    Ok(kept)
}

/// A chart with nothing to draw says so where its data would be.
fn say_nothing<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    what: &str,
    at: (f64, f64),
) -> Result<(), DrawError> {
    chart
        .draw_series(std::iter::once(Text::new(
            format!("no {what} in this run"),
            at,
            font(14),
        )))
        .map_err(failed)?;
    Ok(())
}

/// The tool path in `projection`'s plane, mm on both axes at the same scale. The
/// axes span every robot's points, and a robot whose path is shorter than a few
/// pixels (one that does not move) is a dot, so every robot with positions shows.
fn draw_path<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunSeries,
    projection: Projection,
) -> Result<Chart, DrawError> {
    let (name, kind) = match projection {
        Projection::Xy => ("X–Y", "path-xy"),
        Projection::Xz => ("X–Z", "path-xz"),
    };
    let vertical = projection.vertical();
    let title = format!("run {}: tool path, {name} (mm)", run.run_uuid);
    let area = area.titled(&title, font(18)).map_err(failed)?;
    let (margin, x_label, y_label) = (12u32, 40u32, 64u32);
    let (w, h) = area.dim_in_pixel();
    let plot_w = w.saturating_sub(2 * margin + y_label).max(1) as f64;
    let plot_h = h.saturating_sub(2 * margin + x_label + 16).max(1) as f64;
    let points = || run.robots.iter().flat_map(|r| r.positions(projection));
    let xs = extent(points().map(|p| p.0)).unwrap_or((0.0, 0.0));
    let ys = extent(points().map(|p| p.1)).unwrap_or((0.0, 0.0));
    // Equal aspect: one scale, mm per pixel, for both axes.
    let scale = ((xs.1 - xs.0) / plot_w)
        .max((ys.1 - ys.0) / plot_h)
        .max(MIN_PATH_SPAN_MM / plot_w.min(plot_h))
        * 1.05;
    let centre = |(lo, hi): (f64, f64)| (lo + hi) / 2.0;
    let x_range = centre(xs) - scale * plot_w / 2.0..centre(xs) + scale * plot_w / 2.0;
    let y_range = centre(ys) - scale * plot_h / 2.0..centre(ys) + scale * plot_h / 2.0;
    let mut chart = ChartBuilder::on(&area)
        .margin(margin)
        .margin_bottom(margin + 16)
        .x_label_area_size(x_label)
        .y_label_area_size(y_label)
        .build_cartesian_2d(x_range.clone(), y_range)
        .map_err(failed)?;
    draw_mesh(
        &mut chart,
        "x (mm)",
        &format!("{} (mm)", ["x", "y", "z"][vertical]),
    )?;
    let mut coarsest = 1;
    let kept = draw_robots(&mut chart, run, |robot| {
        let (xs, ys) = (
            extent(robot.positions(projection).map(|p| p.0))?,
            extent(robot.positions(projection).map(|p| p.1))?,
        );
        let pixels = (xs.1 - xs.0).max(ys.1 - ys.0) / scale;
        let (segments, kept, cell) = path_within(
            &robot.position[0],
            &robot.position[vertical],
            scale,
            PATH_POINTS,
        );
        coarsest = coarsest.max(cell);
        let trace = if pixels < MARKER_BELOW_PX {
            Trace::Dot((centre(xs), centre(ys)))
        } else {
            Trace::Line(segments)
        };
        Some((trace, kept))
    })?;
    let nothing_at = (x_range.start, centre(ys));
    let method = match coarsest {
        1 => "one per pixel".to_string(),
        cell => format!("one per {cell}×{cell} pixels"),
    };
    finish_robots(
        &area,
        &mut chart,
        kept,
        ("positions", nothing_at),
        kind,
        title,
        method,
    )
}

/// Ends a chart of the robots' traces: their legend, or where nothing was drawn a
/// line saying there is no `what` (at `at`); then the chart's reduction note.
fn finish_robots<'a, DB: DrawingBackend + 'a>(
    area: &DrawingArea<DB, Shift>,
    chart: &mut Plot<'a, DB>,
    kept: Vec<Kept>,
    (what, at): (&str, (f64, f64)),
    kind: &'static str,
    title: String,
    method: String,
) -> Result<Chart, DrawError> {
    if kept.is_empty() {
        say_nothing(chart, what, at)?;
    } else {
        legend(chart)?;
    }
    let (x_range, x_pixels) = x_axis(chart);
    let drawn = Chart {
        kind,
        title,
        kept: total(kept),
        method,
        x_range,
        x_pixels,
        ..Chart::default()
    };
    note(area, &drawn)?;
    Ok(drawn)
}

/// Robot 1 blue, robot 2 red, in every chart.
fn robot_color(robot: u8) -> RGBColor {
    ROBOT_COLORS[usize::from(robot.saturating_sub(1)).min(1)]
}

/// Axes with their descriptions and a light grid, as every line chart has them.
fn draw_mesh<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    x_desc: &str,
    y_desc: &str,
) -> Result<(), DrawError> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(12))
        .axis_desc_style(font(14))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(failed)
}

/// The name of row `v` of a chart with one row per name (none between rows).
fn row_label(names: &[impl AsRef<str>], v: f64) -> String {
    let row = v.round();
    if (v - row).abs() < 1e-6 && row >= 0.0 {
        names
            .get(row as usize)
            .map(|n| n.as_ref().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    }
}

/// The x axis of a chart: its data range and the pixels it spans.
pub(super) fn x_axis<'a, DB: DrawingBackend + 'a>(
    chart: &Plot<'a, DB>,
) -> ((f64, f64), (i32, i32)) {
    let range = chart.x_range();
    let pixels = chart.plotting_area().get_pixel_range().0;
    ((range.start, range.end), (pixels.start, pixels.end))
}

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Plot<'a, DB>) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .label_font(font(13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(failed)
}

/// One quantity of both robots against time (s from the run's start).
fn draw_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunSeries,
    kind: &'static str,
    quantity: &str,
    unit: &str,
    values: impl Fn(&RobotSeries) -> &Vec<f64>,
) -> Result<Chart, DrawError> {
    let title = format!("run {}: {quantity} ({unit})", run.run_uuid);
    let area = area.titled(&title, font(18)).map_err(failed)?;
    let t_range = (0.0, run.t.last().copied().unwrap_or(0.0));
    let ys = extent(run.robots.iter().flat_map(|r| values(r).iter().copied()));
    let y_range = widened((
        0.0_f64.min(ys.map_or(0.0, |y| y.0)),
        ys.map_or(1.0, |y| y.1),
    ));
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_bottom(28)
        .x_label_area_size(40)
        .y_label_area_size(72)
        .build_cartesian_2d(widened(t_range), y_range)
        .map_err(failed)?;
    draw_mesh(
        &mut chart,
        "time since the run's start (s)",
        &format!("{quantity} ({unit})"),
    )?;
    let kept = draw_robots(&mut chart, run, |robot| {
        let (segments, k) = min_max_per_column(&run.t, values(robot), t_range, COLUMNS);
        (!segments.is_empty()).then_some((Trace::Line(segments), k))
    })?;
    let method = "first, min, max and last per pixel column".to_string();
    let nothing_at = (t_range.1 / 2.0, 0.5);
    finish_robots(
        &area,
        &mut chart,
        kept,
        (quantity, nothing_at),
        kind,
        title,
        method,
    )
}

/// A strip per channel: where it has values (filled) and its gaps (empty).
fn draw_coverage<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunSeries,
) -> Result<Chart, DrawError> {
    let title = format!(
        "run {}: channel coverage (readings over time)",
        run.run_uuid
    );
    let area = area.titled(&title, font(18)).map_err(failed)?;
    let duration = run.t.last().copied().unwrap_or(0.0);
    let rows = run.coverage.len();
    let names: Vec<String> = run.coverage.iter().map(|(n, _)| n.clone()).collect();
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(widened((0.0, duration)), -0.5..rows as f64 - 0.5)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows.max(1))
        .y_label_formatter(&|v| row_label(&names, *v))
        .x_desc("time since the run's start (s)")
        .y_desc("channel")
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()
        .map_err(failed)?;
    let mut stretches = 0;
    for (row, (name, spans)) in run.coverage.iter().enumerate() {
        let robot: u8 = name
            .rsplit('_')
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let color = robot_color(robot);
        stretches += spans.len();
        let y = row as f64;
        chart
            .draw_series(spans.iter().map(|&(start, end)| {
                let end = if end > start {
                    end
                } else {
                    start + duration / COLUMNS as f64
                };
                Rectangle::new([(start, y - 0.35), (end, y + 0.35)], color.filled())
            }))
            .map_err(failed)?;
    }
    let (x_range, x_pixels) = x_axis(&chart);
    Ok(Chart {
        kind: "coverage",
        title,
        kept: Kept {
            points: stretches,
            of: stretches,
        },
        x_range,
        x_pixels,
        ..Chart::default()
    })
}

/// Dropped rows per reason, as horizontal bars (SVG); `None` when nothing was dropped.
pub fn drops_chart(rows: &RowAccount) -> Result<Option<Chart>, DrawError> {
    register_font();
    let bars: Vec<(DropReason, u64)> = rows
        .dropped
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(&r, &n)| (r, n))
        .collect();
    if bars.is_empty() {
        return Ok(None);
    }
    let title = format!(
        "dropped rows by reason ({} of {} read)",
        rows.dropped_total(),
        rows.read
    );
    let height = 90 + 26 * bars.len() as u32;
    let mut svg = String::new();
    let mut chart_meta = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let area = root.titled(&title, font(18)).map_err(failed)?;
        let most = bars.iter().map(|(_, n)| *n).max().unwrap_or(1) as f64;
        let names: Vec<&str> = bars.iter().map(|(r, _)| r.name()).collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..most * 1.1, -0.5..bars.len() as f64 - 0.5)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&|v| row_label(&names, *v))
            .x_desc("rows")
            .label_style(font(12))
            .axis_desc_style(font(14))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, n))| {
                let y = i as f64;
                Rectangle::new(
                    [(0.0, y - 0.35), (*n as f64, y + 0.35)],
                    RGBColor(148, 103, 189).filled(),
                )
            }))
            .map_err(failed)?;
        let (x_range, x_pixels) = x_axis(&chart);
        let meta = Chart {
            kind: "drops",
            title: title.clone(),
            kept: Kept {
                points: bars.len(),
                of: bars.len(),
            },
            x_range,
            x_pixels,
            ..Chart::default()
        };
        root.present().map_err(failed)?;
        meta
    };
    chart_meta.svg = svg;
    Ok(Some(chart_meta))
}
