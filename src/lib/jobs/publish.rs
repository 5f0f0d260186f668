//! Publication of the dataset: what a committed harvest left pending is moved into
//! place, on the local file system or in an object store, and what a failed one
//! left is dropped.

use crate::catalog::{Catalog, Publication};
use crate::error::HarvestError;
use crate::storage::remote::RemoteRoot;
use crate::storage::Dataset;

use super::JobOptions;

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
    pub(super) async fn publish(
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

/// Publishes the dataset files that wait for a harvest the catalog has committed
/// (left by a worker that stopped between its commit and its publication), and
/// drops those of harvests that failed. A failure only delays publication.
pub async fn publish_pending(catalog: &Catalog, options: &JobOptions) {
    let output = output_of(options);
    let pending = match output.pending().await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the pending dataset files");
            return;
        }
    };
    for content_hash in pending {
        let published = match catalog.publication(&content_hash).await {
            Ok(Publication::Due { files, obsolete }) => {
                output.publish(&content_hash, &files, &obsolete).await
            }
            Ok(Publication::Abandoned) => output.discard(&content_hash).await,
            Ok(Publication::InProgress) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = published {
            tracing::warn!(content_hash, error = %e, "could not publish pending dataset files");
        }
    }
}
