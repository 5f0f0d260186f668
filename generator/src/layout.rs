//! The shape of a generated log: the four runs of the larger production sample,
//! the clocks and channels each run has, and how run durations scale with the row
//! target.
//!
//! This is data, kept apart from the drawing of readings: changing a run's channels
//! or length is an edit here only, and the scaling can be checked without drawing
//! a single reading.

use harvester::model::schema::{Field, Sensor};
use harvester::time::days_from_civil;

use crate::Cadence;

/// 2022-11-23T20:40:00Z: the production sample's day, so dates look familiar.
pub(crate) const BASE_MS: i64 =
    days_from_civil(2022, 11, 23) * 86_400_000 + (20 * 3600 + 40 * 60) * 1000;

/// Partial channels keep at least this many readings at small sizes, so a test at
/// 20,000 rows still has a series worth differentiating.
const MIN_PARTIAL_READINGS: f64 = 300.0;

/// Runs keep at least this long at small sizes.
const MIN_RUN_MS: f64 = 1_000.0;

/// Nominal sampling period of a sensor's clock in ms. All are whole ms: the
/// timestamps have ms precision, and a 12 ms grid aligned to 4 ms hits every third
/// whole second, so fraction-less timestamps occur regularly. At the slow cadence
/// every clock reads every 1,667 ms, as in the public small sample.
pub(crate) fn period_ms(sensor: Sensor, cadence: Cadence) -> i64 {
    match (cadence, sensor) {
        (Cadence::Fast, Sensor::Encoder) => 12,
        (Cadence::Fast, Sensor::LoadCell) => 10,
        (Cadence::Slow, _) => 1_667,
    }
}

/// Which part of its run a field covers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Coverage {
    Full,
    /// From `start_frac` of the run, for `nominal_s` at the 1x size (scaled).
    Window {
        start_frac: f64,
        nominal_s: f64,
    },
    /// The first `frac` of the run.
    Leading {
        frac: f64,
    },
}

/// One robot's sensor: a clock, and the fields read on it.
pub(crate) struct ClockLayout {
    pub(crate) sensor: Sensor,
    pub(crate) robot: u8,
    pub(crate) fields: &'static [(Field, Coverage)],
}

pub(crate) struct RunLayout {
    /// Start and duration in s at the 1x size; both scale with the row target.
    pub(crate) start_s: f64,
    pub(crate) duration_s: f64,
    /// In row order: sensor, then robot; fields in order inside each clock.
    pub(crate) clocks: &'static [ClockLayout],
}

const XYZ: &[(Field, Coverage)] = &[
    (Field::X, Coverage::Full),
    (Field::Y, Coverage::Full),
    (Field::Z, Coverage::Full),
];
const FXYZ: &[(Field, Coverage)] = &[
    (Field::Fx, Coverage::Full),
    (Field::Fy, Coverage::Full),
    (Field::Fz, Coverage::Full),
];

const fn clock(sensor: Sensor, robot: u8, fields: &'static [(Field, Coverage)]) -> ClockLayout {
    ClockLayout {
        sensor,
        robot,
        fields,
    }
}

/// The four runs of the production sample. It has 1,546,591 rows in 10 minutes; at
/// the fixed cadences that only fits if the runs overlap heavily, so they do (starts
/// staggered by tens of seconds, each lasting most of the window).
pub(crate) static LAYOUT: [RunLayout; 4] = [
    // A: the only run with all 12 channels.
    RunLayout {
        start_s: 0.0,
        duration_s: 500.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
            clock(Sensor::LoadCell, 1, FXYZ),
            clock(Sensor::LoadCell, 2, FXYZ),
        ],
    },
    // B: encoders only.
    RunLayout {
        start_s: 30.0,
        duration_s: 490.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
        ],
    },
    // C: encoders plus a single force channel, fx of robot 1, for 77.6 s.
    RunLayout {
        start_s: 60.0,
        duration_s: 500.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
            clock(
                Sensor::LoadCell,
                1,
                &[(
                    Field::Fx,
                    Coverage::Window {
                        start_frac: 0.3,
                        nominal_s: 77.6,
                    },
                )],
            ),
        ],
    },
    // D: no z of robot 2, y of robot 2 for the first third only.
    RunLayout {
        start_s: 85.0,
        duration_s: 515.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(
                Sensor::Encoder,
                2,
                &[
                    (Field::X, Coverage::Full),
                    (Field::Y, Coverage::Leading { frac: 1.0 / 3.0 }),
                ],
            ),
            clock(Sensor::LoadCell, 1, FXYZ),
            clock(Sensor::LoadCell, 2, FXYZ),
        ],
    },
];

/// Run duration in ms at duration scale `scale`.
pub(crate) fn run_duration_ms(run: &RunLayout, scale: f64) -> f64 {
    (run.duration_s * 1000.0 * scale).max(MIN_RUN_MS)
}

/// (offset from run start, length) in ms of a field's coverage.
pub(crate) fn coverage_ms(
    coverage: Coverage,
    run_ms: f64,
    scale: f64,
    period_ms: f64,
) -> (f64, f64) {
    let floor = MIN_PARTIAL_READINGS * period_ms;
    match coverage {
        Coverage::Full => (0.0, run_ms),
        Coverage::Window {
            start_frac,
            nominal_s,
        } => {
            let len = (nominal_s * 1000.0 * scale)
                .max(floor)
                .min(run_ms * (1.0 - start_frac));
            (run_ms * start_frac, len)
        }
        Coverage::Leading { frac } => (0.0, (run_ms * frac).max(floor).min(run_ms)),
    }
}

/// Expected number of readings of the whole layout at duration scale `scale`.
fn expected_rows(scale: f64, cadence: Cadence) -> f64 {
    let mut rows = 0.0;
    for run in &LAYOUT {
        let run_ms = run_duration_ms(run, scale);
        for clock in run.clocks {
            let period = period_ms(clock.sensor, cadence) as f64;
            for &(_, coverage) in clock.fields {
                rows += coverage_ms(coverage, run_ms, scale, period).1 / period;
            }
        }
    }
    rows
}

/// The fewest valid rows a log of this layout has: every run a second long and every
/// partial channel [`MIN_PARTIAL_READINGS`] readings.
pub(crate) fn min_rows(cadence: Cadence) -> usize {
    expected_rows(0.0, cadence).ceil() as usize
}

/// The duration scale whose expected row count is `rows` (as near as the floors
/// allow). Rows are nearly linear in the scale, so a few fixed-point steps converge.
pub(crate) fn duration_scale(rows: usize, cadence: Cadence) -> f64 {
    let target = rows as f64;
    let mut scale = target / expected_rows(1.0, cadence);
    for _ in 0..50 {
        let expected = expected_rows(scale, cadence);
        scale *= target / expected;
        if (expected - target).abs() < 0.5 {
            break;
        }
    }
    scale.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_ROWS;

    #[test]
    fn partial_channels_at_full_size_have_the_documented_lengths() {
        let scale = duration_scale(DEFAULT_ROWS, Cadence::Fast);
        assert!((expected_rows(scale, Cadence::Fast) - DEFAULT_ROWS as f64).abs() < 1.0);
        let c = &LAYOUT[2];
        let run_ms = run_duration_ms(c, scale);
        let (_, fx_ms) = coverage_ms(c.clocks[2].fields[0].1, run_ms, scale, 10.0);
        assert!((fx_ms / 1000.0 - 77.6).abs() < 0.5, "{fx_ms}");
        let window_s = (LAYOUT[3].start_s + LAYOUT[3].duration_s) * scale;
        assert!((590.0..=610.0).contains(&window_s), "{window_s}");
        // Eight times the rows, eight times the duration.
        let ratio = duration_scale(8 * DEFAULT_ROWS, Cadence::Fast) / scale;
        assert!((ratio - 8.0).abs() < 0.01, "{ratio}");
    }

    #[test]
    fn every_clock_reads_only_fields_of_its_sensor() {
        for run in &LAYOUT {
            for clock in run.clocks {
                for &(field, _) in clock.fields {
                    assert_eq!(field.sensor(), clock.sensor, "{}", field.name());
                }
            }
        }
    }
}
