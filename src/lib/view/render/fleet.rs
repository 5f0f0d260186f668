//! `view --fleet`: the cells as tables for people (what each cell is doing now,
//! then what it harvested over the window; or one row per cell and day), JSON and
//! CSV for scripts in the catalog's units (mm, s).

use std::io::{self, Write};

use serde::Serialize;

use super::format::{count, number, percent};
use super::table::{align_right, fitted, heading, print_table, table, Style};
use crate::catalog::fleet::FleetDay;
use crate::text::printable;
use crate::view::fleet::{dropped_share, CellSummary, Fleet, Window};

const MM_PER_M: f64 = 1_000.0;
const S_PER_H: f64 = 3_600.0;

/// A header as one line, or in narrow tables with its unit under its name.
fn header(text: &str, narrow: bool) -> String {
    if narrow {
        text.replacen(' ', "\n", 1)
    } else {
        text.to_string()
    }
}

/// What the view covers: its days and filters.
fn scope(fleet: &Fleet) -> String {
    let Window { since, until, days } = &fleet.window;
    let mut text = format!(
        "{since} to {until} (UTC, {days} day{})",
        if *days == 1 { "" } else { "s" }
    );
    if !fleet.filters.is_empty() {
        text.push_str(&format!(", where {}", printable(&fleet.filters.join(" "))));
    }
    text
}

/// A catalog instant to the minute, as `2026-12-03 06:12` (or date over time).
fn minute(iso: &str, narrow: bool) -> String {
    let text = iso.get(..16).unwrap_or(iso);
    text.replacen('T', if narrow { "\n" } else { " " }, 1)
}

/// How long ago, in its two largest units: `45s`, `12m`, `3h 05m`, `2d 04h`.
pub(super) fn age(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

fn share(kept: i64, dropped: i64) -> String {
    percent(dropped as f64, (kept + dropped) as f64)
}

/// `view --fleet`: the cells now, then what they harvested over the window.
pub(super) fn fleet_tables(fleet: &Fleet, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if fleet.cells.is_empty() {
        return nothing(fleet, out);
    }
    heading(out, style, &format!("Cells now ({})", fleet.cells.len()))?;
    let t = fitted(style, |narrow| {
        let headers = [
            "cell",
            "last run (UTC)",
            "age",
            "failed sources",
            "pending files",
        ]
        .map(|h| header(h, narrow));
        let mut t = table(style, &headers.each_ref().map(String::as_str));
        for c in &fleet.cells {
            t.add_row(vec![
                printable(&c.cell).into_owned(),
                c.last_run_at
                    .as_deref()
                    .map_or_else(|| "never".to_string(), |at| minute(at, narrow)),
                c.last_run_age_s.map(age).unwrap_or_default(),
                count(c.failed_sources),
                count(c.pending_files),
            ]);
        }
        align_right(&mut t, [2, 3, 4]);
        t
    });
    print_table(out, &t)?;
    writeln!(out)?;
    heading(out, style, &format!("Harvested {}", scope(fleet)))?;
    let t = fitted(style, |narrow| {
        let headers = [
            "cell",
            "files",
            "runs",
            "dropped",
            "distance (m)",
            "m/day",
            "runtime (h)",
            "h/day",
        ]
        .map(|h| header(h, narrow));
        let mut t = table(style, &headers.each_ref().map(String::as_str));
        for c in &fleet.cells {
            t.add_row(vec![
                printable(&c.cell).into_owned(),
                count(c.files),
                count(c.runs),
                share(c.rows_kept, c.rows_dropped),
                number(c.distance_mm / MM_PER_M, 1),
                number(c.distance_mm_per_day / MM_PER_M, 1),
                number(c.runtime_s / S_PER_H, 2),
                number(c.runtime_s_per_day / S_PER_H, 2),
            ]);
        }
        align_right(&mut t, 1..8);
        t
    });
    print_table(out, &t)
}

/// `view --fleet --daily`: one row per cell and day with runs.
pub(super) fn daily_table(fleet: &Fleet, style: Style, out: &mut dyn Write) -> io::Result<()> {
    if fleet.daily.is_empty() {
        return nothing(fleet, out);
    }
    heading(out, style, &format!("Harvested per day {}", scope(fleet)))?;
    let t = fitted(style, |narrow| {
        let headers = [
            "cell",
            "day",
            "files",
            "runs",
            "dropped",
            "distance (m)",
            "runtime (h)",
        ]
        .map(|h| header(h, narrow));
        let mut t = table(style, &headers.each_ref().map(String::as_str));
        for d in &fleet.daily {
            t.add_row(vec![
                printable(&d.cell).into_owned(),
                d.day.clone(),
                count(d.files),
                count(d.runs),
                share(d.rows_kept, d.rows_dropped),
                number(d.distance_mm / MM_PER_M, 1),
                number(d.runtime_s / S_PER_H, 2),
            ]);
        }
        align_right(&mut t, 2..7);
        t
    });
    print_table(out, &t)
}

/// The line of a fleet view with nothing to show.
fn nothing(fleet: &Fleet, out: &mut dyn Write) -> io::Result<()> {
    if fleet.filters.is_empty() {
        writeln!(
            out,
            "no runs harvested {}, and no source failed or pending",
            scope(fleet)
        )
    } else {
        writeln!(out, "nothing in the catalog matches {}", scope(fleet))
    }
}

/// `view --fleet --format json`.
#[derive(Serialize)]
struct FleetJson<'a> {
    window: &'a Window,
    filters: &'a [String],
    now: &'a str,
    cells: &'a [CellSummary],
}

/// `view --fleet --daily --format json`.
#[derive(Serialize)]
struct DailyJson<'a> {
    window: &'a Window,
    filters: &'a [String],
    daily: Vec<DailyRow<'a>>,
}

/// A cell's day, with its share of rows dropped.
#[derive(Serialize)]
struct DailyRow<'a> {
    cell: &'a str,
    day: &'a str,
    files: i64,
    runs: i64,
    rows_kept: i64,
    rows_dropped: i64,
    dropped_share: Option<f64>,
    distance_mm: f64,
    runtime_s: f64,
}

fn daily_rows(daily: &[FleetDay]) -> Vec<DailyRow<'_>> {
    daily
        .iter()
        .map(|d| DailyRow {
            cell: &d.cell,
            day: &d.day,
            files: d.files,
            runs: d.runs,
            rows_kept: d.rows_kept,
            rows_dropped: d.rows_dropped,
            dropped_share: dropped_share(d.rows_kept, d.rows_dropped),
            distance_mm: d.distance_mm,
            runtime_s: d.runtime_s,
        })
        .collect()
}

pub(super) fn fleet_json(fleet: &Fleet, daily: bool, out: &mut dyn Write) -> io::Result<()> {
    if daily {
        super::json(
            out,
            &DailyJson {
                window: &fleet.window,
                filters: &fleet.filters,
                daily: daily_rows(&fleet.daily),
            },
        )
    } else {
        super::json(
            out,
            &FleetJson {
                window: &fleet.window,
                filters: &fleet.filters,
                now: &fleet.now,
                cells: &fleet.cells,
            },
        )
    }
}

/// `view --fleet --format csv`: a header line, then a line per cell (or per cell
/// and day).
pub(super) fn fleet_csv(fleet: &Fleet, daily: bool, out: &mut dyn Write) -> io::Result<()> {
    // The header is written from the column lists: serde's would be missing
    // without a row.
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    if daily {
        write_all(&mut w, daily_rows(&fleet.daily), DAILY_COLUMNS)?;
    } else {
        write_all(&mut w, &fleet.cells, CELL_COLUMNS)?;
    }
    w.flush()
}

const CELL_COLUMNS: &[&str] = &[
    "cell",
    "files",
    "runs",
    "last_run_at",
    "last_run_age_s",
    "failed_sources",
    "pending_files",
    "rows_kept",
    "rows_dropped",
    "dropped_share",
    "distance_mm",
    "distance_mm_per_day",
    "runtime_s",
    "runtime_s_per_day",
];

const DAILY_COLUMNS: &[&str] = &[
    "cell",
    "day",
    "files",
    "runs",
    "rows_kept",
    "rows_dropped",
    "dropped_share",
    "distance_mm",
    "runtime_s",
];

/// Rows as CSV under `columns`, their fields in order.
fn write_all<T: Serialize>(
    w: &mut csv::Writer<&mut dyn Write>,
    rows: impl IntoIterator<Item = T>,
    columns: &[&str],
) -> io::Result<()> {
    w.write_record(columns)?;
    for row in rows {
        w.serialize(row)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        assert_eq!(age(0.4), "0s");
        assert_eq!(age(59.9), "59s");
        assert_eq!(age(125.0), "2m");
        assert_eq!(age(3.0 * 3_600.0 + 5.0 * 60.0), "3h 05m");
        assert_eq!(age(2.0 * 86_400.0 + 4.0 * 3_600.0 + 1.0), "2d 04h");
        assert_eq!(age(-3.0), "0s");
    }

    #[test]
    fn csv_headers_name_the_fields_in_order() {
        fn header_of<T: Serialize>(row: T) -> String {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(row).unwrap();
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            text.lines().next().unwrap().to_string()
        }
        assert_eq!(header_of(CellSummary::empty("7")), CELL_COLUMNS.join(","));
        let day = FleetDay {
            cell: "7".into(),
            day: "2026-12-01".into(),
            files: 1,
            runs: 2,
            rows_kept: 3,
            rows_dropped: 1,
            distance_mm: 4.0,
            runtime_s: 5.0,
        };
        let rows = daily_rows(std::slice::from_ref(&day));
        assert_eq!(header_of(&rows[0]), DAILY_COLUMNS.join(","));
    }
}
