//! Cheap rescans: the identity each path had when it was last read, and the content
//! it held then, so an unchanged path is skipped without reading it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlx::Row;

use super::{at_or_below, now, Catalog};
use crate::error::CatalogError;
use crate::model::labels::Labels;
use crate::storage::FileIdentity;

/// A path known to hold harvested content, with its identity when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPath {
    pub identity: FileIdentity,
    pub content_hash: String,
    /// The labels the content's runs carry, when this path is the one it was
    /// harvested from (else `None`: a copy's labels are not the runs').
    pub labels: Option<Labels>,
    /// The `--label` labels recorded for this path, if any.
    pub given: Option<Labels>,
}

/// Known paths by absolute path.
pub type KnownPaths = HashMap<PathBuf, KnownPath>;

/// A row of `path_identity`: its path, and what was known of it.
pub(super) fn known_path(r: &sqlx::any::AnyRow) -> Result<(String, KnownPath), sqlx::Error> {
    let known = KnownPath {
        identity: FileIdentity {
            size: r.try_get::<i64, _>("size_bytes")? as u64,
            mtime_ns: r.try_get("mtime_ns")?,
            ctime_ns: r.try_get("ctime_ns")?,
            inode: r.try_get::<i64, _>("inode")? as u64,
        },
        content_hash: r.try_get("content_hash")?,
        // Only the rescan's query selects these.
        labels: r
            .try_get::<Option<String>, _>("run_labels")
            .ok()
            .flatten()
            .map(|l| Labels::from_json(Some(&l))),
        given: r
            .try_get::<Option<String>, _>("given_labels")
            .ok()
            .flatten()
            .map(|l| Labels::from_json(Some(&l))),
    };
    Ok((r.try_get("path")?, known))
}

impl Catalog {
    /// The paths at or below `root` (an absolute path) whose last content read is
    /// harvested at `output_schema_version`: one query, however many files it holds.
    pub async fn known_paths(
        &self,
        root: &Path,
        output_schema_version: i64,
    ) -> Result<KnownPaths, CatalogError> {
        // SQLite's LIKE also matches other cases of ASCII letters, which only loads
        // a few rows more: paths are compared exactly where they are used.
        let (exact, below) = at_or_below(root);
        // The content's state is looked up per path by its primary key, not joined:
        // right after a first pass fills both tables, PostgreSQL's statistics are
        // stale and its planner joined 10,000 paths to 10,000 files in a nested loop
        // (19 s); a lookup per row takes 40 ms.
        let rows = sqlx::query(
            "SELECT i.path, i.size_bytes, i.mtime_ns, i.ctime_ns, i.inode, i.content_hash,
                 CAST((SELECT CASE WHEN f.status = 'harvested' AND f.output_schema_version = $3
                                        AND f.superseded_by IS NULL
                                   THEN 1 ELSE 0 END
                       FROM harvest_files f WHERE f.content_hash = i.content_hash) AS BIGINT) AS is_current,
                 (SELECT f.labels FROM harvest_files f
                  WHERE f.content_hash = i.content_hash AND f.source_path = i.path) AS run_labels,
                 (SELECT p.given_labels FROM harvest_paths p
                  WHERE p.content_hash = i.content_hash AND p.path = i.path) AS given_labels
             FROM path_identity i
             WHERE i.path = $1 OR i.path LIKE $2 ESCAPE '\\'",
        )
        .bind(&exact)
        .bind(&below)
        .bind(output_schema_version)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut known = KnownPaths::new();
        for r in &rows {
            let current: Option<i64> = r.try_get("is_current").map_err(self.err())?;
            if current != Some(1) {
                continue;
            }
            let (path, entry) = known_path(r).map_err(self.err())?;
            known.insert(PathBuf::from(path), entry);
        }
        Ok(known)
    }

    /// Remembers that `path` (absolute) had `identity` when it was read and held
    /// `content_hash`.
    pub async fn remember_path(
        &self,
        path: &Path,
        identity: FileIdentity,
        content_hash: &str,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO path_identity (path, size_bytes, mtime_ns, ctime_ns, inode, content_hash, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (path) DO UPDATE SET size_bytes = $2, mtime_ns = $3, ctime_ns = $4,
                 inode = $5, content_hash = $6, seen_at = $7",
        )
        .bind(path.to_string_lossy().into_owned())
        .bind(identity.size as i64)
        .bind(identity.mtime_ns)
        .bind(identity.ctime_ns)
        .bind(identity.inode as i64)
        .bind(content_hash)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Forgets what `paths` (absolute) held: their sources vanished (an inbox emptied
    /// after its harvest, a file renamed), so a file that appears there later is a
    /// new source, not a new version of the old one. Their contents stay current.
    pub async fn forget_paths(&self, paths: &[String]) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        for path in paths {
            sqlx::query("DELETE FROM path_identity WHERE path = $1")
                .bind(path)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }
}
