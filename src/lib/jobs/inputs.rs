//! Which files a job takes: the logs among the paths given (a directory's logs and
//! those of its folders, sorted), the sources the catalog says an older version
//! harvested, this worker's shard of them, each once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::{CatalogError, ExitCode, HarvestError};
use crate::model::schema::{InputFormat, OUTPUT_SCHEMA_VERSION};
use crate::storage::remote::{is_remote, ListedObject, ObjectStores, ObjectUrl};
use crate::text::{printable, printable_path};

/// One input of a job: a local file, or an object a listing showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Object(ListedObject),
    /// A source a listing found but cannot read by its name: recorded as bad, so
    /// the rest of the listing is still harvested.
    Unreadable(UnreadableSource),
}

/// A source that cannot be read as it is named: a folder that cannot be listed for
/// lack of permission or whose path is over the system's limit, an object key with
/// `..`, `.` or empty segments. Its name is kept exactly, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnreadableSource {
    /// The path, or the object's `s3://` URL as a path.
    pub location: PathBuf,
    pub problem: String,
}

impl UnreadableSource {
    /// The bad-file error it is recorded and reported with (65).
    pub fn error(&self) -> HarvestError {
        HarvestError::bad_file(&self.location, &self.problem)
    }
}

impl Input {
    /// Where it is: a path, or an `s3://` URL as a path.
    pub fn location(&self) -> PathBuf {
        match self {
            Input::File(path) => path.clone(),
            Input::Object(object) => object.url.as_path(),
            Input::Unreadable(source) => source.location.clone(),
        }
    }
}

/// What to take from the command line and the catalog.
#[derive(Debug, Clone, Default)]
pub struct InputSelection {
    /// Files, or directories whose logs to take; `s3://` objects or prefixes.
    pub paths: Vec<PathBuf>,
    /// Also every recorded source whose outputs an older version made.
    pub outdated: bool,
    /// Only shard I of N (0-based).
    pub shard: Option<(u32, u32)>,
    /// How directories are listed.
    pub listing: Listing,
}

/// How a directory is listed: recursively, down to `max_depth` levels (1: its own
/// files only), never into hidden folders nor into `skip` (the output root, when it
/// lies inside an input directory).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub max_depth: Option<usize>,
    pub skip: Vec<PathBuf>,
}

impl InputSelection {
    /// Whether `path`, found under `root` (or given as `root` itself), is this
    /// worker's.
    pub fn in_shard(&self, root: &Path, path: &Path) -> bool {
        self.shard
            .is_none_or(|(index, count)| in_shard(shard_key(root, path), index, count))
    }
}

/// What a job takes: the files, sorted and each once; the sources found that
/// cannot be read by their names; the paths given that could not be taken whole (a
/// directory that does not exist or cannot be listed, an I/O error listing a folder
/// below one); and the catalog's error if the outdated sources could not be listed.
/// The files found are taken whatever else failed.
#[derive(Debug, Default)]
pub struct Inputs {
    pub files: Vec<PathBuf>,
    /// Objects listed under the `s3://` locations given, sorted by URL.
    pub objects: Vec<ListedObject>,
    /// Sorted by location, each once.
    pub unreadable: Vec<UnreadableSource>,
    /// The files and objects given by themselves rather than found by listing: a
    /// known failure of one of them still fails the job (see
    /// [`crate::jobs::FileOutcome::exit_code_when_listed`]).
    pub named: BTreeSet<PathBuf>,
    pub unlisted: Vec<HarvestError>,
    pub catalog_error: Option<CatalogError>,
}

/// Gathers the files of a job. A path given that does not exist is a file when it is
/// named like a log (`.parquet`, `.csv`: harvesting it says it is missing, 66) and
/// otherwise a directory that is not there, such as an unmounted share (retry later, 75).
pub async fn gather_inputs(
    selection: &InputSelection,
    catalog: &Catalog,
    stores: &ObjectStores,
) -> Inputs {
    let mut inputs = Inputs::default();
    for root in &selection.paths {
        if is_remote(root) {
            match list_objects(root, selection, stores).await {
                Ok(listed) => {
                    if let [object] = listed.objects.as_slice() {
                        if object.url.as_path() == *root {
                            inputs.named.insert(root.clone());
                        }
                    }
                    inputs.objects.extend(listed.objects);
                    inputs.unreadable.extend(listed.unreadable);
                }
                Err(e) => inputs.unlisted.push(e),
            }
            continue;
        }
        let missing = std::fs::symlink_metadata(root).is_err();
        if root.is_dir() || (missing && InputFormat::from_extension(root).is_none()) {
            match logs_in_dir(root, &selection.listing) {
                Ok(found) => {
                    inputs.files.extend(
                        found
                            .files
                            .into_iter()
                            .filter(|p| selection.in_shard(root, p)),
                    );
                    inputs.unreadable.extend(
                        found
                            .unreadable
                            .into_iter()
                            .filter(|s| selection.in_shard(root, &s.location)),
                    );
                    inputs.unlisted.extend(found.errors);
                }
                Err(e) => inputs.unlisted.push(unlistable(root, e)),
            }
        } else if selection.in_shard(root, root) {
            inputs.files.push(root.clone());
            inputs.named.insert(root.clone());
        }
    }
    if selection.outdated {
        match catalog.outdated_sources(OUTPUT_SCHEMA_VERSION).await {
            Ok(sources) => {
                for paths in sources {
                    // An object is taken from its store; a file may have moved since:
                    // the most recently seen of its paths that still exists is taken.
                    if let Some(url) = paths.iter().find(|p| is_remote(Path::new(p))) {
                        match list_objects(Path::new(url), selection, stores).await {
                            Ok(listed) => inputs.objects.extend(listed.objects),
                            Err(e) => tracing::warn!("an outdated source cannot be fetched: {e}"),
                        }
                        continue;
                    }
                    let found = paths.iter().map(PathBuf::from).find(|p| p.exists());
                    if found.is_none() {
                        let paths: Vec<String> =
                            paths.iter().map(|p| printable(p).into_owned()).collect();
                        tracing::warn!(
                            "an outdated source is at none of its recorded paths: {}",
                            paths.join(", ")
                        );
                    }
                    inputs
                        .files
                        .extend(found.filter(|p| selection.in_shard(p, p)));
                }
            }
            Err(e) => inputs.catalog_error = Some(e),
        }
    }
    inputs.files.sort();
    inputs.files.dedup();
    inputs.objects.sort_by(|a, b| a.url.cmp(&b.url));
    inputs.objects.dedup_by(|a, b| a.url == b.url);
    inputs.unreadable.sort();
    inputs.unreadable.dedup_by(|a, b| a.location == b.location);
    inputs
}

/// The job's inputs in the order they are harvested: files, then objects, then the
/// sources that cannot be read.
impl Inputs {
    pub fn into_list(self) -> Vec<Input> {
        let files = self.files.into_iter().map(Input::File);
        files
            .chain(self.objects.into_iter().map(Input::Object))
            .chain(self.unreadable.into_iter().map(Input::Unreadable))
            .collect()
    }
}

/// The logs an `s3://` location holds: the objects to take, and those whose keys
/// cannot be fetched by their names (a `.`, `..` or empty segment), each a bad
/// source of its own rather than a reason to list nothing.
#[derive(Debug, Default)]
pub struct ListedObjects {
    pub objects: Vec<ListedObject>,
    pub unreadable: Vec<UnreadableSource>,
}

/// The logs at an `s3://` location, as a directory's are taken: one object named
/// like a log, or those below a prefix (down to `--max-depth` folders, none in
/// hidden folders nor below `--out`), this worker's shard of them.
pub async fn list_objects(
    location: &Path,
    selection: &InputSelection,
    stores: &ObjectStores,
) -> Result<ListedObjects, HarvestError> {
    let url =
        ObjectUrl::parse(&location.to_string_lossy()).map_err(|problem| HarvestError::Remote {
            url: "s3://".into(),
            problem,
            failure: crate::error::RemoteFailure::Config,
        })?;
    let bucket = stores.bucket(&url)?;
    if InputFormat::from_extension(Path::new(&url.key)).is_some() {
        let object = bucket.head(&url.key).await?;
        let root = url.as_path();
        return Ok(ListedObjects {
            objects: selection
                .in_shard(&root, &root)
                .then_some(object)
                .into_iter()
                .collect(),
            unreadable: Vec::new(),
        });
    }
    let root = url.as_path();
    let max_depth = selection.listing.max_depth.unwrap_or(usize::MAX);
    let folder = match url.key.as_str() {
        "" => String::new(),
        key => format!("{key}/"),
    };
    // Judged on the key as it is, segment by segment: a path would fold `//` and
    // `/./` away and take `..` for a hidden folder.
    let taken = |listed: &ObjectUrl| {
        let path = listed.as_path();
        let Some(relative) = listed.key.strip_prefix(&folder) else {
            return false;
        };
        let segments: Vec<&str> = relative.split('/').collect();
        let folders = &segments[..segments.len() - 1];
        folders.len() < max_depth
            && !folders
                .iter()
                .any(|f| f.starts_with('.') && !matches!(*f, "." | ".."))
            && !selection.listing.skip.iter().any(|s| path.starts_with(s))
            && is_candidate_log(&path)
            && selection.in_shard(&root, &path)
    };
    let listed = bucket.list_keys(&url.key).await?;
    Ok(ListedObjects {
        objects: listed
            .objects
            .into_iter()
            .filter(|object| taken(&object.url))
            .collect(),
        unreadable: listed
            .unaddressable
            .into_iter()
            .filter(|key| taken(key))
            .map(|key| UnreadableSource {
                location: key.as_path(),
                problem: "an object key with a `.`, `..` or empty segment, which the harvester cannot fetch by its name (rename the object)".into(),
            })
            .collect(),
    })
}

/// Why a path given to `--watch` cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchDirError {
    /// A file, or a missing path named like a log: the caller meant to harvest a
    /// file, which needs no watch (64).
    #[error("{}: {} (--watch takes directories; harvest a file without --watch)", printable_path(path), if *missing { "no such directory, and named like a log file" } else { "not a directory" })]
    NotADirectory { path: PathBuf, missing: bool },
    /// A directory that cannot be listed, or is not there (an unmounted share):
    /// worth a retry (75).
    #[error(transparent)]
    Unlistable(HarvestError),
}

impl WatchDirError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            WatchDirError::NotADirectory { .. } => ExitCode::Usage,
            WatchDirError::Unlistable(e) => e.exit_code(),
        }
    }
}

/// Checks the local directories given to `--watch`. A missing one is a directory
/// not there yet (an unmounted share, worth a retry) unless it is named like a log
/// (`.parquet`, `.csv`), as [`gather_inputs`] takes a missing path.
pub fn check_watched_dirs(dirs: &[PathBuf]) -> Result<(), WatchDirError> {
    for dir in dirs.iter().filter(|dir| !is_remote(dir)) {
        match std::fs::metadata(dir) {
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && InputFormat::from_extension(dir).is_some() =>
            {
                return Err(WatchDirError::NotADirectory {
                    path: dir.clone(),
                    missing: true,
                })
            }
            Err(e) => return Err(WatchDirError::Unlistable(unlistable(dir, e))),
            Ok(meta) if !meta.is_dir() => {
                return Err(WatchDirError::NotADirectory {
                    path: dir.clone(),
                    missing: false,
                })
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

fn unlistable(dir: &Path, e: std::io::Error) -> HarvestError {
    let context = match e.kind() {
        std::io::ErrorKind::NotFound => "no such directory (is the share mounted?)",
        _ => "cannot list the directory",
    };
    HarvestError::io(dir, context, e)
}

/// Whether a directory entry is a log to take: a .parquet or .csv file that is not
/// hidden and not a temporary (`.part`, `.tmp`, `~`).
pub fn is_candidate_log(path: &Path) -> bool {
    // Names that are not UTF-8 are logs too: judge them by their lossy form.
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    !name.starts_with('.')
        && !name.ends_with('~')
        && !name.ends_with(".part")
        && !name.ends_with(".tmp")
        && InputFormat::from_extension(path).is_some()
}

/// What a directory's listing found.
#[derive(Debug, Default)]
pub struct DirLogs {
    /// The logs, sorted by path.
    pub files: Vec<PathBuf>,
    /// Folders (or entries) below the directory that no retry will list: denied
    /// to this user, or named by a path over the system's limit. Each is a bad
    /// source of its own, so that its logs are not silently missing.
    pub unreadable: Vec<UnreadableSource>,
    /// Other errors listing a folder below it (an I/O error): worth a retry (75).
    pub errors: Vec<HarvestError>,
}

/// The logs in `dir` and its folders as `listing` says. An error listing `dir`
/// itself is returned; what cannot be listed below it is told apart in the
/// [`DirLogs`], and the rest of the directory is still listed.
pub fn logs_in_dir(dir: &Path, listing: &Listing) -> std::io::Result<DirLogs> {
    std::fs::read_dir(dir)?;
    let skip: Vec<PathBuf> = listing
        .skip
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(listing.max_depth.unwrap_or(usize::MAX))
        .into_iter()
        .filter_entry(|entry| {
            !entry.file_type().is_dir()
                || !(entry.file_name().to_string_lossy().starts_with('.')
                    || std::fs::canonicalize(entry.path()).is_ok_and(|p| skip.contains(&p)))
        });
    let mut found = DirLogs::default();
    for entry in walk {
        match entry {
            Ok(entry) if !entry.file_type().is_dir() && is_candidate_log(entry.path()) => {
                found.files.push(entry.into_path())
            }
            Ok(_) => {}
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let io = e.io_error();
                match io.and_then(unreadable_problem) {
                    Some(problem) => found.unreadable.push(UnreadableSource {
                        location: path,
                        problem: problem.to_string(),
                    }),
                    None => found.errors.push(HarvestError::io(
                        path,
                        "cannot list the folder",
                        e.into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("a loop of links")),
                    )),
                }
            }
        }
    }
    found.files.sort();
    found.unreadable.sort();
    Ok(found)
}

/// Why a folder cannot be listed for good, if that is the error: permission is
/// denied, or its path is longer than the system takes. A retry fails the same
/// way; any other error may pass.
fn unreadable_problem(e: &std::io::Error) -> Option<&'static str> {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            Some("a folder that cannot be listed (permission denied): its logs are not harvested")
        }
        Some(libc::ENAMETOOLONG) => Some(
            "a path too long to list (over the system's limit): the logs below it are not harvested",
        ),
        _ => None,
    }
}

/// What a file is sharded by: its path below the root it was found under, or its
/// name when it was given by itself. Workers that spell the root differently
/// (`in`, `./in`, `/data/in`) or mount it elsewhere still agree on every file.
pub fn shard_key<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root)
        .ok()
        .filter(|relative| !relative.as_os_str().is_empty())
        .or_else(|| path.file_name().map(Path::new))
        .unwrap_or(path)
}

/// Whether a file whose [`shard_key`] is `key` falls in shard `index` of `count`: a
/// stable hash, so N workers split a directory deterministically without talking
/// to each other.
pub fn in_shard(key: &Path, index: u32, count: u32) -> bool {
    let hash = blake3::hash(key.as_os_str().as_encoded_bytes());
    let n = u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"));
    n % count as u64 == index as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_hidden_files_are_not_logs() {
        for name in ["a.parquet", "b.csv", "C.PARQUET"] {
            assert!(is_candidate_log(Path::new(name)), "{name}");
        }
        for name in [
            ".a.parquet",
            "a.parquet.part",
            "a.parquet.tmp",
            "a.csv~",
            "a.json",
            "a",
        ] {
            assert!(!is_candidate_log(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover() {
        let paths: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/in/log-{i}.parquet")))
            .collect();
        for p in &paths {
            let owners = (0..4).filter(|&i| in_shard(p, i, 4)).count();
            assert_eq!(owners, 1);
        }
        assert!((0..4).all(|i| paths.iter().any(|p| in_shard(p, i, 4))));
    }

    #[test]
    fn a_root_spelled_differently_shards_every_file_the_same() {
        let selection = |shard| InputSelection {
            shard: Some((shard, 3)),
            ..InputSelection::default()
        };
        for i in 0..100 {
            let name = format!("log-{i}.parquet");
            let spellings = [
                (PathBuf::from("in"), PathBuf::from("in").join(&name)),
                (PathBuf::from("./in/"), PathBuf::from("./in").join(&name)),
                (
                    PathBuf::from("/data/in"),
                    PathBuf::from("/data/in").join(&name),
                ),
                (
                    PathBuf::from("/data/in").join(&name),
                    PathBuf::from("/data/in").join(&name),
                ),
            ];
            let owners: Vec<Vec<u32>> = spellings
                .iter()
                .map(|(root, path)| {
                    (0..3)
                        .filter(|&s| selection(s).in_shard(root, path))
                        .collect()
                })
                .collect();
            assert_eq!(owners[0].len(), 1, "{name}");
            assert!(owners.iter().all(|o| *o == owners[0]), "{name}: {owners:?}");
        }
    }
}
