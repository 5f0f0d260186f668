//! Alignment: putting channels that tick on their own clocks onto one timeline.
//!
//! Each robot/sensor pair has its own clock, so a run's readings never share
//! timestamps across channels. The wide table's timeline is the union of every
//! channel's sample times; each channel is evaluated on it by one of two rules:
//!
//! * [`Alignment::Interpolate`] (default): linear interpolation between the two
//!   samples that bracket the instant, only inside the channel's own span and only
//!   when those samples are at most the channel's gap bound apart ([`MaxGap`]). At a channel's own sample times
//!   the value is the reading itself.
//! * [`Alignment::Hold`]: the last reading carried forward (what `ffill` pipelines
//!   do), for at most the channel's gap bound after it, so a channel that stopped reporting does not
//!   look alive.
//!
//! Anywhere else the channel has no value (null in the outputs; NaN inside this crate).
//!
//! The wide table has one row per instant of the run's timeline and, in this order,
//! the columns `time`, the channels the run has (`x_1 y_1 z_1 x_2 y_2 z_2 fx_1 fy_1
//! fz_1 fx_2 fy_2 fz_2`), the velocities and accelerations of each encoder channel
//! (`vx_1` … `az_2`), and the magnitudes `v1 v2 a1 a2 f1 f2` where all three
//! components exist. Missing values are null.
//!
//! Takes a run's [`RunData`]; gives its [`WideTable`], as DataFrames of its rows.

use std::collections::HashMap;
use std::ops::Range;

use polars::prelude::*;
use rayon::prelude::*;

use crate::model::options::{Alignment, MaxGap};
use crate::model::readings::{ChannelSeries, MISSING};
use crate::model::schema::{wide_columns, Channel, Sensor, ROBOTS};
use crate::parallel::in_pool;
use crate::pipeline::features::magnitude;
use crate::pipeline::runs::RunData;
use crate::time::{nanos_between, EpochNanos};

/// The alignment rule and the longest gap a value may bridge.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AlignOptions {
    pub alignment: Alignment,
    pub max_gap: MaxGap,
}

/// Where each instant of a timeline falls on one time axis, worked out once and
/// applied to every signal sampled on that axis: a clock's x, y and z and their
/// derivatives share their sample times, so the walk along the timeline is done
/// once per clock instead of once per column.
pub struct Resampler {
    /// Per instant: the index of the sample at or before it, or [`Self::NONE`]
    /// where no value may be given.
    left: Vec<usize>,
    /// Per instant: how far it lies from that sample towards the next, in (0, 1)
    /// when interpolating between two samples; 0 to take the sample as it is.
    weight: Vec<f64>,
}

impl Resampler {
    const NONE: usize = usize::MAX;

    /// Plans the evaluation at `at` of signals sampled at `times` (both ascending,
    /// `times` strictly), bridging at most `max_gap_ns`. Runs in O(log n + m + k), k
    /// the samples that `at` spans.
    pub fn new(
        times: &[EpochNanos],
        at: &[EpochNanos],
        alignment: Alignment,
        max_gap_ns: i64,
    ) -> Resampler {
        let mut left = Vec::with_capacity(at.len());
        let mut weight = Vec::with_capacity(at.len());
        // The first sample after the first instant, found by bisection: `at` may be
        // a block of a longer timeline.
        let mut next = at
            .first()
            .map_or(0, |&t| times.partition_point(|&s| s <= t));
        for &t in at {
            while next < times.len() && times[next] <= t {
                next += 1;
            }
            let (index, w) = if next == 0 {
                (Self::NONE, 0.0)
            } else {
                let l = next - 1;
                if times[l] == t {
                    (l, 0.0)
                } else {
                    match alignment {
                        Alignment::Interpolate => match times.get(next) {
                            Some(&right_t) if nanos_between(times[l], right_t) <= max_gap_ns => {
                                (l, (t - times[l]) as f64 / (right_t - times[l]) as f64)
                            }
                            _ => (Self::NONE, 0.0),
                        },
                        Alignment::Hold if nanos_between(times[l], t) <= max_gap_ns => (l, 0.0),
                        Alignment::Hold => (Self::NONE, 0.0),
                    }
                }
            };
            left.push(index);
            weight.push(w);
        }
        Resampler { left, weight }
    }

    /// The signal with these `values` (one per sample time) at every planned instant.
    pub fn apply(&self, values: &[f64]) -> Vec<f64> {
        self.left
            .iter()
            .zip(&self.weight)
            .map(|(&l, &w)| {
                if l == Self::NONE {
                    MISSING
                } else if w == 0.0 {
                    values[l]
                } else {
                    values[l] + (values[l + 1] - values[l]) * w
                }
            })
            .collect()
    }
}

/// The distinct time axes among `axes`, compared by content, and for each of `axes`
/// the index of its distinct axis: signals on one clock share a [`Resampler`].
pub fn distinct_axes<'a>(
    axes: impl IntoIterator<Item = &'a [EpochNanos]>,
) -> (Vec<&'a [EpochNanos]>, Vec<usize>) {
    let mut distinct: Vec<&[EpochNanos]> = Vec::new();
    let index = axes
        .into_iter()
        .map(|axis| {
            distinct.iter().position(|a| *a == axis).unwrap_or_else(|| {
                distinct.push(axis);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, index)
}

/// The sorted union of several sorted time axes, each instant once.
///
/// The axes are merged pairwise, in linear time: a run's union of four clocks of a
/// million instants each is three merges, where sorting the concatenation would cost
/// n log n.
pub fn union_timeline<'a>(axes: impl IntoIterator<Item = &'a [EpochNanos]>) -> Vec<EpochNanos> {
    let mut distinct: Vec<&[EpochNanos]> = Vec::new();
    for axis in axes {
        // Fields of one sensor share its clock: skip an axis identical to the last one.
        if distinct.last() != Some(&axis) {
            distinct.push(axis);
        }
    }
    let mut merged: Vec<Vec<EpochNanos>> = distinct
        .chunks(2)
        .map(|p| merge_sorted(p[0], p.get(1).copied().unwrap_or_default()))
        .collect();
    while merged.len() > 1 {
        merged = merged
            .chunks(2)
            .map(|p| merge_sorted(&p[0], p.get(1).map_or(&[], Vec::as_slice)))
            .collect();
    }
    merged.pop().unwrap_or_default()
}

/// Merges two ascending slices into one ascending vector without repeated instants.
fn merge_sorted(a: &[EpochNanos], b: &[EpochNanos]) -> Vec<EpochNanos> {
    let mut out: Vec<EpochNanos> = Vec::with_capacity(a.len() + b.len());
    let mut push = |t: EpochNanos| {
        if out.last() != Some(&t) {
            out.push(t);
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            push(a[i]);
            i += 1;
        } else {
            push(b[j]);
            j += 1;
        }
    }
    a[i..].iter().chain(&b[j..]).for_each(|&t| push(t));
    out
}

/// How much of a run a channel covers: the summed length of the intervals between
/// consecutive samples at most `max_gap` apart, in nanoseconds.
pub fn covered_ns(times: &[EpochNanos], max_gap_ns: i64) -> i64 {
    times
        .windows(2)
        .map(|w| nanos_between(w[0], w[1]))
        .filter(|&d| d <= max_gap_ns)
        .fold(0, i64::saturating_add)
}

/// A run's wide table, planned: its timeline and the signals evaluated on it, each
/// channel per `options`. Its rows are built a block at a time ([`WideTable::rows`]),
/// so that writing a run holds one row group of its table in memory, not the table.
pub struct WideTable<'a> {
    timeline: Vec<EpochNanos>,
    /// Every signal resampled onto the timeline: its values and the index of its
    /// time axis in `axes`.
    signals: Vec<(&'a [f64], usize)>,
    /// The distinct time axes of the signals, with their gap bound (signals on one
    /// clock share both, as the bound depends on the axis alone).
    axes: Vec<(&'a [EpochNanos], i64)>,
    /// Every column after `time`, in output order, and where its values come from.
    columns: Vec<(String, ColumnSource)>,
    alignment: Alignment,
}

/// Where a column of the wide table comes from.
enum ColumnSource {
    /// A signal, by its index in [`WideTable::signals`].
    Signal(usize),
    /// The magnitude of three signals (x, y, z).
    Magnitude([usize; 3]),
    /// Nothing in this run: null throughout.
    Missing,
}

impl<'a> WideTable<'a> {
    /// Plans the table once: which signal, magnitude or nothing fills each column,
    /// and the time axis of each signal.
    pub fn new(run: &'a RunData, options: AlignOptions) -> WideTable<'a> {
        let timeline = union_timeline(run.channels.values().map(|s| s.time.as_slice()));
        // Readings, then velocities and accelerations of the encoder channels.
        let mut signals: Vec<(String, Channel, &ChannelSeries, &[f64])> = Vec::new();
        for channel in Channel::all() {
            if let Some(series) = run.channels.get(&channel) {
                signals.push((channel.column(), channel, series, &series.value));
            }
        }
        for prefix in ["v", "a"] {
            for robot in ROBOTS {
                for field in Sensor::Encoder.fields() {
                    let channel = Channel { robot, field };
                    let values = if prefix == "v" {
                        run.velocity(channel)
                    } else {
                        run.acceleration(channel)
                    };
                    if let (Some(series), Some(values)) = (run.channels.get(&channel), values) {
                        signals.push((
                            format!("{prefix}{}_{robot}", field.name()),
                            channel,
                            series,
                            values,
                        ));
                    }
                }
            }
        }
        let (axes, axis_of) = distinct_axes(signals.iter().map(|(_, _, s, _)| s.time.as_slice()));
        let gaps = run.axis_gaps(axes.len(), &axis_of, |signal| signals[signal].1);

        let position: HashMap<&str, usize> = signals
            .iter()
            .enumerate()
            .map(|(i, (name, ..))| (name.as_str(), i))
            .collect();
        // Magnitudes where all three components are there.
        let mut magnitudes: HashMap<String, [usize; 3]> = HashMap::new();
        for name in ["v", "a", "f"] {
            for robot in ROBOTS {
                // vx_1, ax_1 and fx_1 alike: the name, the axis, the robot.
                let parts = ["x", "y", "z"].map(|axis| {
                    position
                        .get(format!("{name}{axis}_{robot}").as_str())
                        .copied()
                });
                if let [Some(x), Some(y), Some(z)] = parts {
                    magnitudes.insert(format!("{name}{robot}"), [x, y, z]);
                }
            }
        }
        let columns = wide_columns()
            .into_iter()
            .map(|name| {
                let source = match (position.get(name.as_str()), magnitudes.get(&name)) {
                    (Some(&signal), _) => ColumnSource::Signal(signal),
                    (None, Some(&parts)) => ColumnSource::Magnitude(parts),
                    (None, None) => ColumnSource::Missing,
                };
                (name, source)
            })
            .collect();
        WideTable {
            timeline,
            signals: signals
                .iter()
                .zip(axis_of)
                .map(|((.., values), axis)| (*values, axis))
                .collect(),
            axes: axes.into_iter().zip(gaps).collect(),
            columns,
            alignment: options.alignment,
        }
    }

    /// Rows in the table: the instants of the run's timeline.
    pub fn height(&self) -> usize {
        self.timeline.len()
    }

    /// The table's `rows` (a range of its timeline's instants).
    pub fn rows(&self, rows: Range<usize>) -> PolarsResult<DataFrame> {
        let at = &self.timeline[rows];
        // One plan per distinct time axis.
        let resampled: Vec<Vec<f64>> = in_pool(|| {
            let plans: Vec<Resampler> = self
                .axes
                .par_iter()
                .map(|&(axis, gap)| Resampler::new(axis, at, self.alignment, gap))
                .collect();
            self.signals
                .par_iter()
                .map(|&(values, axis)| plans[axis].apply(values))
                .collect()
        });
        let mut magnitudes: Vec<Option<Vec<f64>>> = self
            .columns
            .iter()
            .map(|(_, source)| match *source {
                ColumnSource::Magnitude([x, y, z]) => {
                    Some(magnitude(&resampled[x], &resampled[y], &resampled[z]))
                }
                _ => None,
            })
            .collect();
        // Each signal fills one column: its values move into it.
        let mut resampled: Vec<Option<Vec<f64>>> = resampled.into_iter().map(Some).collect();

        let height = at.len();
        let mut columns: Vec<Column> = Vec::with_capacity(1 + self.columns.len());
        let time = Int64Chunked::from_vec("time".into(), at.to_vec())
            .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC));
        columns.push(time.into_column());
        for (k, (name, source)) in self.columns.iter().enumerate() {
            let values = match *source {
                ColumnSource::Signal(signal) => resampled[signal].take(),
                ColumnSource::Magnitude(_) => magnitudes[k].take(),
                ColumnSource::Missing => None,
            };
            columns.push(match values {
                Some(values) => float_column(name, values),
                None => Float64Chunked::full_null(name.as_str().into(), height).into_column(),
            });
        }
        DataFrame::new(height, columns)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal sampled at (`times`, `values`) at each instant of `at`, bridging
    /// gaps of at most a second.
    fn resample(
        times: &[EpochNanos],
        values: &[f64],
        at: &[EpochNanos],
        alignment: Alignment,
    ) -> Vec<f64> {
        Resampler::new(times, at, alignment, S).apply(values)
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn interpolates_inside_the_span_only() {
        let v = resample(
            &[0, S],
            &[0.0, 10.0],
            &[-1, 0, S / 4, S, S + 1],
            Alignment::Interpolate,
        );
        assert!(v[0].is_nan());
        assert_eq!(&v[1..4], &[0.0, 2.5, 10.0]);
        assert!(v[4].is_nan());
    }

    #[test]
    fn never_bridges_a_gap_longer_than_max_gap() {
        let v = resample(&[0, 3 * S], &[0.0, 30.0], &[S], Alignment::Interpolate);
        assert!(v[0].is_nan());
        let v = resample(&[0, 3 * S], &[0.0, 30.0], &[S / 2, 2 * S], Alignment::Hold);
        assert_eq!(v[0], 0.0);
        assert!(v[1].is_nan());
    }

    #[test]
    fn hold_carries_the_last_reading() {
        let v = resample(
            &[0, S / 2],
            &[1.0, 2.0],
            &[0, S / 4, S / 2, S],
            Alignment::Hold,
        );
        assert_eq!(v, vec![1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn union_merges_and_dedups() {
        let a = [1, 3, 5];
        let b = [2, 3, 6];
        assert_eq!(
            union_timeline([&a[..], &a[..], &b[..]]),
            vec![1, 2, 3, 5, 6]
        );
        let c = [0, 6, 7];
        assert_eq!(
            union_timeline([&b[..], &c[..], &a[..]]),
            vec![0, 1, 2, 3, 5, 6, 7]
        );
        assert_eq!(union_timeline([&[4, 4, 5][..]]), vec![4, 5]);
        assert!(union_timeline(std::iter::empty()).is_empty());
    }

    #[test]
    fn coverage_skips_gaps() {
        assert_eq!(
            covered_ns(&[0, S / 2, S, 5 * S, 5 * S + S / 2], S),
            S + S / 2
        );
    }

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

    #[test]
    fn a_table_built_in_blocks_equals_the_table_built_whole() {
        use crate::model::schema::Field;
        use std::collections::BTreeMap;
        // Robot 1's encoder every 12 ms with a 2 s gap, its force sensor every 4 ms
        // from 1 ms on, and robot 2's x alone: three clocks, a gap, missing columns.
        let ms = 1_000_000;
        let encoder: Vec<EpochNanos> = (0..3000)
            .map(|k| k * 12 * ms + if k >= 1500 { 2 * S } else { 0 })
            .collect();
        let force: Vec<EpochNanos> = (0..9000).map(|k| ms + k * 4 * ms).collect();
        let lone: Vec<EpochNanos> = (0..500).map(|k| 7 * ms + k * 50 * ms).collect();
        let series = |times: &[EpochNanos], f: fn(f64) -> f64| ChannelSeries {
            time: times.to_vec(),
            value: times.iter().map(|&t| f(t as f64 / S as f64)).collect(),
        };
        let mut channels = BTreeMap::new();
        for (field, times, f) in [
            (Field::X, &encoder, f64::cos as fn(f64) -> f64),
            (Field::Y, &encoder, f64::sin),
            (Field::Z, &encoder, |t| 0.5 * t),
            (Field::Fx, &force, |t| (3.0 * t).sin()),
            (Field::Fy, &force, |t| t * t),
            (Field::Fz, &force, |_| -9.81),
        ] {
            channels.insert(Channel { robot: 1, field }, series(times, f));
        }
        channels.insert(
            Channel {
                robot: 2,
                field: Field::X,
            },
            series(&lone, |t| 2.0 - t),
        );
        let run = RunData::new(9, &channels, None, MaxGap::Auto);
        for alignment in [Alignment::Interpolate, Alignment::Hold] {
            let options = AlignOptions {
                alignment,
                max_gap: MaxGap::Auto,
            };
            let table = WideTable::new(&run, options);
            let whole = table.rows(0..table.height()).unwrap();
            // Robot 2's instants at odd multiples of 50 ms (+7) fall on the force
            // clock (1 ms + 4k ms): 250 of them.
            assert_eq!(
                whole.height(),
                encoder.len() + force.len() + lone.len() - 250
            );
            let mut blocks = Vec::new();
            let mut start = 0;
            for size in [1, 2, 7, 1000, 4321] {
                blocks.push(table.rows(start..start + size).unwrap());
                start += size;
            }
            blocks.push(table.rows(start..table.height()).unwrap());
            let mut joined = blocks.remove(0);
            for block in &blocks {
                joined.vstack_mut(block).unwrap();
            }
            assert!(joined.equals_missing(&whole), "{alignment:?}");
            assert!(whole.column("vx_1").unwrap().null_count() > 0);
            assert!(whole.column("x_2").unwrap().null_count() < whole.height());
        }
    }
}
