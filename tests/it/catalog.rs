//! The catalog's guarantees, on PostgreSQL and on SQLite, with real processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;
use harvester::catalog::{Catalog, FileStatus};
use polars::prelude::{CsvWriter, ParquetReader, SerReader, SerWriter};

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
    let mut v: Vec<String> = output_dirs_in(&work.out())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A work directory whose input folder holds `a.parquet`, a [`small_log`] of run 1
/// lasting `seconds`, and that file's path.
fn work_with_a_small_log(seconds: f64) -> (Workdir, PathBuf) {
    let work = Workdir::new();
    let input = work.input().join("a.parquet");
    small_log(&input, 1, seconds);
    (work, input)
}

/// Asserts that the catalog at `url` records its newest file harvested, at the
/// second attempt.
#[track_caller]
fn assert_harvested_at_the_second_attempt(url: &str) {
    let files = catalog_records(url);
    assert_eq!(files[0].status, FileStatus::Harvested);
    assert_eq!(files[0].attempts, 2);
}

/// Eight workers started at once on one nested inbox (cell and day folders).
fn race(backend: Backend) {
    let work = Workdir::new();
    let input = work.input();
    for i in 0..50 {
        let folder = input.join(format!("cell={}/day={}", i % 5, i % 3));
        std::fs::create_dir_all(&folder).unwrap();
        small_log(&folder.join(format!("log-{i:02}.parquet")), 1000 + i, 2.0);
    }
    let url = backend.url(&work, "race");
    let workers: Vec<_> = (0..8)
        .map(|_| {
            one_thread_worker(&work, &input, &url)
                .args(["--log-format", "json"])
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
        harvested_events += crate::util::harvested_events(&err);
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
            .all(|f| f.status == FileStatus::Harvested && f.attempts == 1),
        "{files:#?}"
    );
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| !d.starts_with('.'))
            .count(),
        50
    );
    // The dataset holds every run once, under the cell its folder names.
    let dataset = read_dataset(&work.out());
    let stats = dataset["run_stats"].as_array().unwrap();
    assert_eq!(stats.len(), 100, "50 runs of two robots");
    let mut keys: Vec<(String, i64)> = stats
        .iter()
        .map(|r| {
            (
                r["run_uuid"].as_str().unwrap().to_string(),
                r["robot_id"].as_i64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 100, "no run twice");
    let samples = dataset["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 50, "one table per run");
    for s in samples {
        let run: u64 = s["run_uuid"].as_str().unwrap().parse().unwrap();
        assert_eq!(s["cell"], ((run - 1000) % 5).to_string(), "{s}");
    }
}

on_both_backends!(eight_workers_fifty_files, race);

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
    assert!(files.iter().all(|f| f.status == FileStatus::Harvested));
    assert_eq!(
        output_dirs(&work)
            .iter()
            .filter(|d| !d.starts_with('.'))
            .count(),
        2
    );

    // --force harvests again; a plain rerun does not (nor even reads the file).
    let again = harvest(&a);
    assert!(
        stderr(&again).contains("0 harvested, 1 skipped"),
        "{}",
        stderr(&again)
    );
    let forced = work.harvest(&[a.to_str().unwrap(), "--catalog", &url, "--force"]);
    assert_eq!(code(&forced), 0);
    let rec = catalog_records(&url)
        .into_iter()
        .find(|f| f.source_path.ends_with("a.parquet") && f.attempts == 2);
    assert!(rec.is_some(), "forced harvest counted as a second attempt");
}

on_both_backends!(
    identity_by_content,
    same_content_two_names_and_new_content_one_name
);

/// A log large enough that a worker on one thread holds its claim for seconds.
fn big_log(path: &Path) {
    let mut log = harvester_generator::generate(&harvester_generator::GeneratorConfig {
        seed: 5,
        rows: 1_500_000,
        run_uuid_type: harvester_generator::RunUuidType::UInt64,
        quirks: false,
        ..Default::default()
    });
    harvester_generator::write_parquet(&mut log.frame, path).unwrap();
}

/// Waits until a worker holds a claim in the catalog at `url`.
fn wait_for_claim(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !catalog_records(url)
        .iter()
        .any(|f| f.status == FileStatus::Claimed)
    {
        assert!(
            Instant::now() < deadline,
            "the worker never claimed the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn killed_worker_does_not_block(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "kill");
    let input = work.input().join("big.parquet");
    big_log(&input);

    let mut child = one_thread_worker(&work, &input, &url)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while it holds the claim.
    wait_for_claim(&url);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(catalog_records(&url)[0].status, FileStatus::Claimed);

    let rerun = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    assert_harvested_at_the_second_attempt(&url);
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

on_both_backends!(killed_worker, killed_worker_does_not_block);

#[test]
fn unreachable_catalog_is_a_retry_and_hides_the_password() {
    let (work, input) = work_with_a_small_log(1.0);
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

/// What `harvest` and `view --list` print and exit with for a catalog URL.
fn both_binaries(work: &Workdir, url: &str) -> Vec<(&'static str, std::process::Output)> {
    let input = work.input();
    let out = work.out();
    [
        ("harvest", env!("CARGO_BIN_EXE_harvest")),
        ("view", env!("CARGO_BIN_EXE_view")),
    ]
    .into_iter()
    .map(|(name, program)| {
        let mut cmd = Command::new(program);
        if name == "harvest" {
            cmd.arg(&input);
        } else {
            cmd.arg("--list");
        }
        let output = cmd
            .arg("--out")
            .arg(&out)
            .args(["--catalog", url])
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (name, output)
    })
    .collect()
}

fn assert_one_line_and_code(outputs: &[(&str, std::process::Output)], expected: i32, what: &str) {
    for (name, o) in outputs {
        let err = stderr(o);
        assert_eq!(code(o), expected, "{name} {what}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{name} {what}: one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn configuration_errors_exit_78_and_never_fall_back_to_a_default() {
    let (work, _) = work_with_a_small_log(1.0);
    let admin = pg_admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let server = base.rsplit_once('@').map_or(base, |(_, s)| s);
    let cases = [
        ("an empty postgres URL", "postgres://".to_string()),
        ("a URL without a database", format!("postgres://{server}")),
        ("an empty sqlite URL", "sqlite:".to_string()),
        ("an in-memory catalog", "sqlite::memory:".to_string()),
        (
            "a bad port",
            format!(
                "postgres://u:pw@{}:99999/db",
                server.split(':').next().unwrap()
            ),
        ),
        (
            "a database that does not exist",
            format!("{base}/no_such_database_{}", std::process::id()),
        ),
        (
            "an unknown role",
            format!(
                "postgres://no_such_role_{}@{server}/postgres",
                std::process::id()
            ),
        ),
    ];
    for (what, url) in &cases {
        let outputs = both_binaries(&work, url);
        assert_one_line_and_code(&outputs, 78, what);
        for (_, o) in &outputs {
            assert!(!stderr(o).contains(":pw@"), "{}", stderr(o));
        }
    }
    // Nothing was harvested anywhere, in particular not into a default catalog.
    assert!(output_dirs(&work).is_empty());
    assert!(!work.out().join("catalog.db").exists());
}

#[test]
fn a_corrupt_catalog_file_is_one_line_and_78() {
    let work = Workdir::new();
    for id in 0..3 {
        small_log(&work.input().join(format!("{id}.parquet")), id, 1.0);
    }
    std::fs::create_dir_all(work.out()).unwrap();
    let db = work.out().join("catalog.db");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    let url = format!("sqlite://{}", db.display());
    let outputs = both_binaries(&work, &url);
    assert_one_line_and_code(&outputs, 78, "a corrupt catalog.db");
    // The default catalog is the same file: same answer, and the file is untouched.
    let out = work.harvest(&[work.input().to_str().unwrap()]);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
    assert!(output_dirs(&work).is_empty());
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
    execute_sql(&url, "UPDATE harvest_files SET output_schema_version = 0");
    let again = work.harvest(&["--reharvest-outdated", "--catalog", &url]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(stderr(&again).contains("1 harvested"), "{}", stderr(&again));
    let files = catalog_records(&url);
    assert_eq!(
        (files[0].attempts, files[0].output_schema_version),
        (2, Some(harvester::model::schema::OUTPUT_SCHEMA_VERSION))
    );

    // A catalog migrated by a newer harvester is refused, not damaged.
    let checksum = if url.starts_with("postgres") {
        "decode('00', 'hex')"
    } else {
        "X'00'"
    };
    execute_sql(
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

on_both_backends!(
    aging_outputs,
    outdated_outputs_are_reharvested_and_newer_catalogs_refused
);

/// The catalog records where outputs are as an absolute root and a name, so `view`
/// finds them from any working directory, whatever `--out` was relative to.
#[test]
fn view_finds_the_outputs_from_any_working_directory() {
    let work = Workdir::new();
    small_log(&work.input().join("shift.parquet"), 41, 2.0);
    let catalog = format!("sqlite://{}", work.path("catalog.db").display());
    let harvest = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .current_dir(work.path(""))
        .args(["in/shift.parquet", "--out", "out", "--catalog", &catalog])
        .output()
        .unwrap();
    assert_eq!(code(&harvest), 0, "{}", stderr(&harvest));
    let record = &catalog_records(&catalog)[0];
    let output_dir = Path::new(record.output_dir.as_deref().unwrap());
    assert!(output_dir.is_absolute(), "{output_dir:?}");
    assert!(output_dir.join("report.json").is_file());

    let elsewhere = tempfile::tempdir().unwrap();
    let view = Command::new(env!("CARGO_BIN_EXE_view"))
        .current_dir(elsewhere.path())
        .args([
            &record.content_hash[..12],
            "--run",
            "41",
            "--catalog",
            &catalog,
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&view), 0, "{}", stderr(&view));
    assert!(String::from_utf8_lossy(&view.stdout).contains("x_1"));
}

/// `--reharvest-outdated` finds a source at any path it was seen under: here the
/// last one is gone, an earlier one still holds the file.
#[test]
fn reharvest_outdated_tries_every_recorded_path() {
    let work = Workdir::new();
    let url = fresh_pg_database("outdated_paths");
    let (first, second) = (
        work.input().join("a.parquet"),
        work.input().join("b.parquet"),
    );
    small_log(&first, 42, 2.0);
    std::fs::copy(&first, &second).unwrap();
    for path in [&first, &second] {
        let out = work.harvest(&[path.to_str().unwrap(), "--catalog", &url]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    std::fs::remove_file(&second).unwrap();
    execute_sql(&url, "UPDATE harvest_files SET output_schema_version = 0");

    let out = work.harvest(&["--reharvest-outdated", "--catalog", &url]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("1 harvested"), "{err}");
    let records = catalog_records(&url);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].output_schema_version,
        Some(harvester::model::schema::OUTPUT_SCHEMA_VERSION)
    );
}

/// Managed databases require TLS: `sslmode=require` encrypts, `verify-full` also
/// checks the certificate against `sslrootcert`. A TLS failure (an untrusted
/// certificate, a server without TLS) is a configuration error: one line, exit 78.
#[test]
fn tls_to_postgres_works_and_a_tls_failure_is_one_line_and_78() {
    let cluster = PgCluster::start_tls();
    let port = cluster
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let ca = cluster.ca_cert();
    let work = Workdir::new();
    small_log(&work.input().join("a.parquet"), 51, 1.0);
    small_log(&work.input().join("b.parquet"), 52, 1.0);
    let input = |name: &str| work.input().join(name).display().to_string();

    let require = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let out = work.harvest(&[&input("a.parquet"), "--catalog", &require]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let verified = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let out = work.harvest(&[&input("b.parquet"), "--catalog", &verified]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(catalog_records(&verified).len(), 2);

    let untrusted = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full");
    let plain = PgCluster::start();
    let no_tls_server = format!("{}?sslmode=require", plain.url());
    for url in [untrusted, no_tls_server] {
        let out = work.harvest(&[&input("a.parquet"), "--catalog", &url]);
        let err = stderr(&out);
        assert_eq!(code(&out), 78, "{url}: {err}");
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(err.contains("TLS"), "{url}: {err}");
    }
}

/// A nested inbox with the output root inside it: each rescan reads only the paths
/// that changed, and recognises content as before.
fn rescans_read_only_what_changed(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "rescan");
    let inbox = work.input();
    let out = inbox.join("harvested");
    let a = inbox.join("line=B/cell=7/2026-11-22/a.parquet");
    let b = inbox.join("line=B/cell=8/b.csv");
    let hidden = inbox.join(".incoming/h.parquet");
    for p in [&a, &b, &hidden] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    }
    small_log(&a, 1, 2.0);
    small_log(&hidden, 3, 2.0);
    let mut csv = Vec::new();
    let mut frame = ParquetReader::new(std::fs::File::open(&a).unwrap())
        .finish()
        .unwrap();
    CsvWriter::new(&mut csv).finish(&mut frame).unwrap();
    std::fs::write(&b, &csv).unwrap();
    let scan = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_harvest"))
            .arg(&inbox)
            .args(["--out", out.to_str().unwrap(), "--catalog", &url, "-v"])
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        stderr(&output)
    };
    let count = |text: &str, what: &str| text.matches(what).count();

    // First pass: every log below the root, not the hidden folder, not the outputs.
    let first = scan(&[]);
    assert!(
        first.contains("2 harvested, 0 skipped, 0 failed"),
        "{first}"
    );
    // Rescans read nothing.
    let again = scan(&[]);
    assert!(again.contains("0 harvested, 2 skipped"), "{again}");
    assert_eq!(
        count(&again, "unchanged since harvested, not read"),
        2,
        "{again}"
    );

    // Touched: read and hashed again, recognised, not harvested again; then skipped.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let touched = scan(&[]);
    assert!(touched.contains("0 harvested, 2 skipped"), "{touched}");
    assert_eq!(count(&touched, "already harvested"), 1, "{touched}");
    assert_eq!(count(&scan(&[]), "unchanged since harvested"), 2);

    // Rewritten in place with the same size: a new revision.
    let at = csv.len() / 2
        + csv[csv.len() / 2..]
            .iter()
            .position(|c| c.is_ascii_digit() && *c != b'9')
            .unwrap();
    let mut rewritten = csv.clone();
    rewritten[at] += 1;
    std::fs::write(&b, &rewritten).unwrap();
    assert_eq!(std::fs::metadata(&b).unwrap().len(), csv.len() as u64);
    let revised = scan(&[]);
    assert!(revised.contains("1 harvested, 1 skipped"), "{revised}");

    // A renamed copy is recognised by its content.
    let copy = inbox.join("line=B/cell=9/a-copy.parquet");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&a, &copy).unwrap();
    let copied = scan(&[]);
    assert!(copied.contains("0 harvested, 3 skipped"), "{copied}");
    assert_eq!(count(&copied, "already harvested"), 1, "{copied}");

    // --verify reads every file; --max-depth 1 lists the inbox's own files only.
    let verified = scan(&["--verify"]);
    assert_eq!(count(&verified, "already harvested"), 3, "{verified}");
    assert_eq!(count(&verified, "unchanged since"), 0, "{verified}");
    let shallow = scan(&["--max-depth", "1"]);
    assert!(
        shallow.contains("0 harvested, 0 skipped, 0 failed"),
        "{shallow}"
    );
}

on_both_backends!(
    rescans_read_only_what_changed,
    rescans_read_only_what_changed
);

/// Every file below `dir` with what a rewrite changes: its size, mtime and inode.
fn file_states(dir: &Path) -> Vec<(String, u64, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    files_below(dir)
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(dir.join(&f)).unwrap();
            (f, meta.len(), meta.modified().unwrap(), meta.ino())
        })
        .collect()
}

/// A worker stopped (SIGSTOP) past its lease while it harvests: a second worker
/// takes the claim over and harvests the file. Resumed, the first writes nothing
/// more and says who took the file.
fn taken_over_worker_writes_nothing(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "takeover");
    let input = work.input().join("big.parquet");
    big_log(&input);
    let worker = |lease: &str| {
        one_thread_worker(&work, &input, &url)
            .args(["--lease", lease])
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = worker("1");
    wait_for_claim(&url);
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(first.id() as i32, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(1500));

    let second = worker("600");
    let second_pid = second.id();
    let second = second.wait_with_output().unwrap();
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("1 harvested"),
        "{}",
        stderr(&second)
    );
    let outputs = file_states(&work.out());
    assert!(
        outputs.iter().any(|(f, ..)| f.ends_with("report.json")),
        "{outputs:?}"
    );

    // SAFETY: as above.
    unsafe { libc::kill(first.id() as i32, libc::SIGCONT) };
    let first = first.wait_with_output().unwrap();
    let said = stderr(&first);
    assert_eq!(code(&first), 0, "{said}");
    let holder = format!("({} pid {second_pid})", harvester::host::hostname());
    assert!(said.contains("held by another worker"), "{said}");
    assert!(said.contains(&holder), "{holder}: {said}");
    assert!(said.contains("0 harvested, 1 skipped"), "{said}");
    assert_eq!(file_states(&work.out()), outputs, "nothing written after");
    assert_harvested_at_the_second_attempt(&url);
}

on_both_backends!(taken_over_worker, taken_over_worker_writes_nothing);

#[test]
fn a_file_held_elsewhere_names_its_holder() {
    let (work, input) = work_with_a_small_log(2.0);
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    with_catalog(&url, async |catalog| claim_file(catalog, &input).await);
    let held = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    let said = stderr(&held);
    assert_eq!(code(&held), 0, "{said}");
    let holder = format!(
        "held by another worker: {} ({} pid {})",
        input.display(),
        harvester::host::hostname(),
        std::process::id()
    );
    assert!(said.contains(&holder), "{holder}: {said}");
}

/// The suite leaves no database behind: each test's database is dropped with its
/// guard, also when the test fails, and one left by a killed run (its process gone)
/// is dropped by the next run.
#[test]
fn test_databases_are_dropped_after_use_and_after_a_killed_run() {
    let admin = pg_admin_url();
    let name = {
        let db = fresh_pg_database("guarded");
        let name = db.rsplit('/').next().unwrap().to_string();
        assert!(test_database_names_at(&admin).contains(&name));
        name
    };
    assert!(
        !test_database_names_at(&admin).contains(&name),
        "dropped with its guard"
    );

    let failed = std::thread::spawn(|| {
        let db = fresh_pg_database("failing");
        let name = db.rsplit('/').next().unwrap().to_string();
        std::panic::panic_any(name);
    })
    .join()
    .expect_err("the test body panics");
    let failed = failed.downcast::<String>().unwrap();
    assert!(
        !test_database_names_at(&admin).contains(&*failed),
        "dropped on unwind"
    );

    // A name whose pid no process has (above the kernel's pid limit).
    let orphan = "harvester_orphan_2147483000_0";
    execute_sql(&admin, &format!("CREATE DATABASE {orphan}"));
    drop_databases_of_dead_runs(&admin);
    let left = test_database_names_at(&admin);
    assert!(!left.iter().any(|n| n == orphan), "{left:?}");
}
