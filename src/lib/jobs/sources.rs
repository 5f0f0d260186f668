//! A source has a current version: when a path (or object URL) is found holding a
//! content other than the one recorded when it was last read, that earlier content
//! is superseded, so that the dataset and the fleet views hold what each source
//! holds now and never a run twice. Not when another source still holds it: the
//! same bytes copied elsewhere stay current there. Not when the new content fails:
//! the supersession is committed with the new content's harvest. And a source that
//! vanished supersedes nothing: a rename is a move, an emptied inbox retires nothing.

use std::path::{Path, PathBuf};

use super::publish::output_of;
use super::JobOptions;
use crate::catalog::{Catalog, KnownPath};
use crate::model::report::{Revision, Supersession};
use crate::storage::remote::is_remote;
use crate::storage::FileIdentity;
use crate::text::printable_path;

/// The content `path` held before it held `content_hash` (whose `bytes` are at
/// hand), which the new content supersedes, and why; nothing when the path is new,
/// holds the same content, its earlier content is still current at another
/// source, or the catalog cannot say (then nothing is retired: a run counted twice
/// can be mended by the next rescan, a run lost from the dataset cannot).
pub(super) async fn superseded_revision(
    catalog: &Catalog,
    path: &Path,
    content_hash: &str,
    bytes: &[u8],
) -> Option<Revision> {
    let key = path.display().to_string();
    let previous = match catalog.previous_content(&key, content_hash).await {
        Ok(previous) => previous?,
        Err(e) => {
            tracing::warn!(file = %printable_path(path), error = %e, "could not look up the source's earlier content");
            return None;
        }
    };
    if still_current_elsewhere(catalog, &previous.content_hash, &key).await {
        tracing::info!(
            file = %printable_path(path),
            earlier = previous.content_hash,
            "the source's earlier content is still held by another source: it stays current"
        );
        return None;
    }
    let grew = usize::try_from(previous.size_bytes).is_ok_and(|size| {
        size > 0
            && size < bytes.len()
            && blake3::hash(&bytes[..size]).to_hex().as_str() == previous.content_hash
    });
    Some(Revision {
        content_hash: previous.content_hash,
        size_bytes: previous.size_bytes,
        reason: if grew {
            Supersession::Grew
        } else {
            Supersession::Changed
        },
    })
}

/// Whether another source recorded with `content_hash` still holds it: a local
/// file whose identity is the one recorded, or whose bytes still hash to it (a
/// touched copy). An object of an object store is taken to hold it still (telling
/// would cost a request per copy), so a content copied between keys is never
/// retired by a change at one of them. A vanished source holds nothing.
async fn still_current_elsewhere(catalog: &Catalog, content_hash: &str, path: &str) -> bool {
    let others = match catalog.other_sources(content_hash, path).await {
        Ok(others) => others,
        Err(e) => {
            tracing::warn!(content_hash, error = %e, "could not look up the other sources of a content");
            return true;
        }
    };
    if others.iter().any(|(other, _)| is_remote(other)) {
        return true;
    }
    let hash = content_hash.to_string();
    tokio::task::spawn_blocking(move || others.iter().any(|(p, known)| holds(p, known, &hash)))
        .await
        .unwrap_or(true)
}

/// Whether the local file `path`, recorded as `known`, still holds `content_hash`.
fn holds(path: &PathBuf, known: &KnownPath, content_hash: &str) -> bool {
    match FileIdentity::read(path) {
        Err(_) => false,
        Ok(identity) if identity == known.identity => true,
        Ok(_) => std::fs::File::open(path)
            .and_then(|file| {
                blake3::Hasher::new()
                    .update_reader(file)
                    .map(|h| h.finalize())
            })
            .is_ok_and(|hash| hash.to_hex().as_str() == content_hash),
    }
}

/// Retires the content `path` held before it was found holding `content_hash`, a
/// content harvested before at another source: marks it superseded and removes its
/// files from the dataset. A failure is logged and costs only this retirement: the
/// path's identity is not remembered then, so the next rescan reads it and tries
/// again.
pub(super) async fn retire_previous(
    catalog: &Catalog,
    path: &Path,
    content_hash: &str,
    bytes: &[u8],
    options: &JobOptions,
) -> bool {
    let Some(older) = superseded_revision(catalog, path, content_hash, bytes).await else {
        return true;
    };
    let files = match catalog
        .supersede(&older.content_hash, content_hash, older.reason)
        .await
    {
        Ok(Some(files)) => files,
        Ok(None) => return true,
        Err(e) => {
            tracing::warn!(file = %printable_path(path), error = %e, "could not retire the source's earlier content");
            return false;
        }
    };
    match output_of(options).retire(&files).await {
        Ok(()) => {
            tracing::info!(
                file = %printable_path(path),
                earlier = older.content_hash,
                reason = older.reason.name(),
                "the source's earlier content is superseded"
            );
            true
        }
        Err(e) => {
            tracing::warn!(file = %printable_path(path), error = %e, "could not remove the superseded content's dataset files");
            false
        }
    }
}
