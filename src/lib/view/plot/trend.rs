//! A cell's daily trend: one quantity per UTC day of the fleet view's window, as a
//! line through a dot per day (a day without a value, such as a drop share on a
//! day without rows, breaks the line). Over a long window only a day that stands
//! alone keeps its dot: a dot per day would bury the line.

use plotters::prelude::*;

use super::draw::{failed, font, x_axis, Plot, ROBOT_COLORS, WIDTH};
use super::reduce::Kept;
use super::{register_font, Chart, DrawError};

const HEIGHT: u32 = 260;
const DOT_RADIUS: i32 = 3;
/// Up to this many days, every day's value has its dot.
const DOTTED_DAYS: usize = 62;
/// Up to this many days, days are labelled `MM-DD`; beyond, with their year.
const SHORT_LABEL_DAYS: usize = 366;

/// One quantity of one cell, per day.
#[derive(Debug, Clone, Copy)]
pub struct Trend<'a> {
    /// What the chart shows, as a figure names it: `runs`, `distance`, `dropped`.
    pub kind: &'static str,
    pub cell: &'a str,
    /// What is counted, as a title names it (`runs per day`).
    pub quantity: &'a str,
    pub unit: &'a str,
    /// Counts (runs): the value axis is marked at whole numbers only.
    pub counts: bool,
    /// The days (`YYYY-MM-DD`), in order, and each day's value.
    pub days: &'a [String],
    pub values: &'a [Option<f64>],
}

/// Draws `trend` as SVG.
pub fn trend_chart(trend: &Trend) -> Result<Chart, DrawError> {
    register_font();
    let title = format!("cell {}: {} ({})", trend.cell, trend.quantity, trend.unit);
    let mut svg = String::new();
    let mut chart = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let area = root.titled(&title, font(18)).map_err(failed)?;
        let top = trend
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let days = trend.days.len();
        let y_top = if top > 0.0 { top * 1.1 } else { 1.0 };
        // Enough decimals to tell the axis' marks apart, no more.
        let decimals = match y_top {
            t if t >= 20.0 => 0,
            t if t >= 2.0 => 1,
            t if t >= 0.2 => 2,
            _ => 3,
        };
        let mut plot = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..days as f64 - 0.5, 0.0..y_top)
            .map_err(failed)?;
        let day_label = |v: &f64| day_at(trend.days, *v);
        let value_label = |v: &f64| {
            if !trend.counts {
                format!("{v:.decimals$}")
            } else if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        let short = days <= SHORT_LABEL_DAYS;
        plot.configure_mesh()
            .x_labels(days.clamp(1, if short { 16 } else { 8 }))
            .x_label_formatter(&day_label)
            .y_label_formatter(&value_label)
            .disable_x_mesh()
            .x_desc("day (UTC)")
            .y_desc(format!("{} ({})", trend.quantity, trend.unit))
            .label_style(font(12))
            .axis_desc_style(font(14))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(failed)?;
        let points = draw_points(&mut plot, trend.values)?;
        let (x_range, x_pixels) = x_axis(&plot);
        root.present().map_err(failed)?;
        Chart {
            kind: trend.kind,
            title: title.clone(),
            kept: Kept { points, of: points },
            x_range,
            x_pixels,
            ..Chart::default()
        }
    };
    chart.svg = svg;
    Ok(chart)
}

/// The day at x position `v` (a day's index), as `MM-DD` (with its year in a
/// long window); nothing between days.
fn day_at(days: &[String], v: f64) -> String {
    let at = v.round();
    if (v - at).abs() > 1e-6 || at < 0.0 {
        return String::new();
    }
    let short = days.len() <= SHORT_LABEL_DAYS;
    days.get(at as usize)
        .map(|d| {
            if short {
                d.get(5..).unwrap_or(d).to_string()
            } else {
                d.clone()
            }
        })
        .unwrap_or_default()
}

/// Lines through consecutive days with values, and a dot on every value (in a
/// long window, on each one that stands alone); gives how many values there are.
fn draw_points<'a, DB: DrawingBackend + 'a>(
    plot: &mut Plot<'a, DB>,
    values: &[Option<f64>],
) -> Result<usize, DrawError> {
    let color = ROBOT_COLORS[0];
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i as f64, v)))
        .collect();
    let mut stretch: Vec<(f64, f64)> = Vec::new();
    let mut stretches: Vec<Vec<(f64, f64)>> = Vec::new();
    for &(x, y) in &points {
        if stretch.last().is_some_and(|&(last, _)| x - last > 1.5) {
            stretches.push(std::mem::take(&mut stretch));
        }
        stretch.push((x, y));
    }
    stretches.push(stretch);
    for stretch in stretches.into_iter().filter(|s| s.len() >= 2) {
        plot.draw_series(LineSeries::new(stretch, color.stroke_width(2)))
            .map_err(failed)?;
    }
    let dotted = values.len() <= DOTTED_DAYS;
    let has = |i: Option<usize>| {
        i.and_then(|i| values.get(i))
            .is_some_and(|v| v.is_some_and(f64::is_finite))
    };
    let alone = |x: f64| {
        let i = x as usize;
        !has(i.checked_sub(1)) && !has(Some(i + 1))
    };
    plot.draw_series(
        points
            .iter()
            .filter(|(x, _)| dotted || alone(*x))
            .map(|&p| Circle::new(p, DOT_RADIUS, color.filled())),
    )
    .map_err(failed)?;
    Ok(points.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_labelled_at_their_index_only() {
        let days = ["2026-12-01".to_string(), "2026-12-02".to_string()];
        assert_eq!(day_at(&days, 1.0), "12-02");
        assert_eq!(day_at(&days, 0.5), "");
        assert_eq!(day_at(&days, 2.0), "");
        let years: Vec<String> = (0..400).map(|i| format!("2026-01-{i}")).collect();
        assert_eq!(
            day_at(&years, 3.0),
            "2026-01-3",
            "a long window's days name their year"
        );
    }

    #[test]
    fn a_trend_draws_a_line_and_a_dot_per_value() {
        let days: Vec<String> = (1..=4).map(|d| format!("2026-12-0{d}")).collect();
        let values = [Some(1.0), Some(3.0), None, Some(2.0)];
        let chart = trend_chart(&Trend {
            kind: "runs",
            cell: "7",
            quantity: "runs per day",
            unit: "runs",
            counts: true,
            days: &days,
            values: &values,
        })
        .unwrap();
        assert_eq!(chart.kept.points, 3);
        // Days 1 and 2 are joined; day 4 stands alone, a dot.
        let blue = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\"",
            ROBOT_COLORS[0].0, ROBOT_COLORS[0].1, ROBOT_COLORS[0].2
        );
        let lines = chart
            .svg
            .split("<polyline")
            .skip(1)
            .filter(|line| line.contains(&blue))
            .count();
        assert_eq!(lines, 1, "{}", chart.svg);
        assert_eq!(chart.svg.matches("<circle").count(), 3);
        assert!(chart.title.contains("cell 7"));
    }
}
