//! How numbers, sizes and times read in tables.

use crate::model::report::Report;
use crate::model::run_stats::MinMeanMax;
use crate::time::{format_utc, parse_iso8601, seconds_between};

/// `1234567.891` with 1 decimal → `1,234,567.9`.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{:.*}", decimals, v);
    let (sign, s) = s
        .strip_prefix('-')
        .map_or(("", s.as_str()), |rest| ("-", rest));
    let (int, frac) = s.split_once('.').map_or((s, None), |(i, f)| (i, Some(f)));
    let mut grouped = group_digits(int);
    if let Some(f) = frac {
        grouped.push('.');
        grouped.push_str(f);
    }
    // -0.0 rounds to "-0.0": show it as 0.
    if sign == "-" && grouped.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// `1234567` → `1,234,567`.
pub fn count(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let grouped = group_digits(&n.unsigned_abs().to_string());
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{} %", number(100.0 * part / whole, 1))
    } else {
        "n/a".into()
    }
}

pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{} B", count(n))
    } else {
        format!("{} {unit} ({} bytes)", number(v, 1), count(n))
    }
}

pub(super) fn opt_number(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| number(v, decimals))
}

pub(super) fn min_mean_max(s: Option<MinMeanMax>, decimals: usize, separator: &str) -> String {
    s.map_or_else(
        || "n/a".into(),
        |s| {
            [s.min, s.mean, s.max]
                .map(|v| number(v, decimals))
                .join(separator)
        },
    )
}

/// An ISO time on one line, or as date over time.
pub(super) fn iso_cell(iso: &str, narrow: bool) -> String {
    if narrow {
        iso.replacen('T', "\n", 1)
    } else {
        iso.to_string()
    }
}

/// An ISO 8601 time as the catalog writes them (milliseconds), or as given.
pub(super) fn to_millis(iso: &str) -> String {
    parse_iso8601(iso).map_or_else(
        || iso.to_string(),
        |ns| format_utc(ns - ns.rem_euclid(1_000_000)),
    )
}

/// Seconds the harvest took: the sum of its stages, or finished − started.
pub fn harvest_seconds(report: &Report) -> Option<f64> {
    if !report.stages.is_empty() {
        return Some(report.stages.iter().map(|s| s.seconds).sum());
    }
    let (start, stop) = (
        parse_iso8601(&report.started_at)?,
        parse_iso8601(&report.finished_at)?,
    );
    Some(seconds_between(start, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(number(1234567.891, 1), "1,234,567.9");
        assert_eq!(number(-1234.5, 0), "-1,234");
        assert_eq!(number(999.999, 2), "1,000.00");
        assert_eq!(number(-0.0001, 2), "0.00");
        assert_eq!(number(12.0, 3), "12.000");
        assert_eq!(count(0u64), "0");
        assert_eq!(count(1000u64), "1,000");
        assert_eq!(count(-1234567i64), "-1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB (1,536 bytes)");
    }
}
