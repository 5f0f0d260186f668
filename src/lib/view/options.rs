//! What `view` is asked: which request, in which format, against which catalog.

use std::path::PathBuf;

use crate::catalog::ListFilter;
use crate::view::plot::PlotKind;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Tables for people (plain ASCII unless stdout is a terminal).
    #[default]
    Table,
    /// The report (or the list, or the rows) as JSON.
    Json,
    /// Run statistics (or the list, or the rows) as CSV.
    Csv,
}

/// What to show.
#[derive(Debug, Clone)]
pub enum Request {
    /// The catalog's files that pass the filter, newest first.
    List { filter: ListFilter, limit: i64 },
    /// The report of one harvested file.
    Target { target: String },
    /// The first `head` rows of one run's wide table.
    RunRows {
        target: String,
        run_uuid: String,
        head: usize,
    },
    /// One self-contained HTML page of a harvested file: its report and every run's
    /// charts; written to `file`, or stdout.
    Page {
        target: String,
        file: Option<PathBuf>,
    },
    /// One chart, SVG or PNG by the extension of `file`.
    Plot {
        target: String,
        kind: PlotKind,
        run_uuid: Option<String>,
        robot: Option<u8>,
        file: PathBuf,
    },
}

/// Everything `view` needs, already parsed.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    pub request: Request,
    pub format: Format,
    /// The output root (`--out`), where the default catalog lives.
    pub out: PathBuf,
    /// Catalog URL; the embedded SQLite catalog in `out` when `None`.
    pub catalog: Option<String>,
    /// Tables as wide as their content: no eliding, dropping or stacking.
    pub wide: bool,
    /// `--s3-endpoint`, for outputs in an S3-compatible store.
    pub s3_endpoint: Option<String>,
}
