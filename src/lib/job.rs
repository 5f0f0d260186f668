//! A harvest job: claim in the catalog, harvest, record the result; for one file or
//! many. This is where the exactly-once protocol of [`crate::catalog`] is carried out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, CatalogError, ClaimOutcome, ClaimPolicy};
use crate::error::{ExitCode, HarvestError};
use crate::load::LogFormat;
use crate::pipeline::{harvest, HarvestOptions, SourceFile};
use crate::schema::OUTPUT_SCHEMA_VERSION;

/// Everything a job needs besides the files.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub harvest: HarvestOptions,
    pub policy: ClaimPolicy,
    /// How long a claim stays valid without renewal; renewed every third of it.
    pub lease: Duration,
    /// Watch mode: how long a file's size and mtime must stay unchanged before it is taken.
    pub settle: Duration,
}

/// What happened to one file.
#[derive(Debug)]
pub enum FileOutcome {
    Harvested {
        output_dir: PathBuf,
        content_hash: String,
        rows_read: u64,
        rows_kept: u64,
        runs: usize,
        stages: Vec<(String, f64)>,
    },
    AlreadyHarvested {
        content_hash: String,
        output_dir: Option<String>,
    },
    HeldElsewhere {
        content_hash: String,
        host: String,
        pid: i64,
    },
    FailedBefore {
        content_hash: String,
        last_error: String,
    },
    Failed {
        content_hash: Option<String>,
        error: HarvestError,
    },
}

impl FileOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            FileOutcome::Harvested { .. }
            | FileOutcome::AlreadyHarvested { .. }
            | FileOutcome::HeldElsewhere { .. } => ExitCode::Success,
            FileOutcome::FailedBefore { .. } => ExitCode::BadFile,
            FileOutcome::Failed { error, .. } => error.exit_code(),
        }
    }

    /// A short word for logs and the summary.
    pub fn label(&self) -> &'static str {
        match self {
            FileOutcome::Harvested { .. } => "harvested",
            FileOutcome::AlreadyHarvested { .. } => "already harvested",
            FileOutcome::HeldElsewhere { .. } => "being harvested elsewhere",
            FileOutcome::FailedBefore { .. } => "failed before",
            FileOutcome::Failed { .. } => "failed",
        }
    }
}

/// Harvests one file exactly once across all workers sharing `catalog`.
pub async fn harvest_file(catalog: &Catalog, path: &Path, options: &JobOptions) -> FileOutcome {
    let read_path = path.to_path_buf();
    let source = match tokio::task::spawn_blocking(move || SourceFile::read(&read_path)).await {
        Ok(Ok(source)) => Arc::new(source),
        Ok(Err(error)) => {
            return FileOutcome::Failed {
                content_hash: None,
                error,
            }
        }
        Err(join) => {
            return FileOutcome::Failed {
                content_hash: None,
                error: internal(path, join),
            }
        }
    };
    let hash = source.content_hash.clone();
    let claim = match catalog
        .claim(
            &hash,
            &source.path.display().to_string(),
            source.size(),
            options.policy,
            options.lease,
            OUTPUT_SCHEMA_VERSION,
        )
        .await
    {
        Ok(ClaimOutcome::Acquired(claim)) => claim,
        Ok(ClaimOutcome::AlreadyHarvested { output_dir, .. }) => {
            return FileOutcome::AlreadyHarvested {
                content_hash: hash,
                output_dir,
            }
        }
        Ok(ClaimOutcome::HeldElsewhere { host, pid, .. }) => {
            return FileOutcome::HeldElsewhere {
                content_hash: hash,
                host,
                pid,
            }
        }
        Ok(ClaimOutcome::FailedBefore { last_error }) => {
            return FileOutcome::FailedBefore {
                content_hash: hash,
                last_error,
            }
        }
        Err(e) => {
            return FileOutcome::Failed {
                content_hash: Some(hash),
                error: e.into(),
            }
        }
    };

    let work_source = Arc::clone(&source);
    let harvest_options = options.harvest.clone();
    let mut work = tokio::task::spawn_blocking(move || harvest(&work_source, &harvest_options));
    let mut heartbeat = tokio::time::interval(options.lease / 3);
    heartbeat.tick().await;
    let result = loop {
        tokio::select! {
            done = &mut work => break done.unwrap_or_else(|join| Err(internal(path, join))),
            _ = heartbeat.tick() => {
                if let Err(e) = catalog.renew(&claim, options.lease).await {
                    tracing::warn!(file = %source.path.display(), error = %e, "could not renew the claim");
                }
            }
        }
    };

    match result {
        Ok(harvested) => {
            let output_dir = harvested.output_dir.display().to_string();
            match catalog
                .complete(&claim, &output_dir, &harvested.report, &harvested.stats)
                .await
            {
                Ok(true) => FileOutcome::Harvested {
                    output_dir: harvested.output_dir,
                    content_hash: hash,
                    rows_read: harvested.report.rows.read,
                    rows_kept: harvested.report.rows.kept,
                    runs: harvested.report.coverage.len(),
                    stages: harvested
                        .report
                        .stages
                        .iter()
                        .map(|s| (s.stage.clone(), s.seconds))
                        .collect(),
                },
                // Our lease ran out and another worker took over; its outputs are the same.
                Ok(false) => FileOutcome::HeldElsewhere {
                    content_hash: hash,
                    host: String::new(),
                    pid: 0,
                },
                Err(e) => FileOutcome::Failed {
                    content_hash: Some(hash),
                    error: e.into(),
                },
            }
        }
        Err(error) => {
            let error = still_being_written(&source, error);
            if let Err(e) = catalog
                .fail(&claim, &error.to_string(), error.is_retryable())
                .await
            {
                tracing::warn!(file = %source.path.display(), error = %e, "could not record the failure");
            }
            FileOutcome::Failed {
                content_hash: Some(hash),
                error,
            }
        }
    }
}

/// A file that fails to parse and has grown or changed since it was read is a copy
/// in progress: the failure is worth a retry, not a verdict on the file.
fn still_being_written(source: &SourceFile, error: HarvestError) -> HarvestError {
    let HarvestError::BadFile { path, problem } = &error else {
        return error;
    };
    let Ok(meta) = std::fs::metadata(&source.path) else {
        return error;
    };
    let changed = meta.len() != source.size() || meta.modified().ok() != source.modified;
    if changed {
        HarvestError::io(
            path,
            "the file is still being written",
            std::io::Error::other(problem.clone()),
        )
    } else {
        error
    }
}

fn internal(path: &Path, join: tokio::task::JoinError) -> HarvestError {
    let what = if join.is_panic() {
        "internal error while harvesting"
    } else {
        "harvest cancelled"
    };
    HarvestError::io(path, "harvest aborted", std::io::Error::other(what))
}

/// Whether a directory entry is a log to take: a .parquet or .csv file that is not
/// hidden and not a temporary (`.part`, `.tmp`, `~`).
pub fn is_candidate_log(path: &Path) -> bool {
    // Names that are not UTF-8 are logs too: judge them by their lossy form.
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    !name.starts_with('.')
        && !name.ends_with('~')
        && !name.ends_with(".part")
        && !name.ends_with(".tmp")
        && LogFormat::from_extension(path).is_some()
}

/// The logs directly inside `dir`, sorted by name.
pub fn logs_in_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| is_candidate_log(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether `path` falls in shard `index` of `count`: a stable hash of the path, so
/// N workers split a directory deterministically without talking to each other.
pub fn in_shard(path: &Path, index: u32, count: u32) -> bool {
    let hash = blake3::hash(path.as_os_str().as_encoded_bytes());
    let n = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"));
    n % count as u64 == index as u64
}

/// Counts of a job's outcomes, for the summary line, and the exit code they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub harvested: usize,
    pub skipped: usize,
    pub failed: usize,
    pub exit: ExitCode,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            harvested: 0,
            skipped: 0,
            failed: 0,
            exit: ExitCode::Success,
        }
    }
}

impl Summary {
    pub fn add(&mut self, outcome: &FileOutcome) {
        match outcome {
            FileOutcome::Harvested { .. } => self.harvested += 1,
            FileOutcome::AlreadyHarvested { .. } | FileOutcome::HeldElsewhere { .. } => {
                self.skipped += 1
            }
            FileOutcome::FailedBefore { .. } | FileOutcome::Failed { .. } => self.failed += 1,
        }
    }
}

/// Harvests `files` with at most `jobs` at a time, calling `on_done` as each ends.
///
/// Once the catalog stops answering, the files not yet started fail at once with
/// the same retryable error instead of each waiting for the database.
pub async fn harvest_files(
    catalog: &Catalog,
    files: Vec<PathBuf>,
    options: &JobOptions,
    jobs: usize,
    mut on_done: impl FnMut(&Path, &FileOutcome),
) -> Summary {
    use futures_util::StreamExt;
    let catalog_down: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let catalog_down = &catalog_down;
    let mut summary = Summary::default();
    let mut results = futures_util::stream::iter(files)
        .map(|path: PathBuf| async move {
            let down = catalog_down.lock().expect("not poisoned").clone();
            let outcome = match down {
                Some(reason) => FileOutcome::Failed {
                    content_hash: None,
                    error: CatalogError::Unreachable {
                        location: catalog.location().to_string(),
                        reason,
                    }
                    .into(),
                },
                None => harvest_file(catalog, &path, options).await,
            };
            if let FileOutcome::Failed {
                error: HarvestError::Catalog(e),
                ..
            } = &outcome
            {
                if e.is_retryable() {
                    *catalog_down.lock().expect("not poisoned") = Some(e.to_string());
                }
            }
            (path, outcome)
        })
        .buffer_unordered(jobs.max(1));
    while let Some((path, outcome)) = results.next().await {
        summary.add(&outcome);
        summary.exit = summary.exit.worst(outcome.exit_code());
        on_done(&path, &outcome);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_hidden_files_are_not_logs() {
        for name in ["a.parquet", "b.csv", "C.PARQUET"] {
            assert!(is_candidate_log(Path::new(name)), "{name}");
        }
        for name in [
            ".a.parquet",
            "a.parquet.part",
            "a.parquet.tmp",
            "a.csv~",
            "a.json",
            "a",
        ] {
            assert!(!is_candidate_log(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover() {
        let paths: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/in/log-{i}.parquet")))
            .collect();
        for p in &paths {
            let owners = (0..4).filter(|&i| in_shard(p, i, 4)).count();
            assert_eq!(owners, 1);
        }
        assert!((0..4).all(|i| paths.iter().any(|p| in_shard(p, i, 4))));
    }
}
