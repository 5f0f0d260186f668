//! Rendering a gathered view to any writer: tables for people, JSON and CSV for
//! scripts. Nothing here reads the catalog or the outputs.

use std::io::{self, Write};

use serde::Serialize;

use crate::catalog::{FileRecord, FileStatus};
use crate::model::report::{Report, RunEntry};
use crate::view::options::Format;
use crate::view::plot::{run_chart, Output};
use crate::view::resolve::View;

mod csv;
mod fleet;
mod fleet_page;
pub mod format;
mod jobs;
mod list;
mod page;
mod report;
mod rows;
mod table;

pub use table::Style;

/// Writes a view in the requested format.
pub fn render(view: &View, format: Format, style: Style, out: &mut dyn Write) -> io::Result<()> {
    match (view, format) {
        (
            View::List {
                records,
                filter,
                more,
            },
            Format::Table,
        ) => {
            list::list_table(records, filter, style, out)?;
            if *more > 0 {
                writeln!(out, "{}", more_files_line(records.len(), *more))?;
            }
            Ok(())
        }
        (View::List { records, .. }, Format::Json) => json(out, records),
        (View::List { records, .. }, Format::Csv) => csv::list_csv(records, out),
        (View::Report(r), Format::Table) => report::report_tables(r, style, out),
        (View::Report(r), Format::Json) => {
            let output_dir = r.output_dir.as_ref().map(|d| d.display().to_string());
            json(
                out,
                &ReportJson {
                    report: &r.report,
                    output_dir,
                    status: r.record.as_ref().map(|r| r.status),
                },
            )
        }
        (View::Report(r), Format::Csv) => csv::stats_csv(&r.report.runs, out),
        (View::Record { record, runs }, Format::Table) => {
            report::record_tables(record, runs, style, out)
        }
        (View::Record { record, runs }, Format::Json) => json(
            out,
            &RecordJson {
                record,
                run_stats: runs,
            },
        ),
        (View::Record { runs, .. }, Format::Csv) => csv::stats_csv(runs, out),
        (View::RunRows { frame, .. }, Format::Table) => table::rows_table(view, frame, style, out),
        (View::RunRows { frame, .. }, Format::Json) => rows::rows_json(frame, out),
        (View::RunRows { frame, .. }, Format::Csv) => csv::rows_csv(frame, out),
        (View::Page { resolved, runs }, _) => page::page(resolved, runs, out),
        (View::Fleet { fleet, daily }, Format::Table) => {
            if *daily {
                fleet::daily_table(fleet, style, out)
            } else {
                fleet::fleet_tables(fleet, style, out)
            }
        }
        (View::Fleet { fleet, daily }, Format::Json) => fleet::fleet_json(fleet, *daily, out),
        (View::Fleet { fleet, daily }, Format::Csv) => fleet::fleet_csv(fleet, *daily, out),
        (View::FleetPage(fleet), _) => fleet_page::fleet_page(fleet, out),
        (View::Jobs(jobs), Format::Table) => jobs::jobs_table(jobs, style, out),
        (View::Jobs(jobs), Format::Json) => jobs::jobs_json(jobs, out),
        (View::Jobs(jobs), Format::Csv) => jobs::jobs_csv(jobs, out),
        (
            View::Plot {
                series,
                kind,
                projection,
            },
            _,
        ) => {
            let chart =
                run_chart(series, *kind, *projection, Output::Svg).map_err(io::Error::other)?;
            out.write_all(chart.svg.as_bytes())
        }
    }
}

/// What a list cut at its limit left out, and how to see it.
pub fn more_files_line(shown: usize, more: u64) -> String {
    format!(
        "… and {} more: --limit {shown} lists the newest {shown}, `--limit {}` lists every one",
        format::count(more),
        shown as u64 + more
    )
}

/// `view --format json` of a report: report.json's keys, plus where the outputs are.
#[derive(Serialize)]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a Report,
    output_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<FileStatus>,
}

#[derive(Serialize)]
struct RecordJson<'a> {
    #[serde(flatten)]
    record: &'a FileRecord,
    run_stats: &'a [RunEntry],
}

fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}
