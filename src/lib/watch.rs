//! Watch mode: harvest every log that appears in a directory, once it is complete.
//!
//! Polling rather than file-system notifications: it behaves the same on local
//! disks, NFS and container volumes, and a poll a second costs nothing next to a
//! harvest. A file is taken when its size and mtime have not changed for `settle`,
//! and, for Parquet, when its header and footer magic are both in place (a copy in
//! progress has no footer yet). Files present at start are taken too; the catalog
//! makes restarts harmless. SIGINT or SIGTERM stops the watch after the files being
//! harvested.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::catalog::Catalog;
use crate::error::ExitCode;
use crate::job::{harvest_files, logs_in_dir, FileOutcome, JobOptions};
use crate::load::LogFormat;

const POLL: Duration = Duration::from_millis(500);

/// What was last seen of a file: its size and mtime, and since when unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sighting {
    size: u64,
    modified: Option<SystemTime>,
    stable_since: Instant,
    taken: bool,
}

/// Watches `dirs` until SIGINT/SIGTERM.
pub async fn watch(
    catalog: &Catalog,
    dirs: &[PathBuf],
    options: &JobOptions,
    jobs: usize,
    in_shard: &dyn Fn(&Path) -> bool,
    on_done: fn(&Path, &FileOutcome),
) -> anyhow::Result<ExitCode> {
    for dir in dirs {
        anyhow::ensure!(
            dir.is_dir(),
            "{}: not a directory (--watch takes directories)",
            dir.display()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_listener(Arc::clone(&stop))?;
    tracing::info!(dirs = ?dirs, "watching for new logs");

    let mut seen: HashMap<PathBuf, Sighting> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let mut ready = Vec::new();
        for dir in dirs {
            let files = match logs_in_dir(dir) {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot list: {e}");
                    continue;
                }
            };
            for path in files.into_iter().filter(|p| in_shard(p)) {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let (size, modified) = (meta.len(), meta.modified().ok());
                let now = Instant::now();
                let entry = seen.entry(path.clone()).or_insert(Sighting {
                    size,
                    modified,
                    stable_since: now,
                    taken: false,
                });
                if entry.size != size || entry.modified != modified {
                    *entry = Sighting {
                        size,
                        modified,
                        stable_since: now,
                        taken: false,
                    };
                    continue;
                }
                if !entry.taken
                    && now.duration_since(entry.stable_since) >= options.settle
                    && looks_complete(&path)
                {
                    entry.taken = true;
                    ready.push(path);
                }
            }
        }
        seen.retain(|p, _| p.exists());
        for chunk in ready.chunks(jobs.max(1)) {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            harvest_files(catalog, chunk.to_vec(), options, jobs, on_done).await;
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::info!("stopped watching");
    Ok(ExitCode::Success)
}

/// A Parquet file is complete when it starts and ends with its magic bytes; CSV has
/// no footer, so the settle interval alone decides.
fn looks_complete(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if LogFormat::from_extension(path) != Some(LogFormat::Parquet) {
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

fn spawn_signal_listener(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
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
