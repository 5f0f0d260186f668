//! Text columns read as the dictionaries Parquet stores them in.
//!
//! A log's text columns repeat a few values over many rows: every timestamp is
//! shared by the dozen channels read at that instant, and `field` and `sensor_type`
//! take a handful of values. Parquet writers store such a column chunk as a
//! dictionary of its distinct values and a key per row. polars decodes it into a
//! string per row (a 16-byte view each), which validation then parses row by row;
//! kept as keys into the distinct values, each value is parsed once per row group.

use std::io::Cursor;
use std::ops::Range;

use polars::io::parquet::metadata::FileMetadata;
use polars_arrow::array::{Array, DictionaryArray, Utf8ViewArray};
use polars_arrow::datatypes::{
    ArrowDataType, Field as ArrowField, IntegerType, Metadata, DTYPE_CATEGORICAL_NEW,
};
use polars_buffer::Buffer;
use polars_parquet::read::{column_iter_to_arrays, BasicDecompressor, PageReader};

/// A text column of consecutive rows as dictionary arrays, one per row group: each a
/// key per row into that group's distinct values.
#[derive(Debug, Clone)]
pub struct DictionaryColumn {
    chunks: Vec<DictionaryArray<u32>>,
}

impl DictionaryColumn {
    fn rows(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    /// The rows `offset..offset + len` (clamped to the column).
    pub fn slice(&self, offset: usize, len: usize) -> DictionaryColumn {
        let (mut skip, mut take) = (offset, len);
        let mut chunks = Vec::new();
        for chunk in &self.chunks {
            if take == 0 {
                break;
            }
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            let n = (chunk.len() - skip).min(take);
            chunks.push(chunk.clone().sliced(skip, n));
            take -= n;
            skip = 0;
        }
        DictionaryColumn { chunks }
    }

    /// Every row's value through `f`, which is called once per distinct value of a
    /// row group (and once for a null) rather than once per row.
    pub fn decode<'a, R: Clone>(&'a self, mut f: impl FnMut(Option<&'a str>) -> R) -> Vec<R> {
        let mut out = Vec::with_capacity(self.rows());
        let null = f(None);
        for chunk in &self.chunks {
            let values = chunk
                .values()
                .as_any()
                .downcast_ref::<Utf8ViewArray>()
                .expect("a dictionary of text, as decoded");
            let mapped: Vec<R> = values.iter().map(&mut f).collect();
            let keys = chunk.keys();
            if keys.null_count() == 0 {
                out.extend(keys.values().iter().map(|&k| mapped[k as usize].clone()));
            } else {
                out.extend(
                    keys.iter()
                        .map(|k| k.map_or_else(|| null.clone(), |&k| mapped[k as usize].clone())),
                );
            }
        }
        out
    }
}

/// Whether a column of this Arrow type is text that [`decode`] may read as keys.
pub fn is_plain_text(field: &ArrowField) -> bool {
    matches!(
        field.dtype,
        ArrowDataType::Utf8View | ArrowDataType::Utf8 | ArrowDataType::LargeUtf8
    ) && !field.is_categorical()
        && !field.is_enum()
}

/// Column `name` over the row groups `groups` as dictionaries, if every data page of
/// it is dictionary-encoded; `None` if some page is not (a writer falls back to
/// plain pages when a chunk's distinct values outgrow its dictionary page) or
/// cannot be decoded so: polars' own reader then decodes it, or names the problem.
pub fn decode(
    bytes: &[u8],
    metadata: &FileMetadata,
    groups: Range<usize>,
    name: &str,
) -> Option<DictionaryColumn> {
    let field = ArrowField::new(
        name.into(),
        ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        ),
        true,
    )
    // polars' reader decodes into keys only what it is told is a categorical.
    .with_metadata(Metadata::from([(DTYPE_CATEGORICAL_NEW.into(), "".into())]));
    let mut chunks = Vec::new();
    for group in &metadata.row_groups[groups] {
        let mut columns = group.columns_under_root_iter(name)?;
        let (Some(column), None) = (columns.next(), columns.next()) else {
            return None;
        };
        let range = column.byte_range();
        let chunk = Buffer::from(bytes[range.start as usize..range.end as usize].to_vec());
        let pages = PageReader::new(Cursor::new(chunk), column, vec![], usize::MAX);
        let (arrays, _) = column_iter_to_arrays(
            vec![BasicDecompressor::new(pages, vec![])],
            vec![&column.descriptor().descriptor.primitive_type],
            field.clone(),
            None,
        )
        .ok()?;
        for array in arrays {
            chunks.push(
                array
                    .as_any()
                    .downcast_ref::<DictionaryArray<u32>>()?
                    .clone(),
            );
        }
    }
    Some(DictionaryColumn { chunks })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use polars::prelude::*;

    use super::super::{load_log, Part, PART_ROWS, TEXT_COLUMNS};

    /// A log of `rows` rows whose time and field repeat (as a log's do), with
    /// nulls among them.
    fn repeating_text(rows: usize) -> DataFrame {
        let time = (0..rows).map(|i| {
            (i % 97 != 5).then(|| {
                format!(
                    "2022-11-23T20:{:02}:{:02}.000Z",
                    i / 12 / 60 % 60,
                    i / 12 % 60
                )
            })
        });
        let field = (0..rows).map(|i| (i % 101 != 7).then_some(["x", "y", "fz"][i / 5 % 3]));
        df!(
            "time" => time.collect::<Vec<_>>(),
            "value" => (0..rows).map(|i| i as f64).collect::<Vec<_>>(),
            "field" => field.collect::<Vec<_>>(),
            "robot_id" => vec![1i64; rows],
            "sensor_type" => vec!["encoder"; rows],
            "run_uuid" => vec![7u64; rows],
        )
        .unwrap()
    }

    /// Every row of text column `name` of `frame`.
    fn strings(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
        let column = frame.column(name).unwrap().str().unwrap();
        column.iter().map(|s| s.map(str::to_string)).collect()
    }

    /// Every row of text column `name` of `part`, whichever way it was read.
    fn text_of(part: &Part, name: &str) -> Vec<Option<String>> {
        match part.dictionary(name) {
            Some(dictionary) => dictionary.decode(|s| s.map(str::to_string)),
            None => strings(&part.frame, name),
        }
    }

    #[test]
    fn text_stored_as_dictionaries_reads_row_for_row_as_polars_reads_it() {
        let rows = 3 * PART_ROWS / 2 + 1_234;
        let mut frame = repeating_text(rows);
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes)
            .with_row_group_size(Some(PART_ROWS / 3))
            .finish(&mut frame)
            .unwrap();
        let path = Path::new("log.parquet");
        let log = load_log(path, &bytes).unwrap();
        assert!(log.parts() >= 2);
        let mut first = 0;
        for index in 0..log.parts() {
            let part = log.part(index).unwrap();
            for name in TEXT_COLUMNS {
                assert!(part.dictionary(name).is_some(), "{name}");
                assert!(part.frame.column(name).is_err(), "{name}");
            }
            let height = part.height();
            for name in TEXT_COLUMNS {
                let expected = strings(&frame.slice(first as i64, height), name);
                assert_eq!(text_of(&part, name), expected, "{name}");
                // Slices that start and end inside row groups and span several.
                for (offset, len) in [(0, 1), (1_000, PART_ROWS / 2), (height - 3, 10)] {
                    let len = len.min(height - offset);
                    assert_eq!(
                        text_of(&part.slice(offset, len), name),
                        expected[offset..offset + len],
                        "{name}"
                    );
                }
            }
            first += height;
        }
        assert_eq!(first, rows);
    }

    #[test]
    fn text_stored_in_plain_pages_is_read_by_polars() {
        let mut frame = repeating_text(10_000);
        let mut bytes = Vec::new();
        crate::pipeline::store::write_parquet(&mut bytes, &mut frame, Default::default(), &[])
            .unwrap();
        let log = load_log(Path::new("log.parquet"), &bytes).unwrap();
        let part = log.part(0).unwrap();
        for name in TEXT_COLUMNS {
            assert!(part.dictionary(name).is_none(), "{name}");
            assert_eq!(text_of(&part, name), strings(&frame, name), "{name}");
        }
    }
}
