//! Watch mode: harvest every log that appears in a directory, once it is complete.
//!
//! Polling rather than file-system notifications: it behaves the same on local
//! disks, NFS and container volumes, and a poll a second costs nothing next to a
//! harvest. A file is taken when its size and mtime have not changed for `settle`,
//! and, for Parquet, when its header and footer magic are both in place (a copy in
//! progress has no footer yet). Files present at start are taken too; the catalog
//! makes restarts harmless. SIGINT or SIGTERM stops the watch after the files being
//! harvested.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::catalog::{Catalog, KnownPaths};
use crate::error::ExitCode;
use crate::jobs::inputs::{
    check_watched_dirs, list_objects, logs_in_dir, Input, InputSelection, WatchDirError,
};
use crate::jobs::{forget_vanished, known_paths, publish_pending, repair_outputs};
use crate::jobs::{harvest_files, FileOutcome, JobOptions, JobSummary};
use crate::model::schema::InputFormat;
use crate::storage::remote::is_remote;

const POLL: Duration = Duration::from_millis(500);

/// How often the watch asks the catalog whether it answers, for `/readyz`.
const PING_EVERY: Duration = Duration::from_secs(2);

/// How often a watch checks that the outputs of what it harvested are in place.
const REPAIR_EVERY: Duration = Duration::from_secs(60);

/// How often a watched object-store prefix is listed.
const REMOTE_POLL: Duration = Duration::from_secs(5);

/// The wait before a file that failed for a retryable reason is tried again,
/// doubled after each such failure up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// What was last seen of a file: its size and mtime, and since when unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sighting {
    size: u64,
    modified: Option<SystemTime>,
    stable_since: Instant,
    taken: bool,
    /// After a retryable failure: when to try again, and how many in a row.
    retry: Option<(Instant, u32)>,
}

impl Sighting {
    fn new(size: u64, modified: Option<SystemTime>, now: Instant) -> Sighting {
        Sighting {
            size,
            modified,
            stable_since: now,
            taken: false,
            retry: None,
        }
    }

    /// Schedules the next attempt after a retryable failure.
    fn failed_retryably(&mut self, now: Instant) {
        let failures = self.retry.map_or(0, |(_, n)| n) + 1;
        let wait = RETRY_FIRST
            .saturating_mul(1 << (failures - 1).min(16))
            .min(RETRY_MAX);
        self.retry = Some((now + wait, failures));
    }
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Dir(#[from] WatchDirError),
    /// The signal handlers that stop the watch could not be installed: worth a
    /// retry (75).
    #[error("cannot listen for SIGINT and SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
}

impl WatchError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            WatchError::Dir(e) => e.exit_code(),
            WatchError::Signals(_) => ExitCode::RetryLater,
        }
    }
}

/// Watches `dirs` until SIGINT/SIGTERM, then returns what was done, with the exit
/// code a stop deserves. A file that failed for a reason a retry may fix (the
/// catalog down, an I/O error) is tried again after 2 s, then 4 s, 8 s … up to every
/// 5 minutes. On stop: 75 if a file is left undone for such a reason, or dataset
/// files unpublished, else 70 if the harvester failed on a file (a bug), else 0.
/// Bad files are recorded in the catalog; they are not a reason for the watch
/// itself to fail.
pub async fn watch(
    catalog: &Catalog,
    selection: &InputSelection,
    options: &JobOptions,
    jobs: usize,
    on_done: &dyn Fn(&Path, &FileOutcome),
) -> Result<JobSummary, WatchError> {
    let dirs = &selection.paths;
    check_watched_dirs(dirs)?;
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_listener(Arc::clone(&stop)).map_err(WatchError::Signals)?;
    tracing::info!(dirs = ?dirs, "watching for new logs");
    let known = known_paths(catalog, dirs, options).await;
    forget_vanished(catalog, known.keys().cloned().collect()).await;
    let mut watch = Watch {
        catalog,
        selection,
        options,
        jobs: jobs.max(1),
        on_done,
        // Paths harvested before this watch started are skipped while unchanged.
        known,
        seen: HashMap::new(),
        summary: JobSummary::default(),
        undone: HashSet::new(),
        internal: false,
        unpublished: false,
        listed_remote: None,
        pinged: None,
    };
    let mut repaired: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        watch.poll(&stop).await;
        // Outputs deleted since their harvest are rebuilt, or recorded as missing:
        // at start, then every REPAIR_EVERY (a stat per output, no input read).
        if repaired.is_none_or(|at| at.elapsed() >= REPAIR_EVERY) {
            repaired = Some(Instant::now());
            let repair = repair_outputs(catalog, selection, options, on_done).await;
            watch.internal |= repair.exit == ExitCode::Internal;
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::info!("stopped watching");
    Ok(watch.finish())
}

/// A running watch: what it has seen, and what became of it.
struct Watch<'a> {
    catalog: &'a Catalog,
    selection: &'a InputSelection,
    options: &'a JobOptions,
    jobs: usize,
    on_done: &'a dyn Fn(&Path, &FileOutcome),
    known: KnownPaths,
    seen: HashMap<PathBuf, Sighting>,
    summary: JobSummary,
    /// Files whose latest attempt failed for a retryable reason.
    undone: HashSet<PathBuf>,
    /// Whether any attempt failed for an internal reason.
    internal: bool,
    /// Whether the latest publication of pending dataset files failed.
    unpublished: bool,
    listed_remote: Option<Instant>,
    /// When the catalog was last asked whether it answers, and that question.
    pinged: Option<(Instant, tokio::task::JoinHandle<()>)>,
}

/// What the watched prefixes listed in one poll hold. Objects of a prefix that
/// could not be listed are kept as they were seen.
#[derive(Default)]
struct Listed {
    prefixes: Vec<PathBuf>,
    objects: HashSet<PathBuf>,
}

impl Watch<'_> {
    /// One poll: publishes what waits, lists, and harvests what is ready.
    async fn poll(&mut self, stop: &AtomicBool) {
        // Object stores are listed every REMOTE_POLL (their pending dataset files
        // too); an object is whole once it is listed, so it is taken at once.
        let list_remote = self
            .listed_remote
            .is_none_or(|at| at.elapsed() >= REMOTE_POLL);
        if list_remote {
            self.listed_remote = Some(Instant::now());
        }
        if list_remote || self.options.remote_out.is_none() {
            self.unpublished = publish_pending(self.catalog, self.options).await.is_err();
        }
        self.ping();
        let mut ready = Vec::new();
        let mut unlisted = None;
        let listed = if list_remote {
            self.list_prefixes(&mut ready, &mut unlisted).await
        } else {
            Listed::default()
        };
        self.list_dirs(&mut ready, &mut unlisted);
        if list_remote || self.selection.paths.iter().any(|p| !is_remote(p)) {
            self.options
                .telemetry
                .health
                .listing(unlisted.map_or(Ok(()), Err));
        }
        let gone = self.forget_vanished(&listed);
        forget_vanished(self.catalog, gone).await;
        let waiting = self.seen.values().filter(|s| !s.taken).count();
        let telemetry = &self.options.telemetry;
        telemetry.metrics.set_queued(waiting + ready.len());
        let before = self.summary.clone();
        self.harvest(ready, stop).await;
        if self.summary.harvested > before.harvested || self.summary.failed > before.failed {
            telemetry.catalog_changed.notify_one();
        }
        if self.undone.is_empty() && !self.unpublished {
            telemetry.metrics.succeeded_now();
        }
        telemetry.health.progressed();
    }

    /// Asks the catalog whether it answers, every [`PING_EVERY`], for `/readyz`: on
    /// a task of its own, so that a database that does not answer (a connection
    /// waits up to its timeout) never holds the watch up; one ping at a time.
    fn ping(&mut self) {
        if self
            .pinged
            .as_ref()
            .is_some_and(|(at, task)| at.elapsed() < PING_EVERY || !task.is_finished())
        {
            return;
        }
        let catalog = self.catalog.clone();
        let telemetry = std::sync::Arc::clone(&self.options.telemetry);
        let task = tokio::spawn(async move {
            let answered = catalog.ping().await.map_err(|e| e.to_string());
            telemetry.health.catalog(answered);
        });
        self.pinged = Some((Instant::now(), task));
    }

    /// Lists the watched prefixes: every object not taken yet is ready.
    /// The first listing error is kept in `unlisted`.
    async fn list_prefixes(
        &mut self,
        ready: &mut Vec<Input>,
        unlisted: &mut Option<String>,
    ) -> Listed {
        let mut listed = Listed::default();
        let prefixes = self.selection.paths.iter().filter(|dir| is_remote(dir));
        for prefix in prefixes {
            let objects = match list_objects(prefix, self.selection, &self.options.stores).await {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::warn!("cannot list: {e}");
                    unlisted.get_or_insert(e.to_string());
                    continue;
                }
            };
            listed.prefixes.push(prefix.clone());
            // A key that cannot be fetched is recorded once, as soon as it is seen.
            for source in objects.unreadable {
                let key = source.location.clone();
                listed.objects.insert(key.clone());
                let entry = sighting(&mut self.seen, key, 0, None, Instant::now());
                if !entry.taken {
                    entry.taken = true;
                    ready.push(Input::Unreadable(source));
                }
            }
            for object in objects.objects {
                let key = object.url.as_path();
                listed.objects.insert(key.clone());
                let modified = Some(object.last_modified);
                let entry = sighting(&mut self.seen, key, object.size, modified, Instant::now());
                if !entry.taken {
                    entry.taken = true;
                    ready.push(Input::Object(object));
                }
            }
        }
        listed
    }

    /// Lists the watched directories: a file not taken yet is ready once it has
    /// settled and looks complete.
    /// The first listing error is kept in `unlisted`.
    fn list_dirs(&mut self, ready: &mut Vec<Input>, unlisted: &mut Option<String>) {
        let selection = self.selection;
        for dir in selection.paths.iter().filter(|dir| !is_remote(dir)) {
            let listed = match logs_in_dir(dir, &selection.listing) {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot list: {e}");
                    unlisted.get_or_insert(e.to_string());
                    continue;
                }
            };
            for e in &listed.errors {
                tracing::warn!("cannot list: {e}");
                unlisted.get_or_insert(e.to_string());
            }
            // A source that cannot be read is recorded once, as soon as it is seen.
            for source in listed.unreadable {
                if !selection.in_shard(dir, &source.location) {
                    continue;
                }
                let now = Instant::now();
                let entry = sighting(&mut self.seen, source.location.clone(), 0, None, now);
                if !entry.taken {
                    entry.taken = true;
                    ready.push(Input::Unreadable(source));
                }
            }
            let files = listed.files;
            for path in files.into_iter().filter(|p| selection.in_shard(dir, p)) {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let (size, modified) = (meta.len(), meta.modified().ok());
                let now = Instant::now();
                let entry = sighting(&mut self.seen, path.clone(), size, modified, now);
                if !entry.taken
                    && now.duration_since(entry.stable_since) >= self.options.settle
                    && looks_complete(&path)
                {
                    entry.taken = true;
                    ready.push(Input::File(path));
                }
            }
        }
    }

    /// Forgets files that are gone, and objects no longer under a prefix listed;
    /// gives the files gone (as absolute paths), which the catalog forgets too (see
    /// [`forget_vanished`]): whether known before the watch or seen during it.
    fn forget_vanished(&mut self, listed: &Listed) -> Vec<PathBuf> {
        let mut gone: Vec<PathBuf> = Vec::new();
        self.seen.retain(|p, _| {
            if is_remote(p) {
                listed.objects.contains(p) || !listed.prefixes.iter().any(|dir| p.starts_with(dir))
            } else if p.exists() {
                true
            } else {
                gone.push(crate::storage::absolute(p));
                false
            }
        });
        gone.extend(
            self.known
                .keys()
                .filter(|p| !is_remote(p) && !p.exists())
                .cloned(),
        );
        let seen = &self.seen;
        self.undone.retain(|p| seen.contains_key(p));
        for path in &gone {
            self.known.remove(path);
        }
        gone
    }

    /// Harvests what is ready, `jobs` at a time until a stop is asked for, and
    /// schedules a retry of each file that failed for a retryable reason.
    async fn harvest(&mut self, ready: Vec<Input>, stop: &AtomicBool) {
        for chunk in ready.chunks(self.jobs) {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let done = harvest_files(
                self.catalog,
                chunk.to_vec(),
                self.options,
                &self.known,
                &BTreeSet::new(),
                self.jobs,
                |path, outcome| {
                    let sighting = self.seen.get_mut(path);
                    match outcome.exit_code() {
                        ExitCode::RetryLater => {
                            self.undone.insert(path.to_path_buf());
                            if let Some(sighting) = sighting {
                                sighting.failed_retryably(Instant::now());
                            }
                        }
                        code => {
                            self.undone.remove(path);
                            self.internal |= code == ExitCode::Internal;
                            if let Some(sighting) = sighting {
                                sighting.retry = None;
                            }
                        }
                    }
                    (self.on_done)(path, outcome);
                },
            )
            .await;
            self.summary.count(&done);
        }
    }

    /// What was done, with the exit code a stop deserves (see [`watch`]).
    fn finish(mut self) -> JobSummary {
        self.summary.exit = if !self.undone.is_empty() || self.unpublished {
            ExitCode::RetryLater
        } else if self.internal {
            ExitCode::Internal
        } else {
            ExitCode::Success
        };
        self.summary
    }
}

/// Records a sighting of `path`: a change of size or modification time starts its
/// settling over (and makes it new again); a retryable failure whose wait is over
/// makes it due again.
fn sighting(
    seen: &mut HashMap<PathBuf, Sighting>,
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    now: Instant,
) -> &mut Sighting {
    let entry = seen
        .entry(path)
        .or_insert_with(|| Sighting::new(size, modified, now));
    if entry.size != size || entry.modified != modified {
        *entry = Sighting::new(size, modified, now);
    }
    if entry.taken && entry.retry.is_some_and(|(at, _)| now >= at) {
        entry.taken = false;
    }
    entry
}

/// How often a watch of `paths` lists them: every [`POLL`], or every
/// [`REMOTE_POLL`] when it watches only object-store prefixes.
pub fn poll_interval(paths: &[PathBuf]) -> Duration {
    if !paths.is_empty() && paths.iter().all(|p| is_remote(p)) {
        REMOTE_POLL
    } else {
        POLL
    }
}

/// A Parquet file is complete when it starts and ends with its magic bytes; CSV has
/// no footer, so the settle interval alone decides.
fn looks_complete(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if InputFormat::from_extension(path) != Some(InputFormat::Parquet) {
        return true;
    }
    let check = || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(path)?;
        let mut head = [0u8; 4];
        let mut tail = [0u8; 4];
        f.read_exact(&mut head)?;
        f.seek(SeekFrom::End(-4))?;
        f.read_exact(&mut tail)?;
        Ok(&head == b"PAR1" && &tail == b"PAR1")
    };
    check().unwrap_or(false)
}

fn spawn_signal_listener(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("stopping after the files in progress");
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_2_seconds_to_5_minutes() {
        let now = Instant::now();
        let mut sighting = Sighting::new(1, None, now);
        let waits: Vec<u64> = (0..10)
            .map(|_| {
                sighting.failed_retryably(now);
                let (at, _) = sighting.retry.unwrap();
                (at - now).as_secs()
            })
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(sighting.retry.unwrap().1, 10);
    }
}
