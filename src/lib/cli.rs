//! What both binaries do before their own work: parse the command line into an exit
//! code on failure, set up logging, and start the async runtime.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{one_line, ExitCode};
use crate::logging::{self, LogFormat};
use crate::storage::remote::{is_remote, ObjectUrl};

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
    Ok(path)
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
