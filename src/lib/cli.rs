//! What both binaries do before their own work: parse the command line into an exit
//! code on failure, set up logging, and start the async runtime.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{one_line, ExitCode};
use crate::logging::{self, LogFormat};
use crate::storage::remote::{is_remote, ObjectUrl};
use crate::text::printable_path;

/// The logging flags both binaries take.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Only warnings and errors.
    #[arg(long, short)]
    quiet: bool,

    /// More detail.
    #[arg(long, short)]
    verbose: bool,
}

impl LogArgs {
    /// Starts logging to stderr as the flags say.
    pub fn init(&self) {
        logging::init(self.log_format, self.verbose, self.quiet);
    }
}

/// Parses the command line. A usage error is printed and gives 64 (as one JSON log
/// line when `--log-format json` is among the arguments); `--help` and `--version`
/// are printed and give 0.
pub fn parse<A: clap::Parser>() -> Result<A, ExitCode> {
    A::try_parse().map_err(|e| {
        if !e.use_stderr() {
            let _ = e.print();
            return ExitCode::Success;
        }
        if asks_for_json_logs(std::env::args_os()) {
            logging::init(LogFormat::Json, false, false);
            let code = ExitCode::Usage as u8;
            tracing::error!(exit_code = code, "{}", usage_error_line(&e));
        } else {
            let _ = e.print();
        }
        ExitCode::Usage
    })
}

/// Whether `--log-format json` (or `--log-format=json`) is among the arguments.
fn asks_for_json_logs(args: impl IntoIterator<Item = OsString>) -> bool {
    let args: Vec<OsString> = args.into_iter().collect();
    args.iter().any(|a| a == "--log-format=json")
        || args
            .windows(2)
            .any(|pair| pair[0] == "--log-format" && pair[1] == "json")
}

/// A clap error as one line: its first paragraph, without the `error: ` prefix.
fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.split("\n\n").next().unwrap_or(&text);
    one_line(first.trim_start_matches("error:").trim())
}

/// A number of seconds, finite, at least `min` and below 10⁹, for a duration flag.
pub fn parse_seconds(s: &str, min: Duration) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let min_s = min.as_secs_f64();
    if !(v.is_finite() && v >= min_s && v < 1e9) {
        return Err(format!(
            "`{s}` is out of range: expected seconds from {min_s} to below 1e9"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// An output directory: anything but an existing path that is not a directory; or
/// a URL, checked by [`check_remote`] (clap would echo a bad value, and a URL may hold
/// a secret).
pub fn parse_out_dir(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if is_remote(&path) {
        return Ok(path);
    }
    if path.exists() && !path.is_dir() {
        return Err(format!("`{s}` exists and is not a directory"));
    }
    if path
        .components()
        .any(|c| c.as_os_str().len() > NAME_MAX_BYTES)
    {
        return Err(format!(
            "a folder name is longer than {NAME_MAX_BYTES} bytes, which no file system takes"
        ));
    }
    Ok(path)
}

/// The longest file or folder name Linux file systems take, in bytes.
const NAME_MAX_BYTES: usize = 255;

/// Why a local output directory cannot take outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// It exists but cannot be written (read-only media or mount, another user's
    /// directory): the same call fails until someone fixes the place (73).
    #[error(
        "--out {}: the output directory is read-only ({source}); give a writable --out",
        printable_path(path)
    )]
    ReadOnly {
        path: PathBuf,
        source: std::io::Error,
    },
    /// It cannot be made where it was asked for, for the same reasons (73).
    #[error(
        "--out {}: the output directory cannot be created ({source}); give a writable --out",
        printable_path(path)
    )]
    CannotCreate {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A path the system refuses as such (longer than it takes) (64).
    #[error("--out {}: {source}", printable_path(path))]
    BadPath {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Making it failed for a reason that may pass (a full disk, an I/O error) (75).
    #[error(
        "--out {}: cannot create the output directory: {source}",
        printable_path(path)
    )]
    Unavailable {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl OutDirError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            OutDirError::ReadOnly { .. } | OutDirError::CannotCreate { .. } => ExitCode::CantCreate,
            OutDirError::BadPath { .. } => ExitCode::Usage,
            OutDirError::Unavailable { .. } => ExitCode::RetryLater,
        }
    }
}

/// Makes the local output directory `out` if it is missing, and checks that this
/// process can write in it, before a catalog or a file is touched: a read-only
/// output is one clear error (73), not an SQLite "unable to open database file"
/// that promises a retry, nor a failure per file.
pub fn prepare_out_dir(out: &Path) -> Result<(), OutDirError> {
    let path = out.to_path_buf();
    if let Err(source) = std::fs::create_dir_all(out) {
        return Err(match source.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => {
                OutDirError::CannotCreate { path, source }
            }
            Some(libc::ENAMETOOLONG) => OutDirError::BadPath { path, source },
            _ => OutDirError::Unavailable { path, source },
        });
    }
    if let Err(source) = crate::host::may_write_in(out) {
        return Err(match source.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => {
                OutDirError::ReadOnly { path, source }
            }
            _ => OutDirError::Unavailable { path, source },
        });
    }
    Ok(())
}

/// Checks the URLs among `locations` (`s3://bucket/key` or `s3://bucket/prefix/`)
/// and gives them in the form the catalog keys (`s3://bucket/prefix`, no trailing
/// `/`). A bad one is a usage error whose line names the flag, never the URL.
pub fn check_remote(locations: &mut [PathBuf], what: &str) -> Result<(), String> {
    for location in locations.iter_mut().filter(|l| is_remote(l)) {
        let url = ObjectUrl::parse(&location.to_string_lossy())
            .map_err(|problem| format!("{what}: {problem}"))?;
        *location = url.as_path();
    }
    Ok(())
}

/// Logs the error that ends a run and gives its exit code. The code is a field of
/// the event, so a collector of `--log-format json` lines sees why the process
/// ended as clap's usage errors say it (`"exit_code":64`).
pub fn fail(code: ExitCode, line: impl std::fmt::Display) -> ExitCode {
    tracing::error!(exit_code = code as u8, "{line}");
    code
}

/// The variable polars sizes its thread pool from, which this crate's parallel work
/// shares.
pub const POLARS_MAX_THREADS: &str = "POLARS_MAX_THREADS";

/// How many threads a data pool may have per processor the process may use: past a
/// few, threads only add memory and contention (10,000 threads on one small log
/// took minutes and gigabytes).
pub const THREADS_PER_PROCESSOR: usize = 4;

/// The data pool's size, as asked and as taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSize {
    /// What was asked, and where: `--threads` or `POLARS_MAX_THREADS`.
    pub asked: usize,
    pub by: &'static str,
    /// At most [`THREADS_PER_PROCESSOR`] × the processors available.
    pub threads: usize,
}

/// The size of the data pool from `--threads` (`flag`, already in 1..=65535), else
/// the `POLARS_MAX_THREADS` value `env`, checked like the flag (polars itself would
/// print a warning and ignore a bad value), and at most [`THREADS_PER_PROCESSOR`] ×
/// `available` processors. `None` when neither is given: polars takes one thread
/// per processor.
pub fn pool_size(
    flag: Option<u16>,
    env: Option<OsString>,
    available: usize,
) -> Result<Option<PoolSize>, String> {
    let (asked, by) = match (flag, env) {
        (Some(threads), _) => (usize::from(threads), "--threads"),
        (None, None) => return Ok(None),
        (None, Some(value)) => {
            let text = value.to_string_lossy();
            let threads = text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&t| t >= 1)
                .ok_or_else(|| {
                    format!(
                        "{POLARS_MAX_THREADS}=`{}` is not a number of threads: expected 1 to 65535",
                        one_line(&text)
                    )
                })?;
            (usize::from(threads), POLARS_MAX_THREADS)
        }
    };
    let most = THREADS_PER_PROCESSOR * available.max(1);
    Ok(Some(PoolSize {
        asked,
        by,
        threads: asked.min(most),
    }))
}

/// Sizes the data pool from `--threads` or `POLARS_MAX_THREADS` (see [`pool_size`])
/// before polars starts it, warning once when the number asked is cut to what the
/// processors available to this process (its cgroup's CPU quota and affinity) can
/// use. A bad `POLARS_MAX_THREADS` is a usage error.
pub fn size_data_pool(flag: Option<u16>) -> Result<(), ExitCode> {
    let available = std::thread::available_parallelism().map_or(1, usize::from);
    let size = pool_size(flag, std::env::var_os(POLARS_MAX_THREADS), available)
        .map_err(|line| fail(ExitCode::Usage, line))?;
    if let Some(PoolSize { asked, by, threads }) = size {
        if threads < asked {
            tracing::warn!(
                asked,
                threads,
                available,
                "{by} {asked} is more than {THREADS_PER_PROCESSOR} threads per processor available ({available}): using {threads}"
            );
        }
        // polars reads the variable when its pool first starts: this runs before
        // any data work, while the process has one thread.
        std::env::set_var(POLARS_MAX_THREADS, threads.to_string());
    }
    Ok(())
}

/// The async runtime: `worker_threads` threads, or the calling thread alone when
/// `None`. Failing to start one is logged and worth a retry.
pub fn runtime(worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = match worker_threads {
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build().map_err(|e| {
        tracing::error!("cannot start: {e}");
        ExitCode::RetryLater
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_logs_are_recognised_in_both_spellings() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(asks_for_json_logs(args(&["h", "--log-format", "json"])));
        assert!(asks_for_json_logs(args(&["h", "--log-format=json", "x"])));
        assert!(!asks_for_json_logs(args(&["h", "--log-format", "text"])));
        assert!(!asks_for_json_logs(args(&["h", "json"])));
    }

    #[test]
    fn pools_are_sized_by_the_flag_else_the_variable_and_cut_to_the_processors() {
        let env = |v: &str| Some(OsString::from(v));
        assert_eq!(pool_size(None, None, 8), Ok(None));
        let size = |asked, by, threads| Ok(Some(PoolSize { asked, by, threads }));
        assert_eq!(pool_size(Some(6), env("abc"), 8), size(6, "--threads", 6));
        assert_eq!(
            pool_size(Some(10_000), None, 6),
            size(10_000, "--threads", 24)
        );
        assert_eq!(
            pool_size(None, env(" 12 "), 2),
            size(12, POLARS_MAX_THREADS, 8)
        );
        assert_eq!(pool_size(None, env("3"), 0), size(3, POLARS_MAX_THREADS, 3));
        for bad in ["abc", "0", "-1", "65536", "1.5", ""] {
            let line = pool_size(None, env(bad), 8).expect_err(bad);
            assert!(line.starts_with("POLARS_MAX_THREADS="), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn output_directories_with_names_no_file_system_takes_are_refused() {
        let long = "x".repeat(256);
        assert!(parse_out_dir(&format!("out/{long}/y")).is_err());
        assert!(parse_out_dir(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn durations_are_finite_and_at_least_their_minimum() {
        let ms = Duration::from_millis(1);
        assert_eq!(parse_seconds("0.001", ms), Ok(ms));
        assert_eq!(parse_seconds("2", ms), Ok(Duration::from_secs(2)));
        for bad in ["1e-10", "0", "-1", "NaN", "inf", "1e9", "x", ""] {
            assert!(parse_seconds(bad, ms).is_err(), "{bad}");
        }
        assert!(parse_seconds("0.5", Duration::from_secs(1)).is_err());
    }
}
