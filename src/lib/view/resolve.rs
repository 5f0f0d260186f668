//! Resolving a target and gathering what a request shows; the only part of `view`
//! that touches the catalog and the outputs.
//!
//! A target is resolved in this order:
//!
//! 1. an existing directory holding `report.json` (an output directory), also tried
//!    relative to `--out`;
//! 2. the catalog: a source path (as given, then absolute), a content-hash prefix of
//!    at least four hex digits, and for an existing file, the hash of its bytes.

use std::io;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use crate::catalog::{
    default_sqlite_url, redact_url, sqlite_file, Catalog, FileRecord, FileStatus, JobRecord,
    ListFilter, OutputsState,
};
use crate::error::{CatalogError, ExitCode, HarvestError};
use crate::model::layout::REPORT_FILE;
use crate::model::report::{Report, RunEntry};
use crate::model::schema::absent_columns;
use crate::parallel::in_pool;
use crate::storage::remote::{is_remote, ObjectStores, ObjectUrl, RemoteRoot, S3Settings};
use crate::text::printable_path;
use crate::view::fleet::{Fleet, Window};
use crate::view::options::{Request, ViewOptions};
use crate::view::plot::{run_tables, DrawError, PlotKind, Projection, RunSeries};
use crate::view::suggest::closest_matches;

/// Why nothing (or not everything) could be shown.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The target or a flag does not name anything that exists.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An output file could not be read.
    #[error("{}: {reason}", path.display())]
    Unreadable {
        path: PathBuf,
        reason: String,
        retryable: bool,
    },
    /// Outputs in an object store could not be fetched.
    #[error(transparent)]
    Remote(HarvestError),
    /// A page or chart file could not be created or written: a folder that cannot
    /// be made, a read-only or full file system.
    #[error("{}: cannot write: {source}", printable_path(path))]
    CantCreate {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A chart could not be drawn, or its PNG not written.
    #[error(transparent)]
    Draw(#[from] DrawError),
    /// Stdout refused the output for another reason than being closed.
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
    /// A harvest's run tables are not where they were written: superseded by a
    /// newer revision (removed on purpose) or deleted since. One line that says
    /// which, rather than the OS error of the first file missing.
    #[error("{0}")]
    OutputsGone(String),
}

impl ViewError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ViewError::Usage(_) => ExitCode::Usage,
            ViewError::Catalog(e) if e.is_retryable() => ExitCode::RetryLater,
            ViewError::Catalog(_) => ExitCode::Config,
            ViewError::Unreadable {
                retryable: true, ..
            } => ExitCode::RetryLater,
            ViewError::Unreadable {
                retryable: false, ..
            } => ExitCode::BadFile,
            ViewError::Remote(e) => e.exit_code(),
            ViewError::CantCreate { .. } | ViewError::Draw(DrawError::Write(_)) => {
                ExitCode::CantCreate
            }
            ViewError::Draw(DrawError::Backend(_)) => ExitCode::Internal,
            ViewError::Stdout(_) => ExitCode::RetryLater,
            ViewError::OutputsGone(_) => ExitCode::NoInput,
        }
    }

    /// An error rendering into `file`: a chart that could not be drawn (rendering
    /// carries it inside the I/O error), else a write that failed.
    pub(crate) fn from_render(e: io::Error, file: &Path) -> Self {
        if let Some(draw) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DrawError>())
        {
            return ViewError::Draw(draw.clone());
        }
        ViewError::CantCreate {
            path: file.to_path_buf(),
            source: e,
        }
    }

    fn io(path: &Path, e: io::Error) -> Self {
        let retryable = e.kind() != io::ErrorKind::NotFound;
        ViewError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
            retryable,
        }
    }
}

/// The data gathered for a request, ready to render.
#[derive(Debug)]
pub enum View {
    List {
        records: Vec<FileRecord>,
        filter: ListFilter,
        /// How many more files pass the filter than the limit let through.
        more: u64,
    },
    Report(Box<Resolved>),
    /// A catalog record without a usable report (claimed, failed, or outputs gone).
    Record {
        record: Box<FileRecord>,
        runs: Vec<RunEntry>,
    },
    RunRows {
        run_uuid: String,
        path: PathBuf,
        frame: DataFrame,
        total_rows: usize,
    },
    /// A harvested file with every run's series, for its HTML page.
    Page {
        resolved: Box<Resolved>,
        runs: Vec<RunSeries>,
    },
    /// The fleet per cell (or per cell and day, when `daily`).
    Fleet {
        fleet: Box<Fleet>,
        daily: bool,
    },
    /// The fleet, for its HTML page.
    FleetPage(Box<Fleet>),
    /// Harvest jobs, newest first.
    Jobs(Vec<JobRecord>),
    /// One run's series for one chart.
    Plot {
        series: Box<RunSeries>,
        kind: PlotKind,
        projection: Projection,
    },
}

/// A harvested file's report and where its outputs are.
#[derive(Debug)]
pub struct Resolved {
    pub report: Report,
    pub output_dir: Option<PathBuf>,
    pub record: Option<FileRecord>,
    /// Where outputs fetched from an object store are kept while they are shown.
    pub scratch: Option<tempfile::TempDir>,
    /// Why the catalog says its outputs may be absent, when it was asked.
    pub outputs_state: Option<OutputsState>,
}

/// The error of a request that needs outputs of the harvest of `source` that are
/// not in place (`missing`, the first one found absent): superseded on purpose, or
/// deleted since it was harvested, as `state` says.
fn outputs_gone(source: &str, state: Option<&OutputsState>, missing: &Path) -> ViewError {
    ViewError::OutputsGone(match state {
        Some(OutputsState::Superseded(by)) => format!(
            "{source}: superseded by a newer revision of its source ({}): its runs were removed from the dataset; view that one instead",
            by.get(..12).unwrap_or(by)
        ),
        Some(OutputsState::Missing { since }) => format!(
            "{source}: its outputs are missing (found gone at {since}, with no source left to rebuild them from); harvest its file again to rebuild them"
        ),
        _ => format!(
            "{source}: its outputs are missing ({} is gone); a rescan of its source rebuilds them",
            printable_path(missing)
        ),
    })
}

impl Resolved {
    /// The error of a request that needs outputs of this harvest that are not in
    /// place (`missing`, the first one found absent).
    fn outputs_gone(&self, missing: &Path) -> ViewError {
        outputs_gone(&self.report.source, self.outputs_state.as_ref(), missing)
    }

    /// [`Resolved::outputs_gone`] when the harvest is in the catalog and `e` is a
    /// file of its outputs that does not exist, else `e`.
    fn gone_or(&self, path: &Path, e: ViewError) -> ViewError {
        let absent = !path.exists() && (self.record.is_some() || self.outputs_state.is_some());
        if absent {
            self.outputs_gone(path)
        } else {
            e
        }
    }
}

/// Resolves the request and reads what it shows.
pub async fn gather(options: &ViewOptions) -> Result<View, ViewError> {
    match &options.request {
        Request::List { filter, limit } => {
            let catalog = open_catalog(options, None).await?;
            let listed = list(&catalog, filter, *limit).await;
            catalog.close().await;
            let (records, more) = listed?;
            Ok(View::List {
                records,
                filter: filter.clone(),
                more,
            })
        }
        Request::Fleet {
            filters,
            since,
            daily,
        } => Ok(View::Fleet {
            fleet: Box::new(fleet(options, since.as_deref(), filters).await?),
            daily: *daily,
        }),
        Request::FleetPage { filters, since, .. } => Ok(View::FleetPage(Box::new(
            fleet(options, since.as_deref(), filters).await?,
        ))),
        Request::Jobs { limit, since } => {
            let catalog = open_catalog(options, None).await?;
            let jobs = catalog.recent_jobs(*limit, since.as_deref()).await;
            catalog.close().await;
            Ok(View::Jobs(jobs?))
        }
        Request::Target { target } => resolve(options, target).await,
        Request::RunRows {
            target,
            run_uuid,
            head,
        } => run_rows(&harvested(options, target).await?, run_uuid, *head),
        Request::Page { target, .. } => {
            let resolved = harvested(options, target).await?;
            // Runs are read side by side: a page of a long shift reads gigabytes.
            let tables = run_tables(&resolved.report);
            let runs = in_pool(|| {
                tables
                    .par_iter()
                    .map(|(run, table)| read_series(&resolved, *run, table))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            Ok(View::Page {
                resolved: Box::new(resolved),
                runs,
            })
        }
        Request::Plot {
            target,
            kind,
            projection,
            run_uuid,
            robot,
            ..
        } => {
            let resolved = harvested(options, target).await?;
            let series = plot_series(&resolved, *kind, *projection, run_uuid.as_deref(), *robot)?;
            Ok(View::Plot {
                series: Box::new(series),
                kind: *kind,
                projection: *projection,
            })
        }
    }
}

/// The fleet over the window from `since`, of what carries every `filters`.
async fn fleet(
    options: &ViewOptions,
    since: Option<&str>,
    filters: &[(String, String)],
) -> Result<Fleet, ViewError> {
    // A window that holds no day is refused before any catalog is opened.
    let window = Window::new(since, chrono::Utc::now().date_naive()).map_err(ViewError::Usage)?;
    let catalog = open_catalog(options, None).await?;
    let fleet = Fleet::gather(&catalog, window, filters).await;
    catalog.close().await;
    Ok(fleet?)
}

/// The files that pass `filter`, newest first, at most `limit`, and how many more
/// there are (counted only when the limit was reached).
async fn list(
    catalog: &Catalog,
    filter: &ListFilter,
    limit: i64,
) -> Result<(Vec<FileRecord>, u64), ViewError> {
    let records = catalog.list_where(filter, limit).await?;
    let more = if records.len() as i64 >= limit {
        let total = catalog.count_where(filter).await?;
        u64::try_from(total - records.len() as i64).unwrap_or(0)
    } else {
        0
    };
    Ok((records, more))
}

/// The series of the run one chart shows. One rule for every kind of chart: a run
/// that must be chosen, a robot the run does not have, or a chart of something the
/// run (or that robot) has none of is a usage error that says what there is, never
/// an empty chart.
fn plot_series(
    resolved: &Resolved,
    kind: PlotKind,
    projection: Projection,
    run_uuid: Option<&str>,
    robot: Option<u8>,
) -> Result<RunSeries, ViewError> {
    let source = &resolved.report.source;
    let tables = run_tables(&resolved.report);
    let known: Vec<String> = tables.iter().map(|(r, _)| r.to_string()).collect();
    let (run, table) = match run_uuid {
        None if tables.len() == 1 => tables[0].clone(),
        None => {
            return Err(ViewError::Usage(format!(
                "{source} has {} runs: choose one with --run ({})",
                tables.len(),
                known.join(", ")
            )))
        }
        Some(id) => tables
            .iter()
            .find(|(r, _)| r.to_string() == id.trim())
            .cloned()
            .ok_or_else(|| {
                ViewError::Usage(format!(
                    "{source} has no run `{id}`; its runs: {}",
                    known.join(", ")
                ))
            })?,
    };
    let mut robots: Vec<u8> = resolved
        .report
        .runs
        .iter()
        .filter(|e| e.stats.run_uuid == run)
        .map(|e| e.stats.robot_id)
        .collect();
    robots.sort_unstable();
    robots.dedup();
    let robots_named = robots
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(" and ");
    let mut series = read_series(resolved, run, &table)?;
    if let Some(robot) = robot {
        if !robots.contains(&robot) {
            return Err(ViewError::Usage(format!(
                "--robot {robot}: run {run} has no robot {robot}; its robots: {robots_named}"
            )));
        }
        series = series.only_robot(robot);
    }
    if !series.has(kind, projection) {
        let whose = robot.map_or_else(
            || format!("run {run}"),
            |r| format!("robot {r} of run {run}"),
        );
        let plane = match (kind, projection) {
            (PlotKind::Path, Projection::Xy) => " in the X–Y plane",
            (PlotKind::Path, Projection::Xz) => " in the X–Z plane",
            _ => "",
        };
        return Err(ViewError::Usage(format!(
            "{whose} has no {}{plane} to draw (robots of the run: {robots_named})",
            kind.quantity()
        )));
    }
    Ok(series)
}

/// A target that must have been harvested, with its outputs where the catalog says.
async fn harvested(options: &ViewOptions, target: &str) -> Result<Resolved, ViewError> {
    let View::Report(resolved) = resolve(options, target).await? else {
        return Err(ViewError::Usage(format!(
            "`{target}` has not been harvested: it has no run tables"
        )));
    };
    Ok(*resolved)
}

/// Reads the series of one run from its table, named as the report names it.
fn read_series(resolved: &Resolved, run: u64, table: &str) -> Result<RunSeries, ViewError> {
    let Some(dir) = &resolved.output_dir else {
        if let Some(recorded) = resolved.record.as_ref().and_then(|r| r.output_dir.as_ref()) {
            return Err(resolved.outputs_gone(Path::new(recorded)));
        }
        return Err(ViewError::Usage(format!(
            "the outputs of {} are not where the catalog says; give the output directory instead",
            resolved.report.source
        )));
    };
    let path = beside(dir, table);
    RunSeries::read(&path, run).map_err(|e| {
        let error = ViewError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
            retryable: !path.exists(),
        };
        resolved.gone_or(&path, error)
    })
}

/// A file the report names relative to the output directory: one beside it (in the
/// dataset) is named from the output root.
fn beside(dir: &Path, relative: &str) -> PathBuf {
    match (relative.strip_prefix("../"), dir.parent()) {
        (Some(rest), Some(root)) => root.join(rest),
        _ => dir.join(relative),
    }
}

/// The catalog URL of these options (never shown unredacted).
fn catalog_url(options: &ViewOptions) -> String {
    options
        .catalog
        .clone()
        .unwrap_or_else(|| default_sqlite_url(&options.out))
}

fn harvest_first(options: &ViewOptions) -> String {
    let out = options.out.display();
    format!("harvest first: `harvest <files> --out {out}` (or `make pipe`), then `view --out {out} --list`")
}

/// Opens the catalog, refusing to create an SQLite catalog that does not exist yet
/// (`view` only reads; a missing catalog means nothing was harvested there).
async fn open_catalog(options: &ViewOptions, target: Option<&str>) -> Result<Catalog, ViewError> {
    if options.catalog.is_none() && is_remote(&options.out) {
        return Err(ViewError::Usage(format!(
            "--out {}: outputs in an object store are found through their PostgreSQL catalog: give --catalog postgres://… (or DATABASE_URL)",
            options.out.display()
        )));
    }
    let url = catalog_url(options);
    if let Some(file) = sqlite_file(&url) {
        if !file.exists() {
            let what = match target {
                Some(t) => format!(
                    "`{t}` is not a harvested output directory and there is no catalog at {}",
                    file.display()
                ),
                None => format!(
                    "nothing harvested yet: there is no catalog at {}",
                    file.display()
                ),
            };
            return Err(ViewError::Usage(format!(
                "{what}; {}",
                harvest_first(options)
            )));
        }
    }
    tracing::debug!(catalog = redact_url(&url), "opening the catalog");
    Ok(Catalog::open_read_only(&url).await?)
}

/// Whether `dir` is an output directory.
fn is_output_dir(dir: &Path) -> bool {
    dir.is_dir() && dir.join(REPORT_FILE).is_file()
}

/// Reads and parses an output directory's report.json.
pub fn read_report(dir: &Path) -> Result<Report, ViewError> {
    let path = dir.join(REPORT_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ViewError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ViewError::Unreadable {
        path,
        reason: format!("not a report this version can read: {e}"),
        retryable: false,
    })
}

async fn resolve(options: &ViewOptions, target: &str) -> Result<View, ViewError> {
    if target.trim().is_empty() {
        return Err(ViewError::Usage(
            "the target is empty: give an output directory, a source path or a content-hash prefix"
                .into(),
        ));
    }
    let as_path = Path::new(target);
    for dir in [
        Some(as_path.to_path_buf()),
        as_path.is_relative().then(|| options.out.join(as_path)),
    ]
    .into_iter()
    .flatten()
    {
        if is_output_dir(&dir) {
            let report = read_report(&dir)?;
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            return Ok(View::Report(Box::new(Resolved {
                report,
                output_dir: Some(dir),
                record: None,
                scratch: None,
                outputs_state: None,
            })));
        }
    }

    let catalog = open_catalog(options, Some(target)).await?;
    let found = find_record(&catalog, target).await;
    let view = match found {
        Ok(record) => view_of_record(&catalog, options, record).await,
        Err(e) => Err(e),
    };
    catalog.close().await;
    view
}

/// The one record `target` names, or a usage error that says what is close.
async fn find_record(catalog: &Catalog, target: &str) -> Result<FileRecord, ViewError> {
    let path = Path::new(target);
    let absolute = std::path::absolute(path)
        .ok()
        .map(|p| p.display().to_string());
    let mut records = catalog.find(target).await?;
    let mut names = vec![target.to_string()];
    if records.is_empty() {
        if let Some(abs) = absolute.as_ref().filter(|a| a.as_str() != target) {
            records = catalog.find(abs).await?;
            names.push(abs.clone());
        }
    }
    if records.is_empty() && path.is_file() {
        // Same content under a name the catalog has not seen (moved or copied).
        if let Some(hash) = hash_file(path) {
            records = catalog.find(&hash).await?;
        }
    }
    let by_path: Vec<&FileRecord> = records
        .iter()
        .filter(|r| {
            names
                .iter()
                .any(|n| r.source_path == *n || r.paths.contains(n))
        })
        .collect();
    if let Some(newest) = by_path.first() {
        if by_path.len() > 1 {
            tracing::info!(
                "{} contents were seen under {target}; showing the newest ({})",
                by_path.len(),
                newest.short_hash()
            );
        }
        return Ok((*newest).clone());
    }
    match records.len() {
        0 => {
            let suggestions = closest_matches(target, &catalog.list(None, 1000).await?);
            let mut message = format!("no harvested file matches `{target}`");
            if is_short_hex(target) {
                message.push_str(&format!(
                    " (a content-hash prefix needs at least {MIN_HASH_PREFIX} hex digits)"
                ));
            }
            if path.is_dir() {
                message.push_str(" (a directory without report.json is not an output directory)");
            }
            if suggestions.is_empty() {
                message.push_str("; see `view --list`");
            } else {
                message.push_str(&format!("; closest: {}", suggestions.join(", ")));
            }
            Err(ViewError::Usage(message))
        }
        1 => Ok(records.remove(0)),
        n => {
            let listed: Vec<String> = records
                .iter()
                .map(|r| format!("{} ({})", r.short_hash(), r.source_path))
                .collect();
            Err(ViewError::Usage(format!(
                "`{target}` matches {n} files: {}; give more hash digits",
                listed.join(", ")
            )))
        }
    }
}

/// Fewest hex digits a content-hash prefix may have.
pub const MIN_HASH_PREFIX: usize = 4;

/// `target` looks like a hash prefix too short to be one (`abc`).
fn is_short_hex(target: &str) -> bool {
    !target.is_empty()
        && target.len() < MIN_HASH_PREFIX
        && target.chars().all(|c| c.is_ascii_hexdigit())
}

/// BLAKE3 of a file's bytes, streamed; `None` if it cannot be read.
fn hash_file(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).ok()?;
    Some(hasher.finalize().to_hex().to_string())
}

async fn view_of_record(
    catalog: &Catalog,
    options: &ViewOptions,
    record: FileRecord,
) -> Result<View, ViewError> {
    if let Some(dir) = record
        .output_dir
        .clone()
        .filter(|d| is_remote(Path::new(d)))
    {
        if record.status == FileStatus::Harvested {
            return remote_report(catalog, options, record, &dir).await;
        }
    }
    // The outputs, where the catalog says, or under --out if they were moved with it.
    let output_dir = record
        .output_dir
        .as_ref()
        .map(PathBuf::from)
        .and_then(|dir| {
            if is_output_dir(&dir) {
                return Some(dir);
            }
            let moved = options.out.join(dir.file_name()?);
            is_output_dir(&moved).then_some(moved)
        })
        .map(|dir| std::path::absolute(&dir).unwrap_or(dir));
    if record.status == FileStatus::Harvested {
        let report = match catalog.report(&record.content_hash).await? {
            Some(report) => Some(report),
            None => output_dir.as_deref().map(read_report).transpose()?,
        };
        if let Some(report) = report {
            let outputs_state = Some(catalog.outputs_state(&record.content_hash).await?);
            return Ok(View::Report(Box::new(Resolved {
                report,
                output_dir,
                record: Some(record),
                scratch: None,
                outputs_state,
            })));
        }
    }
    let runs = catalog.run_stats(&record.content_hash).await?;
    Ok(View::Record {
        record: Box::new(record),
        runs,
    })
}

/// A harvest whose outputs are in an object store: its report from the catalog;
/// for a request that reads run tables, its output directory and tables fetched
/// into a scratch directory laid out as a local output root.
async fn remote_report(
    catalog: &Catalog,
    options: &ViewOptions,
    record: FileRecord,
    output_dir: &str,
) -> Result<View, ViewError> {
    let url = ObjectUrl::parse(output_dir).map_err(|reason| ViewError::Unreadable {
        path: PathBuf::from(output_dir),
        reason,
        retryable: false,
    })?;
    let (root, name) = url.split_last();
    let stores = ObjectStores::new(S3Settings {
        endpoint: options.s3_endpoint.clone(),
    });
    let shown_root = root.to_string();
    let remote = RemoteRoot::new(root, &stores).map_err(ViewError::Remote)?;
    let outputs_state = catalog.outputs_state(&record.content_hash).await?;
    // An object that is not there is an output gone, said as for a local one.
    let fetch_failed = |e: HarvestError, file: &str| {
        if e.exit_code() == ExitCode::NoInput {
            outputs_gone(
                &record.source_path,
                Some(&outputs_state),
                Path::new(&format!("{shown_root}/{file}")),
            )
        } else {
            ViewError::Remote(e)
        }
    };
    let scratch = tempfile::Builder::new()
        .prefix("view-")
        .tempdir()
        .map_err(|e| ViewError::io(&std::env::temp_dir(), e))?;
    let report = match catalog.report(&record.content_hash).await? {
        Some(report) => report,
        None => {
            let file = format!("{name}/{REPORT_FILE}");
            remote
                .download(std::slice::from_ref(&file), scratch.path())
                .await
                .map_err(|e| fetch_failed(e, &file))?;
            read_report(&scratch.path().join(&name))?
        }
    };
    let needs_tables = !matches!(
        options.request,
        Request::Target { .. } | Request::List { .. }
    );
    if needs_tables {
        let tables: Vec<String> = run_tables(&report)
            .into_iter()
            .map(|(_, table)| {
                table
                    .strip_prefix("../")
                    .map_or_else(|| format!("{name}/{table}"), str::to_string)
            })
            .collect();
        remote
            .download(&tables, scratch.path())
            .await
            .map_err(|e| fetch_failed(e, &tables.join(", ")))?;
    }
    Ok(View::Report(Box::new(Resolved {
        report,
        output_dir: Some(scratch.path().join(&name)),
        record: Some(record),
        scratch: Some(scratch),
        outputs_state: Some(outputs_state),
    })))
}

fn run_rows(resolved: &Resolved, run_uuid: &str, head: usize) -> Result<View, ViewError> {
    let report = &resolved.report;
    let known: Vec<String> = {
        let mut ids: Vec<String> = report.coverage.iter().map(|c| c.run_uuid.clone()).collect();
        ids.extend(report.runs.iter().map(|r| r.stats.run_uuid.to_string()));
        ids.sort_unstable_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        ids.dedup();
        ids
    };
    let id: u64 = match run_uuid.trim().parse::<u64>() {
        Ok(id) if known.contains(&id.to_string()) => id,
        _ => {
            return Err(ViewError::Usage(format!(
                "{} has no run `{run_uuid}`; its runs: {}",
                report.source,
                known.join(", ")
            )))
        }
    };
    let Some(dir) = &resolved.output_dir else {
        if let Some(recorded) = resolved.record.as_ref().and_then(|r| r.output_dir.as_ref()) {
            return Err(resolved.outputs_gone(Path::new(recorded)));
        }
        return Err(ViewError::Usage(format!(
            "the outputs of {} are not where the catalog says ({}); give the output directory instead",
            report.source,
            resolved.record.as_ref().and_then(|r| r.output_dir.as_deref()).unwrap_or("unknown")
        )));
    };
    // The report says where each run's table is (older layouts kept it inside the
    // output directory, newer ones in the dataset beside it).
    let Some(table) = report
        .runs
        .iter()
        .find(|r| r.stats.run_uuid == id)
        .map(|r| &r.table)
    else {
        return Err(ViewError::Usage(format!(
            "{} has no table for run {id}",
            report.source
        )));
    };
    let path = beside(dir, table);
    let file =
        std::fs::File::open(&path).map_err(|e| resolved.gone_or(&path, ViewError::io(&path, e)))?;
    let unreadable = |e: PolarsError| ViewError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
        retryable: false,
    };
    let mut reader = ParquetReader::new(file);
    let total_rows = reader.num_rows().map_err(unreadable)?;
    let frame = reader
        .with_slice(Some((0, head)))
        .finish()
        .map_err(unreadable)?;
    // The run id and labels are one value each, and the columns of the run's absent
    // channels are empty: the title and the report say as much.
    let missing: Vec<String> = report
        .coverage
        .iter()
        .find(|c| c.run_uuid == id.to_string())
        .map(|c| c.missing.clone())
        .unwrap_or_default();
    let empty = absent_columns(&missing);
    let shown: Vec<PlSmallStr> = frame
        .get_column_names()
        .into_iter()
        .filter(|name| {
            !matches!(name.as_str(), "run_uuid" | "labels")
                && !empty.iter().any(|e| e == name.as_str())
        })
        .cloned()
        .collect();
    let mut frame = frame.select(shown).map_err(unreadable)?;
    frame.rechunk_mut();
    Ok(View::RunRows {
        run_uuid: id.to_string(),
        path,
        frame,
        total_rows,
    })
}
