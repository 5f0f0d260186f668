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
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let mut out = Vec::with_capacity(self.len());
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
