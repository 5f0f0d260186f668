//! One reading per instant: a channel's readings sorted by time, repeated instants
//! collapsed.
//!
//! A repeated instant keeps one reading. When its readings differ (a conflict), the
//! one kept is the one closest to the channel's path through the neighbouring
//! instants: the value interpolated at that instant between the previous kept
//! reading and the next instant's reading; at an end of the channel, the line
//! through the two nearest readings on the side that exists extended to it (or the
//! one reading there). A next instant that is itself in conflict is no neighbour.
//! File order decides only when no neighbour exists or candidates are equally
//! close. A glitching writer's copy is thus dropped, not the reading in sequence.

use crate::model::readings::{ChannelSeries, DropReason, RowAccount};
use crate::pipeline::runs::ChannelFindings;
use crate::pipeline::validate::Pairs;
use crate::time::EpochNanos;

/// Sorts one channel's readings by time (stable, so equal times stay in file order)
/// and keeps one reading per instant (see the module docs), counting the others as
/// identical or conflicting duplicates.
pub(super) fn sort_and_collapse(
    mut pairs: Pairs,
    rows: &mut RowAccount,
    found: &mut ChannelFindings,
) -> ChannelSeries {
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        pairs.sort_by_key(|p| p.0);
    }
    let mut out = ChannelSeries {
        time: Vec::with_capacity(pairs.len()),
        value: Vec::with_capacity(pairs.len()),
    };
    let mut start = 0;
    while start < pairs.len() {
        let end = group_end(&pairs, start);
        let group = &pairs[start..end];
        let (time, first) = group[0];
        let value = if group.iter().all(|p| p.1.to_bits() == first.to_bits()) {
            first
        } else {
            let (low, high) = group
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                    (l.min(p.1), h.max(p.1))
                });
            found.conflicts += 1;
            found.largest_conflict_spread = found.largest_conflict_spread.max(high - low);
            let kept = out.len();
            let previous: Vec<(EpochNanos, f64)> = (kept.saturating_sub(2)..kept)
                .rev()
                .map(|i| (out.time[i], out.value[i]))
                .collect();
            let mut next = Vec::with_capacity(2);
            let mut from = end;
            while next.len() < 2 && from < pairs.len() {
                let to = group_end(&pairs, from);
                match unanimous(&pairs[from..to]) {
                    Some(reading) => next.push(reading),
                    None => break,
                }
                from = to;
            }
            closest_to_path(group, &previous, &next)
        };
        // The kept reading once; every other one is a duplicate of it.
        let mut kept = false;
        for p in group {
            if !kept && p.1.to_bits() == value.to_bits() {
                kept = true;
            } else if p.1.to_bits() == value.to_bits() {
                rows.drop(DropReason::DuplicateIdentical, 1);
            } else {
                rows.drop(DropReason::DuplicateConflicting, 1);
            }
        }
        out.time.push(time);
        out.value.push(value);
        start = end;
    }
    out
}

/// The end of the run of readings at `start`'s instant.
fn group_end(pairs: &[(EpochNanos, f64)], start: usize) -> usize {
    let time = pairs[start].0;
    start + pairs[start..].iter().take_while(|p| p.0 == time).count()
}

/// The instant and value of a group whose readings all agree.
fn unanimous(group: &[(EpochNanos, f64)]) -> Option<(EpochNanos, f64)> {
    let (time, first) = group[0];
    group
        .iter()
        .all(|p| p.1.to_bits() == first.to_bits())
        .then_some((time, first))
}

/// Of one instant's conflicting readings, the value closest to the path through the
/// neighbours (nearest first on each side, at most two); the first in file order
/// when there are none.
fn closest_to_path(
    group: &[(EpochNanos, f64)],
    previous: &[(EpochNanos, f64)],
    next: &[(EpochNanos, f64)],
) -> f64 {
    let time = group[0].0;
    // The line through two readings, at `time` (in i128: they may be centuries apart).
    let line = |(t0, v0): (EpochNanos, f64), (t1, v1): (EpochNanos, f64)| {
        let along = (time as i128 - t0 as i128) as f64 / (t1 as i128 - t0 as i128) as f64;
        v0 + (v1 - v0) * along
    };
    let expected = match (previous, next) {
        ([before, ..], [after, ..]) => line(*before, *after),
        ([nearest, further], []) | ([], [nearest, further]) => line(*further, *nearest),
        ([only], []) | ([], [only]) => only.1,
        _ => return group[0].1,
    };
    let mut best = group[0].1;
    for &(_, value) in &group[1..] {
        if (value - expected).abs() < (best - expected).abs() {
            best = value;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_duplicates_keep_one_reading() {
        let mut rows = RowAccount::default();
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![(3, 1.0), (1, 5.0), (1, 5.0), (2, 0.0), (1, 5.0)],
            &mut rows,
            &mut found,
        );
        assert_eq!(s.time, vec![1, 2, 3]);
        assert_eq!(s.value, vec![5.0, 0.0, 1.0]);
        assert_eq!(rows.dropped[&DropReason::DuplicateIdentical], 2);
        assert_eq!(found, ChannelFindings::default());
    }

    #[test]
    fn a_conflict_keeps_the_reading_on_the_path_through_its_neighbours() {
        // A line p = 10 t; at t = 3 a copy 4.5 off comes first in file order.
        let mut rows = RowAccount::default();
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![
                (1, 10.0),
                (2, 20.0),
                (3, 34.5),
                (3, 30.0),
                (3, 30.0),
                (4, 40.0),
            ],
            &mut rows,
            &mut found,
        );
        assert_eq!(s.value, vec![10.0, 20.0, 30.0, 40.0]);
        assert_eq!(rows.dropped[&DropReason::DuplicateConflicting], 1);
        assert_eq!(rows.dropped[&DropReason::DuplicateIdentical], 1);
        assert_eq!(found.conflicts, 1);
        assert_eq!(found.largest_conflict_spread, 4.5);

        // Uneven spacing: interpolated at t = 3 between (1, 10) and (7, 70) is 30.
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![(1, 10.0), (3, 27.0), (3, 31.0), (7, 70.0)],
            &mut RowAccount::default(),
            &mut found,
        );
        assert_eq!(s.value, vec![10.0, 31.0, 70.0]);
    }

    #[test]
    fn a_conflict_at_an_end_follows_the_one_neighbour_and_alone_file_order() {
        let collapse = |pairs: Pairs| {
            sort_and_collapse(
                pairs,
                &mut RowAccount::default(),
                &mut ChannelFindings::default(),
            )
            .value
        };
        // Extended from the two nearest readings: 10 at t = 1 (not 25, nearer 30).
        assert_eq!(
            collapse(vec![(1, 25.0), (1, 10.0), (2, 20.0), (3, 30.0)]),
            vec![10.0, 20.0, 30.0]
        );
        assert_eq!(
            collapse(vec![(1, 10.0), (2, 20.0), (3, 25.0), (3, 30.0)]),
            vec![10.0, 20.0, 30.0]
        );
        // With one reading on the only side, the one nearest to it.
        assert_eq!(collapse(vec![(1, 9.0), (1, 1.5), (2, 2.0)]), vec![1.5, 2.0]);
        // A next instant that is itself in conflict does not decide.
        assert_eq!(
            collapse(vec![(1, 0.0), (2, 7.0), (2, 1.0), (3, 9.0), (3, 2.0)]),
            vec![0.0, 1.0, 2.0]
        );
        assert_eq!(collapse(vec![(5, 3.0), (5, 1.0)]), vec![3.0]);
    }
}
