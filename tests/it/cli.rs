//! The `harvest` command as a scheduler sees it: exit codes, one-line errors, the
//! failure recorded in the catalog, directory mode, and crashes at any moment.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;
use harvester::catalog::{Catalog, FileStatus};
use polars::prelude::*;

fn small_log(path: &Path, id: u64) {
    let mut log = LogBuilder::default();
    let enc = clock(T0, 1.0, 12, 0);
    for field in ["x", "y", "z"] {
        log.channel(id, 1, field, &enc, |t| t * 5.0);
    }
    log.write_parquet(path);
}

fn catalog_statuses(work: &Workdir) -> Vec<(String, String, Option<String>)> {
    let url = format!("sqlite://{}", work.out().join("catalog.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Catalog::open(&url).await.unwrap();
        let mut v: Vec<_> = c
            .list(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.source_path, f.status.name().to_string(), f.last_error))
            .collect();
        v.sort();
        v
    })
}

#[test]
fn usage_errors_exit_64() {
    let work = Workdir::new();
    for args in [
        vec!["--jobs", "0", "x.parquet"],
        vec!["--max-gap", "-1", "x.parquet"],
        vec!["--shard", "4/4", "x"],
        vec!["--compression", "zip", "x.parquet"],
        vec!["--compression", "zstd:23", "x.parquet"],
        vec![],
        vec!["--watch"],
        vec!["--watch", "--reharvest-outdated"],
    ] {
        let out = work.harvest(&args);
        assert_eq!(code(&out), 64, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
    let help = work.harvest(&["--help"]);
    assert_eq!(code(&help), 0);
}

#[test]
fn every_codec_writes_the_same_tables() {
    let source = Workdir::new();
    let input = source.input().join("shift.parquet");
    small_log(&input, 7);
    let table = |work: &Workdir| {
        let dir = work.only_output();
        let path = run_table_file(&dir, "7");
        let frame = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        (report(&dir)["compression"].clone(), frame, size)
    };

    let plain = Workdir::new();
    let out = plain.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (codec, expected, plain_size) = table(&plain);
    assert_eq!(codec, "none");
    assert!(expected.height() > 50);

    for (arg, name) in [
        ("snappy", "snappy"),
        ("lz4", "lz4"),
        ("zstd", "zstd:3"),
        ("zstd:19", "zstd:19"),
    ] {
        let work = Workdir::new();
        let out = work.harvest(&["--compression", arg, input.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{arg}: {}", stderr(&out));
        let (codec, frame, size) = table(&work);
        assert_eq!(codec, name);
        assert!(frame.equals_missing(&expected), "{arg}: the table differs");
        // A straight line at constant speed compresses well under every codec.
        assert!(size < plain_size, "{arg}: {size} >= {plain_size}");
    }
}

#[test]
fn bad_files_fail_with_one_line_and_are_recorded() {
    let work = Workdir::new();
    let input = work.input();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.parquet", vec![], "empty file"),
        (
            "random.parquet",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "not a Parquet file",
        ),
        (
            "header_only.csv",
            b"time,value,field,robot_id,run_uuid,sensor_type\n".to_vec(),
            "no rows",
        ),
        (
            "no_time.csv",
            b"value,field,robot_id,run_uuid,sensor_type\n1,x,1,5,encoder\n".to_vec(),
            "missing column `time`",
        ),
        (
            "all_bad.csv",
            b"time,value,field,robot_id,run_uuid,sensor_type\nnope,1,x,1,5,encoder\n".to_vec(),
            "no valid readings",
        ),
    ];
    for (name, bytes, _) in &cases {
        write_at_rest(&input.join(name), bytes);
    }
    for (name, _, expected) in &cases {
        let path = input.join(name);
        let out = work.harvest(&[path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), 65, "{name}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(
            lines[0].contains(name) && lines[0].contains(expected),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let statuses = catalog_statuses(&work);
    assert_eq!(statuses.len(), cases.len());
    assert!(
        statuses
            .iter()
            .all(|(_, s, e)| s == "failed" && e.is_some()),
        "{statuses:?}"
    );
    // No partial output anywhere.
    let leftovers: Vec<_> = std::fs::read_dir(work.out())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A failed file is not retried unless asked.
    let again = work.harvest(&[input.join("empty.parquet").to_str().unwrap()]);
    assert_eq!(code(&again), 65);
    assert!(stderr(&again).contains("--retry-failed"));
}

#[test]
fn directory_mode_harvests_good_fails_bad_ignores_temporary() {
    let work = Workdir::new();
    let input = work.input();
    small_log(&input.join("good1.parquet"), 1);
    small_log(&input.join("good2.parquet"), 2);
    std::fs::write(input.join("bad.parquet"), b"this is not parquet").unwrap();
    for temp in [
        ".hidden.parquet",
        "copying.parquet.part",
        "x.parquet.tmp",
        "y.csv~",
        "notes.txt",
    ] {
        std::fs::write(input.join(temp), b"garbage").unwrap();
    }
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 65, "some failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("2 harvested, 0 skipped, 1 failed"),
        "{}",
        stderr(&out)
    );
    let statuses = catalog_statuses(&work);
    let names: Vec<(String, String)> = statuses
        .iter()
        .map(|(p, s, _)| {
            (
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                s.clone(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("bad.parquet".into(), "failed".into()),
            ("good1.parquet".into(), "harvested".into()),
            ("good2.parquet".into(), "harvested".into())
        ]
    );
    // Rerun: nothing new, so nothing failed in this run: the bad one is reported
    // as failed before, and the rerun settles (exit 0), also in JSON.
    let again = work.harvest(&[input.to_str().unwrap(), "--log-format", "json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let summary = stderr(&again)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("summary"))
        })
        .expect("a summary line");
    assert_eq!(
        (
            &summary["harvested"],
            &summary["skipped"],
            &summary["failed"],
            &summary["failed_before"]
        ),
        (&0.into(), &2.into(), &0.into(), &1.into()),
        "{summary}"
    );
    assert!(
        !stderr(&again).contains("\"level\":\"ERROR\""),
        "a known bad file is a warning: {}",
        stderr(&again)
    );
    // The same bad bytes at a new path: known, still settled.
    std::fs::copy(input.join("bad.parquet"), input.join("bad-copy.parquet")).unwrap();
    let again = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("0 harvested, 2 skipped, 0 failed, 2 failed before"),
        "{}",
        stderr(&again)
    );
    // Named by itself, the caller asked about that file: 65.
    let named = work.harvest(&[input.join("bad.parquet").to_str().unwrap()]);
    assert_eq!(code(&named), 65, "{}", stderr(&named));
    // A bad source that changes and fails again is news: 65.
    std::fs::write(input.join("bad.parquet"), b"still not parquet").unwrap();
    let changed = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&changed), 65, "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("0 harvested, 2 skipped, 1 failed, 1 failed before"),
        "{}",
        stderr(&changed)
    );
}

#[test]
fn shards_split_a_directory() {
    let work = Workdir::new();
    let input = work.input();
    for i in 0..12 {
        small_log(&input.join(format!("l{i}.parquet")), i);
    }
    let mut total = 0;
    for shard in ["0/3", "1/3", "2/3"] {
        let out = work.harvest(&[input.to_str().unwrap(), "--shard", shard]);
        assert_eq!(code(&out), 0);
        let err = stderr(&out);
        assert!(err.contains(", 0 skipped"), "disjoint: {err}");
        total += err.lines().filter(|l| l.contains("harvested /")).count();
    }
    assert_eq!(total, 12, "the shards cover the directory");
}

#[test]
fn a_crash_at_any_moment_leaves_no_partial_output_and_a_consistent_catalog() {
    let work = Workdir::new();
    let input = work.input().join("shift.parquet");
    let mut log = harvester_generator::generate(&harvester_generator::GeneratorConfig {
        seed: 9,
        rows: 600_000,
        run_uuid_type: harvester_generator::RunUuidType::UInt64,
        quirks: true,
        ..Default::default()
    });
    harvester_generator::write_parquet(&mut log.frame, &input).unwrap();

    let reference = Workdir::new();
    let out = reference.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = snapshot(&reference.only_output());
    let expected_dataset = dataset_snapshot(&reference.out());
    assert!(!expected_dataset.is_empty());

    // 20 SIGKILLs spread over the whole harvest (start-up, load, runs, writing,
    // renaming, catalog update), each followed by a look at what is visible.
    for trial in 0..20u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harvest"))
            .arg(&input)
            .args(["--out", work.out().to_str().unwrap(), "--force"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + trial * 45));
        let _ = child.kill();
        child.wait().unwrap();
        for dir in output_dirs_in(&work.out()) {
            assert_eq!(
                snapshot(&dir),
                expected,
                "trial {trial}: a visible output is complete"
            );
        }
        for file in dataset_snapshot(&work.out()) {
            assert!(
                expected_dataset.contains(&file),
                "trial {trial}: a visible dataset file is complete: {}",
                file.0
            );
        }
        for (_, status, _) in catalog_statuses(&work) {
            assert!(
                status == "claimed" || status == "harvested",
                "trial {trial}: {status}"
            );
        }
    }
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = work.harvest(&[input.to_str().unwrap(), "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        snapshot(&work.only_output()),
        expected,
        "a rerun gives the full result"
    );
    assert_eq!(dataset_snapshot(&work.out()), expected_dataset);
    let statuses = catalog_statuses(&work);
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].1, "harvested");
    let hidden: Vec<_> = std::fs::read_dir(work.out())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        hidden.is_empty(),
        "leftovers of killed writers are cleaned: {hidden:?}"
    );
}

#[test]
fn a_full_disk_is_a_clear_retryable_error_with_no_partial_output() {
    let work = Workdir::new();
    let input = work.input().join("shift.parquet");
    let mut log = harvester_generator::generate(&harvester_generator::GeneratorConfig {
        seed: 2,
        rows: 300_000,
        run_uuid_type: harvester_generator::RunUuidType::UInt64,
        quirks: false,
        ..Default::default()
    });
    harvester_generator::write_parquet(&mut log.frame, &input).unwrap();
    let small = work.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a 1 MiB tmpfs (needs root, as in CI)"
    );
    let catalog = format!("sqlite://{}", work.path("catalog.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .arg(&input)
        .args(["--out", small.to_str().unwrap(), "--catalog", &catalog])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let listing: Vec<String> = std::fs::read_dir(&small)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    Command::new("umount").arg(&small).status().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("ERROR")).count(),
        1,
        "{err}"
    );
    assert!(listing.is_empty(), "no partial output: {listing:?}");
}

/// Every output file's name and bytes (report.json without its timing fields).
/// The files of an output directory (report.json without its timings).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for name in files_below(dir) {
        let mut bytes = std::fs::read(dir.join(&name)).unwrap();
        if name == "report.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            for k in ["started_at", "finished_at", "stages"] {
                v.as_object_mut().unwrap().remove(k);
            }
            bytes = serde_json::to_vec(&v).unwrap();
        }
        files.push((name, bytes));
    }
    files
}

/// The published files of the dataset under `out`, with their bytes.
fn dataset_snapshot(out: &Path) -> Vec<(String, Vec<u8>)> {
    let dataset = out.join("dataset");
    files_below(&dataset)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .map(|name| {
            let bytes = std::fs::read(dataset.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// A bug is not a bad file and not worth retrying: a file that failed with an
/// internal error exits 70 on every trigger, until `--retry-failed` or a harvester
/// of another version; over a directory, 70 outranks a bad file's 65.
#[test]
fn an_internal_failure_exits_70_until_retried_or_a_new_version() {
    use harvester::error::FailureKind;
    let work = Workdir::new();
    let url = fresh_pg_database("internal");
    let (retried, upgraded) = (
        work.input().join("retried.parquet"),
        work.input().join("upgraded.parquet"),
    );
    small_log(&retried, 1);
    small_log(&upgraded, 2);
    for path in [&retried, &upgraded] {
        record_failure(
            &url,
            path,
            FailureKind::Internal,
            "internal error: cannot build the table of run 1: overflow",
        );
    }
    let harvest = |args: &[&str]| {
        let mut all = vec!["--catalog", url.as_str()];
        all.extend_from_slice(args);
        work.harvest(&all)
    };

    for _ in 0..2 {
        let out = harvest(&[retried.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), 70, "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains("retried.parquet"), "{err}");
        assert!(errors[0].contains("internal error"), "{err}");
    }

    // With a bad file beside them, the directory still exits 70.
    std::fs::write(work.input().join("bad.parquet"), b"not parquet").unwrap();
    let out = harvest(&[work.input().to_str().unwrap()]);
    assert_eq!(code(&out), 70, "{}", stderr(&out));
    let out = harvest(&[work.input().join("bad.parquet").to_str().unwrap()]);
    assert_eq!(code(&out), 65, "{}", stderr(&out));

    let out = harvest(&["--retry-failed", retried.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // The same version again: still a known bug. Another version: tried again.
    let out = harvest(&[upgraded.to_str().unwrap()]);
    assert_eq!(code(&out), 70, "{}", stderr(&out));
    execute_sql(
        &url,
        "UPDATE harvest_files SET tool_version = '0.0.1' WHERE status = 'failed'",
    );
    let out = harvest(&[upgraded.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let statuses: Vec<_> = catalog_records(&url)
        .into_iter()
        .map(|r| {
            (
                r.source_path.rsplit('/').next().unwrap().to_string(),
                r.status,
            )
        })
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    for (name, status) in statuses {
        let expected = if name == "bad.parquet" {
            FileStatus::Failed
        } else {
            FileStatus::Harvested
        };
        assert_eq!(status, expected, "{name}");
    }
}

/// Runs `harvest` in `cwd` with exactly `args` (no `--out` added).
fn harvest_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harvest"))
        .current_dir(cwd)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("HARVEST_OUT")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn error_lines(out: &std::process::Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(String::from)
        .collect()
}

#[test]
fn a_missing_file_exits_66_and_a_missing_root_directory_75() {
    let work = Workdir::new();
    let input = work.input();
    let good = input.join("good.parquet");
    small_log(&good, 1);
    let missing = input.join("missing.parquet");
    let (good, missing) = (good.to_str().unwrap(), missing.to_str().unwrap());

    let out = work.harvest(&[missing]);
    assert_eq!(code(&out), 66, "{}", stderr(&out));
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(
        lines[0].contains(missing) && lines[0].contains("no such file"),
        "{lines:?}"
    );
    // Nothing to record: a missing file has no content.
    assert!(catalog_statuses(&work).is_empty());

    // With a good file, the missing one still decides the code.
    let out = work.harvest(&[good, missing]);
    assert_eq!(code(&out), 66, "{}", stderr(&out));
    assert!(stderr(&out).contains("1 harvested"), "{}", stderr(&out));

    // A root directory that is not there (an unmounted share) is worth a retry, and
    // so is a file whose directory is not there; 75 outranks 66.
    let share = work.path("share");
    let share_file = work.path("unmounted/shift.parquet");
    for args in [
        vec![share.to_str().unwrap()],
        vec![share_file.to_str().unwrap()],
        vec![missing, share.to_str().unwrap()],
    ] {
        let out = work.harvest(&args);
        assert_eq!(code(&out), 75, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
    let out = work.harvest(&["--watch", share.to_str().unwrap()]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );
    // --watch on a file is a wrong call, and so on a missing name that is named
    // like one (a missing name otherwise is a directory not there yet).
    let out = work.harvest(&["--watch", good]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    let out = work.harvest(&["--watch", missing]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("named like a log file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_duration_flag_is_finite_and_above_its_minimum() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let log = log.to_str().unwrap();
    for (flag, value) in [
        ("--lease", "1e-9"),
        ("--lease", "0.5"),
        ("--lease", "inf"),
        ("--max-gap", "1e-10"),
        ("--max-gap", "0"),
        ("--max-gap", "NaN"),
        ("--settle", "0"),
        ("--settle", "-2"),
        ("--settle", "1e300"),
    ] {
        let out = work.harvest(&[flag, value, log]);
        let err = stderr(&out);
        assert_eq!(code(&out), 64, "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && !err.contains("panicked"),
            "{flag} {value}: {err}"
        );
    }
    // The documented minimums are accepted.
    let out = work.harvest(&[
        "--lease",
        "1",
        "--max-gap",
        "0.001",
        "--settle",
        "0.001",
        log,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());
    assert_eq!(report["max_gap"].as_f64(), Some(0.001), "{report}");
}

#[test]
fn usage_errors_are_one_json_line_with_log_format_json() {
    let work = Workdir::new();
    let file = work.input().join("a.parquet");
    small_log(&file, 1);
    let missing = work.path("x.csv");
    let (file, missing) = (file.to_str().unwrap(), missing.to_str().unwrap());
    for args in [
        vec!["--log-format", "json", "--jobs", "0", "x.parquet"],
        vec!["--log-format=json", "--no-such-flag"],
        vec!["--lease", "1e-9", "--log-format", "json", "x.parquet"],
        vec!["--log-format", "json", "--watch"],
        // Errors of the harvester's own checks, past the parser.
        vec!["--log-format", "json", "--watch", file],
        vec!["--log-format", "json", "--watch", missing],
        vec!["--log-format", "json", "s3://AKIAKEY:s3cret@bucket/in/"],
    ] {
        let out = work.harvest(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), 64, "{args:?}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        let event: serde_json::Value = serde_json::from_str(lines[0]).expect(lines[0]);
        assert_eq!(event["level"], "ERROR", "{event}");
        assert_eq!(event["exit_code"], 64, "{event}");
        assert!(!event["message"].as_str().unwrap().is_empty(), "{event}");
    }
    // Text stays the default.
    let out = work.harvest(&["--jobs", "0", "x.parquet"]);
    assert!(
        serde_json::from_str::<serde_json::Value>(stderr(&out).lines().next().unwrap()).is_err()
    );
}

#[test]
fn an_out_that_is_a_file_is_a_usage_error() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let file = work.path("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    for program in [env!("CARGO_BIN_EXE_harvest"), env!("CARGO_BIN_EXE_view")] {
        let args: Vec<&str> = if program.ends_with("view") {
            vec!["--list", "--out", file.to_str().unwrap()]
        } else {
            vec![log.to_str().unwrap(), "--out", file.to_str().unwrap()]
        };
        let out = Command::new(program)
            .args(&args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(code(&out), 64, "{program}: {}", stderr(&out));
        assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_relative_out_with_url_characters_is_the_directory_it_names() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    for name in ["out ?x=1", "out#frag", "out%20pct", "a b/c?d#e%f"] {
        let out = harvest_in(work.dir.path(), &[log.to_str().unwrap(), "--out", name]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let dir = work.dir.path().join(name);
        assert!(
            dir.join("catalog.db").is_file(),
            "{name}: no catalog in {dir:?}"
        );
        let view = Command::new(env!("CARGO_BIN_EXE_view"))
            .current_dir(work.dir.path())
            .args(["--list", "--out", name, "--format", "json"])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(code(&view), 0, "{name}: {}", stderr(&view));
        assert!(
            String::from_utf8_lossy(&view.stdout).contains("harvested"),
            "{name}"
        );
    }
    // Nothing was created under a name cut at `?`, `#` or decoded from `%20`.
    let mut names: Vec<String> = std::fs::read_dir(work.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a b", "in", "out ?x=1", "out#frag", "out%20pct"]);
}

#[test]
fn a_parquet_file_still_being_written_is_retried_and_an_old_truncated_one_is_bad() {
    let work = Workdir::new();
    let whole = work.path("whole.parquet");
    small_log(&whole, 1);
    let bytes = std::fs::read(&whole).unwrap();
    let copy = work.input().join("copy.parquet");
    std::fs::write(&copy, &bytes[..bytes.len() / 2]).unwrap();
    let copy_arg = copy.to_str().unwrap();

    // Modified just now and without its footer: a copy in progress.
    let out = work.harvest(&[copy_arg]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("still being written"), "{err}");
    assert_eq!(error_lines(&out).len(), 1, "{err}");
    let statuses = catalog_statuses(&work);
    assert_eq!(statuses.len(), 1, "{statuses:?}");

    // The same bytes at rest: truncated for good, a bad file, without --retry-failed.
    write_at_rest(&copy, &bytes[..bytes.len() / 2]);
    let out = work.harvest(&[copy_arg]);
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));

    // A short --settle makes a recent file count as at rest.
    let other = work.input().join("other.parquet");
    std::fs::write(&other, &bytes[..bytes.len() - 3]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let out = work.harvest(&["--settle", "0.01", other.to_str().unwrap()]);
    assert_eq!(code(&out), 65, "{}", stderr(&out));

    // Once complete, it is harvested.
    std::fs::write(&copy, &bytes).unwrap();
    let out = work.harvest(&[copy_arg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The bytes of [`small_log`] `id` written as CSV.
fn small_log_csv(work: &Workdir, id: u64) -> Vec<u8> {
    let whole = work.path("whole.parquet");
    small_log(&whole, id);
    let mut frame = ParquetReader::new(std::fs::File::open(&whole).unwrap())
        .finish()
        .unwrap();
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut frame).unwrap();
    csv
}

#[test]
fn a_csv_without_its_last_line_end_is_retried_until_at_rest_then_harvested_with_a_warning() {
    let work = Workdir::new();
    let csv = small_log_csv(&work, 1);
    assert!(csv.ends_with(b"\n"));
    // Cut in the middle of a line, as a copy in progress is.
    let cut = csv[..csv.len() - 1]
        .rsplitn(2, |&b| b == b'\n')
        .last()
        .unwrap()
        .len()
        + 20;
    let copy = work.input().join("copy.csv");
    std::fs::write(&copy, &csv[..cut]).unwrap();
    let copy_arg = copy.to_str().unwrap();

    // Modified just now: a copy in progress, whatever its first lines hold.
    let out = work.harvest(&[copy_arg]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("still being written"), "{err}");
    assert!(!work.out().join("copy").exists());

    // Complete, it is harvested.
    std::fs::write(&copy, &csv).unwrap();
    let out = work.harvest(&[copy_arg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Cut and at rest for ten times --settle: harvested as it is, with a warning.
    let rest = work.input().join("rest.csv");
    std::fs::write(&rest, &csv[..cut]).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let out = work.harvest(&["--settle", "0.01", rest.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = std::fs::read_dir(work.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("rest-")
        })
        .expect("the output of rest.csv");
    let warnings = report(&dir)["warnings"].to_string();
    assert!(
        warnings.contains("does not end with a line end"),
        "{warnings}"
    );
}

#[test]
fn a_csv_that_grew_after_its_harvest_is_a_new_revision_naming_the_one_it_supersedes() {
    let work = Workdir::new();
    let csv = small_log_csv(&work, 2);
    // The first half of the lines, complete: a log still being appended to.
    let lines: Vec<usize> = csv
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let half = lines[lines.len() / 2];
    let log = work.input().join("appended.csv");
    std::fs::write(&log, &csv[..half]).unwrap();
    let log_arg = log.to_str().unwrap();
    let out = work.harvest(&[log_arg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = work.only_output();
    let first_report = report(&first);
    assert!(first_report.get("supersedes").is_none(), "{first_report}");

    std::fs::write(&log, &csv).unwrap();
    let out = work.harvest(&[log_arg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = output_dirs_in(&work.out())
        .into_iter()
        .find(|p| *p != first)
        .expect("the second revision's output");
    let second_report = report(&second);
    assert_eq!(
        second_report["supersedes"],
        serde_json::json!({
            "content_hash": first_report["content_hash"],
            "size_bytes": half,
            "reason": "grew",
        })
    );
    assert!(second_report["rows"]["read"].as_u64() > first_report["rows"]["read"].as_u64());

    // Bytes that differ within the first revision are no growth: they supersede the
    // path's content all the same, as changed.
    let mut other = csv.clone();
    other[half - 5] = b'9';
    std::fs::write(&log, &other).unwrap();
    let out = work.harvest(&[log_arg]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("harvested"), "{}", stderr(&out));
    let third = output_dirs_in(&work.out())
        .into_iter()
        .find(|p| *p != first && *p != second)
        .expect("the third revision's output");
    assert_eq!(
        report(&third)["supersedes"],
        serde_json::json!({
            "content_hash": second_report["content_hash"],
            "size_bytes": csv.len(),
            "reason": "changed",
        })
    );
}

/// `--threads` past four per processor available is cut to that, with one warning,
/// so one manifest serves small and large nodes; `POLARS_MAX_THREADS` is taken the
/// same way, and one that is no number of threads is a usage error, as a bad
/// `--threads` is (polars would print a warning of its own and ignore it).
#[test]
fn threads_are_cut_to_four_per_processor_and_polars_max_threads_is_checked() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let log = log.to_str().unwrap();
    let harvest = |args: &[&str], variable: Option<&str>| {
        let mut cmd = work.harvest_command(args);
        match variable {
            Some(value) => cmd.env("POLARS_MAX_THREADS", value),
            None => cmd.env_remove("POLARS_MAX_THREADS"),
        };
        cmd.output().unwrap()
    };
    let warnings = |out: &std::process::Output| -> Vec<String> {
        stderr(out)
            .lines()
            .filter(|l| l.contains("WARN"))
            .map(String::from)
            .collect()
    };
    let most = 4 * std::thread::available_parallelism().unwrap().get();

    let out = harvest(&["--threads", "65535", log], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cut = warnings(&out);
    assert_eq!(cut.len(), 1, "{}", stderr(&out));
    assert!(
        cut[0].contains("--threads 65535") && cut[0].ends_with(&format!("using {most}")),
        "{cut:?}"
    );
    let out = harvest(&["--force", log], Some("65535"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cut = warnings(&out);
    assert_eq!(cut.len(), 1, "{}", stderr(&out));
    assert!(cut[0].contains("POLARS_MAX_THREADS 65535"), "{cut:?}");
    // Within the bound nothing is said; the flag wins over the variable.
    let out = harvest(&["--force", "--threads", "1", log], Some("abc"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(warnings(&out).is_empty(), "{}", stderr(&out));

    for bad in ["abc", "0", "65536", "2.5", ""] {
        let out = harvest(&["--log-format", "json", log], Some(bad));
        let err = stderr(&out);
        assert_eq!(code(&out), 64, "{bad}: {err}");
        assert!(!err.contains("UserWarning"), "{bad}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{bad}: {err}");
        let event: serde_json::Value = serde_json::from_str(lines[0]).expect(lines[0]);
        assert_eq!(event["exit_code"], 64, "{event}");
        assert!(
            event["message"]
                .as_str()
                .unwrap()
                .starts_with("POLARS_MAX_THREADS="),
            "{event}"
        );
    }
    // view reads run tables with polars too, and checks the variable the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_view"))
        .args(["--list", "--out", work.out().to_str().unwrap()])
        .env("POLARS_MAX_THREADS", "abc")
        .output()
        .unwrap();
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("POLARS_MAX_THREADS="),
        "{}",
        stderr(&out)
    );
}

/// An output directory that cannot be written (read-only media, another user's
/// directory), holding a valid catalog: `harvest` says so and exits 73, writing
/// nothing; `view` reads it, changing nothing, whether the catalog's journal files
/// are there or not. In a writable directory `view` leaves no migration lock.
#[test]
fn a_read_only_out_is_73_for_harvest_and_readable_by_view() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let (log, out_dir) = (log.to_str().unwrap(), work.out());
    let out_arg = out_dir.to_str().unwrap();
    let out = work.harvest(&[log]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let output = work.only_output();
    let run = |program: &str, args: &[&str]| {
        held_to_file_modes(program)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let view_both = |context: &str| {
        let list = run(
            env!("CARGO_BIN_EXE_view"),
            &["--list", "--out", out_arg, "--format", "json"],
        );
        assert_eq!(code(&list), 0, "{context}: {}", stderr(&list));
        assert!(stdout(&list).contains("harvested"), "{context}");
        let one = run(
            env!("CARGO_BIN_EXE_view"),
            &["--out", out_arg, output.to_str().unwrap()],
        );
        assert_eq!(code(&one), 0, "{context}: {}", stderr(&one));
    };

    let lock = out_dir.join("catalog.db.migrate-lock");
    std::fs::remove_file(&lock).unwrap();
    view_both("writable");
    assert!(!lock.exists(), "view took the migration lock");

    // Read-only, with the journal files a reader leaves, then without any.
    for journal in [true, false] {
        if !journal {
            for suffix in ["-shm", "-wal"] {
                let _ = std::fs::remove_file(out_dir.join(format!("catalog.db{suffix}")));
            }
        }
        let before = snapshot(&out_dir);
        chmod_tree(&out_dir, 0o444);
        view_both(&format!("read-only, journal files: {journal}"));
        let harvest = run(
            env!("CARGO_BIN_EXE_harvest"),
            &[log, "--out", out_arg, "--force"],
        );
        assert_eq!(code(&harvest), 73, "{}", stderr(&harvest));
        let lines = error_lines(&harvest);
        assert_eq!(lines.len(), 1, "{}", stderr(&harvest));
        assert!(lines[0].contains("read-only"), "{lines:?}");
        let sub = out_dir.join("sub");
        let harvest = run(
            env!("CARGO_BIN_EXE_harvest"),
            &[log, "--out", sub.to_str().unwrap()],
        );
        assert_eq!(code(&harvest), 73, "{}", stderr(&harvest));
        assert!(
            stderr(&harvest).contains("cannot be created"),
            "{}",
            stderr(&harvest)
        );
        chmod_tree(&out_dir, 0o644);
        assert_eq!(snapshot(&out_dir), before, "nothing written");
    }
}

/// `view` reads a catalog as it is: one an older harvester made is refused (78)
/// and left as it was, not migrated; `harvest` upgrades it.
fn view_never_migrates(backend: Backend) {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let url = backend.url(&work, "readonly");
    let out = work.harvest(&[log.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let latest = "(SELECT MAX(version) FROM _sqlx_migrations)";
    let newest = query_sql(&url, &format!("SELECT CAST({latest} AS TEXT)"));
    // The newest migration's record is set aside, not lost: a migration runs once,
    // and running it again over the schema it made (a column it adds) fails.
    execute_sql(&url, "DROP TABLE IF EXISTS newest_migration");
    execute_sql(
        &url,
        &format!(
            "CREATE TABLE newest_migration AS SELECT * FROM _sqlx_migrations WHERE version = {latest}"
        ),
    );
    execute_sql(
        &url,
        &format!("DELETE FROM _sqlx_migrations WHERE version = {latest}"),
    );
    let view = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_view"))
            .args(["--list", "--out", work.out().to_str().unwrap()])
            .args(["--catalog", url])
            .output()
            .unwrap()
    };
    let refused = view(&url);
    assert_eq!(code(&refused), 78, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("older harvester"),
        "{}",
        stderr(&refused)
    );
    let versions = format!("SELECT CAST({latest} AS TEXT)");
    assert_ne!(query_sql(&url, &versions), newest, "view migrated");

    execute_sql(
        &url,
        "INSERT INTO _sqlx_migrations SELECT * FROM newest_migration",
    );
    execute_sql(&url, "DROP TABLE newest_migration");
    let out = work.harvest(&[log.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(query_sql(&url, &versions), newest);
    assert_eq!(code(&view(&url)), 0);
}

on_both_backends!(view_reads_without_migrating, view_never_migrates);

/// A folder name longer than file systems take is a mistake in the call (64), not
/// a failure worth a retry.
#[test]
fn an_out_with_a_name_too_long_is_a_usage_error() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let out = work.path(&format!("{}/out", "n".repeat(256)));
    let run = harvest_in(
        work.dir.path(),
        &[log.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    assert_eq!(code(&run), 64, "{}", stderr(&run));
    assert!(stderr(&run).contains("255 bytes"), "{}", stderr(&run));
}

/// The `--max-gap` warning names the channels it is about, with their median
/// intervals, and gives the gap as it was given.
#[test]
fn the_max_gap_warning_names_its_channels() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    small_log(&log, 1);
    let out = work.harvest(&["--max-gap", "0.0115", log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());
    let warning = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("--max-gap"))
        .expect("a --max-gap warning");
    assert!(
        warning.starts_with("3 channel(s)") && warning.contains("(0.0115 s)"),
        "{warning}"
    );
    assert!(
        warning.contains("x_1 (0.012 s), y_1 (0.012 s), z_1 (0.012 s)"),
        "{warning}"
    );
}
