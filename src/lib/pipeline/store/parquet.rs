//! Parquet encoding: a table written row group by row group, with min/max/null-count
//! statistics, its constant columns as dictionaries of one value, and its pages laid
//! out as the chosen [`Encoding`] says.

use std::io::Write;
use std::ops::Range;

use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field as ArrowField, IntegerType};
use polars_arrow::record_batch::RecordBatchT;
use polars_core::frame::chunk_df_for_writing;
use polars_parquet::write::{
    array_to_columns, CompressionOptions, Compressor, DynIter, DynStreamingIterator,
    Encoding as PageEncoding, FallibleStreamingIterator, FileWriter, Page, StatisticsOptions,
    Version, WriteOptions, ZstdLevel,
};

use crate::model::options::{Compression, Encoding};
use crate::pipeline::float_statistics::with_float_statistics;
use crate::pipeline::split_pages::split_page;
use crate::pipeline::store::Format;

fn parquet_compression(compression: Compression) -> CompressionOptions {
    match compression {
        Compression::None => CompressionOptions::Uncompressed,
        Compression::Snappy => CompressionOptions::Snappy,
        Compression::Lz4 => CompressionOptions::Lz4Raw,
        Compression::Zstd(level) => CompressionOptions::Zstd(ZstdLevel::try_new(level).ok()),
    }
}

/// Rows per Parquet row group, as polars writes them: small enough for readers to
/// skip groups by their statistics, large enough to read fast.
const ROW_GROUP_ROWS: usize = 512 * 512;

/// The row groups of a table of `rows` rows, as polars' writer cuts a frame of one
/// chunk: one group below [`ROW_GROUP_ROWS`], else `rows / ROW_GROUP_ROWS` groups of
/// equal size, the last taking the remainder. A table built group by group is thus
/// written exactly as it would be whole.
pub(super) fn row_groups(rows: usize) -> impl Iterator<Item = Range<usize>> {
    let groups = (rows / ROW_GROUP_ROWS).max(1);
    let size = rows / groups;
    (0..groups).map(move |g| {
        g * size..if g + 1 == groups {
            rows
        } else {
            (g + 1) * size
        }
    })
}

/// `frame` cut into row groups (one chunk each), as [`write_row_groups`] takes it.
pub(super) fn in_row_groups(frame: &mut DataFrame) -> PolarsResult<DataFrame> {
    Ok(chunk_df_for_writing(frame, ROW_GROUP_ROWS)?.into_owned())
}

/// A column of one value in every row (a run's id, a file's labels), written
/// beside a frame's columns without ever being materialised.
#[derive(Debug, Clone)]
pub struct Constant {
    pub name: &'static str,
    pub value: ConstantValue,
    /// Before the frame's columns, else after them.
    pub first: bool,
}

#[derive(Debug, Clone)]
pub enum ConstantValue {
    UInt64(u64),
    Text(String),
}

impl Constant {
    pub fn first(name: &'static str, value: ConstantValue) -> Constant {
        Constant {
            name,
            value,
            first: true,
        }
    }

    pub fn last(name: &'static str, value: ConstantValue) -> Constant {
        Constant {
            name,
            value,
            first: false,
        }
    }

    /// Its Arrow field: a dictionary of its one value.
    fn field(&self) -> ArrowField {
        let values = match self.value {
            ConstantValue::UInt64(_) => ArrowDataType::UInt64,
            ConstantValue::Text(_) => ArrowDataType::Utf8View,
        };
        let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(values), false);
        ArrowField::new(self.name.into(), dtype, false)
    }

    /// `rows` rows of it: every key 0, into a dictionary of one value.
    fn array(&self, rows: usize) -> PolarsResult<Box<dyn Array>> {
        let values: Box<dyn Array> = match &self.value {
            ConstantValue::UInt64(v) => Box::new(PrimitiveArray::<u64>::from_vec(vec![*v])),
            ConstantValue::Text(text) => {
                Box::new(Utf8ViewArray::from_slice_values([text.as_str()]))
            }
        };
        let keys = PrimitiveArray::<u32>::from_vec(vec![0; rows]);
        Ok(Box::new(DictionaryArray::try_new(
            self.field().dtype,
            keys,
            values,
        )?))
    }
}

/// Writes `frame` to `sink` as a Parquet file with min/max/null-count statistics,
/// with the `constants` as dictionary-encoded columns around the frame's.
///
/// The frame's columns are PLAIN-encoded, or with [`Encoding::Split`] its float
/// columns BYTE_STREAM_SPLIT and its instants DELTA_BINARY_PACKED. polars' own writer first tries a dictionary for every
/// numeric column, which costs a hash of every value to estimate how many are
/// distinct; measured positions, forces and their derivatives are nearly all
/// distinct, so the attempt is pure cost (about 7% of a harvest's CPU time). A
/// constant is built as what it is, a dictionary of one entry, so neither the
/// repeated value nor a hash of it is ever made per row.
/// The frames written here are flat (one Parquet leaf per column).
pub fn write_parquet<W: Write>(
    sink: W,
    frame: &mut DataFrame,
    format: Format,
    constants: &[Constant],
) -> PolarsResult<u64> {
    write_row_groups(sink, [in_row_groups(frame)], format, constants)
}

/// Writes a table given as `frames` of one schema (at least one), each chunk of
/// each a row group, as [`write_parquet`] does: the table need never be whole in
/// memory.
pub(super) fn write_row_groups<W: Write>(
    sink: W,
    frames: impl IntoIterator<Item = PolarsResult<DataFrame>>,
    format: Format,
    constants: &[Constant],
) -> PolarsResult<u64> {
    let mut frames = frames.into_iter();
    let first = frames
        .next()
        .ok_or_else(|| polars_err!(NoData: "a table to write has no rows nor schema"))??;
    let (before, after): (Vec<&Constant>, Vec<&Constant>) = constants.iter().partition(|c| c.first);
    let mut fields: Vec<ArrowField> = before.iter().map(|c| c.field()).collect();
    fields.extend(
        first
            .schema()
            .to_arrow(CompatLevel::newest())
            .iter_values()
            .cloned(),
    );
    fields.extend(after.iter().map(|c| c.field()));
    let layouts: Vec<Layout> = fields
        .iter()
        .map(|f| Layout::of(&f.dtype, format.encoding))
        .collect();
    let schema: ArrowSchema = fields.into_iter().map(|f| (f.name.clone(), f)).collect();
    let options = WriteOptions {
        statistics: StatisticsOptions::default(),
        compression: parquet_compression(format.compression),
        version: Version::V1,
        data_page_size: None,
    };
    let mut writer = FileWriter::try_new(sink, schema, options)?;
    for frame in std::iter::once(Ok(first)).chain(frames) {
        write_chunks(&mut writer, &frame?, &before, &after, &layouts)?;
    }
    writer.end(None)
}

/// Writes each chunk of `frame` as a row group, between the constants `before` and
/// `after` it.
fn write_chunks<W: Write>(
    writer: &mut FileWriter<W>,
    frame: &DataFrame,
    before: &[&Constant],
    after: &[&Constant],
    layouts: &[Layout],
) -> PolarsResult<()> {
    let options = writer.options();
    let schema_ref = std::sync::Arc::new(writer.schema().clone());
    let leaves = writer.parquet_schema().fields().to_vec();
    for batch in frame.iter_chunks(CompatLevel::newest(), false) {
        let rows = batch.height();
        let mut arrays = before
            .iter()
            .map(|c| c.array(rows))
            .collect::<PolarsResult<Vec<_>>>()?;
        arrays.extend(batch.into_arrays());
        for c in after {
            arrays.push(c.array(rows)?);
        }
        let batch = RecordBatchT::try_new(rows, schema_ref.clone(), arrays)?;
        let columns = batch
            .into_arrays()
            .into_iter()
            .zip(leaves.iter().cloned())
            .zip(layouts)
            .map(|((array, leaf), layout)| {
                let options = layout.write_options(options);
                let mut pages = array_to_columns(array, leaf, options, &[layout.encoding])?;
                // Flat frames: one leaf, so one column of pages per field.
                let pages = pages.pop().expect("a flat column has one leaf");
                Ok(layout.compress(pages, options.compression))
            })
            .collect::<Vec<PolarsResult<_>>>();
        // The row count is taken from the encoded pages.
        writer.write(u64::MAX, DynIter::new(columns.into_iter()))?;
    }
    Ok(())
}

/// How one column's values are laid out in its pages.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// What polars' encoder writes.
    encoding: PageEncoding,
    /// Width in bytes of floats, which polars writes PLAIN and without min/max
    /// statistics: the store adds those ([`with_float_statistics`]).
    float: Option<usize>,
    /// Whether the floats are then split into byte streams.
    split: bool,
}

impl Layout {
    /// [`Encoding::Split`] splits floats into byte streams (polars writes them
    /// PLAIN, the store transposes them) and writes instants as deltas
    /// (DELTA_BINARY_PACKED, which polars writes): a table's instants ascend by
    /// nearly the same step, a few bits a row where PLAIN takes 64 and a codec
    /// finds little to share (zstd level 1 kept 65% of them). Everything else
    /// stays PLAIN, a constant a dictionary of its one value.
    fn of(dtype: &ArrowDataType, encoding: Encoding) -> Layout {
        let float = match dtype {
            ArrowDataType::Float32 => Some(4),
            ArrowDataType::Float64 => Some(8),
            _ => None,
        };
        let split = float.is_some() && matches!(encoding, Encoding::Split);
        let encoding = match (dtype, encoding) {
            (ArrowDataType::Dictionary(..), _) => PageEncoding::RleDictionary,
            (ArrowDataType::Timestamp(..), Encoding::Split) => PageEncoding::DeltaBinaryPacked,
            _ => PageEncoding::Plain,
        };
        Layout {
            encoding,
            float,
            split,
        }
    }

    /// The writer's options for this column: min/max statistics of floats are
    /// left to the store.
    fn write_options(self, mut options: WriteOptions) -> WriteOptions {
        if self.float.is_some() {
            options.statistics.min_value = false;
            options.statistics.max_value = false;
        }
        options
    }

    /// The pages, split into byte streams where this layout says so, compressed.
    fn compress(
        self,
        pages: DynIter<'static, PolarsResult<Page>>,
        compression: CompressionOptions,
    ) -> DynStreamingIterator<'static, polars_parquet::write::CompressedPage, PolarsError> {
        let pages = pages.map(move |page| {
            let page = page?;
            Ok(match (self.float, page) {
                (Some(width), Page::Data(data)) => {
                    let data = with_float_statistics(data, width)?;
                    Page::Data(if self.split {
                        split_page(data, width)?
                    } else {
                        data
                    })
                }
                (_, page) => page,
            })
        });
        let compressed =
            Compressor::new(DynIter::new(pages), compression, vec![]).map_err(PolarsError::from);
        DynStreamingIterator::new(compressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Float columns with nulls, NaN, infinities and signed zeros, and the
    /// constants, over more rows than a page and a row group hold.
    fn awkward_frame() -> DataFrame {
        let rows = ROW_GROUP_ROWS + 70_000;
        let special = [
            f64::NAN,
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let wide = Float64Chunked::from_iter_options(
            "x".into(),
            (0..rows).map(|i| match i % 97 {
                0 => None,
                k if k < 7 => Some(special[k - 1]),
                _ => Some((i as f64 * 0.001).cos() * 250.0),
            }),
        );
        let narrow = Float32Chunked::from_iter_options(
            "f".into(),
            (0..rows).map(|i| (i % 5 != 0).then_some(i as f32 / 3.0)),
        );
        let full = Float64Chunked::from_vec("full".into(), (0..rows).map(|i| i as f64).collect());
        let count = Int64Chunked::from_vec("count".into(), (0..rows as i64).collect());
        // Ascending by an uneven step, with a null and a step back.
        let time = Int64Chunked::from_iter_options(
            "time".into(),
            (0..rows as i64).map(|i| match i {
                5 => None,
                9 => Some(-3),
                _ => Some(1_669_236_000_000_000_000 + i * 12_000_000 + (i * i) % 7_000),
            }),
        )
        .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC));
        DataFrame::new(
            rows,
            vec![
                time.into_column(),
                wide.into_column(),
                narrow.into_column(),
                full.into_column(),
                count.into_column(),
            ],
        )
        .unwrap()
    }

    fn written(frame: &DataFrame, compression: Compression, encoding: Encoding) -> Vec<u8> {
        let format = Format {
            compression,
            encoding,
        };
        let constants = [
            Constant::first("run_uuid", ConstantValue::UInt64(7)),
            Constant::last("labels", ConstantValue::Text("{}".into())),
        ];
        let mut bytes = Vec::new();
        write_parquet(&mut bytes, &mut frame.clone(), format, &constants).unwrap();
        bytes
    }

    /// The bits of every float, null or not, column by column.
    fn float_bits(frame: &DataFrame) -> Vec<Vec<Option<u64>>> {
        frame
            .columns()
            .iter()
            .filter_map(|c| match c.dtype() {
                DataType::Float64 => Some(
                    c.f64()
                        .unwrap()
                        .iter()
                        .map(|v| v.map(f64::to_bits))
                        .collect(),
                ),
                DataType::Float32 => Some(
                    c.f32()
                        .unwrap()
                        .iter()
                        .map(|v| v.map(|v| u64::from(v.to_bits())))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn split_pages_read_back_bit_for_bit() {
        let frame = awkward_frame();
        let read = |bytes: Vec<u8>| {
            ParquetReader::new(std::io::Cursor::new(bytes))
                .finish()
                .unwrap()
        };
        let plain = read(written(&frame, Compression::None, Encoding::Plain));
        for compression in [
            Compression::None,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd(1),
        ] {
            let bytes = written(&frame, compression, Encoding::Split);
            let split = read(bytes);
            assert_eq!(split.schema(), plain.schema(), "{compression}");
            assert_eq!(float_bits(&split), float_bits(&plain), "{compression}");
            assert!(split.equals_missing(&plain), "{compression}");
        }
        assert_eq!(float_bits(&plain).len(), 3);
        // Uncompressed, splitting only reorders the bytes of the float pages, and
        // deltas shrink the instants.
        let floats = frame.select(["x", "f", "full"]).unwrap();
        let (plain, split) = (
            written(&floats, Compression::None, Encoding::Plain),
            written(&floats, Compression::None, Encoding::Split),
        );
        assert_eq!(split.len(), plain.len());
        assert_ne!(split, plain);
        let instants = frame.select(["time"]).unwrap();
        let (plain, delta) = (
            written(&instants, Compression::None, Encoding::Plain),
            written(&instants, Compression::None, Encoding::Split),
        );
        assert!(
            delta.len() * 2 < plain.len(),
            "{} vs {}",
            delta.len(),
            plain.len()
        );
    }

    #[test]
    fn row_groups_cut_a_table_as_polars_cuts_a_frame_of_one_chunk() {
        let g = ROW_GROUP_ROWS;
        for rows in [
            0,
            1,
            g - 1,
            g,
            g + 1,
            2 * g - 1,
            2 * g,
            3 * g + 12_345,
            11 * g + 70_000,
        ] {
            let mut frame = DataFrame::new(
                rows,
                vec![Int64Chunked::from_vec("n".into(), vec![0; rows]).into_column()],
            )
            .unwrap();
            let polars: Vec<usize> = in_row_groups(&mut frame)
                .unwrap()
                .column("n")
                .unwrap()
                .as_materialized_series()
                .chunk_lengths()
                .collect();
            let ours: Vec<usize> = row_groups(rows).map(|r| r.len()).collect();
            assert_eq!(ours, polars, "{rows} rows");
            let ends: Vec<usize> = row_groups(rows).map(|r| r.end).collect();
            assert_eq!(ends.last(), Some(&rows));
            assert!(row_groups(rows)
                .zip(row_groups(rows).skip(1))
                .all(|(a, b)| a.end == b.start));
        }
    }
}
