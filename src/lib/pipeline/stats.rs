//! Per-run, per-robot statistics, computed from each sensor's own samples.
//!
//! Statistics do not depend on the wide table's alignment: speed, acceleration and
//! force are evaluated at the instants the robot's sensor actually reported (the
//! union of its three fields' sample times, fields interpolated onto it only where
//! one of them missed a reading), so `--align hold` cannot distort them.
//!
//! * `distance_mm` = Σ ‖pᵢ₊₁ − pᵢ‖ over consecutive encoder instants at most the
//!   encoder's gap bound apart (the largest of its three channels' bounds) (the polyline through the readings; a circle of radius r sampled every
//!   12 ms gives 2πr to better than 1e-4).
//! * `speed_mm_s` = ‖(vx, vy, vz)‖, `accel_mm_s2` = ‖(ax, ay, az)‖, `force_n` =
//!   ‖(fx, fy, fz)‖: min, mean (unweighted, over sample instants) and max.
//! * `runtime_s` = stop − start over all of the robot's readings in the run.
//!
//! A quantity whose channels are not all present is `None` (null), never 0 or NaN.

use std::borrow::Cow;

use crate::model::options::Alignment;
use crate::model::readings::ChannelSeries;
use crate::model::report::RunCoverage;
use crate::model::run_stats::{MinMeanMax, RunStats};
use crate::model::schema::{Channel, Sensor, ROBOTS};
use crate::pipeline::align::{distinct_axes, union_timeline, Resampler};
use crate::pipeline::features::{magnitude, norm};
use crate::pipeline::runs::RunData;
use crate::time::{nanos_between, seconds_between, EpochNanos};

/// A sensor's own instants (the union of its three fields' sample times) and how
/// each field's samples map onto them, worked out once for the readings and both
/// derivatives.
struct SensorAxes {
    channels: [Channel; 3],
    times: Vec<EpochNanos>,
    /// The largest gap bound of the three channels, in ns.
    gap_ns: i64,
    /// Per distinct axis, its plan, and for each channel the index of its plan
    /// (fields on one clock share one). None when the three fields share one clock:
    /// their values are already on `times` and are used as they are.
    plans: Option<(Vec<Resampler>, Vec<usize>)>,
}

impl SensorAxes {
    /// `None` unless all three of the sensor's channels are present.
    fn new(run: &RunData, robot: u8, sensor: Sensor) -> Option<SensorAxes> {
        let channels = sensor.fields().map(|field| Channel { robot, field });
        let series: Vec<&ChannelSeries> = channels
            .iter()
            .map(|c| run.channels.get(c))
            .collect::<Option<_>>()?;
        let times = union_timeline(series.iter().map(|s| s.time.as_slice()));
        let (axes, plan_of) = distinct_axes(series.iter().map(|s| s.time.as_slice()));
        let plans = (axes.len() > 1).then(|| {
            let gaps = run.axis_gaps(axes.len(), &plan_of, |field| channels[field]);
            let plans = axes
                .iter()
                .zip(gaps)
                .map(|(axis, gap)| Resampler::new(axis, &times, Alignment::Interpolate, gap))
                .collect();
            (plans, plan_of)
        });
        let gap_ns = channels.iter().map(|&c| run.gap(c)).max().unwrap_or(0);
        Some(SensorAxes {
            channels,
            times,
            gap_ns,
            plans,
        })
    }

    /// The signal `pick` selects for each field (readings or a derivative, aligned
    /// with the field's sample times) on the sensor's instants.
    fn evaluate<'a>(
        &self,
        pick: impl Fn(Channel) -> Option<&'a [f64]>,
    ) -> Option<[Cow<'a, [f64]>; 3]> {
        let mut axes = [
            Cow::Borrowed(&[][..]),
            Cow::Borrowed(&[][..]),
            Cow::Borrowed(&[][..]),
        ];
        for (i, channel) in self.channels.into_iter().enumerate() {
            let values = pick(channel)?;
            axes[i] = match &self.plans {
                None => Cow::Borrowed(values),
                Some((plans, plan_of)) => Cow::Owned(plans[plan_of[i]].apply(values)),
            };
        }
        Some(axes)
    }
}

/// Computes the statistics of every robot that has readings in the run.
pub fn run_stats(run: &RunData) -> Vec<RunStats> {
    ROBOTS
        .iter()
        .filter_map(|&robot| {
            let own: Vec<&ChannelSeries> = run
                .channels
                .iter()
                .filter(|(c, s)| c.robot == robot && !s.is_empty())
                .map(|(_, s)| s)
                .collect();
            let start = own.iter().map(|s| s.time[0]).min()?;
            let stop = own
                .iter()
                .map(|s| *s.time.last().expect("non-empty"))
                .max()?;

            let readings = |c: Channel| run.channels.get(&c).map(|s| s.value.as_slice());
            let encoder = SensorAxes::new(run, robot, Sensor::Encoder);
            let load_cell = SensorAxes::new(run, robot, Sensor::LoadCell);
            let positions = encoder.as_ref().and_then(|e| e.evaluate(readings));
            let velocity = encoder
                .as_ref()
                .and_then(|e| e.evaluate(|c| run.velocity(c)));
            let acceleration = encoder
                .as_ref()
                .and_then(|e| e.evaluate(|c| run.acceleration(c)));
            let force = load_cell.as_ref().and_then(|l| l.evaluate(readings));

            let norm = |[x, y, z]: &[Cow<[f64]>; 3]| magnitude(x, y, z);
            Some(RunStats {
                run_uuid: run.run_uuid,
                robot_id: robot,
                // Set by the pipeline, which knows the run's cell and coverage.
                cell: None,
                start,
                stop,
                runtime_s: seconds_between(start, stop),
                distance_mm: encoder
                    .as_ref()
                    .zip(positions.as_ref())
                    .and_then(|(e, p)| path_length(&e.times, p, e.gap_ns)),
                speed_mm_s: velocity.as_ref().and_then(|v| MinMeanMax::of(&norm(v))),
                accel_mm_s2: acceleration.as_ref().and_then(|a| MinMeanMax::of(&norm(a))),
                force_n: force.as_ref().and_then(|f| MinMeanMax::of(&norm(f))),
                rows: own.iter().map(|s| s.len() as u64).sum(),
                encoder_samples: encoder.as_ref().map_or(0, |e| e.times.len() as u64),
                load_cell_samples: load_cell.as_ref().map_or(0, |l| l.times.len() as u64),
                channels: 0,
                coverage: None,
            })
        })
        .collect()
}

/// Length of the polyline through consecutive complete positions at most `max_gap_ns`
/// apart; `None` when no such pair exists (nothing was measured, which is not 0 mm).
fn path_length(times: &[EpochNanos], [x, y, z]: &[Cow<[f64]>; 3], max_gap_ns: i64) -> Option<f64> {
    let mut total = 0.0;
    let mut measured = false;
    for i in (1..times.len()).filter(|&i| nanos_between(times[i - 1], times[i]) <= max_gap_ns) {
        let step = norm(x[i] - x[i - 1], y[i] - y[i - 1], z[i] - z[i - 1]);
        if step.is_nan() {
            continue;
        }
        if !step.is_finite() {
            // Readings so far apart that the step overflows: no meaningful distance.
            return None;
        }
        total += step;
        measured = true;
    }
    measured.then_some(total)
}

/// Sets a robot's `channels` and `coverage` from its run's channel coverage.
pub fn set_coverage(stats: &mut RunStats, run: &RunCoverage) {
    let suffix = format!("_{}", stats.robot_id);
    let own: Vec<f64> = run
        .channels
        .iter()
        .filter(|(column, _)| column.ends_with(&suffix))
        .map(|(_, c)| c.coverage)
        .collect();
    stats.channels = own.len() as u64;
    stats.coverage = Some(own.iter().sum::<f64>() / 6.0);
}
