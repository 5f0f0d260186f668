//! Timestamps: a strict byte-level ISO 8601 parser and the UTC formatter used in
//! every output.
//!
//! Logs carry times as strings such as `2022-11-23T20:40:17.63Z`: trailing zeros of
//! the fraction are dropped and whole seconds have no fraction at all. A general
//! `strptime` costs about 150 ns a string, more than reading the whole file; this
//! parser handles the one layout logs use at a few ns a string, and rejects anything
//! else so the row is dropped under `time_unparsable` instead of guessed at.

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type EpochNanos = i64;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Parses `YYYY-MM-DD(T| )HH:MM:SS[.f{1,9}][Z|±HH:MM|±HHMM|±HH]`.
///
/// A time without an offset is taken as UTC, which is what the logs record.
/// Returns `None` for anything else, including out-of-range fields (month 13,
/// second 61) and dates whose nanosecond count does not fit in an `i64`.
pub fn parse_iso8601(s: &str) -> Option<EpochNanos> {
    TimestampParser::default().parse(s)
}

/// [`parse_iso8601`] for a column of timestamps: it remembers the last date it
/// read. A log's millions of timestamps fall on a handful of dates, and checking
/// and counting the days of a date is a fifth of a parse.
#[derive(Debug, Default)]
pub struct TimestampParser {
    /// The last valid `YYYY-MM-DD` read and its days since 1970-01-01.
    last_date: Option<([u8; 10], i64)>,
}

impl TimestampParser {
    /// Parses one timestamp, as [`parse_iso8601`] does.
    pub fn parse(&mut self, s: &str) -> Option<EpochNanos> {
        let b = s.as_bytes();
        if b.len() < 19 {
            return None;
        }
        if b[4] != b'-'
            || b[7] != b'-'
            || (b[10] != b'T' && b[10] != b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let date: [u8; 10] = b[..10].try_into().expect("ten bytes");
        let days = match self.last_date {
            Some((last, days)) if last == date => days,
            _ => {
                let days = days_of_date(b)?;
                self.last_date = Some((date, days));
                days
            }
        };
        time_of_day(b, days)
    }
}

/// Days since 1970-01-01 of the `YYYY-MM-DD` at the start of `b`, if it is a date.
fn days_of_date(b: &[u8]) -> Option<i64> {
    let year = digits(&b[0..4])? as i64;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// The instant of the `HH:MM:SS[.f][offset]` from byte 11 of `b`, on day `days`.
fn time_of_day(b: &[u8], days: i64) -> Option<EpochNanos> {
    let hour = digits(&b[11..13])? as i64;
    let minute = digits(&b[14..16])? as i64;
    let second = digits(&b[17..19])? as i64;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let mut i = 19;
    let mut fraction: i64 = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        fraction = digits(&b[start..i])? as i64 * 10_i64.pow((9 - n) as u32);
    }

    let offset_seconds: i64 = match &b[i..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let magnitude = (h * 3600 + m * 60) as i64;
            if *sign == b'+' {
                magnitude
            } else {
                -magnitude
            }
        }
        _ => return None,
    };

    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(fraction)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm);
/// negative before 1970.
///
/// `month` is 1..=12 and `day` 1..=31; the date is not checked, so callers check
/// it first. `const`, so fixed instants can be constants.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: the proleptic Gregorian `(year, month, day)`
/// of a count of days since 1970-01-01, for formatters that write dates digit by
/// digit instead of through a general date library.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

/// Formats epoch nanoseconds as ISO 8601 UTC with millisecond precision or finer
/// when needed, e.g. `2022-11-23T20:40:17.630Z`.
pub fn format_utc(ns: EpochNanos) -> String {
    let secs = ns.div_euclid(NANOS_PER_SECOND);
    let nanos = ns.rem_euclid(NANOS_PER_SECOND) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) if nanos.is_multiple_of(1_000_000) => {
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        }
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        None => format!("{ns}ns"),
    }
}

/// The inverse of [`format_utc`]: an instant as the outputs and the catalog write it.
pub fn parse_utc(s: &str) -> Option<EpochNanos> {
    parse_iso8601(s).or_else(|| s.strip_suffix("ns")?.parse().ok())
}

/// Seconds between two instants, as a float (exact in i128: the instants may be
/// centuries apart without overflowing).
pub fn seconds_between(start: EpochNanos, stop: EpochNanos) -> f64 {
    (stop as i128 - start as i128) as f64 / NANOS_PER_SECOND as f64
}

/// `later − earlier` in nanoseconds, saturating instead of overflowing.
pub fn nanos_between(earlier: EpochNanos, later: EpochNanos) -> i64 {
    later.saturating_sub(earlier)
}

/// The median interval between consecutive instants of an ascending axis (the
/// upper middle one for an even count), or `None` with fewer than two instants.
pub fn median_interval_ns(times: &[EpochNanos]) -> Option<i64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 1_669_236_017; // 2022-11-23T20:40:17Z

    #[test]
    fn every_fraction_width_means_the_same_instant() {
        let expect = BASE * NANOS_PER_SECOND + 630_000_000;
        for s in [
            "2022-11-23T20:40:17.63Z",
            "2022-11-23T20:40:17.630Z",
            "2022-11-23T20:40:17.630000Z",
            "2022-11-23T20:40:17.630000000Z",
            "2022-11-23 20:40:17.63",
            "2022-11-23T20:40:17.630+00:00",
            "2022-11-23T21:40:17.63+01:00",
            "2022-11-23T19:40:17.63-0100",
            "2022-11-23T22:40:17.63+02",
        ] {
            assert_eq!(parse_iso8601(s), Some(expect), "{s}");
        }
    }

    #[test]
    fn whole_seconds_and_single_digit_fractions_parse() {
        assert_eq!(
            parse_iso8601("2022-11-23T20:40:17Z"),
            Some(BASE * NANOS_PER_SECOND)
        );
        assert_eq!(
            parse_iso8601("2022-11-23T20:40:17.6Z"),
            Some(BASE * NANOS_PER_SECOND + 600_000_000)
        );
        assert_eq!(
            parse_iso8601("2022-11-23T20:40:17.000000001Z"),
            Some(BASE * NANOS_PER_SECOND + 1)
        );
    }

    #[test]
    fn malformed_times_are_rejected() {
        for s in [
            "",
            "not a time",
            "2022-13-01T00:00:00Z",
            "2022-02-29T00:00:00Z",
            "2022-11-23T24:00:00Z",
            "2022-11-23T20:40:17.Z",
            "2022-11-23T20:40:17.1234567890Z",
            "2022-11-23T20:40:17Zjunk",
            "2022-11-23T20:40:17+25:00",
            "2022/11/23T20:40:17Z",
        ] {
            assert_eq!(parse_iso8601(s), None, "{s}");
        }
        assert!(parse_iso8601("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn agrees_with_chrono_across_eras() {
        for s in [
            "1969-12-31T23:59:59.5Z",
            "2000-02-29T12:00:00Z",
            "2262-04-11T23:47:16Z",
            "1677-09-21T00:12:44Z",
        ] {
            let ours = parse_iso8601(s).unwrap();
            let theirs = chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap();
            assert_eq!(ours, theirs, "{s}");
        }
        assert_eq!(
            parse_iso8601("9999-12-31T23:59:59Z"),
            None,
            "overflows i64 nanoseconds"
        );
    }

    #[test]
    fn a_parser_reusing_its_last_date_agrees_with_a_fresh_parse() {
        let column = [
            "2022-11-23T20:40:17.63Z",
            "2022-11-23T23:59:59.999Z",
            "2022-11-24T00:00:00Z",
            "2022-02-30T00:00:00Z",
            "2022-11-24T25:00:00Z",
            "2022-11-24T01:00:00+02:00",
            "2024-02-29T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-02-29T12:00:00.5Z",
            "2022-11-23 20:40:17",
            "2022-11-23T20:40:17.63Z",
        ];
        let mut parser = TimestampParser::default();
        for s in column {
            assert_eq!(parser.parse(s), parse_iso8601(s), "{s}");
        }
        assert_eq!(parser.parse("2023-02-29T12:00:00Z"), None);
        assert_eq!(
            parser.parse("2022-11-24T00:00:00Z"),
            Some((BASE + 11_983) * NANOS_PER_SECOND)
        );
    }

    #[test]
    fn civil_days_agree_with_chrono_and_invert() {
        use chrono::Datelike;
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2022, 11, 23), BASE.div_euclid(86_400));
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        // Every day from 1600 to 2400: negative days and leap centuries included.
        for days in days_from_civil(1600, 1, 1)..=days_from_civil(2400, 12, 31) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
            assert!((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day));
            let date = epoch + chrono::TimeDelta::days(days);
            assert_eq!(
                (year, month, day),
                (i64::from(date.year()), date.month(), date.day()),
                "{days}"
            );
        }
    }

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            format_utc(BASE * NANOS_PER_SECOND + 630_000_000),
            "2022-11-23T20:40:17.630Z"
        );
        assert_eq!(
            format_utc(BASE * NANOS_PER_SECOND + 1),
            "2022-11-23T20:40:17.000000001Z"
        );
    }
}
