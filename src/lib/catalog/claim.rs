//! The claim protocol: claim a content, renew the claim while harvesting, then
//! complete it (statistics and status in one transaction) or record its failure.

use std::path::Path;
use std::time::Duration;

use sqlx::{Executor, Row};

use super::{
    classify, dead_holder, now, now_plus, output_location, Backend, Catalog, Claim, ClaimOutcome,
    ClaimPolicy, FileStatus,
};
use crate::error::{CatalogError, FailureKind};
use crate::model::labels::Labels;
use crate::model::readings::DropReason;
use crate::model::report::Report;
use crate::model::run_stats::{RunStats, StatKind, StatValue, RUN_STATS_COLUMNS};
use crate::time::format_utc;

/// This harvester's version, recorded with every harvest and failure.
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A file as a worker found it: its content, where, with which labels.
#[derive(Debug, Clone, Copy)]
pub struct SeenFile<'a> {
    pub content_hash: &'a str,
    pub path: &'a str,
    pub labels: &'a Labels,
    pub size_bytes: u64,
}

/// The worker that holds a claim, or held it last: its host name and process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: i64,
}

impl Holder {
    /// The holder a row names, if it names one (a released claim names none).
    pub(super) fn of(host: Option<String>, pid: Option<i64>) -> Option<Holder> {
        match (host, pid) {
            (Some(host), Some(pid)) if !host.is_empty() => Some(Holder { host, pid }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pid {}", self.host, self.pid)
    }
}

/// What a completed harvest gives the catalog.
#[derive(Debug, Clone, Copy)]
pub struct CompletedHarvest<'a> {
    pub output_dir: &'a Path,
    pub report: &'a Report,
    pub stats: &'a [RunStats],
    /// The labels of the path it was harvested from.
    pub labels: &'a Labels,
    /// Its files in the dataset, relative to the dataset.
    pub dataset_files: &'a [String],
}

/// A list of dataset files as stored: a JSON array.
fn json_list(files: &[String]) -> String {
    serde_json::to_string(files).expect("strings serialize")
}

/// A stored JSON list of dataset files; empty when NULL.
pub(super) fn parse_json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The dataset files a content's row records, if any.
async fn dataset_files_of(
    conn: &mut sqlx::AnyConnection,
    content_hash: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let row = sqlx::query("SELECT dataset_files FROM harvest_files WHERE content_hash = $1")
        .bind(content_hash)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(parse_json_list(row.and_then(|r| r.get(0))))
}

impl Catalog {
    /// Records that a path holds this content, with its labels, and tries to claim
    /// the content for this worker.
    pub async fn claim(
        &self,
        seen: &SeenFile<'_>,
        policy: ClaimPolicy,
        lease: Duration,
        output_schema_version: i64,
    ) -> Result<ClaimOutcome, CatalogError> {
        let SeenFile {
            content_hash,
            path,
            labels,
            size_bytes,
        } = *seen;
        let host = crate::host::hostname();
        let pid = std::process::id() as i64;
        let now = now();
        let expires = now_plus(lease);

        // A claim held by a dead process on this host is stale right away.
        let existing = sqlx::query("SELECT claimed_by_host, claimed_by_pid FROM harvest_files WHERE content_hash = $1 AND status = 'claimed'")
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        let dead_pid = dead_holder(existing, &host);

        let claimed = sqlx::query(
            "INSERT INTO harvest_files (content_hash, source_path, size_bytes, status, attempts, claimed_by_host, claimed_by_pid,
                                        claim_expires_at, started_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'claimed', 1, $4, $5, $6, $7, $7, $7)
             ON CONFLICT (content_hash) DO UPDATE SET
                 status = 'claimed', attempts = harvest_files.attempts + 1, source_path = excluded.source_path,
                 claimed_by_host = excluded.claimed_by_host, claimed_by_pid = excluded.claimed_by_pid,
                 claim_expires_at = excluded.claim_expires_at, started_at = excluded.started_at,
                 updated_at = excluded.updated_at
             WHERE (harvest_files.status = 'claimed' AND (harvest_files.claim_expires_at < $7
                        OR (harvest_files.claimed_by_host = $4 AND harvest_files.claimed_by_pid = $8)))
                OR (harvest_files.status = 'failed' AND (harvest_files.retryable = 1 OR $9 = 1
                        OR (harvest_files.failure_kind = 'internal' AND COALESCE(harvest_files.tool_version, '') <> $13)))
                OR (harvest_files.status = 'harvested' AND ($10 = 1
                        OR ($11 = 1 AND COALESCE(harvest_files.output_schema_version, 0) < $12)))
             RETURNING attempts",
        )
        .bind(content_hash)
        .bind(path)
        .bind(size_bytes as i64)
        .bind(&host)
        .bind(pid)
        .bind(&expires)
        .bind(&now)
        .bind(dead_pid)
        .bind(policy.retry_failed as i64)
        .bind(policy.force as i64)
        .bind(policy.reharvest_outdated as i64)
        .bind(output_schema_version)
        .bind(TOOL_VERSION)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;

        sqlx::query(
            "INSERT INTO harvest_paths (content_hash, path, first_seen_at, last_seen_at, labels) VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (content_hash, path) DO UPDATE SET last_seen_at = excluded.last_seen_at, labels = excluded.labels",
        )
        .bind(content_hash)
        .bind(path)
        .bind(&now)
        .bind(labels.to_json())
        .execute(&self.pool)
        .await
        .map_err(self.err())?;

        if let Some(row) = claimed {
            let attempt: i64 = row.get(0);
            return Ok(ClaimOutcome::Acquired(Claim {
                content_hash: content_hash.to_string(),
                host,
                pid,
                attempt,
            }));
        }
        let row = sqlx::query(
            "SELECT status, output_dir, source_path, claimed_by_host, claimed_by_pid, claim_expires_at, last_error,
                    failure_kind, retryable, output_root
             FROM harvest_files WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        let status: String = row.get(0);
        Ok(match FileStatus::parse(&status) {
            FileStatus::Harvested => ClaimOutcome::AlreadyHarvested {
                output_dir: output_location(row.get(9), row.get(1)),
                source_path: row.get(2),
            },
            FileStatus::Claimed => ClaimOutcome::HeldElsewhere {
                holder: Holder::of(row.get(3), row.get(4)),
                until: row.get::<Option<String>, _>(5).unwrap_or_default(),
            },
            FileStatus::Failed => ClaimOutcome::FailedBefore {
                last_error: row.get::<Option<String>, _>(6).unwrap_or_default(),
                kind: FailureKind::parse(
                    row.get::<Option<String>, _>(7).as_deref(),
                    row.get::<i64, _>(8) == 1,
                ),
            },
        })
    }

    /// Extends a held claim's lease. Returns false if the claim is no longer ours.
    pub async fn renew(&self, claim: &Claim, lease: Duration) -> Result<bool, CatalogError> {
        let done = sqlx::query(
            "UPDATE harvest_files SET claim_expires_at = $1
             WHERE content_hash = $2 AND status = 'claimed' AND claimed_by_host = $3 AND claimed_by_pid = $4",
        )
        .bind(now_plus(lease))
        .bind(&claim.content_hash)
        .bind(&claim.host)
        .bind(claim.pid)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(done.rows_affected() == 1)
    }

    /// The worker that holds the claim on a content, or harvested it: what a worker
    /// whose claim was taken over reports.
    pub async fn holder(&self, content_hash: &str) -> Result<Option<Holder>, CatalogError> {
        let row = sqlx::query(
            "SELECT claimed_by_host, claimed_by_pid FROM harvest_files
             WHERE content_hash = $1 AND status <> 'failed'",
        )
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Holder::of(
            row.try_get("claimed_by_host").map_err(self.err())?,
            row.try_get("claimed_by_pid").map_err(self.err())?,
        ))
    }

    /// Stores the statistics and marks the file harvested, atomically, if the claim
    /// is still ours, with its dataset files; marks the revision it supersedes. The
    /// claim's host and pid stay recorded, so that a worker whose claim was taken
    /// over can name the one that harvested the file.
    /// Returns the dataset files its publication replaces (this content's earlier
    /// files elsewhere, the superseded revision's), or `None` (and changes nothing)
    /// if the claim is no longer ours.
    pub async fn complete(
        &self,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<Option<Vec<String>>, CatalogError> {
        let mut conn = self.pool.acquire().await.map_err(self.err())?;
        // SQLite: take the write lock up front (BEGIN IMMEDIATE) so concurrent
        // writers queue on the busy timeout instead of failing on lock upgrade.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        conn.execute(begin).await.map_err(self.err())?;
        let result = self
            .complete_in_transaction(&mut conn, claim, harvest)
            .await;
        let end = if matches!(result, Ok(Some(_))) {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        match conn.execute(end).await {
            Ok(_) => result,
            Err(e) => {
                // Never hand a connection with an open transaction back to the pool.
                let _ = conn.detach();
                result.and(Err(classify(&self.location, e)))
            }
        }
    }

    async fn complete_in_transaction(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<Option<Vec<String>>, CatalogError> {
        let CompletedHarvest {
            output_dir,
            report,
            stats,
            labels,
            dataset_files,
        } = *harvest;
        // The output root, absolute, and the directory's name under it: found again
        // from any working directory, and movable with its root. An object store's
        // (`s3://bucket/prefix/name`) is kept as it is.
        let output_dir = crate::storage::absolute(output_dir);
        let name = output_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let root = output_dir
            .parent()
            .map(|p| p.to_string_lossy().into_owned());
        // What this content had in the dataset before, and the revision it replaces.
        let mut replaced = dataset_files_of(conn, &claim.content_hash)
            .await
            .map_err(self.err())?;
        if let Some(older) = &report.supersedes {
            replaced.extend(
                dataset_files_of(conn, &older.content_hash)
                    .await
                    .map_err(self.err())?,
            );
        }
        let obsolete: Vec<String> = replaced
            .into_iter()
            .filter(|f| !dataset_files.contains(f))
            .collect();
        let drops: Vec<i64> = DropReason::ALL
            .iter()
            .map(|r| report.rows.dropped.get(r).copied().unwrap_or(0) as i64)
            .collect();
        let drop_columns: Vec<String> = DropReason::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| format!("dropped_{} = ${}", r.name(), i + 16))
            .collect();
        let sql = format!(
            "UPDATE harvest_files SET status = 'harvested', finished_at = $1, updated_at = $1, last_error = NULL,
                 retryable = 0, claim_expires_at = NULL, tool_version = $2, output_schema_version = $3, output_dir = $4, rows_read = $5, rows_kept = $6,
                 runs = $7, report = $8, output_root = $12, dataset_files = $13, dataset_obsolete = $14,
                 superseded_by = NULL, rows_dropped = $15, failure_kind = NULL, {}
             WHERE content_hash = $9 AND status = 'claimed' AND claimed_by_host = $10 AND claimed_by_pid = $11",
            drop_columns.join(", ")
        );
        let mut update = sqlx::query(&sql)
            .bind(now())
            .bind(&report.tool_version)
            .bind(report.output_schema_version)
            .bind(name)
            .bind(report.rows.read as i64)
            .bind(report.rows.kept as i64)
            .bind(report.coverage.len() as i64)
            .bind(serde_json::to_string(report).expect("reports serialize"))
            .bind(&claim.content_hash)
            .bind(&claim.host)
            .bind(claim.pid)
            .bind(root)
            .bind(json_list(dataset_files))
            .bind(json_list(&obsolete))
            .bind(report.rows.dropped_total() as i64);
        for n in drops {
            update = update.bind(n);
        }
        let marked = update.execute(&mut *conn).await.map_err(self.err())?;
        if marked.rows_affected() != 1 {
            return Ok(None);
        }
        if let Some(older) = &report.supersedes {
            sqlx::query("UPDATE harvest_files SET superseded_by = $1 WHERE content_hash = $2 AND content_hash <> $1")
                .bind(&claim.content_hash)
                .bind(&older.content_hash)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
        }
        sqlx::query("DELETE FROM run_stats WHERE content_hash = $1")
            .bind(&claim.content_hash)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        let insert = self.run_stats_insert();
        let labels = labels.to_json();
        for s in stats {
            let mut query = sqlx::query(&insert).bind(&claim.content_hash).bind(&labels);
            for value in s.values() {
                query = match value {
                    StatValue::RunId(id) => query.bind(id.to_string()),
                    StatValue::Robot(robot) => query.bind(i64::from(robot)),
                    // Bound as '' and stored as NULL, like a missing quantity.
                    StatValue::Text(text) => query.bind(text.unwrap_or_default()),
                    StatValue::Instant(ns) => query.bind(format_utc(ns)),
                    // A missing quantity is bound as NaN and stored as NULL: the Any
                    // driver cannot bind a typed NULL to PostgreSQL reliably across
                    // executions of a cached statement.
                    StatValue::Float(v) => query.bind(v.unwrap_or(f64::NAN)),
                    StatValue::Count(n) => query.bind(n as i64),
                };
            }
            query.execute(&mut *conn).await.map_err(self.err())?;
        }
        Ok(Some(obsolete))
    }

    /// The INSERT of one row of run statistics: the content hash, the labels, then
    /// every column of [`RUN_STATS_COLUMNS`].
    fn run_stats_insert(&self) -> String {
        let names: Vec<&str> = RUN_STATS_COLUMNS.iter().map(|c| c.sql).collect();
        let values: Vec<String> = RUN_STATS_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| match column.kind {
                StatKind::Quantity => self.nullable_float(i + 3),
                StatKind::Text => format!("NULLIF(${}, '')", i + 3),
                _ => format!("${}", i + 3),
            })
            .collect();
        format!(
            "INSERT INTO run_stats (content_hash, labels, {}) VALUES ($1, $2, {})",
            names.join(", "),
            values.join(", ")
        )
    }

    /// The SQL for float parameter `$i` that is NULL when bound as NaN. SQLite stores
    /// a bound NaN as NULL by itself.
    fn nullable_float(&self, i: usize) -> String {
        match self.backend {
            Backend::Postgres => {
                format!("NULLIF(CAST(${i} AS DOUBLE PRECISION), CAST('NaN' AS DOUBLE PRECISION))")
            }
            Backend::Sqlite => format!("${i}"),
        }
    }

    /// Records a failed attempt, its kind and this tool's version (an internal error
    /// is retried by a newer version), and releases the claim.
    pub async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        kind: FailureKind,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE harvest_files SET status = 'failed', last_error = $1, retryable = $2, finished_at = $3, updated_at = $3,
                 claimed_by_host = NULL, claimed_by_pid = NULL, claim_expires_at = NULL, failure_kind = $7, tool_version = $8
             WHERE content_hash = $4 AND status = 'claimed' AND claimed_by_host = $5 AND claimed_by_pid = $6",
        )
        .bind(error)
        .bind((kind == FailureKind::Retryable) as i64)
        .bind(now())
        .bind(&claim.content_hash)
        .bind(&claim.host)
        .bind(claim.pid)
        .bind(kind.name())
        .bind(TOOL_VERSION)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }
}

/// Where a content with pending dataset files stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publication {
    /// Harvested: publish `files`, removing `obsolete`.
    Due {
        files: Vec<String>,
        obsolete: Vec<String>,
    },
    /// Being harvested: its worker publishes.
    InProgress,
    /// Failed or unknown: what is pending will never be published.
    Abandoned,
}

impl Catalog {
    /// Whether the pending dataset files of a content are due for publication.
    pub async fn publication(&self, content_hash: &str) -> Result<Publication, CatalogError> {
        let row = sqlx::query(
            "SELECT status, dataset_files, dataset_obsolete FROM harvest_files WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        let Some(row) = row else {
            return Ok(Publication::Abandoned);
        };
        Ok(match FileStatus::parse(&row.get::<String, _>(0)) {
            FileStatus::Harvested => Publication::Due {
                files: parse_json_list(row.get(1)),
                obsolete: parse_json_list(row.get(2)),
            },
            FileStatus::Claimed => Publication::InProgress,
            FileStatus::Failed => Publication::Abandoned,
        })
    }
}
