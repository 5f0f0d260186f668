//! The choices a harvest makes that its outputs depend on, and that report.json
//! records: how channels are aligned and how the Parquet outputs are compressed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
}
