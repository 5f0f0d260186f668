//! A job's record in the catalog (see [`crate::catalog::JobRecord`]): written when
//! it starts, renewed with its counts every [`HEARTBEAT`] while it runs, and closed
//! with its exit code when it ends. A job that cannot keep its record up to date
//! warns and goes on: the record serves whoever watches the fleet, the harvests do
//! not depend on it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::{redact_url, Catalog, JobCounts, NewJob};
use crate::error::{CatalogError, ExitCode};

/// How long job records are kept: a job not heard from for this long is deleted
/// when the next job starts.
pub const JOB_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// How often a running job renews its record. Three missed heartbeats (and at
/// least a claim lease) make a reader take the job for gone.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// What replaces a secret in a recorded command line.
const REDACTED: &str = "***";

/// A running job's record: its id, and the heartbeat that keeps it current.
#[derive(Debug)]
pub struct JobRecorder {
    catalog: Catalog,
    id: i64,
    /// The latest counts; dropping it ends the heartbeat.
    counts: watch::Sender<JobCounts>,
    heartbeat: JoinHandle<()>,
}

impl JobRecorder {
    /// Records the start of a job run with `argv` (secrets redacted first), `lease`
    /// and `watch`, after deleting the records older than `retention` (by default
    /// [`JOB_RETENTION`]), and
    /// starts its heartbeat. Harvests completed through `catalog` (or a clone) from
    /// now on record the job's id.
    pub async fn start(
        catalog: &Catalog,
        argv: &[String],
        lease: Duration,
        watch: bool,
        retention: Duration,
    ) -> Result<JobRecorder, CatalogError> {
        match catalog.prune_jobs(retention).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "deleted old job records"),
            Err(e) => tracing::warn!(error = %e, "old job records could not be deleted"),
        }
        let args = redact_args(argv);
        let host = crate::host::hostname();
        let id = catalog
            .start_job(&NewJob {
                host: &host,
                pid: i64::from(std::process::id()),
                tool_version: crate::build::VERSION,
                git_commit: crate::build::COMMIT,
                args: &args,
                watch,
                lease,
            })
            .await?;
        tracing::debug!(job = id, "job recorded");
        let (counts, latest) = watch::channel(JobCounts::default());
        let heartbeat = tokio::spawn(heartbeat(catalog.clone(), id, latest));
        Ok(JobRecorder {
            catalog: catalog.clone(),
            id,
            counts,
            heartbeat,
        })
    }

    /// The job's id in the catalog (`jobs.id`).
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The counts so far, written with the next heartbeat.
    pub fn set_counts(&self, counts: JobCounts) {
        self.counts.send_replace(counts);
    }

    /// Stops the heartbeat (after a renewal in progress) and records the job's end.
    pub async fn finish(self, counts: JobCounts, exit: ExitCode) {
        let JobRecorder {
            catalog,
            id,
            counts: latest,
            heartbeat,
        } = self;
        drop(latest);
        // The heartbeat only logs its failures; a panic in it changes nothing here.
        let _ = heartbeat.await;
        if let Err(e) = catalog.finish_job(id, &counts, exit as i32).await {
            tracing::warn!(job = id, error = %e, "the job's end could not be recorded");
        }
    }
}

/// Renews the record of job `id` with the latest counts every [`HEARTBEAT`], until
/// the sender of `latest` is dropped.
async fn heartbeat(catalog: Catalog, id: i64, mut latest: watch::Receiver<JobCounts>) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once; the record was just written.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let counts = *latest.borrow_and_update();
                if let Err(e) = catalog.touch_job(id, &counts).await {
                    tracing::warn!(job = id, error = %e, "the job's record could not be renewed");
                }
            }
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// `argv` as a job records it: a URL's password and query (which may carry one)
/// removed, and the value of a flag named for a secret (`password`, `secret`,
/// `token`, `key`) replaced by `***`.
fn redact_args(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut options = true;
    let mut secret_follows = false;
    for arg in argv {
        if secret_follows && !arg.starts_with("--") {
            secret_follows = false;
            out.push(REDACTED.to_string());
            continue;
        }
        secret_follows = false;
        if !options || !arg.starts_with("--") {
            out.push(redact_value(arg));
            continue;
        }
        if arg == "--" {
            options = false;
            out.push(arg.clone());
            continue;
        }
        match arg.split_once('=') {
            Some((flag, _)) if names_secret(flag) => out.push(format!("{flag}={REDACTED}")),
            Some((flag, value)) => out.push(format!("{flag}={}", redact_value(value))),
            None => {
                secret_follows = names_secret(arg);
                out.push(arg.clone());
            }
        }
    }
    out
}

/// Whether the flag `--name` is for a secret.
fn names_secret(flag: &str) -> bool {
    let name = flag.trim_start_matches('-').to_ascii_lowercase();
    ["password", "secret", "token", "key"]
        .iter()
        .any(|word| name.contains(word))
}

/// A value without the credentials a URL in it may carry; any other value as it is.
fn redact_value(value: &str) -> String {
    if value.contains("://") && (value.contains('@') || value.contains('?')) {
        redact_url(value)
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(argv: &[&str]) -> Vec<String> {
        redact_args(&argv.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn passwords_in_urls_are_removed() {
        let args = redacted(&[
            "harvest",
            "--catalog",
            "postgres://harvester:s3cret@db.example:5432/catalog",
            "--catalog=postgresql://u:hunter2@h/db?sslpassword=x",
            "s3://bucket/in/",
        ]);
        assert_eq!(
            args,
            [
                "harvest",
                "--catalog",
                "postgres://harvester@db.example:5432/catalog",
                "--catalog=postgresql://u@h/db",
                "s3://bucket/in/",
            ]
        );
        assert!(!args.concat().contains("s3cret") && !args.concat().contains("hunter2"));
    }

    #[test]
    fn values_of_secret_flags_are_replaced() {
        let args = redacted(&[
            "harvest",
            "--s3-secret-key",
            "AKIA/xyz",
            "--api-token=abc",
            "--PASSWORD",
            "pw",
            "--key-file",
            "--watch",
        ]);
        assert_eq!(
            args,
            [
                "harvest",
                "--s3-secret-key",
                "***",
                "--api-token=***",
                "--PASSWORD",
                "***",
                "--key-file",
                "--watch",
            ]
        );
    }

    #[test]
    fn labels_and_paths_are_kept() {
        let argv = [
            "harvest",
            "--label",
            "key=value",
            "--label=token=7",
            "inbox/secret=1/a.parquet",
            "--",
            "--password",
            "kept.parquet",
        ];
        assert_eq!(redacted(&argv), argv);
    }
}
