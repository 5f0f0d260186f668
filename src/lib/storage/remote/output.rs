//! Outputs under an `s3://` prefix, in the same layout as a local `--out`
//! (see [`crate::model::layout`]).
//!
//! Object stores have no rename, so a harvest is written locally first, then
//! uploaded under final, content-named keys: its dataset files under
//! `dataset/.pending/<content hash>/`, then its output directory, `report.json` last.
//! The catalog commits the harvest, and only then are the dataset files copied (on
//! the server) into their partitions, after what the harvest replaces is deleted.
//! `view` finds output directories through the catalog, so it shows only committed
//! harvests; a dataset reader sees only published runs. A worker killed midway
//! leaves only unpublished objects: the next harvest of the content writes the same
//! keys again, and the next job publishes or removes what waits in `.pending`.

use std::path::{Path, PathBuf};

use super::{Bucket, ObjectStores, ObjectUrl};
use crate::error::HarvestError;
use crate::model::layout::{DATASET_DIR, PENDING_DIR, REPORT_FILE};

/// An output root in an object store.
#[derive(Debug, Clone)]
pub struct RemoteRoot {
    url: ObjectUrl,
    bucket: Bucket,
}

impl RemoteRoot {
    pub fn new(url: ObjectUrl, stores: &ObjectStores) -> Result<RemoteRoot, HarvestError> {
        let bucket = stores.bucket(&url)?;
        Ok(RemoteRoot { url, bucket })
    }

    pub fn url(&self) -> &ObjectUrl {
        &self.url
    }

    fn key(&self, relative: &str) -> String {
        self.url.join(relative).key
    }

    fn pending_key(&self, content_hash: &str, file: &str) -> String {
        self.key(&format!(
            "{DATASET_DIR}/{PENDING_DIR}/{content_hash}/{file}"
        ))
    }

    /// Checks that the bucket answers and these credentials may list it (its
    /// pending folder, which is small), so that a misconfigured output fails before
    /// any file is harvested.
    pub async fn check(&self) -> Result<(), HarvestError> {
        self.pending().await.map(|_| ())
    }

    /// Uploads a harvest that the pipeline wrote under the local `scratch_root`:
    /// its dataset files to the pending folder, then the files of `output_dir`,
    /// `report.json` last. Gives the output directory's URL, as the catalog records it.
    pub async fn upload(
        &self,
        scratch_root: &Path,
        output_dir: &Path,
        content_hash: &str,
        dataset_files: &[String],
    ) -> Result<PathBuf, HarvestError> {
        let pending = scratch_root
            .join(DATASET_DIR)
            .join(PENDING_DIR)
            .join(content_hash);
        for file in dataset_files {
            let bytes = read(&pending.join(file)).await?;
            self.bucket
                .put(&self.pending_key(content_hash, file), bytes)
                .await?;
        }
        let name = output_dir
            .file_name()
            .expect("output directories are named")
            .to_string_lossy()
            .into_owned();
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(output_dir)
            .min_depth(1)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .collect();
        // The report names the rest: it goes last.
        files.sort_by_key(|p| (p.file_name() == Some(REPORT_FILE.as_ref()), p.clone()));
        for file in files {
            let relative = file.strip_prefix(output_dir).expect("walked below it");
            let relative = format!("{name}/{}", relative.to_string_lossy());
            self.bucket
                .put(&self.key(&relative), read(&file).await?)
                .await?;
        }
        Ok(self.url.join(&name).as_path())
    }

    /// Publishes a committed harvest: deletes `obsolete` dataset files, copies each
    /// of `files` from the pending folder into place, then empties the pending
    /// folder. A file already moved (another worker published it) is no error.
    pub async fn publish(
        &self,
        content_hash: &str,
        files: &[String],
        obsolete: &[String],
    ) -> Result<(), HarvestError> {
        for file in obsolete {
            self.bucket
                .delete(&self.key(&format!("{DATASET_DIR}/{file}")))
                .await?;
        }
        for file in files {
            self.bucket
                .copy(
                    &self.pending_key(content_hash, file),
                    &self.key(&format!("{DATASET_DIR}/{file}")),
                )
                .await?;
        }
        self.discard(content_hash).await
    }

    /// Deletes what is pending for a content (a failed harvest, or a published one).
    pub async fn discard(&self, content_hash: &str) -> Result<(), HarvestError> {
        let prefix = self.key(&format!("{DATASET_DIR}/{PENDING_DIR}/{content_hash}"));
        for object in self.bucket.list(&prefix).await? {
            self.bucket.delete(&object.url.key).await?;
        }
        Ok(())
    }

    /// The content hashes with files pending publication.
    pub async fn pending(&self) -> Result<Vec<String>, HarvestError> {
        let prefix = self.key(&format!("{DATASET_DIR}/{PENDING_DIR}"));
        let mut hashes: Vec<String> = self
            .bucket
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|object| {
                let rest = object.url.key.strip_prefix(&prefix)?.strip_prefix('/')?;
                rest.split('/').next().map(str::to_string)
            })
            .collect();
        hashes.sort();
        hashes.dedup();
        Ok(hashes)
    }

    /// Downloads files (relative to this root) into the same places below
    /// `local_root`, for reading them with the local code.
    pub async fn download(
        &self,
        relatives: &[String],
        local_root: &Path,
    ) -> Result<(), HarvestError> {
        for relative in relatives {
            let object = self.bucket.head(&self.key(relative)).await?;
            let bytes = self.bucket.fetch(&object).await?;
            let path = local_root.join(relative);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| HarvestError::io(parent, "cannot create a folder", e))?;
            }
            tokio::fs::write(&path, bytes)
                .await
                .map_err(|e| HarvestError::io(&path, "cannot write a downloaded file", e))?;
        }
        Ok(())
    }
}

async fn read(path: &Path) -> Result<Vec<u8>, HarvestError> {
    tokio::fs::read(path)
        .await
        .map_err(|e| HarvestError::io(path, "cannot read an output file to upload", e))
}
