//! One `harvest` invocation, from its arguments to its exit code: the checks a
//! command line needs before any work, the catalog opened and closed once, the job
//! recorded in it, the metrics served and written, then a batch over the inputs or
//! a watch of them. The binary only parses its flags into a [`JobRequest`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::{default_sqlite_url, Catalog, ClaimPolicy, JobCounts};
use crate::cli;
use crate::error::{ExitCode, HarvestError};
use crate::metrics::{textfile, CatalogGauges, FileCount, Telemetry};
use crate::model::labels::Labels;
use crate::model::options::{Compression, Encoding};
use crate::pipeline::align::AlignOptions;
use crate::pipeline::HarvestOptions;
use crate::storage::remote::{is_remote, ObjectStores, ObjectUrl, RemoteRoot, S3Settings};

use super::events::{log_summary, progress_bar, report_outcome};
use super::inputs::{gather_inputs, list_objects, InputSelection, Listing};
use super::record::JobRecorder;
use super::{watch, FileOutcome, JobOptions};

/// How often the gauges read from the catalog are refreshed (and after each watch
/// pass that harvested a file): never per scrape, so a scraper cannot load the
/// catalog.
const CATALOG_GAUGES_EVERY: Duration = Duration::from_secs(30);

/// Everything a `harvest` invocation asks for.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Files, folders or `s3://` locations; when watching, the folders and prefixes
    /// watched.
    pub paths: Vec<PathBuf>,
    /// Where outputs go: a folder or an `s3://` prefix.
    pub out: PathBuf,
    /// The catalog's URL [default: the SQLite file in `out`].
    pub catalog_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub align: AlignOptions,
    pub compression: Compression,
    pub encoding: Encoding,
    pub keep_spikes: bool,
    pub policy: ClaimPolicy,
    pub lease: Duration,
    pub settle: Duration,
    pub verify: bool,
    pub labels: Labels,
    pub watch: bool,
    /// Files harvested at the same time.
    pub jobs: usize,
    pub max_depth: Option<usize>,
    pub shard: Option<(u32, u32)>,
    /// Serve `/metrics`, `/healthz` and `/readyz` here while the job runs.
    pub metrics: Option<SocketAddr>,
    /// Write the metrics here when the job ends.
    pub metrics_file: Option<PathBuf>,
    /// The command line as given, recorded with the job (secrets removed).
    pub argv: Vec<String>,
    /// Job records older than this are deleted when a job starts.
    pub job_retention: Duration,
}

/// Runs the job a command line asks for and gives the process's exit code (see
/// [`ExitCode`]). Every error has been logged as one line by then.
pub async fn run(mut request: JobRequest) -> ExitCode {
    if let Err(line) = check_locations(&mut request) {
        return cli::fail(ExitCode::Usage, line);
    }
    let telemetry = Arc::new(Telemetry::new(
        watch::poll_interval(&request.paths),
        request.lease,
    ));
    // The file this job replaces: what it carries over (see textfile).
    let previous = request
        .metrics_file
        .as_deref()
        .map(textfile::previous)
        .unwrap_or_default();
    let mut exit = serve_and_run(&request, &telemetry, previous.catalog).await;
    if let Some(path) = &request.metrics_file {
        if let Some(at) = previous.last_success {
            telemetry.metrics.carry_last_success(at);
        }
        if let Err(e) = textfile::write(path, &telemetry.metrics) {
            exit = exit.worst(cli::fail(ExitCode::CantCreate, e));
        }
    }
    exit
}

/// The command line's locations, checked before anything is opened: `s3://` URLs
/// that name no secret, and outputs in an object store only with a catalog every
/// worker shares.
fn check_locations(request: &mut JobRequest) -> Result<(), String> {
    cli::check_remote(&mut request.paths, "an input")?;
    cli::check_remote(std::slice::from_mut(&mut request.out), "--out")?;
    let postgres = request
        .catalog_url
        .as_deref()
        .is_some_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"));
    if is_remote(&request.out) && !postgres {
        return Err(format!(
            "--out {}: outputs in an object store need a PostgreSQL catalog that every worker shares (--catalog postgres://… or DATABASE_URL)",
            request.out.display()
        ));
    }
    Ok(())
}

/// Starts the metrics server, opens the catalog, records the job and runs it; the
/// catalog is closed on every path. `written` are the catalog gauges of the metrics
/// file this job replaces, if any.
async fn serve_and_run(
    request: &JobRequest,
    telemetry: &Arc<Telemetry>,
    written: Option<CatalogGauges>,
) -> ExitCode {
    if let Some(addr) = request.metrics {
        match crate::metrics::server::serve(addr, Arc::clone(telemetry)).await {
            Ok(bound) => tracing::info!(addr = %bound, "serving metrics at http://{bound}/metrics"),
            Err(e) => return cli::fail(e.exit_code(), e),
        }
    }
    if !is_remote(&request.out) {
        if let Err(e) = cli::prepare_out_dir(&request.out) {
            return cli::fail(e.exit_code(), e);
        }
    }
    let url = request
        .catalog_url
        .clone()
        .unwrap_or_else(|| default_sqlite_url(&request.out));
    let catalog = match Catalog::open(&url).await {
        Ok(catalog) => catalog,
        Err(e) => {
            let e = HarvestError::from(e);
            telemetry.health.catalog(Err(e.to_string()));
            return cli::fail(e.exit_code(), e);
        }
    };
    telemetry.health.catalog(Ok(()));
    let recorder = match JobRecorder::start(
        &catalog,
        &request.argv,
        request.lease,
        request.watch,
        request.job_retention,
    )
    .await
    {
        Ok(recorder) => Some(recorder),
        Err(e) => {
            tracing::warn!(error = %e, "could not record the job in the catalog");
            None
        }
    };
    // Served metrics read the catalog's gauges all along; a metrics file, once at
    // the end. A job with neither reads nothing more.
    let gauges = request.metrics.map(|_| {
        tokio::spawn(refresh_catalog_gauges(
            catalog.clone(),
            Arc::clone(telemetry),
        ))
    });
    let exit = harvest(request, &catalog, telemetry, recorder.as_ref()).await;
    if let Some(gauges) = gauges {
        gauges.abort();
    }
    // A metrics file's gauges are read at most every CATALOG_GAUGES_EVERY, as a
    // server's are: a job per file reuses those of the file it replaces.
    if request.metrics_file.is_some() && request.metrics.is_none() {
        match written.filter(|gauges| gauges.younger_than(CATALOG_GAUGES_EVERY)) {
            Some(gauges) => telemetry.metrics.set_catalog_gauges(&gauges),
            None => read_catalog_gauges(&catalog, telemetry).await,
        }
    }
    if let Some(recorder) = recorder {
        recorder.finish(job_counts(telemetry), exit).await;
    }
    catalog.close().await;
    exit
}

/// The job proper, once its catalog is open.
async fn harvest(
    request: &JobRequest,
    catalog: &Catalog,
    telemetry: &Arc<Telemetry>,
    recorder: Option<&JobRecorder>,
) -> ExitCode {
    let stores = Arc::new(ObjectStores::new(S3Settings {
        endpoint: request.s3_endpoint.clone(),
    }));
    let remote_out = if is_remote(&request.out) {
        let url = ObjectUrl::parse(&request.out.to_string_lossy()).expect("checked as a location");
        let root = match RemoteRoot::new(url, &stores) {
            Ok(root) => root,
            Err(e) => return cli::fail(e.exit_code(), e),
        };
        if let Err(e) = root.check().await {
            return cli::fail(e.exit_code(), e);
        }
        Some(root)
    } else {
        None
    };
    let options = JobOptions {
        harvest: HarvestOptions {
            out_root: request.out.clone(),
            align: request.align,
            compression: request.compression,
            encoding: request.encoding,
            keep_spikes: request.keep_spikes,
        },
        policy: request.policy,
        lease: request.lease,
        settle: request.settle,
        verify: request.verify,
        labels: request.labels.clone(),
        stores: Arc::clone(&stores),
        remote_out,
        telemetry: Arc::clone(telemetry),
    };
    let selection = InputSelection {
        paths: request.paths.clone(),
        outdated: request.policy.reharvest_outdated,
        shard: request.shard,
        listing: Listing {
            max_depth: request.max_depth,
            skip: vec![request.out.clone()],
        },
    };
    let on_done = |path: &Path, outcome: &FileOutcome| {
        count(telemetry, outcome);
        if let Some(recorder) = recorder {
            recorder.set_counts(job_counts(telemetry));
        }
        report_outcome(path, outcome);
    };
    let clock = Instant::now();
    // A watch publishes at every poll, and says on stop what is left.
    let published = super::publish_pending(catalog, &options).await;
    if request.watch {
        return watch_inputs(catalog, &selection, &options, request.jobs, &on_done, clock).await;
    }
    let exit = published.map_or_else(|e| e.exit_code(), |()| ExitCode::Success);
    let exit =
        exit.worst(batch(catalog, &selection, &options, request.jobs, &on_done, clock).await);
    if exit == ExitCode::Success {
        telemetry.metrics.succeeded_now();
    }
    exit
}

/// A watch, until SIGINT or SIGTERM.
async fn watch_inputs(
    catalog: &Catalog,
    selection: &InputSelection,
    options: &JobOptions,
    jobs: usize,
    on_done: &dyn Fn(&Path, &FileOutcome),
    clock: Instant,
) -> ExitCode {
    // A watched prefix that cannot be listed now (credentials, bucket) stops the
    // watch at once instead of warning at every poll.
    for prefix in selection.paths.iter().filter(|p| is_remote(p)) {
        if let Err(e) = list_objects(prefix, selection, &options.stores).await {
            return cli::fail(e.exit_code(), e);
        }
    }
    match watch::watch(catalog, selection, options, jobs, on_done).await {
        Ok(summary) => {
            log_summary(&summary, clock.elapsed().as_secs_f64());
            summary.exit
        }
        Err(e) => cli::fail(e.exit_code(), e),
    }
}

/// Every input listed now, harvested `jobs` at a time; then the outputs of what
/// was harvested before checked and rebuilt.
async fn batch(
    catalog: &Catalog,
    selection: &InputSelection,
    options: &JobOptions,
    jobs: usize,
    on_done: &dyn Fn(&Path, &FileOutcome),
    clock: Instant,
) -> ExitCode {
    let health = &options.telemetry.health;
    let mut inputs = gather_inputs(selection, catalog, &options.stores).await;
    let mut exit = ExitCode::Success;
    for error in &inputs.unlisted {
        tracing::error!("{error}");
        exit = exit.worst(error.exit_code());
    }
    health.listing(match inputs.unlisted.first() {
        Some(error) => Err(error.to_string()),
        None => Ok(()),
    });
    if let Some(e) = inputs.catalog_error.take() {
        tracing::error!("{e}");
        health.catalog(Err(e.to_string()));
        exit = exit.worst(HarvestError::from(e).exit_code());
    }
    let named: BTreeSet<PathBuf> = std::mem::take(&mut inputs.named);
    let files = inputs.into_list();
    options.telemetry.metrics.set_queued(files.len());
    let known = super::known_paths(catalog, &selection.paths, options).await;
    super::forget_vanished(catalog, known.keys().cloned().collect()).await;

    let progress = progress_bar(files.len());
    let summary = super::harvest_files(
        catalog,
        files,
        options,
        &known,
        &named,
        jobs,
        |path, outcome| {
            progress.suspend(|| on_done(path, outcome));
            progress.inc(1);
        },
    )
    .await;
    progress.finish_and_clear();
    // Outputs deleted since their harvest are rebuilt, or recorded as missing.
    let repair = super::repair_outputs(catalog, selection, options, on_done).await;
    log_summary(&summary, clock.elapsed().as_secs_f64());
    exit.worst(summary.exit).worst(repair.exit)
}

/// Counts one file in the metrics; a file's end is progress.
fn count(telemetry: &Telemetry, outcome: &FileOutcome) {
    let metrics = &telemetry.metrics;
    metrics.dequeued();
    telemetry.health.progressed();
    let counted = match outcome {
        FileOutcome::Harvested {
            rows,
            input_bytes,
            stages,
            ..
        } => {
            let seconds = stages.iter().map(|s| s.seconds).sum();
            metrics.harvest(rows, *input_bytes, seconds);
            FileCount::Harvested
        }
        FileOutcome::AlreadyHarvested { .. } | FileOutcome::Unchanged { .. } => FileCount::Skipped,
        FileOutcome::HeldElsewhere { .. } => FileCount::HeldElsewhere,
        FileOutcome::FailedBefore { .. } => FileCount::FailedBefore,
        FileOutcome::Failed { .. } => FileCount::Failed,
    };
    metrics.file(counted);
}

/// The job's counts so far, as its catalog row keeps them.
fn job_counts(telemetry: &Telemetry) -> JobCounts {
    let files = |outcome| i64::try_from(telemetry.metrics.files(outcome)).unwrap_or(i64::MAX);
    JobCounts {
        harvested: files(FileCount::Harvested),
        skipped: files(FileCount::Skipped),
        failed: files(FileCount::Failed),
        failed_before: files(FileCount::FailedBefore),
        held_elsewhere: files(FileCount::HeldElsewhere),
    }
}

/// Reads each cell's newest run and failed sources from the catalog into the
/// metrics: at once, then every [`CATALOG_GAUGES_EVERY`] or when a watch pass
/// harvested files.
async fn refresh_catalog_gauges(catalog: Catalog, telemetry: Arc<Telemetry>) {
    loop {
        read_catalog_gauges(&catalog, &telemetry).await;
        tokio::select! {
            _ = tokio::time::sleep(CATALOG_GAUGES_EVERY) => {}
            _ = telemetry.catalog_changed.notified() => {}
        }
    }
}

/// Reads the gauges of the catalog once. A query that fails leaves the last
/// values, and says the catalog is not answering.
async fn read_catalog_gauges(catalog: &Catalog, telemetry: &Telemetry) {
    let read = async {
        let last_runs = catalog.cell_last_runs().await?;
        let failed = catalog.failed_sources_by_cell().await?;
        Ok::<_, crate::error::CatalogError>((last_runs, failed))
    };
    match read.await {
        Ok((last_runs, failed)) => {
            let gauges = CatalogGauges::read_now(last_runs, failed);
            telemetry.metrics.set_catalog_gauges(&gauges);
            telemetry.health.catalog(Ok(()));
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the fleet's gauges from the catalog");
            telemetry.health.catalog(Err(e.to_string()));
        }
    }
}
