//! Loading: a log file's bytes, whole, into polars DataFrames (a CSV log as one,
//! a Parquet log as parts of whole row groups, decoded when validation needs them).
//!
//! The file is read once; the same bytes are hashed for the catalog and parsed here,
//! so a file that changes while it is harvested cannot give a hash of one version
//! and data of another.

use std::io::Cursor;
use std::path::Path;

use polars::io::parquet::metadata::{FileMetadata, FileMetadataRef};
use polars::prelude::*;

use crate::error::{one_line, HarvestError};
use crate::model::schema::{InputFormat, CELL_ID, FIELD, REQUIRED_COLUMNS, SENSOR_TYPE, TIME};
use crate::parallel::pool_threads;

mod dictionary;
mod pages;

pub use dictionary::DictionaryColumn;
use pages::check_pages;

const PARQUET_MAGIC: &[u8] = b"PAR1";

/// A log whose structure has been checked, ready to be decoded part by part.
///
/// A Parquet log is decoded one part (a few consecutive row groups) at a time, by
/// the validation task that checks it: the decoded text of a whole log (its
/// timestamps are strings of some 25 bytes) would be most of a harvest's memory, and
/// allocating it is most of the loading time. A CSV log is parsed whole and is one part.
pub struct LoadedLog<'a> {
    path: &'a Path,
    source: Source<'a>,
}

enum Source<'a> {
    Frame(DataFrame),
    Parquet {
        bytes: &'a [u8],
        metadata: FileMetadataRef,
        columns: Vec<String>,
        /// Those of `columns` that are plain text, read as dictionaries where the
        /// file stores them so.
        text: Vec<String>,
        /// Per part: its first row and its number of rows, on row-group boundaries.
        parts: Vec<(usize, usize)>,
        rows: usize,
    },
}

/// The text columns whose values repeat over many rows (see [`dictionary`]).
const TEXT_COLUMNS: [&str; 3] = [TIME, FIELD, SENSOR_TYPE];

/// Consecutive row groups are decoded together up to this many rows, so that small
/// row groups do not each pay the reader's set-up; a larger row group is one part.
const PART_ROWS: usize = 256 * 1024;

impl LoadedLog<'_> {
    /// Rows in the log.
    pub fn height(&self) -> usize {
        match &self.source {
            Source::Frame(frame) => frame.height(),
            Source::Parquet { rows, .. } => *rows,
        }
    }

    /// The number of parts the log is decoded in.
    pub fn parts(&self) -> usize {
        match &self.source {
            Source::Frame(_) => 1,
            Source::Parquet { parts, .. } => parts.len(),
        }
    }

    /// The rows of part `index` (`0..self.parts()`), in file order, with the
    /// required columns. A part that cannot be decoded is a bad file.
    pub fn part(&self, index: usize) -> Result<Part, HarvestError> {
        match &self.source {
            Source::Frame(frame) => Ok(Part {
                frame: frame.clone(),
                dictionaries: Vec::new(),
            }),
            Source::Parquet {
                bytes,
                metadata,
                columns,
                text,
                parts,
                ..
            } => {
                // Decode columns in parallel only when there are too few parts to
                // keep every thread busy.
                let parallel = if parts.len() < pool_threads() {
                    ParallelStrategy::Columns
                } else {
                    ParallelStrategy::None
                };
                let (first, rows) = parts[index];
                guarded(self.path, "corrupt Parquet file", || {
                    let groups = row_groups_of(metadata, first, rows);
                    let dictionaries: Vec<(String, DictionaryColumn)> = text
                        .iter()
                        .filter_map(|name| {
                            dictionary::decode(bytes, metadata, groups.clone(), name)
                                .map(|column| (name.clone(), column))
                        })
                        .collect();
                    let rest: Vec<String> = columns
                        .iter()
                        .filter(|c| !dictionaries.iter().any(|(name, _)| name == *c))
                        .cloned()
                        .collect();
                    let mut reader = ParquetReader::new(Cursor::new(*bytes));
                    reader.set_metadata(metadata.clone());
                    let frame = reader
                        .with_columns(Some(rest))
                        .with_slice(Some((first, rows)))
                        .read_parallel(parallel)
                        .finish()?;
                    Ok(Part {
                        frame,
                        dictionaries,
                    })
                })
            }
        }
    }
}

/// Rows of a log: a DataFrame of its columns but those of its text columns the
/// file stores as dictionaries, which are kept as keys into them ([`dictionary`]).
#[derive(Debug, Clone)]
pub struct Part {
    pub frame: DataFrame,
    dictionaries: Vec<(String, DictionaryColumn)>,
}

impl Part {
    pub fn height(&self) -> usize {
        self.frame.height()
    }

    /// The rows `offset..offset + len`.
    pub fn slice(&self, offset: usize, len: usize) -> Part {
        Part {
            frame: self.frame.slice(offset as i64, len),
            dictionaries: self
                .dictionaries
                .iter()
                .map(|(name, column)| (name.clone(), column.slice(offset, len)))
                .collect(),
        }
    }

    /// Whether the part holds column `name`, either way.
    pub fn has_column(&self, name: &str) -> bool {
        self.dictionary(name).is_some() || self.frame.column(name).is_ok()
    }

    /// Column `name`, if it was read as dictionaries.
    pub fn dictionary(&self, name: &str) -> Option<&DictionaryColumn> {
        self.dictionaries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, column)| column)
    }
}

/// The row groups holding rows `first..first + rows`, which start and end on
/// row-group boundaries.
fn row_groups_of(metadata: &FileMetadata, first: usize, rows: usize) -> std::ops::Range<usize> {
    let mut start = 0;
    let (mut from, mut to) = (None, 0);
    for (g, group) in metadata.row_groups.iter().enumerate() {
        if start >= first && start < first + rows {
            from.get_or_insert(g);
            to = g + 1;
        }
        start += group.num_rows();
    }
    from.unwrap_or(to)..to
}

/// Checks a whole log's structure (and parses a CSV log) before any row is decoded:
/// the format, the required columns, and for Parquet the footer and every page
/// header of the columns to be read.
///
/// Parquet keeps its column types (validation casts them). CSV is read with every
/// column as text, so one malformed cell drops one row under a named reason instead
/// of failing the file or being silently inferred as something else.
pub fn load_log<'a>(path: &'a Path, bytes: &'a [u8]) -> Result<LoadedLog<'a>, HarvestError> {
    if bytes.is_empty() {
        return Err(HarvestError::bad_file(path, "empty file (0 bytes)"));
    }
    let format = InputFormat::from_extension(path).ok_or_else(|| {
        HarvestError::bad_file(
            path,
            "not a log file: expected a .parquet or .csv extension",
        )
    })?;
    let is_parquet =
        bytes.len() >= 8 && bytes.starts_with(PARQUET_MAGIC) && bytes.ends_with(PARQUET_MAGIC);
    let source = match format {
        InputFormat::Parquet if !is_parquet => {
            return Err(HarvestError::bad_file(
                path,
                "not a Parquet file, or truncated (no PAR1 header and footer); it may still be being copied",
            ))
        }
        // Only the required columns and cell_id are decoded: extras (an index) cost
        // time and memory and are never used.
        InputFormat::Parquet => guarded(path, "corrupt Parquet file", || {
            let mut reader = ParquetReader::new(Cursor::new(bytes));
            let metadata = reader.get_metadata()?.clone();
            let names: Vec<&str> = metadata.schema().fields().iter().map(|f| f.name()).collect();
            if let Some(error) = duplicated_column(path, names.iter().copied()) {
                return Ok(Err(error));
            }
            let schema = reader.schema()?;
            if let Some(error) = unsupported_type(path, &schema) {
                return Ok(Err(error));
            }
            let mut present: Vec<String> = REQUIRED_COLUMNS
                .iter()
                .filter(|c| schema.contains(c))
                .map(|c| c.to_string())
                .collect();
            if present.len() < REQUIRED_COLUMNS.len() {
                let found: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
                return Ok(Err(missing_columns(path, &found)));
            }
            let cell_ids = names.iter().filter(|n| **n == CELL_ID).count();
            if cell_ids == 1 && schema.get(CELL_ID).is_some_and(|f| is_cell_type(&f.dtype)) {
                present.push(CELL_ID.to_string());
            }
            check_pages(bytes, &metadata, &present)?;
            let text = present
                .iter()
                .filter(|c| TEXT_COLUMNS.contains(&c.as_str()))
                .filter(|c| schema.get(c.as_str()).is_some_and(dictionary::is_plain_text))
                .cloned()
                .collect();
            let parts = parts_of(metadata.row_groups.iter().map(|g| g.num_rows()), PART_ROWS);
            Ok(Ok(Source::Parquet {
                bytes,
                rows: metadata.num_rows,
                metadata,
                columns: present,
                text,
                parts,
            }))
        })??,
        InputFormat::Csv if is_parquet => {
            return Err(HarvestError::bad_file(path, "a Parquet file named .csv; rename it to .parquet"))
        }
        InputFormat::Csv => {
            if let Some(error) = duplicated_column(path, csv_header(bytes).iter().map(String::as_str)) {
                return Err(error);
            }
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
            Source::Frame(frame)
        }
    };
    let log = LoadedLog { path, source };
    if log.height() == 0 {
        return Err(HarvestError::bad_file(
            path,
            "the file has a header but no rows",
        ));
    }
    Ok(log)
}

/// Splits rows stored in groups of `group_rows` into parts of whole groups, each
/// of at least `part_rows` rows but the last: (first row, rows) per part.
fn parts_of(group_rows: impl IntoIterator<Item = usize>, part_rows: usize) -> Vec<(usize, usize)> {
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let (mut first, mut rows) = (0, 0);
    for group in group_rows {
        rows += group;
        if rows >= part_rows {
            parts.push((first, rows));
            first += rows;
            rows = 0;
        }
    }
    if rows > 0 {
        parts.push((first, rows));
    }
    parts
}

/// Runs a polars reader, turning both its errors and any panic inside it into a
/// one-line bad-file error: a corrupt file must never take the process down.
///
/// The reader panics on some corrupt files; the panic is caught here and its message
/// becomes part of the error, and [`quiet_reader_panics`] keeps the default hook from
/// also printing it (a message and a backtrace on stderr for one bad file).
fn guarded<T>(
    path: &Path,
    what: &str,
    read: impl FnOnce() -> PolarsResult<T>,
) -> Result<T, HarvestError> {
    quiet_reader_panics();
    let outcome = {
        let _reading = ReadingGuard::enter();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
    };
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(HarvestError::bad_file(
            path,
            format!("{what}: {}", one_line(&e.to_string())),
        )),
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .map(|s| format!(" ({})", one_line(&s)))
                .unwrap_or_default();
            Err(HarvestError::bad_file(
                path,
                format!("{what}: the reader could not decode it{why}"),
            ))
        }
    }
}

/// Readers running under [`guarded`], in this process and on this thread.
static READING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
thread_local! {
    static READING_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct ReadingGuard;

impl ReadingGuard {
    fn enter() -> ReadingGuard {
        READING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        READING_HERE.with(|n| n.set(n.get() + 1));
        ReadingGuard
    }
}

impl Drop for ReadingGuard {
    fn drop(&mut self) {
        READING_HERE.with(|n| n.set(n.get() - 1));
        READING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Installs (once) a panic hook that stays silent for panics [`guarded`] catches: those
/// on a thread inside it, and those in polars' own code (its worker threads) while a
/// guarded read is running. Every other panic goes to the previous hook as before.
fn quiet_reader_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let here = READING_HERE.with(|n| n.get()) > 0;
            let in_polars = READING.load(std::sync::atomic::Ordering::SeqCst) > 0
                && info
                    .location()
                    .is_some_and(|l| l.file().contains("polars-"));
            if !(here || in_polars) {
                previous(info);
            }
        }));
    });
}

/// The column names of a CSV log's header (without a byte-order mark).
fn csv_header(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    reader
        .byte_headers()
        .map(|h| {
            h.iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A header naming a required column twice, named: which of the two a reader would
/// take is anyone's guess. (Other columns are ignored, repeated or not.)
fn duplicated_column<'n>(
    path: &Path,
    names: impl IntoIterator<Item = &'n str>,
) -> Option<HarvestError> {
    let names: Vec<&str> = names.into_iter().collect();
    names.iter().enumerate().find_map(|(i, name)| {
        if !REQUIRED_COLUMNS.contains(name) {
            return None;
        }
        let again = names[i + 1..].iter().position(|n| n == name)? + i + 1;
        Some(HarvestError::bad_file(
            path,
            format!(
                "duplicated column `{name}` in the header (columns {} and {})",
                i + 1,
                again + 1
            ),
        ))
    })
}

/// Whether a Parquet `cell_id` column of this type is read: integers and text (a
/// cell of another type, or a repeated `cell_id` column, is ignored like any extra).
fn is_cell_type(dtype: &ArrowDataType) -> bool {
    use ArrowDataType as T;
    matches!(
        dtype,
        T::Int8
            | T::Int16
            | T::Int32
            | T::Int64
            | T::UInt8
            | T::UInt16
            | T::UInt32
            | T::UInt64
            | T::Utf8
            | T::LargeUtf8
            | T::Utf8View
    )
}

/// A required column of a Parquet log whose type no reading can have (decimal,
/// struct, map, union), named with its type: a type error, not corruption.
fn unsupported_type(path: &Path, schema: &ArrowSchema) -> Option<HarvestError> {
    REQUIRED_COLUMNS.iter().find_map(|name| {
        let kind = match &schema.get(name)?.dtype {
            ArrowDataType::Decimal(p, s)
            | ArrowDataType::Decimal32(p, s)
            | ArrowDataType::Decimal64(p, s)
            | ArrowDataType::Decimal256(p, s) => format!("decimal({p}, {s})"),
            ArrowDataType::Struct(_) => "struct".to_string(),
            ArrowDataType::Map(..) => "map".to_string(),
            ArrowDataType::Union(_) => "union".to_string(),
            _ => return None,
        };
        Some(HarvestError::bad_file(
            path,
            format!(
                "type error: column `{name}` has type {kind}, which the harvester does not read (expected numbers, text or datetimes)"
            ),
        ))
    })
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
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicated_column_is_named_with_both_positions() {
        let path = Path::new("log.csv");
        assert!(duplicated_column(path, ["time", "value"]).is_none());
        assert!(duplicated_column(path, ["time", "extra", "extra"]).is_none());
        let error = duplicated_column(path, ["time", "value", "field", "value"]).unwrap();
        let text = error.to_string();
        assert!(
            text.contains("duplicated column `value`") && text.contains("columns 2 and 4"),
            "{text}"
        );
        assert_eq!(
            csv_header(b"\xEF\xBB\xBFtime,\"value\",time\n1,2,3\n"),
            ["time", "value", "time"]
        );
    }

    #[test]
    fn a_struct_or_decimal_column_is_a_type_error_naming_it() {
        let path = Path::new("log.parquet");
        let schema = |dtype: ArrowDataType| -> ArrowSchema {
            REQUIRED_COLUMNS
                .iter()
                .map(|name| {
                    let dtype = if *name == "value" {
                        dtype.clone()
                    } else {
                        ArrowDataType::Utf8View
                    };
                    (
                        PlSmallStr::from(*name),
                        ArrowField::new(PlSmallStr::from(*name), dtype, true),
                    )
                })
                .collect()
        };
        assert!(unsupported_type(path, &schema(ArrowDataType::Float64)).is_none());
        let fields = vec![ArrowField::new("a".into(), ArrowDataType::Float64, true)];
        for (dtype, named) in [
            (ArrowDataType::Struct(fields), "type struct"),
            (ArrowDataType::Decimal(10, 2), "type decimal(10, 2)"),
        ] {
            let text = unsupported_type(path, &schema(dtype)).unwrap().to_string();
            assert!(
                text.contains("type error: column `value`") && text.contains(named),
                "{text}"
            );
        }
    }

    #[test]
    fn parts_are_whole_row_groups_covering_every_row_once() {
        assert_eq!(parts_of([3, 3, 3, 3, 1], 5), vec![(0, 6), (6, 6), (12, 1)]);
        assert_eq!(parts_of([10, 2], 5), vec![(0, 10), (10, 2)]);
        assert_eq!(parts_of([5], 5), vec![(0, 5)]);
        assert_eq!(parts_of([0, 4, 0], 5), vec![(0, 4)]);
        assert!(parts_of([], 5).is_empty());
    }
}
