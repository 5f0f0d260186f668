//! S3-compatible object storage (AWS S3, MinIO, GCS's S3 API) through the
//! `object_store` crate, for inputs (`harvest s3://bucket/prefix/`) and outputs
//! (`--out s3://bucket/harvested/`).
//!
//! Credentials, region and endpoint come from the standard `AWS_*` environment
//! variables (static keys, a session token, web identity as on EKS with IRSA, or
//! container credentials), with `--s3-endpoint` for MinIO-style servers. Nothing
//! secret is logged: locations are shown and stored as `s3://bucket/key`, and an
//! `s3://` URL with credentials or a query string is refused.
//!
//! Requests are retried at most twice within 10 s and connections time out after
//! 3 s, so an unreachable endpoint fails a job in seconds (75), not minutes.

mod output;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};

mod listing;
pub use listing::KeyListing;

pub use output::RemoteRoot;

use crate::error::{one_line, HarvestError, RemoteFailure};
use crate::storage::FileIdentity;

/// The size of an upload sent in one request, and of each part of a larger one: a
/// run's table of a production-sized log fits in one request, and a file of any
/// size holds at most three parts in memory.
const UPLOAD_PART_BYTES: usize = 32 << 20;

/// Turns true when a harvest's uploads must stop at once: its worker no longer holds
/// the claim on the content, and another worker writes the same keys.
pub type Stop = tokio::sync::watch::Receiver<bool>;

/// Resolves once `stop` turns true; never, if nothing can turn it true any more.
async fn stopped(stop: &mut Stop) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The URL schemes of S3-compatible stores.
const SCHEMES: [&str; 2] = ["s3://", "s3a://"];

/// Whether a command-line location names an object store rather than a local path:
/// it has a URL scheme.
pub fn is_remote(location: &Path) -> bool {
    location.to_str().is_some_and(|s| s.contains("://"))
}

/// An object or prefix: `s3://bucket/key`, without credentials, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectUrl {
    pub bucket: String,
    /// The key, or a prefix without its trailing `/` (empty for the whole bucket).
    pub key: String,
}

impl ObjectUrl {
    /// Parses `s3://bucket/key` (or `s3a://`). Credentials, a port, a query string
    /// or another scheme are refused with the reason, without echoing the URL (it
    /// may hold a secret).
    pub fn parse(location: &str) -> Result<ObjectUrl, String> {
        let rest = SCHEMES
            .iter()
            .find_map(|scheme| location.strip_prefix(scheme))
            .ok_or_else(|| {
                let scheme = location.split("://").next().unwrap_or("");
                format!(
                    "`{}://` is not a supported object store: use s3:// (AWS S3, MinIO, GCS's S3 API)",
                    crate::text::printable(scheme)
                )
            })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.contains('@') || bucket.contains(':') {
            return Err("an s3:// URL names a bucket only: credentials go in the AWS_* environment variables and the endpoint in --s3-endpoint".into());
        }
        if key.contains('?') || key.contains('#') {
            return Err("an s3:// URL takes no query string or fragment".into());
        }
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket {
            return Err(format!(
                "`{}` is not a bucket name (3 to 63 lowercase letters, digits, `.` or `-`)",
                crate::text::printable(bucket)
            ));
        }
        if key.split('/').any(|part| part == "." || part == "..") {
            return Err("an s3:// key has no `.` or `..` segments".into());
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.trim_end_matches('/').to_string(),
        })
    }

    /// The object `relative` below this prefix.
    pub fn join(&self, relative: &str) -> ObjectUrl {
        let key = match self.key.as_str() {
            "" => relative.to_string(),
            prefix => format!("{prefix}/{relative}"),
        };
        ObjectUrl {
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// The prefix this object is in, and its name (the last segment of its key).
    pub fn split_last(&self) -> (ObjectUrl, String) {
        let (prefix, name) = self.key.rsplit_once('/').unwrap_or(("", &self.key));
        let parent = ObjectUrl {
            bucket: self.bucket.clone(),
            key: prefix.to_string(),
        };
        (parent, name.to_string())
    }

    /// The URL as a path, the form the catalog stores and the labels and shards use.
    pub fn as_path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Where the store is, beyond what the environment says.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `--s3-endpoint`: a MinIO-style server (`http://` is allowed for it).
    pub endpoint: Option<String>,
}

/// An object as a listing shows it: enough to skip it unchanged, and to claim it
/// before fetching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub url: ObjectUrl,
    pub size: u64,
    pub last_modified: SystemTime,
    /// The ETag, or empty when the store gives none.
    pub etag: String,
}

impl ListedObject {
    /// What tells this version of the object from others at its URL: its ETag, or,
    /// from a store that gives none, its size and last-modified time.
    pub fn version(&self) -> String {
        if self.etag.is_empty() {
            let id = self.identity();
            format!("size={},mtime_ns={}", id.size, id.mtime_ns)
        } else {
            self.etag.clone()
        }
    }

    /// What stands for the object's file identity in the catalog's cheap rescan: its
    /// size, last-modified time, and a hash of its ETag in place of an inode (a
    /// rewrite gives a new ETag, even at the same size and second).
    pub fn identity(&self) -> FileIdentity {
        let mtime_ns = self
            .last_modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let hash = blake3::hash(self.etag.as_bytes());
        let inode = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes")) >> 1;
        FileIdentity {
            size: self.size,
            mtime_ns,
            ctime_ns: 0,
            inode,
        }
    }
}

/// The buckets a job uses, each connected once and shared by its workers.
#[derive(Debug, Default)]
pub struct ObjectStores {
    settings: S3Settings,
    buckets: Mutex<Vec<Bucket>>,
}

impl ObjectStores {
    pub fn new(settings: S3Settings) -> ObjectStores {
        ObjectStores {
            settings,
            buckets: Mutex::new(Vec::new()),
        }
    }

    /// The bucket of `url`, connected on first use.
    pub fn bucket(&self, url: &ObjectUrl) -> Result<Bucket, HarvestError> {
        let mut buckets = self.buckets.lock().expect("no panic holding the lock");
        if let Some(bucket) = buckets.iter().find(|b| b.name == url.bucket) {
            return Ok(bucket.clone());
        }
        let bucket = Bucket::connect(&url.bucket, &self.settings)?;
        buckets.push(bucket.clone());
        Ok(bucket)
    }
}

/// One bucket of an S3-compatible store.
#[derive(Debug, Clone)]
pub struct Bucket {
    name: String,
    store: Arc<AmazonS3>,
    /// Where input listings are asked for by the harvester's own requests: see
    /// [`Bucket::list_keys`].
    lister: listing::Lister,
}

impl Bucket {
    /// A client for `name`, configured from the environment and `settings`. Nothing
    /// is sent until the first request.
    pub fn connect(name: &str, settings: &S3Settings) -> Result<Bucket, HarvestError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(name)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
            });
        let mut client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(300));
        let endpoint = settings.endpoint.clone().or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                .iter()
                .find_map(|v| std::env::var(v).ok())
        });
        if let Some(endpoint) = &endpoint {
            if endpoint.contains('@') || endpoint.contains('?') {
                return Err(HarvestError::Remote {
                    url: format!("s3://{name}"),
                    problem: "the S3 endpoint is a scheme, host and port only: credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                    failure: RemoteFailure::Config,
                });
            }
            builder = builder.with_endpoint(endpoint);
            if endpoint.starts_with("http://") {
                client = client.with_allow_http(true);
            }
        }
        let lister = listing::Lister::new(name, &builder, &client)?;
        let store =
            builder
                .with_client_options(client)
                .build()
                .map_err(|e| HarvestError::Remote {
                    url: format!("s3://{name}"),
                    problem: format!("cannot configure the client: {}", short(&e.to_string())),
                    failure: RemoteFailure::Config,
                })?;
        Ok(Bucket {
            name: name.to_string(),
            store: Arc::new(store),
            lister,
        })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// A key as the store addresses it, byte for byte (keys hold `%` and `=` of Hive
    /// partitions, which must not be encoded again). A key no request can address
    /// (an empty segment, as in `a//b`) is a configuration error.
    fn path(&self, key: &str) -> Result<ObjectPath, HarvestError> {
        ObjectPath::parse(key).map_err(|e| HarvestError::Remote {
            url: self.url(key),
            problem: format!("not an addressable key: {}", short(&e.to_string())),
            failure: RemoteFailure::Config,
        })
    }

    /// Every object at or below `prefix` (a key, or a folder without its `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>, HarvestError> {
        let path = self.path(prefix)?;
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|e| classify(&self.url(prefix), e))?;
        Ok(listed.into_iter().map(|meta| self.listed(meta)).collect())
    }

    /// Every object whose key is at or below `prefix` (a key, or a folder without
    /// its `/`), each by its exact key, by the harvester's own listing requests: a
    /// key object_store cannot address (`..`, `.` or an empty segment) is returned
    /// apart instead of failing the listing (see [`listing`]).
    pub async fn list_keys(&self, prefix: &str) -> Result<KeyListing, HarvestError> {
        self.path(prefix)?;
        let prefix = match prefix {
            "" => String::new(),
            folder => format!("{folder}/"),
        };
        self.lister.list(&self.store, &self.name, &prefix).await
    }

    fn listed(&self, meta: object_store::ObjectMeta) -> ListedObject {
        ListedObject {
            url: ObjectUrl {
                bucket: self.name.clone(),
                key: meta.location.to_string(),
            },
            size: meta.size,
            last_modified: meta.last_modified.into(),
            etag: meta.e_tag.unwrap_or_default(),
        }
    }

    /// One object's listing entry.
    pub async fn head(&self, key: &str) -> Result<ListedObject, HarvestError> {
        let meta = self
            .store
            .head(&self.path(key)?)
            .await
            .map_err(|e| classify(&self.url(key), e))?;
        Ok(self.listed(meta))
    }

    /// An object's bytes, in one request, only if its ETag is still `etag` (when
    /// known): an object replaced since it was listed is worth a retry, not bytes of
    /// another version.
    pub async fn fetch(&self, object: &ListedObject) -> Result<Vec<u8>, HarvestError> {
        let url = object.url.to_string();
        let options = GetOptions {
            if_match: (!object.etag.is_empty()).then(|| object.etag.clone()),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.path(&object.url.key)?, options)
            .await
            .map_err(|e| classify(&url, e))?;
        let bytes = result.bytes().await.map_err(|e| classify(&url, e))?;
        Ok(Vec::from(bytes))
    }

    /// Streams the local file `local` to `key`, replacing what is there: one request
    /// up to [`UPLOAD_PART_BYTES`], a multipart upload of such parts above (two in
    /// flight; aborted on failure, or when `stop` turns true), so memory stays
    /// bounded however large a run's table is.
    pub async fn put_file(&self, key: &str, local: &Path, stop: &Stop) -> Result<(), HarvestError> {
        use tokio::io::AsyncWriteExt;
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| HarvestError::io(local, "cannot read an output file to upload", e))?;
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let mut writer =
            object_store::buffered::BufWriter::with_capacity(store, path, UPLOAD_PART_BYTES)
                .with_max_concurrency(2);
        let mut stop = stop.clone();
        let written = tokio::select! {
            written = async {
                tokio::io::copy(&mut file, &mut writer).await?;
                writer.shutdown().await
            } => Some(written),
            () = stopped(&mut stop) => None,
        };
        let Some(written) = written else {
            let _ = writer.abort().await;
            return Err(HarvestError::Remote {
                url: self.url(key),
                problem: "upload stopped: another worker took the harvest over".into(),
                failure: RemoteFailure::Unreachable,
            });
        };
        if let Err(e) = written {
            let _ = writer.abort().await;
            // The upload's own error, classified; else reading the local file failed.
            return Err(
                match e
                    .into_inner()
                    .map(|inner| inner.downcast::<object_store::Error>())
                {
                    Some(Ok(store_error)) => classify(&self.url(key), *store_error),
                    Some(Err(other)) => HarvestError::io(
                        local,
                        "cannot upload an output file",
                        std::io::Error::other(other),
                    ),
                    None => HarvestError::io(
                        local,
                        "cannot upload an output file",
                        std::io::Error::other("interrupted"),
                    ),
                },
            );
        }
        Ok(())
    }

    /// Copies `from` to `to` on the server side. A copy answered "no such object"
    /// is worth a retry, not a missing input: callers copy what they saw listed.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), HarvestError> {
        match self.store.copy(&self.path(from)?, &self.path(to)?).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(HarvestError::Remote {
                url: self.url(from),
                problem: "the server-side copy answered that there is no such object".into(),
                failure: RemoteFailure::Unreachable,
            }),
            Err(e) => Err(classify(&self.url(to), e)),
        }
    }

    /// Deletes `key`; one already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), HarvestError> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(classify(&self.url(key), e)),
        }
    }
}

/// What an object store error means for its caller, as one line without secrets: S3
/// error bodies are cut down to their error code.
pub fn classify(url: &str, e: object_store::Error) -> HarvestError {
    let text = e.to_string();
    let code = s3_error_code(&text);
    let detail = code.map_or_else(|| short(&text), str::to_string);
    let denied = || {
        (
            RemoteFailure::Config,
            format!(
                "access denied ({detail}): check the AWS_* credentials and the bucket's policy"
            ),
        )
    };
    let (failure, problem) = match (&e, code) {
        (_, Some("NoSuchBucket")) => (RemoteFailure::Config, "no such bucket".to_string()),
        (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied")) => denied(),
        (object_store::Error::NotFound { .. }, _) => {
            (RemoteFailure::Missing, "no such object".to_string())
        }
        (
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
            _,
        ) => denied(),
        (object_store::Error::Precondition { .. }, _) => (
            RemoteFailure::Unreachable,
            "the object changed while it was fetched".to_string(),
        ),
        _ if text.contains("error sending request") || text.contains("onnect") => (
            RemoteFailure::Unreachable,
            "cannot connect to the endpoint (is it up, and the address right?)".to_string(),
        ),
        _ if text.contains("timed out") || text.contains("Timeout") => (
            RemoteFailure::Unreachable,
            "the endpoint timed out".to_string(),
        ),
        // Answered, but not as an S3 server would: a wrong endpoint or region.
        _ => match http_status(&text) {
            Some(status) if (400..500).contains(&status) && !matches!(status, 408 | 429) => (
                RemoteFailure::Config,
                format!("the endpoint refused the request ({status}): is it an S3 server, and the region right?"),
            ),
            _ => (
                RemoteFailure::Unreachable,
                format!("the object store failed: {detail}"),
            ),
        },
    };
    HarvestError::Remote {
        url: url.to_string(),
        problem,
        failure,
    }
}

/// The `<Code>` of an S3 error body within an error message, if any.
fn s3_error_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(&text[start..end])
}

/// The HTTP status an object_store error message reports, if any.
fn http_status(text: &str) -> Option<u16> {
    ["status code: ", "with status "].iter().find_map(|marker| {
        let at = text.find(marker)? + marker.len();
        text.get(at..at + 3)?.parse().ok()
    })
}

/// An error message as one short line, before any response body it quotes.
fn short(text: &str) -> String {
    let text = text.split('<').next().unwrap_or(text);
    let line = one_line(text);
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_name_a_bucket_and_a_key_and_nothing_secret() {
        let url = ObjectUrl::parse("s3://logs/cells/7/").unwrap();
        assert_eq!((url.bucket.as_str(), url.key.as_str()), ("logs", "cells/7"));
        assert_eq!(url.to_string(), "s3://logs/cells/7");
        assert_eq!(url.join("a.csv").to_string(), "s3://logs/cells/7/a.csv");
        let root = ObjectUrl::parse("s3://logs").unwrap();
        assert_eq!(root.join("a.csv").to_string(), "s3://logs/a.csv");
        assert!(ObjectUrl::parse("s3a://logs/x.parquet").is_ok());
        for (bad, says) in [
            ("s3://AKIA:secret@logs/x", "credentials"),
            ("s3://logs/x?X-Amz-Signature=abc", "query"),
            ("gs://logs/x", "not a supported"),
            ("s3://Logs/x", "bucket name"),
            ("s3://logs/../x", ".."),
        ] {
            let error = ObjectUrl::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(
                !error.contains("secret") && !error.contains("abc"),
                "{error}"
            );
        }
        assert!(is_remote(Path::new("s3://logs/x")));
        assert!(!is_remote(Path::new("/data/logs")));
    }

    #[test]
    fn an_object_rewritten_in_place_has_a_new_identity() {
        let listed = |etag: &str| ListedObject {
            url: ObjectUrl::parse("s3://logs/a.parquet").unwrap(),
            size: 10,
            last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(5),
            etag: etag.to_string(),
        };
        let a = listed("\"e1\"").identity();
        assert_eq!((a.size, a.mtime_ns), (10, 5_000_000_000));
        assert_eq!(a, listed("\"e1\"").identity());
        assert_ne!(a, listed("\"e2\"").identity());
        assert!(i64::try_from(a.inode).is_ok(), "stored as BIGINT");
    }

    #[test]
    fn error_bodies_are_cut_to_their_code() {
        let text = "Client error with status 403 Forbidden: <?xml?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id</Message></Error>";
        assert_eq!(s3_error_code(text), Some("InvalidAccessKeyId"));
        assert_eq!(short(text), "Client error with status 403 Forbidden:");
        assert_eq!(http_status(text), Some(403));
        let not_s3 = "Error performing GET http://h/logs?list-type=2 in 1ms - Server returned non-2xx status code: 404 Not Found: ";
        assert_eq!(http_status(not_s3), Some(404));
        assert_eq!(http_status("HTTP error: error sending request"), None);
    }
}
