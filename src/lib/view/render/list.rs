//! The catalog's list as a table with one line per file, fitted to a width: columns
//! are dropped by priority, and long text (paths, errors) is elided, never wrapped.

use std::io::{self, Write};

use comfy_table::ContentArrangement;

use super::format::count;
use super::table::{align_right, print_table, table, table_width, Style};
use crate::catalog::{FileRecord, ListFilter};
use crate::text::printable;

/// How a column gives up width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shrink {
    /// Shown whole or dropped.
    Whole,
    /// Elided in the middle (`/data/in…/cell-0412.csv`): paths, whose both ends matter.
    Middle,
    /// Elided at the end (`cannot read …`): messages.
    End,
}

/// A column to fit.
#[derive(Debug, Clone)]
struct FitColumn {
    header: &'static str,
    cells: Vec<String>,
    /// When the table is too wide, the column with the highest rank goes first;
    /// 0 is never dropped.
    drop_rank: u8,
    shrink: Shrink,
}

/// An elided column keeps at least this many characters (or its header's).
const MIN_ELIDED: usize = 16;

/// The fewest characters an elided path keeps.
const MIN_ELIDED_PATH: usize = 40;

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl FitColumn {
    fn natural(&self) -> usize {
        self.cells
            .iter()
            .map(|c| chars(c))
            .chain([chars(self.header)])
            .max()
            .unwrap_or(0)
    }

    fn minimum(&self) -> usize {
        match self.shrink {
            Shrink::Whole => self.natural(),
            // A path keeps room for its file and a folder or two before other
            // columns do.
            Shrink::Middle => self.natural().min(MIN_ELIDED_PATH.max(chars(self.header))),
            Shrink::End => self.natural().min(MIN_ELIDED.max(chars(self.header))),
        }
    }
}

/// The columns to show within `width` (all of them, whole, when `None`): the
/// lowest-priority columns are dropped until the rest fit at their minimum widths,
/// then elided columns share what is left, in order, up to their natural width.
fn fit_columns(mut columns: Vec<FitColumn>, width: Option<usize>) -> Vec<FitColumn> {
    let Some(width) = width else {
        return columns;
    };
    while table_width(columns.iter().map(FitColumn::minimum)) > width {
        let Some((i, _)) = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.drop_rank > 0)
            .max_by_key(|(_, c)| c.drop_rank)
        else {
            break;
        };
        columns.remove(i);
    }
    let mut spare = width.saturating_sub(table_width(columns.iter().map(FitColumn::minimum)));
    for column in columns.iter_mut().filter(|c| c.shrink != Shrink::Whole) {
        let (minimum, natural) = (column.minimum(), column.natural());
        let extra = spare.min(natural - minimum);
        spare -= extra;
        let to = minimum + extra;
        for cell in &mut column.cells {
            *cell = elide(cell, to, column.shrink);
        }
    }
    columns
}

/// `text` in at most `width` characters: whole if it fits, else with `…` in the
/// middle (two thirds of what is kept from the end) or at the end.
pub(super) fn elide(text: &str, width: usize, shrink: Shrink) -> String {
    let n = chars(text);
    if n <= width || shrink == Shrink::Whole || width == 0 {
        return text.to_string();
    }
    let keep = width - 1;
    let (head, tail) = match shrink {
        // A path's end (the file and its folders) tells more than its start.
        Shrink::Middle => (keep / 4, keep - keep / 4),
        _ => (keep, 0),
    };
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

pub(super) fn list_table(
    records: &[FileRecord],
    filter: &ListFilter,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    if records.is_empty() {
        let mut asked: Vec<String> = filter
            .labels
            .iter()
            .map(|(k, v)| format!("--where {k}={}", printable(v)))
            .collect();
        asked.extend(filter.since.iter().map(|s| format!("--since {s}")));
        return match (filter.status, asked.is_empty()) {
            (Some(s), true) => writeln!(out, "no {} files in the catalog", s.name()),
            (status, false) => writeln!(
                out,
                "no {}files in the catalog match {}",
                status.map(|s| format!("{} ", s.name())).unwrap_or_default(),
                asked.join(" ")
            ),
            (None, true) => writeln!(
                out,
                "the catalog is empty: harvest first with `harvest <files> --out DIR`"
            ),
        };
    }
    let opt = |v: Option<i64>| v.map(count).unwrap_or_default();
    let column = |header, drop_rank, shrink, cell: &dyn Fn(&FileRecord) -> String| FitColumn {
        header,
        cells: records.iter().map(cell).collect(),
        drop_rank,
        shrink,
    };
    // One line per file: at a narrow width, the counts and the time go first, then
    // the error; the status, hash and (elided) source stay.
    let columns = vec![
        column("status", 0, Shrink::Whole, &|r| {
            r.shown_status().to_string()
        }),
        column("hash", 0, Shrink::Whole, &|r| r.short_hash().to_string()),
        column("runs", 5, Shrink::Whole, &|r| opt(r.runs)),
        column("rows read", 6, Shrink::Whole, &|r| opt(r.rows_read)),
        column("rows kept", 3, Shrink::Whole, &|r| opt(r.rows_kept)),
        column("updated (UTC)", 4, Shrink::Whole, &|r| r.updated_at.clone()),
        column("source", 0, Shrink::Middle, &|r| {
            printable(&r.source_path).into_owned()
        }),
        column("last error", 2, Shrink::End, &|r| {
            printable(r.last_error.as_deref().unwrap_or_default()).into_owned()
        }),
    ];
    // A column no file has a value in (no file failed, say) only takes room.
    let columns: Vec<FitColumn> = columns
        .into_iter()
        .filter(|c| c.cells.iter().any(|cell| !cell.is_empty()))
        .collect();
    let columns = fit_columns(columns, style.width);
    let header: Vec<&str> = columns.iter().map(|c| c.header).collect();
    let mut t = table(style, &header);
    t.set_content_arrangement(ContentArrangement::Disabled);
    for i in 0..records.len() {
        t.add_row(
            columns
                .iter()
                .map(|c| c.cells[i].clone())
                .collect::<Vec<_>>(),
        );
    }
    let numbers = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.header, "runs" | "rows read" | "rows kept"))
        .map(|(i, _)| i);
    align_right(&mut t, numbers.collect::<Vec<_>>());
    print_table(out, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(header: &'static str, cell: &str, drop_rank: u8, shrink: Shrink) -> FitColumn {
        FitColumn {
            header,
            cells: vec![cell.to_string()],
            drop_rank,
            shrink,
        }
    }

    #[test]
    fn long_text_is_elided_to_the_exact_width() {
        assert_eq!(elide("abcdefghij", 10, Shrink::Middle), "abcdefghij");
        assert_eq!(elide("abcdefghij", 7, Shrink::Middle), "a…fghij");
        assert_eq!(chars(&elide("abcdefghij", 7, Shrink::Middle)), 7);
        assert_eq!(elide("abcdefghij", 5, Shrink::End), "abcd…");
        assert_eq!(elide("abcdefghij", 5, Shrink::Whole), "abcdefghij");
    }

    #[test]
    fn columns_are_dropped_by_rank_then_paths_elided_to_fit() {
        let columns = vec![
            column("status", "harvested", 0, Shrink::Whole),
            column("rows", "1,234", 2, Shrink::Whole),
            column("runs", "4", 1, Shrink::Whole),
            column("source", &"/long/path".repeat(10), 0, Shrink::Middle),
        ];
        let natural = table_width(columns.iter().map(FitColumn::natural));
        assert_eq!(fit_columns(columns.clone(), None).len(), 4);
        assert_eq!(
            fit_columns(columns.clone(), Some(natural))[3].cells[0].len(),
            100
        );

        let fitted = fit_columns(columns.clone(), Some(64));
        let headers: Vec<_> = fitted.iter().map(|c| c.header).collect();
        assert_eq!(headers, ["status", "runs", "source"], "rows goes first");
        let widths = fitted
            .iter()
            .map(|c| chars(&c.cells[0]).max(chars(c.header)));
        assert_eq!(table_width(widths), 64);
        assert!(fitted[2].cells[0].ends_with("/long/path"));
    }
}
