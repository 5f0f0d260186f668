//! What `view` is asked: which request, in which format, against which catalog.

use std::path::{Component, Path, PathBuf};

use crate::catalog::ListFilter;
use crate::view::plot::{PlotKind, Projection};

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
    /// Every cell over a window of UTC days from `since` (`YYYY-MM-DD`; by default
    /// the last seven), of what carries every `key=value` of `filters`: one row per
    /// cell, or per cell and day when `daily`.
    Fleet {
        filters: Vec<(String, String)>,
        since: Option<String>,
        daily: bool,
    },
    /// The fleet as one self-contained HTML page: per-cell daily trend charts and
    /// the failed sources; written to `file`, or stdout.
    FleetPage {
        filters: Vec<(String, String)>,
        since: Option<String>,
        file: Option<PathBuf>,
    },
    /// The newest `limit` harvest jobs, of those started at or after `since`.
    Jobs { limit: usize, since: Option<String> },
    /// One chart, SVG or PNG by the extension of `file`.
    Plot {
        target: String,
        kind: PlotKind,
        /// The plane of a path chart.
        projection: Projection,
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

/// The longest name a file or folder may have on the file systems outputs go to
/// (NAME_MAX of ext4, XFS, btrfs, tmpfs): a longer one can never be created.
pub const NAME_MAX: usize = 255;

/// `--html FILE`: a file that can be created there, checked before anything is
/// read, so that a call that can never succeed is a usage error (64) rather than
/// a write that fails after the work is done.
pub fn parse_page_file(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if s.ends_with('/') || path.is_dir() {
        return Err(format!("`{s}` is a directory: name a file to write in it"));
    }
    if let Some(long) = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .find(|name| name.len() > NAME_MAX)
    {
        return Err(format!(
            "`{}…` is {} bytes long: a file or folder name has at most {NAME_MAX}",
            long.to_string_lossy().chars().take(40).collect::<String>(),
            long.len()
        ));
    }
    Ok(path)
}

/// `--plot … -o FILE`: a page file ([`parse_page_file`]) named `.svg` or `.png`,
/// which says how the chart is written.
pub fn parse_chart_file(s: &str) -> Result<PathBuf, String> {
    let path = parse_page_file(s)?;
    if chart_format(&path).is_none() {
        return Err(format!(
            "`{s}`: a chart is written as .svg or .png, by the file's extension"
        ));
    }
    Ok(path)
}

/// How a chart file is written, by its extension (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Svg,
    Png,
}

pub fn chart_format(path: &Path) -> Option<ChartFormat> {
    let extension = path.extension()?.to_string_lossy().to_ascii_lowercase();
    match extension.as_str() {
        "svg" => Some(ChartFormat::Svg),
        "png" => Some(ChartFormat::Png),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_files_are_checked_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().to_str().unwrap();
        assert!(parse_page_file(existing).is_err(), "an existing directory");
        assert!(parse_page_file("not-yet/").is_err(), "a trailing slash");
        let long = "a".repeat(NAME_MAX + 1);
        assert!(parse_page_file(&format!("{long}.html")).is_err());
        assert!(parse_page_file(&format!("{long}/page.html")).is_err());
        assert!(parse_page_file(&format!("{}.html", "a".repeat(NAME_MAX - 5))).is_ok());
        assert!(parse_page_file("charts/page.html").is_ok());

        assert_eq!(chart_format(Path::new("a/B.PNG")), Some(ChartFormat::Png));
        assert!(parse_chart_file("chart.svg").is_ok());
        let error = parse_chart_file("chart.txt").unwrap_err();
        assert!(error.contains(".svg or .png"), "{error}");
        assert!(parse_chart_file(existing).is_err());
    }
}
