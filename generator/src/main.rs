//! `generate-log`: writes a synthetic machine log (sample data, benchmark inputs).
//!
//! Thin by design: flags in, [`harvester_generator`] does the work, one summary line
//! out. A usage error (a bad flag, fewer rows than a log has) exits 64; any other
//! error prints one line and exits with 2.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, ValueEnum};

use harvester::model::schema::InputFormat;
use harvester_generator::{
    generate, min_rows, write_csv, write_parquet, Cadence, GeneratorConfig, RunUuidType,
    DEFAULT_ROWS,
};

/// polars allocates and frees large buffers all the time; mimalloc keeps freed
/// memory for reuse instead of handing it back to the kernel and faulting in fresh
/// zeroed pages for the next buffer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Write a synthetic robot machine log with the quirks real files have.
#[derive(Debug, Parser)]
#[command(name = "generate-log", version)]
struct Args {
    /// Output file (.parquet or .csv unless --format says otherwise).
    #[arg(long)]
    out: PathBuf,

    /// Approximate number of valid data rows; run durations scale with it. The
    /// default is the size of the production sample (the "1x" benchmark); the
    /// smallest is a log whose every run lasts a second (see the error for its size).
    #[arg(long, default_value_t = DEFAULT_ROWS)]
    rows: usize,

    /// Seed; the same flags always give the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Storage type of run_uuid [default: float64 for Parquet, like the production
    /// sample; string for CSV, as a schema-less CSV reader sees it].
    #[arg(long, value_enum)]
    run_uuid_type: Option<RunUuidType>,

    /// Inject bad rows (null, unparsable or non-finite cells, unknown fields, invalid
    /// robots, mismatched sensors, bad run ids, duplicates).
    #[arg(long)]
    quirks: bool,

    /// How often the clocks read: fast (12 ms encoders, 10 ms load cells) or slow
    /// (every clock every 1.667 s, like the public small sample).
    #[arg(long, value_enum, default_value_t = Cadence::Fast)]
    cadence: Cadence,

    /// Output format [default: from the extension of --out].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// The `--format` values: the formats the harvester reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Parquet,
    Csv,
}

impl From<Format> for InputFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Parquet => InputFormat::Parquet,
            Format::Csv => InputFormat::Csv,
        }
    }
}

/// `--rows`: at least [`min_rows`] at `cadence`, so the log written has the rows
/// asked for.
fn check_rows(rows: usize, cadence: Cadence) -> Result<usize, String> {
    let min = min_rows(cadence);
    if rows < min {
        return Err(format!(
            "a log has at least {min} rows (every run a second long, every partial channel a few hundred readings); ask for {min} or more"
        ));
    }
    Ok(rows)
}

fn run(args: Args) -> Result<()> {
    let format = match args.format {
        Some(format) => format.into(),
        None => InputFormat::from_extension(&args.out).ok_or_else(|| {
            anyhow!(
                "cannot tell the format of {} from its extension; pass --format parquet|csv",
                args.out.display()
            )
        })?,
    };
    let run_uuid_type = args.run_uuid_type.unwrap_or(match format {
        InputFormat::Parquet => RunUuidType::Float64,
        InputFormat::Csv => RunUuidType::String,
    });
    let mut log = generate(&GeneratorConfig {
        seed: args.seed,
        rows: args.rows,
        run_uuid_type,
        quirks: args.quirks,
        cadence: args.cadence,
    });
    match format {
        InputFormat::Parquet => write_parquet(&mut log.frame, &args.out)?,
        InputFormat::Csv => write_csv(&mut log.frame, &args.out)?,
    }
    println!(
        "wrote {} rows ({} data + {} injected bad rows), {} runs, to {}",
        log.frame.height(),
        log.data_rows(),
        log.injected_total(),
        log.runs.len(),
        args.out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match harvester::cli::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code.into(),
    };
    if let Err(error) = check_rows(args.rows, args.cadence) {
        eprintln!("generate-log: --rows {}: {error}", args.rows);
        return harvester::error::ExitCode::Usage.into();
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("generate-log: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_rows_than_a_log_has_is_refused_naming_the_minimum() {
        let min = min_rows(Cadence::Fast);
        let error = check_rows(100, Cadence::Fast).unwrap_err();
        assert!(error.contains(&format!("at least {min} rows")), "{error}");
        assert_eq!(check_rows(min, Cadence::Fast), Ok(min));
        let log = generate(&GeneratorConfig {
            rows: min,
            quirks: false,
            ..GeneratorConfig::default()
        });
        let written = log.frame.height() as f64;
        assert!(
            (written / min as f64 - 1.0).abs() < 0.02,
            "{written} rows for {min}"
        );
    }
}
