//! Realistic generated logs, at the size of the larger production sample: every row
//! accounted for, to the row.

use std::collections::BTreeMap;

use crate::util::*;
use harvester::time::format_utc;
use harvester_generator::{generate, write_csv, write_parquet, GeneratorConfig, RunUuidType};

fn check(rows: usize, run_uuid_type: RunUuidType, csv: bool) {
    let work = Workdir::new();
    let config = GeneratorConfig {
        seed: 3,
        rows,
        run_uuid_type,
        quirks: true,
        ..Default::default()
    };
    let mut log = generate(&config);
    let input = work
        .input()
        .join(if csv { "shift.csv" } else { "shift.parquet" });
    if csv {
        write_csv(&mut log.frame, &input).unwrap();
    } else {
        write_parquet(&mut log.frame, &input).unwrap();
    }
    let whole_seconds = log
        .frame
        .column("time")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .filter(|t| t.len() == 20 && t.ends_with('Z'))
        .count();
    assert!(whole_seconds > 10, "the log has whole-second readings");

    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());

    // Every row read is accounted for, and only the injected rows are dropped:
    // in particular no whole-second reading is lost.
    let read = report["rows"]["read"].as_u64().unwrap();
    let kept = report["rows"]["kept"].as_u64().unwrap();
    assert_eq!(read, log.frame.height() as u64);
    let dropped = nonzero_drops(&report["rows"]);
    assert_eq!(read, kept + dropped.values().sum::<u64>());
    let injected: BTreeMap<String, u64> = log
        .injected
        .iter()
        .map(|(k, v)| (k.name().to_string(), *v as u64))
        .filter(|(_, v)| *v > 0)
        .collect();
    assert_eq!(dropped, injected);

    let warnings = report["warnings"].to_string();
    assert_eq!(
        warnings.contains("float64"),
        matches!(run_uuid_type, RunUuidType::Float64),
        "{warnings}"
    );

    // Runs keyed by the exact stored id, with their true start and stop.
    let entries = report["runs"].as_array().unwrap();
    for run in &log.runs {
        let id = run.run_uuid.to_string();
        let mine: Vec<&serde_json::Value> = entries
            .iter()
            .filter(|e| e["run_uuid"] == id.as_str())
            .collect();
        assert!(!mine.is_empty(), "run {id} is reported");
        let start = mine
            .iter()
            .map(|e| e["start"].as_str().unwrap())
            .min()
            .unwrap();
        let stop = mine
            .iter()
            .map(|e| e["stop"].as_str().unwrap())
            .max()
            .unwrap();
        assert_eq!(start, format_utc(run.start_ns), "run {id} start");
        assert_eq!(stop, format_utc(run.stop_ns), "run {id} stop");
        let longest = mine
            .iter()
            .map(|e| e["runtime_s"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!(longest <= (run.stop_ns - run.start_ns) as f64 * 1e-9 + 1e-9);

        let coverage = report["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["run_uuid"] == id.as_str())
            .unwrap();
        let present: Vec<String> = coverage["channels"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut expected: Vec<String> = run
            .channels
            .iter()
            .map(|(r, f)| format!("{f}_{r}"))
            .collect();
        expected.sort();
        assert_eq!(present, expected, "run {id} channels");
        assert_eq!(
            coverage["missing"].as_array().unwrap().len(),
            12 - expected.len()
        );
    }
    assert_eq!(report["coverage"].as_array().unwrap().len(), log.runs.len());
}

#[test]
fn production_sized_parquet_with_float_run_ids() {
    check(1_546_591, RunUuidType::Float64, false);
}

#[test]
fn csv_with_string_run_ids_above_2_pow_63() {
    check(60_000, RunUuidType::String, true);
}

#[test]
fn parquet_with_unsigned_run_ids() {
    check(60_000, RunUuidType::UInt64, false);
}
