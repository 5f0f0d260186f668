//! Charts of a harvested run: where the tool went (X–Y and X–Z, mm, equal aspect),
//! its speed, acceleration and force against time, and where each channel has
//! readings. Drawn with plotters into SVG (for the HTML page and `--plot x.svg`) or
//! PNG (`--plot x.png`), from the run's wide table, reduced per pixel first
//! ([`reduce`]) so a run of millions of readings draws in milliseconds and every
//! reduced chart says so.

use std::path::Path;

use polars::prelude::*;

use crate::model::report::Report;
use crate::model::schema::{Channel, ROBOTS};

mod draw;
pub mod reduce;

pub use draw::{drops_chart, run_chart, Chart, Output};

/// Which chart `--plot` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotKind {
    /// The tool path: X–Y and X–Z projections (mm, equal aspect).
    Path,
    /// Speed |v| against time (mm/s).
    Speed,
    /// Acceleration |a| against time (mm/s²).
    Accel,
    /// Force magnitude |f| against time (N).
    Force,
    /// Where each channel has readings, and its gaps.
    Coverage,
}

/// One robot's quantities of a run, on the run's timeline (NaN where missing).
#[derive(Debug, Clone, Default)]
pub struct RobotSeries {
    pub robot: u8,
    /// x, y, z (mm).
    pub position: [Vec<f64>; 3],
    pub speed: Vec<f64>,
    pub accel: Vec<f64>,
    pub force: Vec<f64>,
}

/// A run's table as the charts need it.
#[derive(Debug, Clone, Default)]
pub struct RunSeries {
    pub run_uuid: u64,
    /// Seconds from the run's first instant.
    pub t: Vec<f64>,
    pub robots: Vec<RobotSeries>,
    /// Per channel (column name), the stretches (s) where it has values.
    pub coverage: Vec<(String, Vec<(f64, f64)>)>,
}

/// How many pixel columns a time chart's reduction aims at.
pub const COLUMNS: usize = 800;

impl RunSeries {
    /// Reads the columns the charts need from a run's wide table.
    pub fn read(path: &Path, run_uuid: u64) -> PolarsResult<RunSeries> {
        let file = std::fs::File::open(path)?;
        let mut names: Vec<String> = vec!["time".into()];
        names.extend(Channel::all().iter().map(|c| c.column()));
        for robot in ROBOTS {
            names.extend(["v", "a", "f"].map(|q| format!("{q}{robot}")));
        }
        let frame = ParquetReader::new(file)
            .with_columns(Some(names.clone()))
            .finish()?;
        let time = frame.column("time")?.cast(&DataType::Int64)?;
        let time = time.i64()?;
        let start = time.first().unwrap_or_default();
        let t: Vec<f64> = time
            .downcast_iter()
            .flat_map(|chunk| chunk.iter())
            .map(|ns| ns.map_or(f64::NAN, |ns| (ns - start) as f64 * 1e-9))
            .collect();
        // Every column once, as plain floats (NaN for null).
        let mut values: std::collections::HashMap<String, Vec<f64>> = names[1..]
            .iter()
            .map(|name| {
                let floats = frame
                    .column(name)?
                    .f64()?
                    .downcast_iter()
                    .flat_map(|chunk| chunk.iter())
                    .map(|v| v.copied().unwrap_or(f64::NAN))
                    .collect();
                Ok((name.clone(), floats))
            })
            .collect::<PolarsResult<_>>()?;
        let duration = t.last().copied().unwrap_or(0.0);
        let coverage = Channel::all()
            .iter()
            .map(|channel| {
                let name = channel.column();
                let column = &values[&name];
                let min_gap = duration / COLUMNS as f64;
                let stretches = reduce::stretches(&t, |i| !column[i].is_nan(), min_gap);
                (name, stretches)
            })
            .collect();
        let mut take = |name: String| values.remove(&name).unwrap_or_default();
        let robots = ROBOTS
            .iter()
            .map(|&robot| RobotSeries {
                robot,
                position: ["x", "y", "z"].map(|axis| take(format!("{axis}_{robot}"))),
                speed: take(format!("v{robot}")),
                accel: take(format!("a{robot}")),
                force: take(format!("f{robot}")),
            })
            .collect();
        Ok(RunSeries {
            run_uuid,
            t,
            robots,
            coverage,
        })
    }

    /// Only robot `robot`'s series and channels.
    pub fn only_robot(mut self, robot: u8) -> RunSeries {
        self.robots.retain(|r| r.robot == robot);
        let suffix = format!("_{robot}");
        self.coverage.retain(|(name, _)| name.ends_with(&suffix));
        self
    }
}

/// The runs of a report, in order, with their tables' paths relative to the output
/// directory: one per run (a run's robots share its table).
pub fn run_tables(report: &Report) -> Vec<(u64, String)> {
    let mut tables: Vec<(u64, String)> = report
        .runs
        .iter()
        .map(|r| (r.stats.run_uuid, r.table.clone()))
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

/// Registers the committed font (Liberation Sans, SIL Open Font License) with
/// plotters once: text must be measured to lay a chart out, and PNG text drawn,
/// without asking the system for fonts.
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] =
            include_bytes!("../../../../assets/fonts/LiberationSans-Regular.ttf");
        for style in [
            plotters::style::FontStyle::Normal,
            plotters::style::FontStyle::Bold,
        ] {
            // The font is committed and valid: a failure here is a build defect.
            plotters::style::register_font("sans-serif", style, font)
                .unwrap_or_else(|_| panic!("the committed font is valid"));
        }
    });
}
