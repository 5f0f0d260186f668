//! Outputs that repair themselves: after a rescan, every current harvest of the
//! sources scanned is checked to still have its output directory and its dataset
//! files at their recorded sizes. What is gone is harvested again from a source
//! that still holds the content (as `--force` would, for that content alone);
//! without one, the content is recorded as missing its outputs, and a warning
//! says so once.
//!
//! The check is a catalog query per directory given and a few stats per harvest,
//! or, for outputs in an object store, one listing of the output prefix: no input
//! is read unless its outputs must be rebuilt. A source that is an object is
//! fetched again only while it still holds the content (its ETag unchanged).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::inputs::InputSelection;
use super::objects::harvest_object;
use super::{harvest_file, FileOutcome, JobOptions};
use crate::catalog::{Catalog, RecordedOutputs};
use crate::error::{ExitCode, HarvestError, RemoteFailure};
use crate::model::layout::{DATASET_DIR, PENDING_DIR, REPORT_FILE, RUN_STATS_FILE};
use crate::storage::remote::{is_remote, ListedObject, ObjectUrl, RemoteRoot};
use crate::storage::{absolute, Dataset, FileIdentity};
use crate::text::printable_path;

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Current harvests checked.
    pub checked: usize,
    /// Harvests whose outputs were rebuilt from their source.
    pub rebuilt: usize,
    /// Harvests whose outputs are gone with no source left.
    pub missing: usize,
    /// The worst exit code of the rebuilds.
    pub exit: ExitCode,
}

impl Default for Repair {
    fn default() -> Self {
        Repair {
            checked: 0,
            rebuilt: 0,
            missing: 0,
            exit: ExitCode::Success,
        }
    }
}

/// A current harvest and the first of its outputs found not in place.
pub struct Broken {
    pub outputs: RecordedOutputs,
    pub missing: PathBuf,
}

/// The current harvests of the sources at or below `roots` written under the
/// job's output root, and those of them whose outputs are not all in place. A
/// catalog error is warned of and costs only the check.
pub async fn check_outputs(
    catalog: &Catalog,
    roots: &[PathBuf],
    options: &JobOptions,
) -> (Vec<RecordedOutputs>, Vec<Broken>) {
    let out_root = match &options.remote_out {
        // As the catalog records it: the parent of an output directory's URL.
        Some(remote) => remote
            .url()
            .join("x")
            .as_path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => absolute(&options.harvest.out_root),
    };
    let mut current = Vec::new();
    let mut listed = HashSet::new();
    for root in roots {
        match catalog.current_outputs(&source_root(root), &out_root).await {
            Ok(found) => current.extend(
                found
                    .into_iter()
                    .filter(|o| listed.insert(o.content_hash.clone())),
            ),
            Err(e) => {
                tracing::warn!(root = %printable_path(root), error = %e, "could not check that the outputs are in place")
            }
        }
    }
    let checking = current.clone();
    if let Some(remote) = &options.remote_out {
        let broken = check_remote(remote, checking).await;
        return (current, broken);
    }
    let broken = tokio::task::spawn_blocking(move || {
        let dataset = Dataset::new(&out_root);
        // A harvest whose dataset files are still pending is being published by
        // another worker (it commits, then publishes) or waits for the next job's
        // publication: not broken. Read after the catalog, before the stats, so a
        // harvest committed by then is either pending here or published there.
        let pending: HashSet<String> = dataset.pending().into_iter().collect();
        checking
            .into_iter()
            .filter(|outputs| !pending.contains(&outputs.content_hash))
            .filter_map(|outputs| {
                let dir = out_root.join(&outputs.output_dir);
                dataset
                    .first_missing(&dir, &outputs.dataset_files, &outputs.dataset_sizes)
                    .map(|missing| Broken { outputs, missing })
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    (current, broken)
}

/// A path given as the catalog records the sources at or below it: an object
/// store's location in its one spelling (`s3://bucket/key`), a local path absolute.
fn source_root(root: &Path) -> PathBuf {
    if is_remote(root) {
        if let Ok(url) = ObjectUrl::parse(&root.to_string_lossy()) {
            return url.as_path();
        }
    }
    absolute(root)
}

/// The harvests of `checking` whose outputs are not all under `remote`, judged by
/// one listing of it. The listing is taken after the catalog query, for the same
/// reason as the local check reads the pending folder after it: a harvest
/// committed by then is either pending in the listing or published in it. A
/// listing that fails is warned of and costs only the check.
async fn check_remote(remote: &RemoteRoot, checking: Vec<RecordedOutputs>) -> Vec<Broken> {
    let listing = match remote.inventory().await {
        Ok(listing) => listing,
        Err(e) => {
            tracing::warn!(out = %remote.url(), error = %e, "could not check that the outputs are in place");
            return Vec::new();
        }
    };
    let pending_prefix = format!("{DATASET_DIR}/{PENDING_DIR}/");
    let pending: HashSet<&str> = listing
        .keys()
        .filter_map(|key| key.strip_prefix(&pending_prefix)?.split('/').next())
        .collect();
    checking
        .into_iter()
        .filter(|outputs| !pending.contains(outputs.content_hash.as_str()))
        .filter_map(|outputs| {
            let missing = first_missing_remote(&listing, &outputs)?;
            Some(Broken {
                missing: remote.url().join(&missing).as_path(),
                outputs,
            })
        })
        .collect()
}

/// The first of a harvest's outputs (relative to the output root) that `listing`
/// lacks, or lists at another size than recorded (presence only when no sizes
/// were recorded).
fn first_missing_remote(
    listing: &HashMap<String, u64>,
    outputs: &RecordedOutputs,
) -> Option<String> {
    let dir = outputs.output_dir.as_str();
    [REPORT_FILE, RUN_STATS_FILE]
        .iter()
        .map(|file| format!("{dir}/{file}"))
        .find(|key| !listing.contains_key(key))
        .or_else(|| {
            let sized = outputs.dataset_sizes.len() == outputs.dataset_files.len();
            outputs
                .dataset_files
                .iter()
                .enumerate()
                .map(|(i, file)| (i, format!("{DATASET_DIR}/{file}")))
                .find(|(i, key)| match listing.get(key) {
                    Some(&size) => sized && size != outputs.dataset_sizes[*i],
                    None => true,
                })
                .map(|(_, key)| key)
        })
}

/// Checks the outputs of the current harvests of the sources at or below the
/// paths of `selection` and repairs what is missing, calling `on_done` with each
/// rebuild's outcome. A worker rebuilds only from sources of its own shard, so
/// that workers sharing an inbox do not rebuild the same outputs one after another.
pub async fn repair_outputs(
    catalog: &Catalog,
    selection: &InputSelection,
    options: &JobOptions,
    mut on_done: impl FnMut(&Path, &FileOutcome),
) -> Repair {
    let (current, broken) = check_outputs(catalog, &selection.paths, options).await;
    let mut repair = Repair {
        checked: current.len(),
        ..Repair::default()
    };
    let broken_hashes: HashSet<&str> = broken
        .iter()
        .map(|b| b.outputs.content_hash.as_str())
        .collect();
    // Outputs put back by hand: the record of their absence no longer holds.
    for outputs in current
        .iter()
        .filter(|o| o.missing_since.is_some() && !broken_hashes.contains(o.content_hash.as_str()))
    {
        if let Err(e) = catalog.clear_outputs_missing(&outputs.content_hash).await {
            tracing::warn!(content_hash = outputs.content_hash, error = %e, "could not record that the outputs are back");
        }
    }
    let mut forced = options.clone();
    forced.policy.force = true;
    for Broken { outputs, missing } in broken {
        let hash = &outputs.content_hash;
        match source_of(catalog, hash, options).await {
            // Whether a source holds it is not known now: asked again next time.
            Err(e) => {
                tracing::warn!(content_hash = hash.as_str(), error = %e, "could not ask whether a source still holds a content whose outputs are not in place")
            }
            Ok(Some(source)) if !in_shard(selection, source.path()) => {}
            Ok(Some(source)) => {
                let path = source.path().to_path_buf();
                tracing::info!(
                    file = %printable_path(&path),
                    content_hash = hash.as_str(),
                    missing = %printable_path(&missing),
                    "{}: its outputs are not in place ({} is gone or changed): harvesting it again",
                    printable_path(&path),
                    printable_path(&missing)
                );
                let outcome = match &source {
                    Source::File(path) => harvest_file(catalog, path, &forced, None).await,
                    Source::Object(object, _) => {
                        harvest_object(catalog, object, &forced, None).await
                    }
                };
                if matches!(outcome, FileOutcome::Harvested { .. }) {
                    repair.rebuilt += 1;
                }
                repair.exit = repair.exit.worst(outcome.exit_code());
                on_done(&path, &outcome);
            }
            Ok(None) => {
                repair.missing += 1;
                match catalog.mark_outputs_missing(hash).await {
                    Ok(true) => tracing::warn!(
                        file = outputs.source_path.as_str(),
                        content_hash = hash.as_str(),
                        missing = %printable_path(&missing),
                        "{}: its outputs are gone ({} is missing) and no source holds its content any more: its runs are not in the dataset until the content is seen again",
                        outputs.source_path,
                        printable_path(&missing)
                    ),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(content_hash = hash.as_str(), error = %e, "could not record that the outputs are missing")
                    }
                }
            }
        }
    }
    repair
}

/// Whether `path` is in this worker's shard, as the listing of the deepest path
/// given that holds it would have found.
fn in_shard(selection: &InputSelection, path: &Path) -> bool {
    let root = selection
        .paths
        .iter()
        .map(|root| source_root(root))
        .filter(|root| path.starts_with(root))
        .max_by_key(|root| root.components().count());
    root.is_none_or(|root| selection.in_shard(&root, path))
}

/// A source that still holds a content.
enum Source {
    File(PathBuf),
    /// An object as a request about it now lists it, and its URL as a path.
    Object(ListedObject, PathBuf),
}

impl Source {
    /// The source as the catalog and the shards name it.
    fn path(&self) -> &Path {
        match self {
            Source::File(path) | Source::Object(_, path) => path,
        }
    }
}

/// A source that still holds the content: a path whose identity is what it was
/// when the content was last read there (a stat, not a read), or an object whose
/// size and ETag are (a request for its metadata, not its bytes). The time is
/// compared only for a store without ETags: a listing and a HEAD request give it
/// at different precisions. An object store that does not answer is an error,
/// not a source gone.
async fn source_of(
    catalog: &Catalog,
    content_hash: &str,
    options: &JobOptions,
) -> Result<Option<Source>, HarvestError> {
    let paths = match catalog.paths_holding(content_hash).await {
        Ok(paths) => paths,
        Err(e) => {
            tracing::warn!(content_hash, error = %e, "could not look up the sources of a content");
            return Ok(None);
        }
    };
    for (path, identity) in paths {
        if !is_remote(&path) {
            if FileIdentity::read(&path).is_ok_and(|now| now == identity) {
                return Ok(Some(Source::File(path)));
            }
            continue;
        }
        let Ok(url) = ObjectUrl::parse(&path.to_string_lossy()) else {
            continue;
        };
        let object = match options.stores.bucket(&url)?.head(&url.key).await {
            Ok(object) => object,
            Err(HarvestError::Remote {
                failure: RemoteFailure::Missing,
                ..
            }) => continue,
            Err(e) => return Err(e),
        };
        let now = object.identity();
        let same = now.size == identity.size
            && now.inode == identity.inode
            && (!object.etag.is_empty() || now.mtime_ns == identity.mtime_ns);
        if same {
            return Ok(Some(Source::Object(object, path)));
        }
    }
    Ok(None)
}
