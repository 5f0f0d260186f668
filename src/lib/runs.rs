//! Runs: each run's readings, their derivatives, and the wide, time-aligned table.
//!
//! The wide table has one row per instant of the run's timeline (the union of every
//! channel's sample times) and, in this order, the columns `time`, the channels the
//! run has (`x_1 y_1 z_1 x_2 y_2 z_2 fx_1 fy_1 fz_1 fx_2 fy_2 fz_2`), the velocities
//! and accelerations of each encoder channel (`vx_1` … `az_2`), and the magnitudes
//! `v1 v2 a1 a2 f1 f2` where all three components exist. Missing values are null.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::align::{covered_ns, distinct_axes, union_timeline, AlignOptions, Resampler};
use crate::features::{differentiate, magnitude, Derivatives};
use crate::schema::{Channel, Sensor, ROBOTS};
use crate::timestamp::{format_utc, nanos_between, EpochNanos};
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
        let encoders: Vec<(&Channel, &ChannelSeries)> = channels
            .iter()
            .filter(|(c, _)| c.field.sensor() == Sensor::Encoder)
            .collect();
        let derivatives = in_pool(|| {
            encoders
                .par_iter()
                .map(|(c, s)| (**c, differentiate(&s.time, &s.value, max_gap_ns)))
                .collect::<Vec<_>>()
        })
        .into_iter()
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

        // Every column that is a signal resampled onto the timeline, in output order:
        // readings, then velocities and accelerations of the encoder channels.
        let mut signals: Vec<(String, &ChannelSeries, &[f64])> = Vec::new();
        for channel in Channel::all() {
            if let Some(series) = self.channels.get(&channel) {
                signals.push((channel.column(), series, &series.value));
            }
        }
        for (prefix, pick) in [
            ("v", Self::velocity as fn(&Self, Channel) -> Option<&[f64]>),
            ("a", Self::acceleration),
        ] {
            for robot in ROBOTS {
                for field in Sensor::Encoder.fields() {
                    let channel = Channel { robot, field };
                    if let (Some(series), Some(values)) =
                        (self.channels.get(&channel), pick(self, channel))
                    {
                        signals.push((format!("{prefix}{}_{robot}", field.name()), series, values));
                    }
                }
            }
        }
        // One plan per distinct time axis (a clock's channels usually share theirs).
        let (axes, axis_of) = distinct_axes(signals.iter().map(|(_, s, _)| s.time.as_slice()));
        let resampled: Vec<Vec<f64>> = in_pool(|| {
            let plans: Vec<Resampler> = axes
                .par_iter()
                .map(|axis| Resampler::new(axis, &timeline, options))
                .collect();
            signals
                .par_iter()
                .zip(&axis_of)
                .map(|((_, _, values), &axis)| plans[axis].apply(values))
                .collect()
        });

        // Magnitudes where all three components are there.
        let position: HashMap<&str, usize> = signals
            .iter()
            .enumerate()
            .map(|(i, (name, ..))| (name.as_str(), i))
            .collect();
        let mut magnitudes: Vec<(String, Vec<f64>)> = Vec::new();
        for name in ["v", "a", "f"] {
            for robot in ROBOTS {
                // vx_1, ax_1 and fx_1 alike: the name, the axis, the robot.
                let parts = ["x", "y", "z"].map(|axis| {
                    position
                        .get(format!("{name}{axis}_{robot}").as_str())
                        .copied()
                });
                if let [Some(x), Some(y), Some(z)] = parts {
                    magnitudes.push((
                        format!("{name}{robot}"),
                        magnitude(&resampled[x], &resampled[y], &resampled[z]),
                    ));
                }
            }
        }

        let mut columns: Vec<Column> = Vec::with_capacity(1 + signals.len() + magnitudes.len());
        let height = timeline.len();
        let time = Int64Chunked::from_vec("time".into(), timeline)
            .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC));
        columns.push(time.into_column());
        for ((name, ..), values) in signals.iter().zip(resampled) {
            columns.push(float_column(name, values));
        }
        for (name, values) in magnitudes {
            columns.push(float_column(&name, values));
        }
        DataFrame::new(height, columns)
    }

    /// How well each channel covers the run, and which of the twelve are absent.
    pub fn coverage(&self) -> RunCoverage {
        let duration = (self.stop() as i128 - self.start() as i128).max(1) as f64;
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

fn median_interval_ns(times: &[EpochNanos]) -> Option<i64> {
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| nanos_between(w[0], w[1]))
        .collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(mid).1)
}

/// Runs `work` on polars' thread pool, so this crate's parallel work and polars'
/// share one set of threads (sized by `POLARS_MAX_THREADS` / `--threads`).
pub fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    polars_core::runtime::THREAD_POOL.install(work)
}

/// The number of threads of the shared pool.
pub fn pool_threads() -> usize {
    polars_core::runtime::THREAD_POOL
        .current_num_threads()
        .max(1)
}

/// A Float64 column with the crate's NaN markers turned into nulls.
fn float_column(name: &str, values: Vec<f64>) -> Column {
    let validity = values.iter().any(|v| v.is_nan()).then(|| {
        // Eight values to a byte, least significant bit first, as Arrow lays it out.
        let bytes: Vec<u8> = values
            .chunks(8)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (i, v)| byte | (u8::from(!v.is_nan()) << i))
            })
            .collect();
        polars_arrow::bitmap::Bitmap::from_u8_vec(bytes, values.len())
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_become_nulls_at_exactly_their_rows() {
        // 19 values: a partial last byte, and NaNs at both ends of a byte.
        let missing = [0, 7, 8, 9, 15, 18];
        let values: Vec<f64> = (0..19)
            .map(|i| {
                if missing.contains(&i) {
                    f64::NAN
                } else {
                    i as f64
                }
            })
            .collect();
        let column = float_column("x", values);
        let got: Vec<Option<f64>> = column.f64().unwrap().iter().collect();
        for (i, v) in got.iter().enumerate() {
            let expected = (!missing.contains(&i)).then_some(i as f64);
            assert_eq!(*v, expected, "row {i}");
        }

        let dense = float_column("y", vec![1.0, 2.0]);
        assert_eq!(dense.null_count(), 0);
        assert!(!dense.f64().unwrap().has_nulls());
    }
}
