//! `view --fleet --html`: the fleet as one self-contained page: per cell, its
//! runs, distance and drop share per day of the window as inline SVG charts; the
//! failed sources; then the tables `view --fleet` prints. Like the run page, it
//! fetches nothing (a Content-Security-Policy forbids every request).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::fleet::fleet_tables;
use super::page::{escape, figure, head};
use super::table::Style;
use crate::catalog::fleet::{FailedSource, FleetDay};
use crate::view::fleet::{dropped_share, Fleet};
use crate::view::plot::{trend_chart, Trend};

const STYLE: &str = "
table.failed { border-collapse: collapse; font-size: 13px; width: 100%; }
table.failed th, table.failed td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
table.failed td.path { word-break: break-all; }
";

/// Writes the page of `fleet`.
pub(super) fn fleet_page(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    let window = &fleet.window;
    let mut text = Vec::new();
    fleet_tables(fleet, Style::plain(), &mut text)?;
    head(out, "harvester: fleet", STYLE)?;
    writeln!(
        out,
        "<h1>Fleet, {} to {} (UTC)</h1>",
        window.since, window.until
    )?;
    let mut about = format!(
        "{} cells over {} days: their runs, distance and share of rows dropped per day, then the failed sources, then the tables <code>view --fleet</code> prints.",
        fleet.cells.len(),
        window.days,
    );
    if !fleet.filters.is_empty() {
        about.push_str(&format!(
            " Only what carries {}.",
            escape(&fleet.filters.join(" "))
        ));
    }
    writeln!(out, "<p>{about}</p>")?;

    let days = window.each_day();
    let mut by_cell: BTreeMap<&str, Vec<&FleetDay>> = BTreeMap::new();
    for day in &fleet.daily {
        by_cell.entry(&day.cell).or_default().push(day);
    }
    for cell in &fleet.cells {
        let rows = by_cell
            .get(cell.cell.as_str())
            .map_or(&[][..], Vec::as_slice);
        cell_section(&cell.cell, rows, &days, out)?;
    }

    writeln!(
        out,
        "<section id=\"failed\">\n<h2>Failed sources ({})</h2>",
        fleet.failed.len()
    )?;
    failed_table(&fleet.failed, out)?;
    writeln!(out, "</section>")?;
    writeln!(out, "<section id=\"tables\">\n<h2>Cells</h2>")?;
    writeln!(
        out,
        "<pre>{}</pre>\n</section>",
        escape(&String::from_utf8_lossy(&text))
    )?;
    writeln!(out, "</body>\n</html>")
}

/// A cell's charts: one per quantity, a point per day of the window (no run that
/// day: no runs and no distance; no rows: no drop share).
fn cell_section(
    cell: &str,
    rows: &[&FleetDay],
    days: &[String],
    out: &mut dyn Write,
) -> io::Result<()> {
    let on = |day: &str| rows.iter().find(|r| r.day == day);
    let per_day = |value: &dyn Fn(&FleetDay) -> Option<f64>, absent: Option<f64>| {
        days.iter()
            .map(|d| on(d).map_or(absent, |r| value(r)))
            .collect::<Vec<_>>()
    };
    let runs = per_day(&|r| Some(r.runs as f64), Some(0.0));
    let distance = per_day(&|r| Some(r.distance_mm / 1_000.0), Some(0.0));
    let dropped = per_day(
        &|r| dropped_share(r.rows_kept, r.rows_dropped).map(|s| 100.0 * s),
        None,
    );
    writeln!(
        out,
        "<section class=\"cell\" data-cell=\"{}\">\n<h2>Cell {}</h2>",
        escape(cell),
        escape(cell)
    )?;
    for (kind, quantity, unit, values) in [
        ("runs", "runs per day", "runs", &runs),
        ("distance", "distance per day", "m", &distance),
        ("dropped", "rows dropped per day", "% of read", &dropped),
    ] {
        let chart = trend_chart(&Trend {
            kind,
            cell,
            quantity,
            unit,
            counts: kind == "runs",
            days,
            values,
        })
        .map_err(io::Error::other)?;
        figure(out, &chart, &[("cell", cell.to_string())])?;
    }
    writeln!(out, "</section>")
}

/// The failed sources: where, why, when, and how often tried.
fn failed_table(failed: &[FailedSource], out: &mut dyn Write) -> io::Result<()> {
    if failed.is_empty() {
        return writeln!(out, "<p>No source failed.</p>");
    }
    writeln!(
        out,
        "<table class=\"failed\">\n<tr><th>source</th><th>cell</th><th>error</th><th>failed at (UTC)</th><th>attempts</th></tr>"
    )?;
    for source in failed {
        let error = match (&source.kind, &source.error) {
            (Some(kind), Some(error)) => format!("{kind}: {error}"),
            (None, Some(error)) => error.clone(),
            (Some(kind), None) => kind.clone(),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "<tr><td class=\"path\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&source.path),
            escape(&source.cell),
            escape(&error),
            escape(&source.failed_at),
            source.attempts
        )?;
    }
    writeln!(out, "</table>")
}
