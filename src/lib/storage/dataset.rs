//! The dataset under the output root: every run of every harvested file, in one
//! Hive-partitioned layout (see [`crate::model::layout`]) that DuckDB, polars, Spark
//! or Trino scan as one table.
//!
//! A harvest's dataset files are written inside its output directory, moved to
//! `dataset/.pending/<content hash>/` once that directory is in place, and published
//! (renamed into their partitions) only after the catalog has committed the harvest.
//! Readers never see a run the catalog does not call harvested. What a harvest
//! replaces (an earlier revision's files, or the same content's files in another
//! partition) is removed just before it is published, so the dataset never holds a
//! run twice; between the two, its runs are briefly absent.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::HarvestError;
use crate::model::layout::{
    DATASET_DIR, PENDING_DIR, REPORT_FILE, RUN_STATS_FILE, UNPUBLISHED_DIR,
};

/// The dataset of one output root.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
}

impl Dataset {
    pub fn new(out_root: &Path) -> Dataset {
        Dataset {
            root: out_root.join(DATASET_DIR),
        }
    }

    /// The dataset's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn pending_dir(&self, content_hash: &str) -> PathBuf {
        self.root.join(PENDING_DIR).join(content_hash)
    }

    /// Moves the unpublished files out of a committed output directory to wait for
    /// the catalog, replacing what an earlier, interrupted attempt left there.
    pub fn stage(&self, output_dir: &Path, content_hash: &str) -> Result<(), HarvestError> {
        let unpublished = output_dir.join(UNPUBLISHED_DIR);
        let pending = self.pending_dir(content_hash);
        let parent = self.root.join(PENDING_DIR);
        fs::create_dir_all(&parent)
            .map_err(|e| HarvestError::io(&parent, "cannot create the dataset folder", e))?;
        match fs::remove_dir_all(&pending) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(HarvestError::io(
                    &pending,
                    "cannot clear a pending folder",
                    e,
                ))
            }
        }
        fs::rename(&unpublished, &pending)
            .map_err(|e| HarvestError::io(&pending, "cannot stage the dataset files", e))?;
        if let Ok(dir) = fs::File::open(&parent) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Publishes a committed harvest: removes `obsolete` files (relative to the
    /// dataset), then renames each of `files` from the pending folder into place,
    /// replacing a file of the same name. A file already moved (by another worker
    /// publishing the same harvest) is not an error.
    pub fn publish(
        &self,
        content_hash: &str,
        files: &[String],
        obsolete: &[String],
    ) -> Result<(), HarvestError> {
        self.remove(obsolete)?;
        let pending = self.pending_dir(content_hash);
        for file in files {
            let from = pending.join(file);
            let to = self.root.join(file);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| HarvestError::io(parent, "cannot create a dataset folder", e))?;
            }
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound && !from.exists() => {}
                Err(e) => return Err(HarvestError::io(&to, "cannot publish a dataset file", e)),
            }
        }
        self.discard(content_hash);
        Ok(())
    }

    /// Removes published files (relative to the dataset); one already gone is fine.
    pub fn remove(&self, files: &[String]) -> Result<(), HarvestError> {
        for file in files {
            let path = self.root.join(file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(HarvestError::io(&path, "cannot remove a dataset file", e)),
            }
        }
        Ok(())
    }

    /// The sizes of a content's pending files, in the order of `files`, recorded
    /// with its harvest so that a rescan can tell with a stat that a published file
    /// is gone or cut short; empty if one cannot be read (then only presence is
    /// checked).
    pub fn pending_sizes(&self, content_hash: &str, files: &[String]) -> Vec<u64> {
        let pending = self.pending_dir(content_hash);
        files
            .iter()
            .map(|file| fs::metadata(pending.join(file)).map(|m| m.len()))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }

    /// The first of a harvest's outputs that is not in place: its output directory's
    /// report or run statistics, or one of its published `files` (relative to the
    /// dataset) missing or of another size than `sizes` records (presence only when
    /// `sizes` is empty). A stat each: no file is read.
    pub fn first_missing(
        &self,
        output_dir: &Path,
        files: &[String],
        sizes: &[u64],
    ) -> Option<PathBuf> {
        for file in [REPORT_FILE, RUN_STATS_FILE] {
            let path = output_dir.join(file);
            if !path.is_file() {
                return Some(path);
            }
        }
        let sized = sizes.len() == files.len();
        files.iter().enumerate().find_map(|(i, file)| {
            let path = self.root.join(file);
            match fs::metadata(&path) {
                Ok(m) if m.is_file() && (!sized || m.len() == sizes[i]) => None,
                _ => Some(path),
            }
        })
    }

    /// Drops what is pending for a content (a harvest that failed, or is published).
    pub fn discard(&self, content_hash: &str) {
        let _ = fs::remove_dir_all(self.pending_dir(content_hash));
    }

    /// The content hashes with files pending publication.
    pub fn pending(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join(PENDING_DIR)) else {
            return Vec::new();
        };
        let mut hashes: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        hashes.sort();
        hashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn staged_files_appear_only_when_published_and_replace_what_they_supersede() {
        let out = tempfile::tempdir().unwrap();
        let dataset = Dataset::new(out.path());
        let old = "samples/cell=7/date=2026-11-22/aaaaaaaaaaaa-1.parquet";
        write(&dataset.root().join(old), "old revision");
        let output_dir = out.path().join("log-bbbbbbbbbbbb");
        let new = "samples/cell=7/date=2026-11-22/bbbbbbbbbbbb-1.parquet";
        write(&output_dir.join(UNPUBLISHED_DIR).join(new), "new revision");

        dataset.stage(&output_dir, "bbbb").unwrap();
        assert!(!output_dir.join(UNPUBLISHED_DIR).exists());
        assert!(
            !dataset.root().join(new).exists(),
            "not before the catalog commits"
        );
        assert_eq!(dataset.pending(), ["bbbb"]);

        let publish = || {
            dataset
                .publish("bbbb", &[new.to_string()], &[old.to_string()])
                .unwrap();
            assert_eq!(
                fs::read_to_string(dataset.root().join(new)).unwrap(),
                "new revision"
            );
        };
        publish();
        assert!(!dataset.root().join(old).exists());
        assert!(dataset.pending().is_empty());
        // Publishing again (another worker's sweep) changes nothing and is no error.
        publish();
    }
}
