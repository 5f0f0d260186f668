//! Bad rows: which valid readings are copied, where the copies go and the one thing
//! wrong with each, counted per drop reason.
//!
//! Planned separately from the frame so the counts a test checks against and the
//! rows that are written come from the same plan.

use std::collections::BTreeMap;

use harvester::model::readings::DropReason;
use harvester::model::schema::{Field, Sensor};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::readings::{round4, Readings};
use crate::RunUuidType;

/// The one thing wrong with an injected row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Defect {
    TimeNull,
    TimeText(&'static str),
    ValueNull,
    Value(f64),
    FieldUnknown(&'static str),
    RobotInvalid(i64),
    SensorMismatch,
    RunNull,
    RunText(&'static str),
    DuplicateIdentical,
    DuplicateConflicting(f64),
}

impl Defect {
    /// Whether the row repeats its template's key (run, robot, field, time); every
    /// other bad row is moved off it.
    pub(crate) fn is_duplicate(self) -> bool {
        matches!(
            self,
            Defect::DuplicateIdentical | Defect::DuplicateConflicting(_)
        )
    }
}

/// An injected row: a copy of valid reading `template` with one defect, inserted
/// before valid reading `position`.
pub(crate) struct Injection {
    pub(crate) position: usize,
    pub(crate) template: usize,
    pub(crate) defect: Defect,
}

/// Not valid instants. One is a calendar-invalid date that has the right shape, to
/// catch byte-level parsers that check only digits and ranges.
pub(crate) const BAD_TIMES: [&str; 4] = [
    "2022-13-45T99:00:00Z",
    "not a time",
    "2022-11-31T20:40:17.5Z",
    "2022-11-23T20:61:17Z",
];
const BAD_FIELDS: [&str; 3] = ["w", "fq", "xyz"];
/// Robot ids outside [`harvester::model::schema::ROBOTS`].
const BAD_ROBOTS: [i64; 3] = [3, 0, -1];
const BAD_RUN_TEXTS: [&str; 3] = ["abc", "-5", "run-7"];
const NOT_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// The sensor that does not measure `field`: the `sensor_type` of a mismatched row.
pub(crate) fn mismatched_sensor(field: Field) -> Sensor {
    match field.sensor() {
        Sensor::Encoder => Sensor::LoadCell,
        Sensor::LoadCell => Sensor::Encoder,
    }
}

/// Chooses 5 to 20 bad rows of each kind. Every bad row copies a different valid
/// reading, so duplicates of different kinds never share a key. Rows with a
/// single-row defect are moved 1 ms later: readings of one channel are at least 8 ms
/// apart, so the moved key matches no valid row, and the row has no problem but its
/// defect whichever order a reader checks things in.
pub(crate) fn plan_injections(
    rng: &mut SmallRng,
    readings: &Readings,
    ty: RunUuidType,
) -> (Vec<Injection>, BTreeMap<DropReason, usize>) {
    type Make = fn(usize) -> Defect;
    // The order is part of the output: the random draws follow it.
    let mut kinds: Vec<(DropReason, Make)> = vec![
        (DropReason::TimeNull, |_| Defect::TimeNull),
        (DropReason::TimeUnparsable, |i| {
            Defect::TimeText(BAD_TIMES[i % BAD_TIMES.len()])
        }),
        (DropReason::ValueNull, |_| Defect::ValueNull),
        (DropReason::ValueNotFinite, |i| {
            Defect::Value(NOT_FINITE[i % NOT_FINITE.len()])
        }),
        (DropReason::FieldUnknown, |i| {
            Defect::FieldUnknown(BAD_FIELDS[i % BAD_FIELDS.len()])
        }),
        (DropReason::RobotIdInvalid, |i| {
            Defect::RobotInvalid(BAD_ROBOTS[i % BAD_ROBOTS.len()])
        }),
        (DropReason::SensorMismatch, |_| Defect::SensorMismatch),
        (DropReason::RunUuidNull, |_| Defect::RunNull),
    ];
    if ty == RunUuidType::String {
        kinds.push((DropReason::RunUuidInvalid, |i| {
            Defect::RunText(BAD_RUN_TEXTS[i % BAD_RUN_TEXTS.len()])
        }));
    }

    let n = readings.time_ms.len();
    let counts: Vec<usize> = (0..kinds.len() + 2)
        .map(|_| rng.gen_range(5..=20))
        .collect();
    let wanted: usize = counts.iter().sum();
    let mut templates = rand::seq::index::sample(rng, n, wanted.min(n)).into_iter();

    let mut injections = Vec::new();
    let mut injected = BTreeMap::new();
    for (&(reason, make), &count) in kinds.iter().zip(&counts) {
        let mut made = 0;
        for (i, template) in templates.by_ref().take(count).enumerate() {
            injections.push(Injection {
                position: rng.gen_range(0..=n),
                template,
                defect: make(i),
            });
            made += 1;
        }
        injected.insert(reason, made);
    }
    // Duplicates: one or two extra rows per original, scattered through the file.
    let duplicate_counts = &counts[kinds.len()..];
    for (reason, &count) in [
        DropReason::DuplicateIdentical,
        DropReason::DuplicateConflicting,
    ]
    .into_iter()
    .zip(duplicate_counts)
    {
        let mut made = 0;
        while made < count {
            let Some(template) = templates.next() else {
                break;
            };
            let copies = rng.gen_range(1..=2).min(count - made);
            for _ in 0..copies {
                let defect = if reason == DropReason::DuplicateIdentical {
                    Defect::DuplicateIdentical
                } else {
                    let delta = rng.gen_range(0.5..5.0) * if rng.gen() { 1.0 } else { -1.0 };
                    Defect::DuplicateConflicting(round4(readings.value[template] + delta))
                };
                injections.push(Injection {
                    position: rng.gen_range(0..=n),
                    template,
                    defect,
                });
            }
            made += copies;
        }
        injected.insert(reason, made);
    }
    injections.sort_by_key(|inj| inj.position);
    (injections, injected)
}

#[cfg(test)]
mod tests {
    use harvester::model::schema::ROBOTS;

    use super::*;

    #[test]
    fn bad_values_are_bad() {
        assert!(BAD_ROBOTS
            .iter()
            .all(|&r| !ROBOTS.iter().any(|&ok| i64::from(ok) == r)));
        assert!(BAD_FIELDS.iter().all(|f| Field::parse(f).is_none()));
        assert!(BAD_RUN_TEXTS.iter().all(|t| t.parse::<u64>().is_err()));
        assert!(BAD_TIMES
            .iter()
            .all(|t| harvester::time::parse_iso8601(t).is_none()));
        for field in Field::ALL {
            assert_ne!(mismatched_sensor(field), field.sensor());
        }
    }
}
