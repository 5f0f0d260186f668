//! Checks of a Parquet file's page headers before polars decodes it: a corrupt file
//! must be a bad file, never an abort of the process.

use polars::io::parquet::metadata::FileMetadata;
use polars::prelude::*;
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
use polars_parquet_format::{PageHeader, PageType};

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
pub(super) fn check_pages(
    bytes: &[u8],
    metadata: &FileMetadata,
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

#[cfg(test)]
mod tests {
    use super::{check_page, read_page_header};
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
