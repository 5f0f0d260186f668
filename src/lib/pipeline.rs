//! The harvest of one file: load → validate → split runs → align and derive →
//! statistics → store. The catalog decides whether this runs at all; see `job`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use polars::prelude::*;

use crate::align::AlignOptions;
use crate::error::HarvestError;
use crate::load::{load_log, LogFormat};
use crate::report::{Report, RunEntry, StageTime};
use crate::runs::{pool_threads, RunCoverage, RunData};
use crate::schema::Channel;
use crate::schema::OUTPUT_SCHEMA_VERSION;
use crate::stats::{robot_stats, RobotStats};
use crate::store::{
    output_dir_name, run_table_path, Compression, Staging, REPORT_FILE, RUN_STATS_FILE,
};
use crate::validate::validate;
use crate::validate::{ChannelSeries, RunId};

/// A log file read whole into memory, with its identity.
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// BLAKE3 of `bytes`, hex.
    pub content_hash: String,
    /// Modification time seen before reading, to detect a file still being written.
    pub modified: Option<std::time::SystemTime>,
    pub read_seconds: f64,
}

impl SourceFile {
    /// Reads and hashes a file. A path that is not a regular file is a bad file;
    /// an I/O error is worth a retry.
    pub fn read(path: &Path) -> Result<SourceFile, HarvestError> {
        let started = Instant::now();
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HarvestError::bad_file(&path, "no such file"),
            _ => HarvestError::io(&path, "cannot read the file", e),
        })?;
        if !meta.is_file() {
            return Err(HarvestError::bad_file(&path, "not a regular file"));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| HarvestError::io(&path, "cannot read the file", e))?;
        let content_hash = blake3::hash(&bytes).to_hex().to_string();
        Ok(SourceFile {
            path,
            bytes,
            content_hash,
            modified: meta.modified().ok(),
            read_seconds: started.elapsed().as_secs_f64(),
        })
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The name of this file's output directory.
    pub fn output_name(&self) -> String {
        output_dir_name(&self.path, &self.content_hash)
    }
}

/// Where and how to harvest.
#[derive(Debug, Clone)]
pub struct HarvestOptions {
    pub out_root: PathBuf,
    pub align: AlignOptions,
    pub compression: Compression,
}

/// A completed harvest: its output directory (already in place) and its report.
#[derive(Debug)]
pub struct Harvested {
    pub output_dir: PathBuf,
    pub report: Report,
    pub stats: Vec<RobotStats>,
}

struct Stages(Vec<StageTime>, Instant);

impl Stages {
    fn lap(&mut self, stage: &str) {
        let now = Instant::now();
        self.0.push(StageTime {
            stage: stage.to_string(),
            seconds: (now - self.1).as_secs_f64(),
        });
        self.1 = now;
    }
}

/// Harvests one file into `options.out_root`, atomically.
pub fn harvest(source: &SourceFile, options: &HarvestOptions) -> Result<Harvested, HarvestError> {
    let started_at = chrono::Utc::now();
    let mut stages = Stages(
        vec![StageTime {
            stage: "read".into(),
            seconds: source.read_seconds,
        }],
        Instant::now(),
    );

    let log = load_log(&source.path, &source.bytes)?;
    stages.lap("load");
    let validated = validate(&source.path, &log)?;
    drop(log);
    stages.lap("validate");
    if validated.readings.is_empty() {
        return Err(HarvestError::bad_file(
            &source.path,
            format!(
                "no valid readings: all {} rows were dropped",
                validated.rows.read
            ),
        ));
    }

    let staging = Staging::create(&options.out_root, &source.output_name())?;
    // Runs are independent. Parquet encoding runs on the thread that writes, so
    // one worker per pool thread takes runs off a queue, largest first, and writes
    // them side by side; at most one wide table per worker is in memory at a time.
    // Workers are plain threads, not pool tasks, so a worker waiting inside polars
    // never nests another run on its stack, however many runs a file holds.
    let mut runs: Vec<(&RunId, &BTreeMap<Channel, ChannelSeries>)> =
        validated.readings.iter().collect();
    runs.sort_by_key(|(_, channels)| {
        std::cmp::Reverse(channels.values().map(|s| s.len()).sum::<usize>())
    });
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(RunId, Result<RunSummary, HarvestError>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..pool_threads().min(runs.len()) {
            scope.spawn(|| {
                while let Some((run_uuid, channels)) =
                    runs.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let outcome =
                        harvest_run(**run_uuid, channels, options, &staging, &source.path);
                    let failed = outcome.is_err();
                    results
                        .lock()
                        .expect("no worker panics holding the lock")
                        .push((**run_uuid, outcome));
                    if failed {
                        // Let the other workers stop early too.
                        next.store(runs.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers are done");
    results.sort_by_key(|(run_uuid, _)| *run_uuid);
    let per_run: Vec<RunSummary> = results
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Result<_, _>>()?;
    stages.lap("runs");

    let (stats, coverage): (Vec<Vec<RobotStats>>, Vec<RunCoverage>) = per_run.into_iter().unzip();
    let stats: Vec<RobotStats> = stats.into_iter().flatten().collect();
    let mut stats_frame = run_stats_frame(&stats).map_err(|e| {
        HarvestError::io(
            &source.path,
            "cannot build run statistics",
            std::io::Error::other(e.to_string()),
        )
    })?;
    staging.write_parquet(RUN_STATS_FILE, &mut stats_frame, options.compression)?;

    let mut warnings = validated.warnings;
    let max_gap_s = options.align.max_gap_ns as f64 * 1e-9;
    let sparse: usize = coverage
        .iter()
        .flat_map(|run| run.channels.values())
        .filter(|c| c.median_interval_s.is_some_and(|i| i > max_gap_s))
        .count();
    if sparse > 0 {
        warnings.push(format!(
            "{sparse} channel(s) are sampled less often than --max-gap ({max_gap_s} s): values between their readings and their derivatives are null; raise --max-gap to bridge them"
        ));
    }

    let format = LogFormat::from_extension(&source.path).map_or("unknown", LogFormat::name);
    let mut report = Report {
        output_schema_version: OUTPUT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: source.path.display().to_string(),
        size_bytes: source.size(),
        content_hash: source.content_hash.clone(),
        format: format.to_string(),
        started_at: wall_clock(started_at),
        finished_at: String::new(),
        alignment: options.align.alignment,
        max_gap_s,
        compression: options.compression,
        rows: validated.rows,
        warnings,
        coverage,
        runs: stats
            .iter()
            .map(|s| RunEntry::new(s, run_table_path(s.run_uuid)))
            .collect(),
        stages: Vec::new(),
    };
    stages.lap("statistics");
    report.stages = stages.0;
    report.finished_at = wall_clock(chrono::Utc::now());
    let json = serde_json::to_vec_pretty(&report).expect("reports serialize");
    staging.write_bytes(REPORT_FILE, &json)?;
    let output_dir = staging.commit()?;
    Ok(Harvested {
        output_dir,
        report,
        stats,
    })
}

/// A run's statistics per robot and its channel coverage.
type RunSummary = (Vec<RobotStats>, RunCoverage);

/// One run: derive, align, write its wide table, and summarise it.
fn harvest_run(
    run_uuid: RunId,
    channels: &BTreeMap<Channel, ChannelSeries>,
    options: &HarvestOptions,
    staging: &Staging,
    source: &Path,
) -> Result<RunSummary, HarvestError> {
    let run = RunData::new(run_uuid, channels, options.align.max_gap_ns);
    let mut table = run.wide_table(options.align).map_err(|e| {
        HarvestError::io(
            source,
            "cannot build a run table",
            std::io::Error::other(e.to_string()),
        )
    })?;
    staging.write_parquet(&run_table_path(run_uuid), &mut table, options.compression)?;
    Ok((robot_stats(&run), run.coverage()))
}

/// A wall-clock instant with millisecond precision, as the catalog records them.
fn wall_clock(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// run_stats.parquet: one row per run and robot; null where a quantity is not measurable.
fn run_stats_frame(stats: &[RobotStats]) -> PolarsResult<DataFrame> {
    let n = stats.len();
    let times = |f: fn(&RobotStats) -> i64, name: &str| {
        Int64Chunked::from_vec(name.into(), stats.iter().map(f).collect())
            .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
            .into_column()
    };
    let opt = |name: &str, f: &dyn Fn(&RobotStats) -> Option<f64>| {
        Float64Chunked::from_iter_options(name.into(), stats.iter().map(f)).into_column()
    };
    let count = |name: &str, f: fn(&RobotStats) -> u64| {
        UInt64Chunked::from_vec(name.into(), stats.iter().map(f).collect()).into_column()
    };
    let columns = vec![
        UInt64Chunked::from_vec(
            "run_uuid".into(),
            stats.iter().map(|s| s.run_uuid).collect(),
        )
        .into_column(),
        UInt8Chunked::from_vec(
            "robot_id".into(),
            stats.iter().map(|s| s.robot_id).collect(),
        )
        .into_column(),
        times(|s| s.start, "start"),
        times(|s| s.stop, "stop"),
        Float64Chunked::from_vec(
            "runtime_s".into(),
            stats.iter().map(|s| s.runtime_s).collect(),
        )
        .into_column(),
        opt("distance_mm", &|s| s.distance_mm),
        opt("speed_min_mm_s", &|s| s.speed_mm_s.map(|q| q.min)),
        opt("speed_mean_mm_s", &|s| s.speed_mm_s.map(|q| q.mean)),
        opt("speed_max_mm_s", &|s| s.speed_mm_s.map(|q| q.max)),
        opt("accel_min_mm_s2", &|s| s.accel_mm_s2.map(|q| q.min)),
        opt("accel_mean_mm_s2", &|s| s.accel_mm_s2.map(|q| q.mean)),
        opt("accel_max_mm_s2", &|s| s.accel_mm_s2.map(|q| q.max)),
        opt("force_min_n", &|s| s.force_n.map(|q| q.min)),
        opt("force_mean_n", &|s| s.force_n.map(|q| q.mean)),
        opt("force_max_n", &|s| s.force_n.map(|q| q.max)),
        count("rows", |s| s.rows),
        count("encoder_samples", |s| s.encoder_samples),
        count("load_cell_samples", |s| s.load_cell_samples),
    ];
    DataFrame::new(n, columns)
}
