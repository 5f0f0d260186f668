//! Outputs written whole or not at all, on the local file system.
//!
//! Everything is written into a hidden temporary sibling (`.<name>.tmp-<pid>`),
//! flushed to disk, and renamed into place. A crash at any moment leaves either no
//! directory under the final name or a complete one; leftovers of crashed writers
//! are removed by the next writer of the same name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::HarvestError;

/// An output directory being written; becomes visible only by [`Staging::commit`].
pub struct Staging {
    dir: PathBuf,
    final_dir: PathBuf,
    /// Subdirectories created up front, flushed at commit like the files.
    subdirs: Vec<PathBuf>,
    /// Files written but not yet known to be on disk. They are flushed together at
    /// commit, so the disk writes one run's table back while the next is computed
    /// instead of every writer waiting for its own file.
    unsynced: Mutex<Vec<PathBuf>>,
}

impl Staging {
    /// Creates the temporary sibling for `name` under `out_root`, with `subdirs`.
    pub fn create(out_root: &Path, name: &str, subdirs: &[&str]) -> Result<Staging, HarvestError> {
        fs::create_dir_all(out_root)
            .map_err(|e| HarvestError::io(out_root, "cannot create the output directory", e))?;
        remove_stale_temporaries(out_root, name);
        let dir = out_root.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(|e| HarvestError::io(&dir, "cannot clear a temporary directory", e))?;
        }
        fs::create_dir_all(&dir)
            .map_err(|e| HarvestError::io(&dir, "cannot create a temporary directory", e))?;
        let subdirs: Vec<PathBuf> = subdirs.iter().map(|s| dir.join(s)).collect();
        for subdir in &subdirs {
            fs::create_dir_all(subdir)
                .map_err(|e| HarvestError::io(subdir, "cannot create a temporary directory", e))?;
        }
        Ok(Staging {
            dir,
            subdirs,
            final_dir: out_root.join(name),
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// Writes a file at `relative` inside the staging directory with `write`,
    /// through a buffer.
    pub fn write_with(
        &self,
        relative: &str,
        write: impl FnOnce(&mut dyn Write, &Path) -> Result<(), HarvestError>,
    ) -> Result<(), HarvestError> {
        let path = self.dir.join(relative);
        let file = fs::File::create(&path)
            .map_err(|e| HarvestError::io(&path, "cannot create an output file", e))?;
        let mut file = std::io::BufWriter::new(file);
        write(&mut file, &path)?;
        let file = file
            .into_inner()
            .map_err(|e| HarvestError::io(&path, "cannot write an output file", e.into_error()))?;
        self.written(&path, &file);
        Ok(())
    }

    /// Starts writing a finished file back to disk, without waiting for it, and
    /// remembers to wait for it at commit.
    fn written(&self, path: &Path, file: &fs::File) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; the call only schedules writeback.
            unsafe {
                libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = file;
        self.unsynced
            .lock()
            .expect("no writer panics holding the lock")
            .push(path.to_path_buf());
    }

    /// Waits until every file written so far, and the folders holding them, are on
    /// disk: the slow part of [`Staging::commit`], which its caller may do first so
    /// that what follows (checking that the harvest is still its own, the rename) is
    /// quick.
    pub fn flush(&self) -> Result<(), HarvestError> {
        let paths = std::mem::take(&mut *self.unsynced.lock().expect("no writer panics"));
        for path in paths {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| HarvestError::io(&path, "cannot flush an output file", e))?;
        }
        for subdir in &self.subdirs {
            sync_dir(subdir);
        }
        sync_dir(&self.dir);
        Ok(())
    }

    /// Moves the finished directory into place, replacing an older one of the same
    /// name. The replacement is a rename away then a rename in: readers see the old
    /// directory, briefly no directory, then the new one, never a mix.
    pub fn commit(self) -> Result<PathBuf, HarvestError> {
        self.flush()?;
        let parent = self
            .final_dir
            .parent()
            .expect("output directories have a parent")
            .to_path_buf();
        let old = parent.join(format!(
            ".{}.old-{}",
            self.final_dir.file_name().expect("named").to_string_lossy(),
            std::process::id()
        ));
        let replaced = match fs::rename(&self.final_dir, &old) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(HarvestError::io(
                    &self.final_dir,
                    "cannot move the previous output aside",
                    e,
                ))
            }
        };
        fs::rename(&self.dir, &self.final_dir).map_err(|e| {
            HarvestError::io(&self.final_dir, "cannot move the output into place", e)
        })?;
        sync_dir(&parent);
        if replaced {
            let _ = fs::remove_dir_all(&old);
        }
        let final_dir = self.final_dir.clone();
        std::mem::forget(self);
        Ok(final_dir)
    }
}

impl Drop for Staging {
    /// An abandoned staging directory (an error midway) is removed at once.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes `.<name>.tmp-<pid>` and `.<name>.old-<pid>` siblings left by writers that
/// are no longer alive.
fn remove_stale_temporaries(out_root: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(out_root) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let pid = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            if !crate::host::is_alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}
