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
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
use polars_parquet_format::{PageHeader, PageType};

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
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
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
        /// Per part: its first row and its number of rows, on row-group boundaries.
        parts: Vec<(usize, usize)>,
        rows: usize,
    },
}

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
    pub fn part(&self, index: usize) -> Result<DataFrame, HarvestError> {
        match &self.source {
            Source::Frame(frame) => Ok(frame.clone()),
            Source::Parquet {
                bytes,
                metadata,
                columns,
                parts,
                ..
            } => {
                // Decode columns in parallel only when there are too few parts to
                // keep every thread busy.
                let parallel = if parts.len() < crate::runs::pool_threads() {
                    ParallelStrategy::Columns
                } else {
                    ParallelStrategy::None
                };
                guarded(self.path, "corrupt Parquet file", || {
                    let mut reader = ParquetReader::new(Cursor::new(*bytes));
                    reader.set_metadata(metadata.clone());
                    reader
                        .with_columns(Some(columns.clone()))
                        .with_slice(Some(parts[index]))
                        .read_parallel(parallel)
                        .finish()
                })
            }
        }
    }
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
    let format = LogFormat::from_extension(path).ok_or_else(|| {
        HarvestError::bad_file(
            path,
            "not a log file: expected a .parquet or .csv extension",
        )
    })?;
    let is_parquet =
        bytes.len() >= 8 && bytes.starts_with(PARQUET_MAGIC) && bytes.ends_with(PARQUET_MAGIC);
    let source = match format {
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
            let metadata = reader.get_metadata()?.clone();
            check_pages(bytes, &metadata, &present)?;
            let parts = parts_of(metadata.row_groups.iter().map(|g| g.num_rows()), PART_ROWS);
            Ok(Ok(Source::Parquet {
                bytes,
                rows: metadata.num_rows,
                metadata,
                columns: present,
                parts,
            }))
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

/// The most values a Parquet file may claim per byte of its size. Run-length
/// encoding lets a constant column hold many values in few bytes, but a log's time
/// and value columns do not compress like that; 4096 is far above any real log and
/// far below what would exhaust memory on a small file.
const MAX_VALUES_PER_BYTE: u64 = 4096;

/// Checks what the Parquet reader trusts without checking, before it decodes: the
/// counts in the footer and in every page header of the columns to be read. A
/// corrupt file can claim a negative page value count, which the reader turns into
/// an allocation of exabytes and the process aborts (uncatchable). So: every count is
/// non-negative, a chunk's pages hold at most the chunk's values, a flat column's
/// chunk at most its row group's rows, and the file at most
/// [`MAX_VALUES_PER_BYTE`] values per byte.
fn check_pages(bytes: &[u8], metadata: &FileMetadata, columns: &[String]) -> PolarsResult<()> {
    let corrupt = |what: String| PolarsError::ComputeError(what.into());
    let limit = (bytes.len() as u64).saturating_mul(MAX_VALUES_PER_BYTE);
    if metadata.num_rows as u64 > limit {
        return Err(corrupt(format!(
            "the footer claims {} rows in {} bytes",
            metadata.num_rows,
            bytes.len()
        )));
    }
    let rows = metadata
        .row_groups
        .iter()
        .try_fold(0u64, |sum, g| sum.checked_add(g.num_rows() as u64));
    if rows != Some(metadata.num_rows as u64) {
        let rows = rows.map_or("more than 2^64".into(), |r| r.to_string());
        return Err(corrupt(format!(
            "the row groups hold {rows} rows, the footer says {}",
            metadata.num_rows
        )));
    }
    // The data region: after the leading magic, before the footer.
    let data_end = bytes.len() as u64 - 8;
    for (g, group) in metadata.row_groups.iter().enumerate() {
        for name in columns {
            let Some(chunks) = group.columns_under_root_iter(name) else {
                continue;
            };
            for chunk in chunks {
                let values = chunk.num_values();
                let flat = chunk.descriptor().descriptor.max_rep_level == 0;
                let at =
                    |problem: String| corrupt(format!("column `{name}`, row group {g}: {problem}"));
                if values < 0
                    || values as u64 > limit
                    || (flat && values as u64 > group.num_rows() as u64)
                {
                    return Err(at(format!("{values} values for {} rows", group.num_rows())));
                }
                let start = chunk
                    .dictionary_page_offset()
                    .filter(|&o| o > 0)
                    .unwrap_or(chunk.data_page_offset());
                let size = chunk.compressed_size();
                let end = start.checked_add(size).unwrap_or(-1);
                if start < 4 || size < 0 || end < start || end as u64 > data_end {
                    return Err(at(format!(
                        "pages at bytes {start}..{end} outside the data ({} bytes)",
                        data_end
                    )));
                }
                let (mut pos, end) = (start as usize, end as usize);
                let mut seen: i64 = 0;
                while pos < end && seen < values {
                    let (header, len) = read_page_header(&bytes[pos..end])
                        .ok_or_else(|| at(format!("unreadable page header at byte {pos}")))?;
                    seen += check_page(&header, values - seen)
                        .map_err(|p| at(format!("page at byte {pos}: {p}")))?;
                    // Not negative: check_page has checked it.
                    pos = pos
                        .checked_add(len)
                        .and_then(|p| p.checked_add(header.compressed_page_size as usize))
                        .filter(|&p| p <= end)
                        .ok_or_else(|| at(format!("page at byte {pos} runs past its chunk")))?;
                }
            }
        }
    }
    Ok(())
}

/// Reads the page header at the start of `buf` with the Thrift reader polars itself
/// decodes it with, so the counts checked are the ones it will use: the header and its
/// length. Reading stops at the end of `buf`, and the reader's size limit of
/// `buf.len()` bounds what a corrupt list or string length can make it allocate.
fn read_page_header(buf: &[u8]) -> Option<(PageHeader, usize)> {
    let mut rest = buf;
    let mut protocol = TCompactInputProtocol::new(&mut rest, buf.len());
    let header = PageHeader::read_from_in_protocol(&mut protocol).ok()?;
    Some((header, buf.len() - rest.len()))
}

/// Checks that a page header's counts are consistent and fit the values its chunk
/// has left (a dictionary holds at most as many entries as the chunk has values);
/// returns the values it adds to the chunk's count (those of a data page).
fn check_page(header: &PageHeader, left: i64) -> Result<i64, String> {
    let data = matches!(header.type_, PageType::DATA_PAGE | PageType::DATA_PAGE_V2);
    if !data
        && !matches!(
            header.type_,
            PageType::INDEX_PAGE | PageType::DICTIONARY_PAGE
        )
    {
        return Err(format!("unknown page type {}", header.type_.0));
    }
    let compressed = i64::from(header.compressed_page_size);
    let uncompressed = i64::from(header.uncompressed_page_size);
    if compressed < 0 || uncompressed < 0 {
        return Err("negative page size".into());
    }
    let v2 = header
        .data_page_header_v2
        .as_ref()
        .filter(|_| header.type_ == PageType::DATA_PAGE_V2);
    let values = match header.type_ {
        PageType::INDEX_PAGE => return Ok(0),
        PageType::DATA_PAGE => header.data_page_header.as_ref().map(|p| p.num_values),
        PageType::DICTIONARY_PAGE => header.dictionary_page_header.as_ref().map(|p| p.num_values),
        _ => v2.map(|p| p.num_values),
    }
    .map(i64::from)
    .ok_or_else(|| "no value count".to_string())?;
    if values < 0 || (data && values > left) {
        return Err(format!("{values} values where {left} remain"));
    }
    // A dictionary entry takes at least a bit of the page.
    if header.type_ == PageType::DICTIONARY_PAGE && values > uncompressed * 8 {
        return Err(format!(
            "{values} dictionary entries in {uncompressed} bytes"
        ));
    }
    if let Some(p) = v2 {
        for n in [p.num_nulls, p.num_rows].map(i64::from) {
            if n < 0 || n > values {
                return Err(format!("{n} nulls or rows of {values} values"));
            }
        }
        let levels = [
            p.definition_levels_byte_length,
            p.repetition_levels_byte_length,
        ]
        .map(i64::from);
        if levels.iter().any(|&n| n < 0) || levels.iter().sum::<i64>() > compressed {
            return Err("level lengths outside the page".into());
        }
    }
    Ok(if data { values } else { 0 })
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

#[cfg(test)]
mod tests {
    use super::{check_page, parts_of, read_page_header};
    use polars_parquet_format::PageType;

    #[test]
    fn page_headers_are_read_and_checked() {
        // type 0, sizes 20 and 20, data_page_header { num_values 10, encodings 0 3 3 }.
        let v1 = [
            0x15, 0x00, 0x15, 0x28, 0x15, 0x28, 0x2c, 0x15, 0x14, 0x15, 0x00, 0x15, 0x06, 0x15,
            0x06, 0x00, 0x00,
        ];
        let (h, len) = read_page_header(&v1).unwrap();
        assert_eq!(len, v1.len());
        assert_eq!(
            (
                h.type_,
                h.compressed_page_size,
                h.data_page_header.as_ref().map(|p| p.num_values)
            ),
            (PageType::DATA_PAGE, 20, Some(10))
        );
        assert_eq!(check_page(&h, 10), Ok(10));
        assert!(
            check_page(&h, 9).is_err(),
            "more values than the chunk has left"
        );
        let mut negative = v1;
        negative[8] = 0x13; // zigzag(-10)
        assert!(check_page(&read_page_header(&negative).unwrap().0, 10).is_err());

        // type 3, data_page_header_v2 { 10 values, 2 nulls, 10 rows, encoding 0,
        // levels 1 and 0 bytes, is_compressed true (a bool field) }, then fields to
        // skip: an i32 with its id in long form (9), a binary (10), a list (11).
        let v2 = [
            0x15, 0x06, 0x15, 0x28, 0x15, 0x28, 0x5c, 0x15, 0x14, 0x15, 0x04, 0x15, 0x14, 0x15,
            0x00, 0x15, 0x02, 0x15, 0x00, 0x11, 0x00, 0x05, 0x12, 0x00, 0x18, 0x03, b'a', b'b',
            b'c', 0x19, 0x35, 0x02, 0x04, 0x06, 0x00,
        ];
        let (h, len) = read_page_header(&v2).unwrap();
        assert_eq!(len, v2.len());
        let p = h.data_page_header_v2.as_ref().unwrap();
        assert_eq!((p.num_values, p.num_nulls, p.num_rows), (10, 2, 10));
        assert_eq!(check_page(&h, 10), Ok(10));

        // A data page without its data page header: no value count.
        let mut no_header = v1;
        no_header[1] = 0x04; // type 2, a dictionary page, with a v1 data page header
        assert!(check_page(&read_page_header(&no_header).unwrap().0, 10).is_err());

        // Truncated, or a list or string longer than the buffer: unreadable, not a
        // panic or a huge allocation.
        assert!(read_page_header(&v1[..10]).is_none());
        assert!(read_page_header(&[0x99, 0xf5, 0xff, 0xff, 0xff, 0x0f]).is_none());
        assert!(read_page_header(&[0x98, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_none());
    }

    #[test]
    fn parts_are_whole_row_groups_covering_every_row_once() {
        assert_eq!(parts_of([3, 3, 3, 3, 1], 5), vec![(0, 6), (6, 6), (12, 1)]);
        assert_eq!(parts_of([10, 2], 5), vec![(0, 10), (10, 2)]);
        assert_eq!(parts_of([5], 5), vec![(0, 5)]);
        assert_eq!(parts_of([0, 4, 0], 5), vec![(0, 4)]);
        assert!(parts_of([], 5).is_empty());
    }

    proptest::proptest! {
        /// Garbage is unreadable or a header inside the buffer, never a panic.
        #[test]
        fn page_header_reading_is_bounded(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            if let Some((header, len)) = read_page_header(&buf) {
                proptest::prop_assert!(len <= buf.len());
                let _ = check_page(&header, i64::MAX);
            }
        }
    }
}
