//! One object of an object store, harvested exactly once and fetched once: the
//! object is claimed by its URL and ETag before its bytes are downloaded, so workers
//! sharing a prefix do not each download it to find its content claimed.

use std::sync::Arc;
use std::time::Instant;

use super::claimed::{fail, harvest_claimed, taken_over};
use super::lease::{Lease, Lost};
use super::{claim_content, FileOutcome, JobOptions};
use crate::catalog::{Catalog, Claim, KnownPath, ObjectClaim, SeenFile};
use crate::error::{HarvestError, RemoteFailure};
use crate::model::labels::Labels;
use crate::storage::remote::ListedObject;
use crate::storage::SourceFile;

/// Harvests one listed object; `known` is what the catalog knew of its URL, if it
/// may be skipped when unchanged (same size, last-modified time and ETag).
pub(super) async fn harvest_object(
    catalog: &Catalog,
    object: &ListedObject,
    options: &JobOptions,
    known: Option<&KnownPath>,
) -> FileOutcome {
    let url_path = object.url.as_path();
    if let Some(known) = known {
        if known.identity == object.identity() && !options.relabels(&url_path, known) {
            return FileOutcome::Unchanged {
                content_hash: known.content_hash.clone(),
            };
        }
    }
    // The object's content is not known before it is fetched: its `--label`
    // labels are those recorded for its URL.
    let (labels, given) = match super::source_labels(catalog, &url_path, "", options).await {
        Ok(labels) => labels,
        Err(outcome) => return outcome,
    };
    let labels = (&labels, &given);
    let claimed = async {
        let held = claim_before_fetch(catalog, object, labels, options).await?;
        let source = fetch_held(catalog, object, held.as_ref(), options).await?;
        let claim = claim_after_fetch(catalog, object, labels, held, &source, options).await?;
        Ok((source, claim))
    };
    match claimed.await {
        Ok((source, claim)) => {
            harvest_claimed(catalog, source, labels.0.clone(), claim, options).await
        }
        Err(outcome) => outcome,
    }
}

/// An object's labels, and their `--label` part.
type SourceLabels<'a> = (&'a Labels, &'a Labels);

/// An object's content as seen under its URL.
fn seen<'a>(
    content_hash: &'a str,
    url: &'a str,
    (labels, given): SourceLabels<'a>,
    object: &ListedObject,
) -> SeenFile<'a> {
    SeenFile {
        content_hash,
        path: url,
        labels,
        given,
        size_bytes: object.size,
    }
}

/// Claims the object before fetching it. A content claimed already (`Some`): the
/// object was fetched by an earlier worker, and its content is to be harvested
/// (again). Any other outcome of the claim is the object's.
async fn claim_before_fetch(
    catalog: &Catalog,
    object: &ListedObject,
    labels: SourceLabels<'_>,
    options: &JobOptions,
) -> Result<Option<Claim>, FileOutcome> {
    let url = object.url.to_string();
    match catalog
        .claim_object(&url, &object.version(), options.lease)
        .await
    {
        Ok(ObjectClaim::Acquired) => Ok(None),
        Ok(ObjectClaim::HeldElsewhere { holder }) => Err(FileOutcome::HeldElsewhere {
            content_hash: None,
            holder: Some(holder),
        }),
        Ok(ObjectClaim::Fetched { content_hash }) => {
            let seen = seen(&content_hash, &url, labels, object);
            claim_content(catalog, &seen, Some(object.identity()), None, options)
                .await
                .map(Some)
        }
        Err(e) => Err(FileOutcome::Failed {
            content_hash: None,
            error: e.into(),
        }),
    }
}

/// Fetches the object, renewing the claim on its content when one is `held`.
async fn fetch_held(
    catalog: &Catalog,
    object: &ListedObject,
    held: Option<&Claim>,
    options: &JobOptions,
) -> Result<Arc<SourceFile>, FileOutcome> {
    let fetched = match held {
        Some(claim) => {
            let lease = Lease::new(catalog, claim, options.lease, &options.telemetry.health);
            match lease.hold(fetch(options, object)).await {
                Ok(fetched) => fetched,
                Err(Lost) => return Err(taken_over(catalog, claim).await),
            }
        }
        None => fetch(options, object).await,
    };
    match fetched {
        Ok(source) => Ok(Arc::new(source)),
        Err(error) => Err(fetch_failed(catalog, object, held, error).await),
    }
}

/// The claim on the fetched content: the one `held` if the content is the one it
/// expected, else the content claimed now (and the object recorded as fetched).
async fn claim_after_fetch(
    catalog: &Catalog,
    object: &ListedObject,
    labels: SourceLabels<'_>,
    held: Option<Claim>,
    source: &SourceFile,
    options: &JobOptions,
) -> Result<Claim, FileOutcome> {
    let url = object.url.to_string();
    let version = object.version();
    match held {
        Some(claim) if claim.content_hash == source.content_hash => Ok(claim),
        // Another content under the same version tag (a store without ETags, the
        // object rewritten within a second at the same size): the next trigger
        // takes the new content; the claim on the old one is given up as retryable.
        Some(claim) => {
            if let Err(e) = catalog
                .object_fetched(&url, &version, &source.content_hash)
                .await
            {
                tracing::warn!(file = url, error = %e, "could not record the object's new content");
            }
            let error = HarvestError::Remote {
                url,
                problem:
                    "the object's bytes changed since it was last fetched; the next run takes them"
                        .into(),
                failure: RemoteFailure::Unreachable,
            };
            Err(fail(catalog, &claim, error).await)
        }
        None => {
            let seen = seen(&source.content_hash, &url, labels, object);
            let claimed = claim_content(
                catalog,
                &seen,
                source.identity,
                Some(&source.bytes),
                options,
            )
            .await;
            // Whatever became of the content, the object is fetched: the next
            // worker asks the content's claim instead of downloading it.
            if let Err(e) = catalog
                .object_fetched(&url, &version, &source.content_hash)
                .await
            {
                tracing::warn!(file = url, error = %e, "could not record the object as fetched");
            }
            claimed
        }
    }
}

/// Downloads an object whole into memory, once, timing it as the fetch stage.
async fn fetch(options: &JobOptions, object: &ListedObject) -> Result<SourceFile, HarvestError> {
    let started = Instant::now();
    let bucket = options.stores.bucket(&object.url)?;
    let bytes = bucket.fetch(object).await?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::debug!(file = %object.url, bytes = bytes.len(), seconds, "fetched");
    let listed = object.clone();
    tokio::task::spawn_blocking(move || SourceFile::from_object(&listed, bytes, seconds))
        .await
        .map_err(|join| super::aborted(&object.url.as_path(), join))
}

/// A fetch that failed gives up the object's claim (or records the failure of the
/// content claimed for it), so the next trigger tries again.
async fn fetch_failed(
    catalog: &Catalog,
    object: &ListedObject,
    held: Option<&Claim>,
    error: HarvestError,
) -> FileOutcome {
    if let Some(claim) = held {
        return fail(catalog, claim, error).await;
    }
    let url = object.url.to_string();
    if let Err(e) = catalog.release_object(&url, &object.version()).await {
        tracing::warn!(file = url, error = %e, "could not release the object's claim");
    }
    FileOutcome::Failed {
        content_hash: None,
        error,
    }
}
