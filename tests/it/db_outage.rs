//! The catalog's database stops or restarts in the middle of a directory harvest:
//! the affected files get the retry exit code, nothing is marked harvested that was
//! not written, and a rerun after the restart finishes the job without losing or
//! doubling anything.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;
use harvester::catalog::{Catalog, FileRecord, FileStatus};

/// `count` logs of 20 s each, distinct by content.
fn write_logs(dir: &Path, count: u64) {
    for i in 0..count {
        let mut log = LogBuilder::default();
        let enc = clock(T0, 20.0, 12, 1);
        for field in ["x", "y", "z"] {
            log.channel(i, 1, field, &enc, |t| t * 3.0 + i as f64);
        }
        log.write_parquet(&dir.join(format!("log-{i:02}.parquet")));
    }
}

/// The catalog's files, or `None` while the database is down.
fn try_records(url: &str) -> Option<Vec<FileRecord>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Catalog::open(url).await.ok()?;
        let list = c.list(None, 1000).await.ok();
        c.close().await;
        list
    })
}

/// Starts a directory harvest and returns once `harvested` files are recorded.
fn harvest_until(work: &Workdir, url: &str, harvested: usize) -> Child {
    let child = one_thread_worker(work, &work.input(), url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = || {
        try_records(url)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.status == FileStatus::Harvested)
            .count()
    };
    while done() < harvested {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

/// A rerun harvests everything, each file once, each with one output.
fn rerun_completes(work: &Workdir, url: &str, files: usize) {
    let rerun = work.harvest(&[work.input().to_str().unwrap(), "--catalog", url]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    let records = try_records(url).unwrap();
    assert_eq!(records.len(), files, "no file lost");
    assert!(records.iter().all(|r| r.status == FileStatus::Harvested));
    let outputs = output_dirs_in(&work.out()).len();
    assert_eq!(outputs, files, "one output per file, none doubled");
}

#[test]
fn database_stopped_mid_directory_harvest() {
    let cluster = PgCluster::start();
    let url = cluster.url();
    let work = Workdir::new();
    write_logs(&work.input(), 30);

    let child = harvest_until(&work, &url, 3);
    cluster.down();
    let out = finish(child);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    cluster.up();
    let records = try_records(&url).unwrap();
    assert!(records.len() < 30, "the outage stopped the job early");
    for r in records.iter().filter(|r| r.status == FileStatus::Harvested) {
        let dir = r
            .output_dir
            .as_deref()
            .expect("harvested rows name their output");
        assert!(
            Path::new(dir).join("report.json").exists(),
            "marked harvested but not written: {dir}"
        );
    }
    rerun_completes(&work, &url, 30);
}

#[test]
fn database_restarted_mid_directory_harvest_loses_and_doubles_nothing() {
    let cluster = PgCluster::start();
    let url = cluster.url();
    let work = Workdir::new();
    write_logs(&work.input(), 20);

    let child = harvest_until(&work, &url, 2);
    cluster.down();
    cluster.up();
    let out = finish(child);
    assert!(
        matches!(out.status.code(), Some(0) | Some(75)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rerun_completes(&work, &url, 20);
}

/// A watch keeps going through an outage: files that arrive while the database is
/// down fail with a retryable error, and are tried again, with backoff, until they
/// are harvested, without restarting the watch.
#[test]
fn watch_retries_files_that_failed_while_the_database_was_down() {
    let cluster = PgCluster::start();
    let url = cluster.url();
    let work = Workdir::new();
    let child = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .args(["--watch", work.input().to_str().unwrap()])
        .args(["--out", work.out().to_str().unwrap(), "--catalog", &url])
        .args(["--settle", "1", "--threads", "1", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    cluster.down();
    write_logs(&work.input(), 2);
    // Settled after 1 s, then failed against the stopped database.
    std::thread::sleep(Duration::from_secs(6));
    cluster.up();

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let harvested = try_records(&url)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.status == FileStatus::Harvested)
            .count();
        if harvested == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not retried: {harvested} of 2");
        std::thread::sleep(Duration::from_millis(200));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = finish(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let retryable_failures = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fields"]["retry"] == true || e["retry"] == true)
        .count();
    assert!(retryable_failures >= 1, "the outage was met: {err}");
}
