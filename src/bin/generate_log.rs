//! `generate-log`: writes a synthetic machine log (sample data, benchmark inputs).
//!
//! Thin by design: flags in, [`harvester::generator`] does the work, one summary line
//! out. Errors print one line and exit with 2, like the other binaries.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use harvester::generator::{
    generate, write_csv, write_parquet, GeneratorConfig, RunUuidType, DEFAULT_ROWS,
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
    /// default is the size of the production sample (the "1x" benchmark).
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

    /// Output format [default: from the extension of --out].
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("parquet" | "pq") => Ok(Format::Parquet),
        Some("csv") => Ok(Format::Csv),
        _ => bail!(
            "cannot tell the format of {} from its extension; pass --format parquet|csv",
            path.display()
        ),
    }
}

fn run(args: Args) -> Result<()> {
    let format = match args.format {
        Some(format) => format,
        None => format_of(&args.out)?,
    };
    let run_uuid_type = args.run_uuid_type.unwrap_or(match format {
        Format::Parquet => RunUuidType::Float64,
        Format::Csv => RunUuidType::String,
    });
    let mut log = generate(&GeneratorConfig {
        seed: args.seed,
        rows: args.rows,
        run_uuid_type,
        quirks: args.quirks,
    });
    match format {
        Format::Parquet => write_parquet(&mut log.frame, &args.out)?,
        Format::Csv => write_csv(&mut log.frame, &args.out)?,
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
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("generate-log: {err:#}");
            ExitCode::from(2)
        }
    }
}
