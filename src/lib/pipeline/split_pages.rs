//! BYTE_STREAM_SPLIT pages (`--encoding split`): polars-parquet reads them but
//! cannot write them, so the store writes PLAIN pages and transposes their value
//! bytes here: byte k of value i goes to position k·n + i, each byte position in a
//! stream of its own, which a codec then compresses far better.

use polars::prelude::*;
use polars_parquet::parquet::page::{DataPage, DataPageHeader};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::Encoding as PageEncoding;

/// A PLAIN data page of fixed-width values turned into a BYTE_STREAM_SPLIT one:
/// the levels as they are, then the values' bytes transposed.
pub(super) fn split_page(page: DataPage, width: usize) -> PolarsResult<DataPage> {
    let buffer = page.buffer();
    let (levels, values) = levels_and_values(&page)?;
    let mut header = page.header().clone();
    match &mut header {
        DataPageHeader::V1(header) => header.encoding = PageEncoding::ByteStreamSplit.into(),
        DataPageHeader::V2(header) => header.encoding = PageEncoding::ByteStreamSplit.into(),
    }
    let mut split = Vec::with_capacity(buffer.len());
    split.extend_from_slice(levels);
    split_streams(values, width, &mut split);
    let rows = page.num_rows.unwrap_or_else(|| page.num_values());
    Ok(DataPage::new(
        header,
        CowBuffer::Owned(split),
        page.descriptor,
        rows,
    ))
}

/// A data page's buffer (uncompressed) split into its levels and its values.
pub(super) fn levels_and_values(page: &DataPage) -> PolarsResult<(&[u8], &[u8])> {
    let buffer = page.buffer();
    let levels = match page.header() {
        // The definition levels of a nullable flat column, behind their length as 4
        // little-endian bytes.
        DataPageHeader::V1(_) => match page.descriptor.primitive_type.field_info.repetition {
            Repetition::Required => 0,
            Repetition::Optional | Repetition::Repeated => buffer
                .first_chunk::<4>()
                .map(|length| 4 + u32::from_le_bytes(*length) as usize)
                .unwrap_or(usize::MAX),
        },
        DataPageHeader::V2(header) => {
            (header.definition_levels_byte_length + header.repetition_levels_byte_length) as usize
        }
    };
    match buffer.split_at_checked(levels) {
        Some(parts) => Ok(parts),
        None => polars_bail!(ComputeError: "a data page shorter than its levels"),
    }
}

/// Appends `values` (fixed-width values of `width` bytes, back to back) to `out`
/// as BYTE_STREAM_SPLIT lays them out: for N values, byte k of value i goes to
/// position k·N + i.
fn split_streams(values: &[u8], width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + values.len(), 0);
    let streams = &mut out[start..];
    match width {
        4 => split_streams_of::<4>(values.as_chunks().0, streams),
        8 => split_eights(values.as_chunks().0, streams),
        other => unreachable!("no {other}-byte floats"),
    }
}

/// The transpose byte by byte.
fn split_streams_of<const W: usize>(values: &[[u8; W]], streams: &mut [u8]) {
    let n = values.len();
    for (i, value) in values.iter().enumerate() {
        for (k, byte) in value.iter().enumerate() {
            streams[k * n + i] = *byte;
        }
    }
}

/// The transpose of 8-byte values, eight values at a time: their 64 bytes, a row
/// of 8 per value, are transposed in registers by swapping the off-diagonal
/// halves, then quarters, then eighths of the rows, so that row k holds byte k of
/// each of the eight values and is written to stream k whole. About twice as
/// fast as byte by byte.
fn split_eights(values: &[[u8; 8]], streams: &mut [u8]) {
    let n = values.len();
    let (blocks, rest) = values.as_chunks::<8>();
    for (b, block) in blocks.iter().enumerate() {
        let mut rows = block.map(u64::from_le_bytes);
        for i in [0, 1, 2, 3] {
            let t = ((rows[i] >> 32) ^ rows[i + 4]) & 0x0000_0000_ffff_ffff;
            rows[i] ^= t << 32;
            rows[i + 4] ^= t;
        }
        for i in [0, 1, 4, 5] {
            let t = ((rows[i] >> 16) ^ rows[i + 2]) & 0x0000_ffff_0000_ffff;
            rows[i] ^= t << 16;
            rows[i + 2] ^= t;
        }
        for i in [0, 2, 4, 6] {
            let t = ((rows[i] >> 8) ^ rows[i + 1]) & 0x00ff_00ff_00ff_00ff;
            rows[i] ^= t << 8;
            rows[i + 1] ^= t;
        }
        for (k, row) in rows.iter().enumerate() {
            let at = k * n + 8 * b;
            streams[at..at + 8].copy_from_slice(&row.to_le_bytes());
        }
    }
    let done = blocks.len() * 8;
    for (j, value) in rest.iter().enumerate() {
        for (k, byte) in value.iter().enumerate() {
            streams[k * n + done + j] = *byte;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_streams_put_byte_k_of_value_i_at_k_n_plus_i() {
        let values = [
            0x11, 0x12, 0x13, 0x14, 0x21, 0x22, 0x23, 0x24, 0x31, 0x32, 0x33, 0x34,
        ];
        let mut out = vec![0xff];
        split_streams(&values, 4, &mut out);
        assert_eq!(
            out,
            [0xff, 0x11, 0x21, 0x31, 0x12, 0x22, 0x32, 0x13, 0x23, 0x33, 0x14, 0x24, 0x34]
        );
        let mut empty = Vec::new();
        split_streams(&[], 8, &mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn eight_byte_values_split_as_byte_by_byte() {
        // Value i is the bytes i·16 + k: stream k is then k, 16 + k, 32 + k, …
        for n in (0..=20).chain([1000, 1003]) {
            let values: Vec<u8> = (0..n)
                .flat_map(|i| (0..8).map(move |k| (i * 16 + k) as u8))
                .collect();
            let mut split = Vec::new();
            split_streams(&values, 8, &mut split);
            let expected: Vec<u8> = (0..8)
                .flat_map(|k| (0..n).map(move |i| (i * 16 + k) as u8))
                .collect();
            assert_eq!(split, expected, "{n} values");
        }
    }

    #[test]
    fn split_streams_round_trip() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64).sin() * 1e3).collect();
        let plain: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut split = Vec::new();
        split_streams(&plain, 8, &mut split);
        assert_ne!(split, plain);
        let n = values.len();
        let back: Vec<f64> = (0..n)
            .map(|i| f64::from_le_bytes(std::array::from_fn(|k| split[k * n + i])))
            .collect();
        assert_eq!(back, values);
    }
}
