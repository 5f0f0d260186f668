//! The claim protocol: claim a content, renew the claim while harvesting, then
//! complete it (statistics and status in one transaction) or record its failure.

use std::path::Path;
use std::time::Duration;

use sqlx::{Executor, Row};

use super::copies::{Completion, Settled};
use super::params::Params;
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
    /// Its labels: its path's, then those given.
    pub labels: &'a Labels,
    /// The `--label` part of `labels`, recorded apart so that a later run without
    /// `--label` keeps it.
    pub given: &'a Labels,
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
    /// Their sizes in bytes, in the same order, so that a rescan can tell a file
    /// that is gone or cut short with a stat; empty when not known (uploaded).
    pub dataset_sizes: &'a [u64],
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

/// What a claim may take over, beside a free content: a stale claim (its lease ran
/// out, or `dead_pid` on this host held it) and what `policy` asks to redo.
struct ClaimTerms {
    policy: ClaimPolicy,
    /// When the claim runs out unless renewed.
    expires: String,
    output_schema_version: i64,
    dead_pid: i64,
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
    let files = row.map(|r| r.try_get("dataset_files")).transpose()?;
    Ok(parse_json_list(files.flatten()))
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
        let worker = Holder {
            host: crate::host::hostname(),
            pid: std::process::id() as i64,
        };
        let now = now();
        let dead_pid = self.dead_claimant(seen.content_hash, &worker.host).await?;
        let terms = ClaimTerms {
            policy,
            expires: now_plus(lease),
            output_schema_version,
            dead_pid,
        };
        let attempt = self.upsert_claim(seen, &worker, &now, &terms).await?;
        self.record_path(seen, &now).await?;
        match attempt {
            Some(attempt) => Ok(ClaimOutcome::Acquired(Claim {
                content_hash: seen.content_hash.to_string(),
                host: worker.host,
                pid: worker.pid,
                attempt,
            })),
            None => self.claimed_elsewhere(seen.content_hash).await,
        }
    }

    /// The pid of the claim's holder if it is a dead process of this host, whose
    /// claim is stale right away; else -1, which no process has.
    async fn dead_claimant(&self, content_hash: &str, host: &str) -> Result<i64, CatalogError> {
        let sql = "SELECT claimed_by_host, claimed_by_pid FROM harvest_files
                   WHERE content_hash = $1 AND status = 'claimed'";
        Ok(dead_holder(self.row_of(sql, content_hash).await?, host))
    }

    /// Inserts the content as claimed by `worker`, or takes its row over when the
    /// row allows it (a stale claim, a failure worth retrying, a redo asked for, a
    /// superseded content seen again: a source holds it, so it is current again and
    /// its runs, removed from the dataset, are written again).
    /// Gives the attempt's number, or nothing when another outcome stands.
    async fn upsert_claim(
        &self,
        seen: &SeenFile<'_>,
        worker: &Holder,
        now: &str,
        terms: &ClaimTerms,
    ) -> Result<Option<i64>, CatalogError> {
        let mut p = Params::default();
        let (hash, path) = (p.bind(seen.content_hash), p.bind(seen.path));
        let size = p.bind(seen.size_bytes as i64);
        let (host, pid) = (p.bind(worker.host.as_str()), p.bind(worker.pid));
        let (expires, now) = (p.bind(terms.expires.as_str()), p.bind(now));
        let dead_pid = p.bind(terms.dead_pid);
        let retry_failed = p.bind(terms.policy.retry_failed as i64);
        let force = p.bind(terms.policy.force as i64);
        let outdated = p.bind(terms.policy.reharvest_outdated as i64);
        let version = p.bind(terms.output_schema_version);
        let tool = p.bind(TOOL_VERSION);
        let sql = format!(
            "INSERT INTO harvest_files (content_hash, source_path, size_bytes, status, attempts, claimed_by_host, claimed_by_pid,
                                        claim_expires_at, started_at, created_at, updated_at)
             VALUES ({hash}, {path}, {size}, 'claimed', 1, {host}, {pid}, {expires}, {now}, {now}, {now})
             ON CONFLICT (content_hash) DO UPDATE SET
                 status = 'claimed', attempts = harvest_files.attempts + 1, source_path = excluded.source_path,
                 claimed_by_host = excluded.claimed_by_host, claimed_by_pid = excluded.claimed_by_pid,
                 claim_expires_at = excluded.claim_expires_at, started_at = excluded.started_at,
                 updated_at = excluded.updated_at
             WHERE (harvest_files.status = 'claimed' AND (harvest_files.claim_expires_at < {now}
                        OR (harvest_files.claimed_by_host = {host} AND harvest_files.claimed_by_pid = {dead_pid})))
                OR (harvest_files.status = 'failed' AND (harvest_files.retryable = 1 OR {retry_failed} = 1
                        OR (harvest_files.failure_kind = 'internal' AND COALESCE(harvest_files.tool_version, '') <> {tool})))
                OR (harvest_files.status = 'harvested' AND ({force} = 1
                        OR ({outdated} = 1 AND COALESCE(harvest_files.output_schema_version, 0) < {version})
                        OR harvest_files.superseded_by IS NOT NULL))
             RETURNING attempts"
        );
        let claimed = p
            .query(&sql)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        claimed
            .map(|row| row.try_get("attempts"))
            .transpose()
            .map_err(self.err())
    }

    /// Records that the path holds the content, with its labels, as last seen `now`.
    async fn record_path(&self, seen: &SeenFile<'_>, now: &str) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO harvest_paths (content_hash, path, first_seen_at, last_seen_at, labels, given_labels)
             VALUES ($1, $2, $3, $3, $4, $5)
             ON CONFLICT (content_hash, path) DO UPDATE SET last_seen_at = excluded.last_seen_at,
                 labels = excluded.labels, given_labels = excluded.given_labels",
        )
        .bind(seen.content_hash)
        .bind(seen.path)
        .bind(now)
        .bind(seen.labels.to_json())
        .bind(seen.given.to_json())
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// What stands for a content this worker could not claim: harvested, held by
    /// another worker, or failed for good.
    async fn claimed_elsewhere(&self, content_hash: &str) -> Result<ClaimOutcome, CatalogError> {
        let row = sqlx::query(
            "SELECT status, output_dir, source_path, claimed_by_host, claimed_by_pid, claim_expires_at, last_error,
                    failure_kind, retryable, output_root
             FROM harvest_files WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        let text = |column: &str| -> Result<Option<String>, CatalogError> {
            row.try_get(column).map_err(self.err())
        };
        let status = text("status")?.unwrap_or_default();
        Ok(match FileStatus::parse(&status) {
            FileStatus::Harvested => ClaimOutcome::AlreadyHarvested {
                output_dir: output_location(text("output_root")?, text("output_dir")?),
                source_path: text("source_path")?.unwrap_or_default(),
            },
            FileStatus::Claimed => ClaimOutcome::HeldElsewhere {
                holder: Holder::of(
                    text("claimed_by_host")?,
                    row.try_get("claimed_by_pid").map_err(self.err())?,
                ),
                until: text("claim_expires_at")?.unwrap_or_default(),
            },
            FileStatus::Failed => ClaimOutcome::FailedBefore {
                last_error: text("last_error")?.unwrap_or_default(),
                kind: FailureKind::parse(
                    text("failure_kind")?.as_deref(),
                    row.try_get::<i64, _>("retryable").map_err(self.err())? == 1,
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
        let sql = "SELECT claimed_by_host, claimed_by_pid FROM harvest_files
                   WHERE content_hash = $1 AND status <> 'failed'";
        let row = self.row_of(sql, content_hash).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Holder::of(
            row.try_get("claimed_by_host").map_err(self.err())?,
            row.try_get("claimed_by_pid").map_err(self.err())?,
        ))
    }

    /// Stores the statistics and marks the file harvested, atomically, if the claim
    /// is still ours, with its dataset files and job; marks the revision it
    /// supersedes. The claim's host and pid stay recorded, so that a worker whose
    /// claim was taken over can name the one that harvested the file.
    /// Weighs its runs against their copies in other current contents (see
    /// [`super::copies`]), in the same transaction, so that a run is published once.
    /// Returns what to publish and what its publication replaces (this content's
    /// earlier files elsewhere, the superseded revision's, copies of its runs set
    /// aside), or `None` (and changes nothing) if the claim is no longer ours.
    pub async fn complete(
        &self,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<Option<Completion>, CatalogError> {
        let mut conn = self.pool.acquire().await.map_err(self.err())?;
        // SQLite: take the write lock up front (BEGIN IMMEDIATE) so concurrent
        // writers queue on the busy timeout instead of failing on lock upgrade.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        conn.execute(begin).await.map_err(self.err())?;
        let result = match self.serialise_completions(&mut conn).await {
            Ok(()) => {
                self.complete_in_transaction(&mut conn, claim, harvest)
                    .await
            }
            Err(e) => Err(e),
        };
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

    /// PostgreSQL: one completion at a time (a transaction-scoped advisory lock),
    /// so that two copies of a run committed at once each see the other when
    /// weighed, instead of both being published. SQLite's BEGIN IMMEDIATE already
    /// serialises writers.
    async fn serialise_completions(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<(), CatalogError> {
        if self.backend == Backend::Postgres {
            // Wrapped: the lock function returns `void`, which the Any driver cannot read.
            sqlx::query(
                "SELECT COUNT(*) AS n FROM (SELECT pg_advisory_xact_lock(7236485190240617345)) AS l",
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(self.err())?;
        }
        Ok(())
    }

    /// The steps of [`Catalog::complete`], in its transaction.
    async fn complete_in_transaction(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<Option<Completion>, CatalogError> {
        let obsolete = self.obsolete_files(conn, claim, harvest).await?;
        if !self.mark_harvested(conn, claim, harvest, &obsolete).await? {
            return Ok(None);
        }
        if let Some(older) = &harvest.report.supersedes {
            sqlx::query(
                "UPDATE harvest_files SET superseded_by = $1, superseded_reason = $3
                 WHERE content_hash = $2 AND content_hash <> $1",
            )
            .bind(&claim.content_hash)
            .bind(&older.content_hash)
            .bind(older.reason.name())
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        }
        self.store_run_stats(conn, claim, harvest).await?;
        let settled = self.settle_copies(conn, &claim.content_hash).await?;
        Ok(Some(
            self.completion(conn, claim, harvest, obsolete, settled)
                .await?,
        ))
    }

    /// What the harvest publishes once its copies are settled; the files it
    /// removes are recorded, for a job that publishes what a stopped worker left.
    async fn completion(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
        mut obsolete: Vec<String>,
        settled: Settled,
    ) -> Result<Completion, CatalogError> {
        let publish = harvest
            .dataset_files
            .iter()
            .filter(|f| !settled.withheld.contains(f))
            .cloned()
            .collect();
        if !settled.withheld.is_empty() || !settled.retired.is_empty() {
            obsolete.extend(settled.withheld);
            obsolete.extend(settled.retired);
            sqlx::query("UPDATE harvest_files SET dataset_obsolete = $1 WHERE content_hash = $2")
                .bind(json_list(&obsolete))
                .bind(&claim.content_hash)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
        }
        Ok(Completion {
            publish,
            obsolete,
            copies: settled.copies,
        })
    }

    /// The dataset files whose place the harvest takes: what this content had in
    /// the dataset before and what the revision it supersedes had, but for the
    /// files it writes again.
    async fn obsolete_files(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<Vec<String>, CatalogError> {
        let mut replaced = dataset_files_of(conn, &claim.content_hash)
            .await
            .map_err(self.err())?;
        if let Some(older) = &harvest.report.supersedes {
            replaced.extend(
                dataset_files_of(conn, &older.content_hash)
                    .await
                    .map_err(self.err())?,
            );
        }
        Ok(replaced
            .into_iter()
            .filter(|f| !harvest.dataset_files.contains(f))
            .collect())
    }

    /// Marks the content harvested with its report's figures and its dataset
    /// files, if the claim is still ours; whether it was.
    async fn mark_harvested(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
        obsolete: &[String],
    ) -> Result<bool, CatalogError> {
        let report = harvest.report;
        // The output root, absolute, and the directory's name under it: found again
        // from any working directory, and movable with its root. An object store's
        // (`s3://bucket/prefix/name`) is kept as it is.
        let output_dir = crate::storage::absolute(harvest.output_dir);
        let name = output_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let root = output_dir
            .parent()
            .map(|p| p.to_string_lossy().into_owned());
        let mut p = Params::default();
        let now = p.bind(now());
        let mut set: Vec<(String, String)> = [
            ("finished_at", now.clone()),
            ("updated_at", now),
            ("tool_version", p.bind(report.tool_version.as_str())),
            (
                "output_schema_version",
                p.bind(report.output_schema_version),
            ),
            ("output_dir", p.bind(name)),
            ("output_root", p.bind(root)),
            ("rows_read", p.bind(report.rows.read as i64)),
            ("rows_kept", p.bind(report.rows.kept as i64)),
            ("rows_dropped", p.bind(report.rows.dropped_total() as i64)),
            ("runs", p.bind(report.coverage.len() as i64)),
            (
                "report",
                p.bind(serde_json::to_string(report).expect("reports serialize")),
            ),
            ("labels", p.bind(harvest.labels.to_json())),
            ("dataset_files", p.bind(json_list(harvest.dataset_files))),
            ("dataset_obsolete", p.bind(json_list(obsolete))),
            (
                "dataset_sizes",
                p.bind(
                    (harvest.dataset_sizes.len() == harvest.dataset_files.len()).then(|| {
                        serde_json::to_string(harvest.dataset_sizes).expect("sizes serialize")
                    }),
                ),
            ),
        ]
        .map(|(column, value)| (column.to_string(), value))
        .into();
        for reason in DropReason::ALL {
            let dropped = report.rows.dropped.get(&reason).copied().unwrap_or(0);
            set.push((format!("dropped_{}", reason.name()), p.bind(dropped as i64)));
        }
        let job = self
            .current_job()
            .map_or("NULL".to_string(), |id| p.bind(id));
        set.push(("job_id".to_string(), job));
        let set: Vec<String> = set.iter().map(|(c, v)| format!("{c} = {v}")).collect();
        let (hash, host) = (p.bind(&claim.content_hash), p.bind(&claim.host));
        let pid = p.bind(claim.pid);
        let sql = format!(
            "UPDATE harvest_files SET status = 'harvested', last_error = NULL, retryable = 0,
                 claim_expires_at = NULL, superseded_by = NULL, superseded_reason = NULL, failure_kind = NULL,
                 outputs_missing_since = NULL, {}
             WHERE content_hash = {hash} AND status = 'claimed' AND claimed_by_host = {host}
               AND claimed_by_pid = {pid}",
            set.join(", ")
        );
        let marked = p
            .query(&sql)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        Ok(marked.rows_affected() == 1)
    }

    /// Replaces the content's run statistics with the harvest's.
    async fn store_run_stats(
        &self,
        conn: &mut sqlx::AnyConnection,
        claim: &Claim,
        harvest: &CompletedHarvest<'_>,
    ) -> Result<(), CatalogError> {
        sqlx::query("DELETE FROM run_stats WHERE content_hash = $1")
            .bind(&claim.content_hash)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        let insert = self.run_stats_insert();
        let labels = harvest.labels.to_json();
        for s in harvest.stats {
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
        Ok(())
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

    /// Records a failed attempt, its kind, this tool's version (an internal error
    /// is retried by a newer version) and job, and releases the claim.
    pub async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        kind: FailureKind,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE harvest_files SET status = 'failed', last_error = $1, retryable = $2, finished_at = $3, updated_at = $3,
                 claimed_by_host = NULL, claimed_by_pid = NULL, claim_expires_at = NULL, failure_kind = $7, tool_version = $8,
                 job_id = NULLIF($9, 0)
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
        // 0, no job: job ids start at 1.
        .bind(self.current_job().unwrap_or(0))
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
        let row = self
            .row_of(
                "SELECT status, dataset_files, dataset_obsolete FROM harvest_files WHERE content_hash = $1",
                content_hash,
            )
            .await?;
        let Some(row) = row else {
            return Ok(Publication::Abandoned);
        };
        let column = |name: &str| -> Result<Option<String>, CatalogError> {
            row.try_get(name).map_err(self.err())
        };
        Ok(
            match FileStatus::parse(&column("status")?.unwrap_or_default()) {
                FileStatus::Harvested => Publication::Due {
                    files: parse_json_list(column("dataset_files")?),
                    obsolete: parse_json_list(column("dataset_obsolete")?),
                },
                FileStatus::Claimed => Publication::InProgress,
                FileStatus::Failed => Publication::Abandoned,
            },
        )
    }
}
