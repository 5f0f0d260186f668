//! Watch mode: files copied in slowly are taken once complete, and several watchers
//! share a directory without harvesting anything twice.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;
use harvester::catalog::FileStatus;

fn watcher(dir: &Path, out: &Path, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_harvest"))
        .args([
            "--watch",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--catalog",
            url,
        ])
        .args(["--settle", "1", "--log-format", "json", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, then the exit status and the harvested-event count from its JSON logs.
fn stop(child: Child) -> (i32, usize) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    (code(&out), harvested_events(&err))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_file_copied_slowly_is_harvested_once_complete() {
    let work = Workdir::new();
    let staging = work.path("staging.parquet");
    let mut log = harvester_generator::generate(&harvester_generator::GeneratorConfig {
        seed: 4,
        rows: 400_000,
        run_uuid_type: harvester_generator::RunUuidType::UInt64,
        quirks: false,
        ..Default::default()
    });
    harvester_generator::write_parquet(&mut log.frame, &staging).unwrap();
    let bytes = std::fs::read(&staging).unwrap();

    let dir = work.input();
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    let child = watcher(&dir, &work.out(), &url);
    std::thread::sleep(Duration::from_millis(500));

    // Copy in 12 pieces over about 3 s, straight under the final name.
    let mut file = std::fs::File::create(dir.join("big.parquet")).unwrap();
    for piece in bytes.chunks(bytes.len().div_ceil(12)) {
        file.write_all(piece).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(file);

    wait_until("the harvest", Duration::from_secs(120), || {
        catalog_records(&url)
            .iter()
            .any(|r| r.status == FileStatus::Harvested)
    });
    let (code, harvested) = stop(child);
    assert_eq!(code, 0);
    assert_eq!(harvested, 1);
    let files = catalog_records(&url);
    assert_eq!(files.len(), 1, "never read half-written: {files:#?}");
    assert_eq!(files[0].rows_read, Some(log.frame.height() as i64));
}

#[test]
fn three_watchers_share_a_directory_on_postgres() {
    let work = Workdir::new();
    let dir = work.input();
    let url = fresh_pg_database("watch");
    let write_log = |i: u64| {
        let mut log = LogBuilder::default();
        let enc = clock(T0, 1.0, 12, 0);
        for field in ["x", "y", "z"] {
            log.channel(i, 1, field, &enc, |t| t + i as f64);
        }
        log.write_parquet(&dir.join(format!("log-{i}.parquet")));
    };
    for i in 0..10 {
        write_log(i);
    }
    let watchers: Vec<Child> = (0..3).map(|_| watcher(&dir, &work.out(), &url)).collect();
    std::thread::sleep(Duration::from_secs(2));
    for i in 10..20 {
        write_log(i);
    }
    wait_until("20 harvests", Duration::from_secs(120), || {
        catalog_records(&url)
            .iter()
            .filter(|r| r.status == FileStatus::Harvested)
            .count()
            == 20
    });
    let mut total = 0;
    for w in watchers {
        let (code, harvested) = stop(w);
        assert_eq!(code, 0);
        total += harvested;
    }
    assert_eq!(total, 20, "each file harvested by exactly one watcher");
    assert!(catalog_records(&url).iter().all(|r| r.attempts == 1));
}

/// A watch stopped by SIGTERM exits 0 when bad files were only recorded, and 70
/// once it met a file the harvester failed on with a bug.
#[test]
fn a_stopped_watch_exits_70_after_an_internal_failure_and_0_after_bad_files() {
    let work = Workdir::new();
    let dir = work.input();
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    std::fs::write(dir.join("bad.parquet"), b"PAR1 not really PAR1").unwrap();
    let child = watcher(&dir, &work.out(), &url);
    wait_until("the bad file's record", Duration::from_secs(60), || {
        catalog_records(&url)
            .iter()
            .any(|r| r.status == FileStatus::Failed)
    });
    let (code, _) = stop(child);
    assert_eq!(code, 0, "bad files are recorded, not a reason to fail");

    let buggy = work.path("buggy.parquet");
    let mut log = LogBuilder::default();
    for field in ["x", "y", "z"] {
        log.channel(3, 1, field, &clock(T0, 1.0, 12, 0), |t| t);
    }
    log.write_parquet(&buggy);
    record_failure(
        &url,
        &buggy,
        harvester::error::FailureKind::Internal,
        "internal error: a run worker panicked",
    );
    let child = watcher(&dir, &work.out(), &url);
    std::fs::rename(&buggy, dir.join("buggy.parquet")).unwrap();
    // Settled after 1 s, then found failed before: well within 5 s.
    std::thread::sleep(Duration::from_secs(5));
    let (code, harvested) = stop(child);
    assert_eq!(code, 70);
    assert_eq!(harvested, 0);
}

/// A supervisor that closes the watcher's stderr (its log reader gone) does not
/// stop it from harvesting, nor from stopping on SIGTERM with 0: a log line that
/// cannot be written is lost, never a panic.
#[test]
fn a_watch_whose_stderr_is_closed_still_harvests_and_stops_on_sigterm() {
    let work = Workdir::new();
    let dir = work.input();
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    let mut child = watcher(&dir, &work.out(), &url);
    drop(child.stderr.take());
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/forming_cell_small.csv"),
        dir.join("shift.csv"),
    )
    .unwrap();
    wait_until("the harvest", Duration::from_secs(60), || {
        catalog_records(&url)
            .iter()
            .any(|r| r.status == FileStatus::Harvested)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the watcher did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
}
