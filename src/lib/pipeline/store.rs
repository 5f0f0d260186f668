//! The store: a harvest's outputs, encoded and written into an output directory that
//! appears whole or not at all (see [`crate::storage::Staging`] and
//! [`crate::model::layout`] for the layout). The dataset's files are written inside
//! it, unpublished, and published by [`crate::storage::Dataset`] once the catalog
//! has committed the harvest.
//!
//! Takes each run's wide table, the run statistics and the report; gives files.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8ViewArray};
use polars_arrow::datatypes::{ArrowDataType, ArrowSchema, Field as ArrowField, IntegerType};
use polars_arrow::record_batch::RecordBatchT;
use polars_core::frame::chunk_df_for_writing;
use polars_parquet::write::{
    array_to_columns, to_parquet_schema, CompressionOptions, Compressor, DynIter,
    DynStreamingIterator, Encoding as PageEncoding, FallibleStreamingIterator, FileWriter, Page,
    StatisticsOptions, Version, WriteOptions, ZstdLevel,
};

use crate::error::HarvestError;
use crate::model::labels::Labels;
use crate::model::layout::{
    output_dir_name, run_stats_file, samples_file, REPORT_FILE, RUN_STATS_FILE, RUN_STATS_TABLE,
    SAMPLES_TABLE, UNPUBLISHED_DIR,
};
use crate::model::options::{Compression, Encoding};
use crate::model::readings::RunId;
use crate::model::report::Report;
use crate::model::run_stats::{RunStats, StatKind, StatValue, RUN_STATS_COLUMNS};
use crate::pipeline::split_pages::split_page;
use crate::pipeline::HarvestOptions;
use crate::storage::{SourceFile, Staging};

/// Starts the output directory of `source` under `out_root`, with the folders of
/// the dataset `partitions` its runs go to.
pub fn start(
    out_root: &Path,
    source: &SourceFile,
    partitions: &[String],
) -> Result<Staging, HarvestError> {
    let folders: Vec<String> = partitions
        .iter()
        .flat_map(|p| {
            [SAMPLES_TABLE, RUN_STATS_TABLE].map(|table| format!("{UNPUBLISHED_DIR}/{table}/{p}"))
        })
        .collect();
    let folders: Vec<&str> = folders.iter().map(String::as_str).collect();
    Staging::create(
        out_root,
        &output_dir_name(&source.path, &source.content_hash),
        &folders,
    )
}

/// How the Parquet outputs are written: their codec and their pages' encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format {
    pub compression: Compression,
    pub encoding: Encoding,
}

impl Format {
    /// The format a harvest with `options` writes.
    pub fn of(options: &HarvestOptions) -> Format {
        Format {
            compression: options.compression,
            encoding: options.encoding,
        }
    }
}

/// Writes a run's wide table into the dataset, with the run's id and the file's
/// labels as columns (first and last; both one value, dictionary-encoded).
/// Returns its path in the dataset.
pub fn write_run_table(
    staging: &Staging,
    content_hash: &str,
    run_uuid: RunId,
    partition: &str,
    labels: &Labels,
    table: &mut DataFrame,
    format: Format,
) -> Result<String, HarvestError> {
    let file = samples_file(content_hash, run_uuid, partition);
    let constants = [
        Constant::first("run_uuid", ConstantValue::UInt64(run_uuid)),
        Constant::last("labels", ConstantValue::Text(labels.to_json())),
    ];
    write_frame(
        staging,
        &format!("{UNPUBLISHED_DIR}/{file}"),
        table,
        format,
        &constants,
    )?;
    Ok(file)
}

/// Writes the dataset's statistics of one run (a row per robot): the content hash,
/// every statistic but the cell (the partition holds it) and the labels. Returns
/// its path in the dataset.
pub fn write_dataset_run_stats(
    staging: &Staging,
    content_hash: &str,
    run_uuid: RunId,
    partition: &str,
    labels: &Labels,
    stats: &[&RunStats],
    format: Format,
) -> Result<String, HarvestError> {
    let file = run_stats_file(content_hash, run_uuid, partition);
    let framed = run_stats_frame(stats).and_then(|mut frame| {
        frame.drop_in_place("cell")?;
        frame.insert_column(
            0,
            StringChunked::full("content_hash".into(), content_hash, stats.len()).into_column(),
        )?;
        frame.with_column(
            StringChunked::full("labels".into(), &labels.to_json(), stats.len()).into_column(),
        )?;
        Ok(frame)
    });
    let mut frame = framed
        .map_err(|e| HarvestError::internal(&file, format!("cannot build run statistics: {e}")))?;
    write_frame(
        staging,
        &format!("{UNPUBLISHED_DIR}/{file}"),
        &mut frame,
        format,
        &[],
    )?;
    Ok(file)
}

/// Writes run_stats.parquet: one row per run and robot, a column per entry of
/// [`RUN_STATS_COLUMNS`]; null where a quantity is not measurable.
pub fn write_run_stats(
    staging: &Staging,
    stats: &[RunStats],
    format: Format,
) -> Result<(), HarvestError> {
    let mut frame = run_stats_frame(stats).map_err(|e| {
        HarvestError::internal(RUN_STATS_FILE, format!("cannot build run statistics: {e}"))
    })?;
    write_frame(staging, RUN_STATS_FILE, &mut frame, format, &[])
}

/// Writes report.json.
pub fn write_report(staging: &Staging, report: &Report) -> Result<(), HarvestError> {
    let json = serde_json::to_vec_pretty(report).expect("reports serialize");
    staging.write_with(REPORT_FILE, |out, path| {
        out.write_all(&json)
            .map_err(|e| HarvestError::io(path, "cannot write an output file", e))
    })
}

fn write_frame(
    staging: &Staging,
    relative: &str,
    frame: &mut DataFrame,
    format: Format,
    constants: &[Constant],
) -> Result<(), HarvestError> {
    staging.write_with(relative, |out, path| {
        let mut sink = FirstIoError {
            inner: out,
            error: None,
        };
        match write_parquet(&mut sink, frame, format, constants) {
            Ok(_) => Ok(()),
            // The Parquet writer reports a failed write as a malformed file; the
            // error the sink saw tells a full disk (retry later) from a bug.
            Err(e) => Err(match sink.error {
                Some(io) => HarvestError::io(path, "cannot write an output file", io),
                None => polars_io_error(path, e),
            }),
        }
    })
}

/// A writer that keeps the first I/O error of the writer it wraps.
struct FirstIoError<'a> {
    inner: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

impl FirstIoError<'_> {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.inspect_err(|e| {
            if self.error.is_none() && e.kind() != std::io::ErrorKind::Interrupted {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

impl Write for FirstIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.keep(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.keep(result)
    }
}

fn run_stats_frame<S: std::borrow::Borrow<RunStats>>(stats: &[S]) -> PolarsResult<DataFrame> {
    let columns = RUN_STATS_COLUMNS
        .iter()
        .map(|column| {
            let name: PlSmallStr = column.name.into();
            let values: Vec<StatValue> = stats.iter().map(|s| (column.get)(s.borrow())).collect();
            // The kind fixes the variant of every value, so the fallbacks never apply.
            let integers = || values.iter().map(|v| v.integer().unwrap_or_default());
            let floats = || values.iter().map(|v| v.float());
            match column.kind {
                StatKind::RunId | StatKind::Count => {
                    UInt64Chunked::from_vec(name, integers().map(|v| v as u64).collect())
                        .into_column()
                }
                StatKind::Robot => {
                    UInt8Chunked::from_vec(name, integers().map(|v| v as u8).collect())
                        .into_column()
                }
                StatKind::Text => {
                    StringChunked::from_iter_options(name, values.iter().map(StatValue::text))
                        .into_column()
                }
                StatKind::Instant => {
                    Int64Chunked::from_vec(name, integers().map(|v| v as i64).collect())
                        .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                        .into_column()
                }
                StatKind::Seconds => Float64Chunked::from_vec(
                    name,
                    floats().map(|v| v.unwrap_or(f64::NAN)).collect(),
                )
                .into_column(),
                StatKind::Quantity => {
                    Float64Chunked::from_iter_options(name, floats()).into_column()
                }
            }
        })
        .collect();
    DataFrame::new(stats.len(), columns)
}

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
    let frame = chunk_df_for_writing(frame, ROW_GROUP_ROWS)?;
    let (before, after): (Vec<&Constant>, Vec<&Constant>) = constants.iter().partition(|c| c.first);
    let mut fields: Vec<ArrowField> = before.iter().map(|c| c.field()).collect();
    fields.extend(
        frame
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
    let leaves = to_parquet_schema(&schema)?.fields().to_vec();
    let schema_ref = std::sync::Arc::new(schema.clone());
    let options = WriteOptions {
        statistics: StatisticsOptions::default(),
        compression: parquet_compression(format.compression),
        version: Version::V1,
        data_page_size: None,
    };
    let mut writer = FileWriter::try_new(sink, schema, options)?;
    for batch in frame.iter_chunks(CompatLevel::newest(), false) {
        let rows = batch.height();
        let mut arrays = before
            .iter()
            .map(|c| c.array(rows))
            .collect::<PolarsResult<Vec<_>>>()?;
        arrays.extend(batch.into_arrays());
        for c in &after {
            arrays.push(c.array(rows)?);
        }
        let batch = RecordBatchT::try_new(rows, schema_ref.clone(), arrays)?;
        let columns = batch
            .into_arrays()
            .into_iter()
            .zip(leaves.iter().cloned())
            .zip(&layouts)
            .map(|((array, leaf), layout)| {
                let mut pages = array_to_columns(array, leaf, options, &[layout.encoding])?;
                // Flat frames: one leaf, so one column of pages per field.
                let pages = pages.pop().expect("a flat column has one leaf");
                Ok(layout.compress(pages, options.compression))
            })
            .collect::<Vec<PolarsResult<_>>>();
        // The row count is taken from the encoded pages.
        writer.write(u64::MAX, DynIter::new(columns.into_iter()))?;
    }
    writer.end(None)
}

/// How one column's values are laid out in its pages.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// What polars' encoder writes.
    encoding: PageEncoding,
    /// Width in bytes of the values polars wrote PLAIN that are to be split into
    /// byte streams, when they are.
    split: Option<usize>,
}

impl Layout {
    /// [`Encoding::Split`] splits floats into byte streams (polars writes them
    /// PLAIN, the store transposes them) and writes instants as deltas
    /// (DELTA_BINARY_PACKED, which polars writes): a table's instants ascend by
    /// nearly the same step, a few bits a row where PLAIN takes 64 and a codec
    /// finds little to share (zstd level 1 kept 65% of them). Everything else
    /// stays PLAIN, a constant a dictionary of its one value.
    fn of(dtype: &ArrowDataType, encoding: Encoding) -> Layout {
        let (encoding, split) = match (dtype, encoding) {
            (ArrowDataType::Dictionary(..), _) => (PageEncoding::RleDictionary, None),
            (ArrowDataType::Float32, Encoding::Split) => (PageEncoding::Plain, Some(4)),
            (ArrowDataType::Float64, Encoding::Split) => (PageEncoding::Plain, Some(8)),
            (ArrowDataType::Timestamp(..), Encoding::Split) => {
                (PageEncoding::DeltaBinaryPacked, None)
            }
            _ => (PageEncoding::Plain, None),
        };
        Layout { encoding, split }
    }

    /// The pages, split into byte streams where this layout says so, compressed.
    fn compress(
        self,
        pages: DynIter<'static, PolarsResult<Page>>,
        compression: CompressionOptions,
    ) -> DynStreamingIterator<'static, polars_parquet::write::CompressedPage, PolarsError> {
        let pages = pages.map(move |page| {
            let page = page?;
            Ok(match (self.split, page) {
                (Some(width), Page::Data(data)) => Page::Data(split_page(data, width)?),
                (_, page) => page,
            })
        });
        let compressed =
            Compressor::new(DynIter::new(pages), compression, vec![]).map_err(PolarsError::from);
        DynStreamingIterator::new(compressed)
    }
}

fn polars_io_error(path: &Path, e: PolarsError) -> HarvestError {
    match e {
        PolarsError::IO { error, .. } => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::new(error.kind(), error.to_string()),
        ),
        // Anything else is the encoder refusing a frame this crate built: a bug.
        other => HarvestError::internal(path, format!("cannot encode Parquet: {other}")),
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
}
