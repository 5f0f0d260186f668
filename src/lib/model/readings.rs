//! What validation makes of a log's rows: readings grouped by run and channel, and
//! every dropped row counted under a named reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::schema::Channel;
use crate::time::EpochNanos;

/// Marker for "no value" inside the crate; becomes null in every output.
pub const MISSING: f64 = f64::NAN;

/// A run's identity: the exact unsigned value found in the file.
pub type RunId = u64;

/// The readings of one channel of one run, sorted by time, one reading per instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelSeries {
    pub time: Vec<EpochNanos>,
    pub value: Vec<f64>,
}

impl ChannelSeries {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

/// Every kept reading, grouped by run and channel (ordered, so outputs are deterministic).
pub type Readings = BTreeMap<RunId, BTreeMap<Channel, ChannelSeries>>;

/// Why a row was dropped. The names are part of report.json and the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    TimeNull,
    TimeUnparsable,
    ValueNull,
    ValueUnparsable,
    ValueNotFinite,
    FieldUnknown,
    RobotIdInvalid,
    SensorMismatch,
    RunUuidNull,
    RunUuidInvalid,
    DuplicateIdentical,
    DuplicateConflicting,
    /// An isolated reading far off its channel's path (see `pipeline::spikes`).
    Spike,
}

impl DropReason {
    pub const ALL: [DropReason; 13] = [
        DropReason::TimeNull,
        DropReason::TimeUnparsable,
        DropReason::ValueNull,
        DropReason::ValueUnparsable,
        DropReason::ValueNotFinite,
        DropReason::FieldUnknown,
        DropReason::RobotIdInvalid,
        DropReason::SensorMismatch,
        DropReason::RunUuidNull,
        DropReason::RunUuidInvalid,
        DropReason::DuplicateIdentical,
        DropReason::DuplicateConflicting,
        DropReason::Spike,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::TimeNull => "time_null",
            DropReason::TimeUnparsable => "time_unparsable",
            DropReason::ValueNull => "value_null",
            DropReason::ValueUnparsable => "value_unparsable",
            DropReason::ValueNotFinite => "value_not_finite",
            DropReason::FieldUnknown => "field_unknown",
            DropReason::RobotIdInvalid => "robot_id_invalid",
            DropReason::SensorMismatch => "sensor_mismatch",
            DropReason::RunUuidNull => "run_uuid_null",
            DropReason::RunUuidInvalid => "run_uuid_invalid",
            DropReason::DuplicateIdentical => "duplicate_identical",
            DropReason::DuplicateConflicting => "duplicate_conflicting",
            DropReason::Spike => "spike",
        }
    }
}

/// The accounting of a log's rows that report.json and the catalog keep:
/// `read = kept + Σ dropped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowAccount {
    pub read: u64,
    pub kept: u64,
    pub dropped: BTreeMap<DropReason, u64>,
}

impl RowAccount {
    /// An account of `read` rows listing every reason, with 0 where nothing was
    /// dropped, so reports are comparable across files.
    pub fn of_every_reason(read: u64) -> RowAccount {
        RowAccount {
            read,
            kept: 0,
            dropped: DropReason::ALL.iter().map(|&r| (r, 0)).collect(),
        }
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Counts `rows` more rows dropped for `reason`.
    pub fn drop(&mut self, reason: DropReason, rows: u64) {
        *self.dropped.entry(reason).or_insert(0) += rows;
    }
}
