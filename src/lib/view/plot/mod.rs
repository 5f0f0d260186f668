//! Charts of a harvested run: where the tool went (X–Y or X–Z, mm, equal aspect),
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
mod trend;

pub use draw::{drops_chart, run_chart, Chart, DrawError, Output};
pub use trend::{trend_chart, Trend};

/// Which chart `--plot` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotKind {
    /// The tool path in the plane --projection names: X–Y (default) or X–Z (mm,
    /// equal aspect).
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

impl PlotKind {
    /// What the chart shows, as a sentence names it.
    pub fn quantity(self) -> &'static str {
        match self {
            PlotKind::Path => "positions",
            PlotKind::Speed => "speed |v|",
            PlotKind::Accel => "acceleration |a|",
            PlotKind::Force => "force |f|",
            PlotKind::Coverage => "channels",
        }
    }
}

/// The plane a path chart shows: the tool path seen from above (X–Y) or from the
/// side (X–Z).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Projection {
    /// x across, y up.
    #[default]
    Xy,
    /// x across, z up.
    Xz,
}

impl Projection {
    /// The index of the vertical axis among x, y, z.
    fn vertical(self) -> usize {
        match self {
            Projection::Xy => 1,
            Projection::Xz => 2,
        }
    }
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

impl RobotSeries {
    /// The points of the path in `projection` where both coordinates are known.
    pub fn positions(&self, projection: Projection) -> impl Iterator<Item = (f64, f64)> + '_ {
        let (x, v) = (&self.position[0], &self.position[projection.vertical()]);
        x.iter()
            .zip(v)
            .map(|(&x, &v)| (x, v))
            .filter(|(x, v)| x.is_finite() && v.is_finite())
    }
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

    /// Whether the run has anything for the chart `kind` to draw: a point of the
    /// path in `projection`, a value of a time chart's quantity, a channel's reading.
    pub fn has(&self, kind: PlotKind, projection: Projection) -> bool {
        let any = |values: &[f64]| values.iter().any(|v| v.is_finite());
        match kind {
            PlotKind::Path => self
                .robots
                .iter()
                .any(|r| r.positions(projection).next().is_some()),
            PlotKind::Speed => self.robots.iter().any(|r| any(&r.speed)),
            PlotKind::Accel => self.robots.iter().any(|r| any(&r.accel)),
            PlotKind::Force => self.robots.iter().any(|r| any(&r.force)),
            PlotKind::Coverage => self.coverage.iter().any(|(_, s)| !s.is_empty()),
        }
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
