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
            let metadata = reader.get_metadata()?.clone();
            check_pages(bytes, &metadata, &present)?;
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
fn check_pages(
    bytes: &[u8],
    metadata: &polars::io::parquet::metadata::FileMetadata,
    columns: &[String],
) -> PolarsResult<()> {
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
                    let (header, len) = page_header::parse(&bytes[pos..end])
                        .ok_or_else(|| at(format!("unreadable page header at byte {pos}")))?;
                    header
                        .check(values - seen)
                        .map_err(|p| at(format!("page at byte {pos}: {p}")))?;
                    if header.is_data() {
                        seen += header.num_values.unwrap_or(0);
                    }
                    pos = pos
                        .checked_add(len)
                        .and_then(|p| p.checked_add(header.compressed_size as usize))
                        .filter(|&p| p <= end)
                        .ok_or_else(|| at(format!("page at byte {pos} runs past its chunk")))?;
                }
            }
        }
    }
    Ok(())
}

/// Just enough of the Thrift compact protocol to read a Parquet page header.
mod page_header {
    /// The counts of a page header; `None` where the header lacks the field.
    #[derive(Debug, Default)]
    pub struct PageHeader {
        pub page_type: i64,
        pub uncompressed_size: i64,
        pub compressed_size: i64,
        pub num_values: Option<i64>,
        /// Data page v2 only.
        pub num_nulls: Option<i64>,
        pub num_rows: Option<i64>,
        pub levels_bytes: Vec<i64>,
    }

    const DATA_PAGE: i64 = 0;
    const INDEX_PAGE: i64 = 1;
    const DICTIONARY_PAGE: i64 = 2;
    const DATA_PAGE_V2: i64 = 3;

    impl PageHeader {
        pub fn is_data(&self) -> bool {
            matches!(self.page_type, DATA_PAGE | DATA_PAGE_V2)
        }

        /// Whether the counts are consistent and fit the values the chunk has left
        /// (a dictionary holds at most as many entries as the chunk has values).
        pub fn check(&self, left: i64) -> Result<(), String> {
            if !matches!(
                self.page_type,
                DATA_PAGE | INDEX_PAGE | DICTIONARY_PAGE | DATA_PAGE_V2
            ) {
                return Err(format!("unknown page type {}", self.page_type));
            }
            if self.compressed_size < 0 || self.uncompressed_size < 0 {
                return Err("negative page size".into());
            }
            if self.page_type == INDEX_PAGE {
                return Ok(());
            }
            let values = self
                .num_values
                .ok_or_else(|| "no value count".to_string())?;
            if values < 0 || (self.is_data() && values > left) {
                return Err(format!("{values} values where {left} remain"));
            }
            // A dictionary entry takes at least a bit of the page.
            if self.page_type == DICTIONARY_PAGE
                && values > self.uncompressed_size.saturating_mul(8)
            {
                return Err(format!(
                    "{values} dictionary entries in {} bytes",
                    self.uncompressed_size
                ));
            }
            for n in [self.num_nulls, self.num_rows].into_iter().flatten() {
                if n < 0 || n > values {
                    return Err(format!("{n} nulls or rows of {values} values"));
                }
            }
            let levels: i64 = self.levels_bytes.iter().sum();
            if self.levels_bytes.iter().any(|&n| n < 0) || levels > self.compressed_size {
                return Err("level lengths outside the page".into());
            }
            Ok(())
        }
    }

    /// Parses a page header at the start of `buf`: the header and its length.
    pub fn parse(buf: &[u8]) -> Option<(PageHeader, usize)> {
        let mut r = Reader { buf, pos: 0 };
        let mut header = PageHeader::default();
        r.fields(0, |r, id, ty| {
            match (id, ty) {
                (1, I32) => header.page_type = r.int()?,
                (2, I32) => header.uncompressed_size = r.int()?,
                (3, I32) => header.compressed_size = r.int()?,
                // data_page_header, dictionary_page_header, data_page_header_v2
                (5 | 7 | 8, STRUCT) => r.fields(1, |r, sub, ty| {
                    match (id, sub, ty) {
                        (_, 1, I32) => header.num_values = Some(r.int()?),
                        (8, 2, I32) => header.num_nulls = Some(r.int()?),
                        (8, 3, I32) => header.num_rows = Some(r.int()?),
                        (8, 5 | 6, I32) => header.levels_bytes.push(r.int()?),
                        _ => r.skip(ty, 2)?,
                    }
                    Some(())
                })?,
                _ => r.skip(ty, 1)?,
            }
            Some(())
        })?;
        Some((header, r.pos))
    }

    const BOOL_TRUE: u8 = 1;
    const BOOL_FALSE: u8 = 2;
    const BYTE: u8 = 3;
    const I16: u8 = 4;
    const I32: u8 = 5;
    const I64: u8 = 6;
    const DOUBLE: u8 = 7;
    const BINARY: u8 = 8;
    const LIST: u8 = 9;
    const SET: u8 = 10;
    const MAP: u8 = 11;
    const STRUCT: u8 = 12;
    /// Deeper nesting than any page header has is corruption.
    const MAX_DEPTH: usize = 16;

    struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
    }

    impl Reader<'_> {
        fn byte(&mut self) -> Option<u8> {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            Some(b)
        }

        fn varint(&mut self) -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..70).step_by(7) {
                let b = self.byte()?;
                v |= u64::from(b & 0x7f).checked_shl(shift)?;
                if b & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        }

        /// A zigzag-encoded integer (i16, i32 and i64 alike).
        fn int(&mut self) -> Option<i64> {
            let v = self.varint()?;
            Some((v >> 1) as i64 ^ -((v & 1) as i64))
        }

        fn advance(&mut self, n: u64) -> Option<()> {
            let n = usize::try_from(n).ok()?;
            if n > self.buf.len() - self.pos {
                return None;
            }
            self.pos += n;
            Some(())
        }

        /// Reads a struct's fields, calling `field(reader, id, type)` for each, which
        /// must consume the field's value.
        fn fields(
            &mut self,
            depth: usize,
            mut field: impl FnMut(&mut Self, i16, u8) -> Option<()>,
        ) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            let mut id: i16 = 0;
            loop {
                let b = self.byte()?;
                if b == 0 {
                    return Some(());
                }
                let (delta, ty) = (b >> 4, b & 0x0f);
                id = if delta == 0 {
                    i16::try_from(self.int()?).ok()?
                } else {
                    id.checked_add(i16::from(delta))?
                };
                match ty {
                    // A bool field's value is its type.
                    BOOL_TRUE | BOOL_FALSE => {}
                    _ => field(self, id, ty)?,
                }
            }
        }

        /// Skips a value of type `ty` (inside a collection, a bool takes a byte).
        fn skip(&mut self, ty: u8, depth: usize) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            match ty {
                BOOL_TRUE | BOOL_FALSE | BYTE => self.advance(1),
                I16 | I32 | I64 => self.varint().map(drop),
                DOUBLE => self.advance(8),
                BINARY => {
                    let n = self.varint()?;
                    self.advance(n)
                }
                LIST | SET => {
                    let b = self.byte()?;
                    let n = match b >> 4 {
                        15 => self.varint()?,
                        n => u64::from(n),
                    };
                    self.elements(n, &[b & 0x0f], depth)
                }
                MAP => {
                    let n = self.varint()?;
                    if n == 0 {
                        return Some(());
                    }
                    let kv = self.byte()?;
                    self.elements(n, &[kv >> 4, kv & 0x0f], depth)
                }
                STRUCT => self.fields(depth + 1, |r, _, ty| r.skip(ty, depth + 1)),
                _ => None,
            }
        }

        fn elements(&mut self, n: u64, types: &[u8], depth: usize) -> Option<()> {
            // Every element takes at least a byte: a count beyond the buffer is corrupt.
            if n > (self.buf.len() - self.pos) as u64 {
                return None;
            }
            for _ in 0..n {
                for &ty in types {
                    self.skip(ty, depth + 1)?;
                }
            }
            Some(())
        }
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
    use super::page_header::parse;

    #[test]
    fn page_headers_are_read_and_checked() {
        // type 0, sizes 20 and 20, data_page_header { num_values 10, encodings 0 3 3 }.
        let v1 = [
            0x15, 0x00, 0x15, 0x28, 0x15, 0x28, 0x2c, 0x15, 0x14, 0x15, 0x00, 0x15, 0x06, 0x15,
            0x06, 0x00, 0x00,
        ];
        let (h, len) = parse(&v1).unwrap();
        assert_eq!(len, v1.len());
        assert_eq!(
            (h.page_type, h.compressed_size, h.num_values),
            (0, 20, Some(10))
        );
        assert!(h.check(10).is_ok());
        assert!(h.check(9).is_err(), "more values than the chunk has left");
        let mut negative = v1;
        negative[8] = 0x13; // zigzag(-10)
        assert!(parse(&negative).unwrap().0.check(10).is_err());

        // type 3, data_page_header_v2 { 10 values, 2 nulls, 10 rows, encoding 0,
        // levels 1 and 0 bytes, is_compressed true (a bool field) }, then fields to
        // skip: an i32 with its id in long form (9), a binary (10), a list (11).
        let v2 = [
            0x15, 0x06, 0x15, 0x28, 0x15, 0x28, 0x5c, 0x15, 0x14, 0x15, 0x04, 0x15, 0x14, 0x15,
            0x00, 0x15, 0x02, 0x15, 0x00, 0x11, 0x00, 0x05, 0x12, 0x00, 0x18, 0x03, b'a', b'b',
            b'c', 0x19, 0x35, 0x02, 0x04, 0x06, 0x00,
        ];
        let (h, len) = parse(&v2).unwrap();
        assert_eq!(len, v2.len());
        assert_eq!(
            (h.num_values, h.num_nulls, h.num_rows),
            (Some(10), Some(2), Some(10))
        );
        assert!(h.check(10).is_ok());

        // Truncated, or a list longer than the buffer: unreadable, not a panic.
        assert!(parse(&v1[..10]).is_none());
        assert!(parse(&[0x19, 0xf5, 0xff, 0xff, 0xff, 0x0f]).is_none());
    }
}
