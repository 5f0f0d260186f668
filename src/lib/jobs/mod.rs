//! Harvest jobs: one file, a list of files, or a watched directory. Each file is
//! claimed in the catalog, harvested, and its result recorded: this is where the
//! exactly-once protocol of [`crate::catalog`] is carried out.
//!
//! Takes paths (see [`inputs`]) and a catalog; gives one [`FileOutcome`] per file
//! and a [`JobSummary`] whose exit code a scheduler can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{
    Catalog, Claim, ClaimOutcome, ClaimPolicy, CompletedHarvest, Holder, KnownPath, KnownPaths,
    SeenFile,
};
use crate::error::{CatalogError, ExitCode, FailureKind, HarvestError};
use crate::model::labels::Labels;
use crate::model::report::{Revision, StageTime};
use crate::model::schema::{InputFormat, OUTPUT_SCHEMA_VERSION};
use crate::pipeline::{panic_message, write, HarvestOptions, Harvested};
use crate::storage::remote::{is_remote, ObjectStores, RemoteRoot};
use crate::storage::{absolute, is_broken_link, path_key, FileIdentity, SourceFile};
use crate::text::printable_path;

pub mod inputs;
mod lease;
mod objects;
mod publish;
pub mod watch;

pub use inputs::Input;
use lease::{Lease, Lost};
use publish::output_of;
pub use publish::publish_pending;

/// Everything a job needs besides the files.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub harvest: HarvestOptions,
    pub policy: ClaimPolicy,
    /// How long a claim stays valid without renewal; renewed every third of it.
    pub lease: Duration,
    /// Watch mode: how long a file's size and mtime must stay unchanged before it is taken.
    pub settle: Duration,
    /// Read and hash every file, even a path whose identity has not changed since it
    /// was harvested.
    pub verify: bool,
    /// Labels of every file (`--label`), over those of its path.
    pub labels: Labels,
    /// The directories given: a file's path labels are its `key=value` folders below
    /// the one it was found in.
    pub label_roots: Vec<PathBuf>,
    /// The object stores of `s3://` inputs and outputs.
    pub stores: Arc<ObjectStores>,
    /// `--out s3://…`: outputs are written under `harvest.out_root`'s place in a local
    /// scratch directory, then uploaded here.
    pub remote_out: Option<RemoteRoot>,
}

impl JobOptions {
    /// Whether a path unchanged since its content was harvested may be skipped
    /// without reading it: not when asked to verify, to force, or to redo outdated
    /// outputs.
    pub fn skips_unchanged(&self) -> bool {
        !(self.verify || self.policy.force || self.policy.reharvest_outdated)
    }

    /// The labels of a file: its path's, then `--label`. The path's are its
    /// `key=value` folders below the deepest directory given that holds it, or all
    /// of its folders for a file given by itself (a per-file trigger, a source
    /// harvested again). A path with an unsafe label folder keeps only `--label`,
    /// with a warning: labels never become a path, SQL or a reason to skip the file.
    pub fn labels_of(&self, path: &Path) -> Labels {
        let root = self
            .label_roots
            .iter()
            .filter(|root| path.starts_with(root) && path != root.as_path())
            .max_by_key(|root| root.components().count());
        let from_path = match root {
            Some(root) => Labels::of_path(root, path),
            // An object given by itself: the folders of its key.
            None if is_remote(path) => {
                let bucket: PathBuf = path.components().take(2).collect();
                Labels::of_path(&bucket, path)
            }
            None => Labels::of_path(Path::new("/"), &absolute(path)),
        };
        let from_path = from_path.unwrap_or_else(|problem| {
            tracing::warn!(file = %printable_path(path), "{}: labels ignored: {problem}", printable_path(path));
            Labels::new()
        });
        from_path.merged(&self.labels)
    }
}

/// The paths known to the catalog at or below each of `roots`, when `options`
/// allow skipping unchanged ones (else none). A catalog error here only costs the
/// skipping: the files are then read and claimed as usual.
pub async fn known_paths(catalog: &Catalog, roots: &[PathBuf], options: &JobOptions) -> KnownPaths {
    let mut known = KnownPaths::new();
    if !options.skips_unchanged() {
        return known;
    }
    for root in roots {
        match catalog
            .known_paths(&absolute(root), OUTPUT_SCHEMA_VERSION)
            .await
        {
            Ok(found) => known.extend(found),
            Err(e) => {
                tracing::warn!(root = %printable_path(root), error = %e, "could not load the paths known to the catalog")
            }
        }
    }
    known
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
        stages: Vec<StageTime>,
    },
    AlreadyHarvested {
        content_hash: String,
        output_dir: Option<String>,
    },
    /// The path's identity has not changed since its content was harvested: not read.
    Unchanged { content_hash: String },
    /// Another worker holds the claim, or took it over and harvested the file:
    /// named when the catalog says who (an object's fetch is claimed before its
    /// content is known).
    HeldElsewhere {
        content_hash: Option<String>,
        holder: Option<Holder>,
    },
    FailedBefore {
        content_hash: String,
        last_error: String,
        kind: FailureKind,
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
            | FileOutcome::Unchanged { .. }
            | FileOutcome::HeldElsewhere { .. } => ExitCode::Success,
            FileOutcome::FailedBefore { kind, .. } => kind.exit_code(),
            FileOutcome::Failed { error, .. } => error.exit_code(),
        }
    }
}

/// Harvests one file exactly once across all workers sharing `catalog`; `known` is
/// what the catalog knew of its path, if it may be skipped when unchanged.
pub async fn harvest_file(
    catalog: &Catalog,
    path: &Path,
    options: &JobOptions,
    known: Option<&KnownPath>,
) -> FileOutcome {
    if let Some(known) = known {
        if FileIdentity::read(path).is_ok_and(|now| now == known.identity) {
            return FileOutcome::Unchanged {
                content_hash: known.content_hash.clone(),
            };
        }
    }
    let read_path = path.to_path_buf();
    let source = match tokio::task::spawn_blocking(move || SourceFile::read(&read_path)).await {
        Ok(Ok(source)) => Arc::new(source),
        Ok(Err(error @ HarvestError::BadFile { .. })) if is_broken_link(path) => {
            return record_broken_link(catalog, path, error, options).await
        }
        Ok(Err(error)) => {
            return FileOutcome::Failed {
                content_hash: None,
                error,
            }
        }
        Err(join) => {
            return FileOutcome::Failed {
                content_hash: None,
                error: aborted(path, join),
            }
        }
    };
    let labels = options.labels_of(path);
    let seen = SeenFile {
        content_hash: &source.content_hash,
        path: &source.path.display().to_string(),
        labels: &labels,
        size_bytes: source.size(),
    };
    match claim_content(catalog, &seen, source.identity, options).await {
        Ok(claim) => harvest_claimed(catalog, source, labels, claim, options).await,
        Err(outcome) => outcome,
    }
}

/// Claims a content seen under a path for this worker; any other outcome is the
/// file's outcome (a content already harvested also remembers the path's identity).
pub(super) async fn claim_content(
    catalog: &Catalog,
    seen: &SeenFile<'_>,
    identity: Option<FileIdentity>,
    options: &JobOptions,
) -> Result<Claim, FileOutcome> {
    let hash = seen.content_hash.to_string();
    match catalog
        .claim(seen, options.policy, options.lease, OUTPUT_SCHEMA_VERSION)
        .await
    {
        Ok(ClaimOutcome::Acquired(claim)) => Ok(claim),
        Ok(ClaimOutcome::AlreadyHarvested { output_dir, .. }) => {
            remember(catalog, Path::new(seen.path), identity, &hash).await;
            Err(FileOutcome::AlreadyHarvested {
                content_hash: hash,
                output_dir,
            })
        }
        Ok(ClaimOutcome::HeldElsewhere { holder, .. }) => Err(FileOutcome::HeldElsewhere {
            content_hash: Some(hash),
            holder,
        }),
        Ok(ClaimOutcome::FailedBefore { last_error, kind }) => Err(FileOutcome::FailedBefore {
            content_hash: hash,
            last_error,
            kind,
        }),
        Err(e) => Err(FileOutcome::Failed {
            content_hash: Some(hash),
            error: e.into(),
        }),
    }
}

/// Harvests a source whose content this worker has claimed, renewing the claim
/// while it works, and records the result: the harvest and its dataset files
/// committed then published, or the failure. A claim taken over by another worker
/// ends the work: nothing more is written, and the file is held elsewhere.
pub(super) async fn harvest_claimed(
    catalog: &Catalog,
    source: Arc<SourceFile>,
    labels: Labels,
    claim: Claim,
    options: &JobOptions,
) -> FileOutcome {
    let lease = Lease::new(catalog, &claim, options.lease);
    match make_outputs(catalog, &source, &labels, options, &lease).await {
        Ok(harvested) => record(catalog, &source, &labels, &claim, harvested, options).await,
        Err(Unmade::Failed(error)) => fail(catalog, &claim, error).await,
        Err(Unmade::Lost) => taken_over(catalog, &claim).await,
    }
}

/// Why a claimed content's outputs were not made.
enum Unmade {
    Failed(HarvestError),
    Lost,
}

impl From<Lost> for Unmade {
    fn from(_: Lost) -> Unmade {
        Unmade::Lost
    }
}

/// Writes a claimed content's outputs and moves them into place (then uploads
/// them, for an object store), renewing the claim throughout and once more before
/// each step that cannot be undone.
async fn make_outputs(
    catalog: &Catalog,
    source: &Arc<SourceFile>,
    labels: &Labels,
    options: &JobOptions,
    lease: &Lease<'_>,
) -> Result<Harvested, Unmade> {
    // Outputs bound for an object store are written to a local scratch root first.
    let scratch = match &options.remote_out {
        Some(_) => Some(
            tempfile::Builder::new()
                .prefix("harvest-")
                .tempdir()
                .map_err(|e| {
                    let temp = std::env::temp_dir();
                    Unmade::Failed(HarvestError::io(
                        temp,
                        "cannot create a scratch directory",
                        e,
                    ))
                })?,
        ),
        None => None,
    };
    if let Some(error) = copy_in_progress(source, options.settle) {
        return Err(Unmade::Failed(error));
    }
    let supersedes = earlier_revision(catalog, source).await;
    let mut harvest_options = options.harvest.clone();
    if let Some(scratch) = &scratch {
        harvest_options.out_root = scratch.path().to_path_buf();
    }
    let (work_source, work_labels) = (Arc::clone(source), labels.clone());
    let work = tokio::task::spawn_blocking(move || {
        write(&work_source, &harvest_options, supersedes, &work_labels)
    });
    let written = lease
        .hold(work)
        .await?
        .unwrap_or_else(|join| Err(aborted(&source.path, join)))
        .map_err(|error| Unmade::Failed(still_being_written(source, error)))?;
    lease.confirm().await?;
    let commit = tokio::task::spawn_blocking(move || written.commit());
    let mut harvested = lease
        .hold(commit)
        .await?
        .unwrap_or_else(|join| Err(aborted(&source.path, join)))
        .map_err(Unmade::Failed)?;
    if let (Some(remote), Some(scratch)) = (&options.remote_out, &scratch) {
        lease.confirm().await?;
        let stop = lease.stop();
        let upload = remote.upload(
            scratch.path(),
            &harvested.output_dir,
            &source.content_hash,
            &harvested.dataset_files,
            &stop,
        );
        harvested.output_dir = lease.hold(upload).await?.map_err(Unmade::Failed)?;
    }
    Ok(harvested)
}

/// Commits a harvest whose outputs are in place, then publishes its dataset files.
/// A publication that fails after its retries leaves them pending for the next
/// job, and the file failed for now (the catalog keeps the harvest).
async fn record(
    catalog: &Catalog,
    source: &SourceFile,
    labels: &Labels,
    claim: &Claim,
    harvested: Harvested,
    options: &JobOptions,
) -> FileOutcome {
    let hash = source.content_hash.clone();
    let completed = CompletedHarvest {
        output_dir: &harvested.output_dir,
        report: &harvested.report,
        stats: &harvested.stats,
        labels,
        dataset_files: &harvested.dataset_files,
    };
    let obsolete = match catalog.complete(claim, &completed).await {
        Ok(Some(obsolete)) => obsolete,
        // Our lease ran out and another worker took over; its outputs are the
        // same, and it publishes them.
        Ok(None) => return taken_over(catalog, claim).await,
        Err(e) => {
            return FileOutcome::Failed {
                content_hash: Some(hash),
                error: e.into(),
            }
        }
    };
    remember(catalog, &source.path, source.identity, &hash).await;
    let published = output_of(options)
        .publish(&hash, &harvested.dataset_files, &obsolete)
        .await;
    if let Err(error) = published {
        return FileOutcome::Failed {
            content_hash: Some(hash),
            error,
        };
    }
    FileOutcome::Harvested {
        output_dir: harvested.output_dir,
        content_hash: hash,
        rows_read: harvested.report.rows.read,
        rows_kept: harvested.report.rows.kept,
        runs: harvested.report.coverage.len(),
        stages: harvested.report.stages,
    }
}

/// The outcome of a claim another worker took over: held elsewhere, by the worker
/// that holds the claim now or has harvested the file.
async fn taken_over(catalog: &Catalog, claim: &Claim) -> FileOutcome {
    let holder = catalog
        .holder(&claim.content_hash)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(content_hash = claim.content_hash, error = %e, "could not look up who took the claim over");
            None
        });
    FileOutcome::HeldElsewhere {
        content_hash: Some(claim.content_hash.clone()),
        holder,
    }
}

/// Records a claimed content's failure (a failure to record it only delays a retry).
pub(super) async fn fail(catalog: &Catalog, claim: &Claim, error: HarvestError) -> FileOutcome {
    if let Err(e) = catalog.fail(claim, &error.to_string(), error.kind()).await {
        tracing::warn!(content_hash = claim.content_hash, error = %e, "could not record the failure");
    }
    FileOutcome::Failed {
        content_hash: Some(claim.content_hash.clone()),
        error,
    }
}

/// Records the identity a path had when it was read, so a later scan can skip it
/// while it stays the same. A failure costs only that skip.
async fn remember(
    catalog: &Catalog,
    path: &Path,
    identity: Option<FileIdentity>,
    content_hash: &str,
) {
    let Some(identity) = identity else {
        return;
    };
    if let Err(e) = catalog.remember_path(path, identity, content_hash).await {
        tracing::warn!(file = %printable_path(path), error = %e, "could not remember the path's identity");
    }
}

/// A file that looks cut short and was modified recently is a copy in progress,
/// worth a retry (75) rather than a verdict or a harvest of its first part: a
/// Parquet file without its footer modified less than `settle` ago, or a CSV whose
/// last line has no line end modified less than
/// [`SourceFile::CSV_AT_REST_SETTLES`] × `settle` ago. Older, the Parquet file is
/// truncated for good (a bad file) and the CSV is harvested as it is.
fn copy_in_progress(source: &SourceFile, settle: Duration) -> Option<HarvestError> {
    let unfinished = if source.is_parquet_without_footer() && source.modified_within(settle) {
        "its Parquet footer is not written yet"
    } else if source.is_csv_without_line_end()
        && source.modified_within(settle * SourceFile::CSV_AT_REST_SETTLES)
    {
        "its last line has no line end yet"
    } else {
        return None;
    };
    Some(HarvestError::io(
        &source.path,
        "the file is still being written",
        std::io::Error::other(unfinished),
    ))
}

/// The shorter revision of a CSV harvested before under the same path whose bytes
/// begin this one: the file grew after it was harvested (a copy or a log still being
/// appended to). Nothing for other formats, or when the catalog cannot say.
async fn earlier_revision(catalog: &Catalog, source: &SourceFile) -> Option<Revision> {
    if InputFormat::from_extension(&source.path) != Some(InputFormat::Csv) {
        return None;
    }
    let known = match catalog
        .harvested_at(&source.path.display().to_string())
        .await
    {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(file = %printable_path(&source.path), error = %e, "could not look up earlier revisions");
            return None;
        }
    };
    known.into_iter().find_map(|(content_hash, size)| {
        let size = usize::try_from(size).ok()?;
        (size > 0
            && size < source.bytes.len()
            && blake3::hash(&source.bytes[..size]).to_hex().as_str() == content_hash)
            .then_some(Revision {
                content_hash,
                size_bytes: size as u64,
            })
    })
}

/// A file that fails to parse and has grown or changed since it was read is a copy
/// in progress: the failure is worth a retry, not a verdict on the file.
fn still_being_written(source: &SourceFile, error: HarvestError) -> HarvestError {
    match error {
        HarvestError::BadFile { path, problem } if source.changed_since_read() => HarvestError::io(
            path,
            "the file is still being written",
            std::io::Error::other(problem),
        ),
        error => error,
    }
}

/// A symbolic link that cannot be followed has no content to hash: it is recorded
/// as failed under its path's key ([`path_key`]), so the catalog lists it and a
/// later trigger exits as this one did.
async fn record_broken_link(
    catalog: &Catalog,
    path: &Path,
    error: HarvestError,
    options: &JobOptions,
) -> FileOutcome {
    let key = path_key(path);
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let seen = SeenFile {
        content_hash: &key,
        path: &shown.display().to_string(),
        labels: &options.labels_of(path),
        size_bytes: 0,
    };
    let claimed = catalog
        .claim(&seen, options.policy, options.lease, OUTPUT_SCHEMA_VERSION)
        .await;
    match claimed {
        Ok(ClaimOutcome::Acquired(claim)) => {
            if let Err(e) = catalog.fail(&claim, &error.to_string(), error.kind()).await {
                return FileOutcome::Failed {
                    content_hash: Some(key),
                    error: e.into(),
                };
            }
        }
        Ok(ClaimOutcome::FailedBefore { last_error, kind }) => {
            return FileOutcome::FailedBefore {
                content_hash: key,
                last_error,
                kind,
            }
        }
        Ok(_) => {}
        Err(e) => {
            return FileOutcome::Failed {
                content_hash: Some(key),
                error: e.into(),
            }
        }
    }
    FileOutcome::Failed {
        content_hash: Some(key),
        error,
    }
}

/// A harvest task that did not return: a panic is a bug; a cancellation (the
/// runtime shutting down) is worth a retry.
pub(super) fn aborted(path: &Path, join: tokio::task::JoinError) -> HarvestError {
    if join.is_panic() {
        let payload = join.into_panic();
        HarvestError::internal(
            path,
            format!("the harvest panicked: {}", panic_message(payload.as_ref())),
        )
    } else {
        HarvestError::io(
            path,
            "harvest aborted",
            std::io::Error::other("harvest cancelled"),
        )
    }
}

/// Counts of a job's outcomes, for the summary line, and the exit code they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub harvested: usize,
    pub skipped: usize,
    pub failed: usize,
    pub exit: ExitCode,
}

impl Default for JobSummary {
    fn default() -> Self {
        JobSummary {
            harvested: 0,
            skipped: 0,
            failed: 0,
            exit: ExitCode::Success,
        }
    }
}

impl JobSummary {
    /// Counts one file's outcome and folds in its exit code.
    pub fn add(&mut self, outcome: &FileOutcome) {
        self.exit = self.exit.worst(outcome.exit_code());
        match outcome {
            FileOutcome::Harvested { .. } => self.harvested += 1,
            FileOutcome::AlreadyHarvested { .. }
            | FileOutcome::Unchanged { .. }
            | FileOutcome::HeldElsewhere { .. } => self.skipped += 1,
            FileOutcome::FailedBefore { .. } | FileOutcome::Failed { .. } => self.failed += 1,
        }
    }
}

/// Harvests `inputs` with at most `jobs` at a time, calling `on_done` with each
/// one's location as it ends.
///
/// Once the catalog stops answering, the files not yet started fail at once with
/// the same retryable error instead of each waiting for the database.
pub async fn harvest_files(
    catalog: &Catalog,
    inputs: Vec<Input>,
    options: &JobOptions,
    known: &KnownPaths,
    jobs: usize,
    mut on_done: impl FnMut(&Path, &FileOutcome),
) -> JobSummary {
    use futures_util::StreamExt;
    let catalog_down: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let catalog_down = &catalog_down;
    let mut summary = JobSummary::default();
    let mut results = futures_util::stream::iter(inputs)
        .map(|input: Input| async move {
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
                None => match &input {
                    Input::File(path) => {
                        let known = known.get(&absolute(path));
                        harvest_file(catalog, path, options, known).await
                    }
                    Input::Object(object) => {
                        let known = known.get(&object.url.as_path());
                        objects::harvest_object(catalog, object, options, known).await
                    }
                },
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
            (input.location(), outcome)
        })
        .buffer_unordered(jobs.max(1));
    while let Some((path, outcome)) = results.next().await {
        summary.add(&outcome);
        on_done(&path, &outcome);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_harvest_is_an_internal_error_not_a_retry() {
        let join = tokio::spawn(async { panic!("index out of bounds") })
            .await
            .unwrap_err();
        let error = aborted(Path::new("shift.parquet"), join);
        assert_eq!(error.exit_code(), ExitCode::Internal);
        let line = error.to_string();
        assert!(line.contains("shift.parquet"), "{line}");
        assert!(line.contains("internal error"), "{line}");
        assert!(line.contains("index out of bounds"), "{line}");
    }

    #[test]
    fn a_job_exits_with_its_worst_outcome() {
        let failed = |kind| FileOutcome::FailedBefore {
            content_hash: "h".into(),
            last_error: "e".into(),
            kind,
        };
        let mut summary = JobSummary::default();
        summary.add(&FileOutcome::AlreadyHarvested {
            content_hash: "h".into(),
            output_dir: None,
        });
        assert_eq!(summary.exit, ExitCode::Success);
        summary.add(&failed(FailureKind::BadFile));
        assert_eq!(summary.exit, ExitCode::BadFile);
        summary.add(&failed(FailureKind::Internal));
        assert_eq!(summary.exit, ExitCode::Internal);
        summary.add(&failed(FailureKind::BadFile));
        assert_eq!(summary.exit, ExitCode::Internal);
        summary.add(&failed(FailureKind::Retryable));
        assert_eq!(summary.exit, ExitCode::RetryLater);
        assert_eq!((summary.skipped, summary.failed), (1, 4));
    }
}
