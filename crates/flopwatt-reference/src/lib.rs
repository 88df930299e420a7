//! The test oracle: plain f64 CPU implementations of every op, with no dependency on the
//! runtime (no wgpu, no device), plus the tolerance rules, stated once.
//!
//! Tolerance rules:
//! - Ops whose every output element sums many products (matmul, conv, attention, big
//!   reductions) are compared by normalised mean squared error over the whole output,
//!   `NMSE = sum (got - want)^2 / sum want^2`, against [`NMSE_F32`]. f32 accumulation of K
//!   terms has a relative error near `sqrt(K) * 2^-24`; 1e-9 (relative L2 error 3e-5) holds
//!   for K up to a few million with margin and catches any indexing bug (those give ~1).
//! - Elementwise and normalisation ops are compared per element with
//!   `|got - want| <= abs + rel * |want|`: [`EXACT_F32`] for ops that are one correctly
//!   rounded f32 operation, [`TRANSCENDENTAL_F32`] for exp/log/tanh/erf and friends, whose
//!   WGSL built-ins promise only a few ulp (and absolute error near zero).
//! - NaN must match NaN and infinities must match in sign.

#![warn(missing_docs)]
pub mod attention;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod graph;
pub mod matmul;
pub mod norm;
pub mod reduce;
pub mod train;

use flopwatt_ir::error::Error;
pub use flopwatt_ir::op::erf;

/// Per-element tolerance `|got - want| <= abs + rel * |want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative part.
    pub rel: f64,
    /// Absolute part.
    pub abs: f64,
}

/// One correctly rounded f32 operation (add, mul, max, ...), with a little slack for the
/// rounding of the f64 reference back to f32.
pub const EXACT_F32: Tolerance = Tolerance {
    rel: 2e-7,
    abs: 1e-30,
};
/// Transcendental built-ins and short chains of f32 operations (softmax, layernorm).
pub const TRANSCENDENTAL_F32: Tolerance = Tolerance {
    rel: 2e-5,
    abs: 2e-6,
};
/// f16 storage with f32 arithmetic: the rounding of inputs and outputs to 11 bits.
pub const F16_STORAGE: Tolerance = Tolerance {
    rel: 2e-3,
    abs: 2e-3,
};
/// NMSE bound for long f32 accumulations (see module docs).
pub const NMSE_F32: f64 = 1e-9;
/// NMSE bound for f16 storage with f32 accumulation.
pub const NMSE_F16: f64 = 2e-5;

/// Seeded uniform random data in [-1, 1).
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

/// Seeded uniform random data in [lo, hi).
pub fn random_range(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| lo + rng.f32() * (hi - lo)).collect()
}

/// f32 data as f64.
pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Several f32 vectors as f64.
pub fn to_f64_all(v: &[Vec<f32>]) -> Vec<Vec<f64>> {
    v.iter().map(|x| to_f64(x)).collect()
}

/// Normalised mean squared error of `got` against `want`.
pub fn nmse(got: &[f32], want: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        num += (g as f64 - w).powi(2);
        den += w * w;
    }
    if den == 0.0 {
        num
    } else {
        num / den
    }
}

/// Checks `got` against `want` by NMSE; the error says how far off it was.
pub fn check_nmse(what: &str, got: &[f32], want: &[f64], max: f64) -> Result<(), Error> {
    if got.len() != want.len() {
        return Err(Error::Mismatch {
            what: what.to_string(),
            detail: format!("{} values, reference has {}", got.len(), want.len()),
        });
    }
    if let Some(i) = got.iter().position(|g| !g.is_finite()) {
        if want[i].is_finite() {
            return Err(Error::Mismatch {
                what: what.to_string(),
                detail: format!("element {i} is {} but reference is {}", got[i], want[i]),
            });
        }
    }
    let e = nmse(got, want);
    if e.is_nan() || e > max {
        return Err(Error::Mismatch {
            what: what.to_string(),
            detail: format!("NMSE {e:.3e} > {max:.1e}"),
        });
    }
    Ok(())
}

/// Whether one value is within tolerance (NaN matches NaN, infinities match exactly).
pub fn close(got: f32, want: f64, tol: Tolerance) -> bool {
    let g = got as f64;
    if want.is_nan() {
        return g.is_nan();
    }
    if want.is_infinite() || g.is_infinite() {
        return g == want;
    }
    (g - want).abs() <= tol.abs + tol.rel * want.abs()
}

/// Checks every element; the error names the worst element.
pub fn check_close(what: &str, got: &[f32], want: &[f64], tol: Tolerance) -> Result<(), Error> {
    if got.len() != want.len() {
        return Err(Error::Mismatch {
            what: what.to_string(),
            detail: format!("{} values, reference has {}", got.len(), want.len()),
        });
    }
    let mut bad = 0usize;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if !close(g, w, tol) {
            bad += 1;
            let excess = if (g as f64 - w).is_nan() {
                f64::INFINITY
            } else {
                (g as f64 - w).abs() / (tol.abs + tol.rel * w.abs())
            };
            if worst.is_none_or(|(_, e)| excess > e) {
                worst = Some((i, excess));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(Error::Mismatch {
            what: what.to_string(),
            detail: format!(
                "{bad} of {} elements off; worst at {i}: got {} want {} (rel {:.1e}, abs {:.1e})",
                got.len(),
                got[i],
                want[i],
                tol.rel,
                tol.abs
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_rules() {
        assert!(close(1.0, 1.0 + 1e-8, EXACT_F32));
        assert!(!close(1.0, 1.001, EXACT_F32));
        assert!(close(f32::NAN, f64::NAN, EXACT_F32));
        assert!(!close(0.0, f64::NAN, EXACT_F32));
        assert!(close(f32::INFINITY, f64::INFINITY, EXACT_F32));
        assert!(!close(f32::INFINITY, f64::NEG_INFINITY, EXACT_F32));
        assert!(check_nmse("x", &[1.0, 2.0], &[1.0, 2.0], NMSE_F32).is_ok());
        assert!(check_nmse("x", &[2.0, 1.0], &[1.0, 2.0], NMSE_F32).is_err());
        let r = random(100, 7);
        assert!(r.iter().all(|&x| (-1.0..1.0).contains(&x)));
        assert_ne!(r, random(100, 8));
    }
}

#[cfg(test)]
mod erf_tests {
    #[test]
    fn erf_matches_known_values() {
        let cases = [
            (0.0, 0.0),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (-1.5, -0.9661051464753108),
        ];
        for (x, want) in cases {
            assert!(
                (super::erf(x) - want).abs() < 1e-13,
                "erf({x}) = {}",
                super::erf(x)
            );
        }
    }
}
