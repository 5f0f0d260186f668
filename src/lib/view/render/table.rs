//! Tables for people (comfy-table): plain ASCII in pipes, box drawing on a terminal,
//! fitted to its width.

use std::io::{self, Write};

use comfy_table::{
    presets, Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table,
};
use polars::prelude::*;

use super::format::{
    bytes, count, harvest_seconds, iso_cell, min_mean_max, number, opt_number, percent, to_millis,
};
use super::rows::{column_names, frame_rows, Value};
use crate::catalog::{FileRecord, FileStatus};
use crate::model::report::{Report, RunCoverage, RunEntry};
use crate::model::schema::Channel;
use crate::time::format_utc;
use crate::view::resolve::{Resolved, View};

/// How tables look: box drawing and bold headers on a terminal, plain ASCII otherwise,
/// and the width they fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Unicode borders and bold headers (a terminal without `NO_COLOR`).
    pub fancy: bool,
    /// The width (in columns) tables fit by eliding, dropping or stacking columns;
    /// `None`: as wide as their content.
    pub width: Option<usize>,
}

impl Style {
    /// Plain for pipes and files, and whenever `NO_COLOR` is set. Tables fit
    /// `COLUMNS` when it is set (also in a pipe), else the terminal's width; in a
    /// pipe without `COLUMNS`, and with `wide`, they are as wide as their content.
    pub fn detect(wide: bool) -> Style {
        use std::io::IsTerminal;
        let terminal = io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0);
        let width = match (wide, columns) {
            (true, _) => None,
            (false, Some(columns)) => Some(columns),
            (false, None) if terminal => Table::new().width().map(usize::from),
            (false, None) => None,
        };
        Style {
            fancy: terminal && std::env::var_os("NO_COLOR").is_none(),
            width,
        }
    }

    /// Plain ASCII, as wide as the content.
    pub fn plain() -> Style {
        Style {
            fancy: false,
            width: None,
        }
    }
}

pub(super) fn table(style: Style, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(if style.fancy {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_MARKDOWN
    });
    // The width is decided here, never by comfy-table querying the terminal.
    t.force_no_tty();
    if style.fancy {
        t.enforce_styling();
    }
    if let Some(width) = style.width {
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    if !header.is_empty() {
        let cells = header.iter().map(|h| {
            let cell = Cell::new(h);
            if style.fancy {
                cell.add_attribute(Attribute::Bold)
            } else {
                cell
            }
        });
        t.set_header(cells.collect::<Vec<_>>());
    }
    t
}

/// Right-aligns the given columns (numbers).
pub(super) fn align_right(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Keeps the given columns (ids, times) on one line; the others wrap to fit the terminal.
fn no_wrap(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

fn heading(out: &mut dyn Write, style: Style, title: &str) -> io::Result<()> {
    if style.fancy {
        writeln!(out, "\x1b[1m{title}\x1b[0m")
    } else {
        writeln!(out, "{title}")
    }
}

pub(super) fn print_table(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A table that fits the terminal: built wide, and built again `narrow` (cells on
/// several lines: dates above times, min/mean/max stacked) when the wide one would
/// have to wrap inside numbers and times.
fn fitted(style: Style, build: impl Fn(bool) -> Table) -> Table {
    let wide = build(false);
    match style.width {
        Some(width) if natural_width(&wide) > width => build(true),
        _ => wide,
    }
}

fn key_values(out: &mut dyn Write, style: Style, rows: Vec<(&str, String)>) -> io::Result<()> {
    let mut t = table(style, &[]);
    for (k, v) in rows {
        t.add_row(vec![Cell::new(k), Cell::new(v)]);
    }
    print_table(out, &t)
}

pub(super) fn report_tables(
    resolved: &Resolved,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    summary_table(resolved, style, out)?;
    writeln!(out)?;
    quality_tables(&resolved.report, style, out)?;
    writeln!(out)?;
    coverage_tables(&resolved.report, style, out)?;
    writeln!(out)?;
    heading(out, style, "Run statistics")?;
    stats_table(&resolved.report.runs, style, out)
}

/// What was harvested, from where, how, and by which version.
fn summary_table(resolved: &Resolved, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let r = &resolved.report;
    heading(out, style, "Summary")?;
    let mut summary = vec![("source", r.source.clone())];
    if let Some(record) = &resolved.record {
        summary.push(("status", record.status.name().to_string()));
        if record.paths.len() > 1 {
            summary.push((
                "also seen as",
                record
                    .paths
                    .iter()
                    .filter(|p| **p != r.source)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    summary.extend([
        ("size", bytes(r.size_bytes)),
        ("content hash", r.content_hash.clone()),
        ("format", r.format.clone()),
    ]);
    if let Some(dir) = &resolved.output_dir {
        summary.push(("output", dir.display().to_string()));
    }
    summary.extend([
        ("harvested at", to_millis(&r.finished_at)),
        (
            "tool version",
            format!(
                "{} (output schema {})",
                r.tool_version, r.output_schema_version
            ),
        ),
        (
            "alignment",
            format!(
                "{} (max gap {} s)",
                alignment_name(r),
                number(r.max_gap_s, 3)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
            ),
        ),
        ("compression", r.compression.to_string()),
        (
            "duration",
            harvest_seconds(r).map_or_else(|| "n/a".into(), |s| format!("{} s", number(s, 2))),
        ),
    ]);
    key_values(out, style, summary)
}

/// Rows read, kept and dropped by reason, and the warnings.
fn quality_tables(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    heading(out, style, "Data quality")?;
    let rows = &r.rows;
    let dropped = rows.dropped_total();
    key_values(
        out,
        style,
        vec![
            ("rows read", count(rows.read)),
            (
                "rows kept",
                format!(
                    "{} ({})",
                    count(rows.kept),
                    percent(rows.kept as f64, rows.read as f64)
                ),
            ),
            (
                "rows dropped",
                format!(
                    "{} ({})",
                    count(dropped),
                    percent(dropped as f64, rows.read as f64)
                ),
            ),
        ],
    )?;
    let reasons: Vec<_> = rows.dropped.iter().filter(|(_, n)| **n > 0).collect();
    if !reasons.is_empty() {
        writeln!(out)?;
        let mut t = table(style, &["dropped: reason", "rows", "share of read"]);
        for (reason, n) in reasons {
            t.add_row(vec![
                reason.name().to_string(),
                count(*n),
                format!(
                    "{} %",
                    number(100.0 * *n as f64 / rows.read.max(1) as f64, 2)
                ),
            ]);
        }
        align_right(&mut t, [1, 2]);
        print_table(out, &t)?;
    }

    writeln!(out)?;
    if r.warnings.is_empty() {
        writeln!(out, "Warnings: none")?;
    } else {
        heading(out, style, &format!("Warnings ({})", r.warnings.len()))?;
        for w in &r.warnings {
            writeln!(out, "- {w}")?;
        }
    }
    Ok(())
}

/// Each run's channels with their samples and time span, and the channels it lacks.
fn coverage_tables(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    heading(out, style, "Channel coverage")?;
    let t = coverage_table(&r.coverage, true, style);
    // Too wide even with dates over times: a table per run, under its id.
    match style.width {
        Some(width) if natural_width(&t) > width => {
            for (i, run) in r.coverage.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "run {}", run.run_uuid)?;
                print_table(
                    out,
                    &coverage_table(std::slice::from_ref(run), false, style),
                )?;
            }
        }
        _ => print_table(out, &t)?,
    }
    let missing: Vec<_> = r
        .coverage
        .iter()
        .filter(|c| !c.missing.is_empty())
        .collect();
    writeln!(out)?;
    if missing.is_empty() {
        writeln!(out, "Missing channels: none")?;
    } else {
        heading(out, style, "Missing channels")?;
        let mut t = table(style, &["run_uuid", "missing"]);
        for run in missing {
            t.add_row(vec![run.run_uuid.clone(), run.missing.join(" ")]);
        }
        print_table(out, &t)?;
    }
    Ok(())
}

/// Each run's channels, their samples, coverage and span; the run id in the first
/// column when `with_id`.
fn coverage_table(runs: &[RunCoverage], with_id: bool, style: Style) -> Table {
    let order: Vec<String> = Channel::all().into_iter().map(Channel::column).collect();
    let rank = |name: &str| order.iter().position(|c| c == name).unwrap_or(order.len());
    let mut t = fitted(style, |narrow| {
        let header = [
            "run_uuid",
            "channel",
            "samples",
            "coverage (%)",
            "first (UTC)",
            "last (UTC)",
        ];
        let mut t = table(style, &header[usize::from(!with_id)..]);
        for run in runs {
            let mut channels: Vec<_> = run.channels.iter().collect();
            channels.sort_by_key(|(name, _)| (rank(name), name.as_str()));
            for (i, (channel, c)) in channels.into_iter().enumerate() {
                let mut row = Vec::with_capacity(header.len());
                if with_id {
                    row.push(if i == 0 {
                        run.run_uuid.clone()
                    } else {
                        String::new()
                    });
                }
                row.extend([
                    channel.clone(),
                    count(c.samples),
                    number(100.0 * c.coverage, 1),
                    iso_cell(&c.start, narrow),
                    iso_cell(&c.stop, narrow),
                ]);
                t.add_row(row);
            }
        }
        let first = usize::from(with_id);
        align_right(&mut t, [first + 1, first + 2]);
        t
    });
    t.set_content_arrangement(ContentArrangement::Disabled);
    t
}

fn alignment_name(r: &Report) -> String {
    serde_json::to_value(r.alignment)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

const STATS_HEADER: [&str; 9] = [
    "run_uuid",
    "robot",
    "start (UTC)",
    "stop (UTC)",
    "runtime (s)",
    "distance (mm)",
    "speed min/mean/max (mm/s)",
    "accel min/mean/max (mm/s²)",
    "force min/mean/max (N)",
];

fn stats_table(runs: &[RunEntry], style: Style, out: &mut dyn Write) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no run statistics");
    }
    let mut t = fitted(style, |narrow| {
        let separator = if narrow { "\n" } else { " / " };
        let header = STATS_HEADER.map(|h| {
            if narrow {
                h.replacen(" min/", "\nmin/", 1)
            } else {
                h.to_string()
            }
        });
        let mut t = table(style, &header.each_ref().map(String::as_str));
        for e in runs {
            t.add_row(vec![
                e.stats.run_uuid.to_string(),
                e.stats.robot_id.to_string(),
                iso_cell(&format_utc(e.stats.start), narrow),
                iso_cell(&format_utc(e.stats.stop), narrow),
                number(e.stats.runtime_s, 2),
                opt_number(e.stats.distance_mm, 1),
                min_mean_max(e.stats.speed_mm_s, 2, separator),
                min_mean_max(e.stats.accel_mm_s2, 1, separator),
                min_mean_max(e.stats.force_n, 2, separator),
            ]);
        }
        align_right(&mut t, [1, 4, 5, 6, 7, 8]);
        t
    });
    // Numbers and times are never wrapped: a table still too wide stacked becomes one
    // block of lines per run and robot.
    match style.width {
        Some(width) if natural_width(&t) > width => stats_blocks(runs, style, out),
        _ => {
            t.set_content_arrangement(ContentArrangement::Disabled);
            print_table(out, &t)
        }
    }
}

/// The run statistics as one small table per run and robot: a quantity per line.
fn stats_blocks(runs: &[RunEntry], style: Style, out: &mut dyn Write) -> io::Result<()> {
    for (i, e) in runs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let s = &e.stats;
        heading(
            out,
            style,
            &format!("Run {}, robot {}", s.run_uuid, s.robot_id),
        )?;
        let mut t = table(style, &[]);
        t.set_content_arrangement(ContentArrangement::Disabled);
        for (k, v) in [
            ("start (UTC)", format_utc(s.start)),
            ("stop (UTC)", format_utc(s.stop)),
            ("runtime (s)", number(s.runtime_s, 2)),
            ("distance (mm)", opt_number(s.distance_mm, 1)),
            (
                "speed min/mean/max (mm/s)",
                min_mean_max(s.speed_mm_s, 2, " / "),
            ),
            (
                "accel min/mean/max (mm/s²)",
                min_mean_max(s.accel_mm_s2, 1, " / "),
            ),
            ("force min/mean/max (N)", min_mean_max(s.force_n, 2, " / ")),
        ] {
            t.add_row(vec![k.to_string(), v]);
        }
        print_table(out, &t)?;
    }
    Ok(())
}

pub(super) fn record_tables(
    record: &FileRecord,
    runs: &[RunEntry],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    heading(out, style, "Summary")?;
    let mut rows = vec![
        ("source", record.source_path.clone()),
        ("status", record.status.name().to_string()),
        ("attempts", record.attempts.to_string()),
        ("size", bytes(record.size_bytes.max(0) as u64)),
        ("content hash", record.content_hash.clone()),
    ];
    let optional = [
        ("last error", record.last_error.clone()),
        ("started at", record.started_at.clone()),
        ("finished at", record.finished_at.clone()),
        ("tool version", record.tool_version.clone()),
        ("output", record.output_dir.clone()),
        ("rows read", record.rows_read.map(count)),
        ("rows kept", record.rows_kept.map(count)),
    ];
    rows.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    rows.push(("updated", record.updated_at.clone()));
    key_values(out, style, rows)?;
    if record.status == FileStatus::Harvested {
        writeln!(
            out,
            "(the report is missing from the catalog and the output directory)"
        )?;
    }
    if !runs.is_empty() {
        writeln!(out)?;
        heading(out, style, "Run statistics")?;
        stats_table(runs, style, out)?;
    }
    Ok(())
}

pub(super) fn rows_table(
    view: &View,
    frame: &DataFrame,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let View::RunRows {
        run_uuid,
        path,
        total_rows,
        ..
    } = view
    else {
        return Ok(());
    };
    let names: Vec<String> = column_names(frame)
        .into_iter()
        .map(|n| {
            if n == "time" {
                "time (UTC)".to_string()
            } else {
                n
            }
        })
        .collect();
    let rows = frame_rows(frame);
    let numeric: Vec<usize> = (0..names.len())
        .filter(|&i| rows.iter().any(|r| r[i].is_number()))
        .collect();
    let mut t = table(style, &names.iter().map(String::as_str).collect::<Vec<_>>());
    for row in &rows {
        t.add_row(row.iter().map(Value::table).collect::<Vec<_>>());
    }
    align_right(&mut t, numeric.iter().copied());
    heading(
        out,
        style,
        &format!(
            "Run {run_uuid}: first {} of {} rows ({})",
            count(rows.len() as u64),
            count(*total_rows as u64),
            path.display()
        ),
    )?;
    // Too wide for the terminal: one line per column instead of wrapping every
    // number digit by digit (like psql's expanded display).
    if let Some(width) = style.width {
        if natural_width(&t) > width {
            let mut header = vec!["column".to_string()];
            header.extend((1..=rows.len()).map(|i| format!("row {i}")));
            let mut tt = table(
                style,
                &header.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            for (i, name) in names.iter().enumerate() {
                let mut line = vec![name.clone()];
                line.extend(rows.iter().map(|r| r[i].table()));
                tt.add_row(line);
            }
            align_right(&mut tt, 1..=rows.len());
            no_wrap(&mut tt, [0]);
            return print_table(out, &tt);
        }
    }
    print_table(out, &t)
}

/// Width of a table whose cells are not wrapped: content, padding and borders.
fn natural_width(t: &Table) -> usize {
    table_width(t.column_max_content_widths().into_iter().map(usize::from))
}

/// Width of a one-line-per-row table with these content widths: each column has a
/// space either side and a border on its left, plus the last border.
pub(super) fn table_width(content: impl IntoIterator<Item = usize>) -> usize {
    content.into_iter().map(|w| w + 3).sum::<usize>() + 1
}
