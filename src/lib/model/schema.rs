//! The log's schema, defined once: its formats, its columns, the six fields, the two
//! robots and the twelve channels a run can have.
//!
//! Everything else in the crate names columns and channels through this module, so a
//! renamed column or a new channel is a change in one place.

/// Columns a log must have; any other column is tolerated and ignored.
pub const TIME: &str = "time";
pub const VALUE: &str = "value";
pub const FIELD: &str = "field";
pub const ROBOT_ID: &str = "robot_id";
pub const RUN_UUID: &str = "run_uuid";
pub const SENSOR_TYPE: &str = "sensor_type";

/// The work cell a reading came from: optional; when present, each run is filed
/// under its cell.
pub const CELL_ID: &str = "cell_id";

/// The required columns, in the order they are checked.
pub const REQUIRED_COLUMNS: [&str; 6] = [TIME, VALUE, FIELD, ROBOT_ID, RUN_UUID, SENSOR_TYPE];

/// The file formats a log comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Parquet,
    Csv,
}

impl InputFormat {
    /// The format a path's extension claims, if it is one of ours.
    pub fn from_extension(path: &std::path::Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(InputFormat::Parquet),
            "csv" => Some(InputFormat::Csv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Parquet => "parquet",
            InputFormat::Csv => "csv",
        }
    }
}

/// The robots of a forming cell.
pub const ROBOTS: [u8; 2] = [1, 2];

/// The instrument a reading comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sensor {
    /// Tool position, millimetres.
    Encoder,
    /// Force on the tool, newtons.
    LoadCell,
}

impl Sensor {
    /// The `sensor_type` value logs use for this sensor.
    pub fn name(self) -> &'static str {
        match self {
            Sensor::Encoder => "encoder",
            Sensor::LoadCell => "load_cell",
        }
    }

    pub fn parse(s: &str) -> Option<Sensor> {
        match s {
            "encoder" => Some(Sensor::Encoder),
            "load_cell" => Some(Sensor::LoadCell),
            _ => None,
        }
    }

    pub fn fields(self) -> [Field; 3] {
        match self {
            Sensor::Encoder => [Field::X, Field::Y, Field::Z],
            Sensor::LoadCell => [Field::Fx, Field::Fy, Field::Fz],
        }
    }
}

/// What a reading measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    X,
    Y,
    Z,
    Fx,
    Fy,
    Fz,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::X,
        Field::Y,
        Field::Z,
        Field::Fx,
        Field::Fy,
        Field::Fz,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::X => "x",
            Field::Y => "y",
            Field::Z => "z",
            Field::Fx => "fx",
            Field::Fy => "fy",
            Field::Fz => "fz",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The sensor that measures this field.
    pub fn sensor(self) -> Sensor {
        match self {
            Field::X | Field::Y | Field::Z => Sensor::Encoder,
            Field::Fx | Field::Fy | Field::Fz => Sensor::LoadCell,
        }
    }

    /// Position within its sensor's triple (x/fx → 0, y/fy → 1, z/fz → 2).
    pub fn axis(self) -> usize {
        match self {
            Field::X | Field::Fx => 0,
            Field::Y | Field::Fy => 1,
            Field::Z | Field::Fz => 2,
        }
    }
}

/// One robot's field: the unit that has its own samples and its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel {
    pub robot: u8,
    pub field: Field,
}

impl Channel {
    /// The twelve channels in wide-table column order: positions of both robots,
    /// then forces of both robots.
    pub fn all() -> [Channel; 12] {
        let mut out = [Channel {
            robot: 1,
            field: Field::X,
        }; 12];
        let mut i = 0;
        for sensor in [Sensor::Encoder, Sensor::LoadCell] {
            for robot in ROBOTS {
                for field in sensor.fields() {
                    out[i] = Channel { robot, field };
                    i += 1;
                }
            }
        }
        out
    }

    /// Wide-table column name, e.g. `x_1`, `fz_2`.
    pub fn column(self) -> String {
        format!("{}_{}", self.field.name(), self.robot)
    }

    /// Dense index 0..12 in [`Channel::all`] order.
    pub fn index(self) -> usize {
        let sensor_block = match self.field.sensor() {
            Sensor::Encoder => 0,
            Sensor::LoadCell => 6,
        };
        sensor_block + (self.robot as usize - 1) * 3 + self.field.axis()
    }
}

/// Every column of a wide table after `time`, in order: the twelve channels
/// (`x_1` … `fz_2`), the encoder channels' velocities (`vx_1` … `vz_2`) and
/// accelerations (`ax_1` … `az_2`), then the magnitudes `v1 v2 a1 a2 f1 f2`. Every
/// run's table has them all, null where a channel is absent, so the dataset's
/// tables share one schema.
pub fn wide_columns() -> Vec<String> {
    let mut names: Vec<String> = Channel::all().iter().map(|c| c.column()).collect();
    for prefix in ["v", "a"] {
        for robot in ROBOTS {
            for field in Sensor::Encoder.fields() {
                names.push(format!("{prefix}{}_{robot}", field.name()));
            }
        }
    }
    for name in ["v", "a", "f"] {
        for robot in ROBOTS {
            names.push(format!("{name}{robot}"));
        }
    }
    names
}

/// The wide-table columns that are null throughout when the channels named in
/// `missing` (`x_1`, `fz_2`, …) are absent: those channels, an absent encoder
/// channel's velocity and acceleration, and the magnitudes missing a component.
pub fn absent_columns(missing: &[String]) -> Vec<String> {
    let mut absent: Vec<String> = Vec::new();
    for channel in Channel::all() {
        if !missing.contains(&channel.column()) {
            continue;
        }
        let (field, robot) = (channel.field.name(), channel.robot);
        absent.push(channel.column());
        match channel.field.sensor() {
            Sensor::Encoder => absent.extend([
                format!("v{field}_{robot}"),
                format!("a{field}_{robot}"),
                format!("v{robot}"),
                format!("a{robot}"),
            ]),
            Sensor::LoadCell => absent.push(format!("f{robot}")),
        }
    }
    absent.sort();
    absent.dedup();
    absent
}

/// Version of the output layout and of every formula that feeds it. Bump it when a
/// change alters any output byte; `harvest --reharvest-outdated` then rebuilds old
/// outputs.
///
/// 2: conflicting duplicates keep the reading on the channel's path, isolated spikes
/// are dropped, and `--max-gap auto` (per channel) is the default.
///
/// 3: runs' wide tables live in the dataset (`OUT/dataset/samples/`, with `run_uuid`
/// and `labels` columns and every channel's column, null when absent); run
/// statistics have a `cell`.
///
/// 4: a spike is a departure the series returns from; the readings next to a level
/// step are kept. A source has one current content: an edited, shortened or
/// re-exported log supersedes what its path held before (not only a CSV that
/// grew), and report.json's `supersedes` says why (`reason`: `grew` or `changed`).
pub const OUTPUT_SCHEMA_VERSION: i64 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_channels_empty_their_derivatives_and_magnitudes() {
        let columns = wide_columns();
        assert_eq!(columns.len(), 12 + 12 + 6);
        assert_eq!(columns[..3], ["x_1", "y_1", "z_1"]);
        assert_eq!(columns[24..], ["v1", "v2", "a1", "a2", "f1", "f2"]);
        let absent = absent_columns(&["z_2".to_string(), "fx_1".to_string()]);
        assert_eq!(absent, ["a2", "az_2", "f1", "fx_1", "v2", "vz_2", "z_2"]);
        assert!(absent.iter().all(|c| columns.contains(c)));
    }

    #[test]
    fn channel_index_matches_column_order() {
        for (i, channel) in Channel::all().into_iter().enumerate() {
            assert_eq!(channel.index(), i, "{}", channel.column());
        }
        let names: Vec<String> = Channel::all().iter().map(|c| c.column()).collect();
        assert_eq!(
            names,
            [
                "x_1", "y_1", "z_1", "x_2", "y_2", "z_2", "fx_1", "fy_1", "fz_1", "fx_2", "fy_2",
                "fz_2"
            ]
        );
    }

    #[test]
    fn fields_round_trip_and_know_their_sensor() {
        for field in Field::ALL {
            assert_eq!(Field::parse(field.name()), Some(field));
            assert!(field.sensor().fields().contains(&field));
        }
        assert_eq!(Field::parse("w"), None);
        assert_eq!(Sensor::parse("encoder"), Some(Sensor::Encoder));
    }
}
