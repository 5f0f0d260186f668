//! The harvest of a content this worker has claimed: outputs written, moved into
//! place (or uploaded) and committed while the claim is renewed, then the dataset
//! files published; or the failure recorded; or, when another worker took the
//! claim over, nothing more written.

use std::sync::Arc;
use std::time::Duration;

use super::lease::{Lease, Lost};
use super::publish::output_of;
use super::sources::superseded_revision;
use super::{aborted, remember, FileOutcome, JobOptions};
use crate::catalog::{Catalog, Claim, CompletedHarvest};
use crate::error::HarvestError;
use crate::model::labels::Labels;
use crate::pipeline::{write, Harvested};
use crate::storage::{Dataset, SourceFile};

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
    let lease = Lease::new(catalog, &claim, options.lease, &options.telemetry.health);
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
    let supersedes =
        superseded_revision(catalog, &source.path, &source.content_hash, &source.bytes).await;
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
    let dataset_sizes = match &options.remote_out {
        Some(_) => Vec::new(),
        None => {
            Dataset::new(&options.harvest.out_root).pending_sizes(&hash, &harvested.dataset_files)
        }
    };
    let completed = CompletedHarvest {
        output_dir: &harvested.output_dir,
        report: &harvested.report,
        stats: &harvested.stats,
        labels,
        dataset_files: &harvested.dataset_files,
        dataset_sizes: &dataset_sizes,
    };
    let completion = match catalog.complete(claim, &completed).await {
        Ok(Some(completion)) => completion,
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
    let source_name = source.path.display().to_string();
    for copy in &completion.copies {
        tracing::warn!(
            content_hash = hash,
            other = copy.other_hash,
            "{}",
            copy.describe(&source_name)
        );
    }
    let output = output_of(options);
    let published = match output
        .publish(&hash, &completion.publish, &completion.obsolete)
        .await
    {
        Ok(()) => {
            output
                .withdraw_set_aside(catalog, &hash, &completion.publish)
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(error) = published {
        return FileOutcome::Failed {
            content_hash: Some(hash),
            error,
        };
    }
    FileOutcome::Harvested {
        output_dir: harvested.output_dir,
        content_hash: hash,
        input_bytes: harvested.report.size_bytes,
        runs: harvested.report.coverage.len(),
        rows: harvested.report.rows,
        stages: harvested.report.stages,
    }
}

/// The outcome of a claim another worker took over: held elsewhere, by the worker
/// that holds the claim now or has harvested the file.
pub(super) async fn taken_over(catalog: &Catalog, claim: &Claim) -> FileOutcome {
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
