//! The store: a harvest's outputs, encoded and written into an output directory that
//! appears whole or not at all (see [`crate::storage::Staging`] and
//! [`crate::model::layout`] for the layout). The dataset's files are written inside
//! it, unpublished, and published by [`crate::storage::Dataset`] once the catalog
//! has committed the harvest.
//!
//! Takes each run's wide table, the run statistics and the report; gives files.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use crate::error::HarvestError;
use crate::model::labels::Labels;
use crate::model::layout::{
    output_dir_name, run_stats_file, samples_file, REPORT_FILE, RUN_STATS_FILE, RUN_STATS_TABLE,
    SAMPLES_TABLE, UNPUBLISHED_DIR,
};
use crate::model::options::{Compression, Encoding};
use crate::model::readings::RunId;
use crate::model::report::Report;
use crate::model::run_stats::{RunStats, StatKind, StatValue, RUN_STATS_COLUMNS};
use crate::pipeline::align::WideTable;
use crate::pipeline::HarvestOptions;
use crate::storage::{SourceFile, Staging};

mod parquet;

use parquet::{in_row_groups, row_groups, write_row_groups};
pub use parquet::{write_parquet, Constant, ConstantValue};

/// Starts the output directory of `source` under `out_root`, with the folders of
/// the dataset `partitions` its runs go to.
pub fn start(
    out_root: &Path,
    source: &SourceFile,
    partitions: &[String],
) -> Result<Staging, HarvestError> {
    let folders: Vec<String> = partitions
        .iter()
        .flat_map(|p| {
            [SAMPLES_TABLE, RUN_STATS_TABLE].map(|table| format!("{UNPUBLISHED_DIR}/{table}/{p}"))
        })
        .collect();
    let folders: Vec<&str> = folders.iter().map(String::as_str).collect();
    Staging::create(
        out_root,
        &output_dir_name(&source.path, &source.content_hash),
        &folders,
    )
}

/// How the Parquet outputs are written: their codec and their pages' encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format {
    pub compression: Compression,
    pub encoding: Encoding,
}

impl Format {
    /// The format a harvest with `options` writes.
    pub fn of(options: &HarvestOptions) -> Format {
        Format {
            compression: options.compression,
            encoding: options.encoding,
        }
    }
}

/// Writes a run's wide table into the dataset, with the run's id and the file's
/// labels as columns (first and last; both one value, dictionary-encoded).
/// Returns its path in the dataset.
///
/// The table is built and written one row group at a time: a worker holds a row
/// group of its run in memory, never the whole table.
pub fn write_run_table(
    staging: &Staging,
    content_hash: &str,
    run_uuid: RunId,
    partition: &str,
    labels: &Labels,
    table: &WideTable,
    format: Format,
) -> Result<String, HarvestError> {
    let file = samples_file(content_hash, run_uuid, partition);
    let constants = [
        Constant::first("run_uuid", ConstantValue::UInt64(run_uuid)),
        Constant::last("labels", ConstantValue::Text(labels.to_json())),
    ];
    write_frame(
        staging,
        &format!("{UNPUBLISHED_DIR}/{file}"),
        row_groups(table.height()).map(|rows| table.rows(rows)),
        format,
        &constants,
    )?;
    Ok(file)
}

/// Writes the dataset's statistics of one run (a row per robot): the content hash,
/// every statistic but the cell (the partition holds it) and the labels. Returns
/// its path in the dataset.
pub fn write_dataset_run_stats(
    staging: &Staging,
    content_hash: &str,
    run_uuid: RunId,
    partition: &str,
    labels: &Labels,
    stats: &[&RunStats],
    format: Format,
) -> Result<String, HarvestError> {
    let file = run_stats_file(content_hash, run_uuid, partition);
    let framed = run_stats_frame(stats).and_then(|mut frame| {
        frame.drop_in_place("cell")?;
        frame.insert_column(
            0,
            StringChunked::full("content_hash".into(), content_hash, stats.len()).into_column(),
        )?;
        frame.with_column(
            StringChunked::full("labels".into(), &labels.to_json(), stats.len()).into_column(),
        )?;
        Ok(frame)
    });
    let mut frame = framed
        .map_err(|e| HarvestError::internal(&file, format!("cannot build run statistics: {e}")))?;
    write_frame(
        staging,
        &format!("{UNPUBLISHED_DIR}/{file}"),
        [in_row_groups(&mut frame)],
        format,
        &[],
    )?;
    Ok(file)
}

/// Writes run_stats.parquet: one row per run and robot, a column per entry of
/// [`RUN_STATS_COLUMNS`]; null where a quantity is not measurable.
pub fn write_run_stats(
    staging: &Staging,
    stats: &[RunStats],
    format: Format,
) -> Result<(), HarvestError> {
    let mut frame = run_stats_frame(stats).map_err(|e| {
        HarvestError::internal(RUN_STATS_FILE, format!("cannot build run statistics: {e}"))
    })?;
    write_frame(
        staging,
        RUN_STATS_FILE,
        [in_row_groups(&mut frame)],
        format,
        &[],
    )
}

/// Writes report.json.
pub fn write_report(staging: &Staging, report: &Report) -> Result<(), HarvestError> {
    let json = serde_json::to_vec_pretty(report).expect("reports serialize");
    staging.write_with(REPORT_FILE, |out, path| {
        out.write_all(&json)
            .map_err(|e| HarvestError::io(path, "cannot write an output file", e))
    })
}

/// Writes a table given as frames of whole row groups (see [`write_row_groups`]).
fn write_frame(
    staging: &Staging,
    relative: &str,
    frames: impl IntoIterator<Item = PolarsResult<DataFrame>>,
    format: Format,
    constants: &[Constant],
) -> Result<(), HarvestError> {
    staging.write_with(relative, |out, path| {
        let mut sink = FirstIoError {
            inner: out,
            error: None,
        };
        match write_row_groups(&mut sink, frames, format, constants) {
            Ok(_) => Ok(()),
            // The Parquet writer reports a failed write as a malformed file; the
            // error the sink saw tells a full disk (retry later) from a bug.
            Err(e) => Err(match sink.error {
                Some(io) => HarvestError::io(path, "cannot write an output file", io),
                None => polars_io_error(path, e),
            }),
        }
    })
}

/// A writer that keeps the first I/O error of the writer it wraps.
struct FirstIoError<'a> {
    inner: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

impl FirstIoError<'_> {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.inspect_err(|e| {
            if self.error.is_none() && e.kind() != std::io::ErrorKind::Interrupted {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

impl Write for FirstIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.keep(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.keep(result)
    }
}

fn run_stats_frame<S: std::borrow::Borrow<RunStats>>(stats: &[S]) -> PolarsResult<DataFrame> {
    let columns = RUN_STATS_COLUMNS
        .iter()
        .map(|column| {
            let name: PlSmallStr = column.name.into();
            let values: Vec<StatValue> = stats.iter().map(|s| (column.get)(s.borrow())).collect();
            // The kind fixes the variant of every value, so the fallbacks never apply.
            let integers = || values.iter().map(|v| v.integer().unwrap_or_default());
            let floats = || values.iter().map(|v| v.float());
            match column.kind {
                StatKind::RunId | StatKind::Count => {
                    UInt64Chunked::from_vec(name, integers().map(|v| v as u64).collect())
                        .into_column()
                }
                StatKind::Robot => {
                    UInt8Chunked::from_vec(name, integers().map(|v| v as u8).collect())
                        .into_column()
                }
                StatKind::Text => {
                    StringChunked::from_iter_options(name, values.iter().map(StatValue::text))
                        .into_column()
                }
                StatKind::Instant => {
                    Int64Chunked::from_vec(name, integers().map(|v| v as i64).collect())
                        .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                        .into_column()
                }
                StatKind::Seconds => Float64Chunked::from_vec(
                    name,
                    floats().map(|v| v.unwrap_or(f64::NAN)).collect(),
                )
                .into_column(),
                StatKind::Quantity => {
                    Float64Chunked::from_iter_options(name, floats()).into_column()
                }
            }
        })
        .collect();
    DataFrame::new(stats.len(), columns)
}

fn polars_io_error(path: &Path, e: PolarsError) -> HarvestError {
    match e {
        PolarsError::IO { error, .. } => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::new(error.kind(), error.to_string()),
        ),
        // Anything else is the encoder refusing a frame this crate built: a bug.
        other => HarvestError::internal(path, format!("cannot encode Parquet: {other}")),
    }
}
