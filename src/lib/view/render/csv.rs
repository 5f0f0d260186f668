//! CSV for scripts: full precision, nulls empty, instants in ISO 8601 UTC.

use std::io::{self, Write};

use polars::prelude::DataFrame;

use super::rows::{column_names, frame_rows, Value};
use crate::catalog::FileRecord;
use crate::model::report::RunEntry;
use crate::model::run_stats::{StatValue, RUN_STATS_COLUMNS};

fn writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::Writer::from_writer(out)
}

/// The run statistics: the columns of run_stats.parquet.
pub(super) fn stats_csv(runs: &[RunEntry], out: &mut dyn Write) -> io::Result<()> {
    let mut w = writer(out);
    w.write_record(RUN_STATS_COLUMNS.iter().map(|c| c.name))?;
    for entry in runs {
        w.write_record(entry.stats.values().map(StatValue::to_text))?;
    }
    w.flush()
}

/// The catalog's files.
pub(super) fn list_csv(records: &[FileRecord], out: &mut dyn Write) -> io::Result<()> {
    let opt = |v: Option<&dyn ToString>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut w = writer(out);
    w.write_record([
        "content_hash",
        "source_path",
        "size_bytes",
        "status",
        "attempts",
        "runs",
        "rows_read",
        "rows_kept",
        "started_at",
        "finished_at",
        "updated_at",
        "tool_version",
        "output_schema_version",
        "output_dir",
        "last_error",
    ])?;
    for r in records {
        w.write_record([
            r.content_hash.clone(),
            r.source_path.clone(),
            r.size_bytes.to_string(),
            r.status.name().to_string(),
            r.attempts.to_string(),
            opt(r.runs.as_ref().map(|v| v as &dyn ToString)),
            opt(r.rows_read.as_ref().map(|v| v as &dyn ToString)),
            opt(r.rows_kept.as_ref().map(|v| v as &dyn ToString)),
            r.started_at.clone().unwrap_or_default(),
            r.finished_at.clone().unwrap_or_default(),
            r.updated_at.clone(),
            r.tool_version.clone().unwrap_or_default(),
            opt(r.output_schema_version.as_ref().map(|v| v as &dyn ToString)),
            r.output_dir.clone().unwrap_or_default(),
            r.last_error.clone().unwrap_or_default(),
        ])?;
    }
    w.flush()
}

/// The first rows of a run's wide table.
pub(super) fn rows_csv(frame: &DataFrame, out: &mut dyn Write) -> io::Result<()> {
    let mut w = writer(out);
    w.write_record(column_names(frame))?;
    for row in frame_rows(frame) {
        w.write_record(row.iter().map(Value::csv))?;
    }
    w.flush()
}
