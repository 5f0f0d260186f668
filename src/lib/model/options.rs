//! The choices a harvest makes that its outputs depend on, and that report.json
//! records: how channels are aligned, how long a gap they bridge, and how the
//! Parquet outputs are encoded and compressed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::time::{median_interval_ns, EpochNanos};

/// How a channel is evaluated between its own samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alignment {
    /// Linear interpolation between bracketing samples.
    #[default]
    Interpolate,
    /// Last reading carried forward.
    Hold,
}

/// The longest interval between two readings of a channel that a harvest bridges:
/// values are interpolated (or held), derivatives taken and distance summed only
/// across intervals at most this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxGap {
    /// Per channel: max(1 s, [`MaxGap::AUTO_FACTOR`] × the channel's median
    /// sampling interval), so a channel read every 10 ms bridges 1 s and one read
    /// every 1.667 s bridges 8.3 s.
    #[default]
    Auto,
    /// The same bound for every channel, in nanoseconds.
    Fixed(i64),
}

impl MaxGap {
    /// How many of its typical intervals a channel may miss in a row under `auto`.
    pub const AUTO_FACTOR: i64 = 5;
    /// The least `auto` bridges, whatever the cadence.
    pub const AUTO_FLOOR_NS: i64 = 1_000_000_000;
    /// The most any bound bridges (10⁹ s, as `--max-gap` accepts): twice it still fits
    /// the nanosecond arithmetic across a bridged interval.
    pub const CEILING_NS: i64 = 1_000_000_000 * 1_000_000_000;

    /// The bound for a channel sampled at `times` (ascending), in nanoseconds.
    pub fn bound_ns(self, times: &[EpochNanos]) -> i64 {
        match self {
            MaxGap::Fixed(ns) => ns,
            MaxGap::Auto => self.bound_for_median(median_interval_ns(times)),
        }
    }

    /// The bound for a channel whose median sampling interval is `median` (ns;
    /// `None` with a single reading), when that median is already known.
    pub fn bound_for_median(self, median: Option<i64>) -> i64 {
        match self {
            MaxGap::Fixed(ns) => ns,
            MaxGap::Auto => median.map_or(Self::AUTO_FLOOR_NS, |median| {
                median
                    .saturating_mul(Self::AUTO_FACTOR)
                    .clamp(Self::AUTO_FLOOR_NS, Self::CEILING_NS)
            }),
        }
    }
}

impl fmt::Display for MaxGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxGap::Auto => f.write_str("auto"),
            MaxGap::Fixed(ns) => write!(f, "{}", *ns as f64 * 1e-9),
        }
    }
}

/// report.json keeps `"auto"` or the number of seconds (older reports: a number).
impl Serialize for MaxGap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxGap::Auto => serializer.serialize_str("auto"),
            MaxGap::Fixed(ns) => serializer.serialize_f64(*ns as f64 * 1e-9),
        }
    }
}

impl<'de> Deserialize<'de> for MaxGap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Seconds(f64),
            Word(String),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Seconds(s) => Ok(MaxGap::Fixed((s * 1e9).round() as i64)),
            Stored::Word(w) if w == "auto" => Ok(MaxGap::Auto),
            Stored::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}` is not a max gap: expected \"auto\" or seconds"
            ))),
        }
    }
}

/// How the Parquet outputs are compressed.
///
/// The wide tables are mostly full-precision floats (interpolated positions, their
/// derivatives and magnitudes), which general-purpose codecs barely shrink: on the
/// benchmark log zstd level 3 saves about a quarter of the bytes at five times the
/// cost of writing them plain, and Snappy or LZ4 save almost nothing. Outputs are
/// therefore uncompressed unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Compression {
    #[default]
    None,
    Snappy,
    Lz4,
    /// Zstandard at a level from 1 (fastest) to 22 (smallest).
    Zstd(i32),
}

impl Compression {
    /// The zstd level `zstd` alone means, as most tools use.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Zstd(level) => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    /// `none`, `snappy`, `lz4`, `zstd` or `zstd:LEVEL` (1–22).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected none, snappy, lz4, zstd or zstd:LEVEL (1-22)";
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => Ok(Compression::None),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd(Self::DEFAULT_ZSTD_LEVEL)),
            other => match other.strip_prefix("zstd:").map(str::parse::<i32>) {
                Some(Ok(level)) if (1..=22).contains(&level) => Ok(Compression::Zstd(level)),
                _ => Err(format!("`{s}` is not a compression: {expected}")),
            },
        }
    }
}

impl From<Compression> for String {
    fn from(c: Compression) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Compression {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// How the Parquet outputs lay out the values of their float and instant columns
/// in a page.
///
/// Either way every value is stored exactly and reads back the same. `split`
/// writes floats as Parquet's BYTE_STREAM_SPLIT, the first byte of every value,
/// then the second byte of every value, and so on: the sign, exponent and high
/// mantissa bytes of measured quantities repeat from row to row, so a codec finds
/// them, where PLAIN interleaves them with the noisy low bytes. It writes instants
/// as DELTA_BINARY_PACKED, a few bits per row for ascending timestamps. It pays
/// with a codec (`--compression lz4` or `zstd:1`); uncompressed, only the
/// instants shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Each value's bytes together (Parquet's PLAIN), as every reader expects.
    #[default]
    Plain,
    /// Float values' bytes split into one stream per byte position (Parquet's
    /// BYTE_STREAM_SPLIT), instants as deltas (DELTA_BINARY_PACKED); both read by
    /// DuckDB, polars, pyarrow and Spark alike.
    Split,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Plain => "plain",
            Encoding::Split => "split",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_named_as_they_are_parsed() {
        for (text, codec) in [
            ("none", Compression::None),
            ("uncompressed", Compression::None),
            ("snappy", Compression::Snappy),
            ("LZ4", Compression::Lz4),
            ("zstd", Compression::Zstd(3)),
            ("zstd:1", Compression::Zstd(1)),
            ("zstd:22", Compression::Zstd(22)),
        ] {
            assert_eq!(text.parse::<Compression>(), Ok(codec), "{text}");
            assert_eq!(codec.to_string().parse::<Compression>(), Ok(codec));
        }
        for bad in ["", "zip", "zstd:0", "zstd:23", "zstd:", "zstd:x", "gzip"] {
            let err = bad.parse::<Compression>().unwrap_err();
            assert!(err.contains("expected none, snappy"), "{bad}: {err}");
        }
        assert_eq!(
            serde_json::to_string(&Compression::Zstd(7)).unwrap(),
            r#""zstd:7""#
        );
    }

    #[test]
    fn encodings_are_stored_by_name() {
        use clap::ValueEnum;
        for (encoding, name) in [(Encoding::Plain, "plain"), (Encoding::Split, "split")] {
            assert_eq!(encoding.to_string(), name);
            assert_eq!(Encoding::from_str(name, false), Ok(encoding));
            assert_eq!(
                serde_json::to_string(&encoding).unwrap(),
                format!("\"{name}\"")
            );
        }
    }

    #[test]
    fn auto_max_gap_is_five_median_intervals_and_at_least_a_second() {
        const MS: i64 = 1_000_000;
        let every = |ms: i64, n: i64| (0..n).map(|k| k * ms * MS).collect::<Vec<_>>();
        assert_eq!(MaxGap::Auto.bound_ns(&every(10, 100)), 1_000 * MS);
        assert_eq!(MaxGap::Auto.bound_ns(&every(1_667, 100)), 8_335 * MS);
        assert_eq!(MaxGap::Auto.bound_ns(&every(300, 100)), 1_500 * MS);
        // One long pause does not move the median.
        let mut paused = every(1_667, 100);
        paused[99] += 60_000 * MS;
        assert_eq!(MaxGap::Auto.bound_ns(&paused), 8_335 * MS);
        assert_eq!(MaxGap::Auto.bound_ns(&[5]), 1_000 * MS);
        assert_eq!(
            MaxGap::Auto.bound_ns(&[i64::MIN, 0, i64::MAX]),
            MaxGap::CEILING_NS
        );
        assert_eq!(MaxGap::Fixed(7).bound_ns(&every(1_667, 100)), 7);
    }

    #[test]
    fn max_gap_is_stored_as_auto_or_seconds() {
        for (gap, json) in [
            (MaxGap::Auto, r#""auto""#),
            (MaxGap::Fixed(1_500_000_000), "1.5"),
        ] {
            assert_eq!(serde_json::to_string(&gap).unwrap(), json);
            assert_eq!(serde_json::from_str::<MaxGap>(json).unwrap(), gap);
        }
        assert!(serde_json::from_str::<MaxGap>(r#""often""#).is_err());
    }
}
