//! `--encoding split`: float columns as BYTE_STREAM_SPLIT pages and instants as
//! DELTA_BINARY_PACKED ones under every codec, read back value for value by DuckDB,
//! polars (Python) and the `view` binary (polars in Rust), the same as the default
//! PLAIN outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;
use harvester::model::options::Encoding;
use harvester::model::report::Report;

/// A generated log with several runs, partial channels and injected bad rows, so
/// that the tables hold nulls and the statistics missing quantities.
fn generated_log(work: &Workdir) -> PathBuf {
    let input = work.input().join("shift.parquet");
    let mut log = harvester_generator::generate(&harvester_generator::GeneratorConfig {
        seed: 24,
        rows: 60_000,
        run_uuid_type: harvester_generator::RunUuidType::UInt64,
        quirks: true,
        ..Default::default()
    });
    harvester_generator::write_parquet(&mut log.frame, &input).unwrap();
    input
}

fn harvested(input: &Path, args: &[&str]) -> Workdir {
    let work = Workdir::new();
    let mut all = args.to_vec();
    all.push(input.to_str().unwrap());
    let out = work.harvest(&all);
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    work
}

/// What `compare_encodings.py` read: per Parquet file of `actual`, its shape and
/// its float column chunks' encodings and codecs; it fails unless DuckDB and polars
/// each read every value of `actual` as they read it in `expected`.
fn compare(expected: &Path, actual: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/compare_encodings.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(expected)
        .arg(actual)
        .output()
        .expect("python3 runs (with duckdb and polars)");
    assert!(
        output.status.success(),
        "DuckDB or polars read the outputs differently: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// `view --run RUN --format csv` of each run of the output directory `dir`.
fn viewed_runs(out: &Path, dir: &Path) -> Vec<String> {
    let runs = report(dir)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_uuid"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>();
    runs.iter()
        .map(|run| {
            let output = Command::new(env!("CARGO_BIN_EXE_view"))
                .arg("--out")
                .arg(out)
                .arg(dir)
                .args(["--run", run, "--format", "csv"])
                .env_remove("DATABASE_URL")
                .env_remove("HARVEST_OUT")
                .env("NO_COLOR", "1")
                .output()
                .expect("run view");
            assert_eq!(code(&output), 0, "view --run {run}: {}", stderr(&output));
            stdout(&output)
        })
        .collect()
}

#[test]
fn split_pages_read_back_as_plain_ones_under_every_codec() {
    let source = Workdir::new();
    let input = generated_log(&source);
    let plain = harvested(&input, &[]);
    let plain_dir = plain.only_output();
    assert_eq!(report(&plain_dir)["encoding"], "plain");
    let plain_views = viewed_runs(&plain.out(), &plain_dir);
    assert!(plain_views.len() > 1, "{plain_views:?}");
    assert!(plain_views.iter().all(|csv| csv.lines().count() > 1));

    // The default outputs are PLAIN, and hold nulls to place right.
    let summary = compare(&plain.out(), &plain.out());
    let files = summary.as_object().unwrap();
    assert!(files.keys().any(|f| f.contains("/samples/")), "{files:?}");
    assert!(files.keys().any(|f| f.contains("/run_stats/")), "{files:?}");
    assert!(
        files.keys().any(|f| f.ends_with("/run_stats.parquet")),
        "{files:?}"
    );
    let nulls: u64 = files.values().map(|f| f["nulls"].as_u64().unwrap()).sum();
    assert!(nulls > 0, "no nulls to place: {summary}");
    for (file, f) in files {
        assert_eq!(
            f["chunks"],
            serde_json::json!([
                ["float", "PLAIN, RLE", "UNCOMPRESSED"],
                ["instant", "PLAIN, RLE", "UNCOMPRESSED"]
            ]),
            "{file}"
        );
    }

    for (codec, parquet_codec) in [
        ("none", "UNCOMPRESSED"),
        ("snappy", "SNAPPY"),
        ("lz4", "LZ4_RAW"),
        ("zstd:1", "ZSTD"),
    ] {
        let split = harvested(&input, &["--encoding", "split", "--compression", codec]);
        let dir = split.only_output();
        assert_eq!(report(&dir)["encoding"], "split", "{codec}");
        assert_eq!(report(&dir)["compression"], codec, "{codec}");
        let summary = compare(&plain.out(), &split.out());
        assert_eq!(summary.as_object().unwrap().len(), files.len(), "{codec}");
        for (file, f) in summary.as_object().unwrap() {
            assert_eq!(
                f["chunks"],
                serde_json::json!([
                    ["float", "RLE, BYTE_STREAM_SPLIT", parquet_codec],
                    ["instant", "RLE, DELTA_BINARY_PACKED", parquet_codec]
                ]),
                "{codec}: {file}"
            );
        }
        assert_eq!(viewed_runs(&split.out(), &dir), plain_views, "{codec}");
    }
}

#[test]
fn the_encoding_is_chosen_by_flag_or_environment_and_reports_without_it_read_as_plain() {
    let source = Workdir::new();
    let input = source.input().join("small.parquet");
    let mut log = LogBuilder::default();
    for field in ["x", "y", "z"] {
        log.channel(3, 1, field, &clock(T0, 2.0, 12, 2), |t| t * 4.0);
    }
    log.write_parquet(&input);

    let work = Workdir::new();
    let out = work
        .harvest_command(&[input.to_str().unwrap()])
        .env("HARVEST_ENCODING", "split")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut json = report(&work.only_output());
    assert_eq!(json["encoding"], "split");
    let shown = Command::new(env!("CARGO_BIN_EXE_view"))
        .args(["--out", work.out().to_str().unwrap()])
        .arg(work.only_output())
        .output()
        .unwrap();
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    assert!(
        stdout(&shown).contains("none (split pages)"),
        "{}",
        stdout(&shown)
    );
    let read = |json: &serde_json::Value| serde_json::from_value::<Report>(json.clone());
    assert_eq!(read(&json).unwrap().encoding, Encoding::Split);
    json.as_object_mut().unwrap().remove("encoding");
    assert_eq!(read(&json).unwrap().encoding, Encoding::Plain);

    let bad = Workdir::new().harvest(&["--encoding", "delta", input.to_str().unwrap()]);
    assert_eq!(code(&bad), 64, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--encoding"), "{}", stderr(&bad));
}
