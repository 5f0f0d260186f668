//! `view`: show what was harvested: one file's report, the catalog's list, or the
//! first rows of a run.
//!
//! Exit codes: 0 success (also when stdout is closed early, as by `| head`), 64 usage
//! error or unknown target, 65 unreadable outputs, 75 catalog unreachable (retry
//! later), 78 catalog unusable as configured (bad URL or credentials, no such
//! database, a corrupt catalog file, made by a newer version).

use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;

use clap::Parser;
use harvester::catalog::FileStatus;
use harvester::cli;
use harvester::error::ExitCode;
use harvester::view::{self, Format, Request, ViewOptions};

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
    status: Option<FileStatus>,

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

    /// Tables as wide as their content: no eliding of paths, dropping or stacking of
    /// columns. Tables otherwise fit COLUMNS when set, else the terminal (in a pipe
    /// without COLUMNS they are as wide as their content).
    #[arg(long)]
    wide: bool,

    /// The harvest's output directory (where the default catalog is).
    #[arg(long, short, env = "HARVEST_OUT", default_value = "harvested", value_parser = cli::parse_out_dir)]
    out: PathBuf,

    /// Catalog URL: postgres://user@host/db or sqlite://path [default: sqlite://OUT/catalog.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    catalog: Option<String>,

    #[command(flatten)]
    logging: cli::LogArgs,
}

fn main() -> ProcessExit {
    let args: Args = match cli::parse() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    args.logging.init();
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
        wide: args.wide,
    };
    let runtime = match cli::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code.into(),
    };
    runtime.block_on(view::run(&options)).into()
}
