//! The harvest of one file, stage by stage:
//!
//! [`load`] → [`validate`] → [`runs`] (split by run and channel, conflicts resolved,
//! [`spikes`] set aside, derivatives from [`features`]) → [`align`] (each run's wide
//! table) → [`stats`] → [`report`] → [`store`].
//!
//! Takes a [`SourceFile`] (the bytes, already read and hashed), its labels and the
//! options; gives the output directory, in place, with its report and run
//! statistics, and the run's dataset files waiting to be published. Whether this
//! runs at all is the catalog's decision, carried out by [`crate::jobs`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::HarvestError;
use crate::model::labels::{Labels, CELL_LABEL};
use crate::model::layout::partition;
use crate::model::options::{Compression, Encoding};
use crate::model::readings::{ChannelSeries, RunId};
use crate::model::report::{Report, Revision, RunCoverage, Stage, StageTime};
use crate::model::run_stats::RunStats;
use crate::model::schema::Channel;
use crate::parallel::pool_threads;
use crate::storage::{Dataset, SourceFile, Staging};

pub mod align;
pub mod features;
mod float_statistics;
pub mod load;
pub mod report;
pub mod runs;
pub mod spikes;
mod split_pages;
pub mod stats;
pub mod store;
pub mod validate;

use align::AlignOptions;
use runs::{ChannelFindings, RunData, SplitOptions};

/// Where and how to harvest.
#[derive(Debug, Clone)]
pub struct HarvestOptions {
    pub out_root: PathBuf,
    pub align: AlignOptions,
    pub compression: Compression,
    /// Page encoding of the Parquet outputs' float and instant columns.
    pub encoding: Encoding,
    /// Keep isolated spikes in the outputs (they are listed either way).
    pub keep_spikes: bool,
}

/// A completed harvest: its output directory (already in place), its report, and
/// its dataset files (relative to the dataset), pending until published.
#[derive(Debug)]
pub struct Harvested {
    pub output_dir: PathBuf,
    pub report: Report,
    pub stats: Vec<RunStats>,
    pub dataset_files: Vec<String>,
}

/// The wall-clock time of each stage, in order.
struct Stopwatch(Vec<StageTime>, Instant);

impl Stopwatch {
    /// A stopwatch whose first stage is the reading (or fetching) of `source`,
    /// timed when its bytes were read.
    fn after_reading(source: &SourceFile) -> Stopwatch {
        let stage = if source.fetched {
            Stage::Fetch
        } else {
            Stage::Read
        };
        Stopwatch(
            vec![StageTime {
                stage,
                seconds: source.read_seconds,
            }],
            Instant::now(),
        )
    }

    fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        self.0.push(StageTime {
            stage,
            seconds: (now - self.1).as_secs_f64(),
        });
        self.1 = now;
    }
}

/// A harvest written in full but not yet in place: its staging directory, flushed
/// to disk, and what it holds. Dropped, it leaves nothing behind.
pub struct Written {
    staging: Staging,
    out_root: PathBuf,
    content_hash: String,
    report: Report,
    stats: Vec<RunStats>,
    dataset_files: Vec<String>,
}

impl Written {
    /// Moves the output directory into place and sets its dataset files aside as
    /// pending: quick, as the files are on disk already.
    pub fn commit(self) -> Result<Harvested, HarvestError> {
        let output_dir = self.staging.commit()?;
        Dataset::new(&self.out_root).stage(&output_dir, &self.content_hash)?;
        Ok(Harvested {
            output_dir,
            report: self.report,
            stats: self.stats,
            dataset_files: self.dataset_files,
        })
    }
}

/// Harvests one file into `options.out_root`, atomically: [`write`], then
/// [`Written::commit`].
pub fn harvest(
    source: &SourceFile,
    options: &HarvestOptions,
    supersedes: Option<Revision>,
    labels: &Labels,
) -> Result<Harvested, HarvestError> {
    write(source, options, supersedes, labels)?.commit()
}

/// Writes the harvest of one file below `options.out_root`, all but its move into
/// place, which is left to [`Written::commit`] so that a worker can first make sure
/// the file is still its own to harvest. `supersedes` is the earlier, shorter
/// revision of the file it extends, if the catalog knows one. `labels` go into the
/// dataset (not the output directory, whose files depend on the content alone but
/// for a run's cell, which a `cell` label gives when the log has none).
pub fn write(
    source: &SourceFile,
    options: &HarvestOptions,
    supersedes: Option<Revision>,
    labels: &Labels,
) -> Result<Written, HarvestError> {
    let started_at = chrono::Utc::now();
    let mut stopwatch = Stopwatch::after_reading(source);
    let mut split = split_runs(source, options, &mut stopwatch)?;
    let places = run_places(&split, labels);
    split.warnings.extend(cell_disagreement(&split, labels));
    let partitions = partitions(&places);
    let staging = store::start(&options.out_root, source, &partitions)?;
    let target = Target {
        staging: &staging,
        content_hash: &source.content_hash,
        labels,
        places: &places,
    };
    let per_run = harvest_runs(&split, options, &target, &source.path)?;
    stopwatch.lap(Stage::Runs);
    let Statistics {
        stats,
        coverage,
        dataset_files,
    } = write_statistics(&target, per_run, store::Format::of(options))?;
    stopwatch.lap(Stage::Statistics);
    let report = report::report(report::ReportInput {
        source,
        supersedes,
        align: options.align,
        compression: options.compression,
        encoding: options.encoding,
        started_at,
        rows: split.rows,
        warnings: split.warnings,
        findings: &split.findings,
        keep_spikes: options.keep_spikes,
        coverage,
        stats: &stats,
        stages: stopwatch.0,
    });
    store::write_report(&staging, &report)?;
    staging.flush()?;
    Ok(Written {
        staging,
        out_root: options.out_root.clone(),
        content_hash: source.content_hash.clone(),
        report,
        stats,
        dataset_files,
    })
}

/// The file's readings split by run and channel: loaded, validated and split, each
/// stage timed. A file without one valid reading is a bad file; a CSV harvested
/// without its last line end says so in the warnings.
fn split_runs(
    source: &SourceFile,
    options: &HarvestOptions,
    stopwatch: &mut Stopwatch,
) -> Result<runs::SplitLog, HarvestError> {
    let log = load::load_log(&source.path, &source.bytes)?;
    stopwatch.lap(Stage::Load);
    let valid = validate::validate(&source.path, &log)?;
    drop(log);
    stopwatch.lap(Stage::Validate);
    let mut split = runs::split(
        valid,
        SplitOptions {
            max_gap: options.align.max_gap,
            keep_spikes: options.keep_spikes,
        },
    );
    if split.readings.is_empty() {
        return Err(HarvestError::bad_file(
            &source.path,
            format!(
                "no valid readings: all {} rows were dropped",
                split.rows.read
            ),
        ));
    }
    if source.is_csv_without_line_end() {
        split.warnings.push(format!(
            "the file does not end with a line end, so its last line may be cut short; it was harvested because it stayed unchanged for {} x --settle",
            SourceFile::CSV_AT_REST_SETTLES
        ));
    }
    Ok(split)
}

/// The dataset partitions the runs go to, sorted, each once.
fn partitions(places: &BTreeMap<RunId, RunPlace>) -> Vec<String> {
    let mut all: Vec<String> = places.values().map(|p| p.partition.clone()).collect();
    all.sort();
    all.dedup();
    all
}

/// What the runs of a file gave, gathered.
struct Statistics {
    stats: Vec<RunStats>,
    coverage: Vec<RunCoverage>,
    /// The runs' tables, then the statistics files, relative to the dataset.
    dataset_files: Vec<String>,
}

/// Gathers what the runs gave and writes the run statistics: run_stats.parquet,
/// and the dataset's statistics file of each run (a file per run, as its table, so
/// that a run set aside for a copy elsewhere leaves the dataset whole).
fn write_statistics(
    target: &Target,
    per_run: Vec<RunOutcome>,
    format: store::Format,
) -> Result<Statistics, HarvestError> {
    let mut stats: Vec<RunStats> = Vec::new();
    let mut coverage: Vec<RunCoverage> = Vec::new();
    let mut dataset_files: Vec<String> = Vec::new();
    for (run_stats, run_coverage, table) in per_run {
        stats.extend(run_stats);
        coverage.push(run_coverage);
        dataset_files.push(table);
    }
    store::write_run_stats(target.staging, &stats, format)?;
    let mut runs: Vec<RunId> = stats.iter().map(|s| s.run_uuid).collect();
    runs.sort_unstable();
    runs.dedup();
    for run in runs {
        let of_run: Vec<&RunStats> = stats.iter().filter(|s| s.run_uuid == run).collect();
        dataset_files.push(store::write_dataset_run_stats(
            target.staging,
            target.content_hash,
            run,
            &target.places[&run].partition,
            target.labels,
            &of_run,
            format,
        )?);
    }
    Ok(Statistics {
        stats,
        coverage,
        dataset_files,
    })
}

/// Where a run goes in the dataset: its cell and its partition.
#[derive(Debug, Clone)]
struct RunPlace {
    cell: Option<String>,
    partition: String,
}

/// A warning when the log's `cell_id` column names other cells than the file's
/// `cell` label (a `cell=` folder or `--label cell=`): the column says where each
/// reading was made, so it files the runs; the label stays in their labels.
fn cell_disagreement(split: &runs::SplitLog, labels: &Labels) -> Option<String> {
    let label = labels.get(CELL_LABEL)?;
    let mut cells: Vec<&str> = split
        .cells
        .values()
        .map(String::as_str)
        .filter(|cell| *cell != label)
        .collect();
    cells.sort_unstable();
    cells.dedup();
    (!cells.is_empty()).then(|| {
        format!(
            "the log's cell_id column names cell {} but the file is labelled cell={label}: its runs are filed under the log's cell",
            cells.join(", ")
        )
    })
}

/// Each run's cell (the log's, else the file's `cell` label) and partition (that
/// cell and the UTC day of the run's first reading).
fn run_places(split: &runs::SplitLog, labels: &Labels) -> BTreeMap<RunId, RunPlace> {
    split
        .readings
        .iter()
        .map(|(run, channels)| {
            let cell = split
                .cells
                .get(run)
                .cloned()
                .or_else(|| labels.get(CELL_LABEL).map(str::to_string));
            let start = channels
                .values()
                .filter_map(|s| s.time.first().copied())
                .min()
                .unwrap_or_default();
            let partition = partition(cell.as_deref(), start);
            (*run, RunPlace { cell, partition })
        })
        .collect()
}

/// Where the runs' tables are written.
struct Target<'a> {
    staging: &'a Staging,
    content_hash: &'a str,
    labels: &'a Labels,
    places: &'a BTreeMap<RunId, RunPlace>,
}

/// What one run gives: its statistics, its coverage and its table.
type RunOutcome = (Vec<RunStats>, RunCoverage, String);

/// Harvests every run, in run order.
///
/// Runs are independent. Parquet encoding runs on the thread that writes, so one
/// worker per pool thread takes runs off a queue, largest first, and writes them side
/// by side; at most one row group of a wide table per worker is in memory at a time
/// ([`store::write_run_table`]). Workers are plain threads, not pool tasks, so a
/// worker waiting inside polars never nests another run on its stack, however many
/// runs a file holds.
fn harvest_runs(
    split: &runs::SplitLog,
    options: &HarvestOptions,
    target: &Target,
    source: &Path,
) -> Result<Vec<RunOutcome>, HarvestError> {
    let mut queue: Vec<(&RunId, &BTreeMap<Channel, ChannelSeries>)> =
        split.readings.iter().collect();
    queue.sort_by_key(|(_, channels)| {
        std::cmp::Reverse(channels.values().map(|s| s.len()).sum::<usize>())
    });
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(RunId, Result<RunOutcome, HarvestError>)>> = Mutex::new(Vec::new());
    let panicked = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..pool_threads().min(queue.len()))
            .map(|_| {
                scope.spawn(|| {
                    while let Some((run_uuid, channels)) =
                        queue.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let findings = split.findings.get(run_uuid);
                        let outcome = harvest_run(**run_uuid, channels, findings, options, target);
                        let failed = outcome.is_err();
                        results
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .push((**run_uuid, outcome));
                        if failed {
                            // Let the other workers stop early too.
                            next.store(queue.len(), Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| worker.join().err())
            .next()
    });
    if let Some(payload) = panicked {
        return Err(HarvestError::internal(
            source,
            format!("a run worker panicked: {}", panic_message(&payload)),
        ));
    }
    let mut results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(run_uuid, _)| *run_uuid);
    results.into_iter().map(|(_, r)| r).collect()
}

/// One run: derive, align, write its wide table, and summarise it.
fn harvest_run(
    run_uuid: RunId,
    channels: &BTreeMap<Channel, ChannelSeries>,
    findings: Option<&BTreeMap<Channel, ChannelFindings>>,
    options: &HarvestOptions,
    target: &Target,
) -> Result<RunOutcome, HarvestError> {
    let run = RunData::new(run_uuid, channels, findings, options.align.max_gap);
    let file = store::write_run_table(
        target.staging,
        target.content_hash,
        run_uuid,
        &target.places[&run_uuid].partition,
        target.labels,
        &align::WideTable::new(&run, options.align),
        store::Format::of(options),
    )?;
    let coverage = report::coverage(&run);
    let mut run_stats = stats::run_stats(&run);
    for s in &mut run_stats {
        s.cell = target.places[&run_uuid].cell.clone();
        stats::set_coverage(s, &coverage);
    }
    Ok((run_stats, coverage, file))
}

/// The message a panic carried, when it is text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
