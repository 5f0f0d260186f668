//! Keeping the reading the robot made: conflicting duplicates resolved by the
//! channel's path, isolated spikes found and dropped (or kept), and slow logs that
//! get statistics by default.

use std::collections::BTreeSet;

use crate::util::*;
use harvester::time::{format_utc, parse_iso8601};
use harvester_generator::{generate, write_parquet, Cadence, GeneratorConfig, RunUuidType};
use polars::prelude::*;

const RUN: u64 = 7;

/// The values of `column` in a run's wide table, by instant (ns).
fn table_column(dir: &std::path::Path, run: u64, column: &str) -> Vec<(i64, Option<f64>)> {
    let file = std::fs::File::open(run_table_file(dir, &run.to_string())).unwrap();
    let frame = ParquetReader::new(file).finish().unwrap();
    let time = frame.column("time").unwrap().datetime().unwrap().clone();
    let values = frame.column(column).unwrap().f64().unwrap().clone();
    time.physical()
        .iter()
        .zip(values.iter())
        .map(|(t, v)| (t.unwrap(), v))
        .collect()
}

#[test]
fn a_conflicting_copy_written_first_loses_to_the_reading_on_the_path() {
    // x of robot 1 moves at 200 mm/s; at three instants a copy 1 to 4.5 mm off is
    // written before the true reading, and once after it.
    let times = clock(T0, 2.0, 12, 1);
    let truth = |t: i64| 100.0 + 200.0 * (t - T0) as f64 / SECOND as f64;
    let corrupt: [(usize, f64, bool); 4] = [
        (0, 4.5, true),
        (40, -1.0, true),
        (41, 3.0, true),
        (90, 2.5, false),
    ];
    let mut log = LogBuilder::default();
    for (k, &t) in times.iter().enumerate() {
        let copy = corrupt.iter().find(|c| c.0 == k);
        if let Some(&(_, offset, true)) = copy {
            log.push(RUN, 1, "x", t, truth(t) + offset);
        }
        log.push(RUN, 1, "x", t, truth(t));
        if let Some(&(_, offset, false)) = copy {
            log.push(RUN, 1, "x", t, truth(t) + offset);
        }
        log.push(RUN, 1, "y", t, 5.0);
        log.push(RUN, 1, "z", t, 6.0);
    }
    let work = Workdir::new();
    let input = work.input().join("conflicts.parquet");
    log.write_parquet(&input);
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    let report = report(&dir);

    for (t, x) in table_column(&dir, RUN, "x_1") {
        let x = x.expect("x at its own instants");
        assert!(
            (x - truth(t)).abs() < 1e-9,
            "x at {t}: {x} not {}",
            truth(t)
        );
    }
    assert_eq!(report["rows"]["dropped"]["duplicate_conflicting"], 4);
    let x = &report["coverage"][0]["channels"]["x_1"];
    assert_eq!(x["conflicts"], 4);
    assert_eq!(x["largest_conflict_spread"], 4.5);
    assert_eq!(report["coverage"][0]["conflicts"], 4);
    assert_eq!(report["coverage"][0]["channels"]["y_1"]["conflicts"], 0);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("4 instant(s)") && warnings.contains("x_1"),
        "{warnings}"
    );
    // Speed stays the true 200 mm/s: the copies never reach the derivatives.
    let speed = &report["runs"][0]["speed_mm_s"];
    for k in ["min", "max"] {
        let v = speed[k].as_f64().unwrap();
        assert!((v - 200.0).abs() < 1e-6, "speed {k} {v}");
    }
}

#[test]
fn conflicts_in_a_generated_log_do_not_reach_the_statistics() {
    // The generator writes each conflicting copy 1 to 4.5 mm off, anywhere in the
    // file; kept, such a copy gives accelerations of tens of thousands of mm/s².
    let mut log = generate(&GeneratorConfig {
        seed: 11,
        rows: 400_000,
        run_uuid_type: RunUuidType::UInt64,
        quirks: true,
        ..Default::default()
    });
    let work = Workdir::new();
    let input = work.input().join("shift.parquet");
    write_parquet(&mut log.frame, &input).unwrap();
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());
    let injected = log.injected[&harvester::model::readings::DropReason::DuplicateConflicting];
    let conflicts: u64 = report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["conflicts"].as_u64().unwrap())
        .sum();
    // One or two conflicting copies per instant.
    let injected = injected as u64;
    assert!(
        conflicts >= injected.div_ceil(2) && conflicts <= injected,
        "{conflicts} instants for {injected} copies"
    );
    assert_eq!(report["rows"]["dropped"]["duplicate_conflicting"], injected);
    for entry in report["runs"].as_array().unwrap() {
        if let Some(max) = entry["accel_mm_s2"]["max"].as_f64() {
            assert!(max < 5_000.0, "acceleration max {max} mm/s²: {entry}");
        }
    }
    assert_eq!(report["spikes"].as_array().unwrap().len(), 0);
}

/// A generated fast log with spikes written into chosen rows of mid-channel
/// readings: (run key, channel column, instant) of each, and the log file.
fn log_with_spikes(work: &Workdir) -> (BTreeSet<(String, String, String)>, std::path::PathBuf) {
    let mut log = generate(&GeneratorConfig {
        seed: 5,
        rows: 300_000,
        run_uuid_type: RunUuidType::UInt64,
        quirks: false,
        ..Default::default()
    });
    let frame = &log.frame;
    let n = frame.height();
    let text = |name: &str| -> Vec<String> {
        frame
            .column(name)
            .unwrap()
            .cast(&DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    };
    let (time, field, robot, run) = (
        text("time"),
        text("field"),
        text("robot_id"),
        text("run_uuid"),
    );
    let mut values: Vec<f64> = frame
        .column("value")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let same_channel =
        |a: usize, b: usize| field[a] == field[b] && robot[a] == robot[b] && run[a] == run[b];
    let mut expected = BTreeSet::new();
    for k in (1..12).map(|i| i * n / 12) {
        // Rows of one channel are in time order here; skip ends of channels.
        if !(k - 3..=k + 3).all(|j| same_channel(j, k)) {
            continue;
        }
        let force = field[k].starts_with('f');
        values[k] += if force { 150.0 } else { -6.0 };
        let instant = format_utc(parse_iso8601(&time[k]).unwrap());
        expected.insert((
            run[k].clone(),
            format!("{}_{}", field[k], robot[k]),
            instant,
        ));
    }
    assert!(expected.len() >= 8, "{expected:?}");
    log.frame
        .replace("value", Column::new("value".into(), values))
        .unwrap();
    let input = work.input().join("spiky.parquet");
    write_parquet(&mut log.frame, &input).unwrap();
    (expected, input)
}

fn listed_spikes(report: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    report["spikes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["run_uuid"].as_str().unwrap().to_string(),
                s["channel"].as_str().unwrap().to_string(),
                s["time"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn injected_spikes_are_found_exactly_dropped_and_listed() {
    let work = Workdir::new();
    let (expected, input) = log_with_spikes(&work);
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    let report = report(&dir);
    assert_eq!(listed_spikes(&report), expected);
    let rows = &report["rows"];
    assert_eq!(rows["dropped"]["spike"], expected.len() as u64);
    assert_eq!(
        nonzero_drops(rows)
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        vec!["spike"],
        "nothing else is dropped"
    );
    assert_eq!(
        rows["read"].as_u64().unwrap(),
        rows["kept"].as_u64().unwrap() + expected.len() as u64
    );
    for spike in report["spikes"].as_array().unwrap() {
        assert_eq!(spike["dropped"], true);
    }
    // Absent from the wide table: at its instant the channel is interpolated from
    // its neighbours, not the spike's value.
    let (run, channel, instant) = expected.iter().next().unwrap();
    let spike_value = report["spikes"][0]["value"].as_f64().unwrap();
    let at = harvester::time::parse_utc(instant).unwrap();
    let column = table_column(&dir, run.parse().unwrap(), channel);
    let i = column.iter().position(|(t, _)| *t == at).unwrap();
    let (before, here, after) = (column[i - 1].1, column[i].1, column[i + 1].1);
    let here = here.expect("interpolated at the spike's instant");
    assert!(
        (here - spike_value).abs() > 5.0,
        "{here} vs spike {spike_value}"
    );
    let (lo, hi) = (
        before.unwrap().min(after.unwrap()),
        before.unwrap().max(after.unwrap()),
    );
    assert!(
        here >= lo - 1.0 && here <= hi + 1.0,
        "{before:?} {here} {after:?}"
    );

    // The quality section of view shows them.
    let view = std::process::Command::new(env!("CARGO_BIN_EXE_view"))
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&view.stdout);
    assert!(
        text.contains(&format!("Spikes ({})", expected.len())),
        "{text}"
    );
}

#[test]
fn keep_spikes_keeps_them_in_the_outputs_and_still_lists_them() {
    let work = Workdir::new();
    let (expected, input) = log_with_spikes(&work);
    let out = work.harvest(&["--keep-spikes", input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    let report = report(&dir);
    assert_eq!(listed_spikes(&report), expected);
    assert!(nonzero_drops(&report["rows"]).is_empty());
    let spike = &report["spikes"][0];
    assert_eq!(spike["dropped"], false);
    let at = harvester::time::parse_utc(spike["time"].as_str().unwrap()).unwrap();
    let column = table_column(
        &dir,
        spike["run_uuid"].as_str().unwrap().parse().unwrap(),
        spike["channel"].as_str().unwrap(),
    );
    let kept = column.iter().find(|(t, _)| *t == at).unwrap().1;
    assert_eq!(kept, spike["value"].as_f64());
}

#[test]
fn a_slow_log_gets_statistics_by_default_and_no_spikes() {
    // Every channel every 1.667 s, like the public production sample.
    let mut log = generate(&GeneratorConfig {
        seed: 2,
        rows: 15_000,
        run_uuid_type: RunUuidType::UInt64,
        quirks: false,
        cadence: Cadence::Slow,
    });
    let work = Workdir::new();
    let input = work.input().join("slow.parquet");
    write_parquet(&mut log.frame, &input).unwrap();
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());
    assert_eq!(report["max_gap"], "auto");
    assert_eq!(report["spikes"].as_array().unwrap().len(), 0);
    assert!(nonzero_drops(&report["rows"]).is_empty());
    for run in report["coverage"].as_array().unwrap() {
        for (name, channel) in run["channels"].as_object().unwrap() {
            let median = channel["median_interval_s"].as_f64().unwrap();
            assert!((median - 1.667).abs() < 0.01, "{name}: {median}");
            let gap = channel["max_gap_s"].as_f64().unwrap();
            assert!((gap - 5.0 * median).abs() < 1e-9, "{name}: gap {gap}");
            assert!(channel["coverage"].as_f64().unwrap() > 0.0, "{name}");
        }
    }
    let entries = report["runs"].as_array().unwrap();
    assert_eq!(entries.len(), 8, "four runs, two robots");
    let run_d = log.runs[3].run_uuid.to_string();
    for entry in entries {
        // Robot 2 of one run lacks z: no position, so no distance or speed.
        let complete =
            !(entry["robot_id"] == 2 && entry["run_uuid"].as_str() == Some(run_d.as_str()));
        for key in ["distance_mm", "speed_mm_s", "accel_mm_s2"] {
            assert_eq!(!entry[key].is_null(), complete, "{key}: {entry}");
        }
    }
    assert!(
        !report["warnings"].to_string().contains("max-gap"),
        "{}",
        report["warnings"]
    );

    // An explicit --max-gap keeps its meaning: nothing is bridged, and the user is
    // told why.
    let strict = Workdir::new();
    let out = strict.harvest(&["--max-gap", "1", input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = crate::util::report(&strict.only_output());
    assert_eq!(report["max_gap"], 1.0);
    for entry in report["runs"].as_array().unwrap() {
        assert!(entry["distance_mm"].is_null(), "{entry}");
    }
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("--max-gap auto"), "{warnings}");
}
