//! Logs whose every statistic is known exactly: a circle, a straight line at constant
//! speed and constant forces, harvested by the real binary with both alignments.

use std::f64::consts::PI;

use crate::util::*;
use polars::prelude::*;

const RUN: u64 = 12_405_186_538_561_671_661; // above 2^63, as in real logs
const R: f64 = 150.0; // mm
const OMEGA: f64 = 2.0 * PI / 8.0; // one turn in 8 s
const LINE_V: [f64; 3] = [30.0, -40.0, 120.0]; // mm/s, |v| = 130
const F1: [f64; 3] = [3.0, 4.0, 12.0]; // N, |f| = 13
const F2: [f64; 3] = [-20.0, 0.0, 21.0]; // N, |f| = 29

struct Analytic {
    log: LogBuilder,
    circle_span_s: f64,
    line_span_s: f64,
}

/// Robot 1 runs one full turn of a circle in the xy plane; robot 2 a straight line.
/// Each sensor has its own jittered clock, like real logs.
fn analytic_log() -> Analytic {
    let mut log = LogBuilder::default();
    let enc1 = clock(T0, 8.0, 12, 1);
    let enc2 = clock(T0 + 5_000_000, 8.0, 12, 1);
    let lc1 = clock(T0 + 3_000_000, 8.0, 10, 1);
    let lc2 = clock(T0 + 7_000_000, 8.0, 10, 1);
    log.channel(RUN, 1, "x", &enc1, |t| R * (OMEGA * t).cos());
    log.channel(RUN, 1, "y", &enc1, |t| R * (OMEGA * t).sin());
    log.channel(RUN, 1, "z", &enc1, |_| 42.0);
    for (axis, field) in ["x", "y", "z"].iter().enumerate() {
        log.channel(RUN, 2, field, &enc2, |t| {
            10.0 * axis as f64 + LINE_V[axis] * t
        });
    }
    for (axis, field) in ["fx", "fy", "fz"].iter().enumerate() {
        log.channel(RUN, 1, field, &lc1, |_| F1[axis]);
        log.channel(RUN, 2, field, &lc2, |_| F2[axis]);
    }
    let span = |c: &[i64]| (c[c.len() - 1] - c[0]) as f64 / SECOND as f64;
    Analytic {
        circle_span_s: span(&enc1),
        line_span_s: span(&enc2),
        log,
    }
}

fn assert_close(what: &str, got: f64, want: f64) {
    let tolerance = 0.005 * want.abs();
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want} ± 0.5%"
    );
}

fn entry(report: &serde_json::Value, robot: u64) -> &serde_json::Value {
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["robot_id"] == robot)
        .expect("robot entry")
}

fn check_statistics(align: &str) {
    let work = Workdir::new();
    let a = analytic_log();
    let input = work.input().join("analytic.parquet");
    a.log.write_parquet(&input);
    let out = work.harvest(&[input.to_str().unwrap(), "--align", align]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    let report = report(&dir);

    assert_eq!(report["rows"]["read"], a.log.len() as u64);
    assert_eq!(report["rows"]["kept"], a.log.len() as u64);
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);

    let circle = entry(&report, 1);
    assert_eq!(circle["run_uuid"], RUN.to_string());
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    assert_close(
        "circle distance",
        f(&circle["distance_mm"]),
        R * OMEGA * a.circle_span_s,
    );
    assert_close("one turn is 2πr", f(&circle["distance_mm"]), 2.0 * PI * R);
    for k in ["min", "mean", "max"] {
        assert_close(
            &format!("circle speed {k}"),
            f(&circle["speed_mm_s"][k]),
            OMEGA * R,
        );
        assert_close(
            &format!("circle accel {k}"),
            f(&circle["accel_mm_s2"][k]),
            OMEGA * OMEGA * R,
        );
        assert_close(&format!("force 1 {k}"), f(&circle["force_n"][k]), 13.0);
    }
    assert_close("circle runtime", f(&circle["runtime_s"]), 8.0);

    let line = entry(&report, 2);
    let speed = (LINE_V.iter().map(|v| v * v).sum::<f64>()).sqrt();
    assert_close(
        "line distance",
        f(&line["distance_mm"]),
        speed * a.line_span_s,
    );
    for k in ["min", "mean", "max"] {
        assert_close(&format!("line speed {k}"), f(&line["speed_mm_s"][k]), speed);
        assert!(
            f(&line["accel_mm_s2"][k]).abs() < 1e-6,
            "line acceleration {k} is zero"
        );
        assert_close(&format!("force 2 {k}"), f(&line["force_n"][k]), 29.0);
    }

    // The wide table: every channel, time-ordered, with derived columns that match.
    let table_path = dir.join(line["table"].as_str().unwrap());
    let table = ParquetReader::new(std::fs::File::open(&table_path).unwrap())
        .finish()
        .unwrap();
    let names: Vec<String> = table
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for col in [
        "time", "x_1", "y_1", "z_1", "x_2", "fz_2", "vx_1", "az_2", "v1", "v2", "a1", "a2", "f1",
        "f2",
    ] {
        assert!(
            names.contains(&col.to_string()),
            "missing {col} in {names:?}"
        );
    }
    let time = table
        .column("time")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let time: Vec<i64> = time.i64().unwrap().into_no_null_iter().collect();
    assert!(
        time.windows(2).all(|w| w[0] < w[1]),
        "time strictly increasing"
    );
    let v1 = table.column("v1").unwrap().f64().unwrap().clone();
    let f1 = table.column("f1").unwrap().f64().unwrap().clone();
    assert!(v1.null_count() < 10, "v1 is defined over the whole run");
    for v in v1.iter().flatten() {
        assert_close("aligned v1", v, OMEGA * R);
    }
    for v in f1.iter().flatten() {
        assert_close("aligned f1", v, 13.0);
    }
}

#[test]
fn circle_line_and_forces_with_interpolation() {
    check_statistics("interpolate");
}

#[test]
fn circle_line_and_forces_with_hold() {
    check_statistics("hold");
}

#[test]
fn missing_channels_give_null_statistics_never_zero() {
    let work = Workdir::new();
    let mut log = LogBuilder::default();
    let enc = clock(T0, 5.0, 12, 0);
    // Robot 1 has x and y but no z; robot 2 has a single force channel.
    log.channel(7, 1, "x", &enc, |t| t * 10.0);
    log.channel(7, 1, "y", &enc, |t| t * 10.0);
    log.channel(7, 2, "fx", &clock(T0, 5.0, 10, 0), |_| 5.0);
    let input = work.input().join("partial.parquet");
    log.write_parquet(&input);
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = report(&work.only_output());
    for robot in [1, 2] {
        let e = entry(&report, robot);
        for k in ["distance_mm", "speed_mm_s", "accel_mm_s2", "force_n"] {
            assert!(e[k].is_null(), "robot {robot} {k} should be null: {}", e[k]);
        }
        assert_close("runtime", e["runtime_s"].as_f64().unwrap(), 5.0);
    }
    let missing = report["coverage"][0]["missing"].as_array().unwrap();
    assert!(missing.contains(&serde_json::json!("z_1")));
    assert_eq!(missing.len(), 9);
}
