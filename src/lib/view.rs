//! `view`: what was harvested, for people (tables) and scripts (JSON, CSV).
//!
//! A target is resolved in this order:
//!
//! 1. an existing directory holding `report.json` (an output directory), also tried
//!    relative to `--out`;
//! 2. the catalog: a source path (as given, then absolute), a content-hash prefix of
//!    at least four hex digits, and for an existing file, the hash of its bytes.
//!
//! Data is gathered first ([`gather`], the only part that touches the catalog), then
//! rendered to any writer ([`render`]), so a closed pipe or a full terminal never
//! leaves the catalog half-read, and rendering is testable without a catalog.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use comfy_table::{
    presets, Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table,
};
use polars::prelude::*;
use serde::Serialize;

use crate::catalog::{default_sqlite_url, redact_url, Catalog, CatalogError, FileRecord};
use crate::error::ExitCode;
use crate::report::{Report, RunEntry};
use crate::schema::Channel;
use crate::stats::Summary;
use crate::store::{run_table_path, REPORT_FILE};
use crate::timestamp::{format_utc, parse_iso8601, seconds_between};

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

/// Catalog status filter of `--list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Status {
    Claimed,
    Harvested,
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Claimed => "claimed",
            Status::Harvested => "harvested",
            Status::Failed => "failed",
        }
    }
}

/// What to show.
#[derive(Debug, Clone)]
pub enum Request {
    /// The catalog's files, newest first.
    List { status: Option<Status>, limit: i64 },
    /// The report of one harvested file.
    Target { target: String },
    /// The first `head` rows of one run's wide table.
    RunRows {
        target: String,
        run_uuid: String,
        head: usize,
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
}

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
        status: Option<Status>,
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
}

/// A harvested file's report and where its outputs are.
#[derive(Debug)]
pub struct Resolved {
    pub report: Report,
    pub output_dir: Option<PathBuf>,
    pub record: Option<FileRecord>,
}

/// How tables look: box drawing and bold headers on a terminal, plain ASCII otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// stdout is a terminal: fit its width.
    pub terminal: bool,
    /// Unicode borders and bold headers (a terminal without `NO_COLOR`).
    pub fancy: bool,
}

impl Style {
    /// Plain for pipes and files, and whenever `NO_COLOR` is set.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let terminal = io::stdout().is_terminal();
        Style {
            terminal,
            fancy: terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    pub fn plain() -> Style {
        Style {
            terminal: false,
            fancy: false,
        }
    }
}

/// Runs `view`: gathers, renders to stdout, and returns the exit code. Errors are
/// logged as one line on stderr. A closed stdout (`view … | head`) is a success.
pub async fn run(options: &ViewOptions) -> ExitCode {
    let view = match gather(options).await {
        Ok(view) => view,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit_code();
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written =
        render(&view, options.format, Style::detect(), &mut out).and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            tracing::error!("cannot write to stdout: {e}");
            ExitCode::RetryLater
        }
    }
}

// ---------------------------------------------------------------------------------
// Gathering

/// Resolves the request and reads what it shows.
pub async fn gather(options: &ViewOptions) -> Result<View, ViewError> {
    match &options.request {
        Request::List { status, limit } => {
            let catalog = open_catalog(options, None).await?;
            let records = catalog.list(status.map(Status::name), *limit).await;
            catalog.close().await;
            Ok(View::List {
                records: records?,
                status: *status,
            })
        }
        Request::Target { target } => resolve(options, target).await,
        Request::RunRows {
            target,
            run_uuid,
            head,
        } => {
            let View::Report(resolved) = resolve(options, target).await? else {
                return Err(ViewError::Usage(format!(
                    "`{target}` has not been harvested: it has no run tables"
                )));
            };
            run_rows(&resolved, run_uuid, *head)
        }
    }
}

/// The catalog URL of these options (never shown unredacted).
fn catalog_url(options: &ViewOptions) -> String {
    options
        .catalog
        .clone()
        .unwrap_or_else(|| default_sqlite_url(&options.out))
}

/// The file of an SQLite catalog URL, if it is one (not an in-memory database).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

fn harvest_first(options: &ViewOptions) -> String {
    let out = options.out.display();
    format!("harvest first: `harvest <files> --out {out}` (or `make pipe`), then `view --out {out} --list`")
}

/// Opens the catalog, refusing to create an SQLite catalog that does not exist yet
/// (`view` only reads; a missing catalog means nothing was harvested there).
async fn open_catalog(options: &ViewOptions, target: Option<&str>) -> Result<Catalog, ViewError> {
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
    Ok(Catalog::open(&url).await?)
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
                short_hash(&newest.content_hash)
            );
        }
        return Ok((*newest).clone());
    }
    match records.len() {
        0 => {
            let suggestions = closest_matches(target, &catalog.list(None, 1000).await?);
            let mut message = format!("no harvested file matches `{target}`");
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
                .map(|r| format!("{} ({})", short_hash(&r.content_hash), r.source_path))
                .collect();
            Err(ViewError::Usage(format!(
                "`{target}` matches {n} files: {}; give more hash digits",
                listed.join(", ")
            )))
        }
    }
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
    if record.status == "harvested" {
        let report = match catalog.report(&record.content_hash).await? {
            Some(report) => Some(report),
            None => output_dir.as_deref().map(read_report).transpose()?,
        };
        if let Some(report) = report {
            return Ok(View::Report(Box::new(Resolved {
                report,
                output_dir,
                record: Some(record),
            })));
        }
    }
    let runs = catalog.run_stats(&record.content_hash).await?;
    Ok(View::Record {
        record: Box::new(record),
        runs,
    })
}

fn run_rows(resolved: &Resolved, run_uuid: &str, head: usize) -> Result<View, ViewError> {
    let report = &resolved.report;
    let known: Vec<&str> = {
        let mut ids: Vec<&str> = report
            .coverage
            .iter()
            .map(|c| c.run_uuid.as_str())
            .collect();
        ids.extend(report.runs.iter().map(|r| r.run_uuid.as_str()));
        ids.sort_unstable_by_key(|id| (id.len(), *id));
        ids.dedup();
        ids
    };
    let id: u64 = match run_uuid.trim().parse::<u64>() {
        Ok(id) if known.contains(&id.to_string().as_str()) => id,
        _ => {
            return Err(ViewError::Usage(format!(
                "{} has no run `{run_uuid}`; its runs: {}",
                report.source,
                known.join(", ")
            )))
        }
    };
    let Some(dir) = &resolved.output_dir else {
        return Err(ViewError::Usage(format!(
            "the outputs of {} are not where the catalog says ({}); give the output directory instead",
            report.source,
            resolved.record.as_ref().and_then(|r| r.output_dir.as_deref()).unwrap_or("unknown")
        )));
    };
    let path = dir.join(run_table_path(id));
    let file = std::fs::File::open(&path).map_err(|e| ViewError::io(&path, e))?;
    let unreadable = |e: PolarsError| ViewError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
        retryable: false,
    };
    let mut reader = ParquetReader::new(file);
    let total_rows = reader.num_rows().map_err(unreadable)?;
    let mut frame = reader
        .with_slice(Some((0, head)))
        .finish()
        .map_err(unreadable)?;
    frame.rechunk_mut();
    Ok(View::RunRows {
        run_uuid: id.to_string(),
        path,
        frame,
        total_rows,
    })
}

/// Up to three known paths or hashes close to an unknown target.
pub fn closest_matches(target: &str, records: &[FileRecord]) -> Vec<String> {
    let target_lower = target.to_lowercase();
    let target_name = file_name(&target_lower);
    let is_hex = target.len() >= 4 && target.chars().all(|c| c.is_ascii_hexdigit());
    let mut scored: Vec<(usize, String)> = Vec::new();
    for record in records {
        let mut best = usize::MAX;
        if is_hex {
            let prefix: String = record.content_hash.chars().take(target.len()).collect();
            best = best.min(edit_distance(&target_lower, &prefix));
        }
        for path in std::iter::once(&record.source_path).chain(&record.paths) {
            let lower = path.to_lowercase();
            let name = file_name(&lower);
            let d = if lower.contains(&target_lower)
                || (!target_name.is_empty() && name.contains(target_name))
            {
                0
            } else {
                edit_distance(target_name, name)
            };
            best = best.min(d);
        }
        let limit = (target_name.chars().count().max(target.len().min(12)) / 3).max(2);
        if best <= limit {
            let label = format!(
                "{} ({})",
                record.source_path,
                short_hash(&record.content_hash)
            );
            scored.push((best, label));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, label)| label).collect()
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Levenshtein distance over characters (inputs capped at 256 characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

// ---------------------------------------------------------------------------------
// Rendering

/// Writes a view in the requested format.
pub fn render(view: &View, format: Format, style: Style, out: &mut dyn Write) -> io::Result<()> {
    match (view, format) {
        (View::List { records, status }, Format::Table) => list_table(records, *status, style, out),
        (View::List { records, .. }, Format::Json) => json(out, records),
        (View::List { records, .. }, Format::Csv) => list_csv(records, out),
        (View::Report(r), Format::Table) => report_tables(r, style, out),
        (View::Report(r), Format::Json) => {
            let output_dir = r.output_dir.as_ref().map(|d| d.display().to_string());
            json(
                out,
                &ReportJson {
                    report: &r.report,
                    output_dir,
                    status: r.record.as_ref().map(|r| r.status.as_str()),
                },
            )
        }
        (View::Report(r), Format::Csv) => stats_csv(&r.report.runs, out),
        (View::Record { record, runs }, Format::Table) => record_tables(record, runs, style, out),
        (View::Record { record, runs }, Format::Json) => json(
            out,
            &RecordJson {
                record,
                run_stats: runs,
            },
        ),
        (View::Record { runs, .. }, Format::Csv) => stats_csv(runs, out),
        (View::RunRows { frame, .. }, Format::Table) => rows_table(view, frame, style, out),
        (View::RunRows { frame, .. }, Format::Json) => rows_json(frame, out),
        (View::RunRows { frame, .. }, Format::Csv) => rows_csv(frame, out),
    }
}

/// `view --format json` of a report: report.json's keys, plus where the outputs are.
#[derive(Serialize)]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a Report,
    output_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

#[derive(Serialize)]
struct RecordJson<'a> {
    #[serde(flatten)]
    record: &'a FileRecord,
    run_stats: &'a [RunEntry],
}

fn json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

fn table(style: Style, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(if style.fancy {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_MARKDOWN
    });
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if !style.terminal {
        t.force_no_tty();
    }
    if !header.is_empty() {
        let cells = header.iter().map(|h| {
            let cell = Cell::new(h);
            if style.fancy {
                cell.add_attribute(Attribute::Bold)
            } else {
                cell
            }
        });
        t.set_header(cells.collect::<Vec<_>>());
    }
    t
}

/// Right-aligns the given columns (numbers).
fn align_right(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Keeps the given columns (ids, times) on one line; the others wrap to fit the terminal.
fn no_wrap(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

fn heading(out: &mut dyn Write, style: Style, title: &str) -> io::Result<()> {
    if style.fancy {
        writeln!(out, "\x1b[1m{title}\x1b[0m")
    } else {
        writeln!(out, "{title}")
    }
}

fn print_table(out: &mut dyn Write, t: &Table) -> io::Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `1234567.891` with 1 decimal → `1,234,567.9`.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v);
    let (sign, s) = s
        .strip_prefix('-')
        .map_or(("", s.as_str()), |rest| ("-", rest));
    let (int, frac) = s.split_once('.').map_or((s, None), |(i, f)| (i, Some(f)));
    let mut grouped = group_digits(int);
    if let Some(f) = frac {
        grouped.push('.');
        grouped.push_str(f);
    }
    // -0.0 rounds to "-0.0": show it as 0.
    if sign == "-" && grouped.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// `1234567` → `1,234,567`.
pub fn count(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let grouped = group_digits(&n.unsigned_abs().to_string());
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{} %", number(100.0 * part / whole, 1))
    } else {
        "n/a".into()
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{} B", count(n))
    } else {
        format!("{} {unit} ({} bytes)", number(v, 1), count(n))
    }
}

fn opt_number(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| number(v, decimals))
}

fn min_mean_max(s: Option<Summary>, decimals: usize, separator: &str) -> String {
    s.map_or_else(
        || "n/a".into(),
        |s| {
            [s.min, s.mean, s.max]
                .map(|v| number(v, decimals))
                .join(separator)
        },
    )
}

/// A table that fits the terminal: built wide, and built again `narrow` (cells on
/// several lines: dates above times, min/mean/max stacked) when the wide one would
/// have to wrap inside numbers and times.
fn fitted(style: Style, build: impl Fn(bool) -> Table) -> Table {
    let wide = build(false);
    match wide.width() {
        Some(width) if style.terminal && natural_width(&wide) > usize::from(width) => build(true),
        _ => wide,
    }
}

/// An ISO time on one line, or as date over time.
fn iso_cell(iso: &str, narrow: bool) -> String {
    if narrow {
        iso.replacen('T', "\n", 1)
    } else {
        iso.to_string()
    }
}

/// An ISO 8601 time as the catalog writes them (milliseconds), or as given.
fn to_millis(iso: &str) -> String {
    parse_iso8601(iso).map_or_else(
        || iso.to_string(),
        |ns| format_utc(ns - ns.rem_euclid(1_000_000)),
    )
}

/// Seconds the harvest took: the sum of its stages, or finished − started.
pub fn harvest_seconds(report: &Report) -> Option<f64> {
    if !report.stages.is_empty() {
        return Some(report.stages.iter().map(|s| s.seconds).sum());
    }
    let (start, stop) = (
        parse_iso8601(&report.started_at)?,
        parse_iso8601(&report.finished_at)?,
    );
    Some(seconds_between(start, stop))
}

fn key_values(out: &mut dyn Write, style: Style, rows: Vec<(&str, String)>) -> io::Result<()> {
    let mut t = table(style, &[]);
    for (k, v) in rows {
        t.add_row(vec![Cell::new(k), Cell::new(v)]);
    }
    print_table(out, &t)
}

fn report_tables(resolved: &Resolved, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let r = &resolved.report;
    heading(out, style, "Summary")?;
    let mut summary = vec![("source", r.source.clone())];
    if let Some(record) = &resolved.record {
        summary.push(("status", record.status.clone()));
        if record.paths.len() > 1 {
            summary.push((
                "also seen as",
                record
                    .paths
                    .iter()
                    .filter(|p| **p != r.source)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    summary.extend([
        ("size", bytes(r.size_bytes)),
        ("content hash", r.content_hash.clone()),
        ("format", r.format.clone()),
    ]);
    if let Some(dir) = &resolved.output_dir {
        summary.push(("output", dir.display().to_string()));
    }
    summary.extend([
        ("harvested at", to_millis(&r.finished_at)),
        (
            "tool version",
            format!(
                "{} (output schema {})",
                r.tool_version, r.output_schema_version
            ),
        ),
        (
            "alignment",
            format!(
                "{} (max gap {} s)",
                alignment_name(r),
                number(r.max_gap_s, 3)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
            ),
        ),
        ("compression", r.compression.to_string()),
        (
            "duration",
            harvest_seconds(r).map_or_else(|| "n/a".into(), |s| format!("{} s", number(s, 2))),
        ),
    ]);
    key_values(out, style, summary)?;

    writeln!(out)?;
    heading(out, style, "Data quality")?;
    let rows = &r.rows;
    let dropped = rows.dropped_total();
    key_values(
        out,
        style,
        vec![
            ("rows read", count(rows.read)),
            (
                "rows kept",
                format!(
                    "{} ({})",
                    count(rows.kept),
                    percent(rows.kept as f64, rows.read as f64)
                ),
            ),
            (
                "rows dropped",
                format!(
                    "{} ({})",
                    count(dropped),
                    percent(dropped as f64, rows.read as f64)
                ),
            ),
        ],
    )?;
    let reasons: Vec<_> = rows.dropped.iter().filter(|(_, n)| **n > 0).collect();
    if !reasons.is_empty() {
        writeln!(out)?;
        let mut t = table(style, &["dropped: reason", "rows", "share of read"]);
        for (reason, n) in reasons {
            t.add_row(vec![
                reason.name().to_string(),
                count(*n),
                format!(
                    "{} %",
                    number(100.0 * *n as f64 / rows.read.max(1) as f64, 2)
                ),
            ]);
        }
        align_right(&mut t, [1, 2]);
        print_table(out, &t)?;
    }

    writeln!(out)?;
    if r.warnings.is_empty() {
        writeln!(out, "Warnings: none")?;
    } else {
        heading(out, style, &format!("Warnings ({})", r.warnings.len()))?;
        for w in &r.warnings {
            writeln!(out, "- {w}")?;
        }
    }

    writeln!(out)?;
    heading(out, style, "Channel coverage")?;
    let mut t = table(
        style,
        &[
            "run_uuid",
            "channel",
            "samples",
            "coverage (%)",
            "first (UTC)",
            "last (UTC)",
        ],
    );
    let order: Vec<String> = Channel::all().into_iter().map(Channel::column).collect();
    let rank = |name: &str| order.iter().position(|c| c == name).unwrap_or(order.len());
    for run in &r.coverage {
        let mut channels: Vec<_> = run.channels.iter().collect();
        channels.sort_by_key(|(name, _)| (rank(name), name.as_str()));
        for (i, (channel, c)) in channels.into_iter().enumerate() {
            let id = if i == 0 {
                run.run_uuid.clone()
            } else {
                String::new()
            };
            t.add_row(vec![
                id,
                channel.clone(),
                count(c.samples),
                number(100.0 * c.coverage, 1),
                c.start.clone(),
                c.stop.clone(),
            ]);
        }
    }
    align_right(&mut t, [2, 3]);
    print_table(out, &t)?;
    let missing: Vec<_> = r
        .coverage
        .iter()
        .filter(|c| !c.missing.is_empty())
        .collect();
    writeln!(out)?;
    if missing.is_empty() {
        writeln!(out, "Missing channels: none")?;
    } else {
        heading(out, style, "Missing channels")?;
        let mut t = table(style, &["run_uuid", "missing"]);
        for run in missing {
            t.add_row(vec![run.run_uuid.clone(), run.missing.join(" ")]);
        }
        print_table(out, &t)?;
    }

    writeln!(out)?;
    heading(out, style, "Run statistics")?;
    stats_table(&r.runs, style, out)
}

fn alignment_name(r: &Report) -> String {
    serde_json::to_value(r.alignment)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

const STATS_HEADER: [&str; 9] = [
    "run_uuid",
    "robot",
    "start (UTC)",
    "stop (UTC)",
    "runtime (s)",
    "distance (mm)",
    "speed min/mean/max (mm/s)",
    "accel min/mean/max (mm/s²)",
    "force min/mean/max (N)",
];

fn stats_table(runs: &[RunEntry], style: Style, out: &mut dyn Write) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no run statistics");
    }
    let t = fitted(style, |narrow| {
        let separator = if narrow { "\n" } else { " / " };
        let header = STATS_HEADER.map(|h| {
            if narrow {
                h.replacen(" min/", "\nmin/", 1)
            } else {
                h.to_string()
            }
        });
        let mut t = table(style, &header.each_ref().map(String::as_str));
        for e in runs {
            t.add_row(vec![
                e.run_uuid.clone(),
                e.robot_id.to_string(),
                iso_cell(&e.start, narrow),
                iso_cell(&e.stop, narrow),
                number(e.runtime_s, 2),
                opt_number(e.distance_mm, 1),
                min_mean_max(e.speed_mm_s, 2, separator),
                min_mean_max(e.accel_mm_s2, 1, separator),
                min_mean_max(e.force_n, 2, separator),
            ]);
        }
        align_right(&mut t, [1, 4, 5, 6, 7, 8]);
        no_wrap(&mut t, [0, 1, 2, 3]);
        t
    });
    print_table(out, &t)
}

fn record_tables(
    record: &FileRecord,
    runs: &[RunEntry],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    heading(out, style, "Summary")?;
    let mut rows = vec![
        ("source", record.source_path.clone()),
        ("status", record.status.clone()),
        ("attempts", record.attempts.to_string()),
        ("size", bytes(record.size_bytes.max(0) as u64)),
        ("content hash", record.content_hash.clone()),
    ];
    let optional = [
        ("last error", record.last_error.clone()),
        ("started at", record.started_at.clone()),
        ("finished at", record.finished_at.clone()),
        ("tool version", record.tool_version.clone()),
        ("output", record.output_dir.clone()),
        ("rows read", record.rows_read.map(count)),
        ("rows kept", record.rows_kept.map(count)),
    ];
    rows.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    rows.push(("updated", record.updated_at.clone()));
    key_values(out, style, rows)?;
    if record.status == "harvested" {
        writeln!(
            out,
            "(the report is missing from the catalog and the output directory)"
        )?;
    }
    if !runs.is_empty() {
        writeln!(out)?;
        heading(out, style, "Run statistics")?;
        stats_table(runs, style, out)?;
    }
    Ok(())
}

fn list_table(
    records: &[FileRecord],
    status: Option<Status>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    if records.is_empty() {
        return match status {
            Some(s) => writeln!(out, "no {} files in the catalog", s.name()),
            None => writeln!(
                out,
                "the catalog is empty: harvest first with `harvest <files> --out DIR`"
            ),
        };
    }
    let header = [
        "status",
        "hash",
        "runs",
        "rows read",
        "rows kept",
        "updated (UTC)",
        "source",
        "last error",
    ];
    let opt = |v: Option<i64>| v.map(count).unwrap_or_default();
    let t = fitted(style, |narrow| {
        let mut t = table(style, &header);
        for r in records {
            t.add_row(vec![
                r.status.clone(),
                short_hash(&r.content_hash).to_string(),
                opt(r.runs),
                opt(r.rows_read),
                opt(r.rows_kept),
                iso_cell(&r.updated_at, narrow),
                r.source_path.clone(),
                r.last_error.clone().unwrap_or_default(),
            ]);
        }
        align_right(&mut t, [2, 3, 4]);
        no_wrap(&mut t, [0, 1, 2, 3, 4, 5]);
        t
    });
    print_table(out, &t)
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", line.join(","))
}

fn csv_opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Column names of the run statistics, as in run_stats.parquet.
pub const STATS_CSV_HEADER: [&str; 18] = [
    "run_uuid",
    "robot_id",
    "start",
    "stop",
    "runtime_s",
    "distance_mm",
    "speed_min_mm_s",
    "speed_mean_mm_s",
    "speed_max_mm_s",
    "accel_min_mm_s2",
    "accel_mean_mm_s2",
    "accel_max_mm_s2",
    "force_min_n",
    "force_mean_n",
    "force_max_n",
    "rows",
    "encoder_samples",
    "load_cell_samples",
];

fn stats_csv(runs: &[RunEntry], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", STATS_CSV_HEADER.join(","))?;
    for e in runs {
        let part = |s: Option<Summary>, f: fn(Summary) -> f64| csv_opt(s.map(f));
        csv_row(
            out,
            &[
                e.run_uuid.clone(),
                e.robot_id.to_string(),
                e.start.clone(),
                e.stop.clone(),
                e.runtime_s.to_string(),
                csv_opt(e.distance_mm),
                part(e.speed_mm_s, |s| s.min),
                part(e.speed_mm_s, |s| s.mean),
                part(e.speed_mm_s, |s| s.max),
                part(e.accel_mm_s2, |s| s.min),
                part(e.accel_mm_s2, |s| s.mean),
                part(e.accel_mm_s2, |s| s.max),
                part(e.force_n, |s| s.min),
                part(e.force_n, |s| s.mean),
                part(e.force_n, |s| s.max),
                e.rows.to_string(),
                e.encoder_samples.to_string(),
                e.load_cell_samples.to_string(),
            ],
        )?;
    }
    Ok(())
}

fn list_csv(records: &[FileRecord], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "content_hash,source_path,size_bytes,status,attempts,runs,rows_read,rows_kept,started_at,finished_at,updated_at,tool_version,output_schema_version,output_dir,last_error"
    )?;
    for r in records {
        csv_row(
            out,
            &[
                r.content_hash.clone(),
                r.source_path.clone(),
                r.size_bytes.to_string(),
                r.status.clone(),
                r.attempts.to_string(),
                csv_opt(r.runs),
                csv_opt(r.rows_read),
                csv_opt(r.rows_kept),
                csv_opt(r.started_at.as_ref()),
                csv_opt(r.finished_at.as_ref()),
                r.updated_at.clone(),
                csv_opt(r.tool_version.as_ref()),
                csv_opt(r.output_schema_version),
                csv_opt(r.output_dir.as_ref()),
                csv_opt(r.last_error.as_ref()),
            ],
        )?;
    }
    Ok(())
}

/// One value of a run table.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Time(i64),
    Float(f64),
    Int(i128),
    Text(String),
}

impl Value {
    fn of(av: AnyValue) -> Value {
        let ns = |v: i64, unit: TimeUnit| match unit {
            TimeUnit::Nanoseconds => v,
            TimeUnit::Microseconds => v.saturating_mul(1_000),
            TimeUnit::Milliseconds => v.saturating_mul(1_000_000),
        };
        match av {
            AnyValue::Null => Value::Null,
            AnyValue::Datetime(v, unit, _) => Value::Time(ns(v, unit)),
            AnyValue::DatetimeOwned(v, unit, _) => Value::Time(ns(v, unit)),
            AnyValue::Float64(v) => Value::Float(v),
            AnyValue::Float32(v) => Value::Float(v as f64),
            AnyValue::String(s) => Value::Text(s.to_string()),
            AnyValue::StringOwned(s) => Value::Text(s.to_string()),
            other if other.dtype().is_integer() => {
                match (other.extract::<i64>(), other.extract::<u64>()) {
                    (Some(v), _) => Value::Int(v as i128),
                    (None, Some(v)) => Value::Int(v as i128),
                    _ => Value::Text(other.to_string()),
                }
            }
            other => Value::Text(other.to_string()),
        }
    }

    /// As shown in a table: floats to 3 decimals, nulls blank.
    fn table(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Time(ns) => format_utc(*ns),
            Value::Float(v) if v.is_nan() => String::new(),
            Value::Float(v) => number(*v, 3),
            Value::Int(v) => v.to_string(),
            Value::Text(s) => s.clone(),
        }
    }

    /// As written in CSV: full precision, nulls empty.
    fn csv(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Time(ns) => format_utc(*ns),
            Value::Float(v) if v.is_nan() => String::new(),
            Value::Float(v) => v.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Text(s) => s.clone(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Time(ns) => format_utc(*ns).into(),
            Value::Float(v) => serde_json::Number::from_f64(*v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Int(v) => match (i64::try_from(*v), u64::try_from(*v)) {
                (Ok(i), _) => i.into(),
                (_, Ok(u)) => u.into(),
                _ => v.to_string().into(),
            },
            Value::Text(s) => s.clone().into(),
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Value::Float(_) | Value::Int(_))
    }
}

/// The frame's rows as values (the frame holds at most `--head` rows).
fn frame_rows(frame: &DataFrame) -> Vec<Vec<Value>> {
    let columns = frame.columns();
    (0..frame.height())
        .map(|i| {
            columns
                .iter()
                .map(|c| c.get(i).map_or(Value::Null, Value::of))
                .collect()
        })
        .collect()
}

fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

fn rows_table(view: &View, frame: &DataFrame, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let View::RunRows {
        run_uuid,
        path,
        total_rows,
        ..
    } = view
    else {
        return Ok(());
    };
    let names: Vec<String> = column_names(frame)
        .into_iter()
        .map(|n| {
            if n == "time" {
                "time (UTC)".to_string()
            } else {
                n
            }
        })
        .collect();
    let rows = frame_rows(frame);
    let numeric: Vec<usize> = (0..names.len())
        .filter(|&i| rows.iter().any(|r| r[i].is_number()))
        .collect();
    let mut t = table(style, &names.iter().map(String::as_str).collect::<Vec<_>>());
    for row in &rows {
        t.add_row(row.iter().map(Value::table).collect::<Vec<_>>());
    }
    align_right(&mut t, numeric.iter().copied());
    heading(
        out,
        style,
        &format!(
            "Run {run_uuid}: first {} of {} rows ({})",
            count(rows.len() as u64),
            count(*total_rows as u64),
            path.display()
        ),
    )?;
    // Too wide for the terminal: one line per column instead of wrapping every
    // number digit by digit (like psql's expanded display).
    if let Some(width) = t.width().filter(|_| style.terminal) {
        if natural_width(&t) > usize::from(width) {
            let mut header = vec!["column".to_string()];
            header.extend((1..=rows.len()).map(|i| format!("row {i}")));
            let mut tt = table(
                style,
                &header.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            for (i, name) in names.iter().enumerate() {
                let mut line = vec![name.clone()];
                line.extend(rows.iter().map(|r| r[i].table()));
                tt.add_row(line);
            }
            align_right(&mut tt, 1..=rows.len());
            no_wrap(&mut tt, [0]);
            return print_table(out, &tt);
        }
    }
    print_table(out, &t)
}

/// Width of a table whose cells are not wrapped: content, padding and borders.
fn natural_width(t: &Table) -> usize {
    let widths = t.column_max_content_widths();
    widths.iter().map(|w| usize::from(*w) + 2).sum::<usize>() + widths.len() + 1
}

fn rows_csv(frame: &DataFrame, out: &mut dyn Write) -> io::Result<()> {
    csv_row(out, &column_names(frame))?;
    for row in frame_rows(frame) {
        csv_row(out, &row.iter().map(Value::csv).collect::<Vec<_>>())?;
    }
    Ok(())
}

/// An array of objects, keys in column order (one object per line).
fn rows_json(frame: &DataFrame, out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<String> = column_names(frame)
        .iter()
        .map(|n| serde_json::Value::from(n.as_str()).to_string())
        .collect();
    let rows = frame_rows(frame);
    writeln!(out, "[")?;
    for (i, row) in rows.iter().enumerate() {
        let fields: Vec<String> = keys
            .iter()
            .zip(row)
            .map(|(k, v)| format!("{k}: {}", v.json()))
            .collect();
        let comma = if i + 1 < rows.len() { "," } else { "" };
        writeln!(out, "  {{{}}}{comma}", fields.join(", "))?;
    }
    writeln!(out, "]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(number(1234567.891, 1), "1,234,567.9");
        assert_eq!(number(-1234.5, 0), "-1,234");
        assert_eq!(number(999.999, 2), "1,000.00");
        assert_eq!(number(-0.0001, 2), "0.00");
        assert_eq!(number(12.0, 3), "12.000");
        assert_eq!(count(0u64), "0");
        assert_eq!(count(1000u64), "1,000");
        assert_eq!(count(-1234567i64), "-1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB (1,536 bytes)");
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://out/catalog.db"),
            Some(PathBuf::from("out/catalog.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///abs/c.db?mode=ro"),
            Some(PathBuf::from("/abs/c.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u:p@h/db"), None);
    }

    fn record(hash: &str, path: &str) -> FileRecord {
        FileRecord {
            content_hash: hash.into(),
            source_path: path.into(),
            size_bytes: 1,
            status: "harvested".into(),
            attempts: 1,
            last_error: None,
            started_at: None,
            finished_at: None,
            tool_version: None,
            output_schema_version: None,
            output_dir: None,
            rows_read: None,
            rows_kept: None,
            runs: None,
            updated_at: String::new(),
            paths: vec![path.into()],
        }
    }

    #[test]
    fn close_matches_are_suggested() {
        let records = [
            record("abcdef0123456789", "/in/cell_a.parquet"),
            record("0123456789abcdef", "/in/other.csv"),
        ];
        let s = closest_matches("cell_a.parqet", &records);
        assert_eq!(s, vec!["/in/cell_a.parquet (abcdef012345)".to_string()]);
        let s = closest_matches("abcdee", &records);
        assert_eq!(s, vec!["/in/cell_a.parquet (abcdef012345)".to_string()]);
        assert!(closest_matches("completely-unrelated-name.txt", &records).is_empty());
    }
}
