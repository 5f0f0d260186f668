//! The I/O floor of a harvest, for `make bench`: read the input log whole into a
//! DataFrame and write outputs of exactly the shape the harvest wrote (its own run
//! tables and statistics, per file and in the dataset, loaded beforehand, with the
//! harvest's own Parquet writer, codec and encoding, as its report.json names
//! them), and nothing else.
//!
//! Usage: io_floor INPUT HARVESTED_DIR SCRATCH_DIR REPEATS
//! Prints the median seconds of REPEATS timed rounds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use harvester::model::report::Report;
use harvester::pipeline::store::{write_parquet, Constant, ConstantValue, Format};
use polars::prelude::*;

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).expect("open"))
        .finish()
        .expect("read parquet")
}

/// A run table's `run_uuid` and `labels` columns as the constants the harvest
/// writes them from (a run's table has one value of each).
fn split_constants(mut frame: DataFrame) -> (DataFrame, Vec<Constant>) {
    let mut constants = Vec::new();
    if let Ok(run) = frame.drop_in_place("run_uuid") {
        let value = run.u64().expect("u64 run ids").get(0).unwrap_or_default();
        constants.push(Constant::first("run_uuid", ConstantValue::UInt64(value)));
    }
    if let Ok(labels) = frame.drop_in_place("labels") {
        // A dictionary-encoded text column reads back as categorical.
        let labels = labels.cast(&DataType::String).expect("text labels");
        let value = labels
            .str()
            .expect("text labels")
            .get(0)
            .unwrap_or_default()
            .to_string();
        constants.push(Constant::last("labels", ConstantValue::Text(value)));
    }
    (frame, constants)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(
        args.len(),
        5,
        "usage: io_floor INPUT HARVESTED_DIR SCRATCH_DIR REPEATS"
    );
    let (input, harvested, scratch) = (
        PathBuf::from(&args[1]),
        PathBuf::from(&args[2]),
        PathBuf::from(&args[3]),
    );
    let repeats: usize = args[4].parse().expect("repeats");

    let mut outputs: Vec<(String, DataFrame, Vec<Constant>)> = vec![(
        "run_stats.parquet".into(),
        read_parquet(&harvested.join("run_stats.parquet")),
        Vec::new(),
    )];
    // The dataset beside the output directory: run tables and run statistics.
    let mut folders = vec![harvested.join("../dataset")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("dataset").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.path().is_dir() {
                folders.push(entry.path());
            } else {
                let (frame, constants) = split_constants(read_parquet(&entry.path()));
                outputs.push((format!("{}-{name}", outputs.len()), frame, constants));
            }
        }
    }
    let report = std::fs::read(harvested.join("report.json")).expect("report");
    let harvest_report = serde_json::from_slice::<Report>(&report).expect("a harvest report");
    let format = Format {
        compression: harvest_report.compression,
        encoding: harvest_report.encoding,
    };

    let mut times = Vec::new();
    for _ in 0..repeats {
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        let started = Instant::now();
        let bytes = std::fs::read(&input).expect("read input");
        let frame = ParquetReader::new(std::io::Cursor::new(bytes.as_slice()))
            .finish()
            .expect("parse input");
        std::hint::black_box(frame.height());
        for (name, frame, constants) in outputs.iter_mut() {
            let file = std::fs::File::create(scratch.join(name.as_str())).unwrap();
            write_parquet(std::io::BufWriter::new(&file), frame, format, constants).unwrap();
            if std::env::var_os("FLOOR_NO_SYNC").is_none() {
                file.sync_all().unwrap();
            }
        }
        std::fs::write(scratch.join("report.json"), &report).unwrap();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!("{:.4}", times[times.len() / 2]);
}
