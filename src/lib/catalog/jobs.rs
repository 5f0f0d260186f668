//! Job records: every `harvest` invocation is a row of `jobs`, so that whoever
//! runs many workers sees without SQL what ran where, with which version and
//! arguments, whether it is still alive, and how it ended.
//!
//! A job writes its row when it starts, renews `updated_at` with its counts so far
//! (a heartbeat) while it runs, and writes its end. A job that died without
//! writing its end is told from a running one by its heartbeat, or on its own host
//! by its pid (see [`JobState`]). Harvests completed through the [`Catalog`] value
//! that started a job (or its clones) record the job's id.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, now_minus, Catalog};
use crate::error::CatalogError;

/// How many files of each outcome a job had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    pub harvested: i64,
    /// Harvested before (at this source or another), or unchanged since.
    pub skipped: i64,
    /// Failed in this job.
    pub failed: i64,
    /// Recorded as failed by an earlier job, and not tried again.
    pub failed_before: i64,
    /// Another worker held its claim, or harvested it meanwhile.
    pub held_elsewhere: i64,
}

/// Whether a job is still at work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Its heartbeat is recent and, on this host, its process is alive.
    Running,
    /// It recorded its end.
    Finished,
    /// It ended without recording it (killed, crashed, its host lost): its process
    /// is gone from this host, or its heartbeat stopped.
    Unfinished,
}

/// One row of `jobs`, as `view --jobs` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub state: JobState,
    pub started_at: String,
    /// Its last heartbeat (or its end).
    pub updated_at: String,
    pub finished_at: Option<String>,
    pub host: String,
    pub pid: i64,
    pub tool_version: String,
    pub git_commit: String,
    /// `harvest --watch`.
    pub watch: bool,
    /// Its command line, secrets redacted.
    pub args: Vec<String>,
    /// Its counts when it ended, or at its last heartbeat.
    #[serde(flatten)]
    pub counts: JobCounts,
    pub exit_code: Option<i64>,
}

/// What a job records when it starts.
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    pub host: &'a str,
    pub pid: i64,
    pub tool_version: &'a str,
    pub git_commit: &'a str,
    /// The command line, secrets already redacted.
    pub args: &'a [String],
    pub watch: bool,
    /// The claim lease it runs with: a heartbeat older than this (and than
    /// [`MIN_SILENCE`]) means the job is gone.
    pub lease: Duration,
}

/// The silence after which a job is taken for gone whatever its lease: three
/// missed heartbeats of 30 s.
const MIN_SILENCE: Duration = Duration::from_secs(90);

const JOB_COLUMNS: &str = "id, started_at, updated_at, finished_at, host, pid, tool_version, git_commit,
    args, watch, lease_seconds, harvested, skipped, failed, failed_before, held_elsewhere, exit_code";

impl Catalog {
    /// Records the start of a job and returns its id. Harvests completed or failed
    /// through this catalog value and its clones from now on record the id.
    pub async fn start_job(&self, job: &NewJob<'_>) -> Result<i64, CatalogError> {
        let now = now();
        let args = serde_json::to_string(job.args).expect("strings serialize");
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (started_at, updated_at, host, pid, tool_version, git_commit, args, watch, lease_seconds)
             VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING id",
        )
        .bind(&now)
        .bind(job.host)
        .bind(job.pid)
        .bind(job.tool_version)
        .bind(job.git_commit)
        .bind(args)
        .bind(i64::from(job.watch))
        .bind(i64::try_from(job.lease.as_secs()).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        self.job.store(id, Ordering::Relaxed);
        Ok(id)
    }

    /// The job this catalog value works for, if one was started.
    pub(super) fn current_job(&self) -> Option<i64> {
        Some(self.job.load(Ordering::Relaxed)).filter(|&id| id > 0)
    }

    /// A job's heartbeat: now, and its counts so far. A job that recorded its end
    /// is left as it ended.
    pub async fn touch_job(&self, id: i64, counts: &JobCounts) -> Result<(), CatalogError> {
        self.write_job(id, counts, None).await
    }

    /// Records a job's end: its final counts and exit code.
    pub async fn finish_job(
        &self,
        id: i64,
        counts: &JobCounts,
        exit_code: i32,
    ) -> Result<(), CatalogError> {
        self.write_job(id, counts, Some(exit_code)).await
    }

    /// Writes the counts of an unfinished job and renews its heartbeat; with an
    /// exit code, also its end.
    async fn write_job(
        &self,
        id: i64,
        counts: &JobCounts,
        exit_code: Option<i32>,
    ) -> Result<(), CatalogError> {
        let end = if exit_code.is_some() {
            ", finished_at = $1, exit_code = $8"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE jobs SET updated_at = $1, harvested = $2, skipped = $3, failed = $4,
                 failed_before = $5, held_elsewhere = $6{end}
             WHERE id = $7 AND finished_at IS NULL"
        );
        let mut query = sqlx::query(&sql)
            .bind(now())
            .bind(counts.harvested)
            .bind(counts.skipped)
            .bind(counts.failed)
            .bind(counts.failed_before)
            .bind(counts.held_elsewhere)
            .bind(id);
        if let Some(code) = exit_code {
            query = query.bind(i64::from(code));
        }
        query.execute(&self.pool).await.map_err(self.err())?;
        Ok(())
    }

    /// Deletes the records of jobs not heard from for `retention` (started and last
    /// updated before it; a watcher that has run longer keeps its row) and returns
    /// how many. The harvests they made keep their job id, a number no later job
    /// takes (ids are never reused), so that pruning touches no harvest row.
    pub async fn prune_jobs(&self, retention: Duration) -> Result<u64, CatalogError> {
        let deleted = sqlx::query("DELETE FROM jobs WHERE started_at < $1 AND updated_at < $1")
            .bind(now_minus(retention))
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(deleted.rows_affected())
    }

    /// At most `limit` jobs, the most recently started first; with `since` (the
    /// catalog's UTC text, or a prefix of it such as a date), only those still at
    /// work then or later (last updated at or after it), so that a watcher started
    /// long before is not left out.
    pub async fn recent_jobs(
        &self,
        limit: usize,
        since: Option<&str>,
    ) -> Result<Vec<JobRecord>, CatalogError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE updated_at >= $1
             ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(since.unwrap_or(""))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let host = crate::host::hostname();
        rows.iter()
            .map(|row| job_record(row, &host))
            .collect::<Result<_, _>>()
            .map_err(self.err())
    }
}

/// A row of [`JOB_COLUMNS`] as a record, its state judged from `host`, this one.
fn job_record(r: &AnyRow, host: &str) -> Result<JobRecord, sqlx::Error> {
    let finished_at: Option<String> = r.try_get("finished_at")?;
    let updated_at: String = r.try_get("updated_at")?;
    let job_host: String = r.try_get("host")?;
    let pid: i64 = r.try_get("pid")?;
    let lease = Duration::from_secs(r.try_get::<i64, _>("lease_seconds")?.max(0) as u64);
    let state = if finished_at.is_some() {
        JobState::Finished
    } else if (job_host == host && !i32::try_from(pid).is_ok_and(crate::host::is_alive))
        || updated_at < now_minus(lease.max(MIN_SILENCE))
    {
        JobState::Unfinished
    } else {
        JobState::Running
    };
    // Arguments a newer harvester stored otherwise are shown as they are.
    let args: String = r.try_get("args")?;
    let args = serde_json::from_str(&args).unwrap_or_else(|_| vec![args]);
    Ok(JobRecord {
        id: r.try_get("id")?,
        state,
        started_at: r.try_get("started_at")?,
        updated_at,
        finished_at,
        host: job_host,
        pid,
        tool_version: r.try_get("tool_version")?,
        git_commit: r.try_get("git_commit")?,
        watch: r.try_get::<i64, _>("watch")? != 0,
        args,
        counts: JobCounts {
            harvested: r.try_get("harvested")?,
            skipped: r.try_get("skipped")?,
            failed: r.try_get("failed")?,
            failed_before: r.try_get("failed_before")?,
            held_elsewhere: r.try_get("held_elsewhere")?,
        },
        exit_code: r.try_get("exit_code")?,
    })
}
