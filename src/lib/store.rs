//! The output store: one directory per harvested file, written whole or not at all.
//!
//! Layout under `--out`:
//!
//! ```text
//! <stem>-<hash12>/
//!     report.json
//!     run_stats.parquet
//!     runs/<run_uuid>.parquet
//! ```
//!
//! Everything is written into a hidden temporary sibling (`.<name>.tmp-<pid>`),
//! flushed to disk, and renamed into place. A crash at any moment leaves either no
//! directory under the final name or a complete one; leftovers of crashed writers
//! are removed by the next writer of the same name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::HarvestError;

pub const REPORT_FILE: &str = "report.json";
pub const RUN_STATS_FILE: &str = "run_stats.parquet";
pub const RUNS_DIR: &str = "runs";

/// The output directory name of a source: its file stem, made safe for any file
/// system, and the first 12 hex digits of its content hash.
pub fn output_dir_name(source: &Path, content_hash: &str) -> String {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe = safe.trim_start_matches('.').chars().take(80).collect();
    if safe.is_empty() {
        safe.push_str("log");
    }
    let short: String = content_hash
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    format!("{safe}-{short}")
}

/// The path of a run's wide table inside an output directory.
pub fn run_table_path(run_uuid: u64) -> String {
    format!("{RUNS_DIR}/{run_uuid}.parquet")
}

/// An output directory being written; becomes visible only by [`Staging::commit`].
pub struct Staging {
    dir: PathBuf,
    final_dir: PathBuf,
}

impl Staging {
    /// Creates the temporary sibling for `name` under `out_root`.
    pub fn create(out_root: &Path, name: &str) -> Result<Staging, HarvestError> {
        fs::create_dir_all(out_root)
            .map_err(|e| HarvestError::io(out_root, "cannot create the output directory", e))?;
        remove_stale_temporaries(out_root, name);
        let dir = out_root.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(|e| HarvestError::io(&dir, "cannot clear a temporary directory", e))?;
        }
        fs::create_dir_all(dir.join(RUNS_DIR))
            .map_err(|e| HarvestError::io(&dir, "cannot create a temporary directory", e))?;
        Ok(Staging {
            dir,
            final_dir: out_root.join(name),
        })
    }

    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Writes a DataFrame as Parquet at `relative` inside the staging directory.
    pub fn write_parquet(&self, relative: &str, frame: &mut DataFrame) -> Result<(), HarvestError> {
        let path = self.dir.join(relative);
        let file = fs::File::create(&path)
            .map_err(|e| HarvestError::io(&path, "cannot create an output file", e))?;
        let mut file = std::io::BufWriter::new(file);
        ParquetWriter::new(&mut file)
            .finish(frame)
            .map_err(|e| polars_io_error(&path, e))?;
        let file = file
            .into_inner()
            .map_err(|e| HarvestError::io(&path, "cannot write an output file", e.into_error()))?;
        file.sync_all()
            .map_err(|e| HarvestError::io(&path, "cannot flush an output file", e))
    }

    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> Result<(), HarvestError> {
        let path = self.dir.join(relative);
        let mut file = fs::File::create(&path)
            .map_err(|e| HarvestError::io(&path, "cannot create an output file", e))?;
        file.write_all(bytes)
            .map_err(|e| HarvestError::io(&path, "cannot write an output file", e))?;
        file.sync_all()
            .map_err(|e| HarvestError::io(&path, "cannot flush an output file", e))
    }

    /// Moves the finished directory into place, replacing an older one of the same
    /// name. The replacement is a rename away then a rename in: readers see the old
    /// directory, briefly no directory, then the new one, never a mix.
    pub fn commit(self) -> Result<PathBuf, HarvestError> {
        sync_dir(&self.dir.join(RUNS_DIR));
        sync_dir(&self.dir);
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

fn polars_io_error(path: &Path, e: PolarsError) -> HarvestError {
    match e {
        PolarsError::IO { error, .. } => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::new(error.kind(), error.to_string()),
        ),
        other => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::other(other.to_string()),
        ),
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
            if !crate::process::is_alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_are_safe_for_any_source_name() {
        let hash = "0123456789abcdef0123";
        assert_eq!(
            output_dir_name(Path::new("/in/shift 3.parquet"), hash),
            "shift_3-0123456789ab"
        );
        assert_eq!(
            output_dir_name(Path::new("/in/..parquet"), hash),
            "log-0123456789ab"
        );
        assert_eq!(
            output_dir_name(Path::new("/in/ünï/cödé.csv"), hash),
            "c_d_-0123456789ab"
        );
        let long = format!("/in/{}.csv", "a".repeat(500));
        assert_eq!(output_dir_name(Path::new(&long), hash).len(), 80 + 13);
        assert!(!output_dir_name(Path::new("../../etc/passwd"), "../x").contains('/'));
    }
}
