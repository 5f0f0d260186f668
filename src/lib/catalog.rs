//! The catalog: which file contents were harvested, by whom, with what result.
//!
//! One abstraction over two backends through sqlx's `Any` driver: PostgreSQL in
//! production, an embedded SQLite file by default. The schema is created and
//! upgraded by versioned, embedded migrations (`migrations/postgres`,
//! `migrations/sqlite`) on every open.
//!
//! # Exactly once
//! A file is identified by the BLAKE3 hash of its bytes. Before any work a worker
//! *claims* the hash with one atomic upsert that succeeds only if nobody has it
//! (new content), or its previous claim is stale (the lease ran out, or the holder
//! was a dead process on this host), or the caller asked to redo it (`--force`,
//! `--retry-failed`, an outdated output version, a failure worth retrying). A live
//! claim is renewed while the harvest runs. Then:
//!
//! 1. outputs are written to a temporary directory and renamed into place;
//! 2. in one transaction, the run statistics are stored and the file is marked
//!    `harvested` — only while the claim is still ours.
//!
//! A crash between 1 and 2 leaves complete outputs and a `claimed` row whose claim
//! goes stale; the next trigger harvests again and replaces the outputs with
//! identical ones. Nothing is marked harvested that was not written, and no content
//! is harvested twice at the same time.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::report::{Report, RunEntry};
use crate::stats::{RobotStats, Summary};
use crate::timestamp::format_utc;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// File name of the default embedded catalog, inside the output directory.
pub const DEFAULT_SQLITE_FILE: &str = "catalog.db";

/// Why the catalog could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {location} is unreachable: {reason}")]
    Unreachable { location: String, reason: String },
    #[error("catalog {location} refused the operation: {reason}")]
    Refused { location: String, reason: String },
    #[error("catalog {location} was created by a newer harvester (schema version {found}, this one knows up to {known}); upgrade harvester")]
    NewerSchema {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("invalid catalog URL {location}: {reason}")]
    BadUrl { location: String, reason: String },
}

impl CatalogError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CatalogError::Unreachable { .. } | CatalogError::Refused { .. }
        )
    }
}

/// The two kinds of catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// This worker now holds the file; harvest it.
    Acquired(Claim),
    /// Already harvested (possibly under another name).
    AlreadyHarvested {
        output_dir: Option<String>,
        source_path: String,
    },
    /// Another live worker holds it.
    HeldElsewhere {
        host: String,
        pid: i64,
        until: String,
    },
    /// It failed before and a retry is not expected to help.
    FailedBefore { last_error: String },
}

/// A held claim: the identity that must match to renew or complete it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub content_hash: String,
    pub host: String,
    pub pid: i64,
    pub attempt: i64,
}

/// What the caller wants done with a file that already has a row.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimPolicy {
    /// Harvest again even if harvested.
    pub force: bool,
    /// Harvest again a file that failed for a reason a retry would not fix.
    pub retry_failed: bool,
    /// Harvest again if harvested by an older output-schema version.
    pub reharvest_outdated: bool,
}

/// One row of `harvest_files`, as `view` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileRecord {
    pub content_hash: String,
    pub source_path: String,
    pub size_bytes: i64,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tool_version: Option<String>,
    pub output_schema_version: Option<i64>,
    pub output_dir: Option<String>,
    pub rows_read: Option<i64>,
    pub rows_kept: Option<i64>,
    pub runs: Option<i64>,
    pub updated_at: String,
    /// Every path this content was seen under.
    pub paths: Vec<String>,
}

/// A connected, migrated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    location: String,
}

/// The catalog's clock: fixed-width ISO 8601 UTC, so text comparison is time order.
fn now_plus(offset: Duration) -> String {
    let t =
        chrono::Utc::now() + chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::zero());
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now() -> String {
    now_plus(Duration::ZERO)
}

/// A URL with its credentials' password (and query, which may carry one) removed,
/// safe for logs and errors. Whatever its shape, nothing between the scheme and an
/// `@` survives except a user name parsed as such.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = url::Url::parse(url) {
        if u.has_host() {
            let _ = u.set_password(None);
            u.set_query(None);
            return u.to_string();
        }
    }
    // Not a hierarchical URL (`postgres:user:pw@host/db`, a typo…): keep the scheme
    // and what follows the last `@`.
    let rest = url.rsplit('@').next().unwrap_or("");
    let rest = rest.split('?').next().unwrap_or("");
    match url.split_once(':') {
        Some((scheme, _)) if url.contains('@') => format!("{scheme}:…@{rest}"),
        _ => rest.to_string(),
    }
}

/// The URL of the default embedded catalog for an output directory.
pub fn default_sqlite_url(out_root: &Path) -> String {
    format!("sqlite://{}", out_root.join(DEFAULT_SQLITE_FILE).display())
}

impl Catalog {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Catalog, CatalogError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let location = redact_url(url);
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(CatalogError::BadUrl {
                location,
                reason: "expected postgres://… or sqlite://…".into(),
            });
        };
        let mut connect_url = url.to_string();
        if backend == Backend::Sqlite {
            let path = sqlite_path(url);
            if let Some(parent) = Path::new(&path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| CatalogError::Unreachable {
                    location: location.clone(),
                    reason: e.to_string(),
                })?;
            }
            if !connect_url.contains("mode=") {
                connect_url.push_str(if connect_url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            // Several processes share the file: wait for locks instead of failing, and
            // let readers proceed while one writer commits.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 60000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&connect_url)
            .await
            .map_err(|e| classify(&location, e))?;
        let catalog = Catalog {
            pool,
            backend,
            location,
        };
        catalog.migrate(url).await?;
        Ok(catalog)
    }

    /// Where the catalog is, without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn migrate(&self, url: &str) -> Result<(), CatalogError> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        // PostgreSQL migrations take an advisory lock; SQLite ones are serialised by
        // an exclusive lock on a sidecar file, so racing first runs cannot collide.
        let _lock = match self.backend {
            Backend::Sqlite => Some(
                FileLock::acquire(&format!("{}.migrate-lock", sqlite_path(url))).map_err(|e| {
                    CatalogError::Unreachable {
                        location: self.location.clone(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            Backend::Postgres => None,
        };
        match migrator.run(&self.pool).await {
            Ok(()) => Ok(()),
            Err(sqlx::migrate::MigrateError::VersionMissing(found)) => {
                Err(CatalogError::NewerSchema {
                    location: self.location.clone(),
                    found,
                    known,
                })
            }
            Err(sqlx::migrate::MigrateError::Execute(e)) => Err(classify(&self.location, e)),
            Err(e) => Err(CatalogError::Refused {
                location: self.location.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> CatalogError + '_ {
        |e| classify(&self.location, e)
    }

    /// Records that `path` holds this content and tries to claim it for this worker.
    pub async fn claim(
        &self,
        content_hash: &str,
        path: &str,
        size_bytes: u64,
        policy: ClaimPolicy,
        lease: Duration,
        output_schema_version: i64,
    ) -> Result<ClaimOutcome, CatalogError> {
        let host = crate::process::hostname();
        let pid = std::process::id() as i64;
        let now = now();
        let expires = now_plus(lease);

        // A claim held by a dead process on this host is stale right away.
        let existing = sqlx::query("SELECT claimed_by_host, claimed_by_pid FROM harvest_files WHERE content_hash = $1 AND status = 'claimed'")
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        let dead_pid = existing
            .and_then(|row| {
                let h: Option<String> = row.get(0);
                let p: Option<i64> = row.get(1);
                (h.as_deref() == Some(host.as_str())).then_some(p).flatten()
            })
            .filter(|&p| !crate::process::is_alive(p as i32))
            .unwrap_or(-1);

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
                OR (harvest_files.status = 'failed' AND (harvest_files.retryable = 1 OR $9 = 1))
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
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;

        sqlx::query(
            "INSERT INTO harvest_paths (content_hash, path, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (content_hash, path) DO UPDATE SET last_seen_at = excluded.last_seen_at",
        )
        .bind(content_hash)
        .bind(path)
        .bind(&now)
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
            "SELECT status, output_dir, source_path, claimed_by_host, claimed_by_pid, claim_expires_at, last_error
             FROM harvest_files WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err())?;
        let status: String = row.get(0);
        Ok(match status.as_str() {
            "harvested" => ClaimOutcome::AlreadyHarvested {
                output_dir: row.get(1),
                source_path: row.get(2),
            },
            "claimed" => ClaimOutcome::HeldElsewhere {
                host: row.get::<Option<String>, _>(3).unwrap_or_default(),
                pid: row.get::<Option<i64>, _>(4).unwrap_or_default(),
                until: row.get::<Option<String>, _>(5).unwrap_or_default(),
            },
            _ => ClaimOutcome::FailedBefore {
                last_error: row.get::<Option<String>, _>(6).unwrap_or_default(),
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

    /// Stores the statistics and marks the file harvested, atomically, if the claim
    /// is still ours. Returns false (and changes nothing) if it is not.
    pub async fn complete(
        &self,
        claim: &Claim,
        output_dir: &str,
        report: &Report,
        stats: &[RobotStats],
    ) -> Result<bool, CatalogError> {
        let mut conn = self.pool.acquire().await.map_err(self.err())?;
        // SQLite: take the write lock up front (BEGIN IMMEDIATE) so concurrent
        // writers queue on the busy timeout instead of failing on lock upgrade.
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        conn.execute(begin).await.map_err(self.err())?;
        let result = self
            .complete_in_transaction(&mut conn, claim, output_dir, report, stats)
            .await;
        let end = if matches!(result, Ok(true)) {
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
        output_dir: &str,
        report: &Report,
        stats: &[RobotStats],
    ) -> Result<bool, CatalogError> {
        let marked = sqlx::query(
            "UPDATE harvest_files SET status = 'harvested', finished_at = $1, updated_at = $1, last_error = NULL,
                 retryable = 0, claimed_by_host = NULL, claimed_by_pid = NULL, claim_expires_at = NULL,
                 tool_version = $2, output_schema_version = $3, output_dir = $4, rows_read = $5, rows_kept = $6,
                 runs = $7, report = $8
             WHERE content_hash = $9 AND status = 'claimed' AND claimed_by_host = $10 AND claimed_by_pid = $11",
        )
        .bind(now())
        .bind(&report.tool_version)
        .bind(report.output_schema_version)
        .bind(output_dir)
        .bind(report.rows.read as i64)
        .bind(report.rows.kept as i64)
        .bind(report.coverage.len() as i64)
        .bind(serde_json::to_string(report).expect("reports serialize"))
        .bind(&claim.content_hash)
        .bind(&claim.host)
        .bind(claim.pid)
        .execute(&mut *conn)
        .await
        .map_err(self.err())?;
        if marked.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM run_stats WHERE content_hash = $1")
            .bind(&claim.content_hash)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        let optional_floats = (7..=16)
            .map(|i| self.nullable_float(i))
            .collect::<Vec<_>>()
            .join(", ");
        for s in stats {
            // A missing quantity is bound as NaN and stored as NULL: the Any driver
            // cannot bind a typed NULL to PostgreSQL reliably across executions of a
            // cached statement.
            let part = |q: Option<Summary>, f: fn(Summary) -> f64| q.map_or(f64::NAN, f);
            sqlx::query(&format!(
                "INSERT INTO run_stats (content_hash, run_uuid, robot_id, start_at, stop_at, runtime_s, distance_mm,
                     speed_min_mm_s, speed_mean_mm_s, speed_max_mm_s, accel_min_mm_s2, accel_mean_mm_s2, accel_max_mm_s2,
                     force_min_n, force_mean_n, force_max_n, rows, encoder_samples, load_cell_samples)
                 VALUES ($1, $2, $3, $4, $5, $6, {}, $17, $18, $19)",
                optional_floats
            ))
            .bind(&claim.content_hash)
            .bind(s.run_uuid.to_string())
            .bind(s.robot_id as i64)
            .bind(format_utc(s.start))
            .bind(format_utc(s.stop))
            .bind(s.runtime_s)
            .bind(s.distance_mm.unwrap_or(f64::NAN))
            .bind(part(s.speed_mm_s, |q| q.min))
            .bind(part(s.speed_mm_s, |q| q.mean))
            .bind(part(s.speed_mm_s, |q| q.max))
            .bind(part(s.accel_mm_s2, |q| q.min))
            .bind(part(s.accel_mm_s2, |q| q.mean))
            .bind(part(s.accel_mm_s2, |q| q.max))
            .bind(part(s.force_n, |q| q.min))
            .bind(part(s.force_n, |q| q.mean))
            .bind(part(s.force_n, |q| q.max))
            .bind(s.rows as i64)
            .bind(s.encoder_samples as i64)
            .bind(s.load_cell_samples as i64)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        }
        Ok(true)
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

    /// Records a failed attempt and releases the claim.
    pub async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retryable: bool,
    ) -> Result<(), CatalogError> {
        sqlx::query(
            "UPDATE harvest_files SET status = 'failed', last_error = $1, retryable = $2, finished_at = $3, updated_at = $3,
                 claimed_by_host = NULL, claimed_by_pid = NULL, claim_expires_at = NULL
             WHERE content_hash = $4 AND status = 'claimed' AND claimed_by_host = $5 AND claimed_by_pid = $6",
        )
        .bind(error)
        .bind(retryable as i64)
        .bind(now())
        .bind(&claim.content_hash)
        .bind(&claim.host)
        .bind(claim.pid)
        .execute(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Latest known path of every harvested content made by an older output version.
    pub async fn outdated_sources(
        &self,
        output_schema_version: i64,
    ) -> Result<Vec<String>, CatalogError> {
        let rows = sqlx::query(
            "SELECT source_path FROM harvest_files
             WHERE status = 'harvested' AND COALESCE(output_schema_version, 0) < $1 ORDER BY source_path",
        )
        .bind(output_schema_version)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    const FILE_COLUMNS: &'static str = "content_hash, source_path, size_bytes, status, attempts, last_error, started_at,
        finished_at, tool_version, output_schema_version, output_dir, rows_read, rows_kept, runs, updated_at";

    async fn records(&self, rows: Vec<AnyRow>) -> Result<Vec<FileRecord>, CatalogError> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let content_hash: String = r.get(0);
            let paths = sqlx::query("SELECT path FROM harvest_paths WHERE content_hash = $1 ORDER BY first_seen_at, path")
                .bind(&content_hash)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?
                .iter()
                .map(|p| p.get(0))
                .collect();
            out.push(FileRecord {
                content_hash,
                source_path: r.get(1),
                size_bytes: r.get(2),
                status: r.get(3),
                attempts: r.get(4),
                last_error: r.get(5),
                started_at: r.get(6),
                finished_at: r.get(7),
                tool_version: r.get(8),
                output_schema_version: r.get(9),
                output_dir: r.get(10),
                rows_read: r.get(11),
                rows_kept: r.get(12),
                runs: r.get(13),
                updated_at: r.get(14),
                paths,
            });
        }
        Ok(out)
    }

    /// Files, newest first, optionally only those with `status`.
    pub async fn list(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FileRecord>, CatalogError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM harvest_files WHERE ($1 = '' OR status = $1) ORDER BY updated_at DESC, content_hash LIMIT $2",
            Self::FILE_COLUMNS
        ))
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        self.records(rows).await
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
        let row = sqlx::query("SELECT report FROM harvest_files WHERE content_hash = $1")
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row
            .and_then(|r| r.get::<Option<String>, _>(0))
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// The statistics stored for a content, as report entries.
    pub async fn run_stats(&self, content_hash: &str) -> Result<Vec<RunEntry>, CatalogError> {
        let rows = sqlx::query(
            "SELECT run_uuid, robot_id, start_at, stop_at, runtime_s, distance_mm, speed_min_mm_s, speed_mean_mm_s,
                    speed_max_mm_s, accel_min_mm_s2, accel_mean_mm_s2, accel_max_mm_s2, force_min_n, force_mean_n,
                    force_max_n, rows, encoder_samples, load_cell_samples
             FROM run_stats WHERE content_hash = $1 ORDER BY run_uuid, robot_id",
        )
        .bind(content_hash)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let summary = |r: &AnyRow, i: usize| -> Option<Summary> {
            Some(Summary {
                min: r.get::<Option<f64>, _>(i)?,
                mean: r.get::<Option<f64>, _>(i + 1)?,
                max: r.get::<Option<f64>, _>(i + 2)?,
            })
        };
        Ok(rows
            .iter()
            .map(|r| {
                let run_uuid: String = r.get(0);
                let table = run_uuid
                    .parse()
                    .map(crate::store::run_table_path)
                    .unwrap_or_default();
                RunEntry {
                    run_uuid,
                    robot_id: r.get::<i64, _>(1) as u8,
                    start: r.get(2),
                    stop: r.get(3),
                    runtime_s: r.get(4),
                    distance_mm: r.get(5),
                    speed_mm_s: summary(r, 6),
                    accel_mm_s2: summary(r, 9),
                    force_n: summary(r, 12),
                    rows: r.get::<i64, _>(15) as u64,
                    encoder_samples: r.get::<i64, _>(16) as u64,
                    load_cell_samples: r.get::<i64, _>(17) as u64,
                    table,
                }
            })
            .collect())
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

fn sqlite_path(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// Sorts a sqlx error into "try again later" or "refused".
fn classify(location: &str, e: sqlx::Error) -> CatalogError {
    let location = location.to_string();
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => CatalogError::Unreachable {
            location,
            reason: crate::load::one_line(&e.to_string()),
        },
        sqlx::Error::Tls(_) | sqlx::Error::Configuration(_) => CatalogError::Unreachable {
            location,
            reason: crate::load::one_line(&e.to_string()),
        },
        other => CatalogError::Refused {
            location,
            reason: crate::load::one_line(&other.to_string()),
        },
    }
}

/// An exclusive advisory lock on a file, released when dropped (or when the process dies).
struct FileLock(std::fs::File);

impl FileLock {
    fn acquire(path: &str) -> std::io::Result<FileLock> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        let r = redact_url(
            "postgres://alice:s3cret@db.example:5432/harvest?sslmode=require&password=x",
        );
        assert_eq!(r, "postgres://alice@db.example:5432/harvest");
        assert!(!redact_url("postgres://u:pw@h/db").contains("pw"));
        assert_eq!(
            redact_url("postgres:alice:s3cr3t-pw@host/db"),
            "postgres:…@host/db"
        );
        assert_eq!(
            redact_url("sqlite:///var/harvest/catalog.db"),
            "sqlite:///var/harvest/catalog.db"
        );
    }

    #[test]
    fn catalog_times_sort_as_text() {
        assert!(now() < now_plus(Duration::from_millis(5)));
        assert_eq!(now().len(), "2026-01-01T00:00:00.000Z".len());
    }
}
