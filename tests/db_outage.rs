//! The catalog's database stops in the middle of a directory harvest: the affected
//! files get the retry exit code, nothing is marked harvested that was not written,
//! and a rerun after the restart finishes the job without doubling anything.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use harvester::catalog::Catalog;

#[test]
fn database_stopped_mid_directory_harvest() {
    let cluster = PgCluster::start();
    let url = cluster.url();
    let work = Workdir::new();
    let dir = work.input();
    for i in 0..30u64 {
        let mut log = LogBuilder::default();
        let enc = clock(T0, 20.0, 12, 1);
        for field in ["x", "y", "z"] {
            log.channel(i, 1, field, &enc, |t| t * 3.0 + i as f64);
        }
        log.write_parquet(&dir.join(format!("log-{i:02}.parquet")));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let harvested_count = || {
        rt.block_on(async {
            let Ok(c) = Catalog::open(&url).await else {
                return None;
            };
            let n = c.list(Some("harvested"), 1000).await.ok()?.len();
            c.close().await;
            Some(n)
        })
    };

    let child = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .arg(&dir)
        .args([
            "--out",
            work.out().to_str().unwrap(),
            "--catalog",
            &url,
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while harvested_count().unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.down();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    cluster.up();
    let records = rt.block_on(async {
        let c = Catalog::open(&url).await.unwrap();
        c.list(None, 1000).await.unwrap()
    });
    assert!(records.len() < 30, "the outage stopped the job early");
    for r in records.iter().filter(|r| r.status == "harvested") {
        let dir = r
            .output_dir
            .as_deref()
            .expect("harvested rows name their output");
        assert!(
            std::path::Path::new(dir).join("report.json").exists(),
            "marked harvested but not written: {dir}"
        );
    }

    let rerun = work.harvest(&[dir.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    let records = rt.block_on(async {
        let c = Catalog::open(&url).await.unwrap();
        c.list(None, 1000).await.unwrap()
    });
    assert_eq!(records.len(), 30);
    assert!(records.iter().all(|r| r.status == "harvested"));
    let outputs = std::fs::read_dir(work.out())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(outputs, 30, "one output per file, none doubled");
}

#[test]
fn database_restarted_mid_directory_harvest_loses_and_doubles_nothing() {
    let cluster = PgCluster::start();
    let url = cluster.url();
    let work = Workdir::new();
    let dir = work.input();
    for i in 0..20u64 {
        let mut log = LogBuilder::default();
        let enc = clock(T0, 20.0, 12, 1);
        for field in ["x", "y", "z"] {
            log.channel(100 + i, 2, field, &enc, |t| t * 2.0 + i as f64);
        }
        log.write_parquet(&dir.join(format!("log-{i:02}.parquet")));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let list = |status: Option<&'static str>| {
        rt.block_on(async {
            let c = Catalog::open(&url).await.ok()?;
            let l = c.list(status, 1000).await.ok();
            c.close().await;
            l
        })
    };
    let child = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .arg(&dir)
        .args([
            "--out",
            work.out().to_str().unwrap(),
            "--catalog",
            &url,
            "--threads",
            "1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while list(Some("harvested")).map_or(0, |l| l.len()) < 2 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.down();
    cluster.up();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0) | Some(75)), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let rerun = work.harvest(&[dir.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    let records = list(None).unwrap();
    assert_eq!(records.len(), 20, "no file lost");
    assert!(records.iter().all(|r| r.status == "harvested"));
    let outputs = std::fs::read_dir(work.out())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(outputs, 20, "none doubled");
}
