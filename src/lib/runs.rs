//! Runs: each run's readings, their derivatives, and the wide, time-aligned table.
//!
//! The wide table has one row per instant of the run's timeline (the union of every
//! channel's sample times) and, in this order, the columns `time`, the channels the
//! run has (`x_1 y_1 z_1 x_2 y_2 z_2 fx_1 fy_1 fz_1 fx_2 fy_2 fz_2`), the velocities
//! and accelerations of each encoder channel (`vx_1` … `az_2`), and the magnitudes
//! `v1 v2 a1 a2 f1 f2` where all three components exist. Missing values are null.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::align::{covered_ns, resample, union_timeline, AlignOptions};
use crate::features::{differentiate, magnitude, Derivatives};
use crate::schema::{Channel, Sensor, ROBOTS};
use crate::timestamp::{format_utc, EpochNanos};
use crate::validate::{ChannelSeries, RunId};

/// One run's readings with the derivatives of its encoder channels, computed once
/// and shared by the wide table and the statistics.
pub struct RunData<'a> {
    pub run_uuid: RunId,
    pub channels: &'a BTreeMap<Channel, ChannelSeries>,
    pub derivatives: BTreeMap<Channel, Derivatives>,
    pub max_gap_ns: i64,
}

impl<'a> RunData<'a> {
    pub fn new(
        run_uuid: RunId,
        channels: &'a BTreeMap<Channel, ChannelSeries>,
        max_gap_ns: i64,
    ) -> Self {
        let derivatives = channels
            .iter()
            .filter(|(c, _)| c.field.sensor() == Sensor::Encoder)
            .map(|(c, s)| (*c, differentiate(&s.time, &s.value, max_gap_ns)))
            .collect();
        RunData {
            run_uuid,
            channels,
            derivatives,
            max_gap_ns,
        }
    }

    pub fn velocity(&self, channel: Channel) -> Option<&[f64]> {
        self.derivatives
            .get(&channel)
            .map(|d| d.velocity.as_slice())
    }

    pub fn acceleration(&self, channel: Channel) -> Option<&[f64]> {
        self.derivatives
            .get(&channel)
            .map(|d| d.acceleration.as_slice())
    }

    pub fn start(&self) -> EpochNanos {
        self.channels
            .values()
            .filter_map(|s| s.time.first())
            .copied()
            .min()
            .unwrap_or(0)
    }

    pub fn stop(&self) -> EpochNanos {
        self.channels
            .values()
            .filter_map(|s| s.time.last())
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The wide table, each channel evaluated on the run's timeline per `options`.
    pub fn wide_table(&self, options: AlignOptions) -> PolarsResult<DataFrame> {
        let timeline = union_timeline(self.channels.values().map(|s| s.time.as_slice()));
        let at = |series: &ChannelSeries, values: &[f64]| {
            resample(&series.time, values, &timeline, options)
        };

        let mut columns: Vec<Column> = Vec::with_capacity(32);
        let time = Int64Chunked::from_vec("time".into(), timeline.clone())
            .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC));
        columns.push(time.into_column());

        let mut aligned: BTreeMap<Channel, Vec<f64>> = BTreeMap::new();
        for (channel, series) in self.channels {
            aligned.insert(*channel, at(series, &series.value));
        }
        let mut velocities: BTreeMap<Channel, Vec<f64>> = BTreeMap::new();
        let mut accelerations: BTreeMap<Channel, Vec<f64>> = BTreeMap::new();
        for (channel, d) in &self.derivatives {
            let series = &self.channels[channel];
            velocities.insert(*channel, at(series, &d.velocity));
            accelerations.insert(*channel, at(series, &d.acceleration));
        }

        for channel in Channel::all() {
            if let Some(values) = aligned.remove(&channel) {
                columns.push(float_column(&channel.column(), values));
            }
        }
        for (prefix, signals) in [("v", &velocities), ("a", &accelerations)] {
            for robot in ROBOTS {
                for field in Sensor::Encoder.fields() {
                    if let Some(values) = signals.get(&Channel { robot, field }) {
                        columns.push(float_column(
                            &format!("{prefix}{}_{robot}", field.name()),
                            values.clone(),
                        ));
                    }
                }
            }
        }
        for (name, signals, sensor) in [
            ("v", &velocities, Sensor::Encoder),
            ("a", &accelerations, Sensor::Encoder),
            (
                "f",
                &aligned_forces(self, &timeline, options),
                Sensor::LoadCell,
            ),
        ] {
            for robot in ROBOTS {
                let parts: Option<Vec<&Vec<f64>>> = sensor
                    .fields()
                    .iter()
                    .map(|&field| signals.get(&Channel { robot, field }))
                    .collect();
                if let Some(p) = parts {
                    columns.push(float_column(
                        &format!("{name}{robot}"),
                        magnitude(p[0], p[1], p[2]),
                    ));
                }
            }
        }
        DataFrame::new(timeline.len(), columns)
    }

    /// How well each channel covers the run, and which of the twelve are absent.
    pub fn coverage(&self) -> RunCoverage {
        let duration = (self.stop() - self.start()).max(1) as f64;
        let channels = self
            .channels
            .iter()
            .map(|(channel, s)| {
                let cover = ChannelCoverage {
                    samples: s.len() as u64,
                    start: format_utc(s.time[0]),
                    stop: format_utc(*s.time.last().expect("validated channels are non-empty")),
                    coverage: covered_ns(&s.time, self.max_gap_ns) as f64 / duration,
                    median_interval_s: median_interval_ns(&s.time).map(|ns| ns as f64 * 1e-9),
                };
                (channel.column(), cover)
            })
            .collect();
        let missing = Channel::all()
            .into_iter()
            .filter(|c| !self.channels.contains_key(c))
            .map(|c| c.column())
            .collect();
        RunCoverage {
            run_uuid: self.run_uuid.to_string(),
            channels,
            missing,
        }
    }
}

/// Forces evaluated on the timeline (the wide table's force columns, kept for f1/f2).
fn aligned_forces(
    run: &RunData,
    timeline: &[EpochNanos],
    options: AlignOptions,
) -> BTreeMap<Channel, Vec<f64>> {
    run.channels
        .iter()
        .filter(|(c, _)| c.field.sensor() == Sensor::LoadCell)
        .map(|(c, s)| (*c, resample(&s.time, &s.value, timeline, options)))
        .collect()
}

fn median_interval_ns(times: &[EpochNanos]) -> Option<i64> {
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(mid).1)
}

/// A Float64 column with the crate's NaN markers turned into nulls.
fn float_column(name: &str, values: Vec<f64>) -> Column {
    let validity: polars_arrow::bitmap::Bitmap = values.iter().map(|v| !v.is_nan()).collect();
    let validity = (validity.unset_bits() > 0).then_some(validity);
    Float64Chunked::from_vec_validity(name.into(), values, validity).into_column()
}

/// Coverage of one channel: readings, first and last, and the fraction of the run's
/// duration spanned by intervals between readings at most `max_gap` apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCoverage {
    pub samples: u64,
    pub start: String,
    pub stop: String,
    pub coverage: f64,
    /// The channel's typical sampling interval (null with a single reading).
    pub median_interval_s: Option<f64>,
}

/// Coverage of a run's channels, keyed by column name, and the absent channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCoverage {
    pub run_uuid: String,
    pub channels: BTreeMap<String, ChannelCoverage>,
    pub missing: Vec<String>,
}
