//! `view`: show what was harvested: one file's report, the catalog's list, the
//! first rows of a run, the fleet per cell, or the harvest jobs.
//!
//! Exit codes: 0 success (also when stdout is closed early, as by `| head`), 64 usage
//! error or unknown target, 65 unreadable outputs, 66 outputs that are not there
//! (superseded by a newer revision, or missing), 70 a chart that could not be
//! drawn (a bug), 73 a page or chart file that cannot be created or written, 75
//! catalog unreachable (retry later), 78 catalog unusable as configured (bad URL or
//! credentials, no such database, a corrupt catalog file, made by a newer version).

use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;

use clap::Parser;
use harvester::catalog::{FileStatus, ListFilter};
use harvester::cli;
use harvester::error::ExitCode;
use harvester::model::labels::Labels;
use harvester::view::options::{parse_chart_file, parse_page_file};
use harvester::view::plot::{PlotKind, Projection};
use harvester::view::{self, Format, Request, ViewOptions};

/// Show harvested robot logs: a file's summary, data quality and run statistics, the
/// catalog's list of files, the first rows of one run's table, every cell of the
/// fleet, or the harvest jobs.
///
/// TARGET is a harvested output directory, a source path, or a content-hash prefix
/// (at least 4 hex digits).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
#[command(group(clap::ArgGroup::new("filtered").args(["list", "fleet"])))]
#[command(group(clap::ArgGroup::new("windowed").args(["list", "fleet", "jobs"])))]
#[command(group(clap::ArgGroup::new("limited").args(["list", "jobs"])))]
#[command(group(clap::ArgGroup::new("paged").args(["target", "fleet"])))]
struct Args {
    /// Output directory, source path or content-hash prefix of a harvested file.
    #[arg(required_unless_present_any = ["list", "fleet", "jobs"], conflicts_with_all = ["list", "fleet", "jobs"])]
    target: Option<String>,

    /// List the catalog's files, newest first.
    #[arg(long, conflicts_with_all = ["fleet", "jobs"])]
    list: bool,

    /// Every cell over the last 7 UTC days (today included; --since for others):
    /// when each last ran, its failed sources and pending files now, and over the
    /// window its files, runs, share of rows dropped, distance and runtime (total
    /// and mean per day). With --html FILE, a page of per-cell daily charts.
    #[arg(long, conflicts_with = "jobs")]
    fleet: bool,

    /// With --fleet: one row per cell and day instead of one per cell.
    #[arg(long, requires = "fleet", conflicts_with = "html")]
    daily: bool,

    /// List the harvest jobs (every `harvest` run), newest first: state, start,
    /// duration, host:pid, commit, file counts and exit code.
    #[arg(long)]
    jobs: bool,

    /// With --list: only files with this status.
    #[arg(long, value_enum, requires = "list", conflicts_with_all = ["fleet", "jobs"])]
    status: Option<FileStatus>,

    /// With --list: only files carrying KEY=VALUE (repeatable, all must match): a
    /// label of one of their paths, or for `cell`, also the cell of one of their runs.
    /// VALUE is what --label takes (letters, digits, '.', '_', '-'); a cell, any text
    /// but empty, as logs name cells. With --fleet: only runs of that cell or
    /// carrying that label, and failed or pending sources whose path carries it.
    #[arg(long = "where", value_name = "KEY=VALUE", requires = "filtered", value_parser = Labels::parse_filter)]
    filters: Vec<(String, String)>,

    /// With --list: only files with a run that started at or after this UTC date or
    /// second (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM:SS). With --fleet:
    /// the first UTC day of the window (a date; default: 6 days before today). With
    /// --jobs: only jobs started at or after it.
    #[arg(long, value_name = "WHEN", requires = "windowed", value_parser = parse_since)]
    since: Option<String>,

    /// With --list: at most this many files, the newest (a cut list says how many
    /// more there are). With --jobs: at most this many jobs, the newest.
    #[arg(long, default_value_t = 100, requires = "limited", value_parser = clap::value_parser!(i64).range(1..))]
    limit: i64,

    /// Show the first rows of this run's wide table.
    #[arg(long, value_name = "RUN_UUID", requires = "target")]
    run: Option<String>,

    /// With --run: how many rows.
    #[arg(long, default_value_t = 10, requires = "run")]
    head: usize,

    /// Write one self-contained HTML page (report and every run's charts; with
    /// --fleet, each cell's daily charts and the failed sources) to FILE, or to
    /// stdout without FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, requires = "paged", conflicts_with_all = ["run", "plot"], value_parser = parse_page_file)]
    html: Option<Option<PathBuf>>,

    /// Draw one chart of a run (--run, needed when the file has several; --robot for
    /// one robot) to -o FILE, SVG or PNG by its extension.
    #[arg(long, value_enum, requires_all = ["target", "output"])]
    plot: Option<PlotKind>,

    /// With --plot path: the plane drawn, X–Y (seen from above) or X–Z (from the
    /// side).
    #[arg(long, value_enum, requires = "plot")]
    projection: Option<Projection>,

    /// With --plot: only this robot's series (1 or 2; one the run has).
    #[arg(long, requires = "plot", value_parser = clap::value_parser!(u8).range(1..=2))]
    robot: Option<u8>,

    /// With --plot: the chart's file (.svg or .png).
    #[arg(long, short = 'o', value_name = "FILE", requires = "plot", value_parser = parse_chart_file)]
    output: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Tables as wide as their content: no eliding of paths, dropping or stacking of
    /// columns. Tables otherwise fit COLUMNS when set, else the terminal (in a pipe
    /// without COLUMNS they are as wide as their content).
    #[arg(long)]
    wide: bool,

    /// The harvest's output directory (where the default catalog is), or its
    /// s3://bucket/prefix. `-o` names a chart's file, so this has no short form here.
    #[arg(long, env = "HARVEST_OUT", default_value = "harvested", value_parser = cli::parse_out_dir)]
    out: PathBuf,

    /// Catalog URL: postgres://user@host/db or sqlite://path [default: sqlite://OUT/catalog.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    catalog: Option<String>,

    /// Endpoint of an S3-compatible server holding the outputs [default:
    /// AWS_ENDPOINT_URL, else AWS]; credentials come from the AWS_* variables.
    #[arg(long, env = "HARVEST_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,

    #[command(flatten)]
    logging: cli::LogArgs,
}

/// `--since`: a UTC date or whole second, in the form the catalog writes instants
/// (so that comparing text compares time). A space may stand for the `T`, as log
/// times and SQL write them.
fn parse_since(s: &str) -> Result<String, String> {
    let text = s.trim().trim_end_matches('Z');
    let text = match text.as_bytes().get(10) {
        Some(b' ') => text.replacen(' ', "T", 1),
        _ => text.to_string(),
    };
    let text = text.as_str();
    let format = if text.len() == 10 {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    };
    let valid = if text.len() == 10 {
        chrono::NaiveDate::parse_from_str(text, format).is_ok()
    } else {
        chrono::NaiveDateTime::parse_from_str(text, format).is_ok()
    };
    if valid && matches!(text.len(), 10 | 19) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{s}` is not a UTC date or second: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM:SS"
        ))
    }
}

fn main() -> ProcessExit {
    let mut args: Args = match cli::parse() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    args.logging.init();
    // view reads run tables with polars too: a bad POLARS_MAX_THREADS is the same
    // usage error as in harvest.
    if let Err(code) = cli::size_data_pool(None) {
        return code.into();
    }
    if let Err(line) = cli::check_remote(std::slice::from_mut(&mut args.out), "--out") {
        return usage_error(&line);
    }
    if args.projection.is_some() && args.plot != Some(PlotKind::Path) {
        return usage_error("--projection is for --plot path: other charts are against time");
    }
    if args.fleet && args.since.as_ref().is_some_and(|since| since.len() > 10) {
        return usage_error("--fleet counts whole UTC days: give --since as a date (YYYY-MM-DD)");
    }
    let request = match (args.list, args.target, args.run) {
        (false, None, _) if args.fleet && args.html.is_some() => Request::FleetPage {
            filters: args.filters,
            since: args.since,
            file: args.html.flatten(),
        },
        (false, None, _) if args.fleet => Request::Fleet {
            filters: args.filters,
            since: args.since,
            daily: args.daily,
        },
        (false, None, _) if args.jobs => Request::Jobs {
            limit: usize::try_from(args.limit).unwrap_or(usize::MAX),
            since: args.since,
        },
        (false, Some(target), run_uuid) if args.plot.is_some() => Request::Plot {
            target,
            kind: args.plot.expect("checked"),
            projection: args.projection.unwrap_or_default(),
            run_uuid,
            robot: args.robot,
            file: args.output.expect("clap requires -o with --plot"),
        },
        (false, Some(target), None) if args.html.is_some() => Request::Page {
            target,
            file: args.html.flatten(),
        },
        (true, _, _) => Request::List {
            filter: ListFilter {
                status: args.status,
                labels: args.filters,
                since: args.since,
            },
            limit: args.limit,
        },
        (false, Some(target), Some(run_uuid)) => Request::RunRows {
            target,
            run_uuid,
            head: args.head,
        },
        (false, Some(target), None) => Request::Target { target },
        (false, None, _) => {
            return usage_error("give a TARGET, --list, --fleet or --jobs (see --help)")
        }
    };
    let options = ViewOptions {
        request,
        format: args.format,
        out: args.out,
        catalog: args.catalog,
        wide: args.wide,
        s3_endpoint: args.s3_endpoint,
    };
    let runtime = match cli::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code.into(),
    };
    runtime.block_on(view::run(&options)).into()
}

/// A usage error found after parsing: one line, with its exit code as a field, as
/// clap's own errors are logged.
fn usage_error(line: &str) -> ProcessExit {
    let code = ExitCode::Usage;
    tracing::error!(exit_code = code as u8, "{line}");
    code.into()
}
