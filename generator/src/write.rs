//! Writing a generated frame as the files real logs come in: Parquet as polars
//! writes it, CSV as pandas writes it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::{
    Column, CsvWriter, DataFrame, ParquetWriter, PlSmallStr, PolarsError, SerWriter,
};

/// Why a generated log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The output file could not be created or written.
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Polars failed to encode the frame.
    #[error("cannot write {}", path.display())]
    Polars {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
}

/// Writes `frame` as Parquet (polars' default codec).
pub fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<(), GeneratorError> {
    let file = create(path)?;
    ParquetWriter::new(file)
        .finish(frame)
        .map_err(|source| polars_error(path, source))?;
    Ok(())
}

/// Writes `frame` as CSV the way pandas' `to_csv` does by default: a leading index
/// column `0..n` whose header cell is empty. Readers must tolerate that column, so the
/// sample files carry it.
pub fn write_csv(frame: &mut DataFrame, path: &Path) -> Result<(), GeneratorError> {
    let file = create(path)?;
    write_csv_to(frame, file).map_err(|source| polars_error(path, source))
}

/// [`write_csv`] into any writer.
pub(crate) fn write_csv_to<W: Write>(frame: &DataFrame, mut out: W) -> Result<(), PolarsError> {
    // Polars quotes an empty column name (`"",time,...`), which is not what pandas
    // writes, so the header is written here and polars writes only the rows.
    let mut header = String::new();
    for name in frame.get_column_names() {
        header.push(',');
        if name.contains([',', '"', '\n', '\r']) {
            header.push('"');
            header.push_str(&name.replace('"', "\"\""));
            header.push('"');
        } else {
            header.push_str(name);
        }
    }
    header.push('\n');
    out.write_all(header.as_bytes())?;
    // Cloning a frame only clones column handles, not the data.
    let mut with_index = frame.clone();
    let index: Vec<i64> = (0..frame.height() as i64).collect();
    with_index.insert_column(0, Column::new(PlSmallStr::EMPTY, index))?;
    CsvWriter::new(out)
        .include_header(false)
        .finish(&mut with_index)
}

fn create(path: &Path) -> Result<File, GeneratorError> {
    File::create(path).map_err(|source| GeneratorError::Io {
        path: path.to_owned(),
        source,
    })
}

fn polars_error(path: &Path, source: PolarsError) -> GeneratorError {
    match source {
        PolarsError::IO { error, .. } => GeneratorError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(error.kind(), error.to_string()),
        },
        source => GeneratorError::Polars {
            path: path.to_owned(),
            source,
        },
    }
}
