//! What a running harvest tells an operator: counters and gauges in Prometheus'
//! text format, and whether the process is alive and ready.
//!
//! Metrics are kept in memory by the `prometheus` crate and served over HTTP
//! ([`server`]: `/metrics`, `/healthz`, `/readyz`) while a job runs, or written once
//! when it ends ([`textfile`], for node_exporter's textfile collector). Label values
//! are bounded: outcomes, row kinds, drop reasons and cells, never paths.

use std::time::{Duration, SystemTime};

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

use crate::model::readings::{DropReason, RowAccount};

mod health;
pub mod server;
pub mod textfile;

pub use health::Health;

/// What became of one file, as `harvester_files_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCount {
    Harvested,
    /// Harvested before (at this source or another), or unchanged since.
    Skipped,
    /// Failed in this process.
    Failed,
    /// Recorded as failed by an earlier job, and not tried again.
    FailedBefore,
    /// Another worker holds its claim, or harvested it meanwhile.
    HeldElsewhere,
}

impl FileCount {
    pub const ALL: [FileCount; 5] = [
        FileCount::Harvested,
        FileCount::Skipped,
        FileCount::Failed,
        FileCount::FailedBefore,
        FileCount::HeldElsewhere,
    ];

    /// The value of the `outcome` label.
    pub fn name(self) -> &'static str {
        match self {
            FileCount::Harvested => "harvested",
            FileCount::Skipped => "skipped",
            FileCount::Failed => "failed",
            FileCount::FailedBefore => "failed_before",
            FileCount::HeldElsewhere => "held_elsewhere",
        }
    }
}

/// Bounds of the harvest-duration histogram, in seconds: a small log takes a
/// fraction of a second, a shift's log of millions of rows a few seconds, and a
/// harvest stuck on a slow store minutes.
const DURATION_BUCKETS: [f64; 13] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Every metric of a harvest process, registered in one registry.
pub struct Metrics {
    registry: Registry,
    files: IntCounterVec,
    rows: IntCounterVec,
    rows_dropped: IntCounterVec,
    duration: Histogram,
    input_bytes: IntCounter,
    queued: IntGauge,
    last_success: Gauge,
    cell_last_run: GaugeVec,
    failed_sources: IntGaugeVec,
    catalog_read: Gauge,
}

/// What the catalog says of the fleet, as of `read_at` (Unix seconds): each cell's
/// newest current run (Unix seconds of its start) and its failed sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogGauges {
    pub read_at: f64,
    pub last_runs: Vec<(String, f64)>,
    pub failed_sources: Vec<(String, i64)>,
}

impl CatalogGauges {
    /// The gauges read now.
    pub fn read_now(last_runs: Vec<(String, f64)>, failed_sources: Vec<(String, i64)>) -> Self {
        CatalogGauges {
            read_at: unix_seconds(SystemTime::now()),
            last_runs,
            failed_sources,
        }
    }

    /// Whether they were read less than `age` ago.
    pub fn younger_than(&self, age: Duration) -> bool {
        let now = unix_seconds(SystemTime::now());
        self.read_at > 0.0 && now - self.read_at < age.as_secs_f64()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric, with each outcome, row kind and drop reason at 0 so
    /// that a rate over them exists from the first scrape.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let files = IntCounterVec::new(
            Opts::new(
                "harvester_files_total",
                "Files (log files or objects) by what became of them.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let rows = IntCounterVec::new(
            Opts::new(
                "harvester_rows_total",
                "Rows of harvested files: read, kept, dropped (read = kept + dropped).",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let rows_dropped = IntCounterVec::new(
            Opts::new(
                "harvester_rows_dropped_total",
                "Rows dropped from harvested files, by reason (report.json's rows.dropped).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "harvester_harvest_duration_seconds",
                "Wall-clock seconds of each harvest, from reading or fetching to the end of its statistics.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let input_bytes = IntCounter::new(
            "harvester_input_bytes_total",
            "Bytes of the harvested files.",
        )
        .expect("valid metric");
        let queued = IntGauge::new(
            "harvester_queued_files",
            "Files seen and not yet taken: settling, or waiting for a free job slot.",
        )
        .expect("valid metric");
        let last_success = Gauge::new(
            "harvester_last_success_timestamp_seconds",
            "Unix time of the last job, or watch pass, that ended with nothing left to retry.",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "harvester_build_info",
                "The harvester's version and the git commit it was built from (always 1).",
            ),
            &["version", "commit"],
        )
        .expect("valid metric");
        let cell_last_run = GaugeVec::new(
            Opts::new(
                "harvester_cell_last_run_timestamp_seconds",
                "Unix time of the start of each cell's newest current run, from the catalog (cell=\"none\": runs without a cell).",
            ),
            &["cell"],
        )
        .expect("valid metric");
        let catalog_read = Gauge::new(
            "harvester_catalog_read_timestamp_seconds",
            "Unix time the gauges from the catalog (cell last run, failed sources) were read.",
        )
        .expect("valid metric");
        let failed_sources = IntGaugeVec::new(
            Opts::new(
                "harvester_failed_sources",
                "Sources recorded as failed, by the cell label of their path (else \"none\"), from the catalog.",
            ),
            &["cell"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[crate::build::VERSION, crate::build::COMMIT])
            .set(1);
        for outcome in FileCount::ALL {
            files.with_label_values(&[outcome.name()]);
        }
        for kind in ["read", "kept", "dropped"] {
            rows.with_label_values(&[kind]);
        }
        for reason in DropReason::ALL {
            rows_dropped.with_label_values(&[reason.name()]);
        }
        let metrics = Metrics {
            registry,
            files,
            rows,
            rows_dropped,
            duration,
            input_bytes,
            queued,
            last_success,
            cell_last_run,
            failed_sources,
            catalog_read,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 11] = [
            Box::new(metrics.files.clone()),
            Box::new(metrics.rows.clone()),
            Box::new(metrics.rows_dropped.clone()),
            Box::new(metrics.duration.clone()),
            Box::new(metrics.input_bytes.clone()),
            Box::new(metrics.queued.clone()),
            Box::new(metrics.last_success.clone()),
            Box::new(build_info),
            Box::new(metrics.cell_last_run.clone()),
            Box::new(metrics.failed_sources.clone()),
            Box::new(metrics.catalog_read.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("each metric registered once");
        }
        metrics
    }

    /// Counts one file's outcome.
    pub fn file(&self, outcome: FileCount) {
        self.files.with_label_values(&[outcome.name()]).inc();
    }

    /// How many files had `outcome` so far.
    pub fn files(&self, outcome: FileCount) -> u64 {
        self.files.with_label_values(&[outcome.name()]).get()
    }

    /// Counts a harvest's rows, bytes and duration.
    pub fn harvest(&self, rows: &RowAccount, input_bytes: u64, seconds: f64) {
        let dropped = rows.dropped_total();
        self.rows.with_label_values(&["read"]).inc_by(rows.read);
        self.rows.with_label_values(&["kept"]).inc_by(rows.kept);
        self.rows.with_label_values(&["dropped"]).inc_by(dropped);
        for (reason, &count) in &rows.dropped {
            self.rows_dropped
                .with_label_values(&[reason.name()])
                .inc_by(count);
        }
        self.input_bytes.inc_by(input_bytes);
        self.duration.observe(seconds);
    }

    /// Sets how many files wait to be taken.
    pub fn set_queued(&self, files: usize) {
        self.queued.set(i64::try_from(files).unwrap_or(i64::MAX));
    }

    /// One file fewer waits.
    pub fn dequeued(&self) {
        if self.queued.get() > 0 {
            self.queued.dec();
        }
    }

    /// Records that a job or a watch pass ended with nothing left to retry.
    pub fn succeeded_now(&self) {
        self.last_success.set(unix_seconds(SystemTime::now()));
    }

    /// Keeps `previous` (the last success an earlier process recorded) as the last
    /// success, when this process has none of its own.
    pub fn carry_last_success(&self, previous: f64) {
        if self.last_success.get() == 0.0 && previous.is_finite() && previous > 0.0 {
            self.last_success.set(previous);
        }
    }

    /// Replaces the gauges read from the catalog; cells no longer listed are
    /// removed.
    pub fn set_catalog_gauges(&self, gauges: &CatalogGauges) {
        self.cell_last_run.reset();
        for (cell, at) in &gauges.last_runs {
            self.cell_last_run.with_label_values(&[cell]).set(*at);
        }
        self.failed_sources.reset();
        for (cell, count) in &gauges.failed_sources {
            self.failed_sources.with_label_values(&[cell]).set(*count);
        }
        self.catalog_read.set(gauges.read_at);
    }

    /// Every metric in Prometheus' text exposition format (version 0.0.4), which
    /// scrapers, `promtool check metrics` and node_exporter's textfile collector read.
    pub fn encode(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .expect("metric families encode as text")
    }
}

/// Seconds since the Unix epoch.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// The metrics and health of one harvest process, shared by its job, its watch
/// loop, its claims and its HTTP server.
#[derive(Debug)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub health: Health,
    /// Told when the catalog's runs or failures changed (a pass harvested files),
    /// so the gauges read from it are refreshed before their next turn.
    pub catalog_changed: tokio::sync::Notify,
}

impl Default for Telemetry {
    /// The telemetry of a job that lists local folders and keeps the default lease.
    fn default() -> Self {
        Telemetry::new(Duration::from_millis(500), Duration::from_secs(600))
    }
}

impl Telemetry {
    /// `poll` is how often the job lists its inputs (a batch job: once), and
    /// `lease` its claims' lease: they decide when a silent process counts as stalled
    /// (see [`Health`]).
    pub fn new(poll: Duration, lease: Duration) -> Telemetry {
        Telemetry {
            metrics: Metrics::new(),
            health: Health::new(poll, lease),
            catalog_changed: tokio::sync::Notify::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reason_and_build_are_exposed_from_the_start() {
        let text = Metrics::new().encode();
        for outcome in FileCount::ALL {
            let line = format!("harvester_files_total{{outcome=\"{}\"}} 0", outcome.name());
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        for reason in DropReason::ALL {
            let line = format!(
                "harvester_rows_dropped_total{{reason=\"{}\"}} 0",
                reason.name()
            );
            assert!(text.contains(&line), "{line}");
        }
        let build = format!(
            "harvester_build_info{{commit=\"{}\",version=\"{}\"}} 1",
            crate::build::COMMIT,
            crate::build::VERSION
        );
        assert!(text.contains(&build), "{build} in\n{text}");
        assert!(text.contains("# TYPE harvester_harvest_duration_seconds histogram"));
    }

    #[test]
    fn a_harvest_adds_its_rows_bytes_and_duration() {
        let metrics = Metrics::new();
        let mut rows = RowAccount::of_every_reason(10);
        rows.kept = 7;
        rows.drop(DropReason::Spike, 2);
        rows.drop(DropReason::TimeNull, 1);
        metrics.harvest(&rows, 1234, 0.3);
        metrics.file(FileCount::Harvested);
        let text = metrics.encode();
        for line in [
            "harvester_rows_total{kind=\"read\"} 10",
            "harvester_rows_total{kind=\"kept\"} 7",
            "harvester_rows_total{kind=\"dropped\"} 3",
            "harvester_rows_dropped_total{reason=\"spike\"} 2",
            "harvester_rows_dropped_total{reason=\"time_null\"} 1",
            "harvester_input_bytes_total 1234",
            "harvester_harvest_duration_seconds_bucket{le=\"0.25\"} 0",
            "harvester_harvest_duration_seconds_bucket{le=\"0.5\"} 1",
            "harvester_harvest_duration_seconds_count 1",
            "harvester_files_total{outcome=\"harvested\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn catalog_gauges_are_replaced_whole() {
        let metrics = Metrics::new();
        metrics.set_catalog_gauges(&CatalogGauges::read_now(
            vec![("7".into(), 1.7e9), ("none".into(), 1.6e9)],
            vec![("7".into(), 2)],
        ));
        metrics.set_catalog_gauges(&CatalogGauges::read_now(vec![("8".into(), 1.8e9)], vec![]));
        let text = metrics.encode();
        assert!(text.contains("harvester_cell_last_run_timestamp_seconds{cell=\"8\"} 1800000000"));
        assert!(!text.contains("cell=\"7\""), "{text}");
    }
}
