//! Object storage against a real S3 server on loopback (moto's server mode, from
//! PyPI, with credential checking on; see `s3_server.py`): a bucket prefix harvested
//! into a bucket, a rerun that writes nothing, four workers that harvest and
//! download each object once, a worker killed mid-upload, and the exit codes of
//! wrong credentials, an unreachable endpoint and a missing bucket. Every command
//! gets explicit credentials and endpoint, so no client ever asks a cloud metadata
//! address.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::util::*;

/// A moto S3 server for one test, stopped on drop.
struct S3Server {
    child: Child,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    requests: PathBuf,
    slow: PathBuf,
    /// While it exists, server-side copies fail with the status it holds (404 or 503).
    failing_copies: PathBuf,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server with these buckets; fails (never skips) without moto.
    fn start(buckets: &[&str]) -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        let requests = dir.path().join("requests.log");
        let slow = dir.path().join("slow");
        let failing_copies = dir.path().join("failing-copies");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/s3_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&requests)
            .arg(&slow)
            .arg(&failing_copies)
            .args(buckets)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (the S3 tests need it, with moto[server])");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("the S3 server did not start (pip install \"moto[server]\"): {line:?}")
        });
        let text = |k: &str| started[k].as_str().unwrap().to_string();
        S3Server {
            child,
            endpoint: text("endpoint"),
            access_key_id: text("access_key_id"),
            secret_access_key: text("secret_access_key"),
            requests,
            slow,
            failing_copies,
            _dir: dir,
        }
    }

    /// A command with this server's endpoint and credentials, and no other AWS_*
    /// setting from the environment.
    fn command(&self, bin: &str) -> Command {
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("HARVEST_S3_ENDPOINT", &self.endpoint)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1");
        cmd
    }

    fn harvest(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_harvest"))
            .args(args)
            .output()
            .unwrap()
    }

    fn view(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_view"))
            .args(args)
            .output()
            .unwrap()
    }

    fn bucket(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()
            .unwrap()
    }

    fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let store = self.bucket(bucket);
        let path = ObjectPath::parse(key).unwrap();
        block_on(store.put(&path, PutPayload::from(bytes))).unwrap();
    }

    /// Puts `bytes` at `key` exactly as written, through boto3 (moto's own client):
    /// object_store refuses keys S3 allows, such as `a//b` or `a/../b`.
    fn put_raw(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.boto3(
            "put_object(Bucket=bucket, Key=key, Body=sys.stdin.buffer.read())",
            bucket,
            key,
            &bytes,
        );
    }

    /// Deletes the object at `key`, as a clean-up script would, through boto3 (not
    /// the harvester's own client).
    fn delete(&self, bucket: &str, key: &str) {
        self.boto3("delete_object(Bucket=bucket, Key=key)", bucket, key, &[]);
    }

    /// Calls `call` (a method of a boto3 S3 client, which sees `bucket`, `key` and
    /// `sys`) on this server with its credentials, `stdin` on its standard input.
    fn boto3(&self, call: &str, bucket: &str, key: &str, stdin: &[u8]) {
        use std::io::Write;
        let script = format!(
            "import boto3, sys\n\
             _, endpoint, key_id, secret, bucket, key = sys.argv\n\
             boto3.client('s3', endpoint_url=endpoint, aws_access_key_id=key_id,\n\
                 aws_secret_access_key=secret, region_name='us-east-1').{call}\n"
        );
        let mut child = Command::new("python3")
            .args(["-c", &script])
            .args([
                &self.endpoint,
                &self.access_key_id,
                &self.secret_access_key,
                bucket,
                key,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        assert!(child.wait().unwrap().success(), "{call} {key}");
    }

    /// The keys in `bucket` below `prefix`, sorted.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        let store = self.bucket(bucket);
        let prefix = ObjectPath::parse(prefix).unwrap();
        let listed: Vec<object_store::ObjectMeta> =
            block_on(store.list(Some(&prefix)).try_collect()).unwrap();
        let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }

    /// The requests served since the last call, as (method, path).
    fn take_requests(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.requests).unwrap_or_default();
        std::fs::write(&self.requests, "").unwrap();
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Parquet log of one run: robot 1 moves along x at 10 mm/s for 2 s (readings
/// every 10 ms: 20 mm exactly), robot 2 reads a constant force.
fn line_log(run: u64, start: i64) -> Vec<u8> {
    log_of_cell(run, start, None)
}

/// [`line_log`], with a `cell_id` column naming `cell` when given.
fn log_of_cell(run: u64, start: i64, cell: Option<&str>) -> Vec<u8> {
    use polars::prelude::*;
    let mut log = LogBuilder::default();
    let times = clock(start, 2.0, 10, 0);
    log.channel(run, 1, "x", &times, |t| 10.0 * t);
    log.channel(run, 1, "y", &times, |_| 5.0);
    log.channel(run, 1, "z", &times, |_| 1.0);
    log.channel(run, 2, "fx", &times, |_| 3.0);
    let mut frame = log.frame();
    if let Some(cell) = cell {
        let cells = vec![cell; frame.height()];
        frame
            .with_column(Column::new("cell_id".into(), cells))
            .unwrap();
    }
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    bytes
}

/// How often each object of `bucket` was downloaded (GET of its key, as the server
/// decodes it).
fn downloads(requests: &[(String, String)], bucket: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (method, path) in requests {
        if let Some(key) = path.strip_prefix(&format!("/{bucket}/")) {
            if method == "GET" && !key.is_empty() {
                *counts.entry(key.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

fn uploads(requests: &[(String, String)]) -> usize {
    requests
        .iter()
        .filter(|(m, _)| m == "PUT" || m == "POST")
        .count()
}

/// Published objects of the output dataset (none waiting in `.pending`).
fn published(server: &S3Server, table: &str) -> Vec<String> {
    server.keys("out", &format!("harvested/dataset/{table}"))
}

#[test]
fn a_bucket_prefix_is_harvested_into_a_bucket_and_a_rerun_writes_nothing() {
    let server = S3Server::start(&["logs", "out"]);
    server.put("logs", "inbox/cell=7/a.parquet", line_log(1, T0));
    // The log names its cell, which the dataset's partition escapes as Hive does.
    server.put(
        "logs",
        "inbox/cell=8/b.parquet",
        log_of_cell(2, T0 + 60 * SECOND, Some("8/b east")),
    );
    // A key with characters a URL escapes is fetched by its own bytes.
    server.put(
        "logs",
        "inbox/robot [1]/c+d.parquet",
        line_log(3, T0 + 120 * SECOND),
    );
    server.put("logs", "inbox/notes.txt", b"not a log".to_vec());
    server.put("logs", "inbox/.hidden/c.parquet", line_log(3, T0));
    let catalog = fresh_pg_database("s3_prefix");
    let args = [
        "s3://logs/inbox/",
        "--out",
        "s3://out/harvested/",
        "--catalog",
        &catalog,
    ];
    server.take_requests();
    let first = server.harvest(&args);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let requests = server.take_requests();
    assert_eq!(
        downloads(&requests, "logs"),
        BTreeMap::from([
            ("inbox/cell=7/a.parquet".to_string(), 1),
            ("inbox/cell=8/b.parquet".to_string(), 1),
            ("inbox/robot [1]/c+d.parquet".to_string(), 1),
        ]),
        "each log fetched once, nothing else"
    );

    let outputs = server.keys("out", "harvested");
    let reports: Vec<&String> = outputs
        .iter()
        .filter(|k| k.ends_with("/report.json"))
        .collect();
    assert_eq!(reports.len(), 3, "{outputs:?}");
    assert!(
        outputs.iter().all(|k| !k.contains("%25")),
        "no key encoded twice: {outputs:?}"
    );
    assert!(
        outputs.iter().all(|k| !k.contains(".pending")),
        "nothing left pending: {outputs:?}"
    );
    let samples = published(&server, "samples");
    assert_eq!(samples.len(), 3, "{samples:?}");
    for (sample, partition) in samples.iter().zip([
        "/cell=7/date=2022-11-23/",
        "/cell=8%2Fb%20east/date=2022-11-23/",
        "/cell=__HIVE_DEFAULT_PARTITION__/date=2022-11-23/",
    ]) {
        assert!(sample.contains(partition), "{samples:?}");
    }
    assert_eq!(published(&server, "run_stats").len(), 3);

    let records = catalog_records(&catalog);
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record.status, harvester::catalog::FileStatus::Harvested);
        assert!(
            record.source_path.starts_with("s3://logs/inbox/"),
            "{record:?}"
        );
        let dir = record.output_dir.as_deref().unwrap();
        assert!(dir.starts_with("s3://out/harvested/"), "{dir}");
    }
    // The fetch is its own stage of the report.
    let list = server.view(&[
        "--out",
        "s3://out/harvested",
        "--catalog",
        &catalog,
        "--list",
    ]);
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let hash = records[0].short_hash().to_string();
    let shown = server.view(&[
        "--out",
        "s3://out/harvested",
        "--catalog",
        &catalog,
        &hash,
        "--format",
        "json",
    ]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let report: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages[0], "fetch", "{stages:?}");
    // A run's rows, read from the bucket's dataset.
    let run = report["coverage"][0]["run_uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("{report}"))
        .to_string();
    let rows = server.view(&[
        "--out",
        "s3://out/harvested",
        "--catalog",
        &catalog,
        &hash,
        "--run",
        &run,
        "--format",
        "csv",
        "--head",
        "3",
    ]);
    assert_eq!(code(&rows), 0, "{}", stderr(&rows));
    assert_eq!(String::from_utf8_lossy(&rows.stdout).lines().count(), 4);
    // The page of a harvest in the bucket draws its run.
    let page_dir = tempfile::tempdir().unwrap();
    let page = page_dir.path().join("page.html");
    let drawn = server.view(&[
        "--out",
        "s3://out/harvested",
        "--catalog",
        &catalog,
        &hash,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code(&drawn), 0, "{}", stderr(&drawn));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.matches("<svg").count() >= 5, "charts drawn");

    // A rerun lists, and neither downloads nor writes anything.
    server.take_requests();
    let again = server.harvest(&args);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let requests = server.take_requests();
    assert!(downloads(&requests, "logs").is_empty(), "{requests:?}");
    assert_eq!(uploads(&requests), 0, "{requests:?}");
    assert!(stderr(&again).contains("0 harvested"), "{}", stderr(&again));
}

#[test]
fn a_single_object_into_a_local_output_with_the_default_catalog() {
    let server = S3Server::start(&["logs"]);
    server.put("logs", "cell=4/one.parquet", line_log(4, T0));
    let work = Workdir::new();
    let out = work.out();
    let out = out.to_str().unwrap();
    let harvested = server.harvest(&["s3://logs/cell=4/one.parquet", "--out", out]);
    assert_eq!(code(&harvested), 0, "{}", stderr(&harvested));
    let dir = work.only_output();
    let report = report(&dir);
    assert_eq!(report["source"], "s3://logs/cell=4/one.parquet");
    assert_eq!(report["stages"][0]["stage"], "fetch");
    let samples = files_below(&work.out().join("dataset/samples"));
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert!(
        samples[0].starts_with("cell=4/"),
        "the key's folders label it: {samples:?}"
    );

    // A missing object is no input (66); outputs in a bucket need PostgreSQL (64).
    let missing = server.harvest(&["s3://logs/cell=4/none.parquet", "--out", out]);
    assert_eq!(code(&missing), 66, "{}", stderr(&missing));
    let sqlite_out = server.harvest(&["s3://logs/", "--out", "s3://logs/harvested"]);
    assert_eq!(code(&sqlite_out), 64, "{}", stderr(&sqlite_out));
    assert!(
        stderr(&sqlite_out).contains("PostgreSQL"),
        "{}",
        stderr(&sqlite_out)
    );
}

#[test]
fn keys_that_cannot_be_fetched_by_name_are_bad_sources_and_the_others_are_harvested() {
    let server = S3Server::start(&["logs"]);
    // Sorted first, so a listing that fails on them loses the good objects too.
    let odd = [
        "inbox/..//x.parquet",
        "inbox/../y.parquet",
        "inbox/a//b.parquet",
        "inbox/a/./c.parquet",
    ];
    for (i, key) in odd.iter().enumerate() {
        server.put_raw("logs", key, line_log(10 + i as u64, T0));
    }
    server.put("logs", "inbox/a/good.parquet", line_log(1, T0));
    server.put(
        "logs",
        "inbox/b/good.parquet",
        line_log(2, T0 + 60 * SECOND),
    );
    let work = Workdir::new();
    let out = work.out();
    let out_arg = out.to_str().unwrap();
    let first = server.harvest(&["s3://logs/inbox/", "--out", out_arg]);
    let err = stderr(&first);
    assert_eq!(code(&first), 65, "{err}");
    assert!(err.contains("2 harvested"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), odd.len(), "one line per odd key: {err}");
    for key in odd {
        let url = format!("s3://logs/{key}");
        assert!(
            errors.iter().any(|l| l.contains(&url)),
            "{url} not named: {err}"
        );
    }

    let records = catalog_records_in(&out);
    assert_eq!(records.len(), 2 + odd.len(), "{records:?}");
    for key in odd {
        let url = format!("s3://logs/{key}");
        let record = records
            .iter()
            .find(|r| r.source_path == url)
            .unwrap_or_else(|| panic!("{url} not recorded by its exact name: {records:?}"));
        assert_eq!(record.status, harvester::catalog::FileStatus::Failed);
        assert_eq!(
            record.content_hash,
            harvester::storage::path_key(Path::new(&url))
        );
    }
    let list = server.view(&["--list", "--format", "json", "--out", out_arg]);
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let listed = stdout(&list);
    for key in [
        "inbox/a//b.parquet",
        "inbox/../y.parquet",
        "inbox/a/good.parquet",
    ] {
        assert!(listed.contains(key), "{key}: {listed}");
    }
}

#[test]
fn four_workers_on_one_prefix_harvest_and_download_each_object_once() {
    let server = S3Server::start(&["logs", "out"]);
    let objects = 12;
    for i in 0..objects {
        let key = format!("shift/cell={}/log-{i:02}.parquet", i % 3);
        server.put("logs", &key, line_log(100 + i, T0 + i as i64 * 60 * SECOND));
    }
    let catalog = fresh_pg_database("s3_race");
    server.take_requests();
    let workers: Vec<Child> = (0..4)
        .map(|_| {
            server
                .command(env!("CARGO_BIN_EXE_harvest"))
                .args([
                    "s3://logs/shift/",
                    "--out",
                    "s3://out/harvested",
                    "--catalog",
                ])
                .arg(&catalog)
                .args(["--jobs", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in workers {
        let output = worker.wait_with_output().unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
    }
    let requests = server.take_requests();
    let counts = downloads(&requests, "logs");
    assert_eq!(counts.len(), objects as usize, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "downloads: {counts:?}");

    let rows = query_sql(
        &catalog,
        "SELECT status, CAST(attempts AS TEXT) FROM harvest_files ORDER BY content_hash",
    );
    assert_eq!(rows.len(), objects as usize);
    assert!(
        rows.iter()
            .all(|r| r[0].as_deref() == Some("harvested") && r[1].as_deref() == Some("1")),
        "{rows:?}"
    );
    assert_eq!(published(&server, "samples").len(), objects as usize);
    assert_eq!(published(&server, "run_stats").len(), objects as usize);
}

/// A server with the log of run `run` at `logs/in/cell=2/` and an empty bucket
/// `out`, and a fresh catalog named after `tag`.
fn one_log_and_a_bucket(tag: &str, run: u64) -> (S3Server, PgDatabase) {
    let server = S3Server::start(&["logs", "out"]);
    server.put("logs", "in/cell=2/a.parquet", line_log(run, T0));
    (server, fresh_pg_database(tag))
}

/// The arguments that harvest `s3://logs/in/` into `s3://out/harvested` with `catalog`.
fn into_the_bucket(catalog: &str) -> [&str; 5] {
    [
        "s3://logs/in/",
        "--out",
        "s3://out/harvested",
        "--catalog",
        catalog,
    ]
}

#[test]
fn a_worker_killed_mid_upload_leaves_nothing_published_and_the_rerun_completes() {
    let (server, catalog) = one_log_and_a_bucket("s3_kill", 7);
    let args = into_the_bucket(&catalog);
    // Every upload now hangs: the worker is stopped while its first one is served.
    std::fs::write(&server.slow, "").unwrap();
    server.take_requests();
    let mut worker = server
        .command(env!("CARGO_BIN_EXE_harvest"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(m, p): &(String, String)| m == "PUT" && p.starts_with("/out/harvested/"))
    {
        assert!(Instant::now() < deadline, "no upload began: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
        seen.extend(server.take_requests());
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    std::fs::remove_file(&server.slow).unwrap();

    assert!(published(&server, "samples").is_empty());
    assert!(published(&server, "run_stats").is_empty());
    let records = catalog_records(&catalog);
    assert_eq!(records.len(), 1);
    assert_ne!(records[0].status, harvester::catalog::FileStatus::Harvested);

    let rerun = server.harvest(&args);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    assert!(stderr(&rerun).contains("1 harvested"), "{}", stderr(&rerun));
    assert_eq!(published(&server, "samples").len(), 1);
    assert_eq!(published(&server, "run_stats").len(), 1);
    let left = server.keys("out", "harvested/dataset/.pending");
    assert!(left.is_empty(), "nothing pending: {left:?}");
    let records = catalog_records(&catalog);
    assert_eq!(records[0].status, harvester::catalog::FileStatus::Harvested);
}

#[test]
fn a_publication_whose_copies_fail_keeps_its_files_pending_and_exits_75() {
    let (server, catalog) = one_log_and_a_bucket("s3_copy", 8);
    let args = into_the_bucket(&catalog);
    let pending = || server.keys("out", "harvested/dataset/.pending");

    // A server that answers 404 to every copy, as if the pending file were missing:
    // the harvest is recorded, but nothing is published and nothing pending deleted.
    std::fs::write(&server.failing_copies, "404").unwrap();
    let first = server.harvest(&args);
    let said = stderr(&first);
    assert_eq!(code(&first), 75, "{said}");
    assert!(said.contains("wait in dataset/.pending/"), "{said}");
    assert!(published(&server, "samples").is_empty());
    assert!(published(&server, "run_stats").is_empty());
    let waiting = pending();
    assert_eq!(
        waiting.len(),
        2,
        "a run table and its statistics: {waiting:?}"
    );
    let records = catalog_records(&catalog);
    assert_eq!(records[0].status, harvester::catalog::FileStatus::Harvested);

    // Copies shed under load (503 SlowDown) fail the next job's publication too.
    std::fs::write(&server.failing_copies, "503").unwrap();
    let second = server.harvest(&args);
    assert_eq!(code(&second), 75, "{}", stderr(&second));
    assert_eq!(pending(), waiting);
    assert!(published(&server, "samples").is_empty());

    // Once copies work, the next job publishes what waits.
    std::fs::remove_file(&server.failing_copies).unwrap();
    let third = server.harvest(&args);
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert!(
        stderr(&third).contains("0 harvested, 1 skipped"),
        "{}",
        stderr(&third)
    );
    assert_eq!(published(&server, "samples").len(), 1);
    assert_eq!(published(&server, "run_stats").len(), 1);
    assert!(pending().is_empty(), "{:?}", pending());
}

#[test]
fn wrong_credentials_an_unreachable_endpoint_and_a_missing_bucket_exit_78_75_78() {
    let server = S3Server::start(&["logs"]);
    server.put("logs", "a.parquet", line_log(1, T0));
    let work = Workdir::new();
    let out = work.out();
    let out = out.to_str().unwrap();

    let wrong = server
        .command(env!("CARGO_BIN_EXE_harvest"))
        .args(["s3://logs/", "--out", out])
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123456789")
        .output()
        .unwrap();
    let said = stderr(&wrong);
    assert_eq!(code(&wrong), 78, "{said}");
    assert!(
        said.contains("s3://logs/") && said.contains("access denied"),
        "{said}"
    );
    assert!(!said.contains("not-the-secret") && !said.contains(&server.secret_access_key));
    assert_eq!(
        said.trim().lines().filter(|l| l.contains("ERROR")).count(),
        1,
        "{said}"
    );

    let started = Instant::now();
    let unreachable = server
        .command(env!("CARGO_BIN_EXE_harvest"))
        .args(["s3://logs/", "--out", out])
        .env("HARVEST_S3_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(code(&unreachable), 75, "{}", stderr(&unreachable));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fails in seconds: {:?}",
        started.elapsed()
    );

    let missing = server.harvest(&["s3://no-such-bucket/", "--out", out]);
    assert_eq!(code(&missing), 78, "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("no such bucket"),
        "{}",
        stderr(&missing)
    );

    // A watch whose prefix cannot be listed stops at once, with the same code.
    let watch = server.harvest(&["--watch", "s3://no-such-bucket/in/", "--out", out]);
    assert_eq!(code(&watch), 78, "{}", stderr(&watch));
    // Outputs in a bucket are found through a PostgreSQL catalog.
    let view = server.view(&["--out", "s3://logs/harvested", "--list"]);
    assert_eq!(code(&view), 64, "{}", stderr(&view));
    assert!(stderr(&view).contains("--catalog"), "{}", stderr(&view));

    let secret_url = server.harvest(&["s3://KEY:hunter2@logs/", "--out", out]);
    assert_eq!(code(&secret_url), 64);
    assert!(
        !stderr(&secret_url).contains("hunter2"),
        "{}",
        stderr(&secret_url)
    );
}

#[test]
fn a_watch_on_a_prefix_harvests_each_object_that_appears_once() {
    let server = S3Server::start(&["logs"]);
    server.put("logs", "in/first.parquet", line_log(1, T0));
    let work = Workdir::new();
    let watch = server
        .command(env!("CARGO_BIN_EXE_harvest"))
        .args(["--watch", "s3://logs/in/", "--out"])
        .arg(work.out())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reports = |work: &Workdir| {
        files_below(&work.out())
            .into_iter()
            .filter(|f| f.ends_with("report.json"))
            .count()
    };
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while reports(&work) < n {
            assert!(Instant::now() < deadline, "{n} harvests expected");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1);
    server.put("logs", "in/cell=5/second.parquet", line_log(2, T0));
    wait_for(2);
    // Listed again and again, each object is fetched once.
    std::thread::sleep(Duration::from_secs(6));
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) };
    let output = watch.wait_with_output().unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(reports(&work), 2);
    let counts = downloads(&server.take_requests(), "logs");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
}

/// An object replaced at the same key: the rerun harvests the new content, and the
/// old content is superseded (`changed`): its runs leave the bucket's dataset and
/// the fleet views.
#[test]
fn an_object_replaced_at_its_key_supersedes_what_it_held() {
    let (server, catalog) = one_log_and_a_bucket("s3_replaced", 41);
    let first = server.harvest(&into_the_bucket(&catalog));
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let old = published(&server, "samples");
    assert_eq!(old.len(), 1, "{old:?}");
    assert!(old[0].ends_with("-41.parquet"), "{old:?}");

    server.put("logs", "in/cell=2/a.parquet", line_log(42, T0));
    let again = server.harvest(&into_the_bucket(&catalog));
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let samples = published(&server, "samples");
    assert_eq!(samples.len(), 1, "only the new content's run: {samples:?}");
    assert!(samples[0].ends_with("-42.parquet"), "{samples:?}");
    assert_eq!(published(&server, "run_stats").len(), 1);

    let mut reasons = query_sql(&catalog, "SELECT superseded_reason FROM harvest_files");
    reasons.sort();
    assert_eq!(reasons, [[None], [Some("changed".to_string())]]);
    let runs = query_sql(&catalog, "SELECT DISTINCT run_uuid FROM latest_run_stats");
    assert_eq!(runs, [[Some("42".to_string())]]);
}

/// Published dataset files deleted from the output bucket: the rescan finds them
/// absent from its listing of the output prefix, fetches the object that still
/// holds the content and harvests it again; the next rescan finds all in place.
#[test]
fn deleted_outputs_in_a_bucket_are_rebuilt_from_the_object() {
    let (server, catalog) = one_log_and_a_bucket("s3_repair", 43);
    let first = server.harvest(&into_the_bucket(&catalog));
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let samples = published(&server, "samples");
    let run_stats = published(&server, "run_stats");
    assert_eq!((samples.len(), run_stats.len()), (1, 1));
    for key in samples.iter().chain(&run_stats) {
        server.delete("out", key);
    }
    assert!(published(&server, "samples").is_empty());

    let rescan = server.harvest(&into_the_bucket(&catalog));
    assert_eq!(code(&rescan), 0, "{}", stderr(&rescan));
    assert!(
        stderr(&rescan).contains("harvesting it again"),
        "{}",
        stderr(&rescan)
    );
    assert_eq!(published(&server, "samples"), samples);
    assert_eq!(published(&server, "run_stats"), run_stats);
    let left = server.keys("out", "harvested/dataset/.pending");
    assert!(left.is_empty(), "nothing pending: {left:?}");
    let records = catalog_records(&catalog);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, harvester::catalog::FileStatus::Harvested);
    assert_eq!(records[0].attempts, 2);
    assert!(records[0].outputs_missing_since.is_none());

    let settled = server.harvest(&into_the_bucket(&catalog));
    assert_eq!(code(&settled), 0, "{}", stderr(&settled));
    assert!(
        !stderr(&settled).contains("harvesting it again"),
        "{}",
        stderr(&settled)
    );
    assert_eq!(catalog_records(&catalog)[0].attempts, 2);
}
