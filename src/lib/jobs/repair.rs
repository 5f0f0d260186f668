//! Outputs that repair themselves: after a rescan, every current harvest of the
//! sources scanned is checked to still have its output directory and its dataset
//! files at their recorded sizes. What is gone is harvested again from a source
//! that still holds the content (as `--force` would, for that content alone);
//! without one, the content is recorded as missing its outputs, and a warning
//! says so once.
//!
//! The check is a catalog query per directory given and a few stats per harvest:
//! no input is read unless its outputs must be rebuilt. Outputs in an object store
//! are not checked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{harvest_file, FileOutcome, JobOptions};
use crate::catalog::{Catalog, RecordedOutputs};
use crate::error::ExitCode;
use crate::storage::remote::is_remote;
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
    if options.remote_out.is_some() {
        return (Vec::new(), Vec::new());
    }
    let out_root = absolute(&options.harvest.out_root);
    let mut current = Vec::new();
    let mut listed = HashSet::new();
    for root in roots.iter().filter(|r| !is_remote(r)) {
        match catalog.current_outputs(&absolute(root), &out_root).await {
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

/// Checks the outputs of the current harvests of the sources at or below `roots`
/// and repairs what is missing, calling `on_done` with each rebuild's outcome.
pub async fn repair_outputs(
    catalog: &Catalog,
    roots: &[PathBuf],
    options: &JobOptions,
    mut on_done: impl FnMut(&Path, &FileOutcome),
) -> Repair {
    let (current, broken) = check_outputs(catalog, roots, options).await;
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
        match source_of(catalog, hash).await {
            Some(path) => {
                tracing::info!(
                    file = %printable_path(&path),
                    content_hash = hash.as_str(),
                    missing = %printable_path(&missing),
                    "{}: its outputs are not in place ({} is gone or changed): harvesting it again",
                    printable_path(&path),
                    printable_path(&missing)
                );
                let outcome = harvest_file(catalog, &path, &forced, None).await;
                if matches!(outcome, FileOutcome::Harvested { .. }) {
                    repair.rebuilt += 1;
                }
                repair.exit = repair.exit.worst(outcome.exit_code());
                on_done(&path, &outcome);
            }
            None => {
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

/// A path that still holds the content: one whose identity is what it was when
/// the content was last read there (a stat, not a read).
async fn source_of(catalog: &Catalog, content_hash: &str) -> Option<PathBuf> {
    let paths = match catalog.paths_holding(content_hash).await {
        Ok(paths) => paths,
        Err(e) => {
            tracing::warn!(content_hash, error = %e, "could not look up the sources of a content");
            return None;
        }
    };
    paths
        .into_iter()
        .find(|(path, identity)| FileIdentity::read(path).is_ok_and(|now| now == *identity))
        .map(|(path, _)| path)
}
