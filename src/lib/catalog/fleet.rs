//! The fleet at a glance: per cell and day what was harvested (the `fleet_daily`
//! view, over current runs), each cell's newest run, and the sources that fail or
//! wait, by their path's `cell` label.
//!
//! A run's cell is its log's `cell_id`, else its file's `cell` label; a run with
//! neither, and a source whose path has no `cell` label, count under
//! [`NO_CELL`]. Labels are read as the JSON objects the catalog stores and
//! compared in Rust, the same on both backends.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Backend, Catalog};
use crate::error::CatalogError;
use crate::model::labels::{Labels, CELL_LABEL};

/// The cell a run or source counts under when it has none.
pub const NO_CELL: &str = "none";

/// One cell's harvest of one UTC day (of each run's first reading): a row of
/// `fleet_daily`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetDay {
    pub cell: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub files: i64,
    pub runs: i64,
    pub rows_kept: i64,
    /// Rows dropped, counted at each file's first current run's cell and day.
    pub rows_dropped: i64,
    /// Both robots' distance, mm.
    pub distance_mm: f64,
    /// The longer robot's runtime of each run, summed, s.
    pub runtime_s: f64,
}

/// A source whose content's last harvest attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedSource {
    /// The path (or object URL) of the latest attempt.
    pub path: String,
    /// Its path's `cell` label, else [`NO_CELL`].
    pub cell: String,
    pub content_hash: String,
    /// Why, as `harvest` classified it (`unreadable`, `invalid`, …), if recorded.
    pub kind: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    /// When the attempt failed, catalog time (ISO 8601 UTC).
    pub failed_at: String,
}

impl Catalog {
    /// The start of each cell's newest current run, in Unix seconds: when a cell
    /// last produced anything. A run with no cell counts under [`NO_CELL`].
    pub async fn cell_last_runs(&self) -> Result<Vec<(String, f64)>, CatalogError> {
        self.last_runs_where(&[]).await
    }

    /// How many sources failed (their content's last attempt), by their path's
    /// `cell` label, else [`NO_CELL`].
    pub async fn failed_sources_by_cell(&self) -> Result<Vec<(String, i64)>, CatalogError> {
        let sources = self.failed_sources(&[]).await?;
        Ok(count_by_cell(sources.iter().map(|s| s.cell.as_str())))
    }

    /// [`Catalog::cell_last_runs`] of the runs that carry every `key=value` of
    /// `filters` (`cell` is the run's cell; other keys, its labels).
    pub async fn last_runs_where(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<(String, f64)>, CatalogError> {
        // Instants are compared at one width, as `current_runs` does: run_stats
        // writes whole milliseconds with 3 digits and finer instants with 9.
        let sql = "SELECT cell, labels,
                          MAX(CASE WHEN LENGTH(start_at) = 24 THEN SUBSTR(start_at, 1, 23) || '000000Z'
                                   ELSE start_at END) AS last_start
                   FROM current_run_stats GROUP BY cell, labels";
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        let mut newest: BTreeMap<String, f64> = BTreeMap::new();
        for row in &rows {
            let cell: Option<String> = row.try_get("cell").map_err(self.err())?;
            let labels: Option<String> = row.try_get("labels").map_err(self.err())?;
            let start: String = row.try_get("last_start").map_err(self.err())?;
            if !run_matches(cell.as_deref(), labels.as_deref(), filters) {
                continue;
            }
            let Some(ns) = crate::time::parse_utc(&start) else {
                tracing::warn!(start, "a run's start in the catalog is not an instant");
                continue;
            };
            let seconds = ns as f64 / 1e9;
            let cell = cell.unwrap_or_else(|| NO_CELL.to_string());
            let at = newest.entry(cell).or_insert(seconds);
            *at = at.max(seconds);
        }
        Ok(newest.into_iter().collect())
    }

    /// Every source whose content's last attempt failed and whose path carries
    /// every `key=value` of `filters`, newest failure first.
    pub async fn failed_sources(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<FailedSource>, CatalogError> {
        let rows = sqlx::query(
            "SELECT content_hash, source_path, failure_kind, last_error, attempts, failed_at, labels
             FROM latest_failures ORDER BY failed_at DESC, source_path",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut sources = Vec::new();
        for row in &rows {
            let labels: Option<String> = row.try_get("labels").map_err(self.err())?;
            let labels = Labels::from_json(labels.as_deref());
            if !labels_match(&labels, filters) {
                continue;
            }
            sources.push(FailedSource {
                path: row.try_get("source_path").map_err(self.err())?,
                cell: cell_of(&labels),
                content_hash: row.try_get("content_hash").map_err(self.err())?,
                kind: row.try_get("failure_kind").map_err(self.err())?,
                error: row.try_get("last_error").map_err(self.err())?,
                attempts: row.try_get("attempts").map_err(self.err())?,
                failed_at: row.try_get("failed_at").map_err(self.err())?,
            });
        }
        Ok(sources)
    }

    /// How many files are claimed (being harvested, or left by a worker that died
    /// and waiting for its claim to go stale), by their path's `cell` label, else
    /// [`NO_CELL`], of those whose path carries every `key=value` of `filters`.
    pub async fn pending_by_cell(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<(String, i64)>, CatalogError> {
        let rows = sqlx::query(
            "SELECT p.labels FROM harvest_files f
             LEFT JOIN harvest_paths p ON p.content_hash = f.content_hash AND p.path = f.source_path
             WHERE f.status = 'claimed'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut cells = Vec::new();
        for row in &rows {
            let labels: Option<String> = row.try_get("labels").map_err(self.err())?;
            let labels = Labels::from_json(labels.as_deref());
            if labels_match(&labels, filters) {
                cells.push(cell_of(&labels));
            }
        }
        Ok(count_by_cell(cells.iter().map(String::as_str)))
    }

    /// The rows of `fleet_daily` from the UTC day `since` (`YYYY-MM-DD`) on, of the
    /// runs that carry every `key=value` of `filters` (`cell` is the run's cell;
    /// other keys, its labels), by cell and day. Without filters these are
    /// `fleet_daily`'s rows; with them, the same rows of the runs that match (a
    /// file's drops stay at its first current run's cell and day).
    pub async fn fleet_days(
        &self,
        since: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<FleetDay>, CatalogError> {
        self.fleet_rows(since, filters, true).await
    }

    /// [`Catalog::fleet_days`] added up per cell over the days from `since` on, one
    /// row per cell whose `day` is `since`: a file or run counted on several days
    /// (a file whose runs span days) counts once.
    pub async fn fleet_totals(
        &self,
        since: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<FleetDay>, CatalogError> {
        self.fleet_rows(since, filters, false).await
    }

    /// `fleet_daily`'s rows from `since` on that pass `filters`, per cell and day
    /// (`per_day`), else per cell.
    async fn fleet_rows(
        &self,
        since: &str,
        filters: &[(String, String)],
        per_day: bool,
    ) -> Result<Vec<FleetDay>, CatalogError> {
        let mut conditions = vec!["p.day >= $1".to_string()];
        let mut parameters = vec![since.to_string()];
        for (key, value) in filters {
            let p = parameters.len() + 1;
            if key == CELL_LABEL {
                conditions.push(format!("p.cell = ${p}"));
                parameters.push(value.clone());
            } else {
                // Stored labels are JSON objects whose keys and values hold no
                // quote: a pair is found as the text `"key":"value"`.
                let found = match self.backend {
                    Backend::Postgres => format!("strpos(p.labels, ${p}) > 0"),
                    Backend::Sqlite => format!("instr(p.labels, ${p}) > 0"),
                };
                conditions.push(format!("(p.labels IS NOT NULL AND {found})"));
                parameters.push(format!(
                    "{}:{}",
                    serde_json::Value::from(key.as_str()),
                    serde_json::Value::from(value.as_str())
                ));
            }
        }
        // fleet_daily's definition (migration 0010), with each run's labels kept so
        // that rows can be restricted after runs are placed.
        let sql = format!(
            "WITH runs AS (
                 SELECT s.content_hash, s.run_uuid, s.cell, MAX(s.labels) AS labels,
                        SUBSTR(MIN(s.start_at), 1, 10) AS day,
                        SUM(s.rows) AS rows_kept,
                        SUM(s.distance_mm) AS distance_mm,
                        MAX(s.runtime_s) AS runtime_s
                 FROM current_run_stats s
                 GROUP BY s.content_hash, s.run_uuid, s.cell
             ),
             placed AS (
                 SELECT runs.*, ROW_NUMBER() OVER (PARTITION BY content_hash ORDER BY day, run_uuid) AS nth
                 FROM runs
             )
             SELECT p.cell{by_day},
                    COUNT(DISTINCT p.content_hash) AS files,
                    COUNT(DISTINCT p.run_uuid) AS runs,
                    CAST(SUM(p.rows_kept) AS BIGINT) AS rows_kept,
                    CAST(SUM(CASE WHEN p.nth = 1 THEN COALESCE(f.rows_dropped, 0) ELSE 0 END) AS BIGINT)
                        AS rows_dropped,
                    CAST(SUM(COALESCE(p.distance_mm, 0)) AS DOUBLE PRECISION) AS distance_mm,
                    CAST(SUM(p.runtime_s) AS DOUBLE PRECISION) AS runtime_s
             FROM placed p
             JOIN harvest_files f ON f.content_hash = p.content_hash
             WHERE {conditions}
             GROUP BY p.cell{by_day}",
            conditions = conditions.join(" AND "),
            by_day = if per_day { ", p.day" } else { "" },
        );
        let mut query = sqlx::query(&sql);
        for parameter in parameters {
            query = query.bind(parameter);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(self.err())?;
        let mut days = rows
            .iter()
            .map(|r| {
                Ok(FleetDay {
                    cell: r
                        .try_get::<Option<String>, _>("cell")?
                        .unwrap_or_else(|| NO_CELL.to_string()),
                    day: if per_day {
                        r.try_get("day")?
                    } else {
                        since.to_string()
                    },
                    files: r.try_get("files")?,
                    runs: r.try_get("runs")?,
                    rows_kept: r.try_get("rows_kept")?,
                    rows_dropped: r.try_get("rows_dropped")?,
                    distance_mm: r.try_get("distance_mm")?,
                    runtime_s: r.try_get("runtime_s")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(self.err())?;
        // By cell as named here: the backends sort a NULL cell apart.
        days.sort_by(|a, b| (&a.cell, &a.day).cmp(&(&b.cell, &b.day)));
        Ok(days)
    }
}

/// A source's cell: its `cell` label, else [`NO_CELL`].
fn cell_of(labels: &Labels) -> String {
    labels.get(CELL_LABEL).unwrap_or(NO_CELL).to_string()
}

/// Whether `labels` carry every `key=value` of `filters`.
fn labels_match(labels: &Labels, filters: &[(String, String)]) -> bool {
    filters
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value.as_str()))
}

/// Whether a run of `cell` with the stored `labels` passes `filters`: `cell` is
/// compared with the run's cell, other keys with its labels.
fn run_matches(cell: Option<&str>, labels: Option<&str>, filters: &[(String, String)]) -> bool {
    let labels = Labels::from_json(labels);
    filters.iter().all(|(key, value)| {
        if key == CELL_LABEL {
            cell == Some(value.as_str())
        } else {
            labels.get(key) == Some(value.as_str())
        }
    })
}

/// How often each cell occurs, by cell.
fn count_by_cell<'a>(cells: impl Iterator<Item = &'a str>) -> Vec<(String, i64)> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for cell in cells {
        *counts.entry(cell.to_string()).or_default() += 1;
    }
    counts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_without_a_cell_label_count_under_none() {
        let labelled = Labels::from_json(Some(r#"{"cell":"7","line":"B"}"#));
        assert_eq!(cell_of(&labelled), "7");
        assert_eq!(cell_of(&Labels::from_json(None)), NO_CELL);
        assert_eq!(
            count_by_cell(["7", "none", "7"].into_iter()),
            vec![("7".to_string(), 2), ("none".to_string(), 1)]
        );
        let line = |v: &str| vec![("line".to_string(), v.to_string())];
        assert!(labels_match(&labelled, &line("B")));
        assert!(!labels_match(&labelled, &line("C")));
        assert!(run_matches(
            Some("9"),
            Some(r#"{"cell":"7"}"#),
            &[("cell".into(), "9".into())]
        ));
        assert!(!run_matches(
            None,
            Some(r#"{"cell":"7"}"#),
            &[("cell".into(), "7".into())]
        ));
    }
}
