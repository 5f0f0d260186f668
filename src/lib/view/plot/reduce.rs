//! Reducing a run's millions of readings to what a chart can show: per pixel
//! column, the first, lowest, highest and last point of a time series (so every
//! peak and every step stays visible), a path's points on distinct pixels, and a
//! channel's stretches of readings merged where the gap between them is below a
//! pixel. A reduced chart draws the same picture as the raw data at its size.

/// A polyline in data units; consecutive segments are separated by a gap.
pub type Segments = Vec<Vec<(f64, f64)>>;

/// What a reduction kept of how many points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    pub points: usize,
    pub of: usize,
}

impl Kept {
    pub fn is_reduced(&self) -> bool {
        self.points < self.of
    }

    fn add(&mut self, other: Kept) {
        self.points += other.points;
        self.of += other.of;
    }
}

/// The segments of `(t, y)` between missing values (NaN), each reduced to at most
/// four points per pixel column of `columns` over `[t0, t1]`: first, min, max and
/// last, in time order.
pub fn min_max_per_column(
    t: &[f64],
    y: &[f64],
    (t0, t1): (f64, f64),
    columns: usize,
) -> (Segments, Kept) {
    let width = (t1 - t0).max(f64::MIN_POSITIVE);
    let column_of = |time: f64| (((time - t0) / width) * columns as f64).floor() as i64;
    let mut segments: Segments = Vec::new();
    let mut kept = Kept::default();
    let mut current: Vec<(f64, f64)> = Vec::new();
    // The current column's first, min, max and last point, by index.
    let mut bucket: Option<(i64, [usize; 4])> = None;
    let flush = |bucket: &mut Option<(i64, [usize; 4])>, current: &mut Vec<(f64, f64)>| {
        if let Some((_, mut picks)) = bucket.take() {
            picks.sort_unstable();
            let mut last = usize::MAX;
            for i in picks {
                if i != last {
                    current.push((t[i], y[i]));
                    last = i;
                }
            }
        }
    };
    for i in 0..t.len().min(y.len()) {
        if !y[i].is_finite() || !t[i].is_finite() {
            flush(&mut bucket, &mut current);
            if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
            continue;
        }
        kept.of += 1;
        let column = column_of(t[i]);
        match &mut bucket {
            Some((c, picks)) if *c == column => {
                if y[i] < y[picks[1]] {
                    picks[1] = i;
                }
                if y[i] > y[picks[2]] {
                    picks[2] = i;
                }
                picks[3] = i;
            }
            _ => {
                flush(&mut bucket, &mut current);
                bucket = Some((column, [i; 4]));
            }
        }
    }
    flush(&mut bucket, &mut current);
    if !current.is_empty() {
        segments.push(current);
    }
    kept.points = segments.iter().map(Vec::len).sum();
    (segments, kept)
}

/// The segments of the path `(x, y)` between missing values, keeping a point only
/// where it lands on another pixel than the last one kept (`per_pixel` data units
/// to a pixel on both axes), and every segment's last point.
pub fn distinct_pixels(x: &[f64], y: &[f64], per_pixel: f64) -> (Segments, Kept) {
    let per_pixel = per_pixel.max(f64::MIN_POSITIVE);
    let pixel = |v: f64| (v / per_pixel).round() as i64;
    let mut segments: Segments = Vec::new();
    let mut kept = Kept::default();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut last_pixel: Option<(i64, i64)> = None;
    let mut pending: Option<(f64, f64)> = None;
    for i in 0..x.len().min(y.len()) {
        if !x[i].is_finite() || !y[i].is_finite() {
            current.extend(pending.take());
            if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
            last_pixel = None;
            continue;
        }
        kept.of += 1;
        let at = (pixel(x[i]), pixel(y[i]));
        if last_pixel == Some(at) {
            // Not drawn unless it ends the segment.
            pending = Some((x[i], y[i]));
        } else {
            pending = None;
            current.push((x[i], y[i]));
            last_pixel = Some(at);
        }
    }
    current.extend(pending.take());
    if !current.is_empty() {
        segments.push(current);
    }
    kept.points = segments.iter().map(Vec::len).sum();
    (segments, kept)
}

/// [`distinct_pixels`] on a grid coarsened twofold until at most `budget` points
/// remain (a long, noisy path moves to another pixel at nearly every reading):
/// the segments, what was kept, and the grid's cell in pixels.
pub fn path_within(x: &[f64], y: &[f64], per_pixel: f64, budget: usize) -> (Segments, Kept, u32) {
    let mut cell = 1u32;
    loop {
        let (segments, kept) = distinct_pixels(x, y, per_pixel * f64::from(cell));
        // Past a few thousand pixels every point is in one cell: this ends.
        if kept.points <= budget || cell >= 1 << 16 {
            return (segments, kept, cell);
        }
        cell *= 2;
    }
}

/// The stretches of `t` where `present` holds, as `(start, end)`, merged where the
/// gap between two is under `min_gap`.
pub fn stretches(t: &[f64], present: impl Fn(usize) -> bool, min_gap: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut open: Option<(f64, f64)> = None;
    for (i, &time) in t.iter().enumerate() {
        if present(i) {
            open = Some(match open {
                Some((start, _)) => (start, time),
                None => (time, time),
            });
        } else if let Some(stretch) = open.take() {
            push_merged(&mut out, stretch, min_gap);
        }
    }
    if let Some(stretch) = open {
        push_merged(&mut out, stretch, min_gap);
    }
    out
}

fn push_merged(out: &mut Vec<(f64, f64)>, (start, end): (f64, f64), min_gap: f64) {
    match out.last_mut() {
        Some(last) if start - last.1 < min_gap => last.1 = end,
        _ => out.push((start, end)),
    }
}

/// The sum of several reductions' counts.
pub fn total(kept: impl IntoIterator<Item = Kept>) -> Kept {
    let mut sum = Kept::default();
    for k in kept {
        sum.add(k);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peak_survives_four_points_per_column() {
        // A million points of a sine with one spike: 100 columns keep at most 400
        // points, the extremes among them, and the spike.
        let n = 1_000_000;
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut y: Vec<f64> = t.iter().map(|t| (t / 10_000.0).sin()).collect();
        y[123_457] = 50.0;
        let (segments, kept) = min_max_per_column(&t, &y, (0.0, n as f64), 100);
        assert_eq!(segments.len(), 1);
        assert!(kept.points <= 400 && kept.of == n, "{kept:?}");
        let ys: Vec<f64> = segments[0].iter().map(|p| p.1).collect();
        assert!(ys.contains(&50.0));
        let min = ys.iter().copied().fold(f64::INFINITY, f64::min);
        assert!((min + 1.0).abs() < 1e-6, "{min}");
        assert!(
            segments[0].windows(2).all(|w| w[0].0 < w[1].0),
            "time order"
        );
        assert_eq!(segments[0][0], (0.0, 0.0), "the first point");
        assert_eq!(
            segments[0].last().unwrap().0,
            (n - 1) as f64,
            "the last point"
        );
    }

    #[test]
    fn gaps_split_segments_and_short_series_are_kept_whole() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [1.0, 2.0, f64::NAN, 4.0, 5.0];
        let (segments, kept) = min_max_per_column(&t, &y, (0.0, 4.0), 1000);
        assert_eq!(
            segments,
            vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(3.0, 4.0), (4.0, 5.0)]]
        );
        assert!(!kept.is_reduced());
    }

    #[test]
    fn a_circle_keeps_its_extent_at_pixel_resolution() {
        let r = 100.0;
        let n = 200_000;
        let angle = |i: usize| i as f64 / n as f64 * std::f64::consts::TAU;
        let x: Vec<f64> = (0..=n).map(|i| r * angle(i).cos()).collect();
        let y: Vec<f64> = (0..=n).map(|i| r * angle(i).sin()).collect();
        let (segments, kept) = distinct_pixels(&x, &y, 0.5);
        assert!(kept.points < 2_000 && kept.of == n + 1, "{kept:?}");
        let xs: Vec<f64> = segments[0].iter().map(|p| p.0).collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        assert!(
            (hi - lo - 2.0 * r).abs() <= 1.0,
            "within two pixels: {lo} {hi}"
        );
        assert_eq!(
            *segments[0].last().unwrap(),
            (x[n], y[n]),
            "the end is kept"
        );
    }

    #[test]
    fn a_long_noisy_path_is_coarsened_to_its_budget() {
        // A million steps of a random walk on a 0.5 mm grid: nearly every step is a
        // new pixel at 0.1 mm per pixel.
        let mut state = 7u64;
        let mut step = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 3) as f64 - 1.0
        };
        let (mut x, mut y) = (vec![0.0], vec![0.0]);
        for _ in 0..1_000_000 {
            x.push(x.last().unwrap() + 0.5 * step());
            y.push(y.last().unwrap() + 0.5 * step());
        }
        let (_, fine) = distinct_pixels(&x, &y, 0.1);
        assert!(fine.points > 500_000, "{fine:?}");
        let (_, kept, cell) = path_within(&x, &y, 0.1, 5_000);
        assert!(kept.points <= 5_000 && cell > 1, "{kept:?} at {cell} px");
    }

    #[test]
    fn stretches_merge_below_the_gap_and_split_above() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let present = [true, true, false, true, true, false, false, true];
        assert_eq!(
            stretches(&t, |i| present[i], 2.5),
            vec![(0.0, 4.0), (7.0, 7.0)]
        );
        assert_eq!(
            stretches(&t, |i| present[i], 1.5),
            vec![(0.0, 1.0), (3.0, 4.0), (7.0, 7.0)]
        );
    }
}
