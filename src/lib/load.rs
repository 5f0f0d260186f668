//! Loading: a log file's bytes, whole, into a polars DataFrame.
//!
//! The file is read once; the same bytes are hashed for the catalog and parsed here,
//! so a file that changes while it is harvested cannot give a hash of one version
//! and data of another.

use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

use crate::error::HarvestError;
use crate::schema::REQUIRED_COLUMNS;

/// File formats a log can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Parquet,
    Csv,
}

const PARQUET_MAGIC: &[u8] = b"PAR1";

impl LogFormat {
    /// The format a path's extension claims, if it is one of ours.
    pub fn from_extension(path: &Path) -> Option<LogFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(LogFormat::Parquet),
            "csv" => Some(LogFormat::Csv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Parquet => "parquet",
            LogFormat::Csv => "csv",
        }
    }
}

/// Parses a whole log into a DataFrame and checks that the required columns are there.
///
/// Parquet keeps its column types (validation casts them). CSV is read with every
/// column as text, so one malformed cell drops one row under a named reason instead
/// of failing the file or being silently inferred as something else.
pub fn load_log(path: &Path, bytes: &[u8]) -> Result<DataFrame, HarvestError> {
    if bytes.is_empty() {
        return Err(HarvestError::bad_file(path, "empty file (0 bytes)"));
    }
    let format = LogFormat::from_extension(path).ok_or_else(|| {
        HarvestError::bad_file(
            path,
            "not a log file: expected a .parquet or .csv extension",
        )
    })?;
    let is_parquet =
        bytes.len() >= 8 && bytes.starts_with(PARQUET_MAGIC) && bytes.ends_with(PARQUET_MAGIC);
    let frame = match format {
        LogFormat::Parquet if !is_parquet => {
            return Err(HarvestError::bad_file(
                path,
                "not a Parquet file, or truncated (no PAR1 header and footer); it may still be being copied",
            ))
        }
        // Only the required columns are decoded: extras (an index, cell_id) cost
        // time and memory and are never used.
        LogFormat::Parquet => guarded(path, "corrupt Parquet file", || {
            let mut reader = ParquetReader::new(Cursor::new(bytes));
            let schema = reader.schema()?;
            let present: Vec<String> = REQUIRED_COLUMNS
                .iter()
                .filter(|c| schema.contains(c))
                .map(|c| c.to_string())
                .collect();
            if present.len() < REQUIRED_COLUMNS.len() {
                let found: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
                return Ok(Err(missing_columns(path, &found)));
            }
            reader.with_columns(Some(present)).finish().map(Ok)
        })??,
        LogFormat::Csv if is_parquet => {
            return Err(HarvestError::bad_file(path, "a Parquet file named .csv; rename it to .parquet"))
        }
        LogFormat::Csv => {
            let frame = guarded(path, "unreadable CSV", || {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(Some(0))
                    .with_raise_if_empty(true)
                    .into_reader_with_file_handle(Cursor::new(bytes))
                    .finish()
            })?;
            let names: Vec<&str> = frame.get_column_names().iter().map(|n| n.as_str()).collect();
            if REQUIRED_COLUMNS.iter().any(|c| !names.contains(c)) {
                return Err(missing_columns(path, &names));
            }
            frame
        }
    };
    if frame.height() == 0 {
        return Err(HarvestError::bad_file(
            path,
            "the file has a header but no rows",
        ));
    }
    Ok(frame)
}

/// Runs a polars reader, turning both its errors and any panic inside it into a
/// one-line bad-file error: a corrupt file must never take the process down.
fn guarded<T>(path: &Path, what: &str, read: impl FnOnce() -> PolarsResult<T>) -> Result<T, HarvestError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(HarvestError::bad_file(
            path,
            format!("{what}: {}", one_line(&e.to_string())),
        )),
        Err(_) => Err(HarvestError::bad_file(
            path,
            format!("{what}: the reader could not decode it"),
        )),
    }
}

fn missing_columns(path: &Path, found: &[&str]) -> HarvestError {
    let missing: Vec<String> = REQUIRED_COLUMNS
        .iter()
        .filter(|name| !found.contains(name))
        .map(|m| format!("`{m}`"))
        .collect();
    let found: Vec<String> = found.iter().map(|n| format!("`{n}`")).collect();
    HarvestError::bad_file(
        path,
        format!(
            "missing column{} {} (found {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if found.is_empty() { "none".to_string() } else { found.join(", ") }
        ),
    )
}

/// Polars errors can span lines; a user sees one line per failed file.
pub(crate) fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &line[..cut])
    } else {
        line
    }
}
