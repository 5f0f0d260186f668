//! Harvest jobs: one file, a list of files, or a watched directory. Each file is
//! claimed in the catalog, harvested, and its result recorded: this is where the
//! exactly-once protocol of [`crate::catalog`] is carried out.
//!
//! Takes paths (see [`inputs`]) and a catalog; gives one [`FileOutcome`] per file
//! and a [`JobSummary`] whose exit code a scheduler can act on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, Claim, ClaimOutcome, ClaimPolicy, KnownPath, KnownPaths, SeenFile};
use crate::error::{CatalogError, HarvestError};
use crate::metrics::Telemetry;
use crate::model::labels::Labels;
use crate::model::schema::OUTPUT_SCHEMA_VERSION;
use crate::pipeline::{panic_message, HarvestOptions};
use crate::storage::remote::{is_remote, ObjectStores, RemoteRoot};
use crate::storage::{
    absolute, is_broken_link, is_name_too_long, path_key, FileIdentity, SourceFile,
};
use crate::text::printable_path;

mod claimed;
mod events;
pub mod inputs;
mod lease;
mod objects;
mod outcome;
mod publish;
pub mod record;
mod repair;
mod run;
mod sources;
pub mod watch;

use claimed::harvest_claimed;
pub use inputs::Input;
pub use outcome::{FileOutcome, JobSummary};
pub use publish::publish_pending;
pub use repair::{check_outputs, repair_outputs, Broken, Repair};
pub use run::{run, JobRequest};

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
    /// Labels of every file (`--label`), over those of its path. When empty, each
    /// source keeps the `--label` labels recorded for it.
    pub labels: Labels,
    /// The object stores of `s3://` inputs and outputs.
    pub stores: Arc<ObjectStores>,
    /// `--out s3://…`: outputs are written under `harvest.out_root`'s place in a local
    /// scratch directory, then uploaded here.
    pub remote_out: Option<RemoteRoot>,
    /// The job's metrics and health, which claims renewed keep alive.
    pub telemetry: Arc<Telemetry>,
}

impl JobOptions {
    /// Whether a path unchanged since its content was harvested may be skipped
    /// without reading it: not when asked to verify, to force, or to redo outdated
    /// outputs.
    pub fn skips_unchanged(&self) -> bool {
        !(self.verify || self.policy.force || self.policy.reharvest_outdated)
    }

    /// The labels of a file given `--label` this run, or of a path found or
    /// named by itself: its path's, then `--label`. See [`JobOptions::path_labels`].
    pub fn labels_of(&self, path: &Path) -> Labels {
        self.path_labels(path, true).merged(&self.labels)
    }

    /// The `--label` labels of a source: those given this run, else those
    /// `recorded` for it. A run's `--label` replaces what was recorded whole, so
    /// that a source's labels are never a mix of two runs'.
    pub fn given_labels(&self, recorded: Option<&Labels>) -> Labels {
        match recorded {
            Some(recorded) if self.labels.is_empty() => recorded.clone(),
            _ => self.labels.clone(),
        }
    }

    /// Whether a path unchanged since it was read now has other labels than the
    /// runs of the content it was harvested from carry (its `--label` labels
    /// changed, or a folder of its path was renamed): it must not be skipped.
    /// Compared only where the content was harvested from, so that a copy with
    /// other labels does not relabel the runs back and forth.
    pub fn relabels(&self, path: &Path, known: &KnownPath) -> bool {
        let Some(carried) = &known.labels else {
            return false;
        };
        let labels = self
            .path_labels(path, false)
            .merged(&self.given_labels(known.given.as_ref()));
        labels != *carried
    }

    /// The labels of a source's path: the `key=value` folders of its whole path
    /// (for an object, of its key), however the run reached it (a directory given,
    /// a folder below it, the file given by itself), so that they never change
    /// from one run to the next while the file stays where it is. A folder above
    /// the directory given counts as much as one below it. A path with an unsafe
    /// label folder keeps only `--label`, with a warning (when `warn`): labels
    /// never become a path, SQL or a reason to skip the file.
    pub fn path_labels(&self, path: &Path, warn: bool) -> Labels {
        let (root, path) = if is_remote(path) {
            // The scheme and the bucket.
            (path.components().take(2).collect(), path.to_path_buf())
        } else {
            (PathBuf::from("/"), absolute(path))
        };
        let path = path.as_path();
        if warn {
            for (key, outer, inner) in Labels::overridden_in_path(&root, path) {
                tracing::warn!(
                    file = %printable_path(path),
                    "{}: folder {key}={inner} is inside folder {key}={outer}: the innermost, {key}={inner}, labels the file",
                    printable_path(path)
                );
            }
        }
        Labels::of_path(&root, path).unwrap_or_else(|problem| {
            if warn {
                tracing::warn!(file = %printable_path(path), "{}: labels ignored: {problem}", printable_path(path));
            }
            Labels::new()
        })
    }
}

/// The labels of the source `path` now holding `content_hash`, and their
/// `--label` part: its path's, then the `--label` labels given this run or
/// recorded for it (see [`Catalog::given_labels`]).
pub(super) async fn source_labels(
    catalog: &Catalog,
    path: &Path,
    content_hash: &str,
    options: &JobOptions,
) -> Result<(Labels, Labels), FileOutcome> {
    let recorded = if options.labels.is_empty() {
        catalog
            .given_labels(&path.display().to_string(), content_hash)
            .await
            .map_err(|e| FileOutcome::Failed {
                content_hash: Some(content_hash.to_string()),
                error: e.into(),
            })?
    } else {
        None
    };
    let given = options.given_labels(recorded.as_ref());
    Ok((options.path_labels(path, true).merged(&given), given))
}

/// Forgets those of `paths` (absolute) that are local and no longer exist, so that
/// a file appearing later at one of them is a new source (see
/// [`Catalog::forget_paths`]); says how many. A catalog error only costs the
/// forgetting, with a warning.
pub async fn forget_vanished(catalog: &Catalog, paths: Vec<PathBuf>) {
    let vanished: Vec<String> = paths
        .iter()
        .filter(|path| !is_remote(path))
        .filter(|path| {
            std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    if vanished.is_empty() {
        return;
    }
    match catalog.forget_paths(&vanished).await {
        Ok(()) => tracing::info!(
            vanished = vanished.len(),
            "{} source(s) gone since they were read: their contents stay current; a file that appears at one of their paths is a new source",
            vanished.len()
        ),
        Err(e) => tracing::warn!(error = %e, "could not forget the sources that are gone"),
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

/// Harvests one file exactly once across all workers sharing `catalog`; `known` is
/// what the catalog knew of its path, if it may be skipped when unchanged.
pub async fn harvest_file(
    catalog: &Catalog,
    path: &Path,
    options: &JobOptions,
    known: Option<&KnownPath>,
) -> FileOutcome {
    if let Some(known) = known {
        if FileIdentity::read(path).is_ok_and(|now| now == known.identity)
            && !options.relabels(path, known)
        {
            return FileOutcome::Unchanged {
                content_hash: known.content_hash.clone(),
            };
        }
    }
    let read_path = path.to_path_buf();
    let source = match tokio::task::spawn_blocking(move || SourceFile::read(&read_path)).await {
        Ok(Ok(source)) => Arc::new(source),
        Ok(Err(error @ HarvestError::BadFile { .. }))
            if is_broken_link(path) || is_name_too_long(path) =>
        {
            return record_by_path(catalog, path, error, options).await
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
    let (labels, given) =
        match source_labels(catalog, &source.path, &source.content_hash, options).await {
            Ok(labels) => labels,
            Err(outcome) => return outcome,
        };
    let seen = SeenFile {
        content_hash: &source.content_hash,
        path: &source.path.display().to_string(),
        labels: &labels,
        given: &given,
        size_bytes: source.size(),
    };
    match claim_content(
        catalog,
        &seen,
        source.identity,
        Some(&source.bytes),
        options,
    )
    .await
    {
        Ok(claim) => harvest_claimed(catalog, source, labels, claim, options).await,
        Err(outcome) => outcome,
    }
}

/// Claims a content seen under a path for this worker; any other outcome is the
/// file's outcome. A content already harvested (at another source) retires the
/// content the path held before, which needs its `bytes` (to tell a log that grew);
/// without them (an object whose content is known from an earlier fetch, which
/// settled its source then) nothing is retired. Then the path's identity is
/// remembered, unless the retirement failed: the next rescan reads it again.
pub(super) async fn claim_content(
    catalog: &Catalog,
    seen: &SeenFile<'_>,
    identity: Option<FileIdentity>,
    bytes: Option<&[u8]>,
    options: &JobOptions,
) -> Result<Claim, FileOutcome> {
    let hash = seen.content_hash.to_string();
    let mut claimed = catalog
        .claim(seen, options.policy, options.lease, OUTPUT_SCHEMA_VERSION)
        .await;
    if let Ok(ClaimOutcome::AlreadyHarvested { source_path, .. }) = &claimed {
        if labels_moved(catalog, seen, source_path).await {
            // Harvested again for this content alone, as `--force` would: its
            // runs, statistics and dataset files then carry the source's labels
            // (and cell), and its earlier dataset files are retired.
            let forced = ClaimPolicy {
                force: true,
                ..options.policy
            };
            claimed = catalog
                .claim(seen, forced, options.lease, OUTPUT_SCHEMA_VERSION)
                .await;
        }
    }
    match claimed {
        Ok(ClaimOutcome::Acquired(claim)) => Ok(claim),
        Ok(ClaimOutcome::AlreadyHarvested { output_dir, .. }) => {
            let path = Path::new(seen.path);
            let retired = match bytes {
                Some(bytes) => sources::retire_previous(catalog, path, &hash, bytes, options).await,
                None => true,
            };
            if retired {
                remember(catalog, path, identity, &hash).await;
            }
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

/// Whether the runs of a content harvested before must take the labels of the
/// source `seen`: their labels differ, and `seen` is the source they were
/// harvested from, or that source is gone (the file was moved: its runs follow it).
/// A copy at another source that still exists leaves the runs as they are. An
/// object of an object store is taken to exist still. A catalog error leaves them
/// too, with a warning: the next rescan tries again.
async fn labels_moved(catalog: &Catalog, seen: &SeenFile<'_>, source_path: &str) -> bool {
    if source_path != seen.path {
        let source = Path::new(source_path);
        let gone = !is_remote(source)
            && std::fs::symlink_metadata(source)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if !gone {
            return false;
        }
    }
    match catalog.harvest_labels(seen.content_hash).await {
        Ok(Some((carried, _))) if carried.as_ref() != Some(seen.labels) => {
            tracing::info!(
                file = seen.path,
                content_hash = seen.content_hash,
                labels = seen.labels.to_json(),
                "{}: its labels are now {}: its runs are harvested again with them",
                seen.path,
                seen.labels.to_json()
            );
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(file = seen.path, error = %e, "could not compare the source's labels with its runs'");
            false
        }
    }
}

/// Records the identity a path had when it was read, so a later scan can skip it
/// while it stays the same. A failure costs only that skip.
pub(super) async fn remember(
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

/// A source with no content to hash (a symbolic link that cannot be followed, a
/// path over the system's limit, a folder that cannot be listed, an object key no
/// request can name) is recorded as failed under its path's key ([`path_key`]), so
/// the catalog lists it by its exact name and a later trigger exits as this one did.
async fn record_by_path(
    catalog: &Catalog,
    path: &Path,
    error: HarvestError,
    options: &JobOptions,
) -> FileOutcome {
    let key = path_key(path);
    // An object keeps its URL as it is; a file, its absolute path.
    let shown = absolute(path);
    let seen = SeenFile {
        content_hash: &key,
        path: &shown.display().to_string(),
        labels: &options.labels_of(path),
        given: &options.labels,
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

/// Harvests `inputs` with at most `jobs` at a time, calling `on_done` with each
/// one's location as it ends. `named` holds the locations given by themselves (not
/// found by listing), whose known failures still fail the job.
///
/// Once the catalog stops answering, the files not yet started fail at once with
/// the same retryable error instead of each waiting for the database.
pub async fn harvest_files(
    catalog: &Catalog,
    inputs: Vec<Input>,
    options: &JobOptions,
    known: &KnownPaths,
    named: &BTreeSet<PathBuf>,
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
                    Input::Unreadable(source) => {
                        record_by_path(catalog, &source.location, source.error(), options).await
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
        summary.add(&outcome, named.contains(&path));
        on_done(&path, &outcome);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

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
}
