//! The `harvest` command as a scheduler sees it: exit codes, one-line errors, the
//! failure recorded in the catalog, directory mode, and crashes at any moment.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use harvester::catalog::Catalog;
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
            .map(|f| (f.source_path, f.status, f.last_error))
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
        let path = dir.join("runs/7.parquet");
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
        std::fs::write(input.join(name), bytes).unwrap();
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
    // Rerun: nothing new, the bad one still reported.
    let again = work.harvest(&[input.to_str().unwrap()]);
    assert!(
        stderr(&again).contains("0 harvested, 2 skipped, 1 failed"),
        "{}",
        stderr(&again)
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
    let mut log = harvester::generator::generate(&harvester::generator::GeneratorConfig {
        seed: 9,
        rows: 600_000,
        run_uuid_type: harvester::generator::RunUuidType::UInt64,
        quirks: true,
    });
    harvester::generator::write_parquet(&mut log.frame, &input).unwrap();

    let reference = Workdir::new();
    let out = reference.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = snapshot(&reference.only_output());

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
        for entry in std::fs::read_dir(work.out())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && !name.starts_with('.') {
                assert_eq!(
                    snapshot(&entry.path()),
                    expected,
                    "trial {trial}: a visible output is complete"
                );
            }
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
    let mut log = harvester::generator::generate(&harvester::generator::GeneratorConfig {
        seed: 2,
        rows: 300_000,
        run_uuid_type: harvester::generator::RunUuidType::UInt64,
        quirks: false,
    });
    harvester::generator::write_parquet(&mut log.frame, &input).unwrap();
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
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("runs")] {
        for e in std::fs::read_dir(&sub).unwrap().flatten() {
            if e.path().is_file() {
                let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                let mut bytes = std::fs::read(e.path()).unwrap();
                if name == "report.json" {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    for k in ["started_at", "finished_at", "stages"] {
                        v.as_object_mut().unwrap().remove(k);
                    }
                    bytes = serde_json::to_vec(&v).unwrap();
                }
                files.push((name, bytes));
            }
        }
    }
    files.sort();
    files
}
