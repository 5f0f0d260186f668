//! `harvest`: harvest robot logs into analysis-ready datasets, exactly once per file.
//!
//! Exit codes: 0 success (harvested, or already harvested / being harvested
//! elsewhere), 64 usage error, 65 a bad file, 75 retry later, 78 catalog unusable.

use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use harvester::align::{AlignOptions, Alignment};
use harvester::catalog::{default_sqlite_url, Catalog, ClaimPolicy};
use harvester::error::ExitCode;
use harvester::job::{self, FileOutcome, JobOptions};
use harvester::logging::{self, LogFormat};
use harvester::pipeline::HarvestOptions;
use harvester::schema::OUTPUT_SCHEMA_VERSION;
use harvester::store::Compression;
use harvester::watch;

/// polars allocates and frees large buffers all the time; mimalloc keeps freed
/// memory for reuse instead of handing it back to the kernel and faulting in fresh
/// zeroed pages for the next buffer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Harvest robot machine logs (Parquet or CSV) into clean, time-aligned datasets.
///
/// Each file is recorded in a catalog (an embedded SQLite file in the output
/// directory, or PostgreSQL via --catalog / DATABASE_URL) so it is harvested exactly
/// once, however often and by however many workers it is triggered.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Log files, or directories whose .parquet/.csv files to harvest.
    #[arg(required_unless_present_any = ["reharvest_outdated", "watch"])]
    paths: Vec<PathBuf>,

    /// Directory that receives one output directory per harvested file.
    #[arg(long, short, env = "HARVEST_OUT", default_value = "harvested")]
    out: PathBuf,

    /// Catalog URL: postgres://user@host/db or sqlite://path [default: sqlite://OUT/catalog.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    catalog: Option<String>,

    /// How channels are put on a run's common timeline.
    #[arg(long, value_enum, default_value_t = Alignment::Interpolate)]
    align: Alignment,

    /// Longest gap, in seconds, that interpolation, hold or a derivative may bridge.
    #[arg(long, default_value = "1", value_parser = parse_seconds)]
    max_gap: Duration,

    /// Codec of the Parquet outputs: none, snappy, lz4, zstd or zstd:LEVEL (1-22).
    #[arg(long, env = "HARVEST_COMPRESSION", default_value_t = Compression::None)]
    compression: Compression,

    /// Harvest again even if already harvested.
    #[arg(long)]
    force: bool,

    /// Harvest again files that failed before.
    #[arg(long)]
    retry_failed: bool,

    /// Harvest again every recorded source whose outputs an older version made.
    #[arg(long)]
    reharvest_outdated: bool,

    /// Watch the given directories and harvest every file that appears, once complete.
    #[arg(long)]
    watch: bool,

    /// How long a file's size and mtime must stay unchanged before it is taken (seconds).
    #[arg(long, default_value = "2", value_parser = parse_seconds)]
    settle: Duration,

    /// Files harvested at the same time.
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,

    /// Threads for the data work of this process [default: all cores; POLARS_MAX_THREADS also applies].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Take only the files whose path hashes to shard I of N (as I/N, 0-based).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,

    /// Seconds a claim stays valid if its worker stops renewing it (a killed worker).
    #[arg(long, default_value = "600", value_parser = parse_seconds)]
    lease: Duration,

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

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v < 1e9) {
        return Err(format!("`{s}` must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not a shard: expected I/N with 0 <= I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
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
    if let Some(threads) = args.threads {
        // polars sizes its thread pool, which this crate's parallel work shares, from
        // this variable when the pool first starts: set it before any data work.
        std::env::set_var("POLARS_MAX_THREADS", threads.to_string());
    }
    logging::init(args.log_format, args.verbose, args.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::RetryLater.into();
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code.into(),
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::Usage.into()
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = args
        .catalog
        .clone()
        .unwrap_or_else(|| default_sqlite_url(&args.out));
    let catalog = match Catalog::open(&url).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return Ok(if e.is_retryable() {
                ExitCode::RetryLater
            } else {
                ExitCode::Config
            });
        }
    };
    let options = JobOptions {
        harvest: HarvestOptions {
            out_root: args.out.clone(),
            align: AlignOptions {
                alignment: args.align,
                max_gap_ns: args.max_gap.as_nanos() as i64,
            },
            compression: args.compression,
        },
        policy: ClaimPolicy {
            force: args.force,
            retry_failed: args.retry_failed,
            reharvest_outdated: args.reharvest_outdated,
        },
        lease: args.lease,
        settle: args.settle,
    };
    let in_shard = |p: &std::path::Path| args.shard.is_none_or(|(i, n)| job::in_shard(p, i, n));

    if args.watch {
        let code = watch::watch(
            &catalog,
            &args.paths,
            &options,
            args.jobs as usize,
            &in_shard,
            report_outcome,
        )
        .await?;
        catalog.close().await;
        return Ok(code);
    }

    let mut files = Vec::new();
    let mut exit = ExitCode::Success;
    for path in &args.paths {
        if path.is_dir() {
            let found = job::logs_in_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?;
            files.extend(found.into_iter().filter(|p| in_shard(p)));
        } else if in_shard(path) {
            files.push(path.clone());
        }
    }
    if args.reharvest_outdated {
        let outdated = catalog.outdated_sources(OUTPUT_SCHEMA_VERSION).await;
        match outdated {
            Ok(paths) => files.extend(paths.into_iter().map(PathBuf::from).filter(|p| in_shard(p))),
            Err(e) => {
                tracing::error!("{e}");
                exit = ExitCode::RetryLater;
            }
        }
    }
    files.dedup();

    let clock = std::time::Instant::now();
    let progress = progress_bar(files.len());
    let summary = job::harvest_files(
        &catalog,
        files,
        &options,
        args.jobs as usize,
        |path, outcome| {
            progress.suspend(|| report_outcome(path, outcome));
            progress.inc(1);
        },
    )
    .await;
    progress.finish_and_clear();
    tracing::info!(
        harvested = summary.harvested,
        skipped = summary.skipped,
        failed = summary.failed,
        seconds = format!("{:.2}", clock.elapsed().as_secs_f64()),
        "summary: {} harvested, {} skipped, {} failed in {:.2} s",
        summary.harvested,
        summary.skipped,
        summary.failed,
        clock.elapsed().as_secs_f64()
    );
    catalog.close().await;
    Ok(exit.worst(summary.exit))
}

/// A progress bar on a terminal with several files; hidden otherwise.
fn progress_bar(total: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if total < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// One log event per file: a sentence for people, fields for collectors.
fn report_outcome(path: &std::path::Path, outcome: &FileOutcome) {
    let file = path.display().to_string();
    match outcome {
        FileOutcome::Harvested {
            output_dir,
            content_hash,
            rows_read,
            rows_kept,
            runs,
            stages,
        } => {
            let stage = |name: &str| {
                stages
                    .iter()
                    .find(|(s, _)| s == name)
                    .map_or(0.0, |(_, t)| *t)
            };
            let seconds: f64 = stages.iter().map(|(_, t)| t).sum();
            tracing::info!(
                file,
                content_hash,
                rows_read,
                rows_kept,
                runs,
                output = %output_dir.display(),
                read_s = stage("read"),
                load_s = stage("load"),
                validate_s = stage("validate"),
                runs_s = stage("runs"),
                statistics_s = stage("statistics"),
                seconds,
                "harvested {file} -> {} ({rows_read} rows read, {rows_kept} kept, {runs} runs) in {seconds:.2} s",
                output_dir.display()
            );
        }
        FileOutcome::AlreadyHarvested {
            content_hash,
            output_dir,
        } => {
            let output = output_dir.as_deref().unwrap_or("");
            tracing::info!(
                file,
                content_hash,
                output,
                "already harvested: {file} ({output})"
            );
        }
        FileOutcome::HeldElsewhere {
            content_hash,
            host,
            pid,
        } => {
            tracing::info!(
                file,
                content_hash,
                host,
                pid,
                "being harvested elsewhere: {file} (by {host} pid {pid})"
            );
        }
        FileOutcome::FailedBefore {
            content_hash,
            last_error,
        } => tracing::error!(
            file,
            content_hash,
            "failed before (use --retry-failed to try again): {last_error}"
        ),
        FileOutcome::Failed {
            content_hash,
            error,
        } => {
            let retry = error.is_retryable();
            tracing::error!(
                file,
                content_hash = content_hash.as_deref().unwrap_or(""),
                retry,
                "{error}"
            );
        }
    }
}
