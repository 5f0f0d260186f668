//! Publication of the dataset: what a committed harvest left pending is moved into
//! place, on the local file system or in an object store, and what a failed one
//! left is dropped.
//!
//! A publication that fails is tried again a few times within the job; after that
//! its files stay pending, the next job (or the watch's next poll) publishes them,
//! and this job exits 75 so that a scheduler runs one.

use std::time::Duration;

use crate::catalog::{Catalog, Publication};
use crate::error::HarvestError;
use crate::storage::remote::RemoteRoot;
use crate::storage::Dataset;

use super::JobOptions;

/// How many times a harvest's publication is tried within a job, and the wait
/// after its first failure, doubled after each: a store that sheds load (503
/// SlowDown) gets a few seconds, and a job never waits long on one that is down.
const PUBLISH_ATTEMPTS: u32 = 3;
const PUBLISH_RETRY: Duration = Duration::from_secs(1);

/// Where the files of a publication that failed wait, for the error that says so.
const LEFT_PENDING: &str = "its dataset files wait in dataset/.pending/ for the next job";

/// Where a job's dataset is published.
pub(super) enum Output<'a> {
    Local(Dataset),
    Remote(&'a RemoteRoot),
}

pub(super) fn output_of(options: &JobOptions) -> Output<'_> {
    match &options.remote_out {
        Some(remote) => Output::Remote(remote),
        None => Output::Local(Dataset::new(&options.harvest.out_root)),
    }
}

impl Output<'_> {
    /// Publishes a committed harvest's dataset files, trying again up to
    /// [`PUBLISH_ATTEMPTS`] times while the failure is worth a retry.
    pub(super) async fn publish(
        &self,
        content_hash: &str,
        files: &[String],
        obsolete: &[String],
    ) -> Result<(), HarvestError> {
        let mut wait = PUBLISH_RETRY;
        let mut attempt = 1;
        loop {
            match self.publish_once(content_hash, files, obsolete).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(content_hash, attempt, error = %e, "could not publish the dataset files; trying again in {} s", wait.as_secs());
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(left_pending(e)),
            }
        }
    }

    async fn publish_once(
        &self,
        content_hash: &str,
        files: &[String],
        obsolete: &[String],
    ) -> Result<(), HarvestError> {
        match self {
            Output::Local(dataset) => dataset.publish(content_hash, files, obsolete),
            Output::Remote(remote) => remote.publish(content_hash, files, obsolete).await,
        }
    }

    /// Removes the published files of a content superseded without a harvest of
    /// its own (its source now holds a content harvested before, elsewhere).
    pub(super) async fn retire(&self, files: &[String]) -> Result<(), HarvestError> {
        match self {
            Output::Local(dataset) => dataset.remove(files),
            Output::Remote(remote) => remote.remove(files).await,
        }
    }

    /// Takes back out what a harvest just `published` that the catalog no longer
    /// lists as its own: a copy of one of its runs that won in the meantime (its
    /// commit set this one's files aside, and its worker removed only what was
    /// published by then). Read after this publication, so that whichever of the two
    /// commits comes last, one of the two workers removes the set-aside files.
    pub(super) async fn withdraw_set_aside(
        &self,
        catalog: &Catalog,
        content_hash: &str,
        published: &[String],
    ) -> Result<(), HarvestError> {
        let current = match catalog.publication(content_hash).await? {
            Publication::Due { files, .. } => files,
            Publication::InProgress | Publication::Abandoned => return Ok(()),
        };
        let withdrawn: Vec<String> = published
            .iter()
            .filter(|file| !current.contains(file))
            .cloned()
            .collect();
        if withdrawn.is_empty() {
            return Ok(());
        }
        tracing::info!(
            content_hash,
            files = withdrawn.len(),
            "a copy of a run won while this harvest was published: its files of that run are withdrawn"
        );
        self.retire(&withdrawn).await
    }

    async fn discard(&self, content_hash: &str) -> Result<(), HarvestError> {
        match self {
            Output::Local(dataset) => {
                dataset.discard(content_hash);
                Ok(())
            }
            Output::Remote(remote) => remote.discard(content_hash).await,
        }
    }

    async fn pending(&self) -> Result<Vec<String>, HarvestError> {
        match self {
            Output::Local(dataset) => Ok(dataset.pending()),
            Output::Remote(remote) => remote.pending().await,
        }
    }
}

/// The error of a publication given up for this job, saying where its files wait.
fn left_pending(error: HarvestError) -> HarvestError {
    match error {
        HarvestError::Remote {
            url,
            problem,
            failure,
        } => HarvestError::Remote {
            url,
            problem: format!("{problem}; {LEFT_PENDING}"),
            failure,
        },
        other => other,
    }
}

/// Publishes the dataset files that wait for a harvest the catalog has committed
/// (left by a worker that stopped between its commit and its publication, or by a
/// publication that failed), and drops those of harvests that failed. Each failure
/// is logged; the first is returned, for the job's exit code.
pub async fn publish_pending(catalog: &Catalog, options: &JobOptions) -> Result<(), HarvestError> {
    let output = output_of(options);
    let pending = match output.pending().await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::error!(error = %e, "could not list the pending dataset files");
            return Err(e);
        }
    };
    let mut first_error = None;
    for content_hash in pending {
        let published = match catalog.publication(&content_hash).await {
            Ok(Publication::Due { files, obsolete }) => {
                match output.publish(&content_hash, &files, &obsolete).await {
                    Ok(()) => {
                        output
                            .withdraw_set_aside(catalog, &content_hash, &files)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(Publication::Abandoned) => output.discard(&content_hash).await,
            Ok(Publication::InProgress) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = published {
            tracing::error!(content_hash, "could not publish pending dataset files: {e}");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
