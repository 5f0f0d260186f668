//! `harvest`: harvest robot logs into analysis-ready datasets, exactly once per file.
//!
//! Exit codes: 0 success (harvested, or already harvested / being harvested
//! elsewhere), 64 usage error, 65 a bad file, 66 a file that does not exist, 70 an
//! internal error (a bug: report it), 73 an output directory that cannot be
//! written, 75 retry later, 78 catalog unusable. Over
//! several files the worst wins: 75 > 70 > 66 > 65 > 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode as ProcessExit;
use std::time::Duration;

use clap::Parser;
use harvester::catalog::ClaimPolicy;
use harvester::cli;
use harvester::jobs::record::JOB_RETENTION;
use harvester::jobs::{self, JobRequest};
use harvester::model::labels::Labels;
use harvester::model::options::{Alignment, Compression, Encoding, MaxGap};
use harvester::pipeline::align::AlignOptions;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

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

    /// Page encoding of the Parquet outputs' floats and instants: plain, or split
    /// (floats BYTE_STREAM_SPLIT, instants DELTA_BINARY_PACKED; the same values,
    /// fewer bytes with --compression lz4 or zstd:1).
    #[arg(long, value_enum, env = "HARVEST_ENCODING", default_value_t = Encoding::Plain)]
    encoding: Encoding,

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

    /// Serve Prometheus metrics (/metrics) and probes (/healthz, /readyz) on this
    /// address while the job runs, e.g. 127.0.0.1:9464 (0.0.0.0:9464 in a container;
    /// port 0: any free port, logged).
    #[arg(long, env = "HARVEST_METRICS", value_name = "ADDR")]
    metrics: Option<SocketAddr>,

    /// Write the metrics to this file when the job ends (atomically, in the format
    /// node_exporter's textfile collector reads: name it *.prom).
    #[arg(long, env = "HARVEST_METRICS_FILE", value_name = "PATH")]
    metrics_file: Option<PathBuf>,

    /// Days the catalog keeps the record of a job (`view --jobs`); older records are
    /// deleted when a job starts.
    #[arg(long, default_value_t = (JOB_RETENTION.as_secs() / DAY.as_secs()) as u16, value_parser = clap::value_parser!(u16).range(1..), value_name = "DAYS")]
    keep_jobs: u16,

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
    harvester::parallel::without_huge_pages();
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
    let request = args.into_request();
    runtime.block_on(jobs::run(request)).into()
}

impl Args {
    /// What the job is asked to do.
    fn into_request(self) -> JobRequest {
        let mut labels = Labels::new();
        for (key, value) in self.labels {
            labels.insert(key, value);
        }
        JobRequest {
            paths: self.paths,
            out: self.out,
            catalog_url: self.catalog,
            s3_endpoint: self.s3_endpoint,
            align: AlignOptions {
                alignment: self.align,
                max_gap: self.max_gap,
            },
            compression: self.compression,
            encoding: self.encoding,
            keep_spikes: self.keep_spikes,
            policy: ClaimPolicy {
                force: self.force,
                retry_failed: self.retry_failed,
                reharvest_outdated: self.reharvest_outdated,
            },
            lease: self.lease,
            settle: self.settle,
            verify: self.verify,
            labels,
            watch: self.watch,
            jobs: usize::from(self.jobs),
            max_depth: self.max_depth.map(usize::from),
            shard: self.shard,
            metrics: self.metrics,
            metrics_file: self.metrics_file,
            argv: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            job_retention: DAY * u32::from(self.keep_jobs),
        }
    }
}
