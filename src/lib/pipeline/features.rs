//! Engineered features: velocity and acceleration from each encoder channel's own
//! samples, and vector magnitudes.
//!
//! Derivatives are taken on the channel's real samples, never on values filled in by
//! alignment, and never across a gap longer than the channel's bound (each stretch of samples
//! without such a gap is differentiated on its own). With samples p at times t,
//! h₋ = tᵢ − tᵢ₋₁ and h₊ = tᵢ₊₁ − tᵢ (seconds):
//!
//! * velocity (mm/s), interior: vᵢ = (h₋² pᵢ₊₁ − h₊² pᵢ₋₁ + (h₊² − h₋²) pᵢ) / (h₋ h₊ (h₋ + h₊)),
//!   the second-order central difference for uneven spacing (exact for parabolas);
//!   at a stretch's ends, the one-sided difference (pᵢ₊₁ − pᵢ) / h.
//! * acceleration (mm/s²), interior: aᵢ = 2 (h₋ pᵢ₊₁ − (h₋ + h₊) pᵢ + h₊ pᵢ₋₁) / (h₋ h₊ (h₋ + h₊));
//!   at a stretch's ends, the value of the nearest interior sample.
//!
//! A stretch of one sample has neither; a stretch of two has a velocity only.

use crate::model::readings::MISSING;
use crate::time::{nanos_between, EpochNanos};

/// First and second time derivatives of a sampled signal, at its own sample times.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivatives {
    pub velocity: Vec<f64>,
    pub acceleration: Vec<f64>,
}

/// Differentiates (`times` in ns, `values`) stretch by stretch; see the module docs.
pub fn differentiate(times: &[EpochNanos], values: &[f64], max_gap_ns: i64) -> Derivatives {
    let n = times.len();
    let mut velocity = vec![MISSING; n];
    let mut acceleration = vec![MISSING; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && nanos_between(times[end - 1], times[end]) <= max_gap_ns {
            end += 1;
        }
        differentiate_stretch(
            &times[start..end],
            &values[start..end],
            &mut velocity[start..end],
            &mut acceleration[start..end],
        );
        start = end;
    }
    Derivatives {
        velocity,
        acceleration,
    }
}

fn differentiate_stretch(t: &[EpochNanos], p: &[f64], v: &mut [f64], a: &mut [f64]) {
    let n = t.len();
    if n < 2 {
        return;
    }
    // Within a stretch consecutive samples are at most the gap bound apart: no overflow.
    let secs = |i: usize| (t[i + 1] - t[i]) as f64 * 1e-9;
    v[0] = (p[1] - p[0]) / secs(0);
    v[n - 1] = (p[n - 1] - p[n - 2]) / secs(n - 2);
    for i in 1..n - 1 {
        let (hm, hp) = (secs(i - 1), secs(i));
        let denominator = hm * hp * (hm + hp);
        v[i] = (hm * hm * p[i + 1] - hp * hp * p[i - 1] + (hp * hp - hm * hm) * p[i]) / denominator;
        a[i] = 2.0 * (hm * p[i + 1] - (hm + hp) * p[i] + hp * p[i - 1]) / denominator;
    }
    if n >= 3 {
        a[0] = a[1];
        a[n - 1] = a[n - 2];
    }
    // Finite readings can still give an overflowing derivative (±1e308 mm): that is
    // not a measurement, so it is missing rather than infinite.
    for x in v.iter_mut().chain(a.iter_mut()) {
        if !x.is_finite() {
            *x = MISSING;
        }
    }
}

/// Euclidean norm of three components, element by element; missing if any is, or
/// if the norm itself overflows.
pub fn magnitude(x: &[f64], y: &[f64], z: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(y)
        .zip(z)
        .map(|((x, y), z)| {
            let n = norm(*x, *y, *z);
            if n.is_infinite() {
                MISSING
            } else {
                n
            }
        })
        .collect()
}

/// ‖(x, y, z)‖: the plain formula, and `hypot` (slower, but exact up to f64::MAX)
/// only when the squares overflow.
pub fn norm(x: f64, y: f64, z: f64) -> f64 {
    let n = (x * x + y * y + z * z).sqrt();
    if n.is_infinite() && x.is_finite() && y.is_finite() && z.is_finite() {
        x.hypot(y).hypot(z)
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn constant_speed_line_has_exact_velocity_and_zero_acceleration() {
        // Uneven spacing on purpose: 10, 12, 9, 11 ms…
        let steps = [10, 12, 9, 11, 10, 13, 8];
        let mut t = vec![0];
        for s in steps {
            t.push(t.last().unwrap() + s * MS);
        }
        let p: Vec<f64> = t.iter().map(|&t| 5.0 + 250.0 * t as f64 * 1e-9).collect();
        let d = differentiate(&t, &p, 1_000 * MS);
        for (v, a) in d.velocity.iter().zip(&d.acceleration) {
            assert!((v - 250.0).abs() < 1e-9, "{v}");
            assert!(a.abs() < 1e-6, "{a}");
        }
    }

    #[test]
    fn parabola_has_exact_interior_derivatives() {
        let t: Vec<i64> = [0, 7, 19, 30, 44, 51].iter().map(|&ms| ms * MS).collect();
        let p: Vec<f64> = t.iter().map(|&t| 3.0 * (t as f64 * 1e-9).powi(2)).collect();
        let d = differentiate(&t, &p, 1_000 * MS);
        let interior = 1..t.len() - 1;
        for ((&t, v), a) in t[interior.clone()]
            .iter()
            .zip(&d.velocity[interior.clone()])
            .zip(&d.acceleration[interior])
        {
            let s = t as f64 * 1e-9;
            assert!((v - 6.0 * s).abs() < 1e-9);
            assert!((a - 6.0).abs() < 1e-6);
        }
    }

    #[test]
    fn gaps_split_stretches() {
        let t = vec![0, 10 * MS, 5_000 * MS, 5_010 * MS, 5_020 * MS];
        let p = vec![0.0, 1.0, 100.0, 101.0, 102.0];
        let d = differentiate(&t, &p, 1_000 * MS);
        assert!(
            (d.velocity[1] - 100.0).abs() < 1e-9,
            "no velocity across the gap"
        );
        assert!(
            d.acceleration[0].is_nan(),
            "two samples give no acceleration"
        );
        assert!((d.velocity[2] - 100.0).abs() < 1e-9);
    }

    #[test]
    fn lone_sample_has_no_derivative() {
        let d = differentiate(&[0], &[1.0], MS);
        assert!(d.velocity[0].is_nan() && d.acceleration[0].is_nan());
    }

    #[test]
    fn magnitude_is_missing_when_a_component_is() {
        let m = magnitude(&[3.0, 1.0], &[4.0, MISSING], &[0.0, 1.0]);
        assert_eq!(m[0], 5.0);
        assert!(m[1].is_nan());
    }
}
