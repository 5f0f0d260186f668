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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};

use super::{Bucket, ObjectStores, ObjectUrl, Stop};
use crate::error::{HarvestError, RemoteFailure};
use crate::model::layout::{DATASET_DIR, PENDING_DIR, REPORT_FILE};

/// Requests a harvest makes at once while uploading or publishing: a run's tables
/// are uploaded side by side.
const PARALLEL_REQUESTS: usize = 4;

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
    /// Once `stop` turns true nothing more is sent and multipart uploads are aborted.
    pub async fn upload(
        &self,
        scratch_root: &Path,
        output_dir: &Path,
        content_hash: &str,
        dataset_files: &[String],
        stop: &Stop,
    ) -> Result<PathBuf, HarvestError> {
        let pending = scratch_root
            .join(DATASET_DIR)
            .join(PENDING_DIR)
            .join(content_hash);
        let name = output_dir
            .file_name()
            .expect("output directories are named")
            .to_string_lossy()
            .into_owned();
        // (local file, key) of everything but the report, which names the rest and
        // goes last, once they are all in place.
        let mut uploads: Vec<(PathBuf, String)> = dataset_files
            .iter()
            .map(|file| (pending.join(file), self.pending_key(content_hash, file)))
            .collect();
        let mut report = None;
        for entry in walkdir::WalkDir::new(output_dir).min_depth(1) {
            let entry = entry.map_err(|e| {
                HarvestError::io(output_dir, "cannot list an output directory", e.into())
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(output_dir)
                .expect("walked below it");
            let key = self.key(&format!("{name}/{}", relative.to_string_lossy()));
            if relative == Path::new(REPORT_FILE) {
                report = Some((entry.into_path(), key));
            } else {
                uploads.push((entry.into_path(), key));
            }
        }
        self.put_files(uploads, stop).await?;
        self.put_files(report.into_iter().collect(), stop).await?;
        Ok(self.url.join(&name).as_path())
    }

    /// Uploads local files to their keys, [`PARALLEL_REQUESTS`] at a time.
    async fn put_files(
        &self,
        files: Vec<(PathBuf, String)>,
        stop: &Stop,
    ) -> Result<(), HarvestError> {
        futures_util::stream::iter(files)
            .map(|(path, key)| async move { self.bucket.put_file(&key, &path, stop).await })
            .buffer_unordered(PARALLEL_REQUESTS)
            .try_collect()
            .await
    }

    /// Publishes a committed harvest: deletes `obsolete` dataset files, copies each
    /// of `files` from the pending folder into place, then, once every copy is
    /// confirmed, empties the pending folder; after a failure it is left whole for
    /// the next attempt. A file already moved (another worker published it) is no
    /// error.
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
        futures_util::stream::iter(files)
            .map(|file| self.publish_file(content_hash, file))
            .buffer_unordered(PARALLEL_REQUESTS)
            .try_collect::<()>()
            .await?;
        self.discard(content_hash).await
    }

    /// Copies one pending file into its partition and confirms the copy: the
    /// published object is there, as large as the pending one. Servers differ in
    /// what a failed copy answers (an error, a 404, a 200 that copied nothing), so
    /// only the published object itself is believed.
    async fn publish_file(&self, content_hash: &str, file: &String) -> Result<(), HarvestError> {
        let from = self.pending_key(content_hash, file);
        let to = self.key(&format!("{DATASET_DIR}/{file}"));
        let pending = match self.bucket.head(&from).await {
            Ok(pending) => pending,
            // Gone from the pending folder: published by another worker, or lost.
            Err(HarvestError::Remote {
                failure: RemoteFailure::Missing,
                ..
            }) => {
                if self.bucket.head(&to).await.is_err() {
                    tracing::warn!(
                        content_hash,
                        file = %self.url.join(&format!("{DATASET_DIR}/{file}")),
                        "a dataset file of a committed harvest is neither pending nor published: `harvest --force` its source to write it again"
                    );
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.bucket.copy(&from, &to).await?;
        let confirmed = match self.bucket.head(&to).await {
            Ok(published) => published.size == pending.size,
            Err(HarvestError::Remote {
                failure: RemoteFailure::Missing,
                ..
            }) => false,
            Err(e) => return Err(e),
        };
        if !confirmed {
            return Err(HarvestError::Remote {
                url: self.url.join(&format!("{DATASET_DIR}/{file}")).to_string(),
                problem: "the server-side copy answered but the published object is not there"
                    .into(),
                failure: RemoteFailure::Unreachable,
            });
        }
        Ok(())
    }

    /// Deletes published dataset files (relative to the dataset): the runs of a
    /// content its source no longer holds. One already gone is no error.
    pub async fn remove(&self, files: &[String]) -> Result<(), HarvestError> {
        for file in files {
            self.bucket
                .delete(&self.key(&format!("{DATASET_DIR}/{file}")))
                .await?;
        }
        Ok(())
    }

    /// Deletes what is pending for a content (a failed harvest, or a published one).
    pub async fn discard(&self, content_hash: &str) -> Result<(), HarvestError> {
        let prefix = self.key(&format!("{DATASET_DIR}/{PENDING_DIR}/{content_hash}"));
        let objects = self.bucket.list(&prefix).await?;
        futures_util::stream::iter(objects)
            .map(|object| async move { self.bucket.delete(&object.url.key).await })
            .buffer_unordered(PARALLEL_REQUESTS)
            .try_collect()
            .await
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

    /// Every object below this root, by its key relative to the root, with its
    /// size: one listing answers whether each output of every harvest is in place
    /// (and what is pending), where a request per output would cost a round trip
    /// each.
    pub async fn inventory(&self) -> Result<HashMap<String, u64>, HarvestError> {
        let folder = match self.url.key.as_str() {
            "" => String::new(),
            key => format!("{key}/"),
        };
        Ok(self
            .bucket
            .list(&self.url.key)
            .await?
            .into_iter()
            .filter_map(|object| {
                let relative = object.url.key.strip_prefix(&folder)?;
                Some((relative.to_string(), object.size))
            })
            .collect())
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
