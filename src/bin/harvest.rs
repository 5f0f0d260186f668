//! `harvest`: harvest robot logs into analysis-ready datasets, exactly once per file.
//!
//! Exit codes: 0 success (harvested, or already harvested / being harvested
//! elsewhere), 64 usage error, 65 a bad file, 66 a file that does not exist, 70 an
//! internal error (a bug: report it), 73 an output directory that cannot be
//! written, 75 retry later, 78 catalog unusable. Over
//! several files the worst wins: 75 > 70 > 66 > 65 > 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode as ProcessExit;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use harvester::catalog::{default_sqlite_url, Catalog, ClaimPolicy};
use harvester::cli;
use harvester::error::{ExitCode, FailureKind, HarvestError};
use harvester::jobs::inputs::{gather_inputs, list_objects, InputSelection, Listing};
use harvester::jobs::{self, watch, FileOutcome, JobOptions, JobSummary};
use harvester::model::labels::Labels;
use harvester::model::options::{Alignment, Compression, MaxGap};
use harvester::model::report::Stage;
use harvester::pipeline::align::AlignOptions;
use harvester::pipeline::HarvestOptions;
use harvester::storage::remote::{is_remote, ObjectStores, ObjectUrl, RemoteRoot, S3Settings};
use harvester::text::printable_path;

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
    /// Log files, or directories whose .parquet/.csv files to harvest; in an object
    /// store, s3://bucket/key.parquet or s3://bucket/prefix/ (listed like a directory).
    #[arg(required_unless_present = "reharvest_outdated")]
    paths: Vec<PathBuf>,

    /// Directory that receives one output directory per harvested file, or an
    /// s3://bucket/prefix/ (which needs a PostgreSQL --catalog).
    #[arg(long, short, env = "HARVEST_OUT", default_value = "harvested", value_parser = cli::parse_out_dir)]
    out: PathBuf,

    /// Endpoint of an S3-compatible server (MinIO, Ceph, a GCS S3 API), e.g.
    /// http://minio:9000 [default: AWS_ENDPOINT_URL, else AWS]. Credentials and region
    /// come from the standard AWS_* variables.
    #[arg(long, env = "HARVEST_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,

    /// Catalog URL: postgres://user@host/db or sqlite://path [default: sqlite://OUT/catalog.db].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    catalog: Option<String>,

    /// How channels are put on a run's common timeline.
    #[arg(long, value_enum, default_value_t = Alignment::Interpolate)]
    align: Alignment,

    /// Longest gap between a channel's readings that interpolation, hold, a derivative or a
    /// distance may bridge: `auto` (per channel, max(1 s, 5 × its median interval)) or seconds (at least 0.001).
    #[arg(long, default_value = "auto", allow_hyphen_values = true, value_parser = parse_max_gap)]
    max_gap: MaxGap,

    /// Label every file with KEY=VALUE (repeatable; over the `key=value` folders
    /// of the file's path). Without it, each file keeps the labels given for it
    /// before. A `cell` label files runs whose log has no cell_id column under that
    /// cell.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = Labels::parse_pair)]
    labels: Vec<(String, String)>,

    /// Keep isolated spikes in the outputs instead of dropping them (they are listed in the report either way).
    #[arg(long)]
    keep_spikes: bool,

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

    /// Read and hash every file, even one whose size, times and inode are unchanged
    /// since it was harvested (such files are otherwise skipped without being read).
    #[arg(long)]
    verify: bool,

    /// Watch the given directories and harvest every file that appears, once complete.
    #[arg(long, requires = "paths")]
    watch: bool,

    /// How long a file's size and mtime must stay unchanged before it is taken, and
    /// how recent a Parquet file without its footer counts as still being written
    /// (seconds, at least 0.001).
    #[arg(long, default_value = "2", allow_hyphen_values = true, value_parser = parse_settle)]
    settle: Duration,

    /// Files harvested at the same time.
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,

    /// Threads for the data work of this process, at most 4 per processor available
    /// (more are cut, with a warning) [default: one per processor, or POLARS_MAX_THREADS].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// How many levels of folders a directory is listed to (1: its own files only)
    /// [default: all; hidden folders and the --out directory are never entered].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    max_depth: Option<u16>,

    /// Take only the files whose path hashes to shard I of N (as I/N, 0-based).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u32, u32)>,

    /// Seconds (at least 1) a claim stays valid if its worker stops renewing it (a killed worker).
    #[arg(long, default_value = "600", allow_hyphen_values = true, value_parser = parse_lease)]
    lease: Duration,

    #[command(flatten)]
    logging: cli::LogArgs,
}

/// `--max-gap`: `auto`, or at least 1 ms, so no gap rounds down to nothing.
fn parse_max_gap(s: &str) -> Result<MaxGap, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(MaxGap::Auto);
    }
    let gap =
        cli::parse_seconds(s, Duration::from_millis(1)).map_err(|e| format!("{e} (or `auto`)"))?;
    Ok(MaxGap::Fixed(gap.as_nanos() as i64))
}

/// `--settle`: at least 1 ms.
fn parse_settle(s: &str) -> Result<Duration, String> {
    cli::parse_seconds(s, Duration::from_millis(1))
}

/// `--lease`: at least 1 s, so a claim can be renewed (every third of it) in time.
fn parse_lease(s: &str) -> Result<Duration, String> {
    cli::parse_seconds(s, Duration::from_secs(1))
}

/// Whether a catalog URL names PostgreSQL, the catalog workers on several hosts share.
fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The `--out` of an object store (already checked to parse).
fn remote_root(out: &Path, stores: &ObjectStores) -> Result<RemoteRoot, HarvestError> {
    let url = ObjectUrl::parse(&out.to_string_lossy()).expect("checked by the parser");
    RemoteRoot::new(url, stores)
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
    let args: Args = match cli::parse() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    args.logging.init();
    if let Err(code) = cli::size_data_pool(args.threads) {
        return code.into();
    }
    let runtime = match cli::runtime(Some(2)) {
        Ok(runtime) => runtime,
        Err(code) => return code.into(),
    };
    runtime.block_on(run(args)).into()
}

async fn run(mut args: Args) -> ExitCode {
    let checked = cli::check_remote(&mut args.paths, "an input")
        .and_then(|()| cli::check_remote(std::slice::from_mut(&mut args.out), "--out"));
    if let Err(line) = checked {
        return cli::fail(ExitCode::Usage, line);
    }
    let remote_out = is_remote(&args.out);
    if remote_out && !args.catalog.as_deref().is_some_and(is_postgres_url) {
        return cli::fail(
            ExitCode::Usage,
            format_args!(
                "--out {}: outputs in an object store need a PostgreSQL catalog that every worker shares (--catalog postgres://… or DATABASE_URL)",
                args.out.display()
            ),
        );
    }
    if !remote_out {
        if let Err(e) = cli::prepare_out_dir(&args.out) {
            return cli::fail(e.exit_code(), e);
        }
    }
    let stores = Arc::new(ObjectStores::new(S3Settings {
        endpoint: args.s3_endpoint.clone(),
    }));
    let url = args
        .catalog
        .clone()
        .unwrap_or_else(|| default_sqlite_url(&args.out));
    let catalog = match Catalog::open(&url).await {
        Ok(c) => c,
        Err(e) => {
            let e = HarvestError::from(e);
            return cli::fail(e.exit_code(), e);
        }
    };
    let remote_out = match remote_out.then(|| remote_root(&args.out, &stores)) {
        None => None,
        Some(Ok(root)) => Some(root),
        Some(Err(e)) => {
            catalog.close().await;
            return cli::fail(e.exit_code(), e);
        }
    };
    if let Some(root) = &remote_out {
        if let Err(e) = root.check().await {
            catalog.close().await;
            return cli::fail(e.exit_code(), e);
        }
    }
    let options = JobOptions {
        harvest: HarvestOptions {
            out_root: args.out.clone(),
            align: AlignOptions {
                alignment: args.align,
                max_gap: args.max_gap,
            },
            compression: args.compression,
            keep_spikes: args.keep_spikes,
        },
        policy: ClaimPolicy {
            force: args.force,
            retry_failed: args.retry_failed,
            reharvest_outdated: args.reharvest_outdated,
        },
        lease: args.lease,
        settle: args.settle,
        verify: args.verify,
        labels: {
            let mut labels = Labels::new();
            for (key, value) in args.labels.clone() {
                labels.insert(key, value);
            }
            labels
        },
        stores: Arc::clone(&stores),
        remote_out,
    };
    let selection = InputSelection {
        paths: args.paths.clone(),
        outdated: args.reharvest_outdated,
        shard: args.shard,
        listing: Listing {
            max_depth: args.max_depth.map(usize::from),
            skip: vec![args.out.clone()],
        },
    };

    let clock = std::time::Instant::now();
    // A watch publishes at every poll, and says on stop what is left.
    let published = jobs::publish_pending(&catalog, &options).await;
    if args.watch {
        // A watched prefix that cannot be listed now (credentials, bucket) stops the
        // watch at once instead of warning at every poll.
        for prefix in selection.paths.iter().filter(|p| is_remote(p)) {
            if let Err(e) = list_objects(prefix, &selection, &stores).await {
                catalog.close().await;
                return cli::fail(e.exit_code(), e);
            }
        }
        let summary = watch::watch(
            &catalog,
            &selection,
            &options,
            args.jobs as usize,
            report_outcome,
        )
        .await;
        catalog.close().await;
        return match summary {
            Ok(summary) => {
                log_summary(&summary, clock.elapsed().as_secs_f64());
                summary.exit
            }
            Err(e) => cli::fail(e.exit_code(), e),
        };
    }

    let mut inputs = gather_inputs(&selection, &catalog, &stores).await;
    let mut exit = published.map_or_else(|e| e.exit_code(), |()| ExitCode::Success);
    for error in &inputs.unlisted {
        tracing::error!("{error}");
        exit = exit.worst(error.exit_code());
    }
    if let Some(e) = inputs.catalog_error.take() {
        tracing::error!("{e}");
        exit = exit.worst(HarvestError::from(e).exit_code());
    }
    let named = std::mem::take(&mut inputs.named);
    let files = inputs.into_list();
    let known = jobs::known_paths(&catalog, &selection.paths, &options).await;
    jobs::forget_vanished(&catalog, known.keys().cloned().collect()).await;

    let progress = progress_bar(files.len());
    let summary = jobs::harvest_files(
        &catalog,
        files,
        &options,
        &known,
        &named,
        args.jobs as usize,
        |path, outcome| {
            progress.suspend(|| report_outcome(path, outcome));
            progress.inc(1);
        },
    )
    .await;
    progress.finish_and_clear();
    // Outputs deleted since their harvest are rebuilt, or recorded as missing.
    let repair = jobs::repair_outputs(&catalog, &selection, &options, report_outcome).await;
    log_summary(&summary, clock.elapsed().as_secs_f64());
    catalog.close().await;
    exit.worst(summary.exit).worst(repair.exit)
}

/// The job's last line: counts, and how long it took. `failed` counts the files
/// that failed in this run; `failed_before` those recorded as failed by an earlier
/// one and not tried again.
fn log_summary(summary: &JobSummary, seconds: f64) {
    tracing::info!(
        harvested = summary.harvested,
        skipped = summary.skipped,
        failed = summary.failed,
        failed_before = summary.failed_before,
        seconds = format!("{seconds:.2}"),
        "summary: {} harvested, {} skipped, {} failed, {} failed before in {seconds:.2} s",
        summary.harvested,
        summary.skipped,
        summary.failed,
        summary.failed_before,
    );
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
    let file = printable_path(path);
    match outcome {
        FileOutcome::Harvested {
            output_dir,
            content_hash,
            rows_read,
            rows_kept,
            runs,
            stages,
        } => {
            let stage = |stage: Stage| {
                stages
                    .iter()
                    .find(|s| s.stage == stage)
                    .map_or(0.0, |s| s.seconds)
            };
            let seconds: f64 = stages.iter().map(|s| s.seconds).sum();
            tracing::info!(
                file,
                content_hash,
                rows_read,
                rows_kept,
                runs,
                output = %output_dir.display(),
                read_s = stage(Stage::Read),
                fetch_s = stage(Stage::Fetch),
                load_s = stage(Stage::Load),
                validate_s = stage(Stage::Validate),
                runs_s = stage(Stage::Runs),
                statistics_s = stage(Stage::Statistics),
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
        FileOutcome::Unchanged { content_hash } => {
            tracing::debug!(
                file,
                content_hash,
                "unchanged since harvested, not read: {file}"
            );
        }
        FileOutcome::HeldElsewhere {
            content_hash,
            holder,
        } => {
            let content_hash = content_hash.as_deref();
            match holder {
                Some(holder) => tracing::info!(
                    file,
                    content_hash,
                    host = holder.host.as_str(),
                    pid = holder.pid,
                    "held by another worker: {file} ({holder})"
                ),
                None => tracing::info!(file, content_hash, "held by another worker: {file}"),
            }
        }
        FileOutcome::FailedBefore {
            content_hash,
            last_error,
            kind,
        } => {
            let again = match kind {
                FailureKind::Internal => {
                    "a harvester bug; a new version or --retry-failed tries again"
                }
                _ => "--retry-failed tries again",
            };
            let name = kind.name();
            // A bad file was reported as an error when it failed; finding it again is
            // a warning. A harvester bug stays an error until it is fixed.
            if *kind == FailureKind::BadFile {
                tracing::warn!(
                    file,
                    content_hash,
                    kind = name,
                    "{file}: failed before ({again}): {last_error}"
                )
            } else {
                tracing::error!(
                    file,
                    content_hash,
                    kind = name,
                    "{file}: failed before ({again}): {last_error}"
                )
            }
        }
        FileOutcome::Failed {
            content_hash,
            error,
        } => {
            let retry = error.is_retryable();
            tracing::error!(
                file,
                content_hash = content_hash.as_deref(),
                retry,
                "{error}"
            );
        }
    }
}
