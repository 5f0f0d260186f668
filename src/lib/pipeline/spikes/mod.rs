//! Spikes: single readings that leave the path through their neighbours far more
//! than the channel varies locally, as a glitching sensor or a flipped bit makes them.
//!
//! The rule is a Hampel filter on a fourth-order difference:
//!
//! * Each reading i with two readings on either side, all four intervals at most the
//!   channel's `max_gap`, gets a **departure** eᵢ = pᵢ − p̂ᵢ, where p̂ᵢ is the cubic
//!   through its four neighbours (i−2, i−1, i+1, i+2) evaluated at tᵢ. Smooth motion
//!   (lines, circles, parabolas, slow curves) is followed closely by that cubic, so
//!   its departures are small and change slowly; noise of standard deviation σ gives
//!   departures of about 1.4 σ; a spike of height s gives s.
//! * Readings are grouped in blocks of [`BLOCK`]; the **local variation** of a block
//!   is the median m and the median absolute deviation MAD of the departures in it
//!   and the two blocks next to it (about 96 readings: 1 s at 10 ms cadence), and
//!   σ̂ = 1.4826 × MAD estimates their standard deviation.
//! * Reading i is a spike when |eᵢ − m| exceeds [`THRESHOLD`] σ̂ (a margin normally
//!   distributed noise does not reach), four times the channel's resolution (its
//!   smallest step between consecutive readings, so quantised readings are not
//!   judged below their own step) and 1e-9 × (|pᵢ| + 1) (below which a departure is
//!   rounding), **and** its direct neighbours show its footprint: a spike of s
//!   shifts the departure of a neighbour j by −w s, where w is pᵢ's weight in p̂ⱼ
//!   (2/3 at even spacing). Each direct neighbour that can be judged must be within
//!   max(|w s| / 2, 4 σ̂) of that, and at least one must be judgeable. This tells
//!   the spike from the readings around it, whose departures it also moves.
//! * And the series returns: the straight lines through the two readings before it
//!   and the two after it (extended to tᵢ) agree with each other at least
//!   [`RETURN_RATIO`] times better than the reading agrees with the nearer of them.
//!   A spike is a departure the series comes back from. At a step (a level change,
//!   as a forming tool lowered by one increment makes) the two sides are apart by
//!   the step's height, so neither the last reading before it nor the first after
//!   it is a spike, however noisy the new level; at a corner the reading lies on
//!   both lines.
//!
//! Readings within two of a channel's ends or of a gap are not judged, nor are two
//! adjacent bad readings (they are not isolated).

use crate::time::{nanos_between, EpochNanos};

mod window;

use window::{median_deviation, median_of_sorted, merge_three, SortedBlock};

/// Readings per block whose departures share one local variation.
pub const BLOCK: usize = 32;

/// How many estimated standard deviations of the local departures a spike exceeds.
pub const THRESHOLD: f64 = 8.0;

/// How many times better the two sides of a spike agree with each other than the
/// spike agrees with either (see the module docs). On the public small sample the
/// readings next to a level step score 1.2 to 1.4 and isolated departures 8 to 26.
pub const RETURN_RATIO: f64 = 3.0;

/// 1.4826 × MAD estimates the standard deviation of normally distributed values.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The indices of the spikes among `values` sampled at `times` (ascending, one per
/// instant), ascending; see the module docs.
pub fn find_spikes(times: &[EpochNanos], values: &[f64], max_gap_ns: i64) -> Vec<usize> {
    find_spikes_on_clock(times, &[values], max_gap_ns)
        .pop()
        .unwrap_or_default()
}

/// The spikes of each of `channels`, series sampled at the same `times` (as the
/// three fields of one sensor are): the same as [`find_spikes`] of each, with each
/// reading's stencil worked out once for all of them.
pub fn find_spikes_on_clock(
    times: &[EpochNanos],
    channels: &[&[f64]],
    max_gap_ns: i64,
) -> Vec<Vec<usize>> {
    let n = times.len();
    if n < 5 {
        return vec![Vec::new(); channels.len()];
    }
    let mut departures: Vec<Vec<f64>> = channels.iter().map(|_| Vec::with_capacity(n)).collect();
    for i in 0..n {
        let nodes = stencil(times, i, max_gap_ns);
        for (of_channel, values) in departures.iter_mut().zip(channels) {
            of_channel.push(nodes.map_or(f64::NAN, |nodes| {
                values[i] - nodes.iter().map(|&(k, w)| w * values[k]).sum::<f64>()
            }));
        }
    }
    channels
        .iter()
        .zip(&departures)
        .map(|(values, departures)| judge(times, values, departures, max_gap_ns))
        .collect()
}

/// The spikes among `values`, given the departure of each reading (NaN where it
/// is not judged): the local variation of each block, then the rule.
///
/// Each block's judged departures are sorted once, and a window's are the merge of
/// its (up to) three sorted blocks, so its median is read off in order and its MAD
/// by rank rather than selected anew for every window ([`window`]).
fn judge(times: &[EpochNanos], values: &[f64], departures: &[f64], max_gap_ns: i64) -> Vec<usize> {
    let n = times.len();
    let blocks = n.div_ceil(BLOCK);
    let rows = |block: usize| block * BLOCK..((block + 1) * BLOCK).min(n);
    let resolution = resolution(values);
    let mut spikes = Vec::new();
    // The sorted departures of the blocks before, at and after the one judged;
    // each step moves them along: before ← own ← after ← the next block (or none).
    let (mut before, mut own, mut after) = (
        SortedBlock::default(),
        SortedBlock::default(),
        SortedBlock::default(),
    );
    after.fill(&departures[rows(0)]);
    let mut window: Vec<f64> = Vec::with_capacity(3 * BLOCK);
    for block in 0..blocks {
        std::mem::swap(&mut before, &mut own);
        std::mem::swap(&mut own, &mut after);
        after.fill(if block + 1 < blocks {
            &departures[rows(block + 1)]
        } else {
            &[]
        });
        merge_three([&before, &own, &after], &mut window);
        if window.len() < BLOCK {
            // Too few judged readings around to know the local variation.
            continue;
        }
        let centre = median_of_sorted(&window);
        let sigma = MAD_TO_SIGMA * median_deviation(&window, centre);
        let floor = (THRESHOLD * sigma).max(4.0 * resolution);
        for i in rows(block) {
            let off = departures[i] - centre;
            if off.abs() > floor
                && off.abs() > 1e-9 * (values[i].abs() + 1.0)
                && series_returns(times, values, i)
                && shows_footprint(times, departures, i, off, centre, sigma, max_gap_ns)
            {
                spikes.push(i);
            }
        }
    }
    spikes
}

/// Whether the direct neighbours of reading i moved as a spike of `off` at i moves
/// them (see the module docs).
fn shows_footprint(
    times: &[EpochNanos],
    departures: &[f64],
    i: usize,
    off: f64,
    centre: f64,
    sigma: f64,
    max_gap_ns: i64,
) -> bool {
    let mut judged = 0;
    for j in [i - 1, i + 1] {
        let Some(nodes) = stencil(times, j, max_gap_ns) else {
            continue;
        };
        let w = nodes.iter().find(|(k, _)| *k == i).map_or(0.0, |(_, w)| *w);
        let expected = -w * off;
        let actual = departures[j] - centre;
        if (actual - expected).abs() > (expected.abs() / 2.0).max(4.0 * sigma) {
            return false;
        }
        judged += 1;
    }
    judged > 0
}

/// Whether the series returns after reading i: the lines through the two readings
/// before it and the two after it (extended to tᵢ) agree with each other
/// [`RETURN_RATIO`] times better than reading i agrees with the nearer line. A step
/// puts the lines apart, a corner puts the reading on both; a spike is on neither.
fn series_returns(times: &[EpochNanos], values: &[f64], i: usize) -> bool {
    let at = |k: usize| (times[k] - times[i]) as f64 * 1e-9;
    let line =
        |a: usize, b: usize| values[a] + (values[b] - values[a]) * (0.0 - at(a)) / (at(b) - at(a));
    let (before, after) = (line(i - 2, i - 1), line(i + 1, i + 2));
    let nearest = (values[i] - before).abs().min((values[i] - after).abs());
    nearest > RETURN_RATIO * (before - after).abs()
}

/// The four neighbours of reading i and their weights in the cubic through them at
/// tᵢ (Lagrange), or `None` where reading i cannot be judged.
fn stencil(times: &[EpochNanos], i: usize, max_gap_ns: i64) -> Option<[(usize, f64); 4]> {
    if i < 2 || i + 2 >= times.len() {
        return None;
    }
    if (i - 2..i + 2).any(|k| nanos_between(times[k], times[k + 1]) > max_gap_ns) {
        return None;
    }
    // Times relative to tᵢ, in seconds, so they are small numbers whatever the epoch.
    let nodes = [i - 2, i - 1, i + 1, i + 2];
    let at = nodes.map(|k| (times[k] - times[i]) as f64 * 1e-9);
    let weight = |k: usize| -> f64 {
        (0..4)
            .filter(|&m| m != k)
            .map(|m| at[m] / (at[m] - at[k]))
            .product()
    };
    Some([0, 1, 2, 3].map(|k| (nodes[k], weight(k))))
}

/// The smallest non-zero step between consecutive readings: the channel's
/// resolution where its readings are quantised (0 when all are equal).
fn resolution(values: &[f64]) -> f64 {
    let step = values
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if step.is_finite() {
        step
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    const MS: i64 = 1_000_000;

    /// Instants every `period_ms` with a ±1 ms jitter that repeats every 7 readings.
    fn clock(n: usize, period_ms: i64) -> Vec<EpochNanos> {
        (0..n as i64)
            .map(|k| {
                1_669_000_000_000 * MS
                    + k * period_ms * MS
                    + [0, 1, -1, 0, 1, 0, -1][k as usize % 7] * MS
            })
            .collect()
    }

    fn secs(times: &[EpochNanos]) -> Vec<f64> {
        times
            .iter()
            .map(|&t| (t - times[0]) as f64 * 1e-9)
            .collect()
    }

    /// Deterministic noise in [-1, 1) (splitmix64 of the index).
    pub(super) fn noise(k: usize) -> f64 {
        let mut x = (k as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    #[test]
    fn a_circle_a_line_and_a_constant_have_no_spikes() {
        let t = clock(2_000, 12);
        let s = secs(&t);
        let omega = TAU / 8.0;
        let circle: Vec<f64> = s.iter().map(|s| 150.0 * (omega * s).cos()).collect();
        let line: Vec<f64> = s.iter().map(|s| 10.0 + 130.0 * s).collect();
        let constant = vec![42.0; t.len()];
        for values in [&circle, &line, &constant] {
            assert_eq!(find_spikes(&t, values, 1_000 * MS), Vec::<usize>::new());
        }
    }

    #[test]
    fn slow_curves_and_turning_points_are_not_spikes() {
        // Every 1.667 s, as production samples are, along slow sinusoids that turn
        // back many times, with noise.
        let t = clock(3_000, 1_667);
        let s = secs(&t);
        let values: Vec<f64> = s
            .iter()
            .enumerate()
            .map(|(k, s)| {
                700.0
                    + 150.0 * (TAU * 0.02 * s).sin()
                    + 60.0 * (TAU * 0.011 * s + 1.0).cos()
                    + 0.02 * noise(k)
            })
            .collect();
        assert_eq!(find_spikes(&t, &values, 8_335 * MS), Vec::<usize>::new());
    }

    #[test]
    fn noise_alone_has_no_spikes_and_injected_spikes_are_found_exactly() {
        let t = clock(20_000, 10);
        let s = secs(&t);
        let mut values: Vec<f64> = s
            .iter()
            .enumerate()
            .map(|(k, s)| -200.0 + 80.0 * (TAU * 0.7 * s).sin() + 1.5 * noise(k))
            .collect();
        assert_eq!(find_spikes(&t, &values, 1_000 * MS), Vec::<usize>::new());
        let injected = [2, 500, 501 + 40, 9_999, 19_997];
        for (n, &k) in injected.iter().enumerate() {
            values[k] += if n % 2 == 0 { 60.0 } else { -60.0 };
        }
        assert_eq!(find_spikes(&t, &values, 1_000 * MS), injected);
    }

    #[test]
    fn readings_next_to_a_gap_or_an_end_are_not_judged_nor_blamed_for_them() {
        let mut t = clock(200, 10);
        for x in &mut t[100..] {
            *x += 5_000 * MS;
        }
        let mut values: Vec<f64> = (0..t.len()).map(|k| 0.01 * noise(k)).collect();
        for k in [0, 99, 100, 199, 50] {
            values[k] += 1_000.0;
        }
        assert_eq!(find_spikes(&t, &values, 1_000 * MS), vec![50]);
    }

    #[test]
    fn steps_are_not_spikes() {
        // A tool lowered by a step every 40 readings, as forming does, the steps
        // growing from 3 to 30 times the noise.
        let t = clock(4_000, 1_667);
        let mut level = -50.0;
        let values: Vec<f64> = (0..t.len())
            .map(|k| {
                if k % 40 == 39 {
                    level -= 0.03 * (1 + k / 400) as f64;
                }
                level + 0.01 * noise(k)
            })
            .collect();
        assert_eq!(find_spikes(&t, &values, 8_335 * MS), Vec::<usize>::new());
    }

    /// A level that steps by `height` every `every` readings, with noise of
    /// `amplitude`, and after each step a bump of a quarter of the step on
    /// the second reading of the new level (as the real z of a forming tool shows).
    fn noisy_steps(n: usize, every: usize, height: f64, amplitude: f64) -> Vec<f64> {
        (0..n)
            .map(|k| {
                let level = -height * (k / every) as f64;
                let bump = if k % every == 1 && k > every {
                    0.25 * height
                } else {
                    0.0
                };
                level + bump + amplitude * noise(k)
            })
            .collect()
    }

    #[test]
    fn the_readings_at_a_noisy_step_are_kept_at_both_cadences() {
        for (period_ms, max_gap_ms) in [(1_667, 8_335), (10, 1_000)] {
            let t = clock(2_000, period_ms);
            let values = noisy_steps(t.len(), 50, 5.0, 0.05);
            assert_eq!(
                find_spikes(&t, &values, max_gap_ms * MS),
                Vec::<usize>::new(),
                "steps every 50 readings at {period_ms} ms"
            );
        }
    }

    #[test]
    fn a_spike_between_steps_is_found_and_the_steps_kept() {
        let t = clock(2_000, 1_667);
        let mut values = noisy_steps(t.len(), 50, 5.0, 0.05);
        let injected = [120, 525, 1_333];
        for &k in &injected {
            values[k] += 2.0;
        }
        assert_eq!(find_spikes(&t, &values, 8_335 * MS), injected);
    }

    #[test]
    fn ramps_and_corners_in_noise_are_not_spikes_but_spikes_on_them_are() {
        for (period_ms, max_gap_ms) in [(1_667, 8_335), (10, 1_000)] {
            let t = clock(3_000, period_ms);
            // Straight segments of 75 readings whose slope flips sign: a corner at
            // each turn, up and down by 40 units over a segment.
            let mut values: Vec<f64> = (0..t.len())
                .map(|k| {
                    let (segment, along) = (k / 75, (k % 75) as f64 / 75.0);
                    let rise = if segment % 2 == 0 { along } else { 1.0 - along };
                    40.0 * rise + 0.05 * noise(k)
                })
                .collect();
            assert_eq!(
                find_spikes(&t, &values, max_gap_ms * MS),
                Vec::<usize>::new(),
                "ramps at {period_ms} ms"
            );
            let injected = [300, 1_210, 2_777];
            for &k in &injected {
                values[k] -= 10.0;
            }
            assert_eq!(find_spikes(&t, &values, max_gap_ms * MS), injected);
        }
    }

    #[test]
    fn quantised_steps_are_not_spikes() {
        // A slow ramp read to 0.01: mostly repeated readings and single steps.
        let t = clock(5_000, 10);
        let values: Vec<f64> = (0..t.len())
            .map(|k| (k as f64 * 0.0013 * 100.0).round() / 100.0)
            .collect();
        assert_eq!(find_spikes(&t, &values, 1_000 * MS), Vec::<usize>::new());
    }
}
