//! The local variation of a window of departures: its median and its MAD, read off
//! the window's three blocks, each sorted once, rather than selected anew for every
//! window.

use super::BLOCK;

/// A float as an integer that orders as [`f64::total_cmp`] orders the floats, so
/// that sorting and merging compare integers (the comparisons compile to
/// conditional moves instead of branches the processor mispredicts on noise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key(i64);

impl Key {
    /// Above every float's key but NaN's, which are never judged.
    const END: Key = Key(i64::MAX);

    fn of(value: f64) -> Key {
        Key(Key::flip(value.to_bits() as i64))
    }

    fn value(self) -> f64 {
        f64::from_bits(Key::flip(self.0) as u64)
    }

    /// As `f64::total_cmp`: a negative float's magnitude bits flipped. The flip is
    /// its own inverse (it keeps the sign bit).
    fn flip(bits: i64) -> i64 {
        bits ^ (((bits >> 63) as u64) >> 1) as i64
    }
}

/// A block's judged departures as keys, sorted, then [`Key::END`] up to a fixed
/// size, so that a merge reads past the block's end without a bounds check or a
/// branch.
pub(super) struct SortedBlock {
    keys: [Key; 2 * BLOCK],
    len: usize,
}

impl Default for SortedBlock {
    fn default() -> SortedBlock {
        SortedBlock {
            keys: [Key::END; 2 * BLOCK],
            len: 0,
        }
    }
}

impl SortedBlock {
    /// The judged (not NaN) ones of at most [`BLOCK`] `departures`, sorted.
    pub(super) fn fill(&mut self, departures: &[f64]) {
        // The padding after the keys is what lets the merge skip bounds checks.
        debug_assert!(
            departures.len() <= BLOCK,
            "a block holds at most BLOCK readings"
        );
        self.len = 0;
        for (slot, &e) in self
            .keys
            .iter_mut()
            .zip(departures.iter().filter(|e| !e.is_nan()))
        {
            *slot = Key::of(e);
            self.len += 1;
        }
        self.keys[..self.len].sort_unstable();
        self.keys[self.len..].fill(Key::END);
    }
}

/// Three sorted blocks merged into `out` as floats, in order, without a branch per
/// element: each step takes the least of the three heads (an exhausted block's
/// head is [`Key::END`]).
pub(super) fn merge_three(blocks: [&SortedBlock; 3], out: &mut Vec<f64>) {
    const WRAP: usize = 2 * BLOCK - 1;
    let [a, b, c] = blocks;
    out.clear();
    out.resize(a.len + b.len + c.len, 0.0);
    let (mut i, mut j, mut k) = (0, 0, 0);
    for slot in out.iter_mut() {
        // The indices never pass a block's length (≤ BLOCK), so the masks only
        // spare the bounds checks.
        let (x, y, z) = (a.keys[i & WRAP], b.keys[j & WRAP], c.keys[k & WRAP]);
        let take_a = (x <= y) & (x <= z);
        let take_b = !take_a & (y <= z);
        *slot = if take_a {
            x
        } else if take_b {
            y
        } else {
            z
        }
        .value();
        i += usize::from(take_a);
        j += usize::from(take_b);
        k += usize::from(!take_a & !take_b);
    }
}

/// The median of sorted, non-empty `values`: the middle one, or the mean of the
/// middle two for an even count.
pub(super) fn median_of_sorted(values: &[f64]) -> f64 {
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The median of |v − centre| over sorted, non-empty `values`. The deviations
/// ascend walking away from the centre on either side, so the middle ones are read
/// off the two walks by rank ([`kth_of_two`]).
pub(super) fn median_deviation(values: &[f64], centre: f64) -> f64 {
    let len = values.len();
    let (below, above) = values.split_at(values.partition_point(|v| *v < centre));
    let down = |i: usize| (below[below.len() - 1 - i] - centre).abs();
    let up = |j: usize| (above[j] - centre).abs();
    let rank = |k: usize| kth_of_two(k, (below.len(), down), (above.len(), up));
    if len % 2 == 1 {
        rank(len / 2)
    } else {
        (rank(len / 2 - 1) + rank(len / 2)) / 2.0
    }
}

/// The k-th smallest (from 0) of two ascending sequences, each given as its
/// length and its values by index, found by bisection: of the k + 1 smallest, i
/// come from the first sequence, the least i whose next value is not below the
/// k + 1 − i-th of the second.
fn kth_of_two(
    k: usize,
    (nx, x): (usize, impl Fn(usize) -> f64),
    (ny, y): (usize, impl Fn(usize) -> f64),
) -> f64 {
    let (mut lo, mut hi) = ((k + 1).saturating_sub(ny), (k + 1).min(nx));
    while lo < hi {
        let i = (lo + hi) / 2;
        if x(i) < y(k - i) {
            lo = i + 1;
        } else {
            hi = i;
        }
    }
    // The largest of the k + 1 taken: the last from either sequence.
    match ((lo > 0).then(|| x(lo - 1)), (lo <= k).then(|| y(k - lo))) {
        (Some(a), Some(b)) => {
            if a < b {
                b
            } else {
                a
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => unreachable!("k < nx + ny"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::spikes::tests::noise;

    /// The median by selection, as a reference: the mean of the middle two for an
    /// even count.
    fn median_by_selection(values: &mut [f64]) -> f64 {
        let len = values.len();
        let mid = len / 2;
        let (below, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
        let upper = *upper;
        if len % 2 == 1 {
            upper
        } else {
            let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lower + upper) / 2.0
        }
    }

    #[test]
    fn medians_read_off_sorted_windows_equal_medians_by_selection() {
        for len in [1, 2, 3, 4, 5, 7, 32, 33, 64, 95, 96] {
            for (seed, quantum) in [(0, 0.0), (1_000, 0.25), (2_000, 1.0), (3_000, 10.0)] {
                // Quantised values repeat, and ties sit on the centre; at the
                // coarsest quantum all values are equal.
                let values: Vec<f64> = (0..len)
                    .map(|k| {
                        let v = 3.0 * noise(seed + k);
                        if quantum > 0.0 {
                            (v / quantum).round() * quantum
                        } else {
                            v
                        }
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_unstable_by(f64::total_cmp);
                let centre = median_by_selection(&mut values.clone());
                assert_eq!(median_of_sorted(&sorted).to_bits(), centre.to_bits());
                let mut deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
                assert_eq!(
                    median_deviation(&sorted, centre).to_bits(),
                    median_by_selection(&mut deviations).to_bits(),
                    "{len} values, quantum {quantum}"
                );
            }
        }
    }

    #[test]
    fn keys_order_as_total_cmp_and_give_their_floats_back() {
        let values = [
            f64::NEG_INFINITY,
            -3.5e300,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            0.25,
            1.0,
            7.0e200,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(Key::of(pair[0]) < Key::of(pair[1]), "{pair:?}");
        }
        for v in values {
            assert_eq!(Key::of(v).value().to_bits(), v.to_bits());
            assert!(Key::of(v) < Key::END);
        }
    }

    #[test]
    fn three_sorted_blocks_merge_in_order() {
        let block = |values: &[f64]| {
            let mut block = SortedBlock::default();
            block.fill(values);
            block
        };
        let mut out = Vec::new();
        merge_three(
            [
                &block(&[2.0, -1.0, f64::NAN, 0.0]),
                &block(&[-3.0, 0.0, 6.0, 5.0]),
                &block(&[9.0, 2.0, -0.0]),
            ],
            &mut out,
        );
        let bits: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
        let expected = [-3.0, -1.0, -0.0, 0.0, 0.0, 2.0, 2.0, 5.0, 6.0, 9.0];
        assert_eq!(bits, expected.map(f64::to_bits));
        let full: Vec<f64> = (0..BLOCK).rev().map(|k| k as f64).collect();
        merge_three([&block(&[]), &block(&full), &block(&[])], &mut out);
        assert_eq!(out, (0..BLOCK).map(|k| k as f64).collect::<Vec<_>>());
        merge_three([&block(&[]), &block(&[]), &block(&[])], &mut out);
        assert!(out.is_empty());
    }
}
