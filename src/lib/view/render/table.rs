//! Tables for people (comfy-table): plain ASCII in pipes, box drawing on a terminal,
//! fitted to its width.

use std::io::{self, Write};

use comfy_table::{presets, Attribute, Cell, CellAlignment, ContentArrangement, Table};
use polars::prelude::*;

use super::format::count;
use super::list::{elide, Shrink};
use super::rows::{column_names, frame_rows, Value};
use crate::text::printable;
use crate::view::resolve::View;

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

pub(super) fn heading(out: &mut dyn Write, style: Style, title: &str) -> io::Result<()> {
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
pub(super) fn fitted(style: Style, build: impl Fn(bool) -> Table) -> Table {
    let wide = build(false);
    match style.width {
        Some(width) if natural_width(&wide) > width => build(true),
        _ => wide,
    }
}

/// Keys beside their values. When the table is wider than the terminal (a content
/// hash beside its key is 83 columns), it loses its borders rather than cut a
/// value across lines.
pub(super) fn key_values(
    out: &mut dyn Write,
    style: Style,
    rows: Vec<(&str, String)>,
) -> io::Result<()> {
    let mut t = table(style, &[]);
    for (k, v) in rows {
        t.add_row(vec![Cell::new(k), Cell::new(printable(&v))]);
    }
    if style.width.is_some_and(|width| natural_width(&t) > width) {
        t.load_preset(presets::NOTHING);
        let padding = [(0, 2), (0, 0)];
        for (column, padding) in t.column_iter_mut().zip(padding) {
            column.set_padding(padding);
        }
    }
    print_table(out, &t)
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
            "Run {run_uuid}: first {} of {} rows",
            count(rows.len() as u64),
            count(*total_rows as u64),
        ),
    )?;
    let from = format!("from {}", printable(&path.display().to_string()));
    match style.width {
        Some(width) => writeln!(out, "{}", elide(&from, width, Shrink::Middle))?,
        None => writeln!(out, "{from}")?,
    }
    match style.width {
        Some(width) if natural_width(&t) > width => {
            columns_as_lines(out, style, &names, &rows, width)
        }
        _ => print_table(out, &t),
    }
}

/// The rows of a table too wide for the terminal, turned: a line per column and
/// rows side by side, as many as fit `width` (like psql's expanded display), in
/// blocks of rows; times as date over time, so no value is ever wrapped.
fn columns_as_lines(
    out: &mut dyn Write,
    style: Style,
    names: &[String],
    rows: &[Vec<Value>],
    width: usize,
) -> io::Result<()> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(Value::stacked).collect())
        .collect();
    let name_width = widest(names.iter().map(String::as_str).chain(["column"]));
    let header = |i: usize| format!("row {}", i + 1);
    let row_width = |i: usize| {
        let label = header(i);
        widest(cells[i].iter().map(String::as_str)).max(label.chars().count())
    };
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len()
            && table_width(std::iter::once(name_width).chain((start..=end).map(row_width))) <= width
        {
            end += 1;
        }
        if start > 0 {
            writeln!(out)?;
        }
        let mut titles = vec!["column".to_string()];
        titles.extend((start..end).map(header));
        let mut t = table(
            style,
            &titles.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        t.set_content_arrangement(ContentArrangement::Disabled);
        for (i, name) in names.iter().enumerate() {
            let mut line = vec![name.clone()];
            line.extend(cells[start..end].iter().map(|row| row[i].clone()));
            t.add_row(line);
        }
        align_right(&mut t, 1..=end - start);
        print_table(out, &t)?;
        start = end;
    }
    Ok(())
}

/// The widest line of these texts, in characters.
fn widest<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts
        .into_iter()
        .flat_map(str::lines)
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0)
}

/// Width of a table whose cells are not wrapped: content, padding and borders.
pub(super) fn natural_width(t: &Table) -> usize {
    table_width(t.column_max_content_widths().into_iter().map(usize::from))
}

/// Width of a one-line-per-row table with these content widths: each column has a
/// space either side and a border on its left, plus the last border.
pub(super) fn table_width(content: impl IntoIterator<Item = usize>) -> usize {
    content.into_iter().map(|w| w + 3).sum::<usize>() + 1
}
