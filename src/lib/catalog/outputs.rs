//! What a rescan needs to check that harvests' outputs are still in place, and to
//! record those that are gone for good: one query per directory scanned, whatever
//! it holds, so that the check costs a stat per file rather than a read.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::claim::parse_json_list;
use super::{at_or_below, now, Catalog};
use crate::error::CatalogError;
use crate::storage::FileIdentity;

/// The outputs a current harvest was recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedOutputs {
    pub content_hash: String,
    /// The path of its latest harvest, to name it by.
    pub source_path: String,
    /// The output directory's name under the output root.
    pub output_dir: String,
    /// Its files in the dataset, relative to the dataset.
    pub dataset_files: Vec<String>,
    /// Their sizes in bytes, in the same order; empty when not recorded.
    pub dataset_sizes: Vec<u64>,
    /// When a rescan found them gone with no source to rebuild them from.
    pub missing_since: Option<String>,
}

/// Why a content's outputs may be absent, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputsState {
    /// A newer revision of its source replaced it: its runs left the dataset on
    /// purpose. The newer revision's content hash.
    Superseded(String),
    /// A rescan found them gone and no source to rebuild them from.
    Missing { since: String },
    /// Nothing recorded: they should be in place.
    Recorded,
}

impl Catalog {
    /// The current harvests (harvested, not superseded) written under `out_root`
    /// (absolute) that were seen at a path at or below `root` (absolute).
    pub async fn current_outputs(
        &self,
        root: &Path,
        out_root: &Path,
    ) -> Result<Vec<RecordedOutputs>, CatalogError> {
        let (exact, below) = at_or_below(root);
        let rows = sqlx::query(
            "SELECT f.content_hash, f.source_path, f.output_dir, f.dataset_files, f.dataset_sizes, f.outputs_missing_since
             FROM harvest_files f
             WHERE f.status = 'harvested' AND f.superseded_by IS NULL AND f.output_root = $3
               AND f.content_hash IN (SELECT p.content_hash FROM harvest_paths p
                                      WHERE p.path = $1 OR p.path LIKE $2 ESCAPE '\\')",
        )
        .bind(&exact)
        .bind(&below)
        .bind(out_root.to_string_lossy().into_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut found = Vec::with_capacity(rows.len());
        for r in &rows {
            let output_dir: Option<String> = r.try_get("output_dir").map_err(self.err())?;
            let Some(output_dir) = output_dir else {
                continue;
            };
            let sizes: Option<String> = r.try_get("dataset_sizes").map_err(self.err())?;
            found.push(RecordedOutputs {
                content_hash: r.try_get("content_hash").map_err(self.err())?,
                source_path: r.try_get("source_path").map_err(self.err())?,
                output_dir,
                dataset_files: parse_json_list(r.try_get("dataset_files").map_err(self.err())?),
                dataset_sizes: sizes
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default(),
                missing_since: r.try_get("outputs_missing_since").map_err(self.err())?,
            });
        }
        Ok(found)
    }

    /// The paths whose last read found `content_hash`, with their identity then:
    /// a path whose identity is still the same holds the content yet.
    pub async fn paths_holding(
        &self,
        content_hash: &str,
    ) -> Result<Vec<(PathBuf, FileIdentity)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT path, size_bytes, mtime_ns, ctime_ns, inode FROM path_identity
             WHERE content_hash = $1 ORDER BY seen_at DESC",
        )
        .bind(content_hash)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter()
            .map(|r| {
                Ok((
                    PathBuf::from(r.try_get::<String, _>("path")?),
                    FileIdentity {
                        size: r.try_get::<i64, _>("size_bytes")? as u64,
                        mtime_ns: r.try_get("mtime_ns")?,
                        ctime_ns: r.try_get("ctime_ns")?,
                        inode: r.try_get::<i64, _>("inode")? as u64,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err())
    }

    /// Records that a current harvest's outputs are gone with no source left;
    /// whether this is news (it was not recorded so before), so that it is said once.
    pub async fn mark_outputs_missing(&self, content_hash: &str) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE harvest_files SET outputs_missing_since = $1
             WHERE content_hash = $2 AND status = 'harvested' AND outputs_missing_since IS NULL",
        )
        .bind(now())
        .bind(content_hash)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(done.rows_affected() == 1)
    }

    /// Clears the record of missing outputs of a content whose outputs are back
    /// (put back by hand).
    pub async fn clear_outputs_missing(&self, content_hash: &str) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE harvest_files SET outputs_missing_since = NULL
             WHERE content_hash = $1 AND outputs_missing_since IS NOT NULL",
        )
        .bind(content_hash)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Why a content's outputs may be absent.
    pub async fn outputs_state(&self, content_hash: &str) -> Result<OutputsState, CatalogError> {
        let row = self
            .row_of(
                "SELECT superseded_by, outputs_missing_since FROM harvest_files WHERE content_hash = $1",
                content_hash,
            )
            .await?;
        let Some(row) = row else {
            return Ok(OutputsState::Recorded);
        };
        let superseded: Option<String> = row.try_get("superseded_by").map_err(self.err())?;
        let missing: Option<String> = row.try_get("outputs_missing_since").map_err(self.err())?;
        Ok(match (superseded, missing) {
            (Some(by), _) => OutputsState::Superseded(by),
            (None, Some(since)) => OutputsState::Missing { since },
            (None, None) => OutputsState::Recorded,
        })
    }
}
