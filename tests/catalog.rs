//! The catalog's guarantees, on PostgreSQL and on SQLite, with real processes.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use harvester::catalog::Catalog;

enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn url(&self, work: &Workdir, tag: &str) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", work.path("catalog.db").display()),
            Backend::Postgres => fresh_pg_database(tag),
        }
    }
}

/// A small valid log whose content depends on `id`.
fn small_log(path: &Path, id: u64, seconds: f64) {
    let mut log = LogBuilder::default();
    let enc = clock(T0, seconds, 12, 1);
    for (axis, field) in ["x", "y", "z"].iter().enumerate() {
        log.channel(id, 1, field, &enc, |t| axis as f64 + t * 10.0 + id as f64);
    }
    log.channel(id, 2, "fx", &clock(T0, seconds, 10, 1), |_| 1.0);
    log.write_parquet(path);
}

fn output_dirs(work: &Workdir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(work.out())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn race(backend: Backend) {
    let work = Workdir::new();
    let input = work.input();
    for i in 0..50 {
        small_log(&input.join(format!("log-{i:02}.parquet")), 1000 + i, 2.0);
    }
    let url = backend.url(&work, "race");
    let workers: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_harvest"))
                .arg(&input)
                .args([
                    "--out",
                    work.out().to_str().unwrap(),
                    "--catalog",
                    &url,
                    "--log-format",
                    "json",
                    "--threads",
                    "1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut harvested_events = 0;
    for w in workers {
        let out = w.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 0, "{err}");
        harvested_events += err
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("harvested "))
            })
            .count();
    }
    assert_eq!(
        harvested_events, 50,
        "each file harvested by exactly one worker"
    );
    let files = catalog_records(&url);
    assert_eq!(files.len(), 50);
    assert!(
        files
            .iter()
            .all(|f| f.status == "harvested" && f.attempts == 1),
        "{files:#?}"
    );
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| !d.starts_with('.'))
            .count(),
        50
    );
}

#[test]
fn eight_workers_fifty_files_postgres() {
    race(Backend::Postgres);
}

#[test]
fn eight_workers_fifty_files_sqlite() {
    race(Backend::Sqlite);
}

fn same_content_two_names_and_new_content_one_name(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "identity");
    let a = work.input().join("a.parquet");
    let b = work.input().join("b.parquet");
    small_log(&a, 1, 2.0);
    std::fs::copy(&a, &b).unwrap();
    let harvest = |p: &Path| work.harvest(&[p.to_str().unwrap(), "--catalog", &url]);

    let first = harvest(&a);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let second = harvest(&b);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("already harvested"),
        "{}",
        stderr(&second)
    );
    let files = catalog_records(&url);
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].paths.len(),
        2,
        "both names recorded: {:?}",
        files[0].paths
    );

    // New content under an existing name is a new revision.
    small_log(&a, 2, 2.0);
    let third = harvest(&a);
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert!(stderr(&third).contains("harvested "), "{}", stderr(&third));
    let files = catalog_records(&url);
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.status == "harvested"));
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| !d.starts_with('.'))
            .count(),
        2
    );

    // --force harvests again; a plain rerun does not.
    let again = harvest(&a);
    assert!(stderr(&again).contains("already harvested"));
    let forced = work.harvest(&[a.to_str().unwrap(), "--catalog", &url, "--force"]);
    assert_eq!(code(&forced), 0);
    let rec = catalog_records(&url)
        .into_iter()
        .find(|f| f.source_path.ends_with("a.parquet") && f.attempts == 2);
    assert!(rec.is_some(), "forced harvest counted as a second attempt");
}

#[test]
fn identity_by_content_postgres() {
    same_content_two_names_and_new_content_one_name(Backend::Postgres);
}

#[test]
fn identity_by_content_sqlite() {
    same_content_two_names_and_new_content_one_name(Backend::Sqlite);
}

fn killed_worker_does_not_block(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "kill");
    let input = work.input().join("big.parquet");
    let mut log = harvester::generator::generate(&harvester::generator::GeneratorConfig {
        seed: 5,
        rows: 1_500_000,
        run_uuid_type: harvester::generator::RunUuidType::UInt64,
        quirks: false,
    });
    harvester::generator::write_parquet(&mut log.frame, &input).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .arg(&input)
        .args([
            "--out",
            work.out().to_str().unwrap(),
            "--catalog",
            &url,
            "--threads",
            "1",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while it holds the claim.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if catalog_records(&url).iter().any(|f| f.status == "claimed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never claimed the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(catalog_records(&url)[0].status, "claimed");

    let rerun = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    let files = catalog_records(&url);
    assert_eq!(files[0].status, "harvested");
    assert_eq!(files[0].attempts, 2);
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| !d.starts_with('.'))
            .count(),
        1
    );
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| d.starts_with('.'))
            .count(),
        0,
        "leftovers cleaned"
    );
}

#[test]
fn killed_worker_postgres() {
    killed_worker_does_not_block(Backend::Postgres);
}

#[test]
fn killed_worker_sqlite() {
    killed_worker_does_not_block(Backend::Sqlite);
}

#[test]
fn unreachable_catalog_is_a_retry_and_hides_the_password() {
    let work = Workdir::new();
    let input = work.input().join("a.parquet");
    small_log(&input, 1, 1.0);
    let out = work.harvest(&[
        input.to_str().unwrap(),
        "--catalog",
        "postgres://alice:s3cret@127.0.0.1:1/db",
    ]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!work.out().exists() || output_dirs(&work).is_empty());
}

fn execute(url: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

fn outdated_outputs_are_reharvested_and_newer_catalogs_refused(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "aging");
    let a = work.input().join("a.parquet");
    small_log(&a, 3, 2.0);
    let first = work.harvest(&[a.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));

    // The statistics in the catalog are the numbers of the report.
    let dir = work.only_output();
    let report = report(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = rt.block_on(async {
        let c = Catalog::open(&url).await.unwrap();
        c.run_stats(report["content_hash"].as_str().unwrap())
            .await
            .unwrap()
    });
    assert_eq!(serde_json::to_value(&stored).unwrap(), report["runs"]);

    // Nothing is outdated yet; after pretending the outputs came from version 0, one
    // command harvests the source again.
    let none = work.harvest(&["--reharvest-outdated", "--catalog", &url]);
    assert!(stderr(&none).contains("0 harvested"), "{}", stderr(&none));
    execute(&url, "UPDATE harvest_files SET output_schema_version = 0");
    let again = work.harvest(&["--reharvest-outdated", "--catalog", &url]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(stderr(&again).contains("1 harvested"), "{}", stderr(&again));
    let files = catalog_records(&url);
    assert_eq!(
        (files[0].attempts, files[0].output_schema_version),
        (2, Some(1))
    );

    // A catalog migrated by a newer harvester is refused, not damaged.
    let checksum = if url.starts_with("postgres") {
        "decode('00', 'hex')"
    } else {
        "X'00'"
    };
    execute(
        &url,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', TRUE, {checksum}, 0)"
        ),
    );
    let refused = work.harvest(&[a.to_str().unwrap(), "--catalog", &url, "--force"]);
    assert_eq!(code(&refused), 78, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("newer harvester"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn aging_outputs_postgres() {
    outdated_outputs_are_reharvested_and_newer_catalogs_refused(Backend::Postgres);
}

#[test]
fn aging_outputs_sqlite() {
    outdated_outputs_are_reharvested_and_newer_catalogs_refused(Backend::Sqlite);
}
