//! Sources over time: each path (or object URL) holds one current content, the one
//! `path_identity` recorded when it was last read. When a source is found holding
//! another content, the earlier one is superseded: its runs leave the dataset and
//! every fleet view, unless another source still holds it.

use std::path::PathBuf;

use sqlx::Row;

use super::paths::{known_path, KnownPath};
use super::{now, Catalog};
use crate::error::CatalogError;
use crate::model::report::Supersession;

/// The content a source held when it was last read, as a candidate for supersession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousContent {
    pub content_hash: String,
    pub size_bytes: u64,
}

impl Catalog {
    /// The harvested content `path` held when it was last read, if it is not
    /// `content_hash` and is still current (or was already superseded by
    /// `content_hash`, whose retirement a stopped worker may have left unfinished).
    pub async fn previous_content(
        &self,
        path: &str,
        content_hash: &str,
    ) -> Result<Option<PreviousContent>, CatalogError> {
        let row = sqlx::query(
            "SELECT f.content_hash, f.size_bytes FROM path_identity i
             JOIN harvest_files f ON f.content_hash = i.content_hash
             WHERE i.path = $1 AND i.content_hash <> $2 AND f.status = 'harvested'
               AND (f.superseded_by IS NULL OR f.superseded_by = $2)",
        )
        .bind(path)
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| {
            Ok(PreviousContent {
                content_hash: r.try_get("content_hash")?,
                size_bytes: r.try_get::<i64, _>("size_bytes")?.max(0) as u64,
            })
        })
        .transpose()
        .map_err(self.err())
    }

    /// The other sources recorded as holding `content_hash` when last read (not
    /// `path`), with their identity then: where the content may still be current.
    pub async fn other_sources(
        &self,
        content_hash: &str,
        path: &str,
    ) -> Result<Vec<(PathBuf, KnownPath)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT path, size_bytes, mtime_ns, ctime_ns, inode, content_hash FROM path_identity
             WHERE content_hash = $1 AND path <> $2",
        )
        .bind(content_hash)
        .bind(path)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter()
            .map(|r| known_path(r).map(|(path, known)| (PathBuf::from(path), known)))
            .collect::<Result<_, _>>()
            .map_err(self.err())
    }

    /// Marks `older` superseded by `newer` for `reason`, when `older` is current (or
    /// already superseded by `newer`: a retirement left unfinished is finished).
    /// Gives `older`'s dataset files, to remove, or `None` when it was not current.
    /// For a source that now holds a content harvested before elsewhere; a new
    /// harvest supersedes in its own commit ([`Catalog::complete`]).
    pub async fn supersede(
        &self,
        older: &str,
        newer: &str,
        reason: Supersession,
    ) -> Result<Option<Vec<String>>, CatalogError> {
        let row = sqlx::query(
            "UPDATE harvest_files SET superseded_by = $2, superseded_reason = $3, updated_at = $4
             WHERE content_hash = $1 AND content_hash <> $2 AND status = 'harvested'
               AND (superseded_by IS NULL OR superseded_by = $2)
             RETURNING dataset_files",
        )
        .bind(older)
        .bind(newer)
        .bind(reason.name())
        .bind(now())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|r| r.try_get("dataset_files"))
            .transpose()
            .map(|files| files.map(super::claim::parse_json_list))
            .map_err(self.err())
    }
}
