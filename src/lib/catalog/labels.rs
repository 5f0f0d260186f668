//! Labels follow the source: the `--label` labels recorded for each source, so a
//! run without `--label` keeps them, and the labels a harvested content's runs
//! carry, so a rescan can tell a source whose labels changed (relabelled, or moved
//! to another `key=value` folder) and bring its runs into line.

use sqlx::Row;

use super::Catalog;
use crate::error::CatalogError;
use crate::model::labels::Labels;

impl Catalog {
    /// The `--label` labels recorded for the source `path`: those it was last seen
    /// with; for a path never seen, those recorded where `content_hash` was
    /// harvested from (a moved file keeps them). `None` when nothing is recorded.
    pub async fn given_labels(
        &self,
        path: &str,
        content_hash: &str,
    ) -> Result<Option<Labels>, CatalogError> {
        let row = sqlx::query(
            "SELECT given_labels FROM harvest_paths WHERE path = $1 AND given_labels IS NOT NULL
             ORDER BY last_seen_at DESC LIMIT 1",
        )
        .bind(path)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        let row = match row {
            Some(row) => Some(row),
            None => sqlx::query(
                "SELECT p.given_labels FROM harvest_files f
                 JOIN harvest_paths p ON p.content_hash = f.content_hash AND p.path = f.source_path
                 WHERE f.content_hash = $1 AND p.given_labels IS NOT NULL",
            )
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?,
        };
        row.map(|r| r.try_get::<Option<String>, _>("given_labels"))
            .transpose()
            .map(|labels| labels.map(|l| Labels::from_json(l.as_deref())))
            .map_err(self.err())
    }

    /// The labels the runs of a harvested content carry, and the path it was
    /// harvested from; `None` for a content not harvested. Labels are `None` when
    /// not recorded (never the case for a harvest since they are).
    pub async fn harvest_labels(
        &self,
        content_hash: &str,
    ) -> Result<Option<(Option<Labels>, String)>, CatalogError> {
        let sql = "SELECT labels, source_path FROM harvest_files
                   WHERE content_hash = $1 AND status = 'harvested'";
        let row = self.row_of(sql, content_hash).await?;
        row.map(|r| {
            let labels: Option<String> = r.try_get("labels")?;
            let source: String = r.try_get("source_path")?;
            Ok((labels.map(|l| Labels::from_json(Some(&l))), source))
        })
        .transpose()
        .map_err(self.err())
    }
}
