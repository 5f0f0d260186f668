//! `view`: show what was harvested: one file's report, the catalog's list, or the
//! first rows of a run.
//!
//! Exit codes: 0 success (also when stdout is closed early, as by `| head`), 64 usage
//! error or unknown target, 65 unreadable outputs, 75 catalog unreachable (retry
//! later), 78 catalog unusable by this version.

use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;

use clap::Parser;
use harvester::error::ExitCode;
use harvester::logging::{self, LogFormat};
use harvester::view::{self, Format, Request, Status, ViewOptions};

/// Show harvested robot logs: a file's summary, data quality and run statistics, the
/// catalog's list of files, or the first rows of one run's table.
///
/// TARGET is a harvested output directory, a source path, or a content-hash prefix
/// (at least 4 hex digits).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Output directory, source path or content-hash prefix of a harvested file.
    #[arg(required_unless_present = "list", conflicts_with = "list")]
    target: Option<String>,

    /// List the catalog's files, newest first.
    #[arg(long)]
    list: bool,

    /// With --list: only files with this status.
    #[arg(long, value_enum, requires = "list")]
    status: Option<Status>,

    /// With --list: at most this many files.
    #[arg(long, default_value_t = 100, requires = "list", value_parser = clap::value_parser!(i64).range(1..))]
    limit: i64,

    /// Show the first rows of this run's wide table.
    #[arg(long, value_name = "RUN_UUID", requires = "target")]
    run: Option<String>,

    /// With --run: how many rows.
    #[arg(long, default_value_t = 10, requires = "run")]
    head: usize,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// The harvest's output directory (where the default catalog is).
    #[arg(long, short, env = "HARVEST_OUT", default_value = "harvested")]
    out: PathBuf,

    /// Catalog URL: postgres://user@host/db or sqlite://path [default: sqlite://OUT/catalog.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    catalog: Option<String>,

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

fn main() -> ProcessExit {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
            let _ = e.print();
            return code.into();
        }
    };
    logging::init(args.log_format, args.verbose, args.quiet);
    let request = match (args.list, args.target, args.run) {
        (true, _, _) => Request::List {
            status: args.status,
            limit: args.limit,
        },
        (false, Some(target), Some(run_uuid)) => Request::RunRows {
            target,
            run_uuid,
            head: args.head,
        },
        (false, Some(target), None) => Request::Target { target },
        (false, None, _) => {
            tracing::error!("give a TARGET or --list (see --help)");
            return ExitCode::Usage.into();
        }
    };
    let options = ViewOptions {
        request,
        format: args.format,
        out: args.out,
        catalog: args.catalog,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::RetryLater.into();
        }
    };
    runtime.block_on(view::run(&options)).into()
}
