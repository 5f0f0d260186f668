//! What `view` and `--reharvest-outdated` read from the catalog.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{classify, output_location, Backend, Catalog, FileRecord, FileStatus};
use crate::error::CatalogError;
use crate::model::labels::CELL_LABEL;
use crate::model::report::{Report, RunEntry};
use crate::model::run_stats::{RunStats, StatKind, StatValue, RUN_STATS_COLUMNS};

/// A row of [`Catalog::FILE_COLUMNS`] as a record, with the paths it was seen at.
fn file_record(r: &AnyRow, paths: Vec<String>) -> Result<FileRecord, sqlx::Error> {
    // The fields read from the column of their name.
    macro_rules! by_name {
        ($($field:ident),* ; $($other:tt)*) => {
            FileRecord { $($field: r.try_get(stringify!($field))?,)* $($other)* }
        };
    }
    Ok(by_name!(
        content_hash, source_path, size_bytes, attempts, last_error, started_at, finished_at,
        tool_version, output_schema_version, rows_read, rows_kept, runs, updated_at,
        outputs_missing_since, superseded_by, superseded_reason, job_id;
        status: FileStatus::parse(&r.try_get::<String, _>("status")?),
        output_dir: output_location(r.try_get("output_root")?, r.try_get("output_dir")?),
        paths,
    ))
}

impl Catalog {
    /// Every harvested content made by an older output version: each one's recorded
    /// paths, the most recently seen first.
    pub async fn outdated_sources(
        &self,
        output_schema_version: i64,
    ) -> Result<Vec<Vec<String>>, CatalogError> {
        let rows = sqlx::query(
            "SELECT f.content_hash, p.path FROM harvest_files f JOIN harvest_paths p ON p.content_hash = f.content_hash
             WHERE f.status = 'harvested' AND COALESCE(f.output_schema_version, 0) < $1
             ORDER BY f.content_hash, p.last_seen_at DESC, p.path",
        )
        .bind(output_schema_version)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut sources: Vec<(String, Vec<String>)> = Vec::new();
        for row in &rows {
            let hash: String = row.try_get("content_hash").map_err(self.err())?;
            let path: String = row.try_get("path").map_err(self.err())?;
            match sources.last_mut() {
                Some((last, paths)) if *last == hash => paths.push(path),
                _ => sources.push((hash, vec![path])),
            }
        }
        Ok(sources.into_iter().map(|(_, paths)| paths).collect())
    }

    const FILE_COLUMNS: &'static str = "content_hash, source_path, size_bytes, status, attempts, last_error, started_at,
        finished_at, tool_version, output_schema_version, output_dir, rows_read, rows_kept, runs, updated_at, output_root,
        outputs_missing_since, superseded_by, superseded_reason, job_id";

    async fn records(&self, rows: Vec<AnyRow>) -> Result<Vec<FileRecord>, CatalogError> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let content_hash: String = r.try_get("content_hash").map_err(self.err())?;
            let paths = sqlx::query("SELECT path FROM harvest_paths WHERE content_hash = $1 ORDER BY first_seen_at, path")
                .bind(&content_hash)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?
                .iter()
                .map(|p| p.try_get("path"))
                .collect::<Result<_, _>>()
                .map_err(self.err())?;
            out.push(file_record(&r, paths).map_err(self.err())?);
        }
        Ok(out)
    }

    /// Files, newest first, optionally only those with `status`.
    pub async fn list(
        &self,
        status: Option<FileStatus>,
        limit: i64,
    ) -> Result<Vec<FileRecord>, CatalogError> {
        let filter = ListFilter {
            status,
            ..ListFilter::default()
        };
        self.list_where(&filter, limit).await
    }

    /// Files that pass `filter`, newest first.
    pub async fn list_where(
        &self,
        filter: &ListFilter,
        limit: i64,
    ) -> Result<Vec<FileRecord>, CatalogError> {
        let (conditions, parameters) = self.filter_conditions(filter, 3);
        let sql = format!(
            "SELECT {} FROM harvest_files WHERE {conditions} ORDER BY updated_at DESC, content_hash LIMIT $2",
            Self::FILE_COLUMNS,
        );
        let mut query = sqlx::query(&sql)
            .bind(filter.status.map_or("", FileStatus::name))
            .bind(limit);
        for parameter in parameters {
            query = query.bind(parameter);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(self.err())?;
        self.records(rows).await
    }

    /// How many files pass `filter`, so that a list cut at its limit can say how
    /// many it left out.
    pub async fn count_where(&self, filter: &ListFilter) -> Result<i64, CatalogError> {
        let (conditions, parameters) = self.filter_conditions(filter, 2);
        let sql = format!("SELECT COUNT(*) AS files FROM harvest_files WHERE {conditions}");
        let mut query = sqlx::query(&sql).bind(filter.status.map_or("", FileStatus::name));
        for parameter in parameters {
            query = query.bind(parameter);
        }
        let row = query.fetch_one(&self.pool).await.map_err(self.err())?;
        row.try_get("files").map_err(self.err())
    }

    /// The SQL condition of `filter` over `harvest_files`: `$1` is the status, and
    /// the parameters returned are numbered from `$first` on.
    fn filter_conditions(&self, filter: &ListFilter, first: usize) -> (String, Vec<String>) {
        // Every condition is a parameter; labels are found in their stored JSON form
        // as the text `"key":"value"` (stored keys and values hold no quote), by a
        // plain, case-sensitive substring search: no wildcard to escape.
        let mut conditions = vec!["($1 = '' OR status = $1)".to_string()];
        let mut parameters: Vec<String> = Vec::new();
        for (key, value) in &filter.labels {
            let pair = format!(
                "{}:{}",
                serde_json::Value::from(key.as_str()),
                serde_json::Value::from(value.as_str())
            );
            let (p, v) = (parameters.len() + first, parameters.len() + first + 1);
            let found = |column: &str| match self.backend {
                Backend::Postgres => format!("strpos({column}, ${p}) > 0"),
                Backend::Sqlite => format!("instr({column}, ${p}) > 0"),
            };
            // A harvested content matches by the labels its runs carry, as the
            // dataset's `labels` column does; one not harvested, by those of any
            // path it was seen at.
            let mut matches = format!(
                "(harvest_files.labels IS NOT NULL AND {})
                 OR (harvest_files.labels IS NULL
                     AND content_hash IN (SELECT content_hash FROM harvest_paths WHERE {}))",
                found("harvest_files.labels"),
                found("harvest_paths.labels")
            );
            if key == CELL_LABEL {
                matches.push_str(&format!(
                    " OR content_hash IN (SELECT content_hash FROM run_stats WHERE cell = ${v})"
                ));
            }
            conditions.push(format!("({matches})"));
            parameters.push(pair);
            parameters.push(value.clone());
        }
        if let Some(since) = &filter.since {
            conditions.push(format!(
                "content_hash IN (SELECT content_hash FROM run_stats WHERE start_at >= ${})",
                parameters.len() + first
            ));
            parameters.push(since.clone());
        }
        (conditions.join(" AND "), parameters)
    }

    /// Files whose content hash starts with `target`, or that were seen under the path `target`.
    pub async fn find(&self, target: &str) -> Result<Vec<FileRecord>, CatalogError> {
        let hex = target.len() >= 4 && target.chars().all(|c| c.is_ascii_hexdigit());
        let prefix = if hex {
            format!("{}%", target.to_ascii_lowercase())
        } else {
            String::new()
        };
        let rows = sqlx::query(&format!(
            "SELECT {} FROM harvest_files
             WHERE ($1 <> '' AND content_hash LIKE $1)
                OR content_hash IN (SELECT content_hash FROM harvest_paths WHERE path = $2)
             ORDER BY updated_at DESC",
            Self::FILE_COLUMNS
        ))
        .bind(prefix)
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        self.records(rows).await
    }

    /// The stored report of a harvested content, if any.
    pub async fn report(&self, content_hash: &str) -> Result<Option<Report>, CatalogError> {
        let row = self
            .row_of(
                "SELECT report FROM harvest_files WHERE content_hash = $1",
                content_hash,
            )
            .await?;
        let json: Option<String> = row
            .map(|r| r.try_get("report"))
            .transpose()
            .map_err(self.err())?
            .flatten();
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// The statistics stored for a content, as report entries.
    pub async fn run_stats(&self, content_hash: &str) -> Result<Vec<RunEntry>, CatalogError> {
        let names: Vec<&str> = RUN_STATS_COLUMNS.iter().map(|c| c.sql).collect();
        let rows = sqlx::query(&format!(
            "SELECT {} FROM run_stats WHERE content_hash = $1 ORDER BY run_uuid, robot_id",
            names.join(", ")
        ))
        .bind(content_hash)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let stats = rows
            .iter()
            .map(|row| {
                let values = RUN_STATS_COLUMNS
                    .iter()
                    .map(|column| stat_value(row, column.sql, column.kind))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| classify(&self.location, e))?;
                Ok(RunStats::from_values(values))
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        Ok(RunEntry::entries(&stats, content_hash))
    }
}

/// Which files `view --list` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<FileStatus>,
    /// `key=value` pairs a file must all carry: a label of one of its paths, or for
    /// `cell`, also the cell of one of its runs.
    pub labels: Vec<(String, String)>,
    /// Only files with a run that started at or after this UTC date or second
    /// (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`), compared as the catalog's text.
    pub since: Option<String>,
}

/// Column `name` of a run-statistics row, typed by `kind`.
fn stat_value(row: &AnyRow, name: &str, kind: StatKind) -> Result<StatValue, sqlx::Error> {
    let malformed = |what: &str| sqlx::Error::ColumnDecode {
        index: name.to_string(),
        source: format!("not {what}").into(),
    };
    Ok(match kind {
        StatKind::RunId | StatKind::Instant => {
            let text: String = row.try_get(name)?;
            StatValue::from_text(kind, &text).ok_or_else(|| malformed("a run id or an instant"))?
        }
        StatKind::Robot => StatValue::Robot(
            u8::try_from(row.try_get::<i64, _>(name)?).map_err(|_| malformed("a robot id"))?,
        ),
        StatKind::Text => StatValue::Text(row.try_get(name)?),
        StatKind::Seconds | StatKind::Quantity => StatValue::Float(row.try_get(name)?),
        StatKind::Count => StatValue::Count(row.try_get::<i64, _>(name)?.max(0) as u64),
    })
}
