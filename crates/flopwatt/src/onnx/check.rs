//! Comparing a run's arrays with expected ones (another runtime's `.npy` files): the
//! relative L2 error that `flopwatt run --check` prints per output and the tests bound.

use super::npy::Array;

/// How far an array is from the expected one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diff {
    /// `‖got − want‖₂ / ‖want‖₂` (the plain L2 distance where `want` is all zeros).
    pub rel_l2: f64,
    /// The largest absolute elementwise difference.
    pub max_abs: f64,
}

/// The difference of `got` from `want`, or why they cannot be compared (shapes differ).
/// A NaN anywhere in `got` where `want` has none makes the error infinite.
pub fn compare(got: &Array, want: &Array) -> std::result::Result<Diff, String> {
    if got.shape != want.shape {
        return Err(format!("shape {:?}, expected {:?}", got.shape, want.shape));
    }
    let (g, w) = (got.data.to_f64_vec(), want.data.to_f64_vec());
    let (mut num, mut den, mut max_abs) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in g.iter().zip(&w) {
        let d = a - b;
        if d.is_nan() && !b.is_nan() {
            return Ok(Diff {
                rel_l2: f64::INFINITY,
                max_abs: f64::INFINITY,
            });
        }
        if !d.is_nan() {
            num += d * d;
            max_abs = max_abs.max(d.abs());
        }
        if !b.is_nan() {
            den += b * b;
        }
    }
    let rel_l2 = if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    };
    Ok(Diff { rel_l2, max_abs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::Data;

    fn arr(v: &[f32]) -> Array {
        Array {
            shape: vec![v.len()],
            data: Data::F32(v.to_vec()),
        }
    }

    #[test]
    fn relative_l2_and_max_abs() {
        let d = compare(&arr(&[3.0, 4.0]), &arr(&[3.0, 4.5])).unwrap();
        assert!((d.rel_l2 - 0.5 / (9.0f64 + 20.25).sqrt()).abs() < 1e-12);
        assert_eq!(d.max_abs, 0.5);
    }

    #[test]
    fn shape_mismatch_and_nan_are_reported() {
        assert!(compare(&arr(&[1.0]), &arr(&[1.0, 2.0])).is_err());
        let d = compare(&arr(&[f32::NAN]), &arr(&[1.0])).unwrap();
        assert!(d.rel_l2.is_infinite());
    }
}
